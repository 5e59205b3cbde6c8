import { expect } from "chai";
import { network } from "hardhat";
import { deployVeil, submit, modelParams, now, P, STAKE, E18, randomId } from "../helpers/fixture.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;
const { time } = networkHelpers;
const name = (s: string) => ethers.encodeBytes32String(s);
const MIN = 1_000n * E18;
const UNBONDING = 21n * 86400n;

async function deploy() {
  const v = await deployVeil(connection);
  const protocol = v.signers[16]; // stands in for a protocol contract (on NodeStaking's protocol allowlist)
  await v.staking.setProtocolContract(protocol.address, true);
  const index = (await v.registry.getModel(v.modelId)).index;
  const fresh = v.signers[17];
  await v.veil.transfer(fresh.address, STAKE * 2n);
  await v.veil.connect(fresh).approve(await v.staking.getAddress(), ethers.MaxUint256);
  return { ...v, protocol, index, fresh };
}
type Env = Awaited<ReturnType<typeof deploy>>;

describe("NodeStaking", () => {
  let v: Env;
  beforeEach(async () => {
    v = await networkHelpers.loadFixture(deploy);
  });

  describe("registration", () => {
    it("register, update and their revert paths", async () => {
      await expect(v.staking.connect(v.fresh).updateNode("http://x", randomId())).to.be.revertedWithCustomError(v.staking, "NodeStakingNotRegistered").withArgs(v.fresh.address);
      await expect(v.staking.connect(v.fresh).register("", ethers.ZeroHash)).to.be.revertedWithCustomError(v.staking, "NodeStakingEmptyEndpoint");
      await expect(v.staking.connect(v.fresh).register("x".repeat(257), ethers.ZeroHash)).to.be.revertedWithCustomError(v.staking, "NodeStakingEndpointTooLong").withArgs(257n, 256n);
      const key = randomId();
      await expect(v.staking.connect(v.fresh).register("http://a", key)).to.emit(v.staking, "OperatorRegistered").withArgs(v.fresh.address, "http://a", key);
      await expect(v.staking.connect(v.fresh).register("http://a", key)).to.be.revertedWithCustomError(v.staking, "NodeStakingAlreadyRegistered").withArgs(v.fresh.address);
      await expect(v.staking.connect(v.fresh).updateNode("http://b", ethers.ZeroHash)).to.emit(v.staking, "OperatorUpdated").withArgs(v.fresh.address, "http://b", ethers.ZeroHash);
      const o = await v.staking.operator(v.fresh.address);
      expect(o.registered).to.equal(true);
      expect(o.endpoint).to.equal("http://b");
      expect(o.eligible).to.equal(false);
    });

    it("stake: zero, unregistered, eligibility at minStake, permit", async () => {
      await expect(v.staking.connect(v.fresh).stake(1n)).to.be.revertedWithCustomError(v.staking, "NodeStakingNotRegistered").withArgs(v.fresh.address);
      await v.staking.connect(v.fresh).register("http://a", ethers.ZeroHash);
      await expect(v.staking.connect(v.fresh).stake(0n)).to.be.revertedWithCustomError(v.staking, "NodeStakingZeroAmount");
      await v.staking.connect(v.fresh).joinModel(v.modelId);
      await v.staking.connect(v.fresh).stake(MIN - 1n);
      expect((await v.staking.operator(v.fresh.address)).eligible).to.equal(false);
      expect(await v.staking.eligibleCount(v.index)).to.equal(5n);
      await expect(v.staking.connect(v.fresh).stake(1n)).to.emit(v.staking, "EligibilityChanged").withArgs(v.fresh.address, true);
      expect(await v.staking.eligibleCount(v.index)).to.equal(6n);
      expect(await v.staking.modelWeight(v.index)).to.equal(STAKE * 5n + MIN);
      // stakeWithPermit
      await v.veil.connect(v.fresh).approve(await v.staking.getAddress(), 0n);
      const deadline = (await now(connection)) + 3600n;
      const sig = ethers.Signature.from(await v.fresh.signTypedData(
        { name: "Veil", version: "1", chainId: (await ethers.provider.getNetwork()).chainId, verifyingContract: await v.veil.getAddress() },
        { Permit: [{ name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }] },
        { owner: v.fresh.address, spender: await v.staking.getAddress(), value: 5n, nonce: await v.veil.nonces(v.fresh.address), deadline },
      ));
      await expect(v.staking.connect(v.fresh).stakeWithPermit(5n, deadline, sig.v, sig.r, sig.s)).to.emit(v.staking, "Staked").withArgs(v.fresh.address, 5n, MIN + 5n);
      expect(await v.staking.totalStaked()).to.equal(STAKE * 5n + MIN + 5n);
    });

    it("uint96 stake overflow is refused (NodeStakingStakeOverflow)", async () => {
      const big = await ethers.deployContract("MockUSDC");
      const st = await ethers.deployContract("NodeStaking", [await v.manager.getAddress(), await big.getAddress(), await v.usdc.getAddress(), await v.registry.getAddress(), MIN, UNBONDING]);
      const max = 2n ** 96n - 1n;
      await big.mint(v.fresh.address, max + 1n);
      await big.connect(v.fresh).approve(await st.getAddress(), ethers.MaxUint256);
      await st.connect(v.fresh).register("http://a", ethers.ZeroHash);
      await st.connect(v.fresh).stake(max);
      await expect(st.connect(v.fresh).stake(1n)).to.be.revertedWithCustomError(st, "NodeStakingStakeOverflow").withArgs(max + 1n);
    });

    it("a fee-on-transfer staking token is refused (NodeStakingTransferMismatch), nothing is credited", async () => {
      const fot = await ethers.deployContract("FeeOnTransferERC20");
      const st = await ethers.deployContract("NodeStaking", [await v.manager.getAddress(), await fot.getAddress(), await v.usdc.getAddress(), await v.registry.getAddress(), MIN, UNBONDING]);
      await fot.mint(v.fresh.address, MIN * 2n);
      await fot.connect(v.fresh).approve(await st.getAddress(), ethers.MaxUint256);
      await st.connect(v.fresh).register("http://a", ethers.ZeroHash);
      await expect(st.connect(v.fresh).stake(MIN)).to.be.revertedWithCustomError(st, "NodeStakingTransferMismatch").withArgs(MIN, MIN - MIN / 100n);
      expect((await st.operator(v.fresh.address)).stake).to.equal(0n);
      expect(await st.totalStaked()).to.equal(0n);
      expect(await fot.balanceOf(v.fresh.address)).to.equal(MIN * 2n);
    });

    it("constructor and setMinStake bounds", async () => {
      await expect(ethers.deployContract("NodeStaking", [await v.manager.getAddress(), await v.veil.getAddress(), await v.usdc.getAddress(), await v.registry.getAddress(), 0n, UNBONDING]))
        .to.be.revertedWithCustomError(v.staking, "NodeStakingParameterOutOfBounds").withArgs(name("minStake"), 0n, 1n, 2n ** 96n - 1n);
      await expect(ethers.deployContract("NodeStaking", [await v.manager.getAddress(), await v.veil.getAddress(), await v.usdc.getAddress(), await v.registry.getAddress(), MIN, 3599n]))
        .to.be.revertedWithCustomError(v.staking, "NodeStakingParameterOutOfBounds").withArgs(name("unbondingPeriod"), 3599n, 3600n, 365n * 86400n);
      await expect(v.staking.setMinStake(2n ** 96n)).to.be.revertedWithCustomError(v.staking, "NodeStakingParameterOutOfBounds").withArgs(name("minStake"), 2n ** 96n, 1n, 2n ** 96n - 1n);
      await expect(v.staking.setUnbondingPeriod(365n * 86400n + 1n)).to.be.revertedWithCustomError(v.staking, "NodeStakingParameterOutOfBounds");
      await expect(v.staking.setMinStake(STAKE + 1n)).to.emit(v.staking, "MinStakeSet").withArgs(STAKE + 1n);
      expect(await v.staking.minStake()).to.equal(STAKE + 1n);
    });
  });

  describe("models", () => {
    it("join and leave, with their revert paths", async () => {
      const op = v.ops[0];
      await expect(v.staking.connect(op).joinModel(v.modelId)).to.be.revertedWithCustomError(v.staking, "NodeStakingAlreadyServing").withArgs(op.address, v.modelId);
      const unknown = randomId();
      await expect(v.staking.connect(op).joinModel(unknown)).to.be.revertedWithCustomError(v.registry, "ModelRegistryUnknownModel").withArgs(unknown);
      await expect(v.staking.connect(op).leaveModel(unknown)).to.be.revertedWithCustomError(v.staking, "NodeStakingNotServing").withArgs(op.address, unknown);
      await expect(v.staking.connect(v.fresh).leaveModel(v.modelId)).to.be.revertedWithCustomError(v.staking, "NodeStakingNotRegistered");
      const other = randomId();
      await v.registry.connect(v.modelOwner).registerModel(other, modelParams());
      await v.staking.connect(op).joinModel(other);
      expect(await v.staking.isServing(op.address, other)).to.equal(true);
      expect((await v.staking.operator(op.address)).models).to.deep.equal([v.modelId, other]);
      await expect(v.staking.connect(op).leaveModel(v.modelId)).to.emit(v.staking, "ModelLeft").withArgs(op.address, v.modelId);
      expect(await v.staking.isServing(op.address, v.modelId)).to.equal(false);
      expect(await v.staking.eligibleCount(v.index)).to.equal(4n);
      // An inactive model takes no new operators.
      await v.registry.connect(v.modelOwner).setActive(v.modelId, false);
      await expect(v.staking.connect(op).joinModel(v.modelId)).to.be.revertedWithCustomError(v.registry, "ModelRegistryUnknownModel");
    });

    it("at most 16 models per operator (NodeStakingTooManyModels)", async () => {
      const op = v.ops[0];
      for (let i = 0; i < 15; i++) {
        const id = randomId();
        await v.registry.connect(v.modelOwner).registerModel(id, modelParams());
        await v.staking.connect(op).joinModel(id);
      }
      const id = randomId();
      await v.registry.connect(v.modelOwner).registerModel(id, modelParams());
      await expect(v.staking.connect(op).joinModel(id)).to.be.revertedWithCustomError(v.staking, "NodeStakingTooManyModels").withArgs(op.address, 16n);
      // The stake sync over 16 trees stays bounded.
      const receipt = await (await v.staking.connect(op).stake(1n)).wait();
      expect(receipt!.gasUsed).to.be.lessThan(1_000_000n);
    });
  });

  describe("unbonding", () => {
    it("unbond only from free stake; withdraw after the period; revert paths", async () => {
      const { operators: [op] } = await submit(connection, v);
      await expect(v.staking.connect(op).requestUnbond(0n)).to.be.revertedWithCustomError(v.staking, "NodeStakingZeroAmount");
      await expect(v.staking.connect(op).requestUnbond(STAKE)).to.be.revertedWithCustomError(v.staking, "NodeStakingInsufficientFreeStake").withArgs(op.address, STAKE, STAKE - P.collateral);
      await expect(v.staking.connect(op).withdrawUnbonded()).to.be.revertedWithCustomError(v.staking, "NodeStakingNothingToWithdraw").withArgs(op.address);
      const tx = await v.staking.connect(op).requestUnbond(STAKE - P.collateral);
      const end = (await ethers.provider.getBlock(tx.blockNumber!))!.timestamp + Number(UNBONDING);
      await expect(tx).to.emit(v.staking, "UnbondRequested").withArgs(op.address, STAKE - P.collateral, STAKE - P.collateral, end);
      expect((await v.staking.operator(op.address)).eligible).to.equal(false);
      await expect(v.staking.connect(op).withdrawUnbonded()).to.be.revertedWithCustomError(v.staking, "NodeStakingUnbondNotReady");
      await time.increaseTo(end);
      await expect(v.staking.connect(op).withdrawUnbonded()).to.changeTokenBalance(ethers, v.veil, op, STAKE - P.collateral);
    });

    it("slashing during unbonding: unbonding stake stays slashable, active stake first", async () => {
      const op = v.ops[0];
      await v.staking.connect(op).requestUnbond(STAKE - 100n);
      // Slash more than the active stake: the rest comes out of unbonding.
      await expect(v.staking.connect(v.protocol).slash(op.address, 0n, 300n, v.outsider.address))
        .to.emit(v.staking, "Slashed").withArgs(op.address, 300n, 200n, v.outsider.address);
      const o = await v.staking.operator(op.address);
      expect(o.stake).to.equal(0n);
      expect(o.unbonding).to.equal(STAKE - 100n - 200n);
      // 100% slash: capped at what exists, burnt when the recipient is zero.
      await expect(v.staking.connect(v.protocol).slash(op.address, 0n, STAKE * 10n, ethers.ZeroAddress))
        .to.changeTokenBalance(ethers, v.veil, "0x000000000000000000000000000000000000dEaD", STAKE - 300n);
      await expect(v.staking.connect(v.protocol).slash(op.address, 0n, 1n, v.outsider.address)).to.emit(v.staking, "Slashed").withArgs(op.address, 0n, 0n, v.outsider.address);
      expect(await v.staking.connect(v.protocol).slash.staticCall(op.address, 0n, 0n, v.outsider.address)).to.equal(0n);
    });

    it("a slash below the locked collateral clamps locked to stake; release saturates", async () => {
      const index = v.index;
      const [picked] = await v.staking.connect(v.protocol).assign.staticCall(index, 1n, 1n, STAKE, []);
      await v.staking.connect(v.protocol).assign(index, 1n, 1n, STAKE, []);
      const who = v.ops.find((o) => o.address === picked)!;
      expect((await v.staking.operator(who.address)).locked).to.equal(STAKE);
      await v.staking.connect(v.protocol).slash(who.address, 0n, 10n, v.outsider.address);
      expect((await v.staking.operator(who.address)).locked).to.equal(STAKE - 10n);
      await expect(v.staking.connect(v.protocol).release(who.address, STAKE)).to.emit(v.staking, "CollateralReleased").withArgs(who.address, STAKE - 10n, 0n);
      await v.staking.connect(v.protocol).release(who.address, 0n); // no-op
    });
  });

  describe("protocol allowlist", () => {
    it("setProtocolContract: governor only, emits, and removal revokes at once", async () => {
      const who = v.fresh;
      await expect(v.staking.connect(who).setProtocolContract(who.address, true)).to.be.revertedWithCustomError(v.staking, "AccessManagedUnauthorized").withArgs(who.address);
      await expect(v.staking.connect(who).notifyRewards(1n)).to.be.revertedWithCustomError(v.staking, "NodeStakingNotProtocol").withArgs(who.address);
      await expect(v.staking.setProtocolContract(ethers.ZeroAddress, true)).to.be.revertedWithCustomError(v.staking, "NodeStakingZeroAddress");
      await expect(v.staking.setProtocolContract(who.address, true)).to.emit(v.staking, "ProtocolContractSet").withArgs(who.address, true);
      expect(await v.staking.isProtocolContract(who.address)).to.equal(true);
      await expect(v.staking.connect(who).notifyRewards(1n)).to.emit(v.staking, "RewardsNotified");
      await expect(v.staking.setProtocolContract(who.address, false)).to.emit(v.staking, "ProtocolContractSet").withArgs(who.address, false);
      await expect(v.staking.connect(who).releaseMany([], [])).to.be.revertedWithCustomError(v.staking, "NodeStakingNotProtocol").withArgs(who.address);
    });
  });

  describe("assignment", () => {
    it("draws distinct operators, skips excluded and busy ones, and fails clearly when too few", async () => {
      const ops = await v.staking.connect(v.protocol).assign.staticCall(v.index, 5n, 42n, 1n, []);
      expect(new Set(ops).size).to.equal(5);
      await expect(v.staking.connect(v.protocol).assign(v.index, 5n, 42n, 1n, [v.ops[0].address]))
        .to.be.revertedWithCustomError(v.staking, "NodeStakingNotEnoughOperators").withArgs(v.index, 5n, 5n);
      const four = await v.staking.connect(v.protocol).assign.staticCall(v.index, 4n, 7n, 1n, [v.ops[0].address, v.outsider.address]);
      expect(four).to.not.include(v.ops[0].address);
      // Busy: collateral above every operator's free stake.
      await expect(v.staking.connect(v.protocol).assign(v.index, 1n, 7n, STAKE + 1n, []))
        .to.be.revertedWithCustomError(v.staking, "NodeStakingNotEnoughOperators").withArgs(v.index, 1n, 0n);
      await expect(v.staking.connect(v.protocol).assign(999n, 1n, 7n, 1n, [])).to.be.revertedWithCustomError(v.staking, "NodeStakingNotEnoughOperators").withArgs(999n, 1n, 0n);
    });

    it("selection is stake-weighted", async () => {
      // ops[0] gets 9x the others' stake: over 200 seeds it should win about 9/13 of single draws.
      await v.veil.transfer(v.ops[0].address, STAKE * 8n);
      await v.staking.connect(v.ops[0]).stake(STAKE * 8n);
      let wins = 0;
      for (let s = 0; s < 200; s++) {
        const [w] = await v.staking.connect(v.protocol).assign.staticCall(v.index, 1n, BigInt(s), 1n, []);
        if (w === v.ops[0].address) wins++;
      }
      expect(wins).to.be.within(115, 160); // expectation 138
    });
  });

  describe("rewards", () => {
    it("notified rewards are shared pro rata and claimable; the empty pool carries them", async () => {
      await v.usdc.mint(await v.staking.getAddress(), 1_000n);
      await expect(v.staking.connect(v.protocol).notifyRewards(1_000n)).to.emit(v.staking, "RewardsNotified");
      for (const op of v.ops) expect(await v.staking.pendingRewards(op.address)).to.equal(200n);
      await expect(v.staking.connect(v.ops[0]).claimRewards(v.outsider.address)).to.emit(v.staking, "RewardsClaimed").withArgs(v.ops[0].address, v.outsider.address, 200n);
      expect(await v.staking.connect(v.ops[0]).claimRewards.staticCall(v.ops[0].address)).to.equal(0n);
      // A new staker earns nothing from before it staked.
      await v.staking.connect(v.fresh).register("http://a", ethers.ZeroHash);
      await v.staking.connect(v.fresh).stake(STAKE);
      expect(await v.staking.pendingRewards(v.fresh.address)).to.equal(0n);

      // Empty pool: a fresh NodeStaking with nobody staked carries the rewards to the first notification with stake.
      const st = await ethers.deployContract("NodeStaking", [await v.manager.getAddress(), await v.veil.getAddress(), await v.usdc.getAddress(), await v.registry.getAddress(), MIN, UNBONDING]);
      await st.setProtocolContract(v.admin.address, true); // admin holds the unmapped setter
      await st.notifyRewards(500n);
      expect(await st.undistributedRewards()).to.equal(500n);
      await v.veil.connect(v.fresh).approve(await st.getAddress(), ethers.MaxUint256);
      await st.connect(v.fresh).register("http://a", ethers.ZeroHash);
      await st.connect(v.fresh).stake(3n);
      await st.notifyRewards(1n);
      expect(await st.undistributedRewards()).to.equal(0n);
      expect(await st.pendingRewards(v.fresh.address)).to.equal(501n);
    });

    it("rounding remainders are carried, never lost (zero-denominator and dust edges)", async () => {
      await v.staking.connect(v.protocol).notifyRewards(1n); // 1 unit over 5 stakers: nobody gets it yet
      for (const op of v.ops) expect(await v.staking.pendingRewards(op.address)).to.equal(0n);
      await v.staking.connect(v.protocol).notifyRewards(4n);
      for (const op of v.ops) expect(await v.staking.pendingRewards(op.address)).to.equal(1n);
    });
  });
});
