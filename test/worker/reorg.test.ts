import { expect } from "chai";
import { network } from "hardhat";
import { custom, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { createWorker, type CreatedWorker } from "../../packages/worker/src/create.js";
import { createLogger } from "../../packages/worker/src/internal/log.js";
import { buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { encodeTensors, resultHash } from "../../packages/sdk/src/tensor.js";
import { deployVeil, modelParams, STATUS, type Veil } from "../helpers/fixture.js";

// Reorgs on the in-process chain: `evm_snapshot` / `evm_revert` then mining other blocks replaces the chain above the
// snapshot with blocks of the same numbers and other hashes, which is what a worker sees of a reorg.
const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;
const MNEMONIC = "test test test test test test test test test test test junk";
/** A job id's low 64 bits: its escrow record (generation << 32 | index); the bits above are its input's tag. */
const RECORD = (1n << 64n) - 1n;

describe("worker under chain reorganisations (in-process chain, snapshot/revert reorgs)", function () {
  this.timeout(120_000);
  let v: Veil;
  let w: CreatedWorker;
  const lines: Array<Record<string, unknown>> = [];
  /** Runs before each JSON-RPC request the worker makes (a test sets it to act at a chosen point of a tick). */
  let beforeRequest: ((method: string, params: unknown) => Promise<void>) | undefined;
  const mlp = buildMlpModel({ seed: 11 });
  const tensors = (seed: number) => ({ x: { type: "float32" as const, dims: [1, 16], data: new Float32Array(16).map((_, j) => Math.sin(seed * 16 + j)) } });
  const input = (seed: number) => encodeTensors(tensors(seed));

  before(async () => {
    v = await deployVeil(connection, 1); // one operator: every job is drawn to it
    await v.registry.connect(v.modelOwner).registerModel(mlp.modelId, modelParams({ redundancy: 1 }));
    const signers = await ethers.getSigners();
    const op = v.ops[0]!;
    const account = mnemonicToAccount(MNEMONIC, { addressIndex: signers.findIndex((s) => s.address === op.address) });
    const logger = createLogger({ level: "debug", stream: { write: (s: string) => void lines.push(JSON.parse(s)) } });
    w = await createWorker({
      transport: custom({
        request: async ({ method, params }: { method: string; params?: unknown }) => {
          await beforeRequest?.(method, params);
          return connection.provider.request({ method, params: params as unknown[] });
        },
      }),
      account,
      addresses: { jobEscrow: (await v.escrow.getAddress()) as Hex, nodeStaking: (await v.staking.getAddress()) as Hex, modelRegistry: (await v.registry.getAddress()) as Hex },
      dataDir: ":memory:",
      models: [{ bytes: mlp.bytes }],
      logger,
      startBlock: 0n,
      pollIntervalMs: 3_600_000, // ticked by the test only
    });
    await w.worker.start();
  });
  after(async () => {
    await w.close();
  });

  const tick = async () => {
    await w.worker.tick();
    await w.worker.settle();
  };
  async function submit(seed: number) {
    const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    const receipt = await (await v.escrow.connect(v.requester).submitJob({
      modelId: mlp.modelId, redundancy: 1, maxFee: 10n ** 9n, deadline: t + 3600n, input: "0x" + Buffer.from(input(seed)).toString("hex"), inputURI: "", inputHash: ethers.ZeroHash,
    }, { gasLimit: 3_000_000 })).wait();
    const ev = receipt!.logs.map((l) => { try { return v.escrow.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "JobSubmitted");
    return ev!.args.jobId as bigint;
  }
  const honest = async (seed: number) => resultHash((await w.engine.run(mlp.modelId, tensors(seed))).outputs, { kind: "exact" });
  /** Results for `jobId` in the operator's transactions on the current chain from `fromBlock` (alone or in a multicall). */
  async function postsOf(jobId: bigint, fromBlock: number) {
    const op = v.ops[0]!.address.toLowerCase();
    const escrow = (await v.escrow.getAddress()).toLowerCase();
    let n = 0;
    for (let b = fromBlock; b <= (await ethers.provider.getBlockNumber()); b++) {
      for (const tx of (await ethers.provider.getBlock(b, true))!.prefetchedTransactions) {
        if (tx.from.toLowerCase() !== op || tx.to?.toLowerCase() !== escrow) continue;
        const call = v.escrow.interface.parseTransaction({ data: tx.data });
        const calls = call?.name === "multicall" ? (call.args[0] as string[]).map((data) => v.escrow.interface.parseTransaction({ data })) : [call];
        n += calls.filter((c) => c?.name === "submitResult" && c.args[0] === jobId).length;
      }
    }
    return n;
  }

  it("a reorg that removes the block with the worker's result: detected by parent hash, events re-read, the result posted again", async () => {
    const id = await submit(1);
    const snapshot = await networkHelpers.takeSnapshot();
    await tick();
    const posted = await v.escrow.getJob(id);
    expect(posted.status).to.equal(STATUS.Proposed);
    expect(w.store.getJob({ chainId: 31337, jobId: id, slot: 0 })!.state).to.be.oneOf(["revealed", "served"]);
    await networkHelpers.mine(2);
    await tick(); // the cursor (and its hash) moves past the result's block
    const before = (await ethers.provider.getBlock("latest"))!;

    // The reorg: back to the block after the submission, then other (empty) blocks of the same numbers and more.
    await snapshot.restore();
    await networkHelpers.mine(5);
    const after = (await ethers.provider.getBlock(before.number))!;
    expect(after.hash, "block replaced").to.not.equal(before.hash);
    expect((await v.escrow.getJob(id)).status, "the result is gone from the chain").to.equal(STATUS.Assigned);

    await tick();
    expect(w.worker.reorgs).to.have.length(1);
    expect(w.worker.reorgs[0]!.depth).to.be.greaterThan(0);
    await tick();
    const job = await v.escrow.getJob(id);
    expect(job.status, "posted again after the reorg: " + lines.slice(-12).map((l) => `${l.msg} ${JSON.stringify(l)}`.slice(0, 300)).join("\n")).to.equal(STATUS.Proposed);
    expect(job.slotHashes[0]).to.equal(await honest(1));
    expect(lines.some((l) => l.msg === "chain reorganised: events re-read from the fork point, active jobs re-checked")).to.equal(true);
    expect(lines.some((l) => l.msg === "a reorg removed this worker's post; sending it again")).to.equal(true);
    // The nonce was read again from the chain: the next job goes through at once.
    const next = await submit(2);
    await tick();
    expect((await v.escrow.getJob(next)).status).to.equal(STATUS.Proposed);
  });

  it("a reorg that replaces a submission with another input: the new one has another id (its input's tag), and the old input's result is never posted for it", async () => {
    const snapshot = await networkHelpers.takeSnapshot();
    const id = await submit(3);
    await tick();
    expect((await v.escrow.getJob(id)).slotHashes[0]).to.equal(await honest(3));
    await networkHelpers.mine(2);
    await tick();

    // The escrow record id's submission was in now carries input 4, under another id.
    await snapshot.restore();
    await networkHelpers.mine(1);
    const replaced = await submit(4);
    expect(replaced, "another id: a job id carries its input's tag").to.not.equal(id);
    expect(replaced & RECORD, "in the same escrow record").to.equal(id & RECORD);
    await networkHelpers.mine(3);
    await tick();
    await tick();
    const job = await v.escrow.getJob(replaced);
    expect(job.slotHashes[0], "input 3's result was not posted for input 4").to.not.equal(await honest(3));
    expect(job.slotHashes[0], "input 4's job is served").to.equal(await honest(4));
    // The old result, posted again under the old id, would revert instead of settling the new job.
    await expect(v.escrow.connect(v.ops[0]!).submitResult.staticCall(id, await honest(3))).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(id);
    await expect(v.escrow.getJob(id)).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(id);
    const record = w.store.getJob({ chainId: 31337, jobId: id, slot: 0 })!;
    expect(record.state, "kept while its submission may come back").to.not.equal("failed");
    expect(record.lastError).to.equal("submission not on chain");
    expect(lines.some((l) => /submission is not on chain/.test(String(l.msg)) && l.jobId === String(id))).to.equal(true);
    expect(await postsOf(id, 0), "the old result was not sent again (its first post went with the reorg)").to.equal(0);
  });

  it("a reorg that removes a submission for good: the worker waits for it until its deadline, then drops the record (no retry loop, /health not held at risk)", async () => {
    const snapshot = await networkHelpers.takeSnapshot();
    const id = await submit(5);
    await tick();
    await networkHelpers.mine(2);
    await tick();
    expect(w.store.getJob({ chainId: 31337, jobId: id, slot: 0 })!.state).to.be.oneOf(["revealed", "served"]);

    await snapshot.restore(); // the submission is gone, and nobody sends it again
    await networkHelpers.mine(5);
    await tick();
    await tick();
    await v.escrow.getJob(id).then(() => expect.fail("the job should not exist on this chain"), () => undefined);
    let record = w.store.getJob({ chainId: 31337, jobId: id, slot: 0 })!;
    expect(record.state, "kept while the submission may come back").to.not.equal("failed");
    expect(lines.some((l) => /submission is not on chain/.test(String(l.msg)))).to.equal(true);

    await networkHelpers.time.increase(3_601n); // past the job's deadline
    await tick();
    await tick();
    record = w.store.getJob({ chainId: 31337, jobId: id, slot: 0 })!;
    expect(record.state).to.equal("failed");
    expect(record.failReason).to.match(/no longer on chain/);
    expect(JSON.stringify(w.worker.health().reasons ?? [])).to.not.match(new RegExp(`job ${id} `));
  });

  it("a reorg between the worker's reading a job and posting its result: the post reverts (JobEscrowUnknownJob) instead of landing on the job now in that record; nothing sent, no slash, dropped at its deadline", async () => {
    const op = v.ops[0]!.address;
    const stake = (await v.staking.operator(op)).stake;
    const from = await ethers.provider.getBlockNumber();
    const snapshot = await networkHelpers.takeSnapshot();
    const id = await submit(6);
    const selector = v.escrow.interface.getFunction("submitResult")!.selector;
    const idWord = id.toString(16).padStart(64, "0");
    let replaced: bigint | undefined;
    // The worker ingests the job and runs it; as it simulates its result, the chain reorganises under it: the
    // submission is gone and the same escrow record holds another input's job (under another id).
    beforeRequest = async (method, params) => {
      const call = method === "eth_call" ? ((params as Array<{ data?: string; input?: string }>)[0] ?? {}) : {};
      const data = (call.data ?? call.input ?? "").toLowerCase();
      if (!data.startsWith(selector) || !data.includes(idWord)) return;
      beforeRequest = undefined;
      await snapshot.restore();
      await networkHelpers.mine(1);
      replaced = await submit(7);
      await networkHelpers.mine(2);
    };
    try {
      await tick();
    } finally {
      beforeRequest = undefined;
    }
    expect(replaced !== undefined, "the worker simulated its post").to.equal(true);
    expect(replaced! & RECORD, "the new job is in the record the post named").to.equal(id & RECORD);
    let record = w.store.getJob({ chainId: 31337, jobId: id, slot: 0 })!;
    expect(record.state, "its result is not taken as posted").to.equal("reveal_pending");
    expect(record.lastError).to.equal("submission not on chain");
    const warned = lines.filter((l) => /submission is not on chain/.test(String(l.msg)) && l.jobId === String(id));
    expect(warned, JSON.stringify(lines.slice(-6))).to.have.length(1);

    await tick(); // the reorg is seen; the new job is served, the old one waits
    await tick();
    expect(w.worker.reorgs.length).to.be.greaterThan(0);
    expect((await v.escrow.getJob(replaced!)).slotHashes[0], "the new job gets its own input's result").to.equal(await honest(7));
    await expect(v.escrow.getJob(id)).to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(id);
    record = w.store.getJob({ chainId: 31337, jobId: id, slot: 0 })!;
    expect(record.state, "kept while its submission may come back").to.equal("reveal_pending");
    expect(await postsOf(id, from), "the refused post was never sent").to.equal(0);
    expect(await postsOf(replaced!, from)).to.equal(1);

    await networkHelpers.time.increase(3_601n); // past the removed job's deadline
    await tick();
    record = w.store.getJob({ chainId: 31337, jobId: id, slot: 0 })!;
    expect(record.state).to.equal("failed");
    expect(record.failReason).to.match(/no longer on chain/);
    const attempts = record.attempts;
    await tick();
    await tick();
    expect(w.store.getJob({ chainId: 31337, jobId: id, slot: 0 })!.attempts, "no retries once dropped").to.equal(attempts);
    expect((await v.staking.operator(op)).stake, "nobody slashed").to.equal(stake);
    const slashed = await v.staking.queryFilter(v.staking.filters.Slashed(op), from);
    expect(slashed).to.deep.equal([]);
  });
});
