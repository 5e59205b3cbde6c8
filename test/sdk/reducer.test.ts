/**
 * The job reducer (packages/sdk/src/jobs/reducer.ts) against the escrow itself. Real jobs go through every path on an
 * in-process Hardhat chain (k = 1 post, k = 3 commit/reveal/propose, finalize/finalizeMany/claim, a challenge
 * resolved by a committee, disagreements refunded undecided and past the dispute window, declines that close the
 * commit window early, missed commits and reveals, deadline refunds, records recycled by a multicall batch); after
 * EVERY transaction, folding all escrow logs so far must give, for every job, what the contract's `getJob` returns
 * (a recycled job: what it returned last), and a stream folded incrementally (overlapping ranges: replays) must give
 * the same states. The named slot states (`slots`) of the SDK's getJob and of the fold are part of that comparison,
 * and pinned along each path. Then replays, out-of-order logs, reorgs and missing timestamps on the real logs.
 */
import { expect } from "chai";
import { network } from "hardhat";
import {
  createPublicClient,
  custom,
  encodeFunctionData,
  formatLog,
  getAddress,
  numberToHex,
  parseEventLogs,
  zeroHash,
  type Address,
  type Hex,
  type RpcLog,
} from "viem";
import { readContract, simulateContract, waitForTransactionReceipt, writeContract } from "viem/actions";
import {
  JobEventError,
  JobEventOrderError,
  JobEventReorgError,
  JobEventTimestampRequiredError,
  challenge,
  commitVote,
  declineJob,
  deposit,
  drawCommittee,
  finalizeJob,
  foldJobEvents,
  getDispute,
  getJob,
  getJobHistory,
  jobFromState,
  jobStateFromSubmission,
  parseJobEvents,
  pokeJob,
  reduceJobEvent,
  reduceJobs,
  registerModel,
  registerNode,
  resolveDispute,
  resultCommitment,
  revealVote,
  stake,
  joinModel,
  formatJobId,
  parseJobId,
  submitJob,
  submitJobs,
  submitResult,
  type EscrowLog,
  type Job,
  type JobEventLog,
  type JobState,
  type SlotState,
  type TensorMap,
  type VeilAddresses,
} from "../../packages/sdk/src/index.js";
import { disputeManagerAbi, jobEscrowAbi, mockUsdcAbi, veilTokenAbi } from "../../packages/contracts/src/abis.js";
import { isJobRecycled, recycledJobId, settledOutcome } from "../../packages/worker/src/chain/settled.js";
import { P, PRICE, STAKE, USDC, randomId, type Connection } from "../helpers/fixture.js";
import VeilLocal from "../../ignition/modules/VeilLocal.js";
import { viemClients } from "./helpers/viem.js";

const connection = (await network.create()) as unknown as Connection;
const { networkHelpers } = connection;
const { publicClient, wallet } = viemClients(connection);
const STATUSES = ["None", "Assigned", "Revealing", "Proposed", "Disputed", "Finalized", "Refunded"] as const;
const DISPUTE = { drawDelayBlocks: 64, drawWindow: 6n * 3600n };

const inputs: TensorMap = { x: { type: "float32", dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) } };
const h = (s: string) => (`0x${s.repeat(64).slice(0, 64)}`) as Hex;

describe("job reducer: folded escrow events equal getJob after every transaction", function () {
  this.timeout(600_000);
  let addresses: VeilAddresses;
  let escrow: Address;
  let admin: Address, requester: Address, outsider: Address;
  let operators: Address[];
  let modelId: Hex;

  /** Every job submitted, in order. */
  const ids: bigint[] = [];
  /** The last getJob of each job (what a recycled job must still fold to). */
  const snapshots = new Map<bigint, Job>();
  /** The incrementally folded stream, and the block it was read up to. */
  let stream = new Map<bigint, JobState>();
  let cursor = 0n;
  /** Salts and result hashes of k > 1 commitments, by `${jobId}:${slot}`. */
  const commitments = new Map<string, { salt: Hex; hash: Hex }>();
  const stats = { transactions: 0, checks: 0, jobComparisons: 0, recycledComparisons: 0, commitmentOnlySlots: 0, historyReads: 0 };

  before(async () => {
    const signers = ((await connection.provider.request({ method: "eth_accounts" })) as string[]).map((a) => getAddress(a));
    [admin, requester, , , outsider] = signers as [Address, Address, Address, Address, Address];
    const treasury = signers[3]!;
    const d = await connection.ignition.deploy(VeilLocal, { parameters: { VeilLocal: { treasury } } });
    const at = async (c: { getAddress(): Promise<string> }) => (await c.getAddress()) as Address;
    addresses = {
      jobEscrow: await at(d.escrow),
      nodeStaking: await at(d.staking),
      modelRegistry: await at(d.registry),
      feeToken: await at(d.feeToken),
      stakingToken: await at(d.veil),
      accessManager: await at(d.manager),
      computeCredits: await at(d.credits),
      disputeManager: await at(d.disputeManager),
    };
    escrow = addresses.jobEscrow;
    // Eight operators: a committee of five can still be drawn around a k = 3 job's three.
    operators = signers.slice(5, 13);
    modelId = randomId() as Hex;
    await registerModel(wallet(signers[2]!), { addresses, modelId, price: PRICE, royaltyBps: 1_000, profile: { opset: 17 }, signature: null });
    for (const op of operators) {
      await writeContract(wallet(admin), { address: addresses.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [op, STAKE * 2n], chain: null });
      await registerNode(wallet(op), { addresses, endpoint: "http://127.0.0.1:9" });
      await stake(wallet(op), { addresses, amount: STAKE });
      await joinModel(wallet(op), { addresses, modelId });
    }
    await writeContract(wallet(requester), { address: addresses.feeToken, abi: mockUsdcAbi, functionName: "mint", args: [requester, 1_000n * USDC], chain: null });
    await deposit(wallet(requester), { addresses, amount: 100n * USDC });
    await writeContract(wallet(admin), { address: addresses.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [outsider, STAKE], chain: null });
  });

  after(() => {
    console.log(`      reducer differential: ${JSON.stringify(stats)}`);
  });

  // ------------------------------------------------------------------------------------------------ the differential

  async function escrowLogs(fromBlock: bigint): Promise<EscrowLog[]> {
    const raw = (await publicClient.request({ method: "eth_getLogs", params: [{ address: escrow, fromBlock: numberToHex(fromBlock), toBlock: "latest" }] })) as RpcLog[];
    return parseEventLogs({ abi: jobEscrowAbi, logs: raw.map((l) => formatLog(l)), strict: true }) as EscrowLog[];
  }

  /**
   * The contract's getJob as the SDK's Job (`source: "chain"`), or "recycled" when it reverts JobEscrowJobRecycled.
   * Its `slots` are the SDK getJob's, which must equal the contract's read in every other field.
   */
  async function chainJob(jobId: bigint): Promise<Job | "recycled"> {
    let v;
    try {
      v = await readContract(publicClient, { address: escrow, abi: jobEscrowAbi, functionName: "getJob", args: [jobId] });
    } catch (e) {
      expect(recycledJobId(e), `getJob(${jobId}) reverted with something else than JobEscrowJobRecycled: ${e}`).to.equal(jobId);
      return "recycled";
    }
    const raw = {
      jobId,
      source: "chain" as const,
      requester: v.requester,
      modelId: v.modelId,
      status: STATUSES[v.status]!,
      payerModule: v.payerModule,
      payer: v.payer,
      payMode: v.payerModule === 0 ? "deposit" : "allowance",
      redundancy: v.redundancy,
      price: v.price,
      deadline: v.deadline,
      phaseEnd: v.phaseEnd,
      operators: [...v.operators],
      slotHashes: [...v.slotHashes],
      commitMask: v.commitMask,
      revealMask: v.revealMask,
      declinedMask: v.declinedMask,
      missedMask: v.missedMask,
      result: v.result === zeroHash ? undefined : v.result,
      termsVersion: v.termsVersion,
      royaltyBps: v.royaltyBps,
    };
    const sdk = await getJob(publicClient, { addresses, jobId });
    expect(sdk, `getJob(${jobId}) of the SDK`).to.deep.equal({ ...raw, slots: sdk.slots });
    return sdk;
  }

  /**
   * The chain's job as the events can know it: the differences allowed are a k > 1 slot that committed and did
   * not reveal, whose commitment the chain shows and the events do not carry (it must be zero in the fold), and the
   * job's terms version and royalty, which no event carries (undefined in the fold).
   */
  function expectedFromChain(chain: Job, folded: Job): Job {
    expect(chain.termsVersion, `job ${chain.jobId}: terms version`).to.equal(1);
    expect(chain.royaltyBps, `job ${chain.jobId}: royalty fixed at submission`).to.equal(1_000);
    const slotHashes = chain.slotHashes.map((hash, i) => {
      const bit = 1 << i;
      if (chain.redundancy > 1 && chain.commitMask & bit && !(chain.revealMask & bit)) {
        expect(hash, `job ${chain.jobId} slot ${i}: the chain shows the commitment`).to.not.equal(zeroHash);
        expect(folded.slotHashes[i], `job ${chain.jobId} slot ${i}: a commitment is not in the events`).to.equal(zeroHash);
        stats.commitmentOnlySlots++;
        return zeroHash;
      }
      return hash;
    });
    return { ...chain, source: "events", slotHashes };
  }

  /** Folds every escrow log so far and the new tail of the stream, and compares every job with getJob. */
  async function check(label: string) {
    stats.checks++;
    const logs = await escrowLogs(0n);
    const full = reduceJobs(new Map(), logs);
    expect(full.orphans, label).to.deep.equal([]);
    expect([...full.jobs.keys()], label).to.have.members(ids);
    // The stream: from two blocks before the last read (those logs are replays), on top of the previous states.
    const head = await publicClient.getBlockNumber();
    const tail = await escrowLogs(cursor > 2n ? cursor - 2n : 0n);
    const step = reduceJobs(stream, tail);
    expect(step.orphans, label).to.deep.equal([]);
    stream = step.jobs;
    cursor = head;
    for (const id of ids) {
      const state = full.jobs.get(id)!;
      expect(stream.get(id), `${label}: job ${id} streamed`).to.deep.equal(state);
      const folded = jobFromState(state);
      const chain = await chainJob(id);
      if (chain === "recycled") {
        const last = snapshots.get(id);
        expect(last, `${label}: job ${id} recycled before it was read`).to.not.equal(undefined);
        expect(["Finalized", "Refunded"], `${label}: job ${id}`).to.include(last!.status);
        expect(folded, `${label}: recycled job ${id}`).to.deep.equal(expectedFromChain(last!, folded));
        stats.recycledComparisons++;
      } else {
        expect(folded, `${label}: job ${id}`).to.deep.equal(expectedFromChain(chain, folded));
        snapshots.set(id, chain);
      }
      stats.jobComparisons++;
      // The SDK's getJobHistory folds with the same reducer, from one eth_getLogs by job id topic.
      expect(await getJobHistory(publicClient, { addresses, jobId: id, fromBlock: 0n }), `${label}: getJobHistory(${id})`).to.deep.equal(folded);
      stats.historyReads++;
      // The last log applied is the job's latest.
      const own = logs.filter((l): l is JobEventLog => "jobId" in (l.args as object) && (l.args as { jobId: bigint }).jobId === id);
      const latest = own.reduce((a, b) => (b.blockNumber! > a.blockNumber! || (b.blockNumber === a.blockNumber && b.logIndex! > a.logIndex!) ? b : a));
      expect([state.last.blockHash, state.last.logIndex], `${label}: job ${id} last log`).to.deep.equal([latest.blockHash, latest.logIndex]);
    }
  }

  /** Runs one transaction (anything that waits for its receipt), then the differential check. */
  async function send<T>(label: string, run: () => Promise<T>): Promise<T> {
    const out = await run();
    stats.transactions++;
    await check(label);
    return out;
  }

  /** A raw contract write, mined. */
  async function write(from: Address, address: Address, abi: readonly unknown[], functionName: string, args: readonly unknown[]) {
    const hash = await writeContract(wallet(from), { address, abi, functionName, args, chain: null } as never);
    const receipt = await waitForTransactionReceipt(publicClient, { hash });
    expect(receipt.status, `${functionName} mined`).to.equal("success");
    return receipt;
  }

  const stateOf = (jobId: bigint) => stream.get(jobId)!;
  /**
   * The named slot states of a job, from the folded stream and from the SDK's getJob (the differential also checks
   * them against each other after every transaction): state names, and the result hash where one is shown.
   */
  async function expectSlots(jobId: bigint, expected: (SlotState | [SlotState, Hex])[]) {
    const want = expected.map((e) => (typeof e === "string" ? [e, undefined] : e));
    const named = (job: { slots: Job["slots"] }) => job.slots.map((x) => [x.state, x.resultHash]);
    expect(named(stateOf(jobId)), `job ${jobId}: reducer slots`).to.deep.equal(want);
    expect(named(await getJob(publicClient, { addresses, jobId, fromBlock: 0n })), `job ${jobId}: getJob slots`).to.deep.equal(want);
    expect(stateOf(jobId).slots.map((x) => x.operator), `job ${jobId}: slot operators`).to.deep.equal(stateOf(jobId).operators);
  }
  const now = async () => (await publicClient.getBlock()).timestamp;

  // ------------------------------------------------------------------------------------------------ job steps
  // Operators act as a worker would: from the folded state (stream), never from getJob.

  async function submitK(k: number, extra: { deadline?: bigint; payment?: "deposit" | "transfer" } = {}) {
    const { jobId } = await send(`submit k=${k}`, async () => {
      const out = await submitJob(wallet(requester), { addresses, modelId, inputs, redundancy: k, payment: extra.payment ?? "deposit", deadline: extra.deadline });
      ids.push(out.jobId);
      return out;
    });
    return jobId;
  }

  /** A job whose input goes by reference: its operators may decline it. */
  async function submitByReference(k: number, deadline?: bigint) {
    const submit = {
      modelId,
      redundancy: k,
      maxFee: PRICE * BigInt(k),
      deadline: Number(deadline ?? (await now()) + 3600n),
      input: "0x" as Hex,
      inputURI: "https://blobs.example/input",
      inputHash: randomId() as Hex,
    };
    return send(`submit k=${k} by reference`, async () => {
      const receipt = await write(requester, escrow, jobEscrowAbi, "submitJobFromDeposit", [submit]);
      const [submitted] = parseEventLogs({ abi: jobEscrowAbi, eventName: "JobSubmitted", logs: receipt.logs });
      ids.push(submitted!.args.jobId);
      return submitted!.args.jobId;
    });
  }

  async function post(jobId: bigint, hash: Hex = randomId() as Hex) {
    const op = stateOf(jobId).operators[0]!;
    await send(`post ${jobId}`, () => submitResult(wallet(op), { addresses, jobId, resultHash: hash }));
    return hash;
  }

  async function commit(jobId: bigint, slot: number, hash: Hex) {
    const op = stateOf(jobId).operators[slot]!;
    const salt = randomId() as Hex;
    commitments.set(`${jobId}:${slot}`, { salt, hash });
    const commitment = resultCommitment({ escrow, chainId: 31337, jobId, operator: op, resultHash: hash, salt });
    await send(`commit ${jobId}/${slot}`, () => write(op, escrow, jobEscrowAbi, "commit", [jobId, slot, commitment]));
  }

  async function reveal(jobId: bigint, slot: number) {
    const op = stateOf(jobId).operators[slot]!;
    const { salt, hash } = commitments.get(`${jobId}:${slot}`)!;
    await send(`reveal ${jobId}/${slot}`, () => write(op, escrow, jobEscrowAbi, "reveal", [jobId, slot, hash, salt]));
  }

  async function decline(jobId: bigint, slot: number) {
    const op = stateOf(jobId).operators[slot]!;
    await send(`decline ${jobId}/${slot}`, () => declineJob(wallet(op), { addresses, jobId, slot }));
  }

  const poke = (jobId: bigint) => send(`poke ${jobId}`, () => pokeJob(wallet(outsider), { addresses, jobId }));

  // ------------------------------------------------------------------------------------------------ the paths

  let j1: bigint, j2: bigint, j3: bigint;
  const settledIds: bigint[] = [];

  it("k = 1: submit, post, finalize", async () => {
    j1 = await submitK(1, { payment: "transfer" });
    expect(stateOf(j1)).to.include({ status: "Assigned", redundancy: 1, assignments: 1, declinable: false, inputURI: "" });
    await expectSlots(j1, ["pending"]);
    const hash = await post(j1);
    expect(stateOf(j1)).to.include({ status: "Proposed", result: hash, proposedResult: hash, challengeEnd: stateOf(j1).phaseEnd });
    await expectSlots(j1, [["posted", hash]]);
    await networkHelpers.time.increase(P.challengeWindow + 1n);
    await send("finalize", () => finalizeJob(wallet(outsider), { addresses, jobId: j1 }));
    expect(stateOf(j1)).to.include({ status: "Finalized", phaseEnd: 0, result: hash });
    await expectSlots(j1, [["posted", hash]]);
    settledIds.push(j1);
  });

  it("k = 3 commit, reveal, propose (taking j1's record: j1 is recycled), and a k = 1 job, settled by one finalizeMany", async () => {
    j2 = await submitK(3);
    expect(await chainJob(j1)).to.equal("recycled");
    expect(j2 & 0xffffffffn).to.equal(j1 & 0xffffffffn);
    j3 = await submitK(1);
    const hash = h("a1");
    await expectSlots(j2, ["pending", "pending", "pending"]);
    await commit(j2, 0, hash);
    await expectSlots(j2, ["committed", "pending", "pending"]);
    for (const slot of [1, 2]) await commit(j2, slot, hash);
    expect(stateOf(j2)).to.include({ status: "Revealing", commitMask: 0b111 });
    await expectSlots(j2, ["committed", "committed", "committed"]);
    await post(j3);
    await reveal(j2, 2);
    await expectSlots(j2, ["committed", "committed", ["revealed", hash]]);
    for (const slot of [0, 1]) await reveal(j2, slot);
    expect(stateOf(j2)).to.include({ status: "Proposed", revealMask: 0b111, result: hash });
    await expectSlots(j2, [["revealed", hash], ["revealed", hash], ["revealed", hash]]);
    await networkHelpers.time.increase(P.challengeWindow + 1n);
    await send("finalizeMany", () => write(outsider, escrow, jobEscrowAbi, "finalizeMany", [[j2, j3, j1]]));
    expect([stateOf(j2).status, stateOf(j3).status]).to.deep.equal(["Finalized", "Finalized"]);
    settledIds.push(j2, j3);
  });

  it("k = 3 with a missed reveal: poke slashes it and proposes the rest; claim settles", async () => {
    const j = await submitK(3);
    const hash = h("b2");
    for (const slot of [0, 1, 2]) await commit(j, slot, hash);
    await reveal(j, 0);
    await reveal(j, 2);
    await networkHelpers.time.increase(P.revealWindow + 1n);
    await poke(j);
    expect(stateOf(j)).to.include({ status: "Proposed", missedMask: 0b010, revealMask: 0b101, result: hash });
    await expectSlots(j, [["revealed", hash], "missed", ["revealed", hash]]);
    await networkHelpers.time.increase(P.challengeWindow + 1n);
    const op = stateOf(j).operators[0]!;
    await send("claim", () => write(op, escrow, jobEscrowAbi, "claim", [[j], op]));
    expect(stateOf(j).status).to.equal("Finalized");
    await expectSlots(j, [["revealed", hash], "missed", ["revealed", hash]]);
    settledIds.push(j);
  });

  it("k = 3 where nobody reveals: refunded NoReveals", async () => {
    const j = await submitK(3);
    for (const slot of [0, 1, 2]) await commit(j, slot, h("c3"));
    await networkHelpers.time.increase(P.revealWindow + 1n);
    await poke(j);
    expect(stateOf(j)).to.include({ status: "Refunded", missedMask: 0b111, refundReason: "NoReveals", result: undefined });
    await expectSlots(j, ["missed", "missed", "missed"]);
    settledIds.push(j);
  });

  it("k = 1 challenged, the committee upholds the result: Finalized with the winner", async () => {
    const j = await submitK(1);
    const hash = await post(j);
    await send("challenge", () => challenge(wallet(outsider), { addresses, jobId: j }));
    expect(stateOf(j)).to.include({ status: "Disputed", disputeReason: "Challenge", result: undefined, proposedResult: hash });
    let d = await getDispute(publicClient, { addresses, jobId: j });
    await networkHelpers.mine(Number(d.drawBlock - (await publicClient.getBlockNumber())) + 1);
    await send("drawCommittee", () => drawCommittee(wallet(outsider), { addresses, jobId: j }));
    d = await getDispute(publicClient, { addresses, jobId: j });
    expect(d.members).to.have.length(5);
    const salts = d.members.map(() => randomId() as Hex);
    for (const [i, m] of d.members.entries()) await send(`commitVote ${i}`, () => commitVote(wallet(m), { addresses, jobId: j, index: i, vote: hash, salt: salts[i]! }));
    await networkHelpers.time.increaseTo(d.commitEnd + 1);
    for (const [i, m] of d.members.entries()) await send(`revealVote ${i}`, () => revealVote(wallet(m), { addresses, jobId: j, index: i, vote: hash, salt: salts[i]! }));
    await networkHelpers.time.increaseTo(d.revealEnd + 1);
    await send("resolveDispute", () => resolveDispute(wallet(outsider), { addresses, jobId: j }));
    expect(stateOf(j)).to.include({ status: "Finalized", result: hash, phaseEnd: 0 });
  });

  it("k = 3 disagreement: Disputed at the last reveal; an undecided dispute (no committee drawn) refunds NoValidResult", async () => {
    const j = await submitK(3);
    await commit(j, 0, h("d4"));
    await commit(j, 1, h("d4"));
    await commit(j, 2, h("e5"));
    for (const slot of [0, 1, 2]) await reveal(j, slot);
    expect(stateOf(j)).to.include({ status: "Disputed", disputeReason: "Disagreement", result: undefined, proposedResult: undefined });
    expect(stateOf(j).slotHashes).to.deep.equal([h("d4"), h("d4"), h("e5")]);
    await expectSlots(j, [["revealed", h("d4")], ["revealed", h("d4")], ["revealed", h("e5")]]);
    await send("startDisagreement", () => write(outsider, addresses.disputeManager!, disputeManagerAbi, "startDisagreement", [j]));
    await networkHelpers.time.increase(DISPUTE.drawWindow + 1n);
    await send("resolve (undecided)", () => resolveDispute(wallet(outsider), { addresses, jobId: j }));
    expect(stateOf(j)).to.include({ status: "Refunded", refundReason: "NoValidResult", phaseEnd: 0 });
  });

  it("k = 3 disagreement left alone: poke after the dispute window refunds DisputeUnresolved", async () => {
    const j = await submitK(3);
    await commit(j, 0, h("f6"));
    await commit(j, 1, h("a7"));
    await commit(j, 2, h("f6"));
    for (const slot of [1, 0, 2]) await reveal(j, slot);
    expect(stateOf(j).status).to.equal("Disputed");
    await networkHelpers.time.increase(P.disputeWindow + 1n);
    await poke(j);
    expect(stateOf(j)).to.include({ status: "Refunded", refundReason: "DisputeUnresolved" });
  });

  let openK1: bigint;
  it("declines: k = 3 by reference, one declines, the others commit (the window closes at once), poke replaces it, the job completes", async () => {
    const j = await submitByReference(3);
    expect(stateOf(j)).to.include({ declinable: true, inputURI: "https://blobs.example/input", input: "0x" });
    const first = stateOf(j).operators[0]!;
    await decline(j, 0);
    expect(stateOf(j)).to.include({ revealMask: 0, declinedMask: 0b001 });
    await expectSlots(j, ["declined", "pending", "pending"]);
    await commit(j, 1, h("b8"));
    await commit(j, 2, h("b8"));
    await expectSlots(j, ["declined", "committed", "committed"]);
    const closedAt = (await publicClient.getBlock()).timestamp;
    expect(stateOf(j).phaseEnd).to.equal(Number(closedAt) - 1); // and the differential agreed with the chain
    await poke(j);
    expect(stateOf(j)).to.include({ status: "Assigned", revealMask: 0, declinedMask: 0, commitMask: 0b110, assignments: 2 });
    expect(stateOf(j).operators[0]).to.not.equal(first);
    await expectSlots(j, ["pending", "committed", "committed"]);
    await commit(j, 0, h("b8"));
    for (const slot of [0, 1, 2]) await reveal(j, slot);
    await networkHelpers.time.increase(P.challengeWindow + 1n);
    await send("finalize", () => finalizeJob(wallet(outsider), { addresses, jobId: j }));
    expect(stateOf(j)).to.include({ status: "Finalized", result: h("b8") });
    await expectSlots(j, [["revealed", h("b8")], ["revealed", h("b8")], ["revealed", h("b8")]]);
  });

  it("declines: a decline that is the last step closes the window; no time left for a round: refunded DeadlinePassed", async () => {
    const t = await now();
    const j = await submitByReference(3, t + P.commitWindow + P.revealWindow + 5n);
    await commit(j, 1, h("c9"));
    await commit(j, 2, h("c9"));
    await decline(j, 0);
    expect(stateOf(j).phaseEnd).to.equal(Number((await publicClient.getBlock()).timestamp) - 1);
    await expectSlots(j, ["declined", "committed", "committed"]);
    await networkHelpers.time.increase(60);
    await poke(j);
    expect(stateOf(j)).to.include({ status: "Refunded", refundReason: "DeadlinePassed", commitMask: 0b110 });
    // The refund's SlotMissed names the declined slot too (without penalty): the record keeps no decline.
    await expectSlots(j, ["missed", "committed", "committed"]);
  });

  it("declines: k = 1 declines, the window closes, poke draws another operator, which posts", async () => {
    openK1 = await submitByReference(1);
    await decline(openK1, 0);
    await expectSlots(openK1, ["declined"]);
    await poke(openK1);
    expect(stateOf(openK1)).to.include({ status: "Assigned", assignments: 2, revealMask: 0 });
    await expectSlots(openK1, ["pending"]);
    const hash = await post(openK1);
    expect(stateOf(openK1)).to.include({ status: "Proposed", revealMask: 0b1, commitMask: 0 }); // k = 1: posted = revealMask bit 0
    await expectSlots(openK1, [["posted", hash]]);
  });

  it("missed commits: k = 1 replaced once, then refunded when the deadline allows no other round", async () => {
    const t = await now();
    const j = await submitK(1, { deadline: t + 2n * P.commitWindow + 100n });
    await networkHelpers.time.increase(P.commitWindow + 1n);
    await poke(j);
    expect(stateOf(j)).to.include({ status: "Assigned", assignments: 2 });
    await expectSlots(j, ["pending"]); // the replacement's slot
    await networkHelpers.time.increase(P.commitWindow + 1n);
    await poke(j);
    expect(stateOf(j)).to.include({ status: "Refunded", refundReason: "DeadlinePassed" });
    await expectSlots(j, ["missed"]);
    settledIds.push(j);
  });

  it("missed commits: k = 3 with two slots missing their commit gets two replacements, then proposes", async () => {
    const j = await submitK(3);
    await commit(j, 0, h("d1"));
    await networkHelpers.time.increase(P.commitWindow + 1n);
    await poke(j);
    expect(stateOf(j)).to.include({ status: "Assigned", commitMask: 0b001, assignments: 2 });
    await expectSlots(j, ["committed", "pending", "pending"]);
    await commit(j, 1, h("d1"));
    await commit(j, 2, h("d1"));
    for (const slot of [0, 1, 2]) await reveal(j, slot);
    expect(stateOf(j)).to.include({ status: "Proposed", result: h("d1") });
  });

  it("the open jobs settle: finalizeMany", async () => {
    await networkHelpers.time.increase(P.challengeWindow + 1n);
    const open = ids.filter((id) => stateOf(id).status === "Proposed");
    expect(open.length).to.be.greaterThanOrEqual(2);
    await send("finalizeMany (rest)", () => write(outsider, escrow, jobEscrowAbi, "finalizeMany", [open]));
    for (const id of open) expect(stateOf(id).status).to.equal("Finalized");
  });

  it("recycled records: a batch of three in one multicall takes settled jobs' records; their old ids fold to their last getJob", async () => {
    const before = ids.length;
    const { jobs } = await send("submitJobs x3", async () => {
      const out = await submitJobs(wallet(requester), { addresses, jobs: [0, 1, 2].map(() => ({ modelId, inputs, redundancy: 1 })) });
      ids.push(...out.jobs.map((x) => x.jobId));
      return out;
    });
    expect(jobs).to.have.length(3);
    // The two jobs finalized just before freed their records: the batch takes them (and a new one).
    expect(jobs.filter((x) => parseJobId(x.jobId).generation > 0n).length, "the batch reuses settled records").to.be.at.least(2);
    const recycled = [];
    for (const id of ids.slice(0, before)) if ((await chainJob(id)) === "recycled") recycled.push(id);
    expect(recycled.length).to.be.greaterThanOrEqual(3);
    // The worker's chain/settled.ts: the revert decoded from its data, of a read and of a simulated write.
    const read = await readContract(publicClient, { address: escrow, abi: jobEscrowAbi, functionName: "getJob", args: [j1] }).catch((e: unknown) => e);
    expect(isJobRecycled(read)).to.equal(true);
    expect(recycledJobId(read)).to.equal(j1);
    const sim = await simulateContract(publicClient, { account: outsider, address: escrow, abi: jobEscrowAbi, functionName: "poke", args: [j1] }).catch((e: unknown) => e);
    expect(recycledJobId(sim)).to.equal(j1);
    // A raw call (no ABI: viem cannot name the error) is decoded from its revert data.
    const raw = await publicClient.call({ to: escrow, data: encodeFunctionData({ abi: jobEscrowAbi, functionName: "getJob", args: [j1] }) }).catch((e: unknown) => e);
    expect(recycledJobId(raw)).to.equal(j1);
    const unknown = await readContract(publicClient, { address: escrow, abi: jobEscrowAbi, functionName: "getJob", args: [(9n << 32n) | 1n] }).catch((e: unknown) => e);
    expect(isJobRecycled(unknown), "JobEscrowUnknownJob").to.equal(false);
    expect(isJobRecycled(new Error("JobEscrowJobRecycled(1)")), "a message is not revert data").to.equal(false);
    expect(await settledOutcome(publicClient, escrow, j1)).to.equal("finalized");
    const refunded = recycled.find((id) => snapshots.get(id)!.status === "Refunded");
    expect(typeof refunded, "a refunded job was recycled too").to.equal("bigint");
    expect(await settledOutcome(publicClient, escrow, refunded!)).to.equal("refunded");
    // Disputed jobs' records are never reused: they still read from the chain.
    const disputed = ids.filter((id) => stateOf(id).disputeReason !== undefined);
    expect(disputed).to.have.length(3);
    for (const id of disputed) expect(await chainJob(id), String(id)).to.not.equal("recycled");
    expect(stats.transactions).to.be.greaterThan(80);
  });

  // ------------------------------------------------------------------------------------------------ replay and order

  describe("replays, order, reorgs and timestamps on the real logs", () => {
    let logs: EscrowLog[];
    let jobLogs: JobEventLog[];
    let all: Map<bigint, JobState>;
    const byJob = (id: bigint) => jobLogs.filter((l) => l.args.jobId === id);

    before(async () => {
      logs = await escrowLogs(0n);
      jobLogs = parseJobEvents(
        ((await publicClient.request({ method: "eth_getLogs", params: [{ address: escrow, fromBlock: "0x0", toBlock: "latest" }] })) as RpcLog[]).map((l) => formatLog(l)),
        escrow,
      );
      all = reduceJobs(new Map(), logs).jobs;
    });

    it("the stream carries other escrow events, which are ignored", () => {
      expect(logs.some((l) => l.eventName === "ParamsSet")).to.equal(true); // terms version 1, set at deployment
      expect(jobLogs.length).to.be.lessThan(logs.length);
      expect(reduceJobs(new Map(), jobLogs).jobs).to.deep.equal(all);
    });

    it("replaying every log changes nothing: the same state objects, nothing changed", () => {
      const again = reduceJobs(all, logs);
      expect(again.changed).to.deep.equal([]);
      for (const [id, s] of all) expect(again.jobs.get(id)).to.equal(s);
      for (const [id, s] of all) for (const l of byJob(id)) expect(reduceJobEvent(s, l)).to.equal(s);
    });

    it("any order within one call (reversed, shuffled, duplicated) folds to the same states", () => {
      const reversed = reduceJobs(new Map(), [...logs].reverse());
      expect(reversed.jobs).to.deep.equal(all);
      let seed = 7;
      const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const shuffled = [...logs, ...logs.slice(0, 40)].sort(() => rand() - 0.5);
      expect(reduceJobs(new Map(), shuffled).jobs).to.deep.equal(all);
      for (const id of ids) expect(foldJobEvents([...byJob(id)].reverse()), String(id)).to.deep.equal(all.get(id));
    });

    it("one log at a time in chain order, each applied twice, gives the same states; the input state is never changed", () => {
      for (const id of ids) {
        const own = byJob(id);
        const submitted = own.find((l) => l.eventName === "JobSubmitted")! as Extract<JobEventLog, { eventName: "JobSubmitted" }>;
        let s = jobStateFromSubmission(submitted);
        for (const l of own) {
          const frozen = structuredClone(s);
          const next = reduceJobEvent(s, l);
          expect(s, "reduceJobEvent does not mutate").to.deep.equal(frozen);
          expect(reduceJobEvent(next, l)).to.equal(next);
          s = next;
        }
        expect(s).to.deep.equal(all.get(id));
      }
    });

    it("a log older than the last applied and never applied throws JobEventOrderError; a skipped step throws JobEventError", () => {
      const id = ids.find((x) => all.get(x)!.assignments === 2 && all.get(x)!.redundancy === 3 && all.get(x)!.status === "Finalized")!;
      const own = byJob(id);
      const submitted = own.find((l) => l.eventName === "JobSubmitted")! as Extract<JobEventLog, { eventName: "JobSubmitted" }>;
      let s = jobStateFromSubmission(submitted);
      const rest = own.filter((l) => l !== submitted);
      const skip = rest.findIndex((l) => l.eventName === "ResultCommitted");
      for (const l of rest.slice(0, skip)) s = reduceJobEvent(s, l);
      const later = reduceJobEvent(s, rest[skip + 1]!);
      const err = (() => {
        try {
          reduceJobEvent(later, rest[skip]!);
        } catch (e) {
          return e;
        }
      })();
      expect(err).to.be.instanceOf(JobEventOrderError);
      expect((err as JobEventOrderError).shortMessage).to.match(/ResultCommitted \(block \d+, log \d+\) is older than the last log applied .* a log is missing/);
      // Skipping RevealPhaseStarted: a reveal cannot happen to an Assigned job.
      const revealPhase = rest.findIndex((l) => l.eventName === "RevealPhaseStarted");
      let t = jobStateFromSubmission(submitted);
      for (const l of rest.slice(0, revealPhase)) t = reduceJobEvent(t, l);
      const reveal = rest.find((l, i) => i > revealPhase && l.eventName === "ResultRevealed")!;
      expect(() => reduceJobEvent(t, reveal)).to.throw(JobEventError, /ResultRevealed .* cannot happen to a job in status Assigned/);
    });

    it("a block seen under another hash throws JobEventReorgError; reduceJobs is all or nothing", () => {
      const id = ids[1]!;
      const own = byJob(id);
      const s = all.get(id)!;
      const last = own.at(-1)!;
      const forked = { ...last, blockHash: h("f0"), logIndex: last.logIndex! + 100 } as JobEventLog;
      expect(() => reduceJobEvent(s, forked)).to.throw(JobEventReorgError, /the chain reorganised; rewind first/);
      const before = new Map(all);
      const mixed = [...logs, { ...own[2]!, blockHash: h("f1") } as EscrowLog];
      expect(() => reduceJobs(all, mixed)).to.throw(JobEventReorgError);
      expect(all).to.deep.equal(before);
    });

    it("wrong job, another escrow, pending and removed logs, and two jobs in one fold are refused by name", () => {
      const [a, b] = [ids[0]!, ids[1]!];
      const sa = all.get(a)!;
      const lb = byJob(b).at(-1)!;
      expect(() => reduceJobEvent(sa, lb)).to.throw(JobEventError, new RegExp(`is of job ${formatJobId(b)}, not job ${formatJobId(a)}`));
      const la = { ...byJob(a).at(-1)!, logIndex: 999 } as JobEventLog;
      expect(() => reduceJobEvent(sa, { ...la, address: addresses.nodeStaking } as JobEventLog)).to.throw(JobEventError, /comes from .* but the job's escrow is/);
      expect(() => reduceJobEvent(sa, { ...la, blockHash: null } as unknown as JobEventLog)).to.throw(JobEventError, /is pending/);
      expect(() => reduceJobEvent(sa, { ...la, removed: true } as JobEventLog)).to.throw(JobEventError, /removed by a reorg/);
      expect(() => foldJobEvents([...byJob(a), ...byJob(b)])).to.throw(JobEventError, /takes one job's logs/);
      const fresh = jobStateFromSubmission(byJob(a).find((l) => l.eventName === "JobSubmitted") as Extract<JobEventLog, { eventName: "JobSubmitted" }>);
      const posted = byJob(a).find((l) => l.eventName === "ResultRevealed")!;
      expect(() => reduceJobEvent(fresh, posted)).to.throw(JobEventError, /before the submission's OperatorsAssigned .*: a log is missing/);
      expect(() => reduceJobs(new Map(), [...logs, { ...lb, address: addresses.nodeStaking, blockNumber: 10n ** 9n } as EscrowLog])).to.throw(JobEventError, /one escrow's logs/);
    });

    it("a stream that starts after some submissions reports their logs as orphans; their folded histories complete it", () => {
      const j = ids[1]!;
      const submittedAt = byJob(j).find((l) => l.eventName === "JobSubmitted")!.blockNumber!;
      const late = logs.filter((l) => l.blockNumber! > submittedAt);
      const r = reduceJobs(new Map(), late);
      expect(r.orphans.map((l) => l.args.jobId)).to.include(j);
      const orphaned = [...new Set(r.orphans.map((l) => l.args.jobId))];
      const jobs = new Map(r.jobs);
      for (const id of orphaned) jobs.set(id, foldJobEvents(byJob(id))!);
      // Every job with a log in the stream is there, as the full fold has it.
      const active = ids.filter((id) => byJob(id).some((l) => l.blockNumber! > submittedAt));
      expect([...jobs.keys()]).to.have.members(active);
      for (const id of active) expect(jobs.get(id), String(id)).to.deep.equal(all.get(id));
    });

    it("without blockTimestamp, a decline that closes the window names its block; getJobHistory reads that block and folds the same job", async () => {
      const declined = ids.filter((id) => byJob(id).some((l) => l.eventName === "SlotDeclined"));
      expect(declined).to.have.length(3);
      for (const id of declined) {
        const bare = byJob(id).map((l) => ({ ...l, blockTimestamp: undefined }) as JobEventLog);
        const err = (() => {
          try {
            foldJobEvents(bare);
          } catch (e) {
            return e as JobEventTimestampRequiredError;
          }
        })();
        expect(err, String(id)).to.be.instanceOf(JobEventTimestampRequiredError);
        expect(["SlotDeclined", "ResultCommitted"]).to.include(err!.log.eventName);
        expect(err!.shortMessage).to.match(/closes the commit window at its block's timestamp: set blockTimestamp/);
      }
      // A node that does not return blockTimestamp in eth_getLogs (the in-process chain does; this transport drops it).
      let blockReads = 0;
      const bareClient = createPublicClient({
        transport: custom(
          {
            request: async ({ method, params }: { method: string; params?: unknown }) => {
              const out = await connection.provider.request({ method, params: params as unknown[] });
              if (method === "eth_getBlockByHash") blockReads++;
              if (method === "eth_getLogs") for (const l of out as Record<string, unknown>[]) delete l.blockTimestamp;
              return out;
            },
          },
          { retryCount: 0 },
        ),
      });
      for (const id of declined) {
        const before = blockReads;
        expect(await getJobHistory(bareClient, { addresses, jobId: id, fromBlock: 0n })).to.deep.equal(jobFromState(all.get(id)!));
        expect(blockReads - before, String(id)).to.be.within(1, 2);
      }
      // Jobs without an early close need no block.
      const before = blockReads;
      expect(await getJobHistory(bareClient, { addresses, jobId: ids[0]!, fromBlock: 0n })).to.deep.equal(jobFromState(all.get(ids[0]!)!));
      expect(blockReads).to.equal(before);
    });
  });
});
