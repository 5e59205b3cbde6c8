import { expect } from "chai";
import { network } from "hardhat";
import { deployVeil, commitmentOf, submit, now, STATUS, P, PRICE, STAKE, salt, randomId, type Veil } from "../helpers/fixture.js";

// JobEscrow.decline: an assigned operator that cannot obtain or open a job's input (a blob by reference that is
// unavailable, or a private envelope whose wrapped key is missing or corrupt) gives its slot up without penalty.
// Only such jobs are declinable: an inline plaintext input can always be served.

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { networkHelpers } = connection;
const { time } = networkHelpers;

const REFUND_DEADLINE_PASSED = 0n;
const PHASE_ASSIGNED = 1n;
/** An inline private envelope: the escrow only looks at the "VEIL" magic (docs/privacy.md has the layout). */
const ENVELOPE = "0x5645494c0101" + "cd".repeat(200);
const BY_URI = { input: "0x", inputURI: "https://blobs.example/job", inputHash: "0x" + "11".repeat(32) };

describe("JobEscrow: declining a slot (no-fault exit for unobtainable inputs)", () => {
  let v: Veil;
  beforeEach(async () => {
    v = await deployVeil(connection);
  });

  const stakeOf = async (a: string) => (await v.staking.operator(a)).stake;
  const lockedOf = async (a: string) => (await v.staking.operator(a)).locked;

  it("k=1 private job: the operator declines, the slot is replaced at once without a slash, and the new operator serves it", async () => {
    const { jobId, operators: [op] } = await submit(connection, v, { input: ENVELOPE });
    const treasuryBefore = await v.veil.balanceOf(v.treasury.address);
    await expect(v.escrow.connect(op).decline(jobId, 0)).to.emit(v.escrow, "SlotDeclined").withArgs(jobId, 0, op.address);
    const declined = await v.escrow.getJob(jobId);
    expect(declined.status).to.equal(STATUS.Assigned);
    expect(declined.declinedMask).to.equal(1n);
    expect(declined.revealMask, "declining posts nothing").to.equal(0n);
    // The only slot is done: the window closes now, and anyone can move the job on in the next block.
    expect(declined.phaseEnd).to.be.lessThan(await now(connection));
    const tx = v.escrow.connect(v.outsider).poke(jobId);
    await expect(tx).to.emit(v.escrow, "SlotMissed").withArgs(jobId, 0, op.address, PHASE_ASSIGNED, 0n);
    await expect(tx).to.not.emit(v.staking, "Slashed");
    await expect(tx).to.emit(v.escrow, "OperatorsAssigned");
    expect(await stakeOf(op.address)).to.equal(STAKE);
    expect(await lockedOf(op.address)).to.equal(0n);
    expect(await v.veil.balanceOf(v.treasury.address)).to.equal(treasuryBefore);
    const job = await v.escrow.getJob(jobId);
    expect([job.declinedMask, job.revealMask]).to.deep.equal([0n, 0n]);
    expect(job.operators[0]).to.not.equal(op.address);
    const fresh = v.ops.find((o) => o.address === job.operators[0])!;
    await v.escrow.connect(fresh).submitResult(jobId, randomId());
    await time.increase(P.challengeWindow + 1n);
    await v.escrow.finalize(jobId);
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Finalized);
    expect(await v.ledger.earningsOf(op.address)).to.equal(0n);
    expect(await v.ledger.earningsOf(fresh.address)).to.be.greaterThan(0n);
  });

  it("an input by reference is declinable too (an unavailable blob is not the operator's fault)", async () => {
    const { jobId, operators: [op] } = await submit(connection, v, BY_URI);
    await expect(v.escrow.connect(op).decline(jobId, 0)).to.emit(v.escrow, "SlotDeclined");
  });

  it("an inline plaintext input is not declinable: the operator must serve it or be slashed", async () => {
    const { jobId, operators: [op] } = await submit(connection, v);
    await expect(v.escrow.connect(op).decline(jobId, 0)).to.be.revertedWithCustomError(v.escrow, "JobEscrowNotDeclinable").withArgs(jobId);
    await time.increase(P.commitWindow + 1n);
    await expect(v.escrow.poke(jobId)).to.emit(v.staking, "Slashed").withArgs(op.address, P.missPenalty, 0n, v.treasury.address);
  });

  it("k=3: a declined slot cannot commit, the others keep their window, and only the declined slot is replaced without a slash", async () => {
    const { jobId, operators } = await submit(connection, v, { input: ENVELOPE, redundancy: 3 });
    const r = randomId();
    const salts = [salt(), salt(), salt()];
    await v.escrow.connect(operators[0]).commit(jobId, 0, await commitmentOf(v, jobId, operators[0].address, r, salts[0]));
    await v.escrow.connect(operators[1]).decline(jobId, 1);
    // The window stays open for slot 2, which has not decided yet.
    const mid = await v.escrow.getJob(jobId);
    expect(mid.phaseEnd).to.be.greaterThan(await now(connection));
    expect([mid.commitMask, mid.declinedMask]).to.deep.equal([0b001n, 0b010n]);
    await expect(v.escrow.connect(operators[1]).commit(jobId, 1, await commitmentOf(v, jobId, operators[1].address, r, salts[1])))
      .to.be.revertedWithCustomError(v.escrow, "JobEscrowAlreadyCommitted").withArgs(jobId, 1);
    await expect(v.escrow.connect(operators[1]).decline(jobId, 1)).to.be.revertedWithCustomError(v.escrow, "JobEscrowAlreadyCommitted");
    await expect(v.escrow.connect(operators[0]).decline(jobId, 0)).to.be.revertedWithCustomError(v.escrow, "JobEscrowAlreadyCommitted");
    await expect(v.escrow.poke(jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWindowOpen");
    await v.escrow.connect(operators[2]).commit(jobId, 2, await commitmentOf(v, jobId, operators[2].address, r, salts[2]));
    // Committed or declined everywhere: the window closes at once.
    expect((await v.escrow.getJob(jobId)).phaseEnd).to.be.lessThan(await now(connection));
    const tx = v.escrow.poke(jobId);
    await expect(tx).to.emit(v.escrow, "SlotMissed").withArgs(jobId, 1, operators[1].address, PHASE_ASSIGNED, 0n);
    await expect(tx).to.not.emit(v.staking, "Slashed");
    const job = await v.escrow.getJob(jobId);
    expect(job.commitMask).to.equal(0b101n);
    expect([job.declinedMask, job.revealMask]).to.deep.equal([0n, 0n]);
    expect(operators.map((o) => o.address)).to.not.include(job.operators[1]);
    expect(await stakeOf(operators[1].address)).to.equal(STAKE);
    const fresh = v.ops.find((o) => o.address === job.operators[1])!;
    await v.escrow.connect(fresh).commit(jobId, 1, await commitmentOf(v, jobId, fresh.address, r, salts[1]));
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Revealing);
    expect((await v.escrow.getJob(jobId)).revealMask).to.equal(0n);
    await v.escrow.connect(operators[0]).reveal(jobId, 0, r, salts[0]);
    await v.escrow.connect(fresh).reveal(jobId, 1, r, salts[1]);
    await v.escrow.connect(operators[2]).reveal(jobId, 2, r, salts[2]);
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Proposed);
  });

  it("a decline next to a silent slot: the silent one is slashed, the decliner is not", async () => {
    const { jobId, operators } = await submit(connection, v, { input: ENVELOPE, redundancy: 3 });
    await v.escrow.connect(operators[0]).decline(jobId, 0);
    await time.increase(P.commitWindow + 1n);
    const tx = v.escrow.poke(jobId);
    await expect(tx).to.emit(v.escrow, "SlotMissed").withArgs(jobId, 0, operators[0].address, PHASE_ASSIGNED, 0n);
    await expect(tx).to.emit(v.escrow, "SlotMissed").withArgs(jobId, 1, operators[1].address, PHASE_ASSIGNED, P.missPenalty);
    expect(await stakeOf(operators[0].address)).to.equal(STAKE);
    expect(await stakeOf(operators[1].address)).to.equal(STAKE - P.missPenalty);
    expect(await stakeOf(operators[2].address)).to.equal(STAKE - P.missPenalty);
  });

  it("declined with no time left for another round: the requester is refunded in full, nobody slashed", async () => {
    const t = await now(connection);
    const { jobId, operators: [op] } = await submit(connection, v, { input: ENVELOPE, deadline: t + P.commitWindow + 30n });
    await time.increase(P.commitWindow - 60n);
    await v.escrow.connect(op).decline(jobId, 0);
    const before = await v.ledger.depositOf(v.requester.address);
    const tx = v.escrow.poke(jobId);
    await expect(tx).to.emit(v.escrow, "JobRefunded").withArgs(jobId, v.requester.address, PRICE, REFUND_DEADLINE_PASSED);
    await expect(tx).to.not.emit(v.staking, "Slashed");
    expect(await v.ledger.depositOf(v.requester.address)).to.equal(before + PRICE);
    expect(await lockedOf(op.address)).to.equal(0n);
    const job = await v.escrow.getJob(jobId);
    expect(job.status).to.equal(STATUS.Refunded);
    expect([job.declinedMask, job.revealMask]).to.deep.equal([0n, 0n]);
  });

  it("revert paths: unknown job, stranger, wrong slot, after the window, after posting, on a later status", async () => {
    await expect(v.escrow.decline(999n, 0)).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(999n);
    const { jobId, operators: [op] } = await submit(connection, v, { input: ENVELOPE });
    await expect(v.escrow.connect(v.outsider).decline(jobId, 0)).to.be.revertedWithCustomError(v.escrow, "JobEscrowNotAssigned").withArgs(jobId, 0, v.outsider.address);
    await expect(v.escrow.connect(op).decline(jobId, 1)).to.be.revertedWithCustomError(v.escrow, "JobEscrowNotAssigned").withArgs(jobId, 1, op.address);
    await time.increase(P.commitWindow + 1n);
    await expect(v.escrow.connect(op).decline(jobId, 0)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWindowClosed");
    // Posted a result: the job moved on, no decline any more.
    const b = await submit(connection, v, { input: ENVELOPE });
    await v.escrow.connect(b.operators[0]).submitResult(b.jobId, randomId());
    await expect(v.escrow.connect(b.operators[0]).decline(b.jobId, 0)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWrongStatus").withArgs(b.jobId, STATUS.Proposed);
  });

  it("k=5 private job: kMode keeps k and the declinable bit apart", async () => {
    // kMode packs k (bits 0-2), DECLINABLE (bit 6) and ALLOWANCE (bit 7): a declinable k=5 job reads back as k=5.
    const { jobId, operators } = await submit(connection, v, { input: ENVELOPE, redundancy: 5 });
    const job = await v.escrow.getJob(jobId);
    expect(job.redundancy).to.equal(5n);
    expect(job.operators.length).to.equal(5);
    await expect(v.escrow.connect(operators[4]).decline(jobId, 4)).to.emit(v.escrow, "SlotDeclined").withArgs(jobId, 4, operators[4].address);
  });
});
