import { expect } from "chai";
import { network } from "hardhat";
import { deployVeil, P, STAKE } from "../helpers/fixture.js";

/**
 * Issue 17, L-1: "a dominant operator can never be judged". NodeStaking.assign used to make at most 8 x k draws and
 * waste every one that landed on an excluded operator: with one operator at 90% of a model's stake excluded (it is
 * the operator of the job under dispute), a committee of 5 out of the 6 others was drawn about 9% of the time, and
 * `poke` refunded instead of replacing a missed slot ~2% of the time. Now a draw samples without replacement:
 * excluded, already chosen and busy members are set aside and every draw is among the rest, so it succeeds whenever
 * enough eligible operators exist.
 */
describe("adversarial L-1: a dominant operator excluded from a draw", function () {
  it("a committee of 5 (and of all 6 others) is drawn for every seed with a 90% operator excluded", async () => {
    const c = await network.create({ network: "hardhat", chainType: "l1" });
    const v = await deployVeil(c, 7);
    const [dominant, ...others] = v.ops;
    // 90% of the model's stake: 9 x the 6 others' together.
    const extra = 9n * 6n * STAKE - STAKE;
    await v.veil.transfer(dominant!.address, extra);
    await v.veil.connect(dominant!).approve(await v.staking.getAddress(), extra);
    await v.staking.connect(dominant!).stake(extra);
    const [modelIndex] = await v.registry.jobTerms(v.modelId);
    expect(await v.staking.modelWeight(modelIndex)).to.equal(10n * 6n * STAKE);
    // The test calls assign as the escrow and the DisputeManager do (admin may allowlist a protocol contract).
    await v.staking.connect(v.admin).setProtocolContract(v.admin.address, true);
    const collateral = P.collateral;
    let drawn = 0;
    for (let seed = 0n; seed < 64n; seed++) {
      for (const k of [5n, 6n]) {
        const ops = (await v.staking.connect(v.admin).assign.staticCall(modelIndex, k, seed, collateral, [dominant!.address])) as string[];
        expect(ops).to.have.length(Number(k));
        expect(new Set(ops).size, "distinct").to.equal(Number(k));
        expect(ops).to.not.include(dominant!.address);
        for (const op of ops) expect(others.map((o) => o.address)).to.include(op);
        drawn++;
      }
    }
    expect(drawn).to.equal(128);
    // With the dominant operator free to be drawn, it takes most single draws (stake-weighted).
    let dominantHits = 0;
    for (let seed = 0n; seed < 64n; seed++) {
      const [op] = (await v.staking.connect(v.admin).assign.staticCall(modelIndex, 1n, seed, collateral, [])) as string[];
      if (op === dominant!.address) dominantHits++;
    }
    expect(dominantHits).to.be.within(45, 64); // 90% of 64 = 57.6
  });

  it("members without the free stake are set aside, and the draw still fills every slot among the others", async () => {
    const c = await network.create({ network: "hardhat", chainType: "l1" });
    const v = await deployVeil(c, 7);
    const [modelIndex] = await v.registry.jobTerms(v.modelId);
    await v.staking.connect(v.admin).setProtocolContract(v.admin.address, true);
    const stake = (await v.staking.operator(v.ops[0]!.address)).stake;
    // Lock all of four operators' stake: only three remain eligible for another job.
    for (const op of v.ops.slice(0, 4)) await v.staking.connect(v.admin).assign(modelIndex, 1n, 0n, stake, v.ops.filter((o) => o !== op).map((o) => o.address));
    for (const op of v.ops.slice(0, 4)) expect((await v.staking.operator(op.address)).locked).to.equal(stake);
    for (let seed = 0n; seed < 32n; seed++) {
      const ops = (await v.staking.connect(v.admin).assign.staticCall(modelIndex, 3n, seed, P.collateral, [])) as string[];
      expect(new Set(ops)).to.deep.equal(new Set(v.ops.slice(4).map((o) => o.address)));
    }
    await expect(v.staking.connect(v.admin).assign.staticCall(modelIndex, 4n, 1n, P.collateral, []))
      .to.be.revertedWithCustomError(v.staking, "NodeStakingNotEnoughOperators");
  });
});
