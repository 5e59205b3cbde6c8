import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { expect } from "chai";
import type { ContractTransactionReceipt } from "ethers";
import { network } from "hardhat";
import { deployVeil, fieldsOf, jobParams, randomId, E18, P, PRICE, STATUS, USDC, type Veil } from "../helpers/fixture.js";
import { CREDITS_DEFAULTS as D } from "../../ignition/modules/parts/credits.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;
const { time } = networkHelpers;
const DAY = 86_400n;
const RATE = D.allowancePerCredit; // fee units per credit per day

/** Exact integral of base * (1 + x / scale) over [s, s + n] per 1e18 credits, rounded up (the contract's formula). */
function curveCost(s: bigint, n: bigint, base = D.creditBasePrice, scale = D.creditCurveScale): bigint {
  const num = base * n * (2n * scale + 2n * s + n);
  const den = 2n * scale * E18;
  return (num + den - 1n) / den;
}

async function deployCredits() {
  const v = await deployVeil(connection, 3);
  // The deployment allowlists the credit pool as the ledger's first payer module.
  const [pool] = await v.ledger.payerModule(1);
  const credits = await ethers.getContractAt("ComputeCredits", pool);
  const [holder, alice, bob, carol, agent] = v.signers.slice(10, 15);
  for (const s of [holder, alice, bob, carol]) {
    await v.veil.transfer(s.address, 1_000_000n * E18);
    await v.veil.connect(s).approve(await credits.getAddress(), ethers.MaxUint256);
  }
  // A funder (the treasury here) fills the allowance pool with 1,000 mUSDC.
  await v.usdc.mint(v.treasury.address, 1_000n * USDC);
  await v.usdc.connect(v.treasury).approve(await credits.getAddress(), ethers.MaxUint256);
  await credits.connect(v.treasury).fundPool(1_000n * USDC);
  return { v, credits, holder, alice, bob, carol, agent };
}

type Ctx = Awaited<ReturnType<typeof deployCredits>>;

/** Moves to one minute past the next 00:00 UTC, so a test has a whole day ahead. */
async function startOfNextDay(credits: Ctx["credits"]) {
  await time.increaseTo((await credits.nextReset()) + 60n);
}

function jobIdOf(c: Ctx, receipt: ContractTransactionReceipt | null): { jobId: bigint; operator: string } {
  if (!receipt) throw new Error("no receipt");
  for (const log of receipt.logs) {
    try {
      const ev = c.v.escrow.interface.parseLog(log);
      if (ev?.name === "OperatorsAssigned") return { jobId: ev.args.jobId, operator: ev.args.operators[0] };
    } catch {}
  }
  throw new Error("no OperatorsAssigned");
}

async function spend(c: Ctx, caller: HardhatEthersSigner, holder: string, overrides: Record<string, unknown> = {}) {
  const p = await jobParams(connection, c.v, overrides);
  const receipt = await (await c.credits.connect(caller).submitJob(holder, p)).wait();
  return { ...jobIdOf(c, receipt), receipt: receipt! };
}

describe("ComputeCredits", () => {
  let c: Ctx;
  beforeEach(async () => {
    c = await networkHelpers.loadFixture(deployCredits);
  });

  describe("deployment", () => {
    it("test_deploy_wiredAsLedgerPayerModule", async () => {
      const addr = await c.credits.getAddress();
      expect(await c.v.ledger.payerModule(1)).to.deep.equal([addr, true]);
      expect(await c.v.ledger.payerModuleId(addr)).to.equal(1n);
      expect(await c.credits.escrow()).to.equal(await c.v.escrow.getAddress());
      // It pays jobs by a standing approval of the ledger, which pulls only when the escrow collects a fee.
      expect(await c.v.usdc.allowance(addr, await c.v.ledger.getAddress())).to.equal(ethers.MaxUint256);
      expect(await c.credits.name()).to.equal("Veil Compute Credit");
      expect(await c.credits.symbol()).to.equal("VCC");
      expect(await c.credits.stakingToken()).to.equal(await c.v.veil.getAddress());
      expect(await c.credits.feeToken()).to.equal(await c.v.usdc.getAddress());
      expect(await c.credits.allowancePerCredit()).to.equal(RATE);
      expect(await c.credits.unlockDelay()).to.equal(D.creditUnlockDelay);
    });

    it("test_setters_onlyGovernorWithinBounds", async () => {
      const { credits, v, alice } = c;
      const curve = { base: 2n * E18, scale: 10n * E18 };
      await expect(credits.connect(alice).setCurve(curve)).to.be.revertedWithCustomError(credits, "AccessManagedUnauthorized");
      await expect(credits.connect(alice).setAllowancePerCredit(1n)).to.be.revertedWithCustomError(credits, "AccessManagedUnauthorized");
      await expect(credits.connect(alice).setUnlockDelay(DAY)).to.be.revertedWithCustomError(credits, "AccessManagedUnauthorized");
      await expect(credits.connect(alice).setPaused(0, true)).to.be.revertedWithCustomError(credits, "AccessManagedUnauthorized");
      await expect(credits.connect(v.admin).setCurve(curve)).to.emit(credits, "CurveSet").withArgs(curve.base, curve.scale);
      await expect(credits.connect(v.admin).setCurve({ base: 1n, scale: E18 - 1n }))
        .to.be.revertedWithCustomError(credits, "ComputeCreditsParameterOutOfBounds")
        .withArgs(ethers.encodeBytes32String("scale"), E18 - 1n, E18, 2n ** 96n);
      await expect(credits.connect(v.admin).setUnlockDelay(60n)).to.be.revertedWithCustomError(credits, "ComputeCreditsParameterOutOfBounds");
      await expect(credits.connect(v.admin).setAllowancePerCredit(10n ** 24n + 1n)).to.be.revertedWithCustomError(
        credits,
        "ComputeCreditsParameterOutOfBounds",
      );
      await expect(credits.connect(v.admin).setAllowancePerCredit(2n * RATE)).to.emit(credits, "AllowancePerCreditSet").withArgs(2n * RATE);
    });
  });

  describe("mint and burn", () => {
    it("test_mint_costIsTheCurveIntegralRoundedUpAndRisesWithSupply", async () => {
      const { credits, v, alice, bob } = c;
      const n = 3n * E18 + 7n; // an odd amount so rounding shows
      const cost0 = curveCost(0n, n);
      expect(await credits.mintCost(n)).to.equal(cost0);
      await expect(credits.connect(alice).mint(n, cost0 - 1n))
        .to.be.revertedWithCustomError(credits, "ComputeCreditsCostAboveMax")
        .withArgs(cost0, cost0 - 1n);
      const minting = credits.connect(alice).mint(n, cost0);
      await expect(minting).to.emit(credits, "Minted").withArgs(alice.address, n, cost0, n);
      await expect(minting).to.changeTokenBalances(ethers, v.veil, [alice, credits], [-cost0, cost0]);
      const cost1 = curveCost(n, n);
      expect(cost1).to.be.greaterThan(cost0);
      expect(await credits.mintCost(n)).to.equal(cost1);
      await credits.connect(bob).mint(n, cost1);
      expect(await credits.totalLocked()).to.equal(cost0 + cost1);
      // Two mints cost at least one mint of the sum (each rounds up), never less.
      expect(cost0 + cost1).to.be.greaterThanOrEqual(curveCost(0n, 2n * n));
      expect(await credits.spotPrice()).to.equal((D.creditBasePrice * (D.creditCurveScale + 2n * n) + D.creditCurveScale - 1n) / D.creditCurveScale);
    });

    it("test_mint_lockedStakeCannotAlsoBackOperatorStake", async () => {
      const { credits, v, alice } = c;
      const veilBal = await v.veil.balanceOf(alice.address);
      // Alice locks nearly all her VEIL in credits.
      const n = 9_000n * E18;
      const cost = await credits.mintCost(n);
      expect(cost).to.be.lessThan(veilBal);
      await credits.connect(alice).mint(n, cost);
      const free = veilBal - cost;
      // She cannot stake the locked part as an operator: NodeStaking pulls its own tokens.
      await v.veil.connect(alice).approve(await v.staking.getAddress(), ethers.MaxUint256);
      await v.staking.connect(alice).register("http://127.0.0.1:9999", ethers.ZeroHash);
      await expect(v.staking.connect(alice).stake(free + 1n)).to.be.revertedWithCustomError(v.veil, "ERC20InsufficientBalance");
      const totalBefore = await v.staking.totalStaked();
      await v.staking.connect(alice).stake(free);
      expect(await v.staking.totalStaked()).to.equal(totalBefore + free);
      expect(await v.veil.balanceOf(await credits.getAddress())).to.equal(cost);
      // The credits contract is no operator and holds no stake in NodeStaking.
      expect((await v.staking.operator(await credits.getAddress())).stake).to.equal(0n);
    });

    it("test_burn_returnsProRataAfterCooldownNeverMoreThanLocked", async () => {
      const { credits, v, alice, bob } = c;
      const a = 10n * E18;
      await credits.connect(alice).mint(a, ethers.MaxUint256);
      await credits.connect(bob).mint(a, ethers.MaxUint256);
      const locked = await credits.totalLocked();
      const share = (locked * 4n * E18) / (2n * a);
      expect(await credits.burnReturn(4n * E18)).to.equal(share);
      await expect(credits.connect(alice).burn(4n * E18, share + 1n))
        .to.be.revertedWithCustomError(credits, "ComputeCreditsReturnBelowMin")
        .withArgs(share, share + 1n);
      const tx = credits.connect(alice).burn(4n * E18, share);
      await expect(tx).to.emit(credits, "Burned");
      const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
      const unlocks = await credits.unlocksOf(alice.address);
      expect(unlocks.length).to.equal(1);
      expect(unlocks[0].amount).to.equal(share);
      expect(unlocks[0].unlockTime).to.equal(t + D.creditUnlockDelay);
      expect(await credits.totalLocked()).to.equal(locked - share);
      expect(await credits.totalUnlocking()).to.equal(share);
      // Before the cooldown: nothing to withdraw.
      await expect(credits.connect(alice).withdrawUnlocked(alice.address))
        .to.be.revertedWithCustomError(credits, "ComputeCreditsNothingUnlocked")
        .withArgs(alice.address, t + D.creditUnlockDelay, t + 1n);
      await time.increaseTo(t + D.creditUnlockDelay - 2n); // the next block is one second before maturity
      await expect(credits.connect(alice).withdrawUnlocked(alice.address)).to.be.revertedWithCustomError(credits, "ComputeCreditsNothingUnlocked");
      // Pausing minting and submissions never blocks exits.
      await credits.connect(v.admin).setPaused(0, true);
      await credits.connect(v.admin).setPaused(1, true);
      await expect(credits.connect(alice).mint(E18, ethers.MaxUint256)).to.be.revertedWithCustomError(credits, "ActionPaused").withArgs(0);
      const withdrawing = credits.connect(alice).withdrawUnlocked(alice.address);
      await expect(withdrawing).to.emit(credits, "Unlocked").withArgs(alice.address, alice.address, share);
      await expect(withdrawing).to.changeTokenBalances(ethers, v.veil, [alice, credits], [share, -share]);
      expect(await credits.unlocksOf(alice.address)).to.have.length(0);
      // The last holders out get exactly what is left.
      await credits.connect(alice).burn(6n * E18, 0n);
      await credits.connect(bob).burn(a, 0n);
      expect(await credits.totalSupply()).to.equal(0n);
      expect(await credits.totalLocked()).to.equal(0n);
      await time.increase(D.creditUnlockDelay);
      await credits.connect(alice).withdrawUnlocked(alice.address);
      await credits.connect(bob).withdrawUnlocked(bob.address);
      expect(await v.veil.balanceOf(await credits.getAddress())).to.equal(0n);
      // Burning more than held reverts like a transfer would.
      await expect(credits.connect(alice).burn(1n, 0n)).to.be.revertedWithCustomError(credits, "ERC20InsufficientBalance");
    });

    it("test_burn_pendingUnlocksAreBounded", async () => {
      const { credits, alice } = c;
      await credits.connect(alice).mint(20n * E18, ethers.MaxUint256);
      for (let i = 0; i < 16; i++) await credits.connect(alice).burn(E18, 0n);
      await expect(credits.connect(alice).burn(E18, 0n))
        .to.be.revertedWithCustomError(credits, "ComputeCreditsTooManyUnlocks")
        .withArgs(alice.address, 16n);
      await time.increase(D.creditUnlockDelay);
      const receipt = await (await credits.connect(alice).withdrawUnlocked(alice.address)).wait();
      expect(receipt!.gasUsed).to.be.lessThan(300_000n);
      await credits.connect(alice).burn(E18, 0n);
    });
  });

  describe("daily allowance", () => {
    it("test_allowance_isStartOfDayBalanceTimesRateAndResetsAtUtcMidnight", async () => {
      const { credits, holder } = c;
      await startOfNextDay(credits);
      await credits.connect(holder).mint(E18, ethers.MaxUint256);
      // Minted today: nothing until tomorrow.
      expect(await credits.allowanceLeft(holder.address)).to.equal(0n);
      await expect(spend(c, holder, holder.address))
        .to.be.revertedWithCustomError(credits, "ComputeCreditsAllowanceExceeded")
        .withArgs(holder.address, PRICE, 0n);
      const reset = await credits.nextReset();
      expect(reset % DAY).to.equal(0n);
      await time.increaseTo(reset);
      expect(await credits.allowanceLeft(holder.address)).to.equal(RATE);
      expect(await credits.startOfDayBalance(holder.address)).to.equal(E18);
      // Spend all of it: RATE / PRICE = 20 jobs.
      const jobs = RATE / PRICE;
      for (let i = 0n; i < jobs; i++) await spend(c, holder, holder.address);
      expect(await credits.allowanceLeft(holder.address)).to.equal(0n);
      await expect(spend(c, holder, holder.address)).to.be.revertedWithCustomError(credits, "ComputeCreditsAllowanceExceeded");
      // Next day: one day's allowance again, no carry-over; an idle day adds nothing either.
      await time.increaseTo((await credits.nextReset()) + DAY);
      expect(await credits.allowanceLeft(holder.address)).to.equal(RATE);
    });

    it("test_allowance_transfersWithinADayCreateNoExtraAllowance", async () => {
      const { credits, alice, bob, carol, holder } = c;
      await credits.connect(alice).mint(2n * E18, ethers.MaxUint256);
      await credits.connect(bob).mint(E18, ethers.MaxUint256);
      await startOfNextDay(credits);
      const supplyAtStart = await credits.totalSupply();
      const dayBudget = (supplyAtStart * RATE) / E18;
      const accounts = [alice, bob, carol, holder];
      let used = 0n;
      // Everyone spends what it can, then passes all its credits on, round after round, all within one day.
      for (let round = 0; round < 3; round++) {
        for (const [i, from] of accounts.entries()) {
          let left = await credits.allowanceLeft(from.address);
          while (left >= PRICE) {
            await spend(c, from, from.address);
            used += PRICE;
            left -= PRICE;
          }
          const bal = await credits.balanceOf(from.address);
          const to = accounts[(i + 1) % accounts.length];
          if (bal > 0n) await credits.connect(from).transfer(to.address, bal);
        }
      }
      expect(used).to.equal(dayBudget);
      expect(used).to.be.lessThanOrEqual((supplyAtStart * RATE) / E18);
      // The senders kept their day's allowance (already spent); the receivers got none today.
      expect(await credits.startOfDayBalance(carol.address)).to.equal(0n);
      expect(await credits.allowanceLeft(carol.address)).to.equal(0n);
      // Tomorrow the holder of record at 00:00 gets it all.
      await startOfNextDay(credits);
      let total = 0n;
      for (const a of accounts) total += await credits.allowanceLeft(a.address);
      expect(total).to.equal(dayBudget);
    });

    it("test_submitJob_poolMustCoverTheFee", async () => {
      const { credits, v, holder } = c;
      // A second ComputeCredits with an empty pool (the fixture's pool holds 20,000 fees; draining it is slow).
      const empty = await (await ethers.getContractFactory("ComputeCredits")).deploy(
        await v.manager.getAddress(),
        await v.escrow.getAddress(),
        await v.veil.getAddress(),
        await v.usdc.getAddress(),
        await v.registry.getAddress(),
        { base: D.creditBasePrice, scale: D.creditCurveScale },
        RATE,
        D.creditUnlockDelay,
      );
      await v.veil.connect(holder).approve(await empty.getAddress(), ethers.MaxUint256);
      await empty.connect(holder).mint(E18, ethers.MaxUint256);
      await startOfNextDay(credits);
      const p = await jobParams(connection, v);
      await expect(empty.connect(holder).submitJob(holder.address, p))
        .to.be.revertedWithCustomError(empty, "ComputeCreditsPoolInsufficient")
        .withArgs(PRICE, 0n);
      // Funded, but not a payer module that governance allowlisted: the ledger refuses it.
      await v.usdc.mint(holder.address, PRICE);
      await v.usdc.connect(holder).approve(await empty.getAddress(), PRICE);
      await empty.connect(holder).fundPool(PRICE);
      await expect(empty.connect(holder).submitJob(holder.address, p))
        .to.be.revertedWithCustomError(v.ledger, "FeeLedgerNotPayerModule")
        .withArgs(await empty.getAddress());
      expect(await empty.allowanceLeft(holder.address)).to.equal(RATE);
      // Allowlisted (GOVERNOR), it pays the job from its pool, and the job names it as the payer.
      await v.ledger.connect(v.admin).setPayerModule(await empty.getAddress(), true);
      const receipt = await (await empty.connect(holder).submitJob(holder.address, p)).wait();
      const job = await v.escrow.getJob(jobIdOf(c, receipt).jobId);
      expect([job.payerModule, job.payer, job.requester]).to.deep.equal([2n, await empty.getAddress(), holder.address]);
      expect(await empty.poolBalance()).to.equal(0n);
    });

    it("test_submitJob_inactiveModelAndStrangersRejected", async () => {
      const { credits, v, holder, agent } = c;
      await credits.connect(holder).mint(E18, ethers.MaxUint256);
      await startOfNextDay(credits);
      await expect(spend(c, agent, holder.address))
        .to.be.revertedWithCustomError(credits, "ComputeCreditsNotAgent")
        .withArgs(holder.address, agent.address);
      const unknown = randomId();
      await expect(spend(c, holder, holder.address, { modelId: unknown }))
        .to.be.revertedWithCustomError(v.registry, "ModelRegistryUnknownModel")
        .withArgs(unknown);
      await v.registry.connect(v.modelOwner).setActive(v.modelId, false);
      await expect(spend(c, holder, holder.address))
        .to.be.revertedWithCustomError(credits, "ComputeCreditsModelInactive")
        .withArgs(v.modelId);
      expect(await credits.allowanceLeft(holder.address)).to.equal(RATE);
    });
  });

  describe("pool", () => {
    it("test_reclaimRefunds_refundOfAllowanceJobReturnsToPool", async () => {
      const { credits, v, holder } = c;
      await credits.connect(holder).mint(E18, ethers.MaxUint256);
      await startOfNextDay(credits);
      const pool0 = await credits.poolBalance();
      const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
      // A deadline that leaves no room for a second round: a missed commit refunds.
      const { jobId } = await spend(c, holder, holder.address, { deadline: t + P.commitWindow + 10n });
      expect(await credits.poolBalance()).to.equal(pool0 - PRICE);
      await time.increase(P.commitWindow + 1n);
      // The refund of a module-paid job goes to the module's deposit in the ledger, not to the requester.
      await expect(v.escrow.poke(jobId)).to.emit(v.escrow, "JobRefunded").withArgs(jobId, await credits.getAddress(), PRICE, 0n);
      expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Refunded);
      expect(await v.ledger.depositOf(await credits.getAddress())).to.equal(PRICE);
      expect(await v.ledger.depositOf(holder.address)).to.equal(0n);
      await expect(credits.reclaimRefunds()).to.emit(credits, "RefundsReclaimed").withArgs(PRICE);
      expect(await credits.poolBalance()).to.equal(pool0);
      await expect(credits.reclaimRefunds()).to.be.revertedWithCustomError(credits, "ComputeCreditsNothingToReclaim");
      // The allowance spent on a refunded job is not given back (the day's budget is a cap on submissions).
      expect(await credits.allowanceLeft(holder.address)).to.equal(RATE - PRICE);
    });

    it("test_pool_fedByTheEscrowTreasuryShare", async () => {
      const { credits, v, holder } = c;
      // Governance points the escrow treasury at the pool: withdrawTreasury then funds allowances.
      const params = { ...fieldsOf(await v.escrow.params()), treasury: await credits.getAddress() };
      await v.escrow.connect(v.admin).setParams(params);
      await credits.connect(holder).mint(E18, ethers.MaxUint256);
      await startOfNextDay(credits);
      const { jobId, operator } = await spend(c, holder, holder.address);
      const op = c.v.ops.find((o) => o.address === operator)!;
      await v.escrow.connect(op).submitResult(jobId, randomId());
      await time.increase(P.challengeWindow + 1n);
      await v.escrow.finalize(jobId);
      const accrued = await v.ledger.treasuryAccrued();
      expect(accrued).to.equal((PRICE * 500n) / 10_000n);
      const pool = await credits.poolBalance();
      await v.ledger.withdrawTreasury();
      expect(await credits.poolBalance()).to.equal(pool + accrued);
    });
  });

  it("lock-mint-spend-finalize-reset-agent-revoke-burn-cooldown-unlock", async () => {
    const { credits, v, holder, agent, alice } = c;
    const gas: Record<string, bigint> = {};
    // lock -> mint
    const n = 2n * E18;
    const cost = await credits.mintCost(n);
    let r = await (await credits.connect(holder).mint(n, cost)).wait();
    gas.mint = r!.gasUsed;
    await credits.connect(alice).mint(n, ethers.MaxUint256); // a second mint (warm storage) for the gas report
    await startOfNextDay(credits);
    expect(await credits.allowanceLeft(holder.address)).to.equal(2n * RATE);

    // An allowance-paid job through the real escrow, finalized: the operator earns what a deposit job pays.
    const pool0 = await credits.poolBalance();
    const paid = await spend(c, holder, holder.address);
    gas.allowanceJobFirstOfDay = paid.receipt.gasUsed;
    const job = await v.escrow.getJob(paid.jobId);
    expect([job.payerModule, job.payer]).to.deep.equal([1n, await credits.getAddress()]); // paid by the credit pool
    expect(job.requester).to.equal(holder.address);
    expect(await credits.poolBalance()).to.equal(pool0 - PRICE);
    expect(await credits.allowanceLeft(holder.address)).to.equal(2n * RATE - PRICE);
    const payOp = v.ops.find((o) => o.address === paid.operator)!;
    const e0 = await v.ledger.earningsOf(payOp.address);
    await v.escrow.connect(payOp).submitResult(paid.jobId, randomId());
    await time.increase(P.challengeWindow + 1n);
    await v.escrow.finalize(paid.jobId);
    const allowanceEarning = (await v.ledger.earningsOf(payOp.address)) - e0;

    // The same job paid from the requester's deposit in the ledger.
    await v.ledger.connect(v.requester).deposit(10n * PRICE);
    const dp = await jobParams(connection, v);
    r = await (await v.escrow.connect(v.requester).submitJobFromDeposit(dp)).wait();
    gas.depositJob = r!.gasUsed;
    const dep = jobIdOf(c, r);
    const depOp = v.ops.find((o) => o.address === dep.operator)!;
    const e1 = await v.ledger.earningsOf(depOp.address);
    await v.escrow.connect(depOp).submitResult(dep.jobId, randomId());
    await time.increase(P.challengeWindow + 1n);
    await v.escrow.finalize(dep.jobId);
    expect((await v.ledger.earningsOf(depOp.address)) - e1).to.equal(allowanceEarning);
    expect(allowanceEarning).to.equal((PRICE * 8000n) / 10_000n);
    r = await (await v.escrow.connect(v.requester).submitJob(await jobParams(connection, v))).wait();
    gas.transferJob = r!.gasUsed;
    // Settle it so that the next job reuses its record, as the transfer-paid one reused the deposit job's: the
    // two figures then compare like for like (a job in a fresh record pays 3 x 17,100 more).
    const tr = jobIdOf(c, r);
    await v.escrow.connect(v.ops.find((o) => o.address === tr.operator)!).submitResult(tr.jobId, randomId());
    await time.increase(P.challengeWindow + 1n);
    await v.escrow.finalize(tr.jobId);
    gas.allowanceJob = (await spend(c, holder, holder.address)).receipt.gasUsed; // holder already checkpointed today

    // Reset at the next 00:00 UTC: the full allowance again.
    await time.increaseTo(await credits.nextReset());
    expect(await credits.allowanceLeft(holder.address)).to.equal(2n * RATE);

    // An agent spends under its cap; over the cap reverts; the requester of record is the agent.
    const cap = 3n * PRICE;
    await expect(credits.connect(holder).grantAgent(agent.address, cap)).to.emit(credits, "AgentGranted").withArgs(holder.address, agent.address, cap);
    for (let i = 0; i < 3; i++) {
      const s = await spend(c, agent, holder.address);
      expect((await v.escrow.getJob(s.jobId)).requester).to.equal(agent.address);
    }
    expect(await credits.agentAllowanceLeft(holder.address, agent.address)).to.equal(0n);
    expect(await credits.agentOf(holder.address, agent.address)).to.deep.equal([cap, cap]);
    await expect(spend(c, agent, holder.address))
      .to.be.revertedWithCustomError(credits, "ComputeCreditsAgentCapExceeded")
      .withArgs(holder.address, agent.address, PRICE, 0n);
    expect(await credits.allowanceLeft(holder.address)).to.equal(2n * RATE - cap);
    // Re-granting the same day keeps what was spent today.
    await credits.connect(holder).grantAgent(agent.address, 4n * PRICE);
    expect(await credits.agentAllowanceLeft(holder.address, agent.address)).to.equal(PRICE);
    // Revoke: the agent is out at once.
    await expect(credits.connect(holder).revokeAgent(agent.address)).to.emit(credits, "AgentRevoked");
    await expect(spend(c, agent, holder.address)).to.be.revertedWithCustomError(credits, "ComputeCreditsNotAgent");

    // burn -> cooldown -> unlock: the holder keeps today's allowance after burning.
    const left = await credits.allowanceLeft(holder.address);
    const ret = await credits.burnReturn(n);
    r = await (await credits.connect(holder).burn(n, ret)).wait();
    gas.burn = r!.gasUsed;
    expect(await credits.allowanceLeft(holder.address)).to.equal(left);
    await expect(credits.connect(holder).withdrawUnlocked(holder.address)).to.be.revertedWithCustomError(credits, "ComputeCreditsNothingUnlocked");
    await time.increase(D.creditUnlockDelay);
    r = await (await credits.connect(holder).withdrawUnlocked(holder.address)).wait();
    gas.withdrawUnlocked = r!.gasUsed;
    expect(await credits.allowanceLeft(holder.address)).to.equal(0n); // a new day, no credits
    // Alice minted after the holder at a higher price, then the holder left with its pro-rata share.
    expect(ret).to.be.greaterThan(cost);
    expect(await v.veil.balanceOf(await credits.getAddress())).to.equal(await credits.totalLocked());

    console.log("      gas:", Object.fromEntries(Object.entries(gas).map(([k, g]) => [k, Number(g)])));
    // The allowance path adds the fee lookup, the day's bookkeeping and the ledger's transferFrom from the pool
    // (a standing approval) to what a deposit-paid job costs; it stays within a transfer-paid job plus 50k.
    expect(gas.allowanceJob).to.be.lessThan(gas.transferJob + 50_000n);
  });
});
