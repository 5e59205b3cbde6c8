import { expect } from "chai";
import type { ContractTransactionResponse } from "ethers";
import { network } from "hardhat";
import {
  deployVeil,
  commitmentOf,
  fieldsOf,
  generationOf,
  indexOf,
  INPUT,
  jobIdOf,
  submit,
  now,
  salt,
  randomId,
  STATUS,
  P,
  PRICE,
  STAKE,
  type Veil,
} from "../helpers/fixture.js";
import { ROLES } from "../../ignition/modules/roles.js";

// Terms frozen per job: governance's `setParams` makes a new terms version that only jobs submitted later get; an
// open job keeps the version in force at its submission (windows, collateral, miss penalty, treasury and staker
// shares) and the model royalty of that moment, and settles under them. And job ids bind a post to the submission
// it answers: the tag (bits 64..127) commits to the model and input.

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;
const { time } = networkHelpers;

const BPS = 10_000n;
const DAY = 86_400n;
const OTHER_INPUT = "0x" + "cd".repeat(64);
const DISPUTE_CHALLENGE = 1n;
const PHASE_ASSIGNED = 1n;
const PHASE_REVEALING = 2n;

/** FeeMath.split: the royalty, treasury and stakers' shares of `fee`, the rest split among `n` operators (dust to the treasury). */
function split(fee: bigint, n: bigint, royaltyBps: bigint, treasuryBps: bigint, stakersBps: bigint) {
  const royalty = (fee * royaltyBps) / BPS;
  const stakers = (fee * stakersBps) / BPS;
  let treasury = (fee * treasuryBps) / BPS;
  const pot = fee - royalty - treasury - stakers;
  const perOperator = pot / n;
  treasury += pot - perOperator * n;
  return { royalty, treasury, stakers, perOperator };
}

async function deploy() {
  const v = await deployVeil(connection);
  const disputer = v.signers[15];
  await v.manager.grantRole(ROLES.DISPUTER, disputer.address, 0);
  return { ...v, disputer };
}
type Env = Awaited<ReturnType<typeof deploy>>;

/** The timestamp of the block that included `tx`. */
async function minedAt(tx: ContractTransactionResponse | Promise<ContractTransactionResponse>): Promise<bigint> {
  const receipt = await (await tx).wait();
  return BigInt((await ethers.provider.getBlock(receipt!.blockNumber))!.timestamp);
}

describe("JobEscrow: terms frozen per job, and posts bound to their submission", () => {
  let v: Env;
  beforeEach(async () => {
    v = await networkHelpers.loadFixture(deploy);
  });

  const lockedOf = async (a: string) => (await v.staking.operator(a)).locked;
  const lockedAll = () => Promise.all(v.ops.map((o) => lockedOf(o.address)));
  /** Terms version 1 (the deployment's) and a version 2 that changes every term a job settles under. */
  async function versions() {
    const v1 = fieldsOf(await v.escrow.params());
    const v2 = {
      ...v1,
      treasuryBps: 1_000n,
      stakersBps: 700n,
      collateral: 2n * P.collateral,
      missPenalty: 3n * P.missPenalty,
      commitWindow: 1_200n,
      revealWindow: 900n,
      challengeWindow: 7_200n,
      disputeWindow: 4n * DAY,
    };
    return { v1, v2 };
  }

  it("a job settles under the terms and royalty of its submission; a job submitted after the change gets the new ones", async () => {
    const { v1, v2 } = await versions();
    const L0 = await lockedAll();
    const a = await submit(connection, v);
    const opA = a.operators[0];
    expect(await lockedOf(opA.address)).to.equal(L0[v.ops.indexOf(opA)] + v1.collateral);

    // Governance raises the treasury and staker shares, doubles the collateral and changes every window; the model
    // owner raises the royalty.
    await expect(v.escrow.setParams(v2)).to.emit(v.escrow, "ParamsSet");
    await v.registry.connect(v.modelOwner).setRoyalty(v.modelId, 1_500);
    const viewA = await v.escrow.getJob(a.jobId);
    expect([viewA.termsVersion, viewA.royaltyBps]).to.deep.equal([1n, 1_000n]);

    // A job submitted now: version 2, the new royalty, the new commit window and collateral.
    const lockedBeforeB = await lockedAll();
    const b = await submit(connection, v, { input: OTHER_INPUT });
    const submittedB = BigInt((await ethers.provider.getBlock(b.receipt.blockNumber))!.timestamp);
    const opB = b.operators[0];
    const viewB = await v.escrow.getJob(b.jobId);
    expect([viewB.termsVersion, viewB.royaltyBps, viewB.phaseEnd]).to.deep.equal([2n, 1_500n, submittedB + v2.commitWindow]);
    expect(await lockedOf(opB.address)).to.equal(lockedBeforeB[v.ops.indexOf(opB)] + v2.collateral);

    // A's challenge window is version 1's, B's is version 2's.
    const [rA, rB] = [randomId(), randomId()];
    const postedA = await minedAt(v.escrow.connect(opA).submitResult(a.jobId, rA));
    expect((await v.escrow.getJob(a.jobId)).phaseEnd).to.equal(postedA + v1.challengeWindow);
    const postedB = await minedAt(v.escrow.connect(opB).submitResult(b.jobId, rB));
    expect((await v.escrow.getJob(b.jobId)).phaseEnd).to.equal(postedB + v2.challengeWindow);
    await time.increaseTo(postedA + v1.challengeWindow + 1n);
    await expect(v.escrow.finalize(b.jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWindowOpen");

    // A pays out at version 1's shares and the royalty fixed at its submission.
    const sA = split(PRICE, 1n, 1_000n, v1.treasuryBps, v1.stakersBps);
    const before = {
      op: await v.ledger.earningsOf(opA.address),
      owner: await v.ledger.earningsOf(v.modelOwner.address),
      treasury: await v.ledger.treasuryAccrued(),
      stakers: await v.ledger.stakerRewardsAccrued(),
    };
    await expect(v.escrow.finalize(a.jobId)).to.emit(v.escrow, "JobFinalized")
      .withArgs(a.jobId, rA, 1, PRICE, 0, sA.royalty, sA.treasury, sA.stakers, sA.perOperator);
    expect(await v.ledger.earningsOf(opA.address)).to.equal(before.op + sA.perOperator);
    expect(await v.ledger.earningsOf(v.modelOwner.address)).to.equal(before.owner + sA.royalty);
    expect(await v.ledger.treasuryAccrued()).to.equal(before.treasury + sA.treasury);
    expect(await v.ledger.stakerRewardsAccrued()).to.equal(before.stakers + sA.stakers);
    // The collateral released is what A locked (version 1's), not version 2's.
    const afterA = await lockedAll();
    for (const [i, op] of v.ops.entries()) {
      expect(afterA[i], op.address).to.equal(L0[i] + (op === opB ? v2.collateral : 0n));
    }

    // B pays out at version 2's shares and the raised royalty, and releases version 2's collateral.
    await time.increaseTo(postedB + v2.challengeWindow + 1n);
    const sB = split(PRICE, 1n, 1_500n, v2.treasuryBps, v2.stakersBps);
    const opBefore = await v.ledger.earningsOf(opB.address);
    await expect(v.escrow.finalize(b.jobId)).to.emit(v.escrow, "JobFinalized")
      .withArgs(b.jobId, rB, 1, PRICE, 0, sB.royalty, sB.treasury, sB.stakers, sB.perOperator);
    expect(await v.ledger.earningsOf(opB.address)).to.equal(opBefore + sB.perOperator);
    expect(await v.ledger.earningsOf(v.modelOwner.address)).to.equal(before.owner + sA.royalty + sB.royalty);
    expect(await v.ledger.treasuryAccrued()).to.equal(before.treasury + sA.treasury + sB.treasury);
    expect(await v.ledger.stakerRewardsAccrued()).to.equal(before.stakers + sA.stakers + sB.stakers);
    expect(await lockedAll()).to.deep.equal(L0);
    // Every fee unit is accounted for in the ledger.
    const owed = (await Promise.all([...v.ops, v.modelOwner].map((s) => v.ledger.earningsOf(s.address)))).reduce((x, y) => x + y, 0n);
    expect(owed + (await v.ledger.treasuryAccrued()) + (await v.ledger.stakerRewardsAccrued())).to.equal(2n * PRICE);
    expect(await v.usdc.balanceOf(await v.ledger.getAddress())).to.equal(2n * PRICE);
  });

  it("the windows and the miss penalty of an open job are its own: commit, reveal, challenge and dispute", async () => {
    const { v1, v2 } = await versions();
    const k3 = await submit(connection, v, { redundancy: 3 });
    const missed = await submit(connection, v, { input: OTHER_INPUT });
    const disputed = await submit(connection, v, { input: "0x" + "ef".repeat(64) });
    await v.escrow.setParams(v2);

    // k = 3: the reveal phase gets version 1's reveal window, the proposal version 1's challenge window.
    const r = randomId();
    const salts = k3.operators.map(() => salt());
    for (const [i, op] of k3.operators.entries()) {
      const tx = v.escrow.connect(op).commit(k3.jobId, i, await commitmentOf(v, k3.jobId, op.address, r, salts[i]));
      if (i === 2) {
        const ts = await minedAt(tx);
        expect((await v.escrow.getJob(k3.jobId)).phaseEnd).to.equal(ts + v1.revealWindow);
      } else await tx;
    }
    await v.escrow.connect(k3.operators[0]).reveal(k3.jobId, 0, r, salts[0]);
    await v.escrow.connect(k3.operators[1]).reveal(k3.jobId, 1, r, salts[1]);
    const revealed = await minedAt(v.escrow.connect(k3.operators[2]).reveal(k3.jobId, 2, r, salts[2]));
    expect((await v.escrow.getJob(k3.jobId)).phaseEnd).to.equal(revealed + v1.challengeWindow);

    // A challenge: version 1's dispute window.
    await v.escrow.connect(disputed.operators[0]).submitResult(disputed.jobId, randomId());
    const opened = (await now(connection)) + 5n;
    await time.setNextBlockTimestamp(opened);
    await expect(v.escrow.connect(v.disputer).openDispute(disputed.jobId)).to.emit(v.escrow, "JobDisputed")
      .withArgs(disputed.jobId, DISPUTE_CHALLENGE, opened + v1.disputeWindow);
    const dView = await v.escrow.getJob(disputed.jobId);
    expect([dView.status, dView.phaseEnd]).to.deep.equal([STATUS.Disputed, opened + v1.disputeWindow]);

    // A missed commit: the job's commit window (version 1's 600 s, not version 2's 1,200 s) is over, the operator
    // loses version 1's penalty and the replacement gets version 1's window.
    const loser = missed.operators[0];
    const commitEnd = (await v.escrow.getJob(missed.jobId)).phaseEnd;
    await time.increaseTo(commitEnd + 1n);
    const tx = v.escrow.poke(missed.jobId);
    await expect(tx).to.emit(v.escrow, "SlotMissed").withArgs(missed.jobId, 0, loser.address, PHASE_ASSIGNED, v1.missPenalty);
    const poked = await minedAt(tx);
    expect((await v.escrow.getJob(missed.jobId)).phaseEnd).to.equal(poked + v1.commitWindow);
    expect((await v.staking.operator(loser.address)).stake).to.equal(STAKE - v1.missPenalty);
    expect(await lockedOf(loser.address)).to.equal(
      v1.collateral * BigInt([k3, disputed].filter((j) => j.operators.includes(loser)).length),
    );
    // The k = 3 job finalizes at version 1's challenge window, which closed before version 2's would have.
    await time.increaseTo(revealed + v1.challengeWindow + 1n);
    await expect(v.escrow.finalize(k3.jobId)).to.emit(v.escrow, "JobFinalized");
  });

  it("M-3: collateral changed between submission and settlement releases exactly what each job locked", async () => {
    const base = fieldsOf(await v.escrow.params());
    const setCollateral = (collateral: bigint) => v.escrow.setParams({ ...base, collateral });
    // A job that stays open throughout keeps every operator's locked collateral above zero: a release of more than
    // a job locked would eat into it, and one of less would leave some stranded.
    const background = await submit(connection, v, { redundancy: 5, input: "0x" + "01".repeat(64) });
    expect(background.operators).to.have.length(5);
    const L0 = await lockedAll();
    for (const l of L0) expect(l).to.equal(P.collateral);
    let n = 0;
    const input = () => "0x" + (++n).toString(16).padStart(2, "0").repeat(48);

    // 1. Finalized after the collateral was lowered (an over-release risk).
    const a = await submit(connection, v, { redundancy: 3, input: input() });
    await setCollateral(P.collateral / 2n);
    const r = randomId();
    const sa = a.operators.map(() => salt());
    for (const [i, op] of a.operators.entries()) await v.escrow.connect(op).commit(a.jobId, i, await commitmentOf(v, a.jobId, op.address, r, sa[i]));
    for (const [i, op] of a.operators.entries()) await v.escrow.connect(op).reveal(a.jobId, i, r, sa[i]);
    await time.increase(P.challengeWindow + 1n);
    await v.escrow.finalize(a.jobId);
    expect(await lockedAll(), "finalized").to.deep.equal(L0);

    // 2. A missed reveal (slashed, released by the penalty) and finalized after the collateral was raised.
    const b = await submit(connection, v, { redundancy: 3, input: input() });
    for (const op of b.operators) expect(await lockedOf(op.address)).to.equal(L0[v.ops.indexOf(op)] + P.collateral / 2n);
    await setCollateral(3n * P.collateral);
    const sb = b.operators.map(() => salt());
    for (const [i, op] of b.operators.entries()) await v.escrow.connect(op).commit(b.jobId, i, await commitmentOf(v, b.jobId, op.address, r, sb[i]));
    for (const i of [0, 1]) await v.escrow.connect(b.operators[i]).reveal(b.jobId, i, r, sb[i]);
    await time.increase(P.revealWindow + 1n);
    await expect(v.escrow.poke(b.jobId)).to.emit(v.escrow, "SlotMissed").withArgs(b.jobId, 2, b.operators[2].address, PHASE_REVEALING, P.missPenalty);
    expect(await lockedOf(b.operators[2].address), "the missed slot's collateral is released by its penalty").to.equal(L0[v.ops.indexOf(b.operators[2])]);
    await time.increase(P.challengeWindow + 1n);
    await v.escrow.finalize(b.jobId);
    expect(await lockedAll(), "missed reveal, then finalized").to.deep.equal(L0);

    // 3. Refunded for a missed commit with no time left, after the collateral was lowered again.
    const c = await submit(connection, v, { input: input(), deadline: (await now(connection)) + P.commitWindow + 30n });
    expect(await lockedOf(c.operators[0].address)).to.equal(L0[v.ops.indexOf(c.operators[0])] + 3n * P.collateral);
    await setCollateral(P.collateral);
    await time.increase(P.commitWindow + 1n);
    await expect(v.escrow.poke(c.jobId)).to.emit(v.escrow, "JobRefunded");
    expect(await lockedAll(), "missed commit, refunded").to.deep.equal(L0);

    // 4. A dispute resolved with no valid result (refund) after the collateral was raised.
    const d = await submit(connection, v, { input: input() });
    await setCollateral(2n * P.collateral);
    await v.escrow.connect(d.operators[0]).submitResult(d.jobId, randomId());
    await v.escrow.connect(v.disputer).openDispute(d.jobId);
    await expect(v.escrow.connect(v.disputer).resolveDispute(d.jobId, ethers.ZeroHash)).to.emit(v.escrow, "JobRefunded");
    expect(await lockedAll(), "dispute refunded").to.deep.equal(L0);

    // 5. An unresolved dispute refunded by poke, after the collateral was lowered.
    const e = await submit(connection, v, { input: input() });
    await setCollateral(P.collateral / 4n);
    await v.escrow.connect(e.operators[0]).submitResult(e.jobId, randomId());
    await v.escrow.connect(v.disputer).openDispute(e.jobId);
    await time.increase(P.disputeWindow + 1n);
    await expect(v.escrow.poke(e.jobId)).to.emit(v.escrow, "JobRefunded");
    expect(await lockedAll(), "dispute window passed").to.deep.equal(L0);

    // The background job, version 1, settles last: nothing is left locked anywhere.
    await v.escrow.poke(background.jobId);
    expect((await v.escrow.getJob(background.jobId)).status).to.equal(STATUS.Refunded);
    for (const l of await lockedAll()) expect(l).to.equal(0n);
    expect(await v.escrow.termsVersion()).to.equal(6n);
  });

  it("a post names its submission: an id with another input's tag reverts JobEscrowUnknownJob and settles nothing", async () => {
    const hashA = ethers.sha256(INPUT);
    const hashB = ethers.sha256(OTHER_INPUT);
    // The id that a submission of input B would get now; a submission of input A takes that record instead (as
    // when a reorg replaced B's submission by A's).
    const ghost = await v.escrow.nextJobId(v.modelId, hashB);
    const a = await submit(connection, v);
    const op = a.operators[0];
    expect(a.jobId).to.equal(jobIdOf(indexOf(ghost), generationOf(ghost), v.modelId, hashA));
    expect(ghost).to.equal(jobIdOf(indexOf(a.jobId), generationOf(a.jobId), v.modelId, hashB));
    expect(ghost).to.not.equal(a.jobId);
    // A second submission, of input B, takes the next record.
    const b = await submit(connection, v, { input: OTHER_INPUT });
    expect(b.jobId).to.equal(jobIdOf(indexOf(a.jobId) + 1n, 0, v.modelId, hashB));
    const swapped = jobIdOf(indexOf(b.jobId), generationOf(b.jobId), v.modelId, hashA); // B's record, A's tag

    // The operator of A's record posts for the reorged-away submission: nothing happens to A.
    const unknown = (call: Promise<unknown>, id: bigint) => expect(call).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(id);
    await unknown(v.escrow.connect(op).submitResult(ghost, randomId()), ghost);
    await unknown(v.escrow.connect(b.operators[0]).submitResult(swapped, randomId()), swapped);
    await unknown(v.escrow.connect(op).decline(ghost, 0), ghost);
    await unknown(v.escrow.connect(op).commit(ghost, 0, randomId()), ghost);
    await unknown(v.escrow.getJob(ghost), ghost);
    await unknown(v.escrow.finalize(ghost), ghost);
    await unknown(v.escrow.poke(ghost), ghost);
    await unknown(v.escrow.connect(v.disputer).openDispute(ghost), ghost);
    for (const job of [a, b]) {
      const view = await v.escrow.getJob(job.jobId);
      expect([view.status, view.revealMask, view.slotHashes[0]]).to.deep.equal([STATUS.Assigned, 0n, ethers.ZeroHash]);
    }
    expect(await v.escrow.jobIdAt(indexOf(a.jobId))).to.equal(a.jobId);

    // Posted under their own ids, both jobs settle; a batch naming the wrong tags settles nothing.
    const [rA, rB] = [randomId(), randomId()];
    await expect(v.escrow.connect(op).submitResult(a.jobId, rA)).to.emit(v.escrow, "ResultProposed");
    await v.escrow.connect(b.operators[0]).submitResult(b.jobId, rB);
    await time.increase(P.challengeWindow + 1n);
    expect(await v.escrow.finalizeMany.staticCall([ghost, swapped])).to.equal(0n);
    await v.escrow.finalizeMany([ghost, a.jobId, swapped]);
    expect((await v.escrow.getJob(a.jobId)).result).to.equal(rA);
    expect((await v.escrow.getJob(b.jobId)).status).to.equal(STATUS.Proposed);

    // The same in a reused record: A's record goes to a submission of input B at generation 1; a post for the id
    // that input A would have had there reverts, and the job in the record is untouched.
    const c = await submit(connection, v, { input: OTHER_INPUT });
    expect([indexOf(c.jobId), generationOf(c.jobId)]).to.deep.equal([indexOf(a.jobId), 1n]);
    const reorged = jobIdOf(indexOf(c.jobId), 1n, v.modelId, hashA);
    await unknown(v.escrow.connect(c.operators[0]).submitResult(reorged, randomId()), reorged);
    const view = await v.escrow.getJob(c.jobId);
    expect([view.status, view.revealMask]).to.deep.equal([STATUS.Assigned, 0n]);
    // A's own id now reads as recycled, not as the new job.
    await expect(v.escrow.getJob(a.jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowJobRecycled").withArgs(a.jobId);

    // k = 3: a commitment names the job's id too, so a commit for another tag reverts the same way.
    const k3 = await submit(connection, v, { redundancy: 3, input: OTHER_INPUT });
    const forged = jobIdOf(indexOf(k3.jobId), generationOf(k3.jobId), v.modelId, hashA);
    await unknown(v.escrow.connect(k3.operators[0]).commit(forged, 0, randomId()), forged);
    expect((await v.escrow.getJob(k3.jobId)).commitMask).to.equal(0n);
  });

  it("ParamsSet(version, params) is emitted for each version; paramsAt returns each one; version 0 and future ones revert", async () => {
    const { v1, v2 } = await versions();
    expect(await v.escrow.termsVersion()).to.equal(1n);
    // Version 1 was set by the constructor.
    const deployed = await v.escrow.queryFilter(v.escrow.filters.ParamsSet(1), 0);
    expect(deployed).to.have.length(1);
    expect(fieldsOf(deployed[0].args.params)).to.deep.equal(v1);
    expect(v1).to.deep.include({ ...P, treasury: v.treasury.address });
    expect(fieldsOf(await v.escrow.paramsAt(1))).to.deep.equal(v1);

    const v3 = { ...v2, missSlashTo: 2n, minPrice: 2_000n, treasury: v.outsider.address };
    for (const [version, p] of [[2n, v2], [3n, v3]] as const) {
      const receipt = await (await v.escrow.setParams(p)).wait();
      const events = receipt!.logs.map((l) => v.escrow.interface.parseLog(l)).filter((e) => e?.name === "ParamsSet");
      expect(events).to.have.length(1);
      expect(events[0]!.args.version).to.equal(version);
      expect(fieldsOf(events[0]!.args.params)).to.deep.equal(p);
      expect(await v.escrow.termsVersion()).to.equal(version);
      expect(fieldsOf(await v.escrow.params())).to.deep.equal(p);
    }
    expect(fieldsOf(await v.escrow.paramsAt(1))).to.deep.equal(v1);
    expect(fieldsOf(await v.escrow.paramsAt(2))).to.deep.equal(v2);
    expect(fieldsOf(await v.escrow.paramsAt(3))).to.deep.equal(v3);
    const version = ethers.encodeBytes32String("termsVersion");
    await expect(v.escrow.paramsAt(0)).to.be.revertedWithCustomError(v.escrow, "JobEscrowParameterOutOfBounds").withArgs(version, 0n, 1n, 3n);
    await expect(v.escrow.paramsAt(4)).to.be.revertedWithCustomError(v.escrow, "JobEscrowParameterOutOfBounds").withArgs(version, 4n, 1n, 3n);
    // A rejected setParams makes no version.
    await expect(v.escrow.setParams({ ...v3, collateral: 0n })).to.be.revertedWithCustomError(v.escrow, "JobEscrowParameterOutOfBounds");
    expect(await v.escrow.termsVersion()).to.equal(3n);
  });
});
