import { expect } from "chai";
import { network } from "hardhat";
import { deployVeil, commitmentOf, submit, STATUS, P, PRICE, salt, randomId, type Veil } from "../helpers/fixture.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;

/** Defined once, so loadFixture deploys once and reverts to the snapshot before each test. */
async function fixture() {
  return deployVeil(connection);
}

describe("job lifecycle", () => {
  let v: Veil;
  beforeEach(async () => {
    v = await networkHelpers.loadFixture(fixture);
  });

  it("stake-submit-result-finalize-withdraw at k=1", async () => {
    const { jobId, operators } = await submit(connection, v);
    const op = operators[0];
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Assigned);
    const result = randomId();
    await expect(v.escrow.connect(op).submitResult(jobId, result)).to.emit(v.escrow, "ResultProposed");
    await expect(v.escrow.finalize(jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWindowOpen");
    await networkHelpers.time.increase(P.challengeWindow + 1n);
    await expect(v.escrow.finalize(jobId)).to.emit(v.escrow, "JobFinalized");
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Finalized);
    const earned = await v.ledger.earningsOf(op.address);
    // 10% royalty, 5% treasury, 5% stakers -> 80% to the operator
    expect(earned).to.equal((PRICE * 8000n) / 10000n);
    await expect(v.ledger.connect(op).withdrawEarnings(op.address)).to.changeTokenBalance(ethers, v.usdc, op, earned);
    expect(await v.staking.freeStake(op.address)).to.equal((await v.staking.operator(op.address)).stake);
  });

  it("stake-submit-commit-reveal-finalize at k=3", async () => {
    const { jobId, operators } = await submit(connection, v, { redundancy: 3 });
    expect(new Set(operators.map((o) => o.address)).size).to.equal(3);
    const result = randomId();
    const salts = operators.map(() => salt());
    for (const [i, op] of operators.entries()) {
      const c = await commitmentOf(v, jobId, op.address, result, salts[i]);
      await v.escrow.connect(op).commit(jobId, i, c);
    }
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Revealing);
    for (const [i, op] of operators.entries()) await v.escrow.connect(op).reveal(jobId, i, result, salts[i]);
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Proposed);
    await networkHelpers.time.increase(P.challengeWindow + 1n);
    await v.escrow.finalize(jobId);
    const job = await v.escrow.getJob(jobId);
    expect(job.result).to.equal(result);
    for (const op of operators) expect(await v.ledger.earningsOf(op.address)).to.equal((PRICE * 3n * 8000n) / 10000n / 3n);
  });
});
