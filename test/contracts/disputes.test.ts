import { expect } from "chai";
import { network } from "hardhat";
import type { ContractTransactionResponse } from "ethers";
import { deployVeil, fieldsOf, commitmentOf, submit, STATUS, PRICE, STAKE, E18, salt, randomId, type Veil } from "../helpers/fixture.js";
import { DISPUTE_DEFAULTS as D } from "../../ignition/modules/parts/disputes.js";
import { ROLES } from "../../ignition/modules/roles.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;

const DSTATUS = { None: 0n, Drawing: 1n, Voting: 2n, Resolved: 3n };
const NONE = ethers.ZeroHash;
const OPERATORS = 12;

/** Gas of each dispute step, from receipts, printed after the suite. */
const gas: Record<string, bigint[]> = {};
async function record(label: string, tx: Promise<ContractTransactionResponse>) {
  const receipt = await (await tx).wait();
  (gas[label] ??= []).push(receipt!.gasUsed);
  return receipt!;
}

async function deploy() {
  const v = await deployVeil(connection, OPERATORS);
  const granted = await v.manager.queryFilter(v.manager.filters.RoleGranted(ROLES.DISPUTER));
  const dm = await ethers.getContractAt("DisputeManager", granted[0].args.account);
  const challenger = v.outsider;
  await v.veil.transfer(challenger.address, 10_000n * E18);
  await v.veil.connect(challenger).approve(await dm.getAddress(), ethers.MaxUint256);
  return { ...v, dm, challenger };
}
type Env = Awaited<ReturnType<typeof deploy>>;

describe("disputes: challenges, committee re-execution, slashing", () => {
  let v: Env;
  beforeEach(async () => {
    v = await networkHelpers.loadFixture(deploy);
  });

  after(() => {
    console.log("      gas (from receipts):");
    for (const [label, list] of Object.entries(gas)) {
      const min = list.reduce((a, b) => (a < b ? a : b));
      const max = list.reduce((a, b) => (a > b ? a : b));
      console.log(`        ${label.padEnd(28)} min ${min}  max ${max}  (n=${list.length})`);
    }
  });

  const signerOf = (address: string) => v.signers.find((s) => s.address === address)!;
  const stakeOf = async (a: string) => (await v.staking.operator(a)).stake;

  /** Submits a k-operator job and has slot i reveal `results[i]`. */
  async function runJob(results: string[]) {
    const k = results.length;
    const { jobId, operators } = await submit(connection, v, { redundancy: k });
    if (k === 1) {
      await v.escrow.connect(operators[0]).submitResult(jobId, results[0]);
      return { jobId, operators };
    }
    const salts = operators.map(() => salt());
    for (const [i, op] of operators.entries()) {
      await v.escrow.connect(op).commit(jobId, i, await commitmentOf(v, jobId, op.address, results[i], salts[i]));
    }
    for (const [i, op] of operators.entries()) await v.escrow.connect(op).reveal(jobId, i, results[i], salts[i]);
    return { jobId, operators };
  }

  async function draw(jobId: bigint) {
    await networkHelpers.mine(Number(D.drawDelayBlocks));
    await record("drawCommittee", v.dm.drawCommittee(jobId));
    const d = await v.dm.getDispute(jobId);
    expect(d.status).to.equal(DSTATUS.Voting);
    return d.members.map(signerOf);
  }

  /** Each member votes `votes[i]` (null: does not vote at all; "commit-only": commits but never reveals). */
  async function vote(jobId: bigint, members: Awaited<ReturnType<typeof draw>>, votes: (string | null | "commit-only")[]) {
    const salts = members.map(() => salt());
    for (const [i, m] of members.entries()) {
      const choice = votes[i];
      if (choice === null) continue;
      const h = choice === "commit-only" ? randomId() : choice;
      await record("commitVote", v.dm.connect(m).commitVote(jobId, i, await v.dm.voteCommitment(jobId, m.address, h, salts[i])));
    }
    const d = await v.dm.getDispute(jobId);
    await networkHelpers.time.increaseTo(d.commitEnd + 1n);
    for (const [i, m] of members.entries()) {
      const choice = votes[i];
      if (choice === null || choice === "commit-only") continue;
      await record("revealVote", v.dm.connect(m).revealVote(jobId, i, choice, salts[i]));
    }
    await networkHelpers.time.increaseTo(d.revealEnd + 1n);
  }

  /** Conservation and bookkeeping that must hold after every scenario. */
  async function checkInvariants() {
    const slashedEvents = await v.staking.queryFilter(v.staking.filters.Slashed());
    const slashed = slashedEvents.reduce((a, e) => a + e.args.amount, 0n);
    let remaining = 0n;
    for (const op of v.ops) {
      const o = await v.staking.operator(op.address);
      remaining += o.stake + o.unbonding;
    }
    // Slashed amounts + remaining stakes == what was staked.
    expect(remaining + slashed).to.equal(STAKE * BigInt(OPERATORS));
    expect(await v.veil.balanceOf(await v.staking.getAddress())).to.equal(remaining);
    // No operator slashed twice for one fault.
    const ops = await v.dm.queryFilter(v.dm.filters.OperatorSlashed());
    const keys = ops.map((e) => `${e.args.jobId}:${e.args.operator}`);
    expect(new Set(keys).size).to.equal(keys.length);
    // Every dispute ends terminal; bonds always returned or distributed (the contract holds exactly what it owes).
    const started = await v.dm.queryFilter(v.dm.filters.DisputeStarted());
    for (const e of started) expect((await v.dm.getDispute(e.args.jobId)).status).to.equal(DSTATUS.Resolved);
    const credited = await v.dm.queryFilter(v.dm.filters.RewardCredited());
    const claimed = await v.dm.queryFilter(v.dm.filters.Claimed());
    const owed = credited.reduce((a, e) => a + e.args.amount, 0n) - claimed.reduce((a, e) => a + e.args.amount, 0n);
    expect(await v.dm.totalClaimable()).to.equal(owed);
    expect(await v.veil.balanceOf(await v.dm.getAddress())).to.equal(owed);
    // Nobody's collateral stays locked once every job and dispute is over.
    for (const op of v.ops) expect((await v.staking.operator(op.address)).locked).to.equal(0n);
  }

  it("deploys wired: DISPUTER role, on staking's protocol allowlist, governor-only setters, defaults inside the escrow windows", async () => {
    const dm = await v.dm.getAddress();
    expect((await v.manager.hasRole(ROLES.DISPUTER, dm))[0]).to.equal(true);
    expect(await v.staking.isProtocolContract(dm)).to.equal(true);
    const p = await v.dm.params();
    expect(p.operatorSlash).to.equal(D.operatorSlash);
    const fields = fieldsOf(p);
    await expect(v.dm.connect(v.outsider).setParams(fields)).to.be.revertedWithCustomError(v.dm, "AccessManagedUnauthorized");
    // The three windows must fit inside the escrow's dispute window (3 days) minus the 1-hour resolve grace.
    await expect(v.dm.setParams({ ...fields, commitWindow: 3n * 86400n })).to.be.revertedWithCustomError(v.dm, "DisputeManagerParameterOutOfBounds");
    await expect(v.dm.setParams({ ...fields, quorum: 2n })).to.be.revertedWithCustomError(v.dm, "DisputeManagerParameterOutOfBounds");
    await expect(v.dm.setParams({ ...fields, nonVoterSlash: D.memberCollateral + 1n })).to.be.revertedWithCustomError(v.dm, "DisputeManagerParameterOutOfBounds");
    await expect(v.dm.setParams({ ...fields, votersBps: 6_000n })).to.be.revertedWithCustomError(v.dm, "DisputeManagerParameterOutOfBounds");
    await expect(v.dm.setParams({ ...fields, committeeSize: 16n, quorum: 9n })).to.be.revertedWithCustomError(v.dm, "DisputeManagerParameterOutOfBounds");
    // The operator's stake cannot escape: unbonding outlasts the escrow's longest slashable window, which contains the dispute.
    expect(await v.staking.unbondingPeriod()).to.be.greaterThan(await v.escrow.longestSlashableWindow());
    await expect(v.dm.setParams({ ...fields, challengeBond: 1n })).to.emit(v.dm, "ParamsSet");
  });

  it("disagreement-committee-slash: honest majority vs one liar at k=3", async () => {
    const truth = randomId();
    const lie = randomId();
    const { jobId, operators } = await runJob([truth, truth, lie]);
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Disputed);
    await expect(record("startDisagreement", v.dm.startDisagreement(jobId))).to.emit(v.dm, "DisputeStarted");
    await expect(v.dm.startDisagreement(jobId)).to.be.revertedWithCustomError(v.dm, "DisputeManagerAlreadyDisputed");
    await expect(v.dm.drawCommittee(jobId)).to.be.revertedWithCustomError(v.dm, "DisputeManagerDrawTooEarly");
    const members = await draw(jobId);
    expect(members.length).to.equal(5);
    for (const m of members) expect(operators.map((o) => o.address)).to.not.include(m.address);
    await vote(jobId, members, members.map(() => truth));
    const liar = operators[2];
    await expect(record("resolve", v.dm.resolve(jobId)))
      .to.emit(v.dm, "OperatorSlashed").withArgs(jobId, liar.address, lie, D.operatorSlash);
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Finalized);
    expect((await v.escrow.getJob(jobId)).result).to.equal(truth);
    expect(await stakeOf(liar.address)).to.equal(STAKE - D.operatorSlash);
    for (const op of operators.slice(0, 2)) {
      expect(await stakeOf(op.address)).to.equal(STAKE);
      expect(await v.ledger.earningsOf(op.address)).to.be.greaterThan(0n);
    }
    expect(await v.ledger.earningsOf(liar.address)).to.equal(0n);
    // 20% of the 1,000 VEIL slashed to the 5 majority voters, the rest to the treasury (no challenger).
    const perVoter = (D.operatorSlash * D.votersBps) / 10_000n / 5n;
    for (const m of members) expect(await v.dm.claimable(m.address)).to.equal(perVoter);
    expect(await v.dm.claimable(v.treasury.address)).to.equal(D.operatorSlash - perVoter * 5n);
    await expect(v.dm.connect(members[0]).claim(members[0].address)).to.changeTokenBalance(ethers, v.veil, members[0], perVoter);
    await expect(v.dm.resolve(jobId)).to.be.revertedWithCustomError(v.dm, "DisputeManagerWrongStatus");
    await checkInvariants();
  });

  it("challenge-committee-slash: two colluding liars at k=2 caught by a challenge", async () => {
    const lie = randomId();
    const truth = randomId();
    const { jobId, operators } = await runJob([lie, lie]);
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Proposed);
    const before = await v.veil.balanceOf(v.challenger.address);
    await record("challenge", v.dm.connect(v.challenger).challenge(jobId));
    expect(await v.veil.balanceOf(v.challenger.address)).to.equal(before - D.challengeBond);
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Disputed);
    await expect(v.dm.connect(v.challenger).challenge(jobId)).to.be.revertedWithCustomError(v.dm, "DisputeManagerNotDisputed");
    const members = await draw(jobId);
    // Members reproduce `truth`, which no operator posted: it counts as NONE ("no result matches").
    await vote(jobId, members, members.map(() => truth));
    expect(await v.dm.votesFor(jobId, NONE)).to.equal(5n);
    const deposit = await v.ledger.depositOf(v.requester.address);
    await record("resolve", v.dm.resolve(jobId));
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Refunded);
    expect(await v.ledger.depositOf(v.requester.address)).to.equal(deposit + PRICE * 2n);
    for (const op of operators) expect(await stakeOf(op.address)).to.equal(STAKE - D.operatorSlash);
    const slashed = D.operatorSlash * 2n;
    const challengerShare = (slashed * D.challengerBps) / 10_000n;
    expect(await v.dm.claimable(v.challenger.address)).to.equal(D.challengeBond + challengerShare);
    const perVoter = (slashed * D.votersBps) / 10_000n / 5n;
    for (const m of members) expect(await v.dm.claimable(m.address)).to.equal(perVoter);
    expect(await v.dm.claimable(v.treasury.address)).to.equal(slashed - challengerShare - perVoter * 5n);
    await checkInvariants();
  });

  it("challenge-committee-upheld: a wrong challenge loses its bond to the operator, voters and treasury", async () => {
    const truth = randomId();
    const { jobId, operators } = await runJob([truth]);
    await record("challenge", v.dm.connect(v.challenger).challenge(jobId));
    const members = await draw(jobId);
    await vote(jobId, members, members.map(() => truth));
    await record("resolve", v.dm.resolve(jobId));
    const d = await v.dm.getDispute(jobId);
    expect(d.decided).to.equal(true);
    expect(d.winner).to.equal(truth);
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Finalized);
    expect(await stakeOf(operators[0].address)).to.equal(STAKE);
    expect(await v.dm.claimable(v.challenger.address)).to.equal(0n);
    const toOperator = (D.challengeBond * D.bondToOperatorsBps) / 10_000n;
    const perVoter = (D.challengeBond * D.votersBps) / 10_000n / 5n;
    expect(await v.dm.claimable(operators[0].address)).to.equal(toOperator);
    for (const m of members) expect(await v.dm.claimable(m.address)).to.equal(perVoter);
    expect(await v.dm.claimable(v.treasury.address)).to.equal(D.challengeBond - toOperator - perVoter * 5n);
    await expect(v.dm.connect(v.challenger).claim(v.challenger.address)).to.be.revertedWithCustomError(v.dm, "DisputeManagerNothingToClaim");
    await checkInvariants();
  });

  it("committee members not voting are slashed; below quorum nothing else is decided", async () => {
    const truth = randomId();
    const lie = randomId();
    // 3 of 5 vote: quorum met, the liar is slashed; 2 non-voters (one committed, never revealed) lose nonVoterSlash.
    const a = await runJob([truth, truth, lie]);
    await v.dm.startDisagreement(a.jobId);
    const ma = await draw(a.jobId);
    await vote(a.jobId, ma, [truth, truth, truth, null, "commit-only"]);
    await record("resolve", v.dm.resolve(a.jobId));
    for (const m of ma.slice(3)) expect(await stakeOf(m.address)).to.equal(STAKE - D.nonVoterSlash);
    for (const m of ma.slice(0, 3)) expect(await stakeOf(m.address)).to.equal(STAKE);
    expect(await stakeOf(a.operators[2].address)).to.equal(STAKE - D.operatorSlash);
    const pool = D.operatorSlash + 2n * D.nonVoterSlash;
    const perVoter = (pool * D.votersBps) / 10_000n / 3n;
    for (const m of ma.slice(0, 3)) expect(await v.dm.claimable(m.address)).to.equal(perVoter);

    // 2 of 5 vote: no quorum -> no decision: refund, only the 3 non-voters slashed, nobody else.
    const b = await runJob([truth, truth, lie]);
    await v.dm.startDisagreement(b.jobId);
    const mb = await draw(b.jobId);
    const stakes = await Promise.all(b.operators.map((o) => stakeOf(o.address)));
    const memberStakes = await Promise.all(mb.map((m) => stakeOf(m.address)));
    await vote(b.jobId, mb, [truth, truth, null, null, null]);
    await v.dm.resolve(b.jobId);
    const d = await v.dm.getDispute(b.jobId);
    expect(d.decided).to.equal(false);
    expect((await v.escrow.getJob(b.jobId)).status).to.equal(STATUS.Refunded);
    for (const [i, o] of b.operators.entries()) expect(await stakeOf(o.address)).to.equal(stakes[i]);
    for (const [i, m] of mb.entries()) {
      expect(await stakeOf(m.address)).to.equal(memberStakes[i] - (i < 2 ? 0n : D.nonVoterSlash));
    }
    await checkInvariants();
  });

  it("a tie is no decision: the job is refunded, the challenger's bond returned", async () => {
    const h1 = randomId();
    const { jobId, operators } = await runJob([h1]);
    await v.dm.connect(v.challenger).challenge(jobId);
    const members = await draw(jobId);
    // 2 for the posted result, 2 for NONE, 1 silent: 4 revealed >= quorum 3 but no strict majority.
    await vote(jobId, members, [h1, h1, NONE, NONE, null]);
    await v.dm.resolve(jobId);
    expect((await v.dm.getDispute(jobId)).decided).to.equal(false);
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Refunded);
    expect(await stakeOf(operators[0].address)).to.equal(STAKE);
    expect(await v.dm.claimable(v.challenger.address)).to.equal(D.challengeBond);
    await checkInvariants();
  });

  it("a dispute that runs past every deadline ends terminal with a refund", async () => {
    const { jobId, operators } = await runJob([randomId()]);
    await v.dm.connect(v.challenger).challenge(jobId);
    const d = await v.dm.getDispute(jobId);
    await expect(v.dm.resolve(jobId)).to.be.revertedWithCustomError(v.dm, "DisputeManagerNotResolvable");
    // Nobody draws: past drawBy the draw is closed; past the escrow's dispute window the escrow refunds by poke.
    await networkHelpers.time.increaseTo(d.drawBy + 1n);
    await expect(v.dm.drawCommittee(jobId)).to.be.revertedWithCustomError(v.dm, "DisputeManagerDrawExpired");
    const job = await v.escrow.getJob(jobId);
    await networkHelpers.time.increaseTo(job.phaseEnd + 1n);
    await v.escrow.poke(jobId);
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Refunded);
    await expect(v.dm.resolve(jobId)).to.emit(v.dm, "DisputeResolved").withArgs(jobId, false, NONE, 0, 0, 0);
    expect((await v.dm.getDispute(jobId)).status).to.equal(DSTATUS.Resolved);
    expect(await v.dm.claimable(v.challenger.address)).to.equal(D.challengeBond);
    expect(await stakeOf(operators[0].address)).to.equal(STAKE);
    await expect(v.dm.drawCommittee(jobId)).to.be.revertedWithCustomError(v.dm, "DisputeManagerWrongStatus");
    await checkInvariants();
  });

  it("re-targets the draw when the target block's hash is older than 256 blocks", async () => {
    const { jobId } = await runJob([randomId(), randomId()]);
    await v.dm.startDisagreement(jobId);
    const target = (await v.dm.getDispute(jobId)).drawBlock;
    await networkHelpers.mine(Number(D.drawDelayBlocks) + 300);
    const tx = v.dm.drawCommittee(jobId);
    await expect(tx).to.emit(v.dm, "DrawRetargeted");
    const next = (await v.dm.getDispute(jobId)).drawBlock;
    expect(next).to.be.greaterThan(target + 300n);
    expect(await ethers.provider.getBlockNumber()).to.be.greaterThan(Number(target) + 256);
    expect((await v.dm.getDispute(jobId)).status).to.equal(DSTATUS.Drawing);
    await expect(v.dm.drawCommittee(jobId)).to.be.revertedWithCustomError(v.dm, "DisputeManagerDrawTooEarly");
    const members = await draw(jobId);
    await vote(jobId, members, members.map(() => NONE));
    await v.dm.resolve(jobId);
    await checkInvariants();
  });

  it("rounding-boundary disagreement: two result hashes, the committee decides, a reproduced minority is spared", async () => {
    const up = randomId(); // e.g. 0.12345 rounded at the 5th place one way ...
    const down = randomId(); // ... and the other, on a different GPU
    const a = await runJob([up, down]);
    await v.dm.startDisagreement(a.jobId);
    const ma = await draw(a.jobId);
    await vote(a.jobId, ma, [up, up, up, down, down]);
    await v.dm.resolve(a.jobId);
    expect((await v.escrow.getJob(a.jobId)).result).to.equal(up);
    expect(await v.ledger.earningsOf(a.operators[0].address)).to.be.greaterThan(0n);
    expect(await v.ledger.earningsOf(a.operators[1].address)).to.equal(0n); // not paid ...
    expect(await stakeOf(a.operators[1].address)).to.equal(STAKE); // ... but not slashed: 2 members reproduced it
    // With a single member reproducing it (below boundaryVotes = 2), the minority result is treated as a fault.
    const b = await runJob([up, down]);
    await v.dm.startDisagreement(b.jobId);
    const mb = await draw(b.jobId);
    const downOp = b.operators[1].address;
    const before = await stakeOf(downOp);
    await vote(b.jobId, mb, [up, up, up, up, down]);
    await v.dm.resolve(b.jobId);
    expect(await stakeOf(downOp)).to.equal(before - D.operatorSlash);
    await checkInvariants();
  });

  it("the slash amount is fixed when the dispute starts; late stake has no vote", async () => {
    const truth = randomId();
    const lie = randomId();
    const { jobId, operators } = await runJob([truth, truth, lie]);
    await v.dm.startDisagreement(jobId);
    const fields = fieldsOf(await v.dm.params());
    await v.dm.setParams({ ...fields, operatorSlash: 3n * D.operatorSlash });
    const members = await draw(jobId);
    // A non-member stakes more after the draw: it still cannot vote.
    const outsiderOp = v.ops.find((o) => !members.includes(o) && !operators.includes(o))!;
    await v.staking.connect(outsiderOp).stake(STAKE);
    await expect(v.dm.connect(outsiderOp).commitVote(jobId, 0, randomId())).to.be.revertedWithCustomError(v.dm, "DisputeManagerNotMember");
    await vote(jobId, members, members.map(() => truth));
    await v.dm.resolve(jobId);
    expect(await stakeOf(operators[2].address)).to.equal(STAKE - D.operatorSlash);
    // Restore the outsider's extra stake for the conservation check.
    await v.staking.connect(outsiderOp).requestUnbond(STAKE);
    const slashedEvents = await v.staking.queryFilter(v.staking.filters.Slashed());
    const slashed = slashedEvents.reduce((a, e) => a + e.args.amount, 0n);
    let remaining = 0n;
    for (const op of v.ops) {
      const o = await v.staking.operator(op.address);
      remaining += o.stake + o.unbonding;
    }
    expect(remaining + slashed).to.equal(STAKE * BigInt(OPERATORS + 1));
  });

  it("votes are commit-reveal: bound to the member, reveals only after the commit window", async () => {
    const { jobId } = await runJob([randomId(), randomId()]);
    await v.dm.startDisagreement(jobId);
    const members = await draw(jobId);
    const [m0, m1] = members;
    const h = randomId();
    const s = salt();
    const c0 = await v.dm.voteCommitment(jobId, m0.address, h, s);
    await expect(v.dm.connect(m1).commitVote(jobId, 0, c0)).to.be.revertedWithCustomError(v.dm, "DisputeManagerNotMember");
    await expect(v.dm.connect(m0).commitVote(jobId, 0, NONE)).to.be.revertedWithCustomError(v.dm, "DisputeManagerZeroCommitment");
    await v.dm.connect(m0).commitVote(jobId, 0, c0);
    await expect(v.dm.connect(m0).commitVote(jobId, 0, c0)).to.be.revertedWithCustomError(v.dm, "DisputeManagerAlreadyCommitted");
    // m1 copies m0's commitment: it cannot reveal it, the commitment binds m0's address.
    await v.dm.connect(m1).commitVote(jobId, 1, c0);
    await expect(v.dm.connect(m0).revealVote(jobId, 0, h, s)).to.be.revertedWithCustomError(v.dm, "DisputeManagerRevealNotOpen");
    const d = await v.dm.getDispute(jobId);
    await networkHelpers.time.increaseTo(d.commitEnd + 1n);
    await expect(v.dm.connect(members[2]).commitVote(jobId, 2, c0)).to.be.revertedWithCustomError(v.dm, "DisputeManagerCommitClosed");
    await expect(v.dm.connect(m1).revealVote(jobId, 1, h, s)).to.be.revertedWithCustomError(v.dm, "DisputeManagerCommitmentMismatch");
    await expect(v.dm.connect(m0).revealVote(jobId, 0, h, salt())).to.be.revertedWithCustomError(v.dm, "DisputeManagerCommitmentMismatch");
    await expect(v.dm.connect(m0).revealVote(jobId, 0, h, s)).to.emit(v.dm, "VoteRevealed").withArgs(jobId, 0, m0.address, NONE);
    await expect(v.dm.connect(m0).revealVote(jobId, 0, h, s)).to.be.revertedWithCustomError(v.dm, "DisputeManagerAlreadyRevealed");
    await expect(v.dm.resolve(jobId)).to.be.revertedWithCustomError(v.dm, "DisputeManagerNotResolvable");
    await networkHelpers.time.increaseTo(d.revealEnd + 1n);
    await expect(v.dm.connect(m1).revealVote(jobId, 1, h, s)).to.be.revertedWithCustomError(v.dm, "DisputeManagerRevealClosed");
    await v.dm.resolve(jobId); // 1 revealed < quorum: no decision
    await checkInvariants();
  });

  it("challenges only within the escrow's challenge window, and too-late disagreements are refused", async () => {
    const { jobId } = await runJob([randomId()]);
    const job = await v.escrow.getJob(jobId);
    await networkHelpers.time.increaseTo(job.phaseEnd + 1n);
    await expect(v.dm.connect(v.challenger).challenge(jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWindowClosed");
    const b = await runJob([randomId(), randomId()]);
    const phaseEnd = (await v.escrow.getJob(b.jobId)).phaseEnd;
    // The escrow disputed it; taking it up with less than draw + commit + reveal + grace left is refused.
    await networkHelpers.time.increaseTo(phaseEnd - D.drawWindow - D.commitWindow - D.revealWindow);
    await expect(v.dm.startDisagreement(b.jobId)).to.be.revertedWithCustomError(v.dm, "DisputeManagerTooLate");
    await expect(v.dm.startDisagreement(jobId)).to.be.revertedWithCustomError(v.dm, "DisputeManagerNotDisputed");
  });

  it("invariants over a random sequence of disputes", async () => {
    const truth = randomId();
    const lie = randomId();
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 6; round++) {
      const k = 1 + rnd(3);
      const results = Array.from({ length: k }, () => (rnd(3) === 0 ? lie : truth));
      const { jobId } = await runJob(results);
      const status = (await v.escrow.getJob(jobId)).status;
      if (status === STATUS.Proposed) await v.dm.connect(v.challenger).challenge(jobId);
      else await v.dm.startDisagreement(jobId);
      const members = await draw(jobId);
      const choices = [truth, NONE, lie, null, "commit-only" as const];
      await vote(jobId, members, members.map(() => (rnd(4) === 0 ? choices[rnd(5)] : truth)));
      await v.dm.resolve(jobId);
      if (round % 2 === 1) {
        for (const s of [v.challenger, v.treasury, ...v.ops]) {
          if ((await v.dm.claimable(s.address)) > 0n) await v.dm.connect(s).claim(s.address);
        }
      }
      await checkInvariants();
    }
  });
});
