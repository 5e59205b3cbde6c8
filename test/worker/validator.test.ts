import { expect } from "chai";
import { network } from "hardhat";
import { custom, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { createWorker, type CreatedWorker } from "../../packages/worker/src/create.js";
import { nullLogger } from "../../packages/worker/src/internal/log.js";
import { buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { BALLOT_SLOT, SPOT_CHECK_SLOT, TRACKER_SLOT } from "../../packages/worker/src/validator.js";
import { encodeTensors, resultHash } from "../../packages/sdk/src/tensor.js";
import { DISPUTE_DEFAULTS as D } from "../../ignition/modules/parts/disputes.js";
import { ROLES } from "../../ignition/modules/roles.js";
import { deployVeil, modelParams, STATUS, type Veil } from "../helpers/fixture.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;
const MNEMONIC = "test test test test test test test test test test test junk";
const CHAIN_ID = 31337;
// A committee of 5 drawn from the operators outside a k = 3 job, with room for the rejection sampling.
const OPERATORS = 10;
const DSTATUS = { None: 0n, Drawing: 1n, Voting: 2n, Resolved: 3n };
const disputeManagerAt = (address: string) => ethers.getContractAt("DisputeManager", address);

describe("validator mode: committee re-execution, votes, slashing, spot checks (10 workers, real ONNX Runtime)", function () {
  this.timeout(180_000);
  let v: Veil;
  let dm: Awaited<ReturnType<typeof disputeManagerAt>>;
  let workers: CreatedWorker[] = [];
  let liar: CreatedWorker;
  const mlp = buildMlpModel({ seed: 7 });
  const gas: Record<string, bigint[]> = {};

  before(async () => {
    v = await deployVeil(connection, OPERATORS);
    const granted = await v.manager.queryFilter(v.manager.filters.RoleGranted(ROLES.DISPUTER));
    dm = await disputeManagerAt(granted[0]!.args.account);
    await v.registry.connect(v.modelOwner).registerModel(mlp.modelId, modelParams({ redundancy: 1 }));
    const addresses = {
      jobEscrow: (await v.escrow.getAddress()) as Hex,
      nodeStaking: (await v.staking.getAddress()) as Hex,
      modelRegistry: (await v.registry.getAddress()) as Hex,
      disputeManager: (await dm.getAddress()) as Hex,
    };
    const transport = custom(connection.provider);
    const signers = await ethers.getSigners();
    for (const [i, op] of v.ops.entries()) {
      const account = mnemonicToAccount(MNEMONIC, { addressIndex: signers.findIndex((s) => s.address === op.address) });
      expect(account.address).to.equal(op.address);
      const w = await createWorker({
        transport,
        account,
        addresses,
        dataDir: ":memory:",
        models: [{ bytes: mlp.bytes }],
        logger: nullLogger(),
        startBlock: 0n,
        validator: true,
        spotCheckRate: 1,
        tamperOutputs: i === 0,
      });
      await w.worker.start();
      workers.push(w);
    }
    liar = workers[0]!;
  });

  after(async () => {
    for (const w of workers) await w.close();
    console.log("      validator gas (from receipts):");
    for (const [label, list] of Object.entries(gas)) {
      const min = list.reduce((a, b) => (a < b ? a : b));
      const max = list.reduce((a, b) => (a > b ? a : b));
      console.log(`        ${label.padEnd(18)} min ${min}  max ${max}  (n=${list.length})`);
    }
  });

  async function tickAll(rounds = 1) {
    for (let i = 0; i < rounds; i++) {
      for (const w of workers) {
        await w.worker.tick();
        await w.worker.settle();
      }
    }
  }

  async function tickUntil(done: () => Promise<boolean>, maxRounds = 8) {
    for (let i = 0; i < maxRounds; i++) {
      if (await done()) return;
      await tickAll();
    }
    expect(await done(), "condition not reached").to.equal(true);
  }

  const INPUT = encodeTensors({ x: { type: "float32", dims: [1, 16], data: new Float32Array(16).map((_, i) => Math.sin(i) / 2) } });

  async function honestHash(): Promise<Hex> {
    const r = await workers[1]!.engine.run(mlp.modelId, { x: { type: "float32", dims: [1, 16], data: new Float32Array(16).map((_, i) => Math.sin(i) / 2) } });
    return resultHash(r.outputs, { kind: "exact" }) as Hex;
  }

  /** Submits `redundancy`-operator jobs until the liar holds a slot; returns that job. */
  async function submitUntilLiar(redundancy: number) {
    // Stake-weighted: about 30% per k = 3 job, 8% per k = 1 job (the liar's stake slashed once): failing 150 times
    // in a row has a probability below 1e-5.
    for (let attempt = 0; attempt < 150; attempt++) {
      const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
      const tx = await v.escrow.connect(v.requester).submitJob({
        modelId: mlp.modelId, redundancy, maxFee: 10n ** 9n, deadline: t + 3600n, input: "0x" + Buffer.from(INPUT).toString("hex"), inputURI: "", inputHash: ethers.ZeroHash,
        // A fixed limit: the operator draw reads block.prevrandao, which differs between the estimate (pending block)
        // and the mined block, so an estimate can fall short by a few draw iterations (seen once in CI: out of gas).
      }, { gasLimit: 3_000_000 });
      const receipt = await tx.wait();
      const ev = receipt!.logs.map((l) => { try { return v.escrow.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "OperatorsAssigned");
      const operators = [...ev!.args.operators] as string[];
      if (operators.includes(liar.worker.address)) return { jobId: ev!.args.jobId as bigint, operators, fromBlock: receipt!.blockNumber };
    }
    throw new Error("the liar was never drawn");
  }

  /** Gas of every DisputeManager transaction of `jobId`, by step, from the receipts of its events. */
  async function recordGas(jobId: bigint) {
    const seen = new Set<string>();
    const events: Array<[string, any]> = [
      ["challenge/start", dm.filters.DisputeStarted(jobId)],
      ["drawCommittee", dm.filters.CommitteeDrawn(jobId)],
      ["commitVote", dm.filters.VoteCommitted(jobId)],
      ["revealVote", dm.filters.VoteRevealed(jobId)],
      ["resolve", dm.filters.DisputeResolved(jobId)],
    ];
    for (const [label, filter] of events) {
      for (const e of await dm.queryFilter(filter)) {
        if (seen.has(e.transactionHash)) continue;
        seen.add(e.transactionHash);
        const r = await ethers.provider.getTransactionReceipt(e.transactionHash);
        (gas[label] ??= []).push(r!.gasUsed);
      }
    }
  }

  async function slashedSince(fromBlock: number) {
    return (await v.staking.queryFilter(v.staking.filters.Slashed(), fromBlock)).map((e) => ({ account: e.args.operator as string, amount: e.args.amount as bigint }));
  }

  it("drawn workers re-run a disagreement, vote the honest hash, resolve; the liar alone is slashed and voters are paid", async () => {
    const honest = await honestHash();
    const { jobId, operators, fromBlock } = await submitUntilLiar(3);
    const liarStake = (await v.staking.operator(liar.worker.address)).stake;

    // Operators commit and reveal; the liar's result differs, so the escrow disputes the job, and a validator starts
    // the committee process without any bond.
    await tickUntil(async () => (await dm.getDispute(jobId)).status === DSTATUS.Drawing);
    const job = await v.escrow.getJob(jobId);
    expect(job.status).to.equal(STATUS.Disputed);
    const liarSlot = operators.indexOf(liar.worker.address);
    expect(job.slotHashes[liarSlot]).to.not.equal(honest);
    for (const [i, h] of job.slotHashes.entries()) if (i !== liarSlot) expect(h).to.equal(honest);
    const started = await dm.queryFilter(dm.filters.DisputeStarted(jobId));
    expect(started).to.have.length(1);
    expect(started[0]!.args.challenger).to.equal(ethers.ZeroAddress);

    // Too early to draw: nobody does. After the seed block, the first validator to tick draws.
    await tickAll();
    expect((await dm.getDispute(jobId)).status).to.equal(DSTATUS.Drawing);
    await networkHelpers.mine(Number(D.drawDelayBlocks) + 1);
    await tickUntil(async () => (await dm.getDispute(jobId)).status === DSTATUS.Voting);
    const members = [...(await dm.getDispute(jobId)).members] as string[];
    expect(members).to.have.length(Number(D.committeeSize));
    for (const m of members) expect(operators).to.not.include(m);

    // Every member re-runs the job and commits (salt persisted first); nobody reveals before the commit window ends.
    await tickUntil(async () => {
      for (const i of members.keys()) if ((await dm.ballot(jobId, i)).commitment === ethers.ZeroHash) return false;
      return true;
    });
    for (const [i, m] of members.entries()) {
      const w = workers.find((w) => w.worker.address === m)!;
      const rec = w.store.getJob({ chainId: CHAIN_ID, jobId, slot: BALLOT_SLOT })!;
      expect(rec.state).to.equal("committed");
      expect(rec.meta.index).to.equal(i);
      expect(rec.meta.vote).to.equal(honest);
      expect((await dm.ballot(jobId, i)).revealed).to.equal(false);
    }
    // Non-members keep no ballot.
    for (const w of workers) if (!members.includes(w.worker.address)) expect(w.store.getJob({ chainId: CHAIN_ID, jobId, slot: BALLOT_SLOT })).to.equal(undefined);

    let d = await dm.getDispute(jobId);
    await networkHelpers.time.increaseTo(d.commitEnd + 1n);
    await tickUntil(async () => (await dm.getDispute(jobId)).revealed === BigInt(members.length));
    expect(await dm.votesFor(jobId, honest)).to.equal(BigInt(members.length));

    // Extra ticks inside the reveal window change nothing: a vote is never sent twice.
    const commitsBefore = (await dm.queryFilter(dm.filters.VoteCommitted(jobId))).length;
    await tickAll();
    expect((await dm.queryFilter(dm.filters.VoteCommitted(jobId))).length).to.equal(commitsBefore);
    expect((await dm.queryFilter(dm.filters.VoteRevealed(jobId))).length).to.equal(members.length);

    const honestOps = operators.filter((op) => op !== liar.worker.address);
    const earningsBefore = await Promise.all(honestOps.map((op) => v.ledger.earningsOf(op)));
    d = await dm.getDispute(jobId);
    await networkHelpers.time.increaseTo(d.revealEnd + 1n);
    await tickUntil(async () => (await dm.getDispute(jobId)).status === DSTATUS.Resolved);
    d = await dm.getDispute(jobId);
    expect(d.decided).to.equal(true);
    expect(d.winner).to.equal(honest);
    expect((await dm.queryFilter(dm.filters.DisputeResolved(jobId)))).to.have.length(1);

    // The job is paid for the honest result.
    const settled = await v.escrow.getJob(jobId);
    expect(settled.status).to.equal(STATUS.Finalized);
    expect(settled.result).to.equal(honest);
    for (const [i, op] of honestOps.entries()) expect(await v.ledger.earningsOf(op)).to.be.greaterThan(earningsBefore[i]!);

    // Only the liar is slashed, by the dispute's operator slash; no member missed its vote.
    const slashed = await slashedSince(fromBlock);
    expect(slashed).to.deep.equal([{ account: liar.worker.address, amount: D.operatorSlash }]);
    expect((await v.staking.operator(liar.worker.address)).stake).to.equal(liarStake - D.operatorSlash);
    expect(await dm.queryFilter(dm.filters.MemberSlashed(jobId))).to.have.length(0);

    // Honest voters share the voters' cut of the slash (no challenger's bond here, so nothing for the operators
    // from the dispute manager: the escrow paid them above), and each worker claimed its rewards.
    await tickAll();
    const credited = await dm.queryFilter(dm.filters.RewardCredited(jobId));
    const paid = new Map(credited.map((e) => [e.args.account as string, e.args.amount as bigint]));
    const perVoter = (D.operatorSlash * D.votersBps) / 10_000n / BigInt(members.length);
    for (const m of members) expect(paid.get(m)).to.equal(perVoter);
    for (const op of operators) expect(paid.has(op)).to.equal(false);
    const claimed = new Set((await dm.queryFilter(dm.filters.Claimed())).map((e) => e.args.account as string));
    for (const m of members) {
      expect(claimed.has(m), `member ${m} claimed`).to.equal(true);
      expect(await dm.claimable(m)).to.equal(0n);
    }

    // Every worker's records for this dispute are terminal. A worker's background loop may still be finishing a pass
    // that began before the resolution (overlapping ticks share one pass), so give each a few more passes first.
    await tickUntil(async () =>
      workers.every((w) => {
        const state = w.store.getJob({ chainId: CHAIN_ID, jobId, slot: TRACKER_SLOT })?.state;
        return state === undefined || state === "finalized";
      }),
    );
    for (const w of workers) {
      expect(w.store.getJob({ chainId: CHAIN_ID, jobId, slot: TRACKER_SLOT })?.state).to.equal("finalized");
      const ballot = w.store.getJob({ chainId: CHAIN_ID, jobId, slot: BALLOT_SLOT });
      if (ballot) expect(ballot.state).to.equal("finalized");
    }
    await recordGas(jobId);
  });

  it("a spot check catches a k = 1 liar: the checker challenges with a bond, the committee votes NONE, the liar is slashed", async () => {
    const honest = await honestHash();
    const { jobId, fromBlock } = await submitUntilLiar(1);
    const token = await ethers.getContractAt("VeilToken", await dm.stakingToken());

    // The liar posts its result; the other workers re-run the proposed job and one of them challenges.
    await tickUntil(async () => (await dm.getDispute(jobId)).status === DSTATUS.Drawing);
    const dispute = await dm.getDispute(jobId);
    const challenger = dispute.challenger as string;
    const checker = workers.find((w) => w.worker.address === challenger)!;
    expect(checker).to.not.equal(undefined);
    expect(checker).to.not.equal(liar);
    expect(dispute.challenged).to.not.equal(honest);
    expect(dispute.bond).to.equal(D.challengeBond);
    const spot = checker.store.getJob({ chainId: CHAIN_ID, jobId, slot: SPOT_CHECK_SLOT })!;
    expect(spot.state).to.equal("finalized");
    expect(spot.meta.outcome).to.equal("challenged");
    expect(spot.resultHash).to.equal(honest);
    // The liar does not check its own job; the other checkers saw the dispute and stood down.
    expect(liar.store.getJob({ chainId: CHAIN_ID, jobId, slot: SPOT_CHECK_SLOT })).to.equal(undefined);
    const balanceAfterBond = await token.balanceOf(challenger);

    await networkHelpers.mine(Number(D.drawDelayBlocks) + 1);
    await tickUntil(async () => (await dm.getDispute(jobId)).status === DSTATUS.Voting);
    const members = [...(await dm.getDispute(jobId)).members] as string[];
    expect(members).to.not.include(liar.worker.address);
    await tickUntil(async () => {
      for (const i of members.keys()) if ((await dm.ballot(jobId, i)).commitment === ethers.ZeroHash) return false;
      return true;
    });
    let d = await dm.getDispute(jobId);
    await networkHelpers.time.increaseTo(d.commitEnd + 1n);
    await tickUntil(async () => (await dm.getDispute(jobId)).revealed === BigInt(members.length));
    // No member reproduces the only candidate (the liar's hash): every vote is NONE.
    expect(await dm.votesFor(jobId, ethers.ZeroHash)).to.equal(BigInt(members.length));
    d = await dm.getDispute(jobId);
    await networkHelpers.time.increaseTo(d.revealEnd + 1n);
    await tickUntil(async () => (await dm.getDispute(jobId)).status === DSTATUS.Resolved);
    await tickAll();

    d = await dm.getDispute(jobId);
    expect(d.decided).to.equal(true);
    expect(d.winner).to.equal(ethers.ZeroHash);
    expect((await v.escrow.getJob(jobId)).status).to.equal(STATUS.Refunded);
    expect(await slashedSince(fromBlock)).to.deep.equal([{ account: liar.worker.address, amount: D.operatorSlash }]);
    // The challenger got its bond back plus its share of the slash, and claimed it.
    const credited = (await dm.queryFilter(dm.filters.RewardCredited(jobId))).filter((e) => e.args.account === challenger);
    const toChallenger = credited.reduce((a, e) => a + (e.args.amount as bigint), 0n);
    expect(toChallenger).to.be.greaterThan(D.challengeBond);
    expect(await dm.claimable(challenger)).to.equal(0n);
    expect(await token.balanceOf(challenger)).to.be.greaterThanOrEqual(balanceAfterBond + toChallenger);
    await recordGas(jobId);
  });
});
