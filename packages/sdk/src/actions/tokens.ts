/**
 * Paying a contract with ERC-20 tokens without leaving anything behind: the call that pulls the tokens is
 * simulated with the allowance it needs before anything is signed, then paid by an EIP-2612 permit in the same
 * transaction where the token and the contract allow it, or by an approval of exactly the amount, sent only after
 * the simulation passed. A call that would fail throws its named error having cost nothing: no approval, no gas.
 */
import { domainSeparator, erc20Abi, type Account, type Address, type Hex, type StateOverride, type TransactionReceipt, type TypedDataDomain } from "viem";
import { getBlock, readContract, signTypedData, simulateCalls } from "viem/actions";
import type { VeilAddresses } from "../addresses.js";
import { VeilError, decodeVeilError, type ErrorUnits } from "../errors.js";
import { mockUsdcAbi } from "@veil/contracts";
import {
  allowanceOverride,
  confirm,
  ensureGasFunds,
  errorUnits,
  estimateContractGasSafe,
  explainError,
  gasLimit,
  send,
  simulate,
  write,
  type ContractCall,
  type PendingWrite,
  type SendOptions,
  type SentReturnType,
  type VeilClient,
  type WriteReturnType,
} from "../internal.js";

/**
 * Approves `spender` for `amount` unless the current allowance already covers it. Returns the approval hash, if any.
 * The SDK's actions no longer approve ahead of their call ({@link sendPaying} simulates first); kept for tools that
 * manage allowances themselves.
 */
export async function ensureAllowance(
  client: VeilClient,
  account: Account,
  token: Address,
  spender: Address,
  amount: bigint,
): Promise<Hex | undefined> {
  const allowance = await readContract(client, { address: token, abi: erc20Abi, functionName: "allowance", args: [account.address, spender] });
  if (allowance >= amount) return undefined;
  const { hash } = await send(client, account, { address: token, abi: erc20Abi, functionName: "approve", args: [spender, amount] });
  return hash;
}

// ---------------------------------------------------------------------------------------------------------------- permit

const domainCache = new WeakMap<object, Map<string, Promise<TypedDataDomain | null>>>();

/**
 * The EIP-712 domain of `token`'s EIP-2612 permit, or `null` when it has none. Read from ERC-5267 `eip712Domain()`
 * when the token publishes it, otherwise from `name()` with version "1" or "2" (USDC), and accepted only when it
 * hashes to the token's own `DOMAIN_SEPARATOR()`: a permit signed over a wrong domain would be refused on-chain.
 * Cached per client.
 */
export function permitDomain(client: VeilClient, token: Address): Promise<TypedDataDomain | null> {
  let m = domainCache.get(client);
  if (!m) domainCache.set(client, (m = new Map()));
  const key = token.toLowerCase();
  let p = m.get(key);
  if (!p) {
    p = (async () => {
      const [separator, chainId] = await Promise.all([
        readContract(client, { address: token, abi: mockUsdcAbi, functionName: "DOMAIN_SEPARATOR" }),
        client.chain?.id ?? readChainId(client),
      ]);
      const candidates: TypedDataDomain[] = [];
      try {
        const [, name, version, cid, verifyingContract] = await readContract(client, { address: token, abi: mockUsdcAbi, functionName: "eip712Domain" });
        candidates.push({ name, version, chainId: Number(cid), verifyingContract });
      } catch {
        // no ERC-5267
      }
      try {
        const name = await readContract(client, { address: token, abi: erc20Abi, functionName: "name" });
        for (const version of ["1", "2"]) candidates.push({ name, version, chainId, verifyingContract: token });
      } catch {
        // no name()
      }
      return candidates.find((d) => domainSeparator({ domain: d }).toLowerCase() === separator.toLowerCase()) ?? null;
    })().catch(() => null);
    m.set(key, p);
  }
  return p;
}

async function readChainId(client: VeilClient): Promise<number> {
  return Number(await client.request({ method: "eth_chainId" }));
}

/** `token` has no EIP-2612 permit that matches its domain separator. */
export class PermitUnsupportedError extends VeilError {
  override name = "PermitUnsupportedError";
  constructor(readonly token: Address) {
    super(`Token ${token} has no EIP-2612 permit this SDK can sign (no DOMAIN_SEPARATOR, or one that matches no known domain): pay by approval instead.`);
  }
}

/** Signs an EIP-2612 permit of `value` for `spender` with the account's wallet. */
export async function signPermit(
  client: VeilClient,
  account: Account,
  token: Address,
  spender: Address,
  value: bigint,
  deadline: bigint,
): Promise<{ v: number; r: Hex; s: Hex }> {
  const domain = await permitDomain(client, token);
  if (!domain) throw new PermitUnsupportedError(token);
  const nonce = await readContract(client, { address: token, abi: mockUsdcAbi, functionName: "nonces", args: [account.address] });
  const signature = await signTypedData(client, {
    account,
    domain,
    types: {
      Permit: [
        { name: "owner", type: "address" },
        { name: "spender", type: "address" },
        { name: "value", type: "uint256" },
        { name: "nonce", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    primaryType: "Permit",
    message: { owner: account.address, spender, value, nonce, deadline },
  });
  const r = `0x${signature.slice(2, 66)}` as Hex;
  const s = `0x${signature.slice(66, 130)}` as Hex;
  let v = parseInt(signature.slice(130, 132), 16);
  if (v < 27) v += 27;
  return { v, r, s };
}

// ---------------------------------------------------------------------------------------------------------------- sendPaying

/** A signed permit, as the contracts' permit paths take it. */
export type SignedPermit = { value: bigint; deadline: bigint; v: number; r: Hex; s: Hex };

/**
 * How a paying call gets its allowance: `"auto"` (default) a permit when the token supports one and the call has a
 * permit path, otherwise an approval after the simulation; `"permit"` a permit or {@link PermitUnsupportedError};
 * `"approve"` an approval (of exactly the amount) after the simulation.
 */
export type ApprovalMode = "auto" | "permit" | "approve";

export type SendPayingParameters = SendOptions & {
  /** The token the call pulls, who pulls it, and how much (approved or permitted exactly). */
  token: Address;
  spender: Address;
  amount: bigint;
  /** The call that pulls `amount` from the sender once it is allowed to. */
  call: ContractCall;
  /** The same as one transaction that first uses a permit (e.g. the escrow's multicall with `permitFeeToken`). */
  withPermit?: ((permit: SignedPermit) => ContractCall) | undefined;
  approval?: ApprovalMode | undefined;
  /** Latest time the permit may be used (unix seconds; default: the chain's time + 1 hour). */
  permitDeadline?: bigint | undefined;
};

/** How a paying call was paid, known once it is sent. */
export type Payment = {
  /** The approval transaction, when one was needed (mined before the paying call was sent). */
  approvalHash: Hex | undefined;
  /** How the allowance came: already there, a permit in the same transaction, or an approval transaction. */
  paidWith: "allowance" | "permit" | "approval";
};

export type WritePayingReturnType = SentReturnType & Payment & { result: unknown; gas: bigint };
export type SendPayingReturnType = WriteReturnType & Payment & { result: unknown; gas: bigint };

/**
 * Sends a call that pulls `amount` of `token` from the sender, simulated first with the allowance it needs:
 *
 * 1. An allowance that already covers `amount`: the call alone (simulated by {@link send}).
 * 2. Otherwise the call is simulated with that allowance (an `eth_call` state override of the token's allowance
 *    slot, found by probing; or `eth_simulateV1` with the approval before it; on a node with neither, the
 *    sender's token balance is checked instead), and the account's ETH is checked against the gas. A failure throws
 *    its named error in the user's units: nothing was signed.
 * 3. Then a permit for exactly `amount` is signed and sent with the call in one transaction (`withPermit`), or an
 *    approval of exactly `amount` is sent and then the call.
 */
export async function sendPaying(client: VeilClient, account: Account, p: SendPayingParameters): Promise<SendPayingReturnType> {
  const sent = await writePaying(client, account, p);
  return { ...sent, receipt: await confirm(client, account, sent.hash, payingOptions(p)) };
}

function payingOptions(p: SendPayingParameters): SendOptions {
  return { addresses: p.addresses, moves: p.moves ?? tokenKind(p.addresses, p.token), extraGas: p.extraGas };
}

/**
 * {@link sendPaying} without waiting for the paying call's receipt: the same simulation and checks before anything
 * is signed, the same permit or exact approval (an approval is mined before the paying call is sent, which is
 * simulated again against it), then returns with the paying call's hash.
 */
export async function writePaying(client: VeilClient, account: Account, p: SendPayingParameters): Promise<WritePayingReturnType> {
  const options: SendOptions = payingOptions(p);
  const mode = p.approval ?? "auto";
  const allowance = await readAllowance(client, p.token, account.address, p.spender, options);
  if (allowance >= p.amount && mode !== "permit") {
    const sent = await write(client, account, p.call, options);
    return { ...sent, approvalHash: undefined, paidWith: "allowance" };
  }
  const domain = p.withPermit && mode !== "approve" ? await permitDomain(client, p.token) : null;
  if (mode === "permit" && (!domain || !p.withPermit)) throw new PermitUnsupportedError(p.token);

  // 2. Simulate with the allowance, before anything is signed.
  const override = await allowanceOverride(client, p.token, account.address, p.spender, p.amount);
  await simulateAllowed(client, account, p, override, options);
  const approveCall: ContractCall = { address: p.token, abi: erc20Abi, functionName: "approve", args: [p.spender, p.amount] };
  const [estimate, approveGas] = await Promise.all([
    override ? estimateContractGasSafe(client, account, p.call, override) : Promise.resolve(undefined),
    domain ? Promise.resolve(0n) : estimateContractGasSafe(client, account, approveCall, undefined),
  ]);
  // What the transactions will need at least: the estimated gas with send's margin (or a bare transaction where
  // the node cannot estimate under an override), plus the approval.
  const callGas = estimate !== undefined ? gasLimit(estimate, p.extraGas) : 21_000n;
  await decodedFunds(client, account, callGas + (approveGas !== undefined && approveGas > 0n ? gasLimit(approveGas) : 0n), options);

  // 3. Pay: a permit in the same transaction, or an approval of exactly the amount.
  if (domain && p.withPermit) {
    const deadline = p.permitDeadline ?? (await getBlock(client, { blockTag: "latest" })).timestamp + 3600n;
    const { v, r, s } = await signPermit(client, account, p.token, p.spender, p.amount, deadline);
    const sent = await write(client, account, p.withPermit({ value: p.amount, deadline, v, r, s }), options);
    return { ...sent, approvalHash: undefined, paidWith: "permit" };
  }
  // The approval is mined before the paying call is sent (and simulated again, for real).
  const approval = await send(client, account, approveCall, options);
  const sent = await write(client, account, p.call, options);
  return { ...sent, approvalHash: approval.hash, paidWith: "approval" };
}

/**
 * The builder of a write action that pays with one call ({@link writePaying}): known before mining, how it was paid;
 * `outcome` decodes the receipt.
 */
export async function pendingPaying<O extends object = {}>(
  client: VeilClient,
  account: Account,
  p: SendPayingParameters,
  outcome: (receipt: TransactionReceipt) => O | Promise<O> = () => ({}) as O,
): Promise<PendingWrite<Payment, O>> {
  const sent = await writePaying(client, account, p);
  return { hash: sent.hash, account, options: payingOptions(p), known: { approvalHash: sent.approvalHash, paidWith: sent.paidWith }, outcome };
}

/** Which deployment token `token` is (for ERC-20 errors in its units). */
function tokenKind(addresses: VeilAddresses | undefined, token: Address): ErrorUnits["token"] {
  const t = token.toLowerCase();
  if (addresses?.feeToken?.toLowerCase() === t) return "feeToken";
  if (addresses?.stakingToken?.toLowerCase() === t) return "stakingToken";
  if (addresses?.computeCredits?.toLowerCase() === t) return "credits";
  return undefined;
}

async function readAllowance(client: VeilClient, token: Address, owner: Address, spender: Address, options: SendOptions): Promise<bigint> {
  try {
    return await readContract(client, { address: token, abi: erc20Abi, functionName: "allowance", args: [owner, spender] });
  } catch (e) {
    throw await explainError(client, undefined, e, options);
  }
}

async function decodedFunds(client: VeilClient, account: Account, gas: bigint, options: SendOptions): Promise<void> {
  try {
    await ensureGasFunds(client, account, gas);
  } catch (e) {
    throw await explainError(client, account, e, options);
  }
}

/** Simulates `p.call` as if `amount` were approved: by state override, else eth_simulateV1, else a balance check. */
async function simulateAllowed(client: VeilClient, account: Account, p: SendPayingParameters, override: StateOverride | null, options: SendOptions): Promise<void> {
  if (override) {
    await simulate(client, account, p.call, override, options);
    return;
  }
  let results;
  try {
    ({ results } = await simulateCalls(client, {
      account: account.address,
      calls: [
        { to: p.token, abi: erc20Abi, functionName: "approve", args: [p.spender, p.amount] },
        { to: p.call.address, abi: p.call.abi, functionName: p.call.functionName, args: p.call.args } as never,
      ],
    }));
  } catch {
    results = undefined; // the node has no eth_simulateV1
  }
  if (results) {
    const failed = results.find((r) => r.status !== "success");
    if (failed) throw await explainError(client, account, failed.error ?? new Error("simulation failed"), options);
    return;
  }
  // Neither: at least the balance, which is what an approval-then-revert would most often have hidden.
  const balance = await readContract(client, { address: p.token, abi: erc20Abi, functionName: "balanceOf", args: [account.address] });
  if (balance < p.amount) {
    throw decodeVeilError(
      { name: "ContractFunctionRevertedError", data: { errorName: "ERC20InsufficientBalance", args: [account.address, balance, p.amount], abiItem: INSUFFICIENT_BALANCE } },
      await errorUnits(client, p.addresses, options.moves),
    );
  }
}

const INSUFFICIENT_BALANCE = {
  type: "error",
  name: "ERC20InsufficientBalance",
  inputs: [
    { name: "sender", type: "address" },
    { name: "balance", type: "uint256" },
    { name: "needed", type: "uint256" },
  ],
} as const;
