/**
 * The two forms of every write action, as viem's `writeContract` and `waitForTransactionReceipt` + `parseEventLogs`:
 * `writeX` returns at once with the hash (and what was known before mining), after the same simulation, checks and
 * payment as `X`, which waits for the receipt and decodes the action's events. On a real (in-process Hardhat EDR)
 * chain with automining off, so that "at once" is observable: the transaction is still pending when `writeX`
 * returns. An approval, when one is needed, is mined before the paying call is sent.
 */
import { expect } from "chai";
import { network } from "hardhat";
import {
  createPublicClient,
  createWalletClient,
  custom,
  erc20Abi,
  getAddress,
  parseEther,
  parseEventLogs,
  type Address,
  type EIP1193RequestFn,
  type Hex,
} from "viem";
import { readContract, writeContract } from "viem/actions";
import {
  JobEscrowFeeAboveMaxError,
  NodeStakingInsufficientFreeStakeError,
  getDeposit,
  getJob,
  getNode,
  joinModel,
  registerModel,
  registerNode,
  requestUnbond,
  stake,
  submitJob,
  veilActions,
  veilWalletActions,
  writeDeposit,
  writeJoinModel,
  writeMintCredits,
  writeRegisterNode,
  writeRequestUnbond,
  writeStake,
  writeSubmitJob,
  writeSubmitJobs,
  type TensorMap,
  type VeilAddresses,
} from "../../packages/sdk/src/index.js";
import { computeCreditsAbi, jobEscrowAbi, mockUsdcAbi, nodeStakingAbi, veilTokenAbi } from "../../packages/contracts/src/abis.js";
import VeilLocal from "../../ignition/modules/VeilLocal.js";
import { PRICE, STAKE, USDC, randomId, type Connection } from "../helpers/fixture.js";

const connection = (await network.create()) as unknown as Connection;
const provider = connection.provider;

/** Every transaction sent through the SDK's clients (in order), and whether approvals get mined on arrival. */
const sent: { to: Address; selector: Hex; hash: Hex }[] = [];
let mineApprovals = false;
const APPROVE = "0x095ea7b3";
const request: EIP1193RequestFn = async (args: { method: string; params?: unknown }) => {
  const result = await provider.request(args as never);
  if (args.method === "eth_sendTransaction") {
    const tx = (args.params as { to: Address; data: Hex }[])[0]!;
    sent.push({ to: getAddress(tx.to), selector: tx.data.slice(0, 10) as Hex, hash: result as Hex });
    // A stand-in for the next block arriving: only approvals, so the paying call stays pending.
    if (mineApprovals && tx.data.startsWith(APPROVE)) await provider.request({ method: "evm_mine", params: [] });
  }
  return result as never;
};
const transport = custom({ request }, { retryCount: 0 });
const publicClient = createPublicClient({ transport, pollingInterval: 20 });
const wallet = (account: Address) => createWalletClient({ account, transport, pollingInterval: 20 });
const automine = (on: boolean) => provider.request({ method: "evm_setAutomine", params: [on] });
const mine = () => provider.request({ method: "evm_mine", params: [] });
const pending = async (hash: Hex) => (await publicClient.getTransaction({ hash })).blockNumber === null;

const inputs: TensorMap = { x: { type: "float32", dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) } };

describe("sdk write actions: writeX returns at once with the hash, X waits and decodes the events", function () {
  let a: VeilAddresses;
  let admin: Address, requester: Address, owner: Address, spare: Address;
  let modelId: Hex;

  before(async () => {
    const signers = ((await provider.request({ method: "eth_accounts" })) as string[]).map((x) => getAddress(x));
    [admin, requester, owner] = signers as [Address, Address, Address];
    spare = signers[9]!;
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
    await registerModel(wallet(owner), { addresses: a, modelId, price: PRICE, profile: { opset: 17 }, signature: null });
    for (const op of signers.slice(5, 8)) {
      await writeContract(wallet(admin), { address: a.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [op, STAKE * 2n], chain: null });
      await registerNode(wallet(op), { addresses: a, endpoint: "http://127.0.0.1:9" });
      await stake(wallet(op), { addresses: a, amount: STAKE });
      await joinModel(wallet(op), { addresses: a, modelId });
    }
    for (const who of [requester, spare]) {
      await writeContract(wallet(admin), { address: a.feeToken, abi: mockUsdcAbi, functionName: "mint", args: [who, 100n * USDC], chain: null });
      await writeContract(wallet(admin), { address: a.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [who, STAKE * 2n], chain: null });
    }
  });

  afterEach(async () => {
    mineApprovals = false;
    await automine(true);
  });

  it("writeSubmitJob returns while the submission is pending; the receipt's events give what submitJob returns", async () => {
    await automine(false);
    const r = await writeSubmitJob(wallet(requester), { addresses: a, modelId, inputs });
    expect(Object.keys(r).sort()).to.deep.equal(["approvalHash", "deadline", "hash", "inputHash", "inputURI", "maxFee", "paidWith"]);
    expect([r.paidWith, r.approvalHash, r.maxFee, r.inputURI]).to.deep.equal(["permit", undefined, PRICE, undefined]);
    expect(await pending(r.hash), "pending when writeSubmitJob returned").to.equal(true);
    expect(await publicClient.getTransactionReceipt({ hash: r.hash }).catch((e: Error) => e.name)).to.equal("TransactionReceiptNotFoundError");

    await mine();
    const receipt = await publicClient.waitForTransactionReceipt({ hash: r.hash });
    expect(receipt.status).to.equal("success");
    const [submitted] = parseEventLogs({ abi: jobEscrowAbi, eventName: "JobSubmitted", logs: receipt.logs });
    expect(submitted!.args.inputHash).to.equal(r.inputHash);
    expect(submitted!.args.deadline).to.equal(Number(r.deadline));
    const job = await getJob(publicClient, { addresses: a, jobId: submitted!.args.jobId });
    expect(job.status).to.equal("Assigned");

    // The waiting form: the same known values, plus what the receipt's events say.
    await automine(true);
    const w = await submitJob(wallet(requester), { addresses: a, modelId, inputs, deadline: r.deadline });
    expect(w.receipt.status).to.equal("success");
    expect([w.inputHash, w.maxFee, w.deadline, w.paidWith]).to.deep.equal([r.inputHash, r.maxFee, r.deadline, "permit"]);
    expect(w.jobId).to.equal(submitted!.args.jobId + 1n);
    expect(w.operators).to.have.length(1);
    expect(w.fee).to.equal(PRICE);
  });

  it("an approval is mined before the paying call is sent; the paying call returns pending (writeDeposit, writeMintCredits, writeSubmitJobs)", async () => {
    await automine(false);
    mineApprovals = true;
    const allowance = (token: Address, spender: Address) =>
      readContract(publicClient, { address: token, abi: erc20Abi, functionName: "allowance", args: [requester, spender] });

    // The FeeLedger takes deposits and collects fees: it is the spender approved.
    const ledger = await readContract(publicClient, { address: a.jobEscrow, abi: jobEscrowAbi, functionName: "ledger" });
    const from = sent.length;
    const d = await writeDeposit(wallet(requester), { addresses: a, amount: 3n * USDC, approval: "approve" });
    expect(d.paidWith).to.equal("approval");
    expect(sent.slice(from).map((t) => [t.to, t.selector])).to.deep.equal([
      [a.feeToken, APPROVE],
      [ledger, sent[from + 1]!.selector],
    ]);
    expect(sent[from]!.hash).to.equal(d.approvalHash);
    expect((await publicClient.getTransactionReceipt({ hash: d.approvalHash! })).status).to.equal("success");
    expect(await pending(d.hash), "the deposit is pending").to.equal(true);
    expect(await allowance(a.feeToken, ledger)).to.equal(3n * USDC); // exactly the amount, not yet spent
    await mine();
    expect((await publicClient.waitForTransactionReceipt({ hash: d.hash })).status).to.equal("success");
    expect(await getDeposit(publicClient, { addresses: a, address: requester })).to.equal(3n * USDC);
    expect(await allowance(a.feeToken, ledger)).to.equal(0n);

    // ComputeCredits has no permit path: always an exact approval.
    const m = await writeMintCredits(wallet(requester), { addresses: a, credits: parseEther("1") });
    expect(m.paidWith).to.equal("approval");
    expect((await publicClient.getTransactionReceipt({ hash: m.approvalHash! })).status).to.equal("success");
    expect(await pending(m.hash)).to.equal(true);
    await mine();
    const minted = parseEventLogs({ abi: computeCreditsAbi, eventName: "Minted", logs: (await publicClient.waitForTransactionReceipt({ hash: m.hash })).logs });
    expect(minted[0]!.args.cost <= m.maxCost).to.equal(true);
    expect(await allowance(a.stakingToken, a.computeCredits!)).to.equal(m.maxCost - minted[0]!.args.cost);

    // A batch paid by approval: the total fee approved, the multicall pending.
    const b = await writeSubmitJobs(wallet(requester), { addresses: a, payment: "transfer", approval: "approve", jobs: [{ modelId, inputs }, { modelId, inputs, redundancy: 2 }] });
    expect(b.paidWith).to.equal("approval");
    expect(b.submissions.map((s) => s.maxFee)).to.deep.equal([PRICE, 2n * PRICE]);
    expect(await allowance(a.feeToken, ledger)).to.equal(3n * PRICE);
    expect(await pending(b.hash)).to.equal(true);
    await mine();
    const jobs = parseEventLogs({ abi: jobEscrowAbi, eventName: "JobSubmitted", logs: (await publicClient.waitForTransactionReceipt({ hash: b.hash })).logs });
    expect(jobs.map((j) => j.args.inputHash)).to.deep.equal(b.submissions.map((s) => s.inputHash));
  });

  it("a failing writeX throws its named error having sent nothing", async () => {
    await automine(false);
    const nonce = () => publicClient.getTransactionCount({ address: requester, blockTag: "pending" });
    const [n0, from] = [await nonce(), sent.length];
    const fee = await writeSubmitJob(wallet(requester), { addresses: a, modelId, inputs, maxFee: 1n, approval: "approve" }).catch((e: unknown) => e);
    expect(fee).to.be.instanceOf(JobEscrowFeeAboveMaxError);
    const first = await readContract(publicClient, { address: a.jobEscrow, abi: jobEscrowAbi, functionName: "jobIdAt", args: [1n] }); // the job in record 1
    const op = (await getJob(publicClient, { addresses: a, jobId: first })).operators[0]!;
    const [o0, opFrom] = [await publicClient.getTransactionCount({ address: op, blockTag: "pending" }), sent.length];
    const tooMuch = await writeStake(wallet(op), { addresses: a, amount: STAKE * 100n, approval: "approve" }).catch((e: unknown) => e);
    expect((tooMuch as { errorName?: string }).errorName).to.equal("ERC20InsufficientBalance");
    const unbond = await writeRequestUnbond(wallet(op), { addresses: a, amount: STAKE * 10n }).catch((e: unknown) => e);
    expect(unbond).to.be.instanceOf(NodeStakingInsufficientFreeStakeError);
    expect(sent.length, "nothing sent").to.equal(from);
    expect([opFrom, await nonce(), await publicClient.getTransactionCount({ address: op, blockTag: "pending" })]).to.deep.equal([from, n0, o0]);
  });

  it("an operator's writes: registerNode, stake by permit, joinModel, requestUnbond pending until mined; requestUnbond waits and decodes", async () => {
    await automine(false);
    const w = wallet(spare);
    const reg = await writeRegisterNode(w, { addresses: a, endpoint: "http://127.0.0.1:9" });
    expect(await pending(reg.hash)).to.equal(true);
    // Simulations run against the latest block: a write that depends on a pending one waits for it to be mined.
    const early = await writeStake(w, { addresses: a, amount: STAKE }).catch((e: unknown) => e);
    expect((early as { errorName?: string }).errorName).to.equal("NodeStakingNotRegistered");
    await mine();
    const st = await writeStake(w, { addresses: a, amount: STAKE });
    expect([st.paidWith, st.approvalHash]).to.deep.equal(["permit", undefined]);
    expect(await pending(st.hash)).to.equal(true);
    await mine();
    const join = await writeJoinModel(w, { addresses: a, modelId });
    expect(await pending(join.hash)).to.equal(true);
    await mine();
    const node = await getNode(publicClient, { addresses: a, address: spare });
    expect([node.registered, node.stake, node.models]).to.deep.equal([true, STAKE, [modelId]]);

    const un = await writeRequestUnbond(w, { addresses: a, amount: 1n });
    expect(Object.keys(un)).to.deep.equal(["hash"]);
    await mine();
    const [ev] = parseEventLogs({ abi: nodeStakingAbi, eventName: "UnbondRequested", logs: (await publicClient.waitForTransactionReceipt({ hash: un.hash })).logs });
    await automine(true);
    const waited = await requestUnbond(w, { addresses: a, amount: 1n });
    expect(waited.receipt.status).to.equal("success");
    expect(waited.unbondEnd >= Number(ev!.args.unbondEnd)).to.equal(true);
  });

  it("the decorators bind both forms of every write action", async () => {
    const actions = veilWalletActions({ addresses: a })(wallet(requester));
    const names = Object.keys(actions).filter((k) => k !== "veilAddresses");
    const writes = names.filter((k) => /^write[A-Z]/.test(k));
    const waits = names.filter((k) => !writes.includes(k));
    expect(waits.length).to.be.greaterThan(25);
    expect(writes.sort()).to.deep.equal(waits.map((k) => `write${k[0]!.toUpperCase()}${k.slice(1)}`).sort());
    for (const k of names) expect(typeof (actions as Record<string, unknown>)[k], k).to.equal("function");

    await automine(false);
    const veil = wallet(requester).extend(veilActions({ addresses: a }));
    const { hash } = await veil.writeSubmitJob({ modelId, inputs, payment: "deposit" });
    expect(await pending(hash)).to.equal(true);
    await mine();
    const [submitted] = parseEventLogs({ abi: jobEscrowAbi, eventName: "JobSubmitted", logs: (await publicClient.waitForTransactionReceipt({ hash })).logs });
    expect(await veil.getJob({ jobId: submitted!.args.jobId })).to.include({ payerModule: 0, payer: requester, payMode: "deposit" });
  });
});
