/**
 * The SDK's write path on a real (in-process Hardhat EDR) chain: a call that would fail throws its named error in
 * the user's units having cost nothing (no signature of any kind, no approval, no nonce used, no ETH spent), paying
 * calls are simulated with the allowance they need before anything is signed and then paid by a permit in the same
 * transaction or by an approval of exactly the amount, and node and transport failures name their cause (no ETH,
 * nonce, unreachable or slow RPC). The gas-limit margin is tested on anvil (test/sdk/anvil.test.ts).
 */
import { expect } from "chai";
import { network } from "hardhat";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createPublicClient,
  createWalletClient,
  custom,
  encodeFunctionData,
  erc20Abi,
  getAddress,
  http,
  parseEther,
  toFunctionSelector,
  type Account,
  type Address,
  type Hex,
  type LocalAccount,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { getTransactionCount, readContract, sendTransaction, writeContract } from "viem/actions";
import {
  InsufficientFundsError,
  JobEscrowFeeAboveMaxError,
  NodeStakingNotEnoughOperatorsError,
  NonceError,
  RpcTimeoutError,
  RpcUnreachableError,
  VeilContractError,
  decodeVeilError,
  deposit,
  getDeposit,
  getJob,
  joinModel,
  mintCredits,
  registerModel,
  registerNode,
  stake,
  submitJob,
  submitJobs,
  type TensorMap,
  type VeilAddresses,
} from "../../packages/sdk/src/index.js";
import { formatAmount, formatTime } from "../../packages/sdk/src/errors.js";
import { allowanceOverride, drawBoundFor, submissionGasBound } from "../../packages/sdk/src/internal.js";
import { permitDomain } from "../../packages/sdk/src/actions/tokens.js";
import { jobEscrowAbi, mockUsdcAbi, modelRegistryAbi, veilTokenAbi } from "../../packages/contracts/src/abis.js";
import Veil from "../../ignition/modules/Veil.js";
import VeilLocal from "../../ignition/modules/VeilLocal.js";
import { PRICE, STAKE, USDC, randomId, type Connection } from "../helpers/fixture.js";

const connection = (await network.create()) as unknown as Connection;
const { networkHelpers } = connection;
const transport = custom(connection.provider, { retryCount: 0 });
const publicClient = createPublicClient({ transport, pollingInterval: 20 });
const rpcWallet = (account: Address) => createWalletClient({ account, transport, pollingInterval: 20 });

const inputs: TensorMap = { x: { type: "float32", dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) } };

/** A local account that counts every signature it makes (transactions and EIP-712 permits). */
function countedAccount() {
  const inner = privateKeyToAccount(generatePrivateKey());
  const signed = { transactions: 0, typedData: 0 };
  const account: LocalAccount = {
    ...inner,
    signTransaction: async (...a: Parameters<LocalAccount["signTransaction"]>) => (signed.transactions++, inner.signTransaction(...a)),
    signTypedData: async (...a: Parameters<LocalAccount["signTypedData"]>) => (signed.typedData++, inner.signTypedData(...(a as [any]))),
  } as LocalAccount;
  const wallet = createWalletClient({ account, transport, pollingInterval: 20 });
  return { account, signed, wallet };
}

type Snapshot = Record<string, bigint | number>;

describe("sdk write safety: failed calls cost nothing, payments are simulated before anything is signed", function () {
  let a: VeilAddresses;
  let admin: Address, owner: Address;
  let modelId: Hex;
  let operators: Address[];

  /** Everything a failed call must leave as it was. */
  async function snapshot(who: Account, addresses: VeilAddresses = a): Promise<Snapshot> {
    const allowance = (token: Address, spender: Address) =>
      readContract(publicClient, { address: token, abi: erc20Abi, functionName: "allowance", args: [who.address, spender] });
    const ledger = await readContract(publicClient, { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "ledger" });
    const [nonce, pending, eth, feeToEscrow, feeToLedger, stakeToStaking, stakeToCredits, block] = await Promise.all([
      getTransactionCount(publicClient, { address: who.address }),
      getTransactionCount(publicClient, { address: who.address, blockTag: "pending" }),
      publicClient.getBalance({ address: who.address }),
      allowance(addresses.feeToken, addresses.jobEscrow),
      allowance(addresses.feeToken, ledger), // the FeeLedger collects fees and deposits
      allowance(addresses.stakingToken, addresses.nodeStaking),
      addresses.computeCredits ? allowance(addresses.stakingToken, addresses.computeCredits) : Promise.resolve(0n),
      publicClient.getBlockNumber({ cacheTime: 0 }),
    ]);
    return { nonce, pending, eth, feeToEscrow, feeToLedger, stakeToStaking, stakeToCredits, block };
  }

  /** Runs `fn`, expects it to throw, and checks that nothing was signed and nothing changed on chain. */
  async function costsNothing(c: ReturnType<typeof countedAccount>, fn: () => Promise<unknown>, addresses: VeilAddresses = a) {
    const before = await snapshot(c.account, addresses);
    const signed = { ...c.signed };
    const err = await fn().then(
      () => expect.fail("expected the call to throw"),
      (e: unknown) => e,
    );
    expect(c.signed, "nothing signed").to.deep.equal(signed);
    expect(await snapshot(c.account, addresses), "nothing changed on chain").to.deep.equal(before);
    return err as any;
  }

  async function fund(c: { account: Account }, p: { eth?: bigint; usdc?: bigint; veil?: bigint }, addresses: VeilAddresses = a) {
    if (p.eth !== undefined) await networkHelpers.setBalance(c.account.address, p.eth);
    if (p.usdc) await writeContract(rpcWallet(admin), { address: addresses.feeToken, abi: mockUsdcAbi, functionName: "mint", args: [c.account.address, p.usdc], chain: null });
    if (p.veil) await writeContract(rpcWallet(admin), { address: addresses.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [c.account.address, p.veil], chain: null });
  }

  async function deploySuite() {
    const signers = ((await connection.provider.request({ method: "eth_accounts" })) as string[]).map((x) => getAddress(x));
    [admin, , owner] = signers as [Address, Address, Address];
    const d = await connection.ignition.deploy(VeilLocal, { parameters: { VeilLocal: { treasury: signers[3]! } } });
    const at = async (c: { getAddress(): Promise<string> }) => (await c.getAddress()) as Address;
    a = {
      jobEscrow: await at(d.escrow),
      nodeStaking: await at(d.staking),
      modelRegistry: await at(d.registry),
      feeToken: await at(d.feeToken),
      stakingToken: await at(d.veil),
      accessManager: await at(d.manager),
      computeCredits: await at(d.credits),
    };
    modelId = randomId() as Hex;
    await registerModel(rpcWallet(owner), { addresses: a, modelId, price: PRICE, profile: { opset: 17 }, signature: null });
    operators = signers.slice(5, 8);
    for (const op of operators) {
      await writeContract(rpcWallet(admin), { address: a.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [op, STAKE * 2n], chain: null });
      await registerNode(rpcWallet(op), { addresses: a, endpoint: "http://127.0.0.1:9" });
      await stake(rpcWallet(op), { addresses: a, amount: STAKE });
      await joinModel(rpcWallet(op), { addresses: a, modelId });
    }
  }

  before(deploySuite);

  describe("failing calls throw their named error, in units, having cost nothing", () => {
    it("submitJob: maxFee too low, by permit (the default) and by approval", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1"), usdc: 10n * USDC });
      for (const approval of ["auto", "approve", "permit"] as const) {
        const err = await costsNothing(c, () => submitJob(c.wallet, { addresses: a, modelId, inputs, maxFee: 1n, approval }));
        expect(err).to.be.instanceOf(JobEscrowFeeAboveMaxError);
        expect(err.shortMessage).to.equal(`JobEscrowFeeAboveMax: fee 0.05 mUSDC (${PRICE} base units) exceeds maxFee 0.000001 mUSDC (1 base unit)`);
        expect(err.args).to.deep.equal([PRICE, 1n]);
      }
    });

    it("submitJob: a fee-token balance below the fee (ERC20InsufficientBalance in mUSDC)", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1"), usdc: PRICE - 1n });
      for (const approval of ["auto", "approve"] as const) {
        const err = await costsNothing(c, () => submitJob(c.wallet, { addresses: a, modelId, inputs, approval }));
        expect(err.errorName).to.equal("ERC20InsufficientBalance");
        expect(err.shortMessage).to.equal(
          `ERC20InsufficientBalance: balance of ${c.account.address} is 0.049999 mUSDC (49999 base units), 0.05 mUSDC (50000 base units) needed`,
        );
      }
    });

    it("submitJob: a deadline in the past, shown as ISO time plus how long ago", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1"), usdc: 10n * USDC });
      const now = Number((await publicClient.getBlock()).timestamp);
      const err = await costsNothing(c, () => submitJob(c.wallet, { addresses: a, modelId, inputs, deadline: now - 720 }));
      expect(err.errorName).to.equal("JobEscrowDeadlineTooSoon");
      const iso = (t: number) => new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
      // The simulation runs in the next block: the earliest deadline is 10 minutes (the commit window) after it.
      expect(err.shortMessage).to.match(
        new RegExp(`^JobEscrowDeadlineTooSoon: deadline ${iso(now - 720)} \\(12 min ago\\) is before the earliest allowed \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ \\(in 10 min\\)$`),
      );
      expect(err.args[0]).to.equal(now - 720);
    });

    it("submitJob: more operators than serve the model; submitJobs with one bad job", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1"), usdc: 10n * USDC });
      const err = await costsNothing(c, () => submitJob(c.wallet, { addresses: a, modelId, inputs, redundancy: 5 }));
      expect(err).to.be.instanceOf(NodeStakingNotEnoughOperatorsError);
      expect(err.shortMessage).to.match(/^NodeStakingNotEnoughOperators: model #\d+ needs 5 operators, 3 available$/);
      const batch = await costsNothing(c, () =>
        submitJobs(c.wallet, { addresses: a, payment: "transfer", jobs: [{ modelId, inputs }, { modelId, inputs, maxFee: 1n }] }),
      );
      expect(batch).to.be.instanceOf(JobEscrowFeeAboveMaxError);
    });

    it("deposit above the balance, by permit and by approval", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1"), usdc: 1n * USDC });
      for (const approval of ["auto", "permit", "approve"] as const) {
        const err = await costsNothing(c, () => deposit(c.wallet, { addresses: a, amount: 2n * USDC, approval }));
        expect(err.shortMessage).to.equal(`ERC20InsufficientBalance: balance of ${c.account.address} is 1 mUSDC (1000000 base units), 2 mUSDC (2000000 base units) needed`);
      }
    });

    it("stake above the balance (in VEIL), by permit and by approval; mintCredits without the staking tokens", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1"), veil: parseEther("100") });
      await registerNode(c.wallet, { addresses: a, endpoint: "http://127.0.0.1:9" });
      for (const approval of ["auto", "approve"] as const) {
        const err = await costsNothing(c, () => stake(c.wallet, { addresses: a, amount: parseEther("5000"), approval }));
        expect(err.shortMessage).to.equal(
          `ERC20InsufficientBalance: balance of ${c.account.address} is 100 VEIL (100000000000000000000 base units), 5000 VEIL (5000000000000000000000 base units) needed`,
        );
      }
      const mint = await costsNothing(c, () => mintCredits(c.wallet, { addresses: a, credits: parseEther("1000000") }));
      expect(mint.errorName).to.equal("ERC20InsufficientBalance");
      expect(mint.shortMessage).to.contain(" VEIL (");
    });

    it("an account without ETH: the real cause, with its balance and the gas it needs; nothing signed", async () => {
      const c = countedAccount();
      await fund(c, { eth: 0n, usdc: 10n * USDC, veil: parseEther("10") });
      const err = await costsNothing(c, () => submitJob(c.wallet, { addresses: a, modelId, inputs }));
      expect(err).to.be.instanceOf(InsufficientFundsError);
      expect(err.shortMessage).to.match(new RegExp(`^account ${c.account.address} has 0 ETH; the transaction needs ~0\\.\\d+ ETH of gas`));
      expect(err.shortMessage).to.not.contain("Missing or invalid parameters");
      for (const approval of ["auto", "approve"] as const) {
        expect(await costsNothing(c, () => deposit(c.wallet, { addresses: a, amount: USDC, approval }))).to.be.instanceOf(InsufficientFundsError);
      }
      // Some ETH, but less than the gas: the balance is shown.
      await networkHelpers.setBalance(c.account.address, 1000n);
      const some = await costsNothing(c, () => submitJob(c.wallet, { addresses: a, modelId, inputs, approval: "approve" }));
      expect(some.shortMessage).to.match(/ has 0\.000000000000001 ETH; the transaction needs ~/);
    });
  });

  describe("paying calls: a permit in the same transaction, or an approval of exactly the amount after the simulation", () => {
    it("submitJob by default: one multicall(permitFeeToken, submitJob) transaction, no approval left", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1"), usdc: 10n * USDC });
      const r = await submitJob(c.wallet, { addresses: a, modelId, inputs });
      expect(c.signed).to.deep.equal({ transactions: 1, typedData: 1 });
      expect(r.approvalHash).to.equal(undefined);
      const tx = await publicClient.getTransaction({ hash: r.hash });
      expect(tx.input.slice(0, 10)).to.equal("0xac9650d8"); // multicall(bytes[])
      expect((await snapshot(c.account)).feeToLedger).to.equal(0n);
      expect((await getJob(publicClient, { addresses: a, jobId: r.jobId })).status).to.equal("Assigned");
    });

    it("submitJob by approval: approves exactly the fee (nothing left after), then submits", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1"), usdc: 10n * USDC });
      const r = await submitJob(c.wallet, { addresses: a, modelId, inputs, redundancy: 2, maxFee: 10n * PRICE, approval: "approve" });
      expect(c.signed).to.deep.equal({ transactions: 2, typedData: 0 });
      const approval = await publicClient.getTransaction({ hash: r.approvalHash! });
      expect(approval.to?.toLowerCase()).to.equal(a.feeToken.toLowerCase());
      expect(r.fee).to.equal(2n * PRICE);
      expect((await snapshot(c.account)).feeToLedger).to.equal(0n); // approved 2 x price, not maxFee
      // An allowance that already covers the fee is used as is: no permit, no approval.
      const ledger = await readContract(publicClient, { address: a.jobEscrow, abi: jobEscrowAbi, functionName: "ledger" });
      await writeContract(c.wallet, { address: a.feeToken, abi: erc20Abi, functionName: "approve", args: [ledger, PRICE], chain: null });
      const before = { ...c.signed };
      const again = await submitJob(c.wallet, { addresses: a, modelId, inputs });
      expect(again.approvalHash).to.equal(undefined);
      expect(c.signed).to.deep.equal({ transactions: before.transactions + 1, typedData: 0 });
    });

    it("submitJobs transfer: the batch's total fee by one permit in the same multicall", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1"), usdc: 10n * USDC });
      const balance = () => readContract(publicClient, { address: a.feeToken, abi: erc20Abi, functionName: "balanceOf", args: [c.account.address] });
      const b0 = await balance();
      const r = await submitJobs(c.wallet, { addresses: a, payment: "transfer", jobs: [{ modelId, inputs }, { modelId, inputs, redundancy: 3 }] });
      expect(r.jobs.map((j) => j.operators.length)).to.deep.equal([1, 3]);
      expect(c.signed).to.deep.equal({ transactions: 1, typedData: 1 });
      expect(b0 - (await balance())).to.equal(4n * PRICE);
      expect((await snapshot(c.account)).feeToLedger).to.equal(0n);
    });

    it("deposit by permit (FeeLedger.depositWithPermit, one transaction) or by an exact approval, stake by permit (stakeWithPermit), mintCredits by an exact approval", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1"), usdc: 10n * USDC, veil: parseEther("20000") });
      const ledger = await readContract(publicClient, { address: a.jobEscrow, abi: jobEscrowAbi, functionName: "ledger" });
      const d = await deposit(c.wallet, { addresses: a, amount: 3n * USDC });
      expect(d.approvalHash).to.equal(undefined);
      expect(c.signed).to.deep.equal({ transactions: 1, typedData: 1 });
      const tx = await publicClient.getTransaction({ hash: d.hash });
      expect(tx.to?.toLowerCase()).to.equal(ledger.toLowerCase());
      expect(tx.input.slice(0, 10)).to.equal(toFunctionSelector("depositWithPermit(address,uint256,uint256,uint8,bytes32,bytes32)"));
      expect(await getDeposit(publicClient, { addresses: a, address: c.account.address })).to.equal(3n * USDC);
      const byApproval = await deposit(c.wallet, { addresses: a, amount: USDC, approval: "approve" });
      const approval = await publicClient.getTransaction({ hash: byApproval.approvalHash! });
      expect(approval.to?.toLowerCase()).to.equal(a.feeToken.toLowerCase());
      expect(approval.input).to.equal(encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [ledger, USDC] }));
      expect((await publicClient.getTransaction({ hash: byApproval.hash })).input.slice(0, 10)).to.equal(toFunctionSelector("deposit(uint256)"));
      expect(await getDeposit(publicClient, { addresses: a, address: c.account.address })).to.equal(4n * USDC);

      await registerNode(c.wallet, { addresses: a, endpoint: "http://127.0.0.1:9" });
      const s = await stake(c.wallet, { addresses: a, amount: STAKE });
      expect(s.approvalHash).to.equal(undefined);
      expect((await publicClient.getTransaction({ hash: s.hash })).input.slice(0, 10)).to.equal(toFunctionSelector("stakeWithPermit(uint256,uint256,uint8,bytes32,bytes32)"));
      const m = await mintCredits(c.wallet, { addresses: a, credits: parseEther("1") });
      expect(m.approvalHash).to.match(/^0x/);
      const snap = await snapshot(c.account);
      expect([snap.feeToEscrow, snap.feeToLedger, snap.stakeToStaking, snap.stakeToCredits]).to.deep.equal([0n, 0n, 0n, 0n]);
    });

    it("the allowance slot is found by probing (MockUSDC, VeilToken) and permit domains match the tokens' separators", async () => {
      const [x, y] = [privateKeyToAccount(generatePrivateKey()).address, privateKeyToAccount(generatePrivateKey()).address];
      for (const token of [a.feeToken, a.stakingToken]) {
        const o = await allowanceOverride(publicClient, token, x, y, 12345n);
        expect(o).to.not.equal(null);
        const v = await readContract(publicClient, { address: token, abi: erc20Abi, functionName: "allowance", args: [x, y], stateOverride: o! });
        expect(v).to.equal(12345n);
        expect(await permitDomain(publicClient, token)).to.not.equal(null);
      }
    });

    it("a fee token without permit (a plain OpenZeppelin ERC-20): approval after the simulation; a failing submission leaves none", async () => {
      const signers = ((await connection.provider.request({ method: "eth_accounts" })) as string[]).map((x) => getAddress(x));
      const cbt = await connection.ethers.deployContract("CallbackERC20");
      const feeToken = (await cbt.getAddress()) as Address;
      const d = await connection.ignition.deploy(Veil, { parameters: { Veil: { feeToken, treasury: signers[3]!, admin: signers[9]! } }, deploymentId: "plain-fee-token" });
      const at = async (k: { getAddress(): Promise<string> }) => (await k.getAddress()) as Address;
      const b: VeilAddresses = {
        jobEscrow: await at(d.escrow),
        nodeStaking: await at(d.staking),
        modelRegistry: await at(d.registry),
        feeToken,
        stakingToken: await at(d.veil),
        accessManager: await at(d.manager),
      };
      expect(await permitDomain(publicClient, feeToken)).to.equal(null);
      const id = randomId() as Hex;
      await registerModel(rpcWallet(owner), { addresses: b, modelId: id, price: PRICE, profile: { opset: 17 }, signature: null });
      const op = signers[9]!;
      await writeContract(rpcWallet(admin), { address: b.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [op, STAKE], chain: null });
      await registerNode(rpcWallet(op), { addresses: b, endpoint: "http://127.0.0.1:9" });
      await stake(rpcWallet(op), { addresses: b, amount: STAKE });
      await joinModel(rpcWallet(op), { addresses: b, modelId: id });

      const c = countedAccount();
      await networkHelpers.setBalance(c.account.address, parseEther("1"));
      await writeContract(rpcWallet(admin), { address: feeToken, abi: mockUsdcAbi, functionName: "mint", args: [c.account.address, 10n * USDC], chain: null }); // same mint(address,uint256)
      const err = await costsNothing(c, () => submitJob(c.wallet, { addresses: b, modelId: id, inputs, maxFee: 1n }), b);
      // CallbackERC20 has 18 decimals.
      expect(err.shortMessage).to.equal(`JobEscrowFeeAboveMax: fee 0.00000000000005 CBT (${PRICE} base units) exceeds maxFee 0.000000000000000001 CBT (1 base unit)`);
      const permitOnly = await costsNothing(c, () => submitJob(c.wallet, { addresses: b, modelId: id, inputs, permit: true }), b);
      expect(permitOnly.name).to.equal("PermitUnsupportedError");
      const r = await submitJob(c.wallet, { addresses: b, modelId: id, inputs });
      expect(r.approvalHash).to.match(/^0x/);
      expect(c.signed).to.deep.equal({ transactions: 2, typedData: 0 });
      expect((await snapshot(c.account, b)).feeToLedger).to.equal(0n);
    });
  });

  describe("gas limits and node errors", () => {
    it("a submission's gas limit covers the estimate plus the bound of its draw and record", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1"), usdc: 10n * USDC });
      for (const k of [1, 3]) {
        const r = await submitJob(c.wallet, { addresses: a, modelId, inputs, redundancy: k });
        const tx = await publicClient.getTransaction({ hash: r.hash });
        const index = (await readContract(publicClient, { address: a.modelRegistry, abi: modelRegistryAbi, functionName: "jobTerms", args: [modelId] }))[0];
        const bound = await submissionGasBound(publicClient, a, { modelIndex: index, k });
        expect(tx.gas - r.receipt.gasUsed >= bound, `limit ${tx.gas}, used ${r.receipt.gasUsed}, bound ${bound}`).to.equal(true);
      }
      // The bound grows with k and the tree's depth, and counts each distinct slot cold once.
      const f = { exclude: 0n, maxIneligible: 16n, members: 3n };
      expect(drawBoundFor({ ...f, k: 3n, size: 3n }) > drawBoundFor({ ...f, k: 1n, size: 3n })).to.equal(true);
      expect(drawBoundFor({ ...f, k: 1n, size: 1000n, members: 1000n }) > drawBoundFor({ ...f, k: 1n, size: 3n })).to.equal(true);
    });

    it("nonce too low is named, with the account", async () => {
      const c = countedAccount();
      await fund(c, { eth: parseEther("1") });
      await sendTransaction(c.wallet, { to: admin, value: 1n, chain: null });
      const e = await sendTransaction(c.wallet, { to: admin, value: 1n, nonce: 0, chain: null }).catch((x: unknown) => x);
      const err = decodeVeilError(e);
      expect(err).to.be.instanceOf(NonceError);
      expect(err.shortMessage).to.equal(
        `nonce too low for account ${c.account.address} (transaction nonce 0, the account's next nonce is 1): another transaction from this account was mined or is pending (a second process or wallet using the same key?). Retry to use the next nonce.`,
      );
    });

    it("an unreachable RPC and one that does not answer are named, with the URL", async () => {
      const down = createPublicClient({ transport: http("http://127.0.0.1:9/", { retryCount: 0 }) });
      const e1 = await getJob(down, { addresses: a, jobId: 1n }).catch((x: unknown) => x);
      expect(e1).to.be.instanceOf(RpcUnreachableError);
      expect((e1 as Error & { shortMessage: string }).shortMessage).to.match(/^RPC http:\/\/127\.0\.0\.1:9 is unreachable \((ECONNREFUSED|fetch failed)\)/);

      const silent: Server = createServer(() => {}); // accepts, never answers
      await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
      try {
        const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
        const slow = createWalletClient({ account: privateKeyToAccount(generatePrivateKey()), transport: http(url, { retryCount: 0, timeout: 300 }) });
        const e2 = await registerNode(slow, { addresses: a, endpoint: "http://127.0.0.1:9" }).catch((x: unknown) => x);
        expect(e2).to.be.instanceOf(RpcTimeoutError);
        expect((e2 as Error & { shortMessage: string }).shortMessage).to.equal(`RPC ${url} did not answer within 300 ms.`);
        const e3 = await submitJob(slow, { addresses: a, modelId, inputs }).catch((x: unknown) => x);
        expect(e3).to.be.instanceOf(RpcTimeoutError);
      } finally {
        silent.closeAllConnections();
        silent.close();
      }
    });

    it("amounts in tokens with base units in parentheses; times as ISO plus relative", () => {
      expect(formatAmount(5000n * 10n ** 18n, { symbol: "VEIL", decimals: 18 })).to.equal("5000 VEIL (5000000000000000000000 base units)");
      expect(formatAmount(1n, { symbol: "mUSDC", decimals: 6 })).to.equal("0.000001 mUSDC (1 base unit)");
      expect(formatAmount(7n, undefined)).to.equal("7");
      const t = Date.UTC(2026, 11, 3, 9, 0, 0) / 1000;
      expect(formatTime(t, t - 59 * 60)).to.equal("2026-12-03T09:00:00Z (in 59 min)");
      expect(formatTime(t, t + 12 * 60)).to.equal("2026-12-03T09:00:00Z (12 min ago)");
      expect(formatTime(t, t + 3 * 3600 + 5 * 60)).to.equal("2026-12-03T09:00:00Z (3 h 5 min ago)");
      expect(formatTime(t, t - 21 * 86400)).to.equal("2026-12-03T09:00:00Z (in 21 d)");
      // Without units (synchronous decoding), the values stay in base units.
      const raw = decodeVeilError({ name: "ContractFunctionRevertedError", data: { errorName: "JobEscrowFeeAboveMax", args: [PRICE, 1n], abiItem: { type: "error", name: "JobEscrowFeeAboveMax", inputs: [] } } });
      expect(raw).to.be.instanceOf(VeilContractError);
      expect(raw.shortMessage).to.equal(`JobEscrowFeeAboveMax: fee ${PRICE} exceeds maxFee 1`);
      const units = decodeVeilError(raw, { feeToken: { symbol: "USDC", decimals: 6 } });
      expect(units.shortMessage).to.equal(`JobEscrowFeeAboveMax: fee 0.05 USDC (${PRICE} base units) exceeds maxFee 0.000001 USDC (1 base unit)`);
    });
  });
});
