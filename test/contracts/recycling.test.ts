import { expect } from "chai";
import { network } from "hardhat";
import { deployVeil, commitmentOf, submit, jobIdOf, nextJobId, INPUT, P, STATUS, randomId, type Veil } from "../helpers/fixture.js";
import { ROLES } from "../../ignition/modules/roles.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;
const { time } = networkHelpers;

/** Every job here has the fixture's model and input, so one tag: ids differ only by record index and generation. */
const INPUT_HASH = ethers.sha256(INPUT);
const RESULT = ethers.keccak256(ethers.toUtf8Bytes("result"));
const REASON_DEADLINE = 0n;

async function deploy() {
  const v = await deployVeil(connection);
  const disputer = v.signers[15];
  await v.manager.grantRole(ROLES.DISPUTER, disputer.address, 0);
  return { ...v, disputer };
}
type Env = Awaited<ReturnType<typeof deploy>>;

/** k=1 job: posted and finalized. */
async function settledK1(v: Env) {
  const job = await submit(connection, v);
  await v.escrow.connect(job.operators[0]).submitResult(job.jobId, RESULT);
  await time.increase(P.challengeWindow + 1n);
  await v.escrow.finalize(job.jobId);
  return job;
}

/** k=3 job: every slot commits and reveals `RESULT` (status Proposed). */
async function proposedK3(v: Env) {
  const job = await submit(connection, v, { redundancy: 3 });
  const salts = job.operators.map(() => randomId());
  for (const [i, op] of job.operators.entries()) await v.escrow.connect(op).commit(job.jobId, i, await commitmentOf(v, job.jobId, op.address, RESULT, salts[i]));
  for (const [i, op] of job.operators.entries()) await v.escrow.connect(op).reveal(job.jobId, i, RESULT, salts[i]);
  return { ...job, salts };
}

describe("JobEscrow job records (recycled storage)", () => {
  let v: Env;
  beforeEach(async () => {
    v = await networkHelpers.loadFixture(deploy);
  });
  /** Job ids are `tag << 64 | generation << 32 | record index`. */
  const id = (generation: bigint, index: bigint) => jobIdOf(index, generation, v.modelId, INPUT_HASH);

  it("a fresh escrow issues records 1, 2, 3...; a settled job's record goes to the next submission with generation + 1", async () => {
    expect(await nextJobId(v)).to.equal(id(0n, 1n));
    const first = await settledK1(v);
    expect(first.jobId).to.equal(id(0n, 1n));
    expect(await v.escrow.recordCount()).to.equal(1n);
    expect(await v.escrow.jobIdAt(1n)).to.equal(first.jobId);
    // Until reused, the settled job reads as before (phaseEnd is 0: it now links the free list).
    const settled = await v.escrow.getJob(id(0n, 1n));
    expect(settled.status).to.equal(STATUS.Finalized);
    expect(settled.result).to.equal(RESULT);
    expect(settled.phaseEnd).to.equal(0n);
    expect(await nextJobId(v)).to.equal(id(1n, 1n));
    const second = await submit(connection, v);
    expect(second.jobId).to.equal(id(1n, 1n));
    expect(await v.escrow.recordCount(), "no new record").to.equal(1n);
    expect(await v.escrow.jobIdAt(1n), "the record now names the second job").to.equal(second.jobId);
    // A third job while the second is open takes a new record.
    const third = await submit(connection, v);
    expect(third.jobId).to.equal(id(0n, 2n));
    expect(await v.escrow.recordCount()).to.equal(2n);
  });

  it("the free list is last in, first out, and every open job holds its own record", async () => {
    const a = await submit(connection, v);
    const b = await submit(connection, v);
    const c = await submit(connection, v);
    for (const j of [a, b, c]) await v.escrow.connect(j.operators[0]).submitResult(j.jobId, RESULT);
    await time.increase(P.challengeWindow + 1n);
    await v.escrow.finalizeMany([a.jobId, c.jobId]); // frees 1, then 3: the list is 3 -> 1
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await submit(connection, v)).jobId);
    expect(ids).to.deep.equal([id(1n, 3n), id(1n, 1n), id(0n, 4n)]);
    expect((await v.escrow.getJob(b.jobId)).status, "b, unsettled, kept its record").to.equal(STATUS.Proposed);
    for (const jobId of ids) expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Assigned);
  });

  it("a recycled id reverts with JobEscrowJobRecycled everywhere; finalizeMany and claim skip it; ids never repeat", async () => {
    const first = await settledK1(v);
    const next = await submit(connection, v); // reuses record 1
    const stale = first.jobId;
    const op = first.operators[0];
    const err = "JobEscrowJobRecycled";
    await expect(v.escrow.getJob(stale)).to.be.revertedWithCustomError(v.escrow, err).withArgs(stale);
    await expect(v.escrow.connect(op).submitResult(stale, RESULT)).to.be.revertedWithCustomError(v.escrow, err).withArgs(stale);
    await expect(v.escrow.connect(op).commit(stale, 0, RESULT)).to.be.revertedWithCustomError(v.escrow, err).withArgs(stale);
    await expect(v.escrow.connect(op).reveal(stale, 0, RESULT, RESULT)).to.be.revertedWithCustomError(v.escrow, err).withArgs(stale);
    await expect(v.escrow.connect(op).decline(stale, 0)).to.be.revertedWithCustomError(v.escrow, err).withArgs(stale);
    await expect(v.escrow.finalize(stale)).to.be.revertedWithCustomError(v.escrow, err).withArgs(stale);
    await expect(v.escrow.poke(stale)).to.be.revertedWithCustomError(v.escrow, err).withArgs(stale);
    await expect(v.escrow.connect(v.disputer).openDispute(stale)).to.be.revertedWithCustomError(v.escrow, err).withArgs(stale);
    await expect(v.escrow.connect(v.disputer).resolveDispute(stale, RESULT)).to.be.revertedWithCustomError(v.escrow, err).withArgs(stale);
    // The new job in the same record is untouched by calls with the old id: post it, then settle with both ids.
    await v.escrow.connect(next.operators[0]).submitResult(next.jobId, RESULT);
    await time.increase(P.challengeWindow + 1n);
    expect(await v.escrow.finalizeMany.staticCall([stale])).to.equal(0n);
    const [settled] = await v.escrow.connect(next.operators[0]).claim.staticCall([stale, next.jobId], next.operators[0].address);
    expect(settled).to.equal(1n);
    await expect(v.escrow.finalizeMany([stale, next.jobId, stale]))
      .to.emit(v.escrow, "JobFinalized").withArgs(next.jobId, RESULT, 1, (x: bigint) => x > 0n, 0, (x: bigint) => x > 0n, (x: bigint) => x > 0n, (x: bigint) => x > 0n, (x: bigint) => x > 0n);
    // A generation not issued yet, and a record never allocated, are unknown.
    await expect(v.escrow.getJob(id(5n, 1n))).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(id(5n, 1n));
    await expect(v.escrow.getJob(77n)).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(77n);
    await expect(v.escrow.getJob(id(0n, 77n))).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(id(0n, 77n));
    await expect(v.escrow.poke(id(5n, 1n))).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob");
    const third = await submit(connection, v);
    expect(third.jobId, "generation 2 of record 1").to.equal(id(2n, 1n));
  });

  it("a reused record shows none of its previous job's hashes, operators or missed slots", async () => {
    // Record 1: a k=3 job whose third slot misses its reveal (slashed), finalized on the two agreeing reveals.
    const job = await submit(connection, v, { redundancy: 3 });
    const salts = job.operators.map(() => randomId());
    for (const [i, op] of job.operators.entries()) await v.escrow.connect(op).commit(job.jobId, i, await commitmentOf(v, job.jobId, op.address, RESULT, salts[i]));
    for (const i of [0, 1]) await v.escrow.connect(job.operators[i]).reveal(job.jobId, i, RESULT, salts[i]);
    await time.increase(P.revealWindow + 1n);
    await v.escrow.poke(job.jobId); // slot 2 missed
    expect((await v.escrow.getJob(job.jobId)).missedMask).to.equal(4n);
    await time.increase(P.challengeWindow + 1n);
    await v.escrow.finalize(job.jobId);
    // k=1 in the same record: no hash before the post, one operator, nothing missed.
    const k1 = await submit(connection, v);
    expect(k1.jobId).to.equal(id(1n, 1n));
    let view = await v.escrow.getJob(k1.jobId);
    expect(view.slotHashes).to.deep.equal([ethers.ZeroHash]);
    expect(view.operators).to.have.length(1);
    expect([view.commitMask, view.revealMask, view.missedMask, view.result]).to.deep.equal([0n, 0n, 0n, ethers.ZeroHash]);
    const other = randomId();
    await v.escrow.connect(k1.operators[0]).submitResult(k1.jobId, other);
    view = await v.escrow.getJob(k1.jobId);
    expect(view.slotHashes).to.deep.equal([other]);
    expect(view.commitMask, "no commits at k = 1").to.equal(0n);
    expect(view.revealMask, "k = 1: the posted result is public (bit 0)").to.equal(1n);
    await time.increase(P.challengeWindow + 1n);
    await v.escrow.finalize(k1.jobId);
    // k=3 again in the record: the slots that have not committed show nothing (the record still holds old hashes).
    const k3 = await submit(connection, v, { redundancy: 3 });
    expect(k3.jobId).to.equal(id(2n, 1n));
    const c = await commitmentOf(v, k3.jobId, k3.operators[1].address, RESULT, salts[1]);
    await v.escrow.connect(k3.operators[1]).commit(k3.jobId, 1, c);
    view = await v.escrow.getJob(k3.jobId);
    expect(view.slotHashes).to.deep.equal([ethers.ZeroHash, c, ethers.ZeroHash]);
    expect([view.commitMask, view.missedMask]).to.deep.equal([2n, 0n]);
  });

  it("a job refunded for a missed step frees its record; the requester is refunded in full", async () => {
    const job = await submit(connection, v, {}, "transfer");
    const deadline = (await v.escrow.getJob(job.jobId)).deadline;
    await time.increaseTo(deadline - 10n); // no time left for another round
    await expect(v.escrow.poke(job.jobId)).to.emit(v.escrow, "JobRefunded").withArgs(job.jobId, v.requester.address, (x: bigint) => x > 0n, REASON_DEADLINE);
    expect((await v.escrow.getJob(job.jobId)).status).to.equal(STATUS.Refunded);
    expect(await nextJobId(v)).to.equal(id(1n, 1n));
  });

  it("a disputed job keeps its record after settlement (the DisputeManager reads it): later jobs take new records", async () => {
    const challenged = await submit(connection, v);
    await v.escrow.connect(challenged.operators[0]).submitResult(challenged.jobId, RESULT);
    await v.escrow.connect(v.disputer).openDispute(challenged.jobId);
    await v.escrow.connect(v.disputer).resolveDispute(challenged.jobId, RESULT);
    const refunded = await submit(connection, v);
    expect(refunded.jobId, "record 1 is kept").to.equal(id(0n, 2n));
    await v.escrow.connect(refunded.operators[0]).submitResult(refunded.jobId, RESULT);
    await v.escrow.connect(v.disputer).openDispute(refunded.jobId);
    await time.increase(P.disputeWindow + 1n);
    await v.escrow.poke(refunded.jobId); // unresolved dispute: refunded
    const later = await submit(connection, v);
    expect(later.jobId).to.equal(id(0n, 3n));
    expect(await nextJobId(v)).to.equal(id(0n, 4n));
    const a = await v.escrow.getJob(challenged.jobId);
    expect([a.status, a.result]).to.deep.equal([STATUS.Finalized, RESULT]);
    expect((await v.escrow.getJob(refunded.jobId)).status).to.equal(STATUS.Refunded);
  });

  it("a disagreement (k=3) resolved by dispute keeps its record too", async () => {
    const job = await submit(connection, v, { redundancy: 3 });
    const results = [RESULT, RESULT, randomId()];
    const salts = job.operators.map(() => randomId());
    for (const [i, op] of job.operators.entries()) await v.escrow.connect(op).commit(job.jobId, i, await commitmentOf(v, job.jobId, op.address, results[i], salts[i]));
    for (const [i, op] of job.operators.entries()) await v.escrow.connect(op).reveal(job.jobId, i, results[i], salts[i]);
    expect((await v.escrow.getJob(job.jobId)).status).to.equal(STATUS.Disputed);
    await v.escrow.connect(v.disputer).resolveDispute(job.jobId, RESULT);
    expect((await submit(connection, v)).jobId).to.equal(id(0n, 2n));
    expect((await v.escrow.getJob(job.jobId)).slotHashes).to.deep.equal(results);
  });

  it("k=3 settled by finalizeMany frees every record in the batch; the next k=3 jobs reuse them", async () => {
    const a = await proposedK3(v);
    const b = await proposedK3(v);
    await time.increase(P.challengeWindow + 1n);
    expect(await v.escrow.finalizeMany.staticCall([a.jobId, b.jobId])).to.equal(2n);
    await v.escrow.finalizeMany([a.jobId, b.jobId]);
    const c = await proposedK3(v);
    const d = await proposedK3(v);
    expect([c.jobId, d.jobId]).to.deep.equal([id(1n, 2n), id(1n, 1n)]);
    await time.increase(P.challengeWindow + 1n);
    await v.escrow.finalizeMany([c.jobId, d.jobId]);
    for (const j of [c, d]) {
      const view = await v.escrow.getJob(j.jobId);
      expect([view.status, view.result]).to.deep.equal([STATUS.Finalized, RESULT]);
      expect(view.operators).to.deep.equal(j.operators.map((o: Veil["ops"][number]) => o.address));
    }
  });
});
