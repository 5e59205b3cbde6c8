import { expect } from "chai";
import { network } from "hardhat";
import { erc20Abi, getAddress, parseEther, toHex, zeroHash, type Address, type Hex } from "viem";
import { readContract, writeContract } from "viem/actions";
import {
  formatJobId,
  AccountNotFoundError,
  FeeLedgerInsufficientDepositError,
  InputTooLargeError,
  JobEscrowInsufficientDepositError,
  JobEscrowFeeAboveMaxError,
  JobEscrowJobRecycledError,
  JobEscrowUnknownJobError,
  JobInvalidInputError,
  JobRefundedError,
  JobTimeoutError,
  ResultUnavailableError,
  VeilContractError,
  claimStakerRewards,
  decodeVeilError,
  deposit,
  encodeTensors,
  finalizeJob,
  getDeposit,
  getEarnings,
  getJob,
  getJobResult,
  getModel,
  getNode,
  invalidInputResult,
  jobIdTag,
  parseJobId,
  joinModel,
  leaveModel,
  listModels,
  pokeJob,
  registerModel,
  registerNode,
  requestUnbond,
  resultHash,
  sha256Hex,
  stake,
  submitJob,
  submitJobs,
  submitResult,
  declineJob,
  resultCommitment,
  veilActions,
  waitForResult,
  watchJob,
  withdrawDeposit,
  withdrawEarnings,
  withdrawUnbonded,
  mintCredits,
  burnCredits,
  getCreditAllowance,
  grantAgent,
  revokeAgent,
  withdrawUnlockedCredits,
  challenge,
  drawCommittee,
  commitVote,
  revealVote,
  resolveDispute,
  getDispute,
  type Job,
  type TensorMap,
  type VeilAddresses,
} from "../../packages/sdk/src/index.js";
import { computeCreditsAbi, feeLedgerAbi, jobEscrowAbi, mockUsdcAbi, veilTokenAbi } from "../../packages/contracts/src/abis.js";
import { P, PRICE, STAKE, USDC, randomId, type Connection } from "../helpers/fixture.js";
import VeilLocal from "../../ignition/modules/VeilLocal.js";
import { resultServer, viemClients } from "./helpers/viem.js";

const connection = (await network.create()) as unknown as Connection;
const { networkHelpers } = connection;
const { publicClient, wallet } = viemClients(connection);

const inputs: TensorMap = { x: { type: "float32", dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) } };
const outputs: TensorMap = { y: { type: "float32", dims: [1, 2], data: new Float32Array([0.25, 0.7500001]) } };

describe("sdk actions (viem on an in-process chain)", function () {
  let addresses: VeilAddresses;
  let server: Awaited<ReturnType<typeof resultServer>>;
  let admin: Address, requester: Address, modelOwner: Address, outsider: Address;
  let operators: Address[];
  let modelId: Hex;
  let roundedModelId: Hex;

  before(async () => {
    server = await resultServer();
  });
  after(async () => server.close());

  /** The suite deployed with Ignition; three operators registered, staked and serving two models through the SDK. */
  async function sdkFixture() {
    const signers = ((await connection.provider.request({ method: "eth_accounts" })) as string[]).map((a) => getAddress(a));
    const [adm, req, owner, treasury] = signers as [Address, Address, Address, Address];
    const d = await connection.ignition.deploy(VeilLocal, { parameters: { VeilLocal: { treasury } } });
    const at = async (c: { getAddress(): Promise<string> }) => (await c.getAddress()) as Address;
    const a: VeilAddresses = {
      jobEscrow: await at(d.escrow),
      nodeStaking: await at(d.staking),
      modelRegistry: await at(d.registry),
      feeToken: await at(d.feeToken),
      stakingToken: await at(d.veil),
      accessManager: await at(d.manager),
      computeCredits: await at(d.credits),
      disputeManager: await at(d.disputeManager),
    };
    const ops = signers.slice(5, 11); // six: a dispute committee of five excludes the job's operator
    const exactId = randomId() as Hex;
    const roundedId = randomId() as Hex;
    await registerModel(wallet(owner), { addresses: a, modelId: exactId, price: PRICE, royaltyBps: 1_000, profile: { opset: 17 }, signature: null });
    await registerModel(wallet(owner), { addresses: a, modelId: roundedId, price: PRICE, comparator: { kind: "rounded", precision: 3 }, profile: { opset: 17 }, signature: null });
    for (const op of ops) {
      await writeContract(wallet(adm), { address: a.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [op, STAKE * 2n], chain: null });
      await registerNode(wallet(op), { addresses: a, endpoint: server.url });
      await stake(wallet(op), { addresses: a, amount: STAKE });
      await joinModel(wallet(op), { addresses: a, modelId: exactId });
      await joinModel(wallet(op), { addresses: a, modelId: roundedId });
    }
    await writeContract(wallet(req), { address: a.feeToken, abi: mockUsdcAbi, functionName: "mint", args: [req, 1_000n * USDC], chain: null });
    return { a, signers, ops, exactId, roundedId };
  }

  beforeEach(async () => {
    const f = await networkHelpers.loadFixture(sdkFixture);
    addresses = f.a;
    [admin, requester, modelOwner, , outsider] = f.signers as [Address, Address, Address, Address, Address];
    operators = f.ops;
    modelId = f.exactId;
    roundedModelId = f.roundedId;
  });

  /** The FeeLedger (every balance), as the escrow names it. */
  const ledgerOf = () => readContract(publicClient, { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "ledger" });

  /** The assigned operator posts `out` (k = 1) and serves its bytes. */
  async function answer(jobId: bigint, out: TensorMap, comparator: Parameters<typeof resultHash>[1] = { kind: "exact" }) {
    const job = await getJob(publicClient, { addresses, jobId });
    const hash = resultHash(out, comparator);
    server.put(hash, encodeTensors(out));
    await submitResult(wallet(job.operators[0]!), { addresses, jobId, resultHash: hash });
    return hash;
  }

  describe("models", () => {
    it("registerModel, getModel and listModels", async () => {
      const m = await getModel(publicClient, { addresses, modelId });
      expect(m.owner).to.equal(modelOwner);
      expect(m.price).to.equal(PRICE);
      expect(m.royaltyBps).to.equal(1_000);
      expect(m.comparator).to.deep.equal({ kind: "exact" });
      expect(m.active).to.equal(true);
      expect((await getModel(publicClient, { addresses, modelId: roundedModelId })).comparator).to.deep.equal({ kind: "rounded", precision: 3 });
      const list = await listModels(publicClient, { addresses });
      expect(list.map((x) => x.modelId)).to.deep.equal([modelId, roundedModelId]);
      expect(list.map((x) => x.index)).to.deep.equal(list.map((_, i) => i + 1));
      expect(await listModels(publicClient, { addresses, offset: 1, limit: 1 })).to.have.length(1);
    });

    it("getModel of an unknown id throws ModelRegistryUnknownModel", async () => {
      const id = randomId() as Hex;
      const err = await getModel(publicClient, { addresses, modelId: id }).catch((e) => e);
      expect(err).to.be.instanceOf(VeilContractError);
      expect(err.errorName).to.equal("ModelRegistryUnknownModel");
      expect(err.shortMessage).to.equal(`ModelRegistryUnknownModel: model ${id} is not registered`);
    });
  });

  describe("nodes", () => {
    it("getNode reports registration, stake and models", async () => {
      const n = await getNode(publicClient, { addresses, address: operators[0]! });
      expect(n.registered).to.equal(true);
      expect(n.endpoint).to.equal(server.url);
      expect(n.stake).to.equal(STAKE);
      expect(n.freeStake).to.equal(STAKE);
      expect(n.eligible).to.equal(true);
      expect(n.models).to.deep.equal([modelId, roundedModelId]);
    });

    it("stake approves only when the allowance is short", async () => {
      const op = operators[0]!;
      const first = await stake(wallet(op), { addresses, amount: parseEther("10"), approval: "approve" });
      expect(first.approvalHash).to.match(/^0x/);
      await writeContract(wallet(op), { address: addresses.stakingToken, abi: erc20Abi, functionName: "approve", args: [addresses.nodeStaking, parseEther("100")], chain: null });
      const second = await stake(wallet(op), { addresses, amount: parseEther("10") });
      expect(second.approvalHash).to.equal(undefined);
      expect((await getNode(publicClient, { addresses, address: op })).stake).to.equal(STAKE + parseEther("20"));
    });

    it("requestUnbond, then withdrawUnbonded after the unbonding period", async () => {
      const op = operators[1]!;
      const { unbondEnd } = await requestUnbond(wallet(op), { addresses, amount: parseEther("100") });
      let n = await getNode(publicClient, { addresses, address: op });
      expect(n.unbonding).to.equal(parseEther("100"));
      expect(n.unbondEnd).to.equal(unbondEnd);
      const early = await withdrawUnbonded(wallet(op), { addresses }).catch((e) => e);
      expect(early.errorName).to.equal("NodeStakingUnbondNotReady");
      await networkHelpers.time.increaseTo(unbondEnd + 1);
      const before = await readContract(publicClient, { address: addresses.stakingToken, abi: erc20Abi, functionName: "balanceOf", args: [op] });
      const { amount } = await withdrawUnbonded(wallet(op), { addresses });
      expect(amount).to.equal(parseEther("100"));
      const after = await readContract(publicClient, { address: addresses.stakingToken, abi: erc20Abi, functionName: "balanceOf", args: [op] });
      expect(after - before).to.equal(parseEther("100"));
      n = await getNode(publicClient, { addresses, address: op });
      expect(n.unbonding).to.equal(0n);
    });

    it("leaveModel removes the model", async () => {
      await leaveModel(wallet(operators[2]!), { addresses, modelId });
      expect((await getNode(publicClient, { addresses, address: operators[2]! })).models).to.deep.equal([roundedModelId]);
    });

    it("write actions need an account", async () => {
      const err = await registerNode(publicClient, { addresses, endpoint: "http://x" }).catch((e) => e);
      expect(err).to.be.instanceOf(AccountNotFoundError);
    });
  });

  describe("jobs", () => {
    it("submit-result-wait-finalize-withdraw (transfer payment)", async () => {
      const { jobId, operators: ops, fee, inputHash, inputURI } = await submitJob(wallet(requester), { addresses, modelId, inputs });
      expect(fee).to.equal(PRICE);
      expect(ops).to.have.length(1);
      expect(operators).to.include(ops[0]);
      expect(inputURI).to.equal(undefined);
      expect(inputHash).to.equal(sha256Hex(encodeTensors(inputs)));
      const job = await getJob(publicClient, { addresses, jobId });
      expect(job.status).to.equal("Assigned");
      expect(job.requester).to.equal(requester);
      expect(job.result).to.equal(undefined);

      const seen: Job["status"][] = [];
      const waiting = waitForResult(publicClient, { addresses, jobId, pollingInterval: 10, onChange: (j) => seen.push(j.status) });
      const hash = await answer(jobId, outputs);
      const r = await waiting;
      expect(r.resultHash).to.equal(hash);
      expect(r.operator).to.equal(ops[0]);
      expect(Array.from(r.outputs.y!.data as Float32Array)).to.deep.equal(Array.from(outputs.y!.data as Float32Array));
      expect(seen[0]).to.equal("Assigned");
      expect(seen.at(-1)).to.equal("Proposed");

      const early = await finalizeJob(wallet(outsider), { addresses, jobId }).catch((e) => e);
      expect(early.errorName).to.equal("JobEscrowWindowOpen");
      await networkHelpers.time.increase(P.challengeWindow + 1n);
      await finalizeJob(wallet(outsider), { addresses, jobId });
      expect((await getJob(publicClient, { addresses, jobId })).status).to.equal("Finalized");
      expect((await getJobResult(publicClient, { addresses, jobId })).status).to.equal("Finalized");

      const earned = await getEarnings(publicClient, { addresses, address: ops[0]! });
      expect(earned).to.equal((PRICE * 8000n) / 10000n);
      const { amount } = await withdrawEarnings(wallet(ops[0]!), { addresses });
      expect(amount).to.equal(earned);
      expect(await getEarnings(publicClient, { addresses, address: ops[0]! })).to.equal(0n);
      const none = await withdrawEarnings(wallet(ops[0]!), { addresses }).catch((e) => e);
      expect(none.errorName).to.equal("FeeLedgerNothingToWithdraw");
      expect(none.shortMessage).to.equal(`FeeLedgerNothingToWithdraw: ${ops[0]} has nothing to withdraw`);
      expect((await getEarnings(publicClient, { addresses, address: modelOwner }))).to.equal(PRICE / 10n);
    });

    it("claimStakerRewards pays the stakers' share once distributed", async () => {
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs });
      await answer(jobId, outputs);
      await networkHelpers.time.increase(P.challengeWindow + 1n);
      await finalizeJob(wallet(outsider), { addresses, jobId });
      await writeContract(wallet(outsider), { address: await ledgerOf(), abi: feeLedgerAbi, functionName: "distributeStakerRewards", chain: null });
      const pending = (await getNode(publicClient, { addresses, address: operators[0]! })).pendingRewards;
      expect(pending > 0n).to.equal(true);
      const { amount } = await claimStakerRewards(wallet(operators[0]!), { addresses });
      expect(amount).to.equal(pending);
    });

    it("pays with an EIP-2612 permit: no approval transaction", async () => {
      const r = await submitJob(wallet(requester), { addresses, modelId, inputs, permit: true });
      expect(r.approvalHash).to.equal(undefined);
      expect((await getJob(publicClient, { addresses, jobId: r.jobId })).status).to.equal("Assigned");
      // The permit named the FeeLedger (which collects the fee), for exactly the fee, and it was spent.
      const allowance = await readContract(publicClient, { address: addresses.feeToken, abi: erc20Abi, functionName: "allowance", args: [requester, await ledgerOf()] });
      expect(allowance).to.equal(0n);
      expect(await readContract(publicClient, { address: addresses.feeToken, abi: erc20Abi, functionName: "allowance", args: [requester, addresses.jobEscrow] })).to.equal(0n);
      // One transaction to the escrow: multicall(permitFeeToken, submitJob).
      const tx = await publicClient.getTransaction({ hash: r.hash });
      expect(tx.to?.toLowerCase()).to.equal(addresses.jobEscrow.toLowerCase());
      expect(tx.input.slice(0, 10)).to.equal("0xac9650d8"); // multicall(bytes[])
    });

    it("pays from the deposit; deposit, getDeposit and withdrawDeposit", async () => {
      await deposit(wallet(requester), { addresses, amount: 1n * USDC });
      expect(await getDeposit(publicClient, { addresses, address: requester })).to.equal(USDC);
      await submitJob(wallet(requester), { addresses, modelId, inputs, payment: "deposit" });
      expect(await getDeposit(publicClient, { addresses, address: requester })).to.equal(USDC - PRICE);
      await withdrawDeposit(wallet(requester), { addresses, amount: USDC - PRICE });
      expect(await getDeposit(publicClient, { addresses, address: requester })).to.equal(0n);
      const err = await submitJob(wallet(requester), { addresses, modelId, inputs, payment: "deposit" }).catch((e) => e);
      expect(err.shortMessage).to.equal(`FeeLedgerInsufficientDeposit: deposit of ${requester} is 0 mUSDC (0 base units), 0.05 mUSDC (${PRICE} base units) needed`);
      expect(err).to.be.instanceOf(FeeLedgerInsufficientDepositError).and.to.be.instanceOf(JobEscrowInsufficientDepositError);
      expect([err.account, err.balance, err.needed]).to.deep.equal([requester, 0n, PRICE]);
      // The deposit sits in the FeeLedger, which an explicit `feeLedger` address reaches without asking the escrow.
      const explicit = { ...addresses, feeLedger: await ledgerOf() };
      await deposit(wallet(requester), { addresses: explicit, amount: PRICE });
      expect(await getDeposit(publicClient, { addresses: explicit, address: requester })).to.equal(PRICE);
      expect(await getDeposit(publicClient, { addresses, address: requester })).to.equal(PRICE);
      // A revert of the FeeLedger itself is named in the fee token's units too.
      const over = await withdrawDeposit(wallet(requester), { addresses, amount: USDC }).catch((e) => e);
      expect(over).to.be.instanceOf(FeeLedgerInsufficientDepositError);
      expect(over.shortMessage).to.equal(`FeeLedgerInsufficientDeposit: deposit of ${requester} is 0.05 mUSDC (${PRICE} base units), 1 mUSDC (${USDC} base units) needed`);
    });

    it("inputs above maxInputBytes go by content address, or through an uploader, referenced by URI and sha256", async () => {
      const big: TensorMap = { x: { type: "float32", dims: [1, 5000], data: new Float32Array(5000).fill(1.5) } };
      const bytes = encodeTensors(big);
      expect(bytes.length > Number(P.maxInputBytes)).to.equal(true);
      // Without an uploader: by content address (sdk/src/blobs.ts), the bytes pushed to the drawn operators after
      // the receipt (this fixture's endpoints do not listen: the push fails, and says so, without failing the job).
      const plain = await submitJob(wallet(requester), { addresses, modelId, inputs: big });
      expect(plain.inputURI).to.equal(`sha256:${sha256Hex(bytes).slice(2)}`);
      expect(plain.blobPushes!.map((p) => [p.operator, p.ok])).to.deep.equal([[plain.operators[0], false]]);
      const stored: Uint8Array[] = [];
      const uploader = { put: async (b: Uint8Array) => (stored.push(b), `ipfs://input-${stored.length}`) };
      const r = await submitJob(wallet(requester), { addresses, modelId, inputs: big, uploader });
      expect(r.inputURI).to.equal("ipfs://input-1");
      expect(r.inputHash).to.equal(sha256Hex(bytes));
      expect(Buffer.from(stored[0]!).equals(Buffer.from(bytes))).to.equal(true);
    });

    it("declineJob: an input by URI can be declined without penalty (then replaced by pokeJob); an inline one cannot", async () => {
      const big: TensorMap = { x: { type: "float32", dims: [1, 5000], data: new Float32Array(5000).fill(0.5) } };
      const uploader = { put: async () => "https://blobs.example/unavailable" };
      const { jobId, operators: [op] } = await submitJob(wallet(requester), { addresses, modelId, inputs: big, uploader });
      const stakeBefore = (await getNode(publicClient, { addresses, address: op! })).stake;
      await declineJob(wallet(op!), { addresses, jobId, slot: 0 });
      const declined = await getJob(publicClient, { addresses, jobId });
      expect([declined.declinedMask, declined.revealMask]).to.deep.equal([1, 0]);
      expect(declined.slots).to.deep.equal([{ slot: 0, operator: op, state: "declined" }]);
      const { status } = await pokeJob(wallet(outsider), { addresses, jobId });
      expect(status).to.equal("Assigned");
      const after = await getJob(publicClient, { addresses, jobId });
      expect(after.operators[0]).to.not.equal(op);
      expect(after.slots).to.deep.equal([{ slot: 0, operator: after.operators[0], state: "pending" }]);
      expect((await getNode(publicClient, { addresses, address: op! })).stake).to.equal(stakeBefore);
      const inline = await submitJob(wallet(requester), { addresses, modelId, inputs });
      const err = await declineJob(wallet(inline.operators[0]!), { addresses, jobId: inline.jobId, slot: 0 }).catch((e) => e);
      expect(err).to.be.instanceOf(VeilContractError);
      expect(err.errorName).to.equal("JobEscrowNotDeclinable");
    });

    it("resultCommitment binds the operator (the contract tests commit and reveal with it)", async () => {
      const a = resultCommitment({ escrow: addresses.jobEscrow, chainId: 31337, jobId: 1n, operator: requester, resultHash: randomId() as Hex, salt: randomId() as Hex });
      expect(a).to.match(/^0x[0-9a-f]{64}$/);
      // Bound to the operator: the same result and salt from another address is another commitment.
      const r = randomId() as Hex;
      const salt = randomId() as Hex;
      const mine = resultCommitment({ escrow: addresses.jobEscrow, chainId: 31337, jobId: 1n, operator: requester, resultHash: r, salt });
      const theirs = resultCommitment({ escrow: addresses.jobEscrow, chainId: 31337, jobId: 1n, operator: outsider, resultHash: r, salt });
      expect(mine).to.not.equal(theirs);
    });

    it("a rounded-comparator result is checked by re-hashing the decoded outputs", async () => {
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId: roundedModelId, inputs });
      const hash = await answer(jobId, outputs, { kind: "rounded", precision: 3 });
      expect(hash).to.not.equal(sha256Hex(encodeTensors(outputs)));
      const r = await waitForResult(publicClient, { addresses, jobId, pollingInterval: 10 });
      expect(r.resultHash).to.equal(hash);
    });

    it("rejects result bytes that do not match the on-chain hash", async () => {
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs });
      const hash = await answer(jobId, outputs);
      server.put(hash, encodeTensors({ y: { type: "float32", dims: [1, 2], data: new Float32Array([9, 9]) } }));
      const err = await getJobResult(publicClient, { addresses, jobId }).catch((e) => e);
      expect(err).to.be.instanceOf(ResultUnavailableError);
      expect(err.message).to.contain("hash mismatch");
    });

    it("an invalid-input result throws JobInvalidInputError with the reason", async () => {
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs });
      await answer(jobId, invalidInputResult("invalid_input:missing:x"));
      const err = await waitForResult(publicClient, { addresses, jobId, pollingInterval: 10 }).catch((e) => e);
      expect(err).to.be.instanceOf(JobInvalidInputError);
      expect(err.reason).to.equal("invalid_input:missing:x");
    });

    it("a job refunded by poke throws JobRefundedError with the reason", async () => {
      const now = (await publicClient.getBlock()).timestamp;
      const { jobId, receipt } = await submitJob(wallet(requester), { addresses, modelId, inputs, deadline: now + P.commitWindow + 30n });
      await networkHelpers.time.increase(P.commitWindow + 60n);
      const { status } = await pokeJob(wallet(outsider), { addresses, jobId });
      expect(status).to.equal("Refunded");
      const err = await waitForResult(publicClient, { addresses, jobId, fromBlock: receipt.blockNumber }).catch((e) => e);
      expect(err).to.be.instanceOf(JobRefundedError);
      expect(err.reason).to.equal("DeadlinePassed");
      expect(err.amount).to.equal(PRICE);
    });

    it("waitForResult times out with JobTimeoutError", async () => {
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs });
      const err = await waitForResult(publicClient, { addresses, jobId, timeout: 50, pollingInterval: 10 }).catch((e) => e);
      expect(err).to.be.instanceOf(JobTimeoutError);
      expect(err.status).to.equal("Assigned");
    });

    it("watchJob reports each change and stops at a terminal status", async () => {
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs });
      const seen: string[] = [];
      let resolveDone!: () => void;
      const done = new Promise<void>((r) => (resolveDone = r));
      const unwatch = watchJob(publicClient, { addresses, jobId, pollingInterval: 10, onChange: (j) => (seen.push(j.status), j.status === "Finalized" && resolveDone()) });
      await new Promise((r) => setTimeout(r, 50));
      await answer(jobId, outputs);
      await new Promise((r) => setTimeout(r, 50));
      await networkHelpers.time.increase(P.challengeWindow + 1n);
      await finalizeJob(wallet(outsider), { addresses, jobId });
      await done;
      unwatch();
      expect(seen).to.deep.equal(["Assigned", "Proposed", "Finalized"]);
    });
  });

  describe("recycled job records", () => {
    const inputHash = sha256Hex(encodeTensors(inputs));
    const nextJobId = () => readContract(publicClient, { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "nextJobId", args: [modelId, inputHash] });

    /** What getJob of a recycled job (from its events) must equal: the chain's last read (JobSubmitted carries the
     * terms version and royalty too). */
    const fromEvents = (stored: Job): Job => ({ ...stored, source: "events" });

    /** Submits, answers and finalizes a k = 1 job; returns its id and result hash. */
    async function settledJob() {
      const { jobId, receipt } = await submitJob(wallet(requester), { addresses, modelId, inputs });
      const hash = await answer(jobId, outputs);
      await networkHelpers.time.increase(P.challengeWindow + 1n);
      await finalizeJob(wallet(outsider), { addresses, jobId });
      return { jobId, hash, block: receipt.blockNumber };
    }

    /**
     * Submits a job (the same model and input), which takes the record of the job settled last: asserts its id is
     * that record's next generation, with the same tag.
     */
    async function recycle(settled: bigint) {
      const was = parseJobId(settled);
      const expected = (was.tag << 64n) | ((was.generation + 1n) << 32n) | was.index;
      expect(await nextJobId()).to.equal(expected);
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs });
      expect(jobId).to.equal(expected);
      return jobId;
    }

    it("getJob of a finalized job whose record holds a later job rebuilds it from the events", async () => {
      const { jobId, hash, block } = await settledJob();
      // tag << 64 | generation << 32 | index: record 1, generation 0, tagged with the model and input.
      expect(parseJobId(jobId)).to.deep.equal({ tag: jobIdTag(modelId, inputHash), generation: 0n, index: 1n });
      expect(jobId > 2n ** 64n).to.equal(true);
      const stored = await getJob(publicClient, { addresses, jobId });
      expect(stored).to.include({ source: "chain", status: "Finalized", requester, modelId, result: hash, phaseEnd: 0, commitMask: 0, revealMask: 1, declinedMask: 0 });
      expect(stored).to.include({ payerModule: 0, payer: requester, termsVersion: 1, royaltyBps: 1_000 });
      expect(stored.slotHashes).to.deep.equal([hash]);
      expect(stored.slots.map((x) => [x.state, x.resultHash])).to.deep.equal([["posted", hash]]);

      const next = await recycle(jobId);
      expect(parseJobId(next)).to.deep.equal({ tag: jobIdTag(modelId, inputHash), generation: 1n, index: 1n }); // generation 1 of record 1
      const now = await getJob(publicClient, { addresses, jobId: next });
      expect(now).to.include({ source: "chain", status: "Assigned", requester, result: undefined });
      expect(now.slotHashes).to.deep.equal([zeroHash]); // the old record's hash is not shown for the new job
      expect(now.slots.map((x) => x.state), "the old record's post is not the new job's").to.deep.equal(["pending"]);

      const rebuilt = await getJob(publicClient, { addresses, jobId });
      expect(rebuilt).to.deep.equal(fromEvents(stored));
      // Its result is still fetched and verified against the hash (now from JobFinalized).
      const r = await getJobResult(publicClient, { addresses, jobId });
      expect(r).to.include({ jobId, resultHash: hash, operator: stored.operators[0], status: "Finalized" });
      expect(Array.from(r.outputs.y!.data as Float32Array)).to.deep.equal(Array.from(outputs.y!.data as Float32Array));
      // A search that starts after the submission finds no JobSubmitted: the contract's error stands.
      const late = await getJob(publicClient, { addresses, jobId, fromBlock: block + 1n }).catch((e) => e);
      expect(late).to.be.instanceOf(JobEscrowJobRecycledError);
      expect(late.jobId).to.equal(jobId);
      expect((await getJob(publicClient, { addresses, jobId, fromBlock: block })).source).to.equal("events");
      // Writes on the old id revert with the named error.
      const poke = await pokeJob(wallet(outsider), { addresses, jobId }).catch((e) => e);
      expect(poke).to.be.instanceOf(JobEscrowJobRecycledError);
      expect(poke.shortMessage).to.equal(`JobEscrowJobRecycled: job ${formatJobId(jobId)} settled and its record now holds a later job`);
      expect(await finalizeJob(wallet(outsider), { addresses, jobId }).catch((e) => e)).to.be.instanceOf(JobEscrowJobRecycledError);
    });

    it("a job refunded for a missed step reads the same from the events; waitForResult still throws JobRefundedError", async () => {
      const now = (await publicClient.getBlock()).timestamp;
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs, deadline: now + P.commitWindow + 30n });
      await networkHelpers.time.increase(P.commitWindow + 60n);
      expect((await pokeJob(wallet(outsider), { addresses, jobId })).status).to.equal("Refunded");
      const stored = await getJob(publicClient, { addresses, jobId });
      expect(stored).to.include({ source: "chain", status: "Refunded", phaseEnd: 0, result: undefined });

      expect(parseJobId(await recycle(jobId))).to.include({ generation: 1n, index: 1n });
      const rebuilt = await getJob(publicClient, { addresses, jobId });
      expect(rebuilt).to.deep.equal(fromEvents(stored));
      const err = await waitForResult(publicClient, { addresses, jobId, pollingInterval: 10 }).catch((e) => e);
      expect(err).to.be.instanceOf(JobRefundedError);
      expect(err.reason).to.equal("DeadlinePassed");
      expect(err.amount).to.equal(PRICE);
    });

    it("a replaced operator is the one the events report", async () => {
      // The first operator misses its commit window; the deadline allows another round, so poke draws a replacement.
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs });
      const first = (await getJob(publicClient, { addresses, jobId })).operators[0];
      await networkHelpers.time.increase(P.commitWindow + 1n);
      await pokeJob(wallet(outsider), { addresses, jobId });
      const replaced = (await getJob(publicClient, { addresses, jobId })).operators[0];
      expect(replaced).to.not.equal(first);
      await answer(jobId, outputs);
      await networkHelpers.time.increase(P.challengeWindow + 1n);
      await finalizeJob(wallet(outsider), { addresses, jobId });
      const stored = await getJob(publicClient, { addresses, jobId });
      await recycle(jobId);
      const rebuilt = await getJob(publicClient, { addresses, jobId });
      expect(rebuilt).to.deep.equal(fromEvents(stored));
      expect(rebuilt.operators).to.deep.equal([replaced]);
    });

    it("waitForResult and watchJob on a job that finalized and got recycled resolve as finalized", async () => {
      const { jobId, hash } = await settledJob();
      await recycle(jobId);
      const seen: Job[] = [];
      const r = await waitForResult(publicClient, { addresses, jobId, pollingInterval: 10, onChange: (j) => seen.push(j) });
      expect(r).to.include({ jobId, resultHash: hash, status: "Finalized" });
      expect(Array.from(r.outputs.y!.data as Float32Array)).to.deep.equal(Array.from(outputs.y!.data as Float32Array));
      expect(seen.map((j) => [j.status, j.source])).to.deep.equal([["Finalized", "events"]]);
      const finalized = await waitForResult(publicClient, { addresses, jobId, until: "finalized", pollingInterval: 10 });
      expect(finalized.resultHash).to.equal(hash);

      const watched: Job[] = [];
      await new Promise<void>((resolve, reject) => {
        const unwatch = watchJob(publicClient, {
          addresses,
          jobId,
          pollingInterval: 10,
          onChange: (j) => (watched.push(j), unwatch(), resolve()),
          onError: reject,
        });
      });
      expect(watched.map((j) => [j.status, j.source])).to.deep.equal([["Finalized", "events"]]);
    });

    /** Mines `sends` (transactions sent without waiting) into one block, so no read sees the state between them. */
    async function inOneBlock(sends: (() => Promise<Hex>)[]) {
      await connection.provider.request({ method: "evm_setAutomine", params: [false] });
      try {
        for (const sendTx of sends) await sendTx();
        await networkHelpers.mine();
      } finally {
        await connection.provider.request({ method: "evm_setAutomine", params: [true] });
      }
    }
    /** A submission paid from the deposit, sent without waiting for its receipt. */
    async function sendSubmission() {
      const deadline = Number((await publicClient.getBlock()).timestamp + 3600n);
      const submit = { modelId, redundancy: 0, maxFee: PRICE, deadline, input: toHex(encodeTensors(inputs)), inputURI: "", inputHash: zeroHash };
      return () => writeContract(wallet(requester), { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "submitJobFromDeposit", args: [submit], gas: 3_000_000n, chain: null });
    }

    it("a job that finalizes and is recycled between two polls of waitForResult resolves as finalized", async () => {
      await deposit(wallet(requester), { addresses, amount: USDC });
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs });
      const hash = await answer(jobId, outputs);
      const seen: Job[] = [];
      let proposed!: () => void;
      const sawProposed = new Promise<void>((r) => (proposed = r));
      const waiting = waitForResult(publicClient, { addresses, jobId, until: "finalized", pollingInterval: 20, onChange: (j) => (seen.push(j), j.status === "Proposed" && proposed()) });
      await sawProposed;
      await networkHelpers.time.increase(P.challengeWindow + 1n);
      const submission = await sendSubmission();
      await inOneBlock([
        () => writeContract(wallet(outsider), { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "finalize", args: [jobId], gas: 1_000_000n, chain: null }),
        submission,
      ]);
      // Record 1 was taken again (generation 1) by the submission; the next one gets a fresh record.
      expect(await readContract(publicClient, { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "jobIdAt", args: [1n] })).to.equal(jobId + (1n << 32n));
      expect(parseJobId(await nextJobId())).to.deep.equal({ tag: jobIdTag(modelId, inputHash), generation: 0n, index: 2n });
      const r = await waiting;
      expect(r).to.include({ jobId, resultHash: hash, status: "Finalized" });
      expect(seen.map((j) => [j.status, j.source])).to.deep.equal([["Proposed", "chain"], ["Finalized", "events"]]);
    });

    it("a job that is refunded and recycled between two polls of waitForResult throws JobRefundedError", async () => {
      await deposit(wallet(requester), { addresses, amount: USDC });
      const now = (await publicClient.getBlock()).timestamp;
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs, deadline: now + P.commitWindow + 30n });
      let polled!: () => void;
      const sawAssigned = new Promise<void>((r) => (polled = r));
      const waiting = waitForResult(publicClient, { addresses, jobId, pollingInterval: 20, onChange: () => polled() }).catch((e) => e);
      await sawAssigned;
      await networkHelpers.time.increase(P.commitWindow + 60n);
      const submission = await sendSubmission();
      await inOneBlock([
        () => writeContract(wallet(outsider), { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "poke", args: [jobId], gas: 1_000_000n, chain: null }),
        submission,
      ]);
      expect((await getJob(publicClient, { addresses, jobId })).source).to.equal("events");
      const err = await waiting;
      expect(err).to.be.instanceOf(JobRefundedError);
      expect(err.reason).to.equal("DeadlinePassed");
      expect(err.amount).to.equal(PRICE);
    });

    it("a k = 3 commit-reveal job with a missed reveal: masks, operators and revealed hashes from the events", async () => {
      const { jobId, operators: ops } = await submitJob(wallet(requester), { addresses, modelId, inputs, redundancy: 3 });
      expect(ops).to.have.length(3);
      const hash = resultHash(outputs, { kind: "exact" });
      server.put(hash, encodeTensors(outputs));
      const salts = ops.map(() => randomId() as Hex);
      for (const [slot, op] of ops.entries()) {
        const commitment = resultCommitment({ escrow: addresses.jobEscrow, chainId: 31337, jobId, operator: op, resultHash: hash, salt: salts[slot]! });
        await writeContract(wallet(op), { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "commit", args: [jobId, slot, commitment], chain: null });
      }
      expect((await getJob(publicClient, { addresses, jobId })).status).to.equal("Revealing");
      // Slots 0 and 2 reveal; slot 1 misses its reveal and is slashed when the window closes.
      for (const slot of [0, 2]) {
        await writeContract(wallet(ops[slot]!), { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "reveal", args: [jobId, slot, hash, salts[slot]!], chain: null });
      }
      await networkHelpers.time.increase(P.revealWindow + 1n);
      expect((await pokeJob(wallet(outsider), { addresses, jobId })).status).to.equal("Proposed");
      await networkHelpers.time.increase(P.challengeWindow + 1n);
      await finalizeJob(wallet(outsider), { addresses, jobId });
      const stored = await getJob(publicClient, { addresses, jobId });
      expect(stored).to.include({ status: "Finalized", commitMask: 0b111, revealMask: 0b101, missedMask: 0b010, result: hash });
      expect(stored.slotHashes[1]).to.not.equal(zeroHash); // the chain still shows slot 1's commitment
      // Named: no commitment is shown as a result, so the events (below) give the same slots.
      expect(stored.slots).to.deep.equal([
        { slot: 0, operator: ops[0], state: "revealed", resultHash: hash },
        { slot: 1, operator: ops[1], state: "missed" },
        { slot: 2, operator: ops[2], state: "revealed", resultHash: hash },
      ]);

      await recycle(jobId);
      const rebuilt = await getJob(publicClient, { addresses, jobId });
      // The events do not carry commitments: a slot that never revealed shows a zero hash.
      expect(rebuilt).to.deep.equal({ ...fromEvents(stored), slotHashes: [hash, zeroHash, hash] });
      const r = await getJobResult(publicClient, { addresses, jobId });
      expect(r.resultHash).to.equal(hash);
      expect([ops[0], ops[2]]).to.include(r.operator);
    });

    it("ids never issued throw JobEscrowUnknownJobError, also for a generation not reached yet or another tag", async () => {
      const { jobId } = await settledJob();
      for (const id of [999n, (5n << 32n) | jobId, (1n << 32n) | jobId, jobId ^ (1n << 64n), jobId & 0xffffffffn]) {
        const err = await getJob(publicClient, { addresses, jobId: id }).catch((e) => e);
        expect(err, String(id)).to.be.instanceOf(JobEscrowUnknownJobError);
        expect(err.shortMessage).to.equal(`JobEscrowUnknownJob: job ${formatJobId(id)} does not exist`);
      }
    });
  });

  describe("batched submission", () => {
    it("submitJobs: many jobs in one transaction, each with its own fee and operators; all or nothing", async () => {
      await deposit(wallet(requester), { addresses, amount: 10n * USDC });
      const before = await getDeposit(publicClient, { addresses, address: requester });
      const batch = Array.from({ length: 5 }, (_, i) => ({
        modelId,
        inputs: { x: { type: "float32" as const, dims: [1, 4], data: new Float32Array([i, i + 1, i + 2, i + 3]) } },
      }));
      const { jobs, receipt } = await submitJobs(wallet(requester), { addresses, jobs: batch });
      expect(jobs).to.have.length(5);
      expect(new Set(jobs.map((j) => j.jobId)).size).to.equal(5);
      for (const [i, j] of jobs.entries()) {
        expect(j.operators).to.have.length(1);
        expect(j.fee).to.equal(PRICE);
        expect(j.inputHash).to.equal(sha256Hex(encodeTensors(batch[i]!.inputs)));
        expect((await getJob(publicClient, { addresses, jobId: j.jobId })).status).to.equal("Assigned");
      }
      expect(before - (await getDeposit(publicClient, { addresses, address: requester }))).to.equal(5n * PRICE);
      expect(receipt.status).to.equal("success");
      // One job over its max fee reverts the whole batch with that job's named error; nothing moves.
      const failing = await submitJobs(wallet(requester), { addresses, jobs: [batch[0]!, { ...batch[1]!, maxFee: 1n }] }).catch((e) => e);
      expect(failing).to.be.instanceOf(JobEscrowFeeAboveMaxError);
      expect(before - (await getDeposit(publicClient, { addresses, address: requester }))).to.equal(5n * PRICE);
    });
  });

  describe("credits", () => {
    it("mintCredits, getCreditAllowance, grantAgent, revokeAgent, burnCredits, withdrawUnlockedCredits", async () => {
      await writeContract(wallet(admin), { address: addresses.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [requester, parseEther("10000")], chain: null });
      const credits = parseEther("10");
      const quoted = await readContract(publicClient, { address: addresses.computeCredits!, abi: computeCreditsAbi, functionName: "mintCost", args: [credits] });
      const { cost, approvalHash } = await mintCredits(wallet(requester), { addresses, credits });
      expect(cost).to.equal(quoted);
      expect(approvalHash).to.match(/^0x/);
      let a = await getCreditAllowance(publicClient, { addresses, address: requester, agent: outsider });
      expect(a.credits).to.equal(credits);
      expect(a.allowanceLeft).to.equal(0n); // credits count from the next 00:00 UTC
      expect(a.agentAllowanceLeft).to.equal(0n);
      await networkHelpers.time.increaseTo(a.nextReset + 1);
      a = await getCreditAllowance(publicClient, { addresses, address: requester });
      expect(a.allowanceLeft).to.equal((credits * 1_000_000n) / 10n ** 18n);
      await grantAgent(wallet(requester), { addresses, agent: outsider, dailyCap: 3_000_000n });
      expect((await getCreditAllowance(publicClient, { addresses, address: requester, agent: outsider })).agentAllowanceLeft).to.equal(3_000_000n);
      await revokeAgent(wallet(requester), { addresses, agent: outsider });
      expect((await getCreditAllowance(publicClient, { addresses, address: requester, agent: outsider })).agentAllowanceLeft).to.equal(0n);
      const over = await mintCredits(wallet(requester), { addresses, credits, maxCost: 1n }).catch((e) => e);
      expect(over.errorName).to.equal("ComputeCreditsCostAboveMax");
      const burn = await burnCredits(wallet(requester), { addresses, credits: parseEther("5") });
      expect(burn.stakeReturned > 0n).to.equal(true);
      const early = await withdrawUnlockedCredits(wallet(requester), { addresses }).catch((e) => e);
      expect(early.errorName).to.equal("ComputeCreditsNothingUnlocked");
      await networkHelpers.time.increaseTo(burn.unlockTime);
      const { amount } = await withdrawUnlockedCredits(wallet(requester), { addresses });
      expect(amount).to.equal(burn.stakeReturned);
    });

    it("submitJob payment 'auto': allowance first while it covers the fee, then the deposit", async () => {
      await writeContract(wallet(admin), { address: addresses.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [requester, parseEther("10000")], chain: null });
      // 0.1 credit = 100,000 fee units a day: exactly two jobs at PRICE (50,000).
      await mintCredits(wallet(requester), { addresses, credits: parseEther("0.1") });
      await writeContract(wallet(requester), { address: addresses.feeToken, abi: erc20Abi, functionName: "approve", args: [addresses.computeCredits!, 10n ** 12n], chain: null });
      await writeContract(wallet(requester), { address: addresses.computeCredits!, abi: computeCreditsAbi, functionName: "fundPool", args: [10n * USDC], chain: null });
      await deposit(wallet(requester), { addresses, amount: 10n * USDC });
      const { nextReset } = await getCreditAllowance(publicClient, { addresses, address: requester });
      await networkHelpers.time.increaseTo(nextReset + 1);
      const paidBy = async () => {
        const before = await getDeposit(publicClient, { addresses, address: requester });
        const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs, payment: "auto" });
        const job = await getJob(publicClient, { addresses, jobId });
        const after = await getDeposit(publicClient, { addresses, address: requester });
        return { payerModule: job.payerModule, payer: job.payer, payMode: job.payMode, depositSpent: before - after };
      };
      // The compute-credit pool is the FeeLedger's payer module 1; refunds of its jobs go to its deposit.
      const credits = { payerModule: 1, payer: addresses.computeCredits, payMode: "allowance" };
      expect(await paidBy()).to.deep.equal({ ...credits, depositSpent: 0n });
      expect(await paidBy()).to.deep.equal({ ...credits, depositSpent: 0n });
      expect((await getCreditAllowance(publicClient, { addresses, address: requester })).allowanceLeft).to.equal(0n);
      expect(await paidBy()).to.deep.equal({ payerModule: 0, payer: requester, payMode: "deposit", depositSpent: PRICE });
    });
  });

  describe("disputes", () => {
    it("challenge-draw-commit-reveal-resolve keeps an honest result", async () => {
      const { jobId } = await submitJob(wallet(requester), { addresses, modelId, inputs });
      const hash = await answer(jobId, outputs);
      await writeContract(wallet(admin), { address: addresses.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [outsider, parseEther("1000")], chain: null });
      const { bond } = await challenge(wallet(outsider), { addresses, jobId });
      let d = await getDispute(publicClient, { addresses, jobId });
      expect(d.status).to.equal("Drawing");
      expect(d.challenger).to.equal(outsider);
      expect(d.bond).to.equal(bond);
      expect(d.challenged).to.equal(hash);
      await networkHelpers.mine(Number(d.drawBlock - (await publicClient.getBlockNumber())) + 1);
      const { drawn } = await drawCommittee(wallet(outsider), { addresses, jobId });
      expect(drawn).to.equal(true);
      d = await getDispute(publicClient, { addresses, jobId });
      expect(d.status).to.equal("Voting");
      expect(d.members).to.have.length(5);
      const salts = d.members.map(() => randomId() as Hex);
      for (const [i, m] of d.members.entries()) await commitVote(wallet(m), { addresses, jobId, index: i, vote: hash, salt: salts[i]! });
      const wrong = await revealVote(wallet(d.members[0]!), { addresses, jobId, index: 0, vote: hash, salt: salts[0]! }).catch((e) => e);
      expect(wrong.errorName).to.equal("DisputeManagerRevealNotOpen");
      await networkHelpers.time.increaseTo(d.commitEnd + 1);
      for (const [i, m] of d.members.entries()) await revealVote(wallet(m), { addresses, jobId, index: i, vote: hash, salt: salts[i]! });
      await networkHelpers.time.increaseTo(d.revealEnd + 1);
      await resolveDispute(wallet(outsider), { addresses, jobId });
      d = await getDispute(publicClient, { addresses, jobId });
      expect(d.status).to.equal("Resolved");
      expect(d.decided).to.equal(true);
      expect(d.winner).to.equal(hash);
      expect((await getJob(publicClient, { addresses, jobId })).status).to.equal("Finalized");
    });
  });

  describe("errors", () => {
    it("a reverting submit shows the named error with its values", async () => {
      const err = await submitJob(wallet(requester), { addresses, modelId, inputs, maxFee: 1n }).catch((e) => e);
      expect(err).to.be.instanceOf(JobEscrowFeeAboveMaxError);
      expect(err.name).to.equal("JobEscrowFeeAboveMaxError");
      expect(err.shortMessage).to.equal(`JobEscrowFeeAboveMax: fee 0.05 mUSDC (${PRICE} base units) exceeds maxFee 0.000001 mUSDC (1 base unit)`);
      expect(err.fee).to.equal(PRICE);
      expect(err.maxFee).to.equal(1n);
      expect(err.message).to.contain("Error: JobEscrowFeeAboveMax(uint256 fee, uint256 maxFee)");
      expect(err.walk()).to.not.equal(err); // keeps viem's error as the cause
    });

    it("getJob of an unknown id throws JobEscrowUnknownJobError", async () => {
      const err = await getJob(publicClient, { addresses, jobId: 999n }).catch((e) => e);
      expect(err).to.be.instanceOf(JobEscrowUnknownJobError);
      expect(err.shortMessage).to.equal("JobEscrowUnknownJob: job 0x000000000000000000000000000003e7 does not exist");
    });

    it("decodeVeilError decodes raw revert data of any protocol error", async () => {
      // Revert data straight from the node, as a raw eth_call error.
      const err = await connection.provider
        .request({ method: "eth_call", params: [{ to: addresses.nodeStaking, data: "0xa694fc3a" + "00".repeat(32) }, "latest"] }) // stake(0)
        .catch((e: unknown) => e);
      const decoded = decodeVeilError(err);
      expect(decoded).to.be.instanceOf(VeilContractError);
      expect((decoded as VeilContractError).errorName).to.equal("NodeStakingZeroAmount");
      // generic formatting of an error without a hand-written message
      const generic = decodeVeilError({ data: "0xa2b4a3a6" });
      expect(generic.name).to.equal("VeilError");
    });

    it("uses the generic `name value` format for errors without a hand-written message", async () => {
      const err = await requestUnbond(wallet(operators[0]!), { addresses, amount: STAKE * 10n }).catch((e) => e);
      expect(err.shortMessage).to.equal(
        `NodeStakingInsufficientFreeStake: ${operators[0]} requested 50000 VEIL (${STAKE * 10n} base units) but has 5000 VEIL (${STAKE} base units) free stake`,
      );
      const reg = await registerModel(wallet(modelOwner), { addresses, modelId, price: PRICE, profile: { opset: 17 }, signature: null }).catch((e) => e);
      expect(reg.shortMessage).to.equal(`ModelRegistryAlreadyRegistered: model ${modelId} is already registered`);
      const zero = await registerModel(wallet(modelOwner), { addresses, modelId: zeroHash, price: PRICE, profile: { opset: 17 }, signature: null }).catch((e) => e);
      expect(zero.shortMessage).to.equal("ModelRegistryZeroId");
      const royalty = await registerModel(wallet(modelOwner), { addresses, modelId: randomId() as Hex, price: PRICE, royaltyBps: 10_001, profile: { opset: 17 }, signature: null }).catch((e) => e);
      expect(royalty.shortMessage).to.match(/^ModelRegistryInvalidRoyalty: royaltyBps 10001, max \d+$/);
    });
  });

  describe("decorator", () => {
    it("client.extend(veilActions({ addresses })) binds every action", async () => {
      const veil = wallet(requester).extend(veilActions({ addresses }));
      expect(veil.veilAddresses).to.equal(addresses);
      const m = await veil.getModel({ modelId });
      expect(m.price).to.equal(PRICE);
      const { jobId } = await veil.submitJob({ modelId, inputs });
      expect((await veil.getJob({ jobId })).status).to.equal("Assigned");
      const op = wallet((await veil.getJob({ jobId })).operators[0]!).extend(veilActions({ addresses }));
      const hash = resultHash(outputs, { kind: "exact" });
      server.put(hash, encodeTensors(outputs));
      await op.submitResult({ jobId, resultHash: hash });
      const r = await veil.waitForResult({ jobId, pollingInterval: 10 });
      expect(r.resultHash).to.equal(hash);
      expect((await veil.listModels()).length).to.equal(2);
    });
  });
});
