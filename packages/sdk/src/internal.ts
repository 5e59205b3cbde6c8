/** Helpers shared by the actions. Not exported from the entry point. */
import type { Abi, Account, Address, Chain, Client, ContractFunctionArgs, ContractFunctionName, Hex, StateOverride, TransactionReceipt, Transport } from "viem";
import { encodeAbiParameters, erc20Abi, keccak256, parseEventLogs } from "viem";
import { parseAccount } from "viem/accounts";
import {
  estimateContractGas,
  estimateFeesPerGas,
  getBalance,
  getBlock,
  getStorageAt,
  getTransactionCount,
  readContract,
  simulateContract,
  waitForTransactionReceipt,
  writeContract,
} from "viem/actions";
import type { VeilAddresses } from "./addresses.js";
import {
  AccountNotFoundError,
  InsufficientFundsError,
  MissingAddressError,
  NonceError,
  RpcTimeoutError,
  RpcUnreachableError,
  TransactionRevertedError,
  VeilContractError,
  decodeVeilError,
  hasUnits,
  type ErrorUnits,
  type TokenUnits,
  type VeilError,
} from "./errors.js";
import { jobEscrowAbi, nodeStakingAbi } from "@veil/contracts";

/** Any viem client: public, wallet, or a test client. */
export type VeilClient = Client<Transport, Chain | undefined, Account | undefined>;

/** Parameters every action takes. */
export type AddressesParameter = {
  /** Addresses of the deployment (bound by the `veilActions` decorator). */
  addresses: VeilAddresses;
};

/** Parameters every write action takes. */
export type WriteParameters = AddressesParameter & {
  /** Account sending the transaction; defaults to the client's account. */
  account?: Account | Address | undefined;
};

/**
 * The result of every write action's waiting form (`stake`, `submitJob`, ...): the transaction hash and its
 * (successful) receipt, plus what the action decodes from it.
 */
export type WriteReturnType = { hash: Hex; receipt: TransactionReceipt };

/**
 * The result of every write action's form that returns at once (`writeStake`, `writeSubmitJob`, ...): the hash of
 * the transaction, sent but not yet mined, plus what the action knew before mining.
 */
export type SentReturnType = { hash: Hex };

export function resolveAccount(client: VeilClient, account: Account | Address | undefined, action: string): Account {
  const a = account ?? client.account;
  if (!a) throw new AccountNotFoundError(action);
  return parseAccount(a);
}

export function requireAddress<K extends keyof VeilAddresses>(addresses: VeilAddresses, key: K): Address {
  const a = addresses[key];
  if (!a) throw new MissingAddressError(key);
  return a as Address;
}

const ledgerCache = new WeakMap<object, Map<string, Promise<Address>>>();

/**
 * The deployment's FeeLedger, which holds every fee-token balance and is the spender of fee-token approvals and
 * permits for jobs: `addresses.feeLedger` when given, otherwise the escrow's `ledger()` (an immutable of the escrow),
 * read once per client and escrow. A failed read is not cached.
 */
export function feeLedgerAddress(client: VeilClient, addresses: Pick<VeilAddresses, "jobEscrow" | "feeLedger">): Promise<Address> {
  if (addresses.feeLedger) return Promise.resolve(addresses.feeLedger);
  let m = ledgerCache.get(client);
  if (!m) ledgerCache.set(client, (m = new Map()));
  const key = addresses.jobEscrow.toLowerCase();
  let p = m.get(key);
  if (!p) {
    p = decoded(readContract(client, { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "ledger" }));
    p.catch(() => m!.delete(key));
    m.set(key, p);
  }
  return p;
}

/** One contract call, as `send` and `simulate` take it. */
export type ContractCall<abi extends Abi = Abi, name extends ContractFunctionName<abi, "nonpayable" | "payable"> = any> = {
  address: Address;
  abi: abi;
  functionName: name;
  args: ContractFunctionArgs<abi, "nonpayable" | "payable", name>;
};

/** Options of {@link send}. */
export type SendOptions = {
  /** The deployment: lets errors show amounts in its tokens' units (read once per client). */
  addresses?: VeilAddresses | undefined;
  /** The deployment token the call moves, which ERC-20 errors are about (see {@link ErrorUnits.token}). */
  moves?: ErrorUnits["token"];
  /**
   * Gas the call may need beyond the node's estimate because its cost depends on the block it lands in or on
   * transactions mined before it (the operator draw: {@link submissionGasBound}). Added to the limit.
   */
  extraGas?: bigint | undefined;
};

/**
 * The gas limit for a transaction whose estimate is `estimate`: the estimate plus 10% (storage that other
 * transactions warm or change between the estimate and inclusion: a node estimates against the state and block
 * environment it has, the transaction runs in the next block), plus `extraGas`, the bound of any block-dependent
 * part (the operator draw), capped at the block gas limit. Only the gas actually used is paid for; the limit only
 * has to be covered by the account's balance.
 */
export function gasLimit(estimate: bigint, extraGas: bigint = 0n, blockGasLimit?: bigint): bigint {
  const gas = estimate + estimate / 10n + extraGas;
  return blockGasLimit !== undefined && gas > blockGasLimit ? blockGasLimit : gas;
}

/**
 * Simulates the call (so a revert surfaces before anything is signed, decoded into a named error), estimates its
 * gas with a margin that holds on any EVM ({@link gasLimit}), checks that the account can pay for that gas (or
 * throws {@link InsufficientFundsError} before signing), and sends it. Returns at once with the hash, the
 * simulation's result and the gas limit; {@link confirm} waits for the receipt. Errors name their cause in the
 * user's units: contract errors with token amounts and times (with `addresses`), no ETH, nonce, RPC.
 */
export async function write<const abi extends Abi, name extends ContractFunctionName<abi, "nonpayable" | "payable">>(
  client: VeilClient,
  account: Account,
  call: ContractCall<abi, name>,
  options: SendOptions = {},
): Promise<SentReturnType & { result: unknown; gas: bigint }> {
  try {
    const { request, result } = await simulateContract(client, { ...(call as any), account, chain: client.chain ?? null });
    const [estimate, block] = await Promise.all([
      estimateContractGas(client, { ...(call as any), account }),
      getBlock(client, { blockTag: "latest" }),
    ]);
    const gas = gasLimit(estimate, options.extraGas, block.gasLimit);
    const fees = await ensureGasFunds(client, account, gas);
    const hash = await writeContract(client, { ...(request as any), gas, ...fees });
    return { hash, result, gas };
  } catch (e) {
    throw await explainError(client, account, e, options);
  }
}

/** Waits for the receipt of a transaction `write` sent; throws {@link TransactionRevertedError} unless it succeeded. */
export async function confirm(client: VeilClient, account: Account | undefined, hash: Hex, options: SendOptions = {}): Promise<TransactionReceipt> {
  try {
    const receipt = await waitForTransactionReceipt(client, { hash });
    if (receipt.status !== "success") throw new TransactionRevertedError(hash);
    return receipt;
  } catch (e) {
    throw await explainError(client, account, e, options);
  }
}

/** {@link write}, then {@link confirm}: the hash, the successful receipt, the simulation's result and the gas limit. */
export async function send<const abi extends Abi, name extends ContractFunctionName<abi, "nonpayable" | "payable">>(
  client: VeilClient,
  account: Account,
  call: ContractCall<abi, name>,
  options: SendOptions = {},
): Promise<WriteReturnType & { result: unknown; gas: bigint }> {
  const sent = await write(client, account, call, options);
  return { ...sent, receipt: await confirm(client, account, sent.hash, options) };
}

// ---------------------------------------------------------------------------------------------------------------- the two forms of a write action

/**
 * A write action's transaction once sent, as its builder returns it to both forms of the action: the hash, what
 * was known before mining (`known`: payment, computed values), and how to read the action's outcome from the
 * successful receipt (`outcome`: decoded events, or a read of the new state).
 */
export type PendingWrite<Known extends object, Outcome extends object> = {
  hash: Hex;
  account: Account;
  options: SendOptions;
  known: Known;
  outcome: (receipt: TransactionReceipt) => Outcome | Promise<Outcome>;
};

/** The form of a write action that returns at once (as viem's `writeContract`): the hash and what was known before mining. */
export async function atOnce<K extends object, O extends object>(pending: Promise<PendingWrite<K, O>>): Promise<SentReturnType & K> {
  const p = await pending;
  return { hash: p.hash, ...p.known };
}

/** The form of a write action that waits: the successful receipt and the outcome decoded from it. */
export async function andWait<K extends object, O extends object>(client: VeilClient, pending: Promise<PendingWrite<K, O>>): Promise<WriteReturnType & K & O> {
  const p = await pending;
  const receipt = await confirm(client, p.account, p.hash, p.options);
  return { hash: p.hash, receipt, ...p.known, ...(await p.outcome(receipt)) };
}

/** The builder of a write action that sends one call and knows nothing else: `outcome` decodes the receipt. */
export async function pendingCall<O extends object = {}>(
  client: VeilClient,
  account: Account,
  call: ContractCall,
  options: SendOptions,
  outcome: (receipt: TransactionReceipt) => O | Promise<O> = () => ({}) as O,
): Promise<PendingWrite<{}, O>> {
  const { hash } = await write(client, account, call, options);
  return { hash, account, options, known: {}, outcome };
}

/** What a transaction of `gas` may cost per gas: the fee fields `send` signs with. */
async function feesPerGas(client: VeilClient): Promise<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | { gasPrice: bigint }> {
  try {
    const f = await estimateFeesPerGas(client, { chain: client.chain ?? null } as any);
    if (f.maxFeePerGas !== undefined) return { maxFeePerGas: f.maxFeePerGas, maxPriorityFeePerGas: f.maxPriorityFeePerGas! };
    return { gasPrice: (f as unknown as { gasPrice: bigint }).gasPrice };
  } catch {
    // A chain without EIP-1559.
    const f = await estimateFeesPerGas(client, { chain: client.chain ?? null, type: "legacy" } as any);
    return { gasPrice: (f as unknown as { gasPrice: bigint }).gasPrice };
  }
}

/**
 * Throws {@link InsufficientFundsError} unless the account's ETH covers `gas` at the current fees (plus `value`).
 * Returns the fee fields to sign with, so that the check and the transaction agree.
 */
export async function ensureGasFunds(
  client: VeilClient,
  account: Account,
  gas: bigint,
  value = 0n,
): Promise<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | { gasPrice: bigint }> {
  const [fees, balance] = await Promise.all([feesPerGas(client), getBalance(client, { address: account.address })]);
  const perGas = "maxFeePerGas" in fees ? fees.maxFeePerGas : fees.gasPrice;
  const needed = gas * perGas + value;
  if (balance < needed) throw new InsufficientFundsError({ account: account.address, balance, needed, gas });
  return fees;
}

/**
 * Turns any failure of a write into a {@link VeilError} that names its cause: contract errors with amounts in the
 * deployment's tokens and times relative to the chain's clock (when `addresses` are known), insufficient funds with
 * the account's balance, a refused nonce with the account's next nonce.
 */
export async function explainError(client: VeilClient, account: Account | undefined, e: unknown, options: Pick<SendOptions, "addresses" | "moves"> = {}): Promise<VeilError> {
  let err = decodeVeilError(e);
  try {
    if (err instanceof VeilContractError && hasUnits(err.errorName)) {
      err = decodeVeilError(err, await errorUnits(client, options.addresses, options.moves));
    } else if (err instanceof InsufficientFundsError && account && err.balance === undefined) {
      const balance = await getBalance(client, { address: account.address });
      err = new InsufficientFundsError({ account: account.address, balance, needed: err.needed, cause: err.cause });
    } else if (err instanceof RpcTimeoutError || err instanceof RpcUnreachableError) {
      // The transport knows its URL and timeout when the error does not.
      const t = client.transport as { url?: string; timeout?: number };
      if (err instanceof RpcTimeoutError && t.timeout !== undefined) err = new RpcTimeoutError({ url: err.url ?? t.url, timeout: t.timeout, cause: err.cause });
    } else if (err instanceof NonceError && account && err.expected === undefined) {
      const expected = await getTransactionCount(client, { address: account.address, blockTag: "pending" });
      err = new NonceError({ kind: /too high/.test(err.shortMessage) ? "high" : "low", account: account.address, expected, cause: err.cause });
    }
  } catch {
    // Explaining must never hide the error itself.
  }
  return err;
}

// ---------------------------------------------------------------------------------------------------------------- units

const unitsCache = new WeakMap<object, Map<string, Promise<TokenUnits | undefined>>>();

/** A token's symbol and decimals, read once per client (undefined when the token does not answer). */
export function tokenUnits(client: VeilClient, token: Address): Promise<TokenUnits | undefined> {
  let m = unitsCache.get(client);
  if (!m) unitsCache.set(client, (m = new Map()));
  const key = token.toLowerCase();
  let p = m.get(key);
  if (!p) {
    p = Promise.all([
      readContract(client, { address: token, abi: erc20Abi, functionName: "symbol" }),
      readContract(client, { address: token, abi: erc20Abi, functionName: "decimals" }),
    ]).then(
      ([symbol, decimals]) => ({ symbol, decimals: Number(decimals) }),
      () => {
        m!.delete(key); // retry next time
        return undefined;
      },
    );
    m.set(key, p);
  }
  return p;
}

/** The {@link ErrorUnits} of a deployment: its tokens' units (cached per client) and the chain's time now. */
export async function errorUnits(client: VeilClient, addresses: VeilAddresses | undefined, token?: ErrorUnits["token"]): Promise<ErrorUnits> {
  const [feeToken, stakingToken, credits, block] = await Promise.all([
    addresses?.feeToken ? tokenUnits(client, addresses.feeToken) : undefined,
    addresses?.stakingToken ? tokenUnits(client, addresses.stakingToken) : undefined,
    addresses?.computeCredits ? tokenUnits(client, addresses.computeCredits) : undefined,
    getBlock(client, { blockTag: "latest" }).catch(() => undefined),
  ]);
  return { feeToken, stakingToken, credits, token, now: block?.timestamp };
}

// ---------------------------------------------------------------------------------------------------------------- draw gas

/**
 * EVM gas schedule figures the draw bound uses: a cold storage read (EIP-2929) and what it adds over a warm one,
 * a warm read, rewriting a non-zero slot read earlier in the transaction (EIP-2200/3529), a log with two topics and
 * two words of data, and a fresh storage slot over a rewritten one.
 */
const COLD_SURCHARGE = 2_000n;
const WARM_READ = 100n;
const SSTORE_DIRTY = 2_900n;
const LOG2_64 = 375n + 2n * 375n + 8n * 64n;
const FRESH_OVER_REWRITE = 22_100n - 5_000n;
/**
 * Execution besides storage per draw attempt, and per level of the tree descent (opcodes, keccak of the mapping
 * keys and of the random stream, memory, internal calls). test/sdk/anvil.test.ts fits NodeStaking.assign's gas
 * over many seeds of a three-leaf tree: ~2,200 per attempt and ~5,300 per newly drawn operator (its cold reads),
 * where the bound counts 3,360 and 8,000; it prints the figures.
 */
const EXEC_PER_ATTEMPT = 2_000n;
const EXEC_PER_LEVEL = 400n;
const EXEC_PER_CHECK = 60n;

type DrawFacts = { maxIneligible: bigint; treeSlot: bigint | null };
const drawCache = new WeakMap<object, Map<string, Promise<DrawFacts>>>();

/** MAX_INELIGIBLE_DRAWS and the storage slot of NodeStaking's `_trees` mapping, found once per client and contract. */
function drawFacts(client: VeilClient, staking: Address, modelIndex: bigint, members: bigint, total: bigint): Promise<DrawFacts> {
  let m = drawCache.get(client);
  if (!m) drawCache.set(client, (m = new Map()));
  const key = staking.toLowerCase();
  let p = m.get(key);
  if (!p) {
    p = (async () => {
      const maxIneligible = await readContract(client, { address: staking, abi: nodeStakingAbi, functionName: "MAX_INELIGIBLE_DRAWS" });
      // The tree's first word packs size (32 bits), members (32) and total (192). Find the mapping's slot by the
      // word whose members and total match what the contract reports for this model.
      let treeSlot: bigint | null = null;
      const words = await Promise.all(
        Array.from({ length: 64 }, (_, p) => getStorageAt(client, { address: staking, slot: mappingSlot(modelIndex, BigInt(p)) }).catch(() => undefined)),
      );
      words.forEach((w, p) => {
        if (treeSlot !== null || !w) return;
        const word = BigInt(w);
        if (((word >> 32n) & 0xffffffffn) === members && word >> 64n === total) treeSlot = BigInt(p);
      });
      return { maxIneligible, treeSlot };
    })();
    p.catch(() => m!.delete(key));
    m.set(key, p);
  }
  return p;
}

function mappingSlot(key: bigint, slot: bigint): Hex {
  return keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "uint256" }], [key, slot]));
}

/**
 * The most gas NodeStaking's operator draw (`assign`) can use for `k` operators of model `modelIndex`, whatever the
 * block it lands in. The draw is seeded by `block.prevrandao` and the previous block hash, so the gas a node
 * estimates for one block says little about the next. The draw samples without replacement: it sets aside the
 * `exclude` members, each member it draws without the free stake (at most `MAX_INELIGIBLE_DRAWS`) and, after k
 * rejected repeats, each member it draws again (at most k - 1), each setting-aside two Fenwick prefix sums; it draws
 * at most `3k - 1 + MAX_INELIGIBLE_DRAWS` times, each a Fenwick descent of one storage read per tree level (`depth` = bit length of the tree's size, read
 * from storage), an owner read and an operator read, plus a pass over the members set aside; each chosen operator
 * costs a storage write and a CollateralLocked event. Each distinct slot is cold once per transaction (at most
 * `size` tree nodes, `members` owners and operators). Bounded from that loop (contracts/NodeStaking.sol `assign`,
 * contracts/libraries/SortitionTree.sol `drawExcept`, `setAside`), with every read counted warm plus the cold
 * surcharge for each distinct slot it can touch.
 */
export async function drawGasBound(
  client: VeilClient,
  addresses: Pick<VeilAddresses, "nodeStaking">,
  p: { modelIndex: number | bigint; k: number; exclude?: number | undefined },
): Promise<bigint> {
  const staking = addresses.nodeStaking;
  const modelIndex = BigInt(p.modelIndex);
  const [members, total] = await Promise.all([
    readContract(client, { address: staking, abi: nodeStakingAbi, functionName: "eligibleCount", args: [modelIndex] }),
    readContract(client, { address: staking, abi: nodeStakingAbi, functionName: "modelWeight", args: [modelIndex] }),
  ]);
  if (members === 0n) return 0n; // nobody to draw: the call reverts (NodeStakingNotEnoughOperators) in simulation
  const facts = await drawFacts(client, staking, modelIndex, members, total);
  let size = 1n << 32n; // the tree's size is a uint32: the deepest tree, when its slot cannot be found
  if (facts.treeSlot !== null) {
    const word = BigInt((await getStorageAt(client, { address: staking, slot: mappingSlot(modelIndex, facts.treeSlot) })) ?? "0x0");
    if (((word >> 32n) & 0xffffffffn) === members) size = word & 0xffffffffn;
  }
  return drawBoundFor({ k: BigInt(p.k), exclude: BigInt(p.exclude ?? 0), maxIneligible: facts.maxIneligible, size, members });
}

/** {@link drawGasBound} from the figures it reads (exported for tests). */
export function drawBoundFor(f: { k: bigint; exclude: bigint; maxIneligible: bigint; size: bigint; members: bigint }): bigint {
  const min = (a: bigint, b: bigint) => (a < b ? a : b);
  const depth = BigInt(f.size.toString(2).length);
  const attempts = 3n * f.k - 1n + f.maxIneligible;
  const asides = f.exclude + f.k - 1n + f.maxIneligible; // excluded, drawn twice, busy
  // per attempt: tree nodes, owner, operator, the tree's total; per member set aside: two prefix sums
  const reads = attempts * (depth + 3n) + asides * 2n * depth + 2n;
  const cold = 1n + min((attempts + 2n * asides) * depth, f.size) + 2n * min(attempts + f.exclude, f.members > 0n ? f.members : f.size);
  const exec = attempts * (EXEC_PER_ATTEMPT + EXEC_PER_LEVEL * depth + EXEC_PER_CHECK * (asides + f.k)) + asides * (EXEC_PER_LEVEL * 2n * depth + EXEC_PER_CHECK * asides);
  const locks = f.k * (SSTORE_DIRTY + LOG2_64 + 200n);
  return reads * WARM_READ + cold * COLD_SURCHARGE + exec + locks;
}

/**
 * Gas a submission of `k` operators may need beyond its estimate: the draw ({@link drawGasBound}) and a job record
 * that another submission took between the estimate and inclusion (the escrow recycles settled records: the
 * estimate may rewrite a recycled record's `k + 1` slots where the transaction gets a fresh one), scaled by 64/63
 * for each of the two nested calls the extra gas must pass through (the 63/64 rule, EIP-150).
 */
export async function submissionGasBound(
  client: VeilClient,
  addresses: Pick<VeilAddresses, "nodeStaking">,
  p: { modelIndex: number | bigint; k: number },
): Promise<bigint> {
  const draw = await drawGasBound(client, addresses, p);
  const record = BigInt(p.k + 1) * FRESH_OVER_REWRITE;
  return ((draw + record) * 64n * 64n) / (63n * 63n) + 1n;
}

// ---------------------------------------------------------------------------------------------------------------- simulation with an allowance

type AllowanceLayout = { slot: (owner: Address, spender: Address) => Hex };
const layoutCache = new WeakMap<object, Map<string, Promise<AllowanceLayout | null>>>();

/** Where ERC-20 tokens keep `allowance[owner][spender]`: Solidity and Vyper mappings at slots 0-63, and OZ v5 ERC-7201. */
function allowanceCandidates(): AllowanceLayout[] {
  const out: AllowanceLayout[] = [];
  const enc = (a: Hex | Address | bigint, b: Hex | Address | bigint) =>
    keccak256(
      encodeAbiParameters(
        [{ type: typeof a === "bigint" ? "uint256" : a.length === 42 ? "address" : "bytes32" }, { type: typeof b === "bigint" ? "uint256" : b.length === 42 ? "address" : "bytes32" }],
        [a, b] as never,
      ),
    );
  const bases = [...Array.from({ length: 64 }, (_, i) => BigInt(i)), 0x52c63247e1f47db19d5ce0460030c497f067ca4cebf71ba98eeadabe20bace01n];
  for (const p of bases) {
    out.push({ slot: (owner, spender) => enc(spender, enc(owner, p)) }); // Solidity: allowance[owner][spender]
    out.push({ slot: (owner, spender) => enc(enc(p, owner), spender) }); // Vyper: keccak(slot . owner) then . spender
  }
  return out;
}

/**
 * A state override that gives `spender` an allowance of `amount` from `owner` on `token`, for an `eth_call` that
 * simulates a call as if it had been approved (nothing signed). The token's allowance slot is found once per client
 * by probing `allowance()` under overrides of every candidate slot at once. `null` when the token keeps it
 * elsewhere.
 */
export async function allowanceOverride(client: VeilClient, token: Address, owner: Address, spender: Address, amount: bigint): Promise<StateOverride | null> {
  let m = layoutCache.get(client);
  if (!m) layoutCache.set(client, (m = new Map()));
  const key = token.toLowerCase();
  let p = m.get(key);
  if (!p) {
    p = (async () => {
      const candidates = allowanceCandidates();
      const MARK = 0x5afe0000000000000000000000000000000000000000000000000000n;
      const read = (stateDiff: { slot: Hex; value: Hex }[]) =>
        readContract(client, { address: token, abi: erc20Abi, functionName: "allowance", args: [owner, spender], stateOverride: [{ address: token, stateDiff }] });
      const probe = await read(candidates.map((c, i) => ({ slot: c.slot(owner, spender), value: word(MARK + BigInt(i)) })));
      const i = probe - MARK;
      if (i < 0n || i >= BigInt(candidates.length)) return null;
      const found = candidates[Number(i)]!;
      // Confirm it alone, with a second pair (a coincidence of both is out of reach).
      const check = await readContract(client, {
        address: token,
        abi: erc20Abi,
        functionName: "allowance",
        args: [spender, owner],
        stateOverride: [{ address: token, stateDiff: [{ slot: found.slot(spender, owner), value: word(MARK) }] }],
      });
      return check === MARK ? found : null;
    })().catch(() => null);
    m.set(key, p);
  }
  const layout = await p;
  if (!layout) return null;
  return [{ address: token, stateDiff: [{ slot: layout.slot(owner, spender), value: word(amount) }] }];
}

function word(v: bigint): Hex {
  return `0x${v.toString(16).padStart(64, "0")}`;
}

/** Simulates `call` from `account` under `stateOverride` (nothing signed); throws the decoded error in units. */
export async function simulate(client: VeilClient, account: Account, call: ContractCall, stateOverride: StateOverride | undefined, options: SendOptions = {}): Promise<unknown> {
  try {
    const { result } = await simulateContract(client, { ...(call as any), account, chain: client.chain ?? null, stateOverride });
    return result;
  } catch (e) {
    throw await explainError(client, account, e, options);
  }
}

/**
 * Estimates `call` (under `stateOverride`, if any); undefined when it cannot, e.g. where the node does not take
 * overrides in eth_estimateGas (Hardhat's EDR does not; anvil and geth do).
 */
export async function estimateContractGasSafe(client: VeilClient, account: Account, call: ContractCall, stateOverride: StateOverride | undefined): Promise<bigint | undefined> {
  try {
    return await estimateContractGas(client, { ...(call as any), account, stateOverride });
  } catch {
    return undefined;
  }
}

/** The args of the first `eventName` event that `address` emitted in `receipt`. */
export function eventArgs<const abi extends Abi>(abi: abi, receipt: TransactionReceipt, address: Address, eventName: string): Record<string, any> {
  const logs = parseEventLogs({ abi, logs: receipt.logs }) as unknown as { address: Address; eventName: string; args: Record<string, any> }[];
  const log = logs.find((l) => l.eventName === eventName && l.address.toLowerCase() === address.toLowerCase());
  if (!log) throw new Error(`no ${eventName} event from ${address} in ${receipt.transactionHash}`);
  return log.args;
}

export function toBytes32(value: string): Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new Error(`expected a 32-byte hex value, got ${JSON.stringify(value)}`);
  return value.toLowerCase() as Hex;
}

/** Awaits `p`, turning a failure into a decoded {@link VeilError}. */
export async function decoded<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw decodeVeilError(e);
  }
}
