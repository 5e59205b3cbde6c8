import { expect } from "chai";
import type { BaseContract } from "ethers";
import { network } from "hardhat";
import { deployVeil, fieldsOf, commitmentOf, submit, jobParams, modelParams, now, nextJobId, inputHashOf, STATUS, P, PRICE, USDC, STAKE, E18, salt, randomId, type Veil } from "../helpers/fixture.js";
import { ROLES } from "../../ignition/modules/roles.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;
const { time } = networkHelpers;

const REFUND = { DeadlinePassed: 0n, NoReveals: 1n, DisputeUnresolved: 2n, NoValidResult: 3n };
const PHASE = { Assigned: 1n, Revealing: 2n };
const BPS = 10_000n;
/** A struct returned by ethers as a plain object (to pass back as an argument). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
/** Per-operator share at the default split (10% royalty, 5% treasury, 5% stakers) of `fee` among `n`. */
const perOp = (fee: bigint, n: bigint) => (fee - (fee * 1000n) / BPS - (fee * 500n) / BPS - (fee * 500n) / BPS) / n;

async function deploy() {
  const v = await deployVeil(connection);
  const disputer = v.signers[15];
  await v.manager.grantRole(ROLES.DISPUTER, disputer.address, 0);
  const index = (await v.registry.getModel(v.modelId)).index;
  return { ...v, disputer, index };
}
type Env = Awaited<ReturnType<typeof deploy>>;

async function commitAll(v: Env, jobId: bigint, ops: Veil["ops"], results: string[], skip: number[] = []) {
  const salts = ops.map(() => salt());
  for (const [i, op] of ops.entries()) {
    if (skip.includes(i)) continue;
    await v.escrow.connect(op).commit(jobId, i, await commitmentOf(v, jobId, op.address, results[i], salts[i]));
  }
  return salts;
}

/** Everything a rejected submission must leave untouched. */
async function books(v: Env) {
  return {
    escrow: await v.usdc.balanceOf(await v.escrow.getAddress()),
    ledger: await v.usdc.balanceOf(await v.ledger.getAddress()),
    requester: await v.usdc.balanceOf(v.requester.address),
    deposit: await v.ledger.depositOf(v.requester.address),
    records: await v.escrow.recordCount(),
    nextJobId: await nextJobId(v),
    locked: await Promise.all(v.ops.map(async (o) => (await v.staking.operator(o.address)).locked)),
  };
}

describe("JobEscrow", () => {
  let v: Env;
  beforeEach(async () => {
    v = await networkHelpers.loadFixture(deploy);
  });

  describe("integration flows", () => {
    it("stake-register-deposit-submitFromDeposit-result-finalize-withdraw at k=1", async () => {
      await expect(v.ledger.connect(v.requester).deposit(PRICE * 2n))
        .to.emit(v.ledger, "Deposited").withArgs(v.requester.address, v.requester.address, PRICE * 2n);
      const { jobId, operators: [op] } = await submit(connection, v, {}, "deposit");
      expect(await v.ledger.depositOf(v.requester.address)).to.equal(PRICE);
      expect((await v.staking.operator(op.address)).locked).to.equal(P.collateral);
      const result = randomId();
      await v.escrow.connect(op).submitResult(jobId, result);
      await time.increase(P.challengeWindow + 1n);
      await expect(v.escrow.finalize(jobId)).to.emit(v.escrow, "JobFinalized")
        .withArgs(jobId, result, 1, PRICE, 0, PRICE / 10n, PRICE / 20n, PRICE / 20n, perOp(PRICE, 1n));
      expect((await v.staking.operator(op.address)).locked).to.equal(0n);
      await expect(v.ledger.connect(op).withdrawEarnings(op.address)).to.changeTokenBalance(ethers, v.usdc, op, perOp(PRICE, 1n));
      await expect(v.ledger.connect(v.modelOwner).withdrawEarnings(v.modelOwner.address)).to.changeTokenBalance(ethers, v.usdc, v.modelOwner, PRICE / 10n);
      await expect(v.ledger.withdrawTreasury()).to.changeTokenBalance(ethers, v.usdc, v.treasury, PRICE / 20n);
      await expect(v.ledger.distributeStakerRewards()).to.emit(v.staking, "RewardsNotified");
      await expect(v.ledger.connect(v.requester).withdrawDeposit(PRICE, v.requester.address))
        .to.emit(v.ledger, "DepositWithdrawn").withArgs(v.requester.address, v.requester.address, PRICE);
      expect(await v.usdc.balanceOf(await v.ledger.getAddress())).to.equal(0n);
      expect(await v.usdc.balanceOf(await v.escrow.getAddress())).to.equal(0n);
      const job = await v.escrow.getJob(jobId);
      expect(job.status).to.equal(STATUS.Finalized);
      expect(job.result).to.equal(result);
      expect(job.modelId).to.equal(v.modelId);
    });

    it("submit-with-permit-commit-reveal-finalize at k=3", async () => {
      const p = await jobParams(connection, v, { redundancy: 3 });
      const ledgerAddr = await v.ledger.getAddress();
      await v.usdc.connect(v.requester).approve(ledgerAddr, 0n);
      const deadline = (await now(connection)) + 3600n;
      const sig = ethers.Signature.from(await v.requester.signTypedData(
        { name: "Mock USD Coin", version: "1", chainId: (await ethers.provider.getNetwork()).chainId, verifyingContract: await v.usdc.getAddress() },
        { Permit: [{ name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }] },
        { owner: v.requester.address, spender: ledgerAddr, value: PRICE * 3n, nonce: 0n, deadline },
      ));
      // One transaction, no prior approval: multicall(permitFeeToken, submitJob).
      const batch = [
        v.escrow.interface.encodeFunctionData("permitFeeToken", [PRICE * 3n, deadline, sig.v, sig.r, sig.s]),
        v.escrow.interface.encodeFunctionData("submitJob", [p]),
      ];
      const jobId = await nextJobId(v, p);
      await expect(v.escrow.connect(v.requester).multicall(batch))
        .to.changeTokenBalances(ethers, v.usdc, [v.requester, v.ledger, v.escrow], [-PRICE * 3n, PRICE * 3n, 0n]);
      expect(await v.usdc.allowance(v.requester.address, ledgerAddr)).to.equal(0n);
      const job = await v.escrow.getJob(jobId);
      const ops = job.operators.map((a: string) => v.ops.find((o) => o.address === a)!);
      const result = randomId();
      const salts = await commitAll(v, jobId, ops, [result, result, result]);
      expect((await v.escrow.getJob(jobId)).commitMask).to.equal(7n);
      for (const [i, op] of ops.entries()) await v.escrow.connect(op).reveal(jobId, i, result, salts[i]);
      await time.increase(P.challengeWindow + 1n);
      await v.escrow.finalize(jobId);
      for (const op of ops) expect(await v.ledger.earningsOf(op.address)).to.equal(perOp(PRICE * 3n, 3n));
    });

    it("front-run permit: the allowance set by the permit is still used", async () => {
      const p = await jobParams(connection, v);
      // The requester already approved in the fixture; a garbage signature is swallowed and the allowance pays.
      const batch = [
        v.escrow.interface.encodeFunctionData("permitFeeToken", [PRICE, 0n, 27, ethers.ZeroHash, ethers.ZeroHash]),
        v.escrow.interface.encodeFunctionData("submitJob", [p]),
      ];
      await expect(v.escrow.connect(v.requester).multicall(batch)).to.emit(v.escrow, "JobSubmitted");
    });

    it("a failed permit without an allowance: the submission reverts on the missing allowance, nothing moves", async () => {
      const p = await jobParams(connection, v);
      await v.usdc.connect(v.requester).approve(await v.ledger.getAddress(), 0n);
      const batch = [
        v.escrow.interface.encodeFunctionData("permitFeeToken", [PRICE, 0n, 27, ethers.ZeroHash, ethers.ZeroHash]),
        v.escrow.interface.encodeFunctionData("submitJob", [p]),
      ];
      const before = await nextJobId(v, p);
      await expect(v.escrow.connect(v.requester).multicall(batch)).to.be.revertedWithCustomError(v.usdc, "ERC20InsufficientAllowance");
      expect(await nextJobId(v, p)).to.equal(before);
      expect(await v.escrow.recordCount()).to.equal(0n);
    });

    it("claim-miss-commit-slash-reassign-complete at k=1", async () => {
      const { jobId, operators: [old] } = await submit(connection, v);
      const stakeBefore = (await v.staking.operator(old.address)).stake;
      await time.increase(P.commitWindow + 1n);
      const tx = v.escrow.poke(jobId);
      await expect(tx).to.emit(v.escrow, "SlotMissed").withArgs(jobId, 0, old.address, PHASE.Assigned, P.missPenalty);
      await expect(tx).to.emit(v.staking, "Slashed").withArgs(old.address, P.missPenalty, 0, v.treasury.address);
      expect((await v.staking.operator(old.address)).stake).to.equal(stakeBefore - P.missPenalty);
      expect((await v.staking.operator(old.address)).locked).to.equal(0n);
      expect(await v.veil.balanceOf(v.treasury.address)).to.equal(P.missPenalty);
      const job = await v.escrow.getJob(jobId);
      expect(job.status).to.equal(STATUS.Assigned);
      const fresh = v.ops.find((o) => o.address === job.operators[0])!;
      expect(fresh.address).to.not.equal(old.address);
      await expect(v.escrow.connect(old).submitResult(jobId, randomId()))
        .to.be.revertedWithCustomError(v.escrow, "JobEscrowNotAssigned").withArgs(jobId, 0, old.address);
      await v.escrow.connect(fresh).submitResult(jobId, randomId());
      await time.increase(P.challengeWindow + 1n);
      await v.escrow.poke(jobId); // poke finalizes a proposed job past its window
      expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Finalized);
      expect(await v.ledger.earningsOf(fresh.address)).to.equal(perOp(PRICE, 1n));
      expect(await v.ledger.earningsOf(old.address)).to.equal(0n);
    });

    it("claim-miss-deadline-slash-refund: no time left refunds the requester in full", async () => {
      const t = await now(connection);
      const { jobId } = await submit(connection, v, { deadline: t + P.commitWindow + 30n });
      await time.increase(P.commitWindow + 1n);
      await expect(v.escrow.poke(jobId)).to.emit(v.escrow, "JobRefunded").withArgs(jobId, v.requester.address, PRICE, REFUND.DeadlinePassed);
      expect(await v.ledger.depositOf(v.requester.address)).to.equal(PRICE);
      await expect(v.ledger.connect(v.requester).withdrawDeposit(PRICE, v.requester.address)).to.changeTokenBalance(ethers, v.usdc, v.requester, PRICE);
    });

    it("k=3 miss commit: committed operators are released without pay when no replacement fits", async () => {
      const t = await now(connection);
      const { jobId, operators } = await submit(connection, v, { redundancy: 3, deadline: t + P.commitWindow + P.revealWindow + 30n });
      await commitAll(v, jobId, operators, [randomId(), randomId(), randomId()], [2]);
      await time.increase(P.commitWindow + 1n);
      await expect(v.escrow.poke(jobId)).to.emit(v.escrow, "JobRefunded").withArgs(jobId, v.requester.address, PRICE * 3n, REFUND.DeadlinePassed);
      for (const op of operators) expect((await v.staking.operator(op.address)).locked).to.equal(0n);
      expect((await v.staking.operator(operators[2].address)).stake).to.equal(STAKE - P.missPenalty);
    });

    it("k=3 miss commit with time left: only the missing slot is replaced, excluding every current operator", async () => {
      const { jobId, operators } = await submit(connection, v, { redundancy: 3 });
      const r = randomId();
      const salts = await commitAll(v, jobId, operators, [r, r, r], [1]);
      await time.increase(P.commitWindow + 1n);
      await v.escrow.poke(jobId);
      const job = await v.escrow.getJob(jobId);
      expect(job.operators[0]).to.equal(operators[0].address);
      expect(job.operators[2]).to.equal(operators[2].address);
      expect(operators.map((o) => o.address)).to.not.include(job.operators[1]);
      const fresh = v.ops.find((o) => o.address === job.operators[1])!;
      const s1 = salt();
      await v.escrow.connect(fresh).commit(jobId, 1, await commitmentOf(v, jobId, fresh.address, r, s1));
      await v.escrow.connect(operators[0]).reveal(jobId, 0, r, salts[0]);
      await v.escrow.connect(fresh).reveal(jobId, 1, r, s1);
      await v.escrow.connect(operators[2]).reveal(jobId, 2, r, salts[2]);
      expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Proposed);
    });

    it("k=3 one operator misses reveal: slashed, its share refunded, the others paid", async () => {
      const { jobId, operators } = await submit(connection, v, { redundancy: 3 });
      const r = randomId();
      const salts = await commitAll(v, jobId, operators, [r, r, r]);
      await v.escrow.connect(operators[0]).reveal(jobId, 0, r, salts[0]);
      await v.escrow.connect(operators[1]).reveal(jobId, 1, r, salts[1]);
      await expect(v.escrow.poke(jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWindowOpen");
      await time.increase(P.revealWindow + 1n);
      await expect(v.escrow.poke(jobId)).to.emit(v.escrow, "SlotMissed").withArgs(jobId, 2, operators[2].address, PHASE.Revealing, P.missPenalty);
      expect((await v.escrow.getJob(jobId)).missedMask).to.equal(4n);
      await time.increase(P.challengeWindow + 1n);
      await expect(v.escrow.finalize(jobId)).to.emit(v.escrow, "JobFinalized");
      expect(await v.ledger.depositOf(v.requester.address)).to.equal(PRICE);
      expect(await v.ledger.earningsOf(operators[0].address)).to.equal(perOp(PRICE * 2n, 2n));
      expect(await v.ledger.earningsOf(operators[2].address)).to.equal(0n);
      for (const op of operators) expect((await v.staking.operator(op.address)).locked).to.equal(0n);
    });

    it("k=3 all miss reveal: every operator slashed, requester refunded in full", async () => {
      const { jobId, operators } = await submit(connection, v, { redundancy: 3 });
      await commitAll(v, jobId, operators, [randomId(), randomId(), randomId()]);
      await time.increase(P.revealWindow + 1n);
      await expect(v.escrow.poke(jobId)).to.emit(v.escrow, "JobRefunded").withArgs(jobId, v.requester.address, PRICE * 3n, REFUND.NoReveals);
      for (const op of operators) {
        const o = await v.staking.operator(op.address);
        expect(o.stake).to.equal(STAKE - P.missPenalty);
        expect(o.locked).to.equal(0n);
      }
    });

    it("disagreement-dispute-window-passes-poke-refund", async () => {
      const { jobId, operators } = await submit(connection, v, { redundancy: 3 });
      const results = [randomId(), randomId(), randomId()];
      const salts = await commitAll(v, jobId, operators, results);
      await v.escrow.connect(operators[0]).reveal(jobId, 0, results[0], salts[0]);
      await v.escrow.connect(operators[1]).reveal(jobId, 1, results[1], salts[1]);
      await expect(v.escrow.connect(operators[2]).reveal(jobId, 2, results[2], salts[2]))
        .to.emit(v.escrow, "JobDisputed").withArgs(jobId, 0, (await now(connection)) + 1n + P.disputeWindow);
      await expect(v.escrow.finalize(jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWrongStatus").withArgs(jobId, STATUS.Disputed);
      await time.increase(P.disputeWindow + 1n);
      await expect(v.escrow.poke(jobId)).to.emit(v.escrow, "JobRefunded").withArgs(jobId, v.requester.address, PRICE * 3n, REFUND.DisputeUnresolved);
      for (const op of operators) expect((await v.staking.operator(op.address)).locked).to.equal(0n);
    });

    it("DISPUTER opens a challenge and resolves for one result: only matching operators are paid", async () => {
      const { jobId, operators } = await submit(connection, v, { redundancy: 3 });
      const [good, bad] = [randomId(), randomId()];
      const results = [good, good, bad];
      const salts = await commitAll(v, jobId, operators, results);
      for (const [i, op] of operators.entries()) await v.escrow.connect(op).reveal(jobId, i, results[i], salts[i]);
      await expect(v.escrow.connect(v.disputer).resolveDispute(jobId, good)).to.emit(v.escrow, "JobFinalized");
      expect((await v.escrow.getJob(jobId)).result).to.equal(good);
      expect(await v.ledger.earningsOf(operators[2].address)).to.equal(0n);
      expect(await v.ledger.depositOf(v.requester.address)).to.equal(PRICE);
    });

    it("DISPUTER challenges a proposed k=1 result and finds none valid: refund", async () => {
      const { jobId, operators: [op] } = await submit(connection, v);
      await v.escrow.connect(op).submitResult(jobId, randomId());
      await expect(v.escrow.connect(v.disputer).openDispute(jobId)).to.emit(v.escrow, "JobDisputed");
      await expect(v.escrow.connect(v.disputer).resolveDispute(jobId, ethers.ZeroHash))
        .to.emit(v.escrow, "JobRefunded").withArgs(jobId, v.requester.address, PRICE, REFUND.NoValidResult);
      expect((await v.staking.operator(op.address)).locked).to.equal(0n);
      await expect(v.escrow.connect(v.disputer).resolveDispute(jobId, ethers.ZeroHash))
        .to.be.revertedWithCustomError(v.escrow, "JobEscrowWrongStatus").withArgs(jobId, STATUS.Refunded);
    });

    it("openDispute after the challenge window is rejected", async () => {
      const { jobId, operators: [op] } = await submit(connection, v);
      await v.escrow.connect(op).submitResult(jobId, randomId());
      await time.increase(P.challengeWindow + 1n);
      await expect(v.escrow.connect(v.disputer).openDispute(jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWindowClosed");
      await expect(v.escrow.connect(v.disputer).openDispute(999n)).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(999n);
    });

    it("a model royalty above the governance cap is paid at the cap", async () => {
      await v.registry.connect(v.modelOwner).setRoyalty(v.modelId, 5_000);
      const { jobId, operators: [op] } = await submit(connection, v);
      await v.escrow.connect(op).submitResult(jobId, randomId());
      await time.increase(P.challengeWindow + 1n);
      const royalty = (PRICE * P.maxRoyaltyBps) / BPS;
      await v.escrow.finalize(jobId);
      expect(await v.ledger.earningsOf(v.modelOwner.address)).to.equal(royalty);
      expect(await v.ledger.earningsOf(op.address)).to.equal(PRICE - royalty - PRICE / 10n);
    });

    it("finalizeMany settles ready jobs and skips unready, unknown and duplicate ones", async () => {
      const a = await submit(connection, v);
      await v.escrow.connect(a.operators[0]).submitResult(a.jobId, randomId());
      await time.increase(P.challengeWindow + 1n);
      const b = await submit(connection, v);
      await v.escrow.connect(b.operators[0]).submitResult(b.jobId, randomId()); // b's window still open
      const settled = await v.escrow.finalizeMany.staticCall([a.jobId, b.jobId, a.jobId, 77n]);
      expect(settled).to.equal(1n);
      await v.escrow.finalizeMany([a.jobId, b.jobId, a.jobId, 77n]);
      expect((await v.escrow.getJob(a.jobId)).status).to.equal(STATUS.Finalized);
      expect((await v.escrow.getJob(b.jobId)).status).to.equal(STATUS.Proposed);
    });
  });

  describe("bad input: a clear error and nothing moves", () => {
    async function rejects(overrides: Record<string, unknown>, contract: BaseContract, error: string, args: (p: { deadline: bigint }, ts: bigint) => unknown[], mode: "transfer" | "deposit" = "transfer") {
      const before = await books(v);
      const ts = (await now(connection)) + 10n;
      await time.setNextBlockTimestamp(ts);
      const p = { ...(await jobParams(connection, v)), deadline: ts + 3600n, ...overrides };
      const call = mode === "transfer" ? v.escrow.connect(v.requester).submitJob(p) : v.escrow.connect(v.requester).submitJobFromDeposit(p);
      await expect(call).to.be.revertedWithCustomError(contract, error).withArgs(...args(p, ts));
      expect(await books(v)).to.deep.equal(before);
    }

    it("empty input", () => rejects({ input: "0x" }, v.escrow, "JobEscrowEmptyInput", () => []));
    it("both inline input and URI", () => rejects({ inputURI: "ipfs://x" }, v.escrow, "JobEscrowAmbiguousInput", () => []));
    it("oversized inline input", () => rejects({ input: "0x" + "00".repeat(Number(P.maxInputBytes) + 1) }, v.escrow, "JobEscrowInputTooLarge", () => [P.maxInputBytes + 1n, P.maxInputBytes]));
    it("oversized input URI", () => rejects({ input: "0x", inputURI: "x".repeat(2049), inputHash: randomId() }, v.escrow, "JobEscrowInputTooLarge", () => [2049n, 2048n]));
    it("input URI without its hash", () => rejects({ input: "0x", inputURI: "ipfs://x" }, v.escrow, "JobEscrowMissingInputHash", () => []));
    it("unknown model", () => { const id = randomId(); return rejects({ modelId: id }, v.registry, "ModelRegistryUnknownModel", () => [id]); });
    it("inactive model", async () => {
      await v.registry.connect(v.modelOwner).setActive(v.modelId, false);
      await rejects({}, v.escrow, "JobEscrowModelInactive", () => [v.modelId]);
    });
    it("past deadline", () => rejects({ deadline: 1n }, v.escrow, "JobEscrowDeadlineTooSoon", (_p, ts) => [1n, ts + P.commitWindow]));
    it("deadline too soon for k=1", async () => {
      const ts = (await now(connection)) + 10n;
      await rejects({ deadline: ts + P.commitWindow - 1n }, v.escrow, "JobEscrowDeadlineTooSoon", (p, t) => [p.deadline, t + P.commitWindow]);
    });
    it("deadline too soon for k=3 (needs the reveal window too)", async () => {
      const ts = (await now(connection)) + 10n;
      await rejects({ redundancy: 3, deadline: ts + P.commitWindow + 1n }, v.escrow, "JobEscrowDeadlineTooSoon", (p, t) => [p.deadline, t + P.commitWindow + P.revealWindow]);
    });
    it("deadline too late", async () => {
      const ts = (await now(connection)) + 10n;
      await rejects({ deadline: ts + P.maxJobDuration + 1n }, v.escrow, "JobEscrowDeadlineTooLate", (p, t) => [p.deadline, t + P.maxJobDuration]);
    });
    it("fee above maxFee", () => rejects({ redundancy: 3, maxFee: PRICE * 3n - 1n }, v.escrow, "JobEscrowFeeAboveMax", () => [PRICE * 3n, PRICE * 3n - 1n]));
    it("price below the minimum (spam of cheap jobs)", async () => {
      const id = randomId();
      await v.registry.connect(v.modelOwner).registerModel(id, modelParams({ price: P.minPrice - 1n }));
      await rejects({ modelId: id }, v.escrow, "JobEscrowPriceBelowMinimum", () => [id, P.minPrice - 1n, P.minPrice]);
    });
    it("k above the eligible operators", () => rejects({ redundancy: 6 }, v.staking, "NodeStakingNotEnoughOperators", () => [v.index, 6n, 5n]));
    it("k above 7", () => rejects({ redundancy: 8 }, v.escrow, "JobEscrowInvalidRedundancy", () => [8n, 7n]));
    it("deposit too small for submitJobFromDeposit", () => rejects({}, v.ledger, "FeeLedgerInsufficientDeposit", () => [v.requester.address, 0n, PRICE], "deposit"));
    it("no allowance for transferFrom", async () => {
      const spender = await v.ledger.getAddress();
      await v.usdc.connect(v.requester).approve(spender, 0n);
      await rejects({}, v.usdc, "ERC20InsufficientAllowance", () => [spender, 0n, PRICE]);
    });
    it("the model's default k is used when redundancy is 0", async () => {
      const { jobId } = await submit(connection, v, { redundancy: 0 });
      expect((await v.escrow.getJob(jobId)).redundancy).to.equal(1n);
    });
    it("uint72 price boundary: the largest storable price works at k=1, its double exceeds any maxFee, one more is rejected", async () => {
      const id = randomId();
      const max = 2n ** 72n - 1n; // a job stores its price in 72 bits
      await v.registry.connect(v.modelOwner).registerModel(id, modelParams({ price: max }));
      for (const op of v.ops) await v.staking.connect(op).joinModel(id);
      await v.usdc.mint(v.requester.address, max);
      const { jobId } = await submit(connection, v, { modelId: id, maxFee: max });
      expect((await v.escrow.getJob(jobId)).price).to.equal(max);
      await rejects({ modelId: id, redundancy: 2, maxFee: max }, v.escrow, "JobEscrowFeeAboveMax", () => [max * 2n, max]);
      await v.registry.connect(v.modelOwner).setPrice(id, max + 1n);
      await rejects({ modelId: id, maxFee: 2n ** 80n - 1n }, v.escrow, "JobEscrowPriceAboveMaximum", () => [id, max + 1n, max]);
    });
  });

  describe("operator duties: every revert path", () => {
    it("submitResult: unknown job, wrong k, wrong operator, zero hash, closed window, wrong status", async () => {
      await expect(v.escrow.submitResult(5n, randomId())).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(5n);
      const k3 = await submit(connection, v, { redundancy: 3 });
      await expect(v.escrow.connect(k3.operators[0]).submitResult(k3.jobId, randomId())).to.be.revertedWithCustomError(v.escrow, "JobEscrowUseCommitReveal").withArgs(k3.jobId);
      const { jobId, operators: [op] } = await submit(connection, v);
      const other = v.ops.find((o) => o.address !== op.address)!;
      await expect(v.escrow.connect(other).submitResult(jobId, randomId())).to.be.revertedWithCustomError(v.escrow, "JobEscrowNotAssigned").withArgs(jobId, 0, other.address);
      await expect(v.escrow.connect(op).submitResult(jobId, ethers.ZeroHash)).to.be.revertedWithCustomError(v.escrow, "JobEscrowZeroHash");
      const phaseEnd = (await v.escrow.getJob(jobId)).phaseEnd;
      await time.setNextBlockTimestamp(phaseEnd + 1n);
      await expect(v.escrow.connect(op).submitResult(jobId, randomId())).to.be.revertedWithCustomError(v.escrow, "JobEscrowWindowClosed").withArgs(jobId, phaseEnd, phaseEnd + 1n);
    });

    it("commit: k=1, wrong operator, wrong slot, zero commitment, twice, closed window", async () => {
      const k1 = await submit(connection, v);
      await expect(v.escrow.connect(k1.operators[0]).commit(k1.jobId, 0, randomId())).to.be.revertedWithCustomError(v.escrow, "JobEscrowNoCommitPhase").withArgs(k1.jobId);
      const { jobId, operators } = await submit(connection, v, { redundancy: 3 });
      await expect(v.escrow.connect(operators[1]).commit(jobId, 0, randomId())).to.be.revertedWithCustomError(v.escrow, "JobEscrowNotAssigned").withArgs(jobId, 0, operators[1].address);
      await expect(v.escrow.connect(operators[0]).commit(jobId, 5, randomId())).to.be.revertedWithCustomError(v.escrow, "JobEscrowNotAssigned").withArgs(jobId, 5, operators[0].address);
      await expect(v.escrow.connect(operators[0]).commit(jobId, 0, ethers.ZeroHash)).to.be.revertedWithCustomError(v.escrow, "JobEscrowZeroHash");
      await expect(v.escrow.connect(operators[0]).commit(jobId, 0, randomId())).to.emit(v.escrow, "ResultCommitted").withArgs(jobId, 0, operators[0].address);
      await expect(v.escrow.connect(operators[0]).commit(jobId, 0, randomId())).to.be.revertedWithCustomError(v.escrow, "JobEscrowAlreadyCommitted").withArgs(jobId, 0);
      await time.increase(P.commitWindow + 1n);
      await expect(v.escrow.connect(operators[1]).commit(jobId, 1, randomId())).to.be.revertedWithCustomError(v.escrow, "JobEscrowWindowClosed");
    });

    it("reveal: before every commit, wrong operator, zero hash, twice, closed window", async () => {
      const { jobId, operators } = await submit(connection, v, { redundancy: 3 });
      const r = randomId();
      await expect(v.escrow.connect(operators[0]).reveal(jobId, 0, r, salt())).to.be.revertedWithCustomError(v.escrow, "JobEscrowWrongStatus").withArgs(jobId, STATUS.Assigned);
      const salts = await commitAll(v, jobId, operators, [r, r, r]);
      await expect(v.escrow.connect(operators[1]).reveal(jobId, 0, r, salts[0])).to.be.revertedWithCustomError(v.escrow, "JobEscrowNotAssigned").withArgs(jobId, 0, operators[1].address);
      await expect(v.escrow.connect(operators[0]).reveal(jobId, 0, ethers.ZeroHash, salts[0])).to.be.revertedWithCustomError(v.escrow, "JobEscrowZeroHash");
      await v.escrow.connect(operators[0]).reveal(jobId, 0, r, salts[0]);
      await expect(v.escrow.connect(operators[0]).reveal(jobId, 0, r, salts[0])).to.be.revertedWithCustomError(v.escrow, "JobEscrowAlreadyRevealed").withArgs(jobId, 0);
      await time.increase(P.revealWindow + 1n);
      await expect(v.escrow.connect(operators[1]).reveal(jobId, 1, r, salts[1])).to.be.revertedWithCustomError(v.escrow, "JobEscrowWindowClosed");
    });

    it("commit copy: a commitment binds the sender and the job (copying another operator's fails)", async () => {
      const { jobId, operators } = await submit(connection, v, { redundancy: 3 });
      const r = randomId();
      const s0 = salt();
      const c0 = await commitmentOf(v, jobId, operators[0].address, r, s0);
      await v.escrow.connect(operators[0]).commit(jobId, 0, c0);
      await v.escrow.connect(operators[1]).commit(jobId, 1, c0); // copied from the mempool
      await v.escrow.connect(operators[2]).commit(jobId, 2, await commitmentOf(v, jobId, operators[2].address, r, s0));
      await expect(v.escrow.connect(operators[1]).reveal(jobId, 1, r, s0)).to.be.revertedWithCustomError(v.escrow, "JobEscrowCommitmentMismatch").withArgs(jobId, 1);
      // A commitment made for another job does not open on this one.
      const other = await submit(connection, v, { redundancy: 3 });
      expect(await commitmentOf(v, other.jobId, operators[0].address, r, s0)).to.not.equal(c0);
    });

    it("finalize and poke: unknown job, wrong status, window open", async () => {
      await expect(v.escrow.finalize(1n)).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(1n);
      await expect(v.escrow.poke(1n)).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(1n);
      await expect(v.escrow.getJob(1n)).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(1n);
      const { jobId, operators: [op] } = await submit(connection, v);
      await expect(v.escrow.finalize(jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWrongStatus").withArgs(jobId, STATUS.Assigned);
      await expect(v.escrow.poke(jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWindowOpen");
      await v.escrow.connect(op).submitResult(jobId, randomId());
      await time.increase(P.challengeWindow + 1n);
      await v.escrow.finalize(jobId);
      await expect(v.escrow.poke(jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWrongStatus").withArgs(jobId, STATUS.Finalized);
      await expect(v.escrow.finalize(jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowWrongStatus").withArgs(jobId, STATUS.Finalized);
    });
  });

  describe("payments", () => {
    it("deposit, depositFor and withdrawDeposit revert paths", async () => {
      await expect(v.ledger.connect(v.requester).deposit(0n)).to.be.revertedWithCustomError(v.ledger, "FeeLedgerZeroAmount");
      await expect(v.ledger.connect(v.requester).depositFor(v.outsider.address, 7n)).to.emit(v.ledger, "Deposited").withArgs(v.outsider.address, v.requester.address, 7n);
      await expect(v.ledger.connect(v.outsider).withdrawDeposit(0n, v.outsider.address)).to.be.revertedWithCustomError(v.ledger, "FeeLedgerZeroAmount");
      await expect(v.ledger.connect(v.outsider).withdrawDeposit(8n, v.outsider.address)).to.be.revertedWithCustomError(v.ledger, "FeeLedgerInsufficientDeposit").withArgs(v.outsider.address, 7n, 8n);
      await expect(v.ledger.connect(v.outsider).withdrawDeposit(7n, v.outsider.address)).to.changeTokenBalance(ethers, v.usdc, v.outsider, 7n);
    });

    it("nothing to withdraw: earnings, treasury, staker rewards", async () => {
      await expect(v.ledger.connect(v.outsider).withdrawEarnings(v.outsider.address)).to.be.revertedWithCustomError(v.ledger, "FeeLedgerNothingToWithdraw").withArgs(v.outsider.address);
      await expect(v.ledger.withdrawTreasury()).to.be.revertedWithCustomError(v.ledger, "FeeLedgerNothingToWithdraw").withArgs(v.treasury.address);
      await expect(v.ledger.distributeStakerRewards()).to.be.revertedWithCustomError(v.ledger, "FeeLedgerNothingToWithdraw").withArgs(await v.staking.getAddress());
    });

    it("submitJobFor needs a payer module that governance allowlisted in the ledger", async () => {
      const p = await jobParams(connection, v);
      const before = await books(v);
      await expect(v.escrow.connect(v.outsider).submitJobFor(v.requester.address, p)).to.be.revertedWithCustomError(v.ledger, "FeeLedgerNotPayerModule").withArgs(v.outsider.address);
      expect(await books(v)).to.deep.equal(before);
      // Only GOVERNOR allowlists a module; then the module pays (by transferFrom, approving the ledger).
      await expect(v.ledger.connect(v.outsider).setPayerModule(v.outsider.address, true)).to.be.revertedWithCustomError(v.ledger, "AccessManagedUnauthorized").withArgs(v.outsider.address);
      const credits = await v.ledger.payerModule(1);
      await expect(v.ledger.setPayerModule(v.outsider.address, true)).to.emit(v.ledger, "PayerModuleSet").withArgs(v.outsider.address, 2, true);
      expect(await v.ledger.payerModuleId(v.outsider.address)).to.equal(2n);
      await v.usdc.mint(v.outsider.address, PRICE);
      await v.usdc.connect(v.outsider).approve(await v.ledger.getAddress(), PRICE);
      const jobId = await nextJobId(v, p);
      await expect(v.escrow.connect(v.outsider).submitJobFor(v.requester.address, p)).to.changeTokenBalances(ethers, v.usdc, [v.outsider, v.ledger], [-PRICE, PRICE]);
      const job = await v.escrow.getJob(jobId);
      expect([job.requester, job.payerModule, job.payer]).to.deep.equal([v.requester.address, 2n, v.outsider.address]);
      // A module removed from the list cannot pay any more; its id stays, and so do the other modules.
      await expect(v.ledger.setPayerModule(v.outsider.address, false)).to.emit(v.ledger, "PayerModuleSet").withArgs(v.outsider.address, 2, false);
      await expect(v.escrow.connect(v.outsider).submitJobFor(v.requester.address, await jobParams(connection, v))).to.be.revertedWithCustomError(v.ledger, "FeeLedgerNotPayerModule").withArgs(v.outsider.address);
      expect(await v.ledger.payerModule(2)).to.deep.equal([v.outsider.address, false]);
      expect(await v.ledger.payerModule(1)).to.deep.equal(credits);
    });
  });

  describe("security checklist", () => {
    it("the requester cannot pull escrowed funds between assignment and settlement", async () => {
      await submit(connection, v);
      await expect(v.ledger.connect(v.requester).withdrawDeposit(1n, v.requester.address))
        .to.be.revertedWithCustomError(v.ledger, "FeeLedgerInsufficientDeposit").withArgs(v.requester.address, 0n, 1n);
      expect(await v.usdc.balanceOf(await v.ledger.getAddress())).to.equal(PRICE);
    });

    it("a 1-wei top-up front-running settlement changes nothing in it", async () => {
      const { jobId, operators: [op] } = await submit(connection, v);
      await v.escrow.connect(op).submitResult(jobId, randomId());
      await time.increase(P.challengeWindow + 1n);
      for (const target of [v.escrow, v.ledger]) {
        await v.ledger.connect(v.requester).depositFor(await target.getAddress(), 1n);
        await v.usdc.connect(v.requester).transfer(await target.getAddress(), 1n);
      }
      await expect(v.escrow.finalize(jobId)).to.emit(v.escrow, "JobFinalized")
        .withArgs(jobId, (await v.escrow.getJob(jobId)).slotHashes[0], 1, PRICE, 0, PRICE / 10n, PRICE / 20n, PRICE / 20n, perOp(PRICE, 1n));
    });

    it("operator vanishes: after unbonding its free stake, the refund after the deadline still works", async () => {
      const t = await now(connection);
      const { jobId, operators: [op] } = await submit(connection, v, { deadline: t + P.commitWindow + 30n });
      const free = await v.staking.freeStake(op.address);
      await v.staking.connect(op).requestUnbond(free);
      expect((await v.staking.operator(op.address)).eligible).to.equal(false);
      await time.increase(P.commitWindow + 1n);
      await expect(v.escrow.poke(jobId)).to.emit(v.escrow, "JobRefunded");
      expect((await v.staking.operator(op.address)).stake).to.equal(P.collateral - P.missPenalty);
    });

    it("claim squatting: a slot whose operator never delivers reopens on timeout", async () => {
      const { jobId, operators: [op] } = await submit(connection, v);
      await time.increase(P.commitWindow + 1n);
      await v.escrow.connect(v.outsider).poke(jobId);
      expect((await v.escrow.getJob(jobId)).operators[0]).to.not.equal(op.address);
    });

    it("miss penalty destination: the keeper (Caller) or the burn address", async () => {
      const params = { ...fieldsOf(await v.escrow.params()), missSlashTo: 2n };
      await v.escrow.setParams(params);
      const { jobId } = await submit(connection, v);
      await time.increase(P.commitWindow + 1n);
      await expect(v.escrow.connect(v.outsider).poke(jobId)).to.changeTokenBalance(ethers, v.veil, v.outsider, P.missPenalty);
      await v.escrow.setParams({ ...params, missSlashTo: 1n });
      const b = await submit(connection, v);
      await time.increase(P.commitWindow + 1n);
      await expect(v.escrow.poke(b.jobId)).to.changeTokenBalance(ethers, v.veil, "0x000000000000000000000000000000000000dEaD", P.missPenalty);
    });

    it("only the mapped roles can call restricted functions (random callers)", async () => {
      const p = await v.escrow.params();
      const calls: [BaseContract, string, unknown[]][] = [
        [v.escrow, "setParams", [fieldsOf(p)]],
        [v.escrow, "setPaused", [0, true]],
        [v.escrow, "openDispute", [1n]],
        [v.escrow, "resolveDispute", [1n, randomId()]],
        [v.ledger, "setPayerModule", [v.outsider.address, true]],
        [v.ledger, "setPaused", [1, true]],
        [v.staking, "setPaused", [0, true]],
        [v.staking, "setMinStake", [1n]],
        [v.staking, "setUnbondingPeriod", [30n * 86400n]],
        [v.staking, "setSlashWindowSource", [await v.escrow.getAddress()]],
        [v.staking, "setProtocolContract", [v.outsider.address, true]],
        [v.registry, "setPaused", [0, true]],
      ];
      // NodeStaking's hot path checks its own allowlist of protocol contracts (the escrow, the dispute manager).
      const protocolCalls: [string, unknown[]][] = [
        ["assign", [1n, 1n, 1n, 1n, []]],
        ["release", [v.ops[0].address, 1n]],
        ["releaseMany", [[v.ops[0].address], [1n]]],
        ["slash", [v.ops[0].address, 0n, 1n, v.outsider.address]],
        ["notifyRewards", [1n]],
      ];
      // Random callers: fresh wallets, plus every fixture signer that holds no role (operators, requester, owner).
      const callers = [...Array.from({ length: 4 }, () => ethers.Wallet.createRandom().connect(ethers.provider)), v.requester, v.modelOwner, v.ops[0], v.treasury];
      for (const c of callers.slice(0, 4)) await v.admin.sendTransaction({ to: c.address, value: E18 });
      for (const caller of callers) {
        for (const [contract, fn, args] of calls) {
          await expect(contract.connect(caller).getFunction(fn)(...args), `${fn} by ${caller.address}`)
            .to.be.revertedWithCustomError(contract, "AccessManagedUnauthorized").withArgs(caller.address);
        }
        for (const [fn, args] of protocolCalls) {
          await expect(v.staking.connect(caller).getFunction(fn)(...args), `${fn} by ${caller.address}`)
            .to.be.revertedWithCustomError(v.staking, "NodeStakingNotProtocol").withArgs(caller.address);
        }
        // Paying for others' jobs takes a payer module that governance allowlisted in the ledger, not a role.
        await expect(v.escrow.connect(caller).submitJobFor(v.outsider.address, await jobParams(connection, v)), `submitJobFor by ${caller.address}`)
          .to.be.revertedWithCustomError(v.ledger, "FeeLedgerNotPayerModule").withArgs(caller.address);
      }
      // The admin and the governor hold every AccessManager role but are not protocol contracts either.
      await expect(v.staking.connect(v.admin).notifyRewards(1n)).to.be.revertedWithCustomError(v.staking, "NodeStakingNotProtocol").withArgs(v.admin.address);
      expect(await v.staking.isProtocolContract(await v.escrow.getAddress())).to.equal(true);
      expect(await v.staking.isProtocolContract(v.admin.address)).to.equal(false);
    });

    it("pause never blocks exits or duties: withdrawDeposit, withdrawEarnings, withdrawUnbonded, claimRewards, commit, reveal, poke", async () => {
      const fin = await submit(connection, v);
      await v.escrow.connect(fin.operators[0]).submitResult(fin.jobId, randomId());
      await v.ledger.connect(v.requester).deposit(10n);
      await time.increase(P.challengeWindow + 1n);
      await v.escrow.finalize(fin.jobId);
      await v.ledger.distributeStakerRewards();
      const k3 = await submit(connection, v, { redundancy: 3 });
      const k1 = await submit(connection, v);
      const op = v.ops[4];
      await v.staking.connect(op).requestUnbond((await v.staking.freeStake(op.address)) - P.collateral * 3n);
      await v.escrow.setPaused(0, true); // submissions
      await v.ledger.setPaused(1, true); // deposits
      for (const a of [0, 1, 2]) await v.staking.setPaused(a, true);
      await v.registry.setPaused(0, true);
      await expect(v.escrow.connect(v.requester).submitJob(await jobParams(connection, v))).to.be.revertedWithCustomError(v.escrow, "ActionPaused").withArgs(0);
      await expect(v.ledger.connect(v.requester).deposit(1n)).to.be.revertedWithCustomError(v.ledger, "ActionPaused").withArgs(1);
      await expect(v.staking.connect(op).stake(1n)).to.be.revertedWithCustomError(v.staking, "ActionPaused").withArgs(1);
      await expect(v.registry.registerModel(randomId(), modelParams())).to.be.revertedWithCustomError(v.registry, "ActionPaused").withArgs(0);
      expect(await v.escrow.isPaused(0)).to.equal(true);
      expect(await v.ledger.isPaused(1)).to.equal(true);
      // Exits
      await v.ledger.connect(v.requester).withdrawDeposit(10n, v.requester.address);
      await v.ledger.connect(fin.operators[0]).withdrawEarnings(fin.operators[0].address);
      await v.staking.connect(fin.operators[0]).claimRewards(fin.operators[0].address);
      // Duties
      const r = randomId();
      const salts = await commitAll(v, k3.jobId, k3.operators, [r, r, r]);
      for (const [i, o] of k3.operators.entries()) await v.escrow.connect(o).reveal(k3.jobId, i, r, salts[i]);
      expect((await v.escrow.getJob(k3.jobId)).status).to.equal(STATUS.Proposed);
      await time.increase(21n * 86400n);
      await expect(v.staking.connect(op).withdrawUnbonded()).to.emit(v.staking, "UnbondWithdrawn");
      await expect(v.escrow.poke(k1.jobId)).to.emit(v.escrow, "JobRefunded"); // stale: never blocked
      await expect(v.escrow.poke(k3.jobId)).to.emit(v.escrow, "JobFinalized");
    });

    it("reentrancy through a callback fee token on withdraw paths is rejected", async () => {
      const token = await ethers.deployContract("CallbackERC20");
      const deployed = await ethers.deployContract("JobEscrow", [await v.manager.getAddress(), await token.getAddress(), await v.registry.getAddress(), await v.staking.getAddress(), fieldsOf(await v.escrow.params())]);
      const escrow2 = await ethers.getContractAt("IVeilEscrow", await deployed.getAddress());
      const ledger2 = await ethers.getContractAt("FeeLedger", await escrow2.ledger());
      const l2 = await ledger2.getAddress();
      await token.mint(await token.getAddress(), 1_000n);
      await token.execute(await token.getAddress(), token.interface.encodeFunctionData("approve", [l2, ethers.MaxUint256]));
      await token.execute(l2, ledger2.interface.encodeFunctionData("deposit", [1_000n]));
      // The token withdraws 400 of its deposit; during the transfer it tries to withdraw again.
      await token.arm(l2, ledger2.interface.encodeFunctionData("withdrawDeposit", [400n, await token.getAddress()]));
      await token.execute(l2, ledger2.interface.encodeFunctionData("withdrawDeposit", [400n, await token.getAddress()]));
      expect(await token.hookCalled()).to.equal(true);
      expect(await token.hookSucceeded()).to.equal(false);
      expect((await token.hookReturn()).slice(0, 10)).to.equal(ledger2.interface.getError("ReentrancyGuardReentrantCall")!.selector);
      expect(await ledger2.depositOf(await token.getAddress())).to.equal(600n);
      expect(await token.balanceOf(l2)).to.equal(600n);
      // Same on withdrawEarnings: an operator is paid, the hook re-enters through the token's deposit.
      await v.staking.setProtocolContract(await escrow2.getAddress(), true);
      await token.mint(v.requester.address, PRICE);
      await token.connect(v.requester).approve(l2, PRICE);
      const p = await jobParams(connection, v);
      const id = await escrow2.nextJobId(p.modelId, inputHashOf(p));
      await escrow2.connect(v.requester).submitJob(p);
      const job = await escrow2.getJob(id);
      const operator = v.ops.find((o) => o.address === job.operators[0])!;
      await escrow2.connect(operator).submitResult(id, randomId());
      await time.increase(P.challengeWindow + 1n);
      await escrow2.finalize(id);
      await token.arm(l2, ledger2.interface.encodeFunctionData("withdrawDeposit", [1n, await token.getAddress()]));
      await ledger2.connect(operator).withdrawEarnings(operator.address);
      expect(await token.hookCalled()).to.equal(true);
      expect(await token.hookSucceeded()).to.equal(false);
      expect(await ledger2.depositOf(await token.getAddress())).to.equal(600n);
    });

    it("a fee-on-transfer fee token is rejected (FeeLedgerTransferMismatch)", async () => {
      const token = await ethers.deployContract("FeeOnTransferERC20");
      const escrow3 = await ethers.deployContract("JobEscrow", [await v.manager.getAddress(), await token.getAddress(), await v.registry.getAddress(), await v.staking.getAddress(), fieldsOf(await v.escrow.params())]);
      const ledger3 = await ethers.getContractAt("FeeLedger", await escrow3.ledger());
      await token.mint(v.requester.address, 10_000n);
      await token.connect(v.requester).approve(await ledger3.getAddress(), ethers.MaxUint256);
      await expect(ledger3.connect(v.requester).deposit(10_000n)).to.be.revertedWithCustomError(ledger3, "FeeLedgerTransferMismatch").withArgs(10_000n, 9_900n);
    });
  });

  describe("governance", () => {
    const base = () => ({ ...P, treasury: "" as string });
    const cases: [string, Record<string, bigint>, bigint, bigint][] = [
      ["commitWindow", { commitWindow: 29n }, 30n, 7n * 86400n],
      ["commitWindow", { commitWindow: 7n * 86400n + 1n }, 30n, 7n * 86400n],
      ["revealWindow", { revealWindow: 29n }, 30n, 7n * 86400n],
      ["challengeWindow", { challengeWindow: 30n * 86400n + 1n }, 30n, 30n * 86400n],
      ["disputeWindow", { disputeWindow: 59n }, 60n, 30n * 86400n],
      ["maxJobDuration", { maxJobDuration: 1199n }, 1200n, 30n * 86400n],
      ["maxInputBytes", { maxInputBytes: 31n }, 32n, 128n * 1024n],
      ["maxInputBytes", { maxInputBytes: 128n * 1024n + 1n }, 32n, 128n * 1024n],
      ["feeBps", { treasuryBps: 5000n, stakersBps: 5000n, maxRoyaltyBps: 1n }, 0n, 10_000n],
      ["minPrice", { minPrice: 0n }, 1n, 2n ** 72n - 1n],
      ["collateral", { collateral: 0n }, 1n, 1_000n * E18],
      ["collateral", { collateral: 1_000n * E18 + 1n }, 1n, 1_000n * E18],
      ["missPenalty", { missPenalty: P.collateral + 1n }, 0n, P.collateral],
      ["longestSlashableWindow", { maxJobDuration: 18n * 86400n }, 0n, 21n * 86400n - 1n],
    ];
    for (const [name, over, min, max] of cases) {
      it(`setParams rejects ${name} = ${Object.values(over).join("/")} (JobEscrowParameterOutOfBounds)`, async () => {
        const p = { ...base(), treasury: v.treasury.address, ...over };
        const value = name === "feeBps" ? 10_001n : name === "longestSlashableWindow" ? 18n * 86400n + P.challengeWindow + P.disputeWindow : Object.values(over)[0];
        await expect(v.escrow.setParams(p)).to.be.revertedWithCustomError(v.escrow, "JobEscrowParameterOutOfBounds")
          .withArgs(ethers.encodeBytes32String(name), value, min, max);
      });
    }
    it("setParams rejects a zero treasury and accepts the edges", async () => {
      await expect(v.escrow.setParams({ ...base(), treasury: ethers.ZeroAddress })).to.be.revertedWithCustomError(v.escrow, "JobEscrowParameterOutOfBounds")
        .withArgs(ethers.encodeBytes32String("treasury"), 0n, 1n, 2n ** 160n - 1n);
      await expect(v.escrow.setParams({ ...base(), treasury: v.treasury.address, commitWindow: 30n, revealWindow: 30n, missPenalty: P.collateral })).to.emit(v.escrow, "ParamsSet");
    });
    it("unbondingPeriod > longestSlashableWindow is enforced both ways", async () => {
      const longest = await v.escrow.longestSlashableWindow();
      await expect(v.staking.setUnbondingPeriod(longest)).to.be.revertedWithCustomError(v.staking, "NodeStakingParameterOutOfBounds")
        .withArgs(ethers.encodeBytes32String("unbondingPeriod"), longest, longest + 1n, 365n * 86400n);
      await v.staking.setUnbondingPeriod(longest + 1n);
      // Now the escrow cannot lengthen its windows past the unbonding period.
      await expect(v.escrow.setParams({ ...base(), treasury: v.treasury.address, disputeWindow: P.disputeWindow + 1n }))
        .to.be.revertedWithCustomError(v.escrow, "JobEscrowParameterOutOfBounds").withArgs(ethers.encodeBytes32String("longestSlashableWindow"), longest + 1n, 0n, longest);
      // Shorter windows in a new terms version do not shorten the escrow's window: jobs submitted under the
      // earlier version may still be open, and settle under it.
      await v.escrow.setParams({ ...base(), treasury: v.treasury.address, maxJobDuration: P.maxJobDuration - 10n });
      expect(await v.escrow.longestSlashableWindow()).to.equal(longest);
      await expect(v.staking.setUnbondingPeriod(longest - 5n)).to.be.revertedWithCustomError(v.staking, "NodeStakingParameterOutOfBounds")
        .withArgs(ethers.encodeBytes32String("unbondingPeriod"), longest - 5n, longest + 1n, 365n * 86400n);
      // And a source whose window is longer than the unbonding period is refused.
      await v.staking.setUnbondingPeriod(longest + 86400n + 1n);
      const escrowLong = await ethers.deployContract("JobEscrow", [await v.manager.getAddress(), await v.usdc.getAddress(), await v.registry.getAddress(), await v.staking.getAddress(), { ...base(), treasury: v.treasury.address, maxJobDuration: P.maxJobDuration + 86400n }]);
      await v.staking.setUnbondingPeriod(longest + 1n);
      await expect(v.staking.setSlashWindowSource(await escrowLong.getAddress())).to.be.revertedWithCustomError(v.staking, "NodeStakingParameterOutOfBounds")
        .withArgs(ethers.encodeBytes32String("unbondingPeriod"), longest + 1n, longest + 86400n + 1n, 365n * 86400n);
    });
    it("setPayerModule emits and is readable; the deployment allowlists the credit pool as module 1", async () => {
      const [credits, allowed] = await v.ledger.payerModule(1);
      expect(allowed).to.equal(true);
      expect(await v.ledger.payerModuleId(credits)).to.equal(1n);
      await expect(v.ledger.setPayerModule(v.outsider.address, true)).to.emit(v.ledger, "PayerModuleSet").withArgs(v.outsider.address, 2, true);
      expect(await v.ledger.payerModule(2)).to.deep.equal([v.outsider.address, true]);
      expect(await v.ledger.payerModuleId(v.outsider.address)).to.equal(2n);
      await expect(v.ledger.setPayerModule(ethers.ZeroAddress, true)).to.be.revertedWithCustomError(v.ledger, "FeeLedgerZeroAddress");
    });
  });
});
