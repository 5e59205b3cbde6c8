import { expect } from "chai";
import { FunctionFragment } from "ethers";
import { network } from "hardhat";
import { deployVeil, fieldsOf, commitmentOf, submit, jobParams, PRICE, STATUS, randomId, type Veil } from "../helpers/fixture.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;
type Op = Veil["ops"][number];

/** Defined once, so loadFixture deploys once and reverts to the snapshot before each test. */
async function multicallFixture() {
  return deployVeil(connection);
}

/** JobEscrow.multicall: one transaction for many of the caller's own calls (OpenZeppelin Multicall). */
describe("JobEscrow multicall (batched posts)", () => {
  let v: Veil;
  beforeEach(async () => {
    v = await networkHelpers.loadFixture(multicallFixture);
  });

  /** Submits `n` jobs and groups them by assigned operator (slot index kept for k > 1). */
  async function jobsByOperator(n: number, redundancy = 1) {
    const mine = new Map<Op, { jobId: bigint; slot: number }[]>();
    for (let i = 0; i < n; i++) {
      const { jobId, operators } = await submit(connection, v, { redundancy });
      operators.forEach((op, slot) => mine.set(op, [...(mine.get(op) ?? []), { jobId, slot }]));
    }
    return mine;
  }

  it("an operator posts the results of several jobs in one transaction, as itself", async () => {
    const byOp = await jobsByOperator(8); // 8 jobs over 5 operators: one of them holds at least 2
    const [op, jobs] = [...byOp.entries()].sort((a, b) => b[1].length - a[1].length)[0];
    expect(jobs.length).to.be.greaterThanOrEqual(2);
    const results = jobs.map(() => randomId());
    const calls = jobs.map(({ jobId }, i) => v.escrow.interface.encodeFunctionData("submitResult", [jobId, results[i]]));
    const tx = v.escrow.connect(op).multicall(calls);
    for (const [i, { jobId }] of jobs.entries()) {
      await expect(tx).to.emit(v.escrow, "ResultRevealed").withArgs(jobId, 0, op.address, results[i]);
    }
    for (const { jobId } of jobs) expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Proposed);
  });

  it("one failing call reverts the whole batch with its own error", async () => {
    const byOp = await jobsByOperator(6);
    const [[a, aJobs], [, bJobs]] = [...byOp.entries()];
    const calls = [
      v.escrow.interface.encodeFunctionData("submitResult", [aJobs[0].jobId, randomId()]),
      v.escrow.interface.encodeFunctionData("submitResult", [bJobs[0].jobId, randomId()]), // not a's job
    ];
    await expect(v.escrow.connect(a).multicall(calls))
      .to.be.revertedWithCustomError(v.escrow, "JobEscrowNotAssigned").withArgs(bJobs[0].jobId, 0, a.address);
    expect((await v.escrow.getJob(aJobs[0].jobId)).status).to.equal(STATUS.Assigned);
  });

  it("k=3: each operator commits all its slots in one call, then reveals them in one call", async () => {
    const byOp = await jobsByOperator(4, 3);
    const result = randomId();
    const salts = new Map<string, string>();
    for (const [op, jobs] of byOp) {
      const calls = [];
      for (const { jobId, slot } of jobs) {
        const s = randomId();
        salts.set(`${jobId}/${slot}`, s);
        calls.push(v.escrow.interface.encodeFunctionData("commit", [jobId, slot, await commitmentOf(v, jobId, op.address, result, s)]));
      }
      await v.escrow.connect(op).multicall(calls);
    }
    for (const [op, jobs] of byOp) {
      const calls = jobs.map(({ jobId, slot }) => v.escrow.interface.encodeFunctionData("reveal", [jobId, slot, result, salts.get(`${jobId}/${slot}`)!]));
      await v.escrow.connect(op).multicall(calls);
    }
    const ids = new Set([...byOp.values()].flat().map((j) => j.jobId));
    expect(ids.size).to.equal(4);
    for (const id of ids) expect((await v.escrow.getJob(id)).result).to.equal(result);
  });

  it("guarded calls run in turn: deposit, two submissions from the deposit and finalizeMany in one transaction", async () => {
    const p = await jobParams(connection, v);
    const calls = [
      v.escrow.interface.encodeFunctionData("deposit", [PRICE * 2n]),
      v.escrow.interface.encodeFunctionData("submitJobFromDeposit", [p]),
      v.escrow.interface.encodeFunctionData("submitJobFromDeposit", [p]),
      v.escrow.interface.encodeFunctionData("finalizeMany", [[]]),
    ];
    // No record is free in this fixture: the two jobs get fresh records, ids recordCount + 1 and + 2.
    const before = await v.escrow.recordCount();
    expect(await v.escrow.nextJobId()).to.equal(before + 1n);
    const out = await v.escrow.connect(v.requester).multicall.staticCall(calls);
    expect(out.map((r: string, i: number) => (i === 1 || i === 2 ? BigInt(r) : r))).to.deep.equal(["0x", before + 1n, before + 2n, ethers.zeroPadValue("0x", 32)]);
    await v.escrow.connect(v.requester).multicall(calls);
    expect(await v.escrow.recordCount()).to.equal(before + 2n);
    expect(await v.escrow.depositOf(v.requester.address)).to.equal(0n);
  });

  it("a multicall re-entering during a token transfer still reverts (the guard is held by the outer call)", async () => {
    const token = await ethers.deployContract("CallbackERC20");
    const escrow2 = await ethers.deployContract("JobEscrow", [await v.manager.getAddress(), await token.getAddress(), await v.registry.getAddress(), await v.staking.getAddress(), fieldsOf(await v.escrow.params())]);
    const e2 = await escrow2.getAddress();
    const self = await token.getAddress();
    await token.mint(self, 1_000n);
    await token.execute(self, token.interface.encodeFunctionData("approve", [e2, ethers.MaxUint256]));
    await token.execute(e2, escrow2.interface.encodeFunctionData("deposit", [1_000n]));
    const withdraw = (amount: bigint) => escrow2.interface.encodeFunctionData("withdrawDeposit", [amount, self]);
    // The outer withdrawal runs inside a multicall; during its transfer the token calls multicall again.
    await token.arm(e2, escrow2.interface.encodeFunctionData("multicall", [[withdraw(1n)]]));
    await token.execute(e2, escrow2.interface.encodeFunctionData("multicall", [[withdraw(400n)]]));
    expect(await token.hookCalled()).to.equal(true);
    expect(await token.hookSucceeded()).to.equal(false);
    expect((await token.hookReturn()).slice(0, 10)).to.equal(escrow2.interface.getError("ReentrancyGuardReentrantCall")!.selector);
    expect(await escrow2.depositOf(self)).to.equal(600n);
    expect(await token.balanceOf(e2)).to.equal(600n);
  });

  it("no escrow function is payable (a delegatecall batch must never count msg.value twice)", async () => {
    const functions = v.escrow.interface.fragments.filter((f) => FunctionFragment.isFragment(f));
    expect(functions.length).to.be.greaterThan(10);
    expect(functions.filter((f) => f.payable).map((f) => f.name)).to.deep.equal([]);
    await expect(v.requester.sendTransaction({ to: await v.escrow.getAddress(), value: 1n })).to.be.revert(ethers);
  });
});
