import { expect } from "chai";
import { FunctionFragment } from "ethers";
import { network } from "hardhat";
import { deployVeil, fieldsOf, commitmentOf, submit, jobParams, jobIdOf, inputHashOf, nextJobId, PRICE, STATUS, randomId, type Veil } from "../helpers/fixture.js";

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

  it("guarded calls run in turn: a submission by transfer, two from the deposit and finalizeMany in one transaction", async () => {
    // Deposits are the ledger's: fund one first, then batch the escrow's guarded calls.
    await v.ledger.connect(v.requester).deposit(PRICE * 2n);
    const p = await jobParams(connection, v);
    const q = { ...p, input: "0x" + "cd".repeat(64) };
    const calls = [
      v.escrow.interface.encodeFunctionData("submitJob", [q]),
      v.escrow.interface.encodeFunctionData("submitJobFromDeposit", [p]),
      v.escrow.interface.encodeFunctionData("submitJobFromDeposit", [p]),
      v.escrow.interface.encodeFunctionData("finalizeMany", [[]]),
    ];
    // No record is free in this fixture: the jobs get fresh records recordCount + 1, + 2, + 3, generation 0,
    // each tagged with its own input.
    const before = await v.escrow.recordCount();
    expect(await nextJobId(v, q)).to.equal(jobIdOf(before + 1n, 0, v.modelId, inputHashOf(q)));
    const out = await v.escrow.connect(v.requester).multicall.staticCall(calls);
    expect(out.map((r: string, i: number) => (i < 3 ? BigInt(r) : r))).to.deep.equal([
      jobIdOf(before + 1n, 0, v.modelId, inputHashOf(q)),
      jobIdOf(before + 2n, 0, v.modelId, inputHashOf(p)),
      jobIdOf(before + 3n, 0, v.modelId, inputHashOf(p)),
      ethers.zeroPadValue("0x", 32),
    ]);
    await expect(v.escrow.connect(v.requester).multicall(calls)).to.changeTokenBalances(ethers, v.usdc, [v.requester, v.ledger], [-PRICE, PRICE]);
    expect(await v.escrow.recordCount()).to.equal(before + 3n);
    expect(await v.ledger.depositOf(v.requester.address)).to.equal(0n);
  });

  it("a multicall re-entering during a token transfer still reverts (the guard is held by the outer call)", async () => {
    const token = await ethers.deployContract("CallbackERC20");
    const deployed = await ethers.deployContract("JobEscrow", [await v.manager.getAddress(), await token.getAddress(), await v.registry.getAddress(), await v.staking.getAddress(), fieldsOf(await v.escrow.params())]);
    const escrow2 = await ethers.getContractAt("IVeilEscrow", await deployed.getAddress());
    const e2 = await escrow2.getAddress();
    const l2 = await escrow2.ledger();
    const self = await token.getAddress();
    await v.staking.setProtocolContract(e2, true);
    await token.mint(self, PRICE * 2n);
    await token.execute(self, token.interface.encodeFunctionData("approve", [l2, ethers.MaxUint256]));
    const p = await jobParams(connection, v);
    const id = await escrow2.nextJobId(p.modelId, inputHashOf(p));
    const batch = (calls: string[]) => escrow2.interface.encodeFunctionData("multicall", [calls]);
    // The outer submission runs inside a multicall; while the ledger pulls its fee, the token calls multicall again.
    await token.arm(e2, batch([escrow2.interface.encodeFunctionData("finalizeMany", [[id]])]));
    await token.execute(e2, batch([escrow2.interface.encodeFunctionData("submitJob", [p])]));
    expect(await token.hookCalled()).to.equal(true);
    expect(await token.hookSucceeded()).to.equal(false);
    expect((await token.hookReturn()).slice(0, 10)).to.equal(escrow2.interface.getError("ReentrancyGuardReentrantCall")!.selector);
    expect((await escrow2.getJob(id)).status).to.equal(STATUS.Assigned);
    expect(await escrow2.recordCount()).to.equal(1n);
    expect(await token.balanceOf(l2)).to.equal(PRICE);
    expect(await token.balanceOf(self)).to.equal(PRICE);
  });

  it("no escrow function is payable (a delegatecall batch must never count msg.value twice)", async () => {
    const functions = v.escrow.interface.fragments.filter((f) => FunctionFragment.isFragment(f));
    expect(functions.length).to.be.greaterThan(10);
    expect(functions.filter((f) => f.payable).map((f) => f.name)).to.deep.equal([]);
    await expect(v.requester.sendTransaction({ to: await v.escrow.getAddress(), value: 1n })).to.be.revert(ethers);
    // Nor is any of the ledger's, which holds the balances.
    expect(v.ledger.interface.fragments.filter((f) => FunctionFragment.isFragment(f) && f.payable).map((f) => (f as FunctionFragment).name)).to.deep.equal([]);
    await expect(v.requester.sendTransaction({ to: await v.ledger.getAddress(), value: 1n })).to.be.revert(ethers);
  });
});
