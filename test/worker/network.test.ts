import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { network } from "hardhat";
import { custom, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { createWorker, type CreatedWorker } from "../../packages/worker/src/create.js";
import { jobsAtRisk } from "../../packages/worker/src/worker.js";
import { createLogger, nullLogger } from "../../packages/worker/src/internal/log.js";
import { isJobRecycled, settledOutcome } from "../../packages/worker/src/chain/settled.js";
import { jobEscrowAbi } from "../../packages/contracts/src/abis.js";
import { buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { encodeTensors, resultHash, decodeTensors, readInvalidInput, sha256Hex } from "../../packages/sdk/src/tensor.js";
import { deployVeil, modelParams, P, STATUS, type Veil } from "../helpers/fixture.js";
import { encodeSignature } from "../../packages/sdk/src/signature.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;
const MNEMONIC = "test test test test test test test test test test test junk";

describe("three workers on an in-process chain (generated MLP)", function () {
  this.timeout(120_000);
  let v: Veil;
  let workers: CreatedWorker[] = [];
  const mlp = buildMlpModel({ seed: 7 });

  before(async () => {
    v = await deployVeil(connection, 3);
    await v.registry.connect(v.modelOwner).registerModel(mlp.modelId, modelParams({ redundancy: 1 }));
    const escrow = (await v.escrow.getAddress()) as Hex;
    const addresses = {
      jobEscrow: escrow,
      nodeStaking: (await v.staking.getAddress()) as Hex,
      modelRegistry: (await v.registry.getAddress()) as Hex,
    };
    const transport = custom(connection.provider);
    for (const op of v.ops) {
      const index = (await ethers.getSigners()).findIndex((s) => s.address === op.address);
      const account = mnemonicToAccount(MNEMONIC, { addressIndex: index });
      expect(account.address).to.equal(op.address);
      const w = await createWorker({ transport, account, addresses, dataDir: ":memory:", models: [{ bytes: mlp.bytes }], logger: nullLogger(), startBlock: 0n });
      await w.worker.start();
      workers.push(w);
    }
  });
  after(async () => {
    for (const w of workers) await w.close();
  });

  it("refuses to serve a model whose registered I/O signature does not describe its file (nothing sent)", async () => {
    const other = buildMlpModel({ seed: 8 });
    const lie = { inputs: [{ name: "x", type: "float32" as const, dims: ["N", 8] }], outputs: [{ name: "y", type: "float32" as const, dims: ["N", 4] }] };
    await v.registry.connect(v.modelOwner).registerModel(other.modelId, modelParams({ ioSignature: encodeSignature(lie) }));
    const op = v.ops[0]!;
    const index = (await ethers.getSigners()).findIndex((s) => s.address === op.address);
    const nonce = await ethers.provider.getTransactionCount(op.address);
    const w = await createWorker({
      transport: custom(connection.provider),
      account: mnemonicToAccount(MNEMONIC, { addressIndex: index }),
      addresses: { jobEscrow: (await v.escrow.getAddress()) as Hex, nodeStaking: (await v.staking.getAddress()) as Hex, modelRegistry: (await v.registry.getAddress()) as Hex },
      dataDir: ":memory:",
      models: [{ bytes: other.bytes }],
      logger: nullLogger(),
      startBlock: 0n,
    });
    try {
      let err: Error | undefined;
      await w.worker.prepare().catch((e: Error) => (err = e));
      expect(err?.message).to.contain("registered input/output signature does not describe file");
      expect(err?.message).to.contain('"dims":["N",8]');
      expect(await ethers.provider.getTransactionCount(op.address)).to.equal(nonce);
    } finally {
      await w.close();
    }
  });

  async function tickAll(rounds = 4) {
    for (let i = 0; i < rounds; i++) {
      for (const w of workers) {
        await w.worker.tick();
        await w.worker.settle();
      }
    }
  }

  async function submit(input: Uint8Array, redundancy: number) {
    const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    const tx = await v.escrow.connect(v.requester).submitJob({
      modelId: mlp.modelId, redundancy, maxFee: 10n ** 9n, deadline: t + 3600n, input: "0x" + Buffer.from(input).toString("hex"), inputURI: "", inputHash: ethers.ZeroHash,
    });
    const receipt = await tx.wait();
    const ev = receipt!.logs.map((l) => { try { return v.escrow.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "JobSubmitted");
    return ev!.args.jobId as bigint;
  }

  it("serves k=1 and k=3 jobs with real ONNX Runtime, agreeing on the result hash, then finalizes", async () => {
    const x = new Float32Array(16).map((_, i) => i / 16 - 0.5);
    const input = encodeTensors({ x: { type: "float32", dims: [1, 16], data: x } });
    const j1 = await submit(input, 1);
    const j3 = await submit(input, 3);
    await tickAll();
    for (const id of [j1, j3]) expect((await v.escrow.getJob(id)).status).to.equal(STATUS.Proposed);
    const job = await v.escrow.getJob(j3);
    // Every operator computed the same bytes: the result served by any worker hashes to the on-chain result.
    const rec = workers[0]!.store.getJob({ chainId: 31337, jobId: j3, slot: job.operators.findIndex((o: string) => o === workers[0]!.worker.address) });
    const bytes = workers[0]!.store.getBlob(rec!.resultBlob!)!;
    expect(resultHash(decodeTensors(bytes), { kind: "exact" })).to.equal(job.result);
    await networkHelpers.time.increase(P.challengeWindow + 1n);
    await tickAll(2);
    for (const id of [j1, j3]) expect((await v.escrow.getJob(id)).status).to.equal(STATUS.Finalized);
  });

  it("answers a malformed input with the deterministic invalid-input result, agreed by all", async () => {
    const bad = encodeTensors({ x: { type: "float32", dims: [1, 3], data: new Float32Array(3) } });
    const id = await submit(bad, 3);
    await tickAll();
    expect((await v.escrow.getJob(id)).status).to.equal(STATUS.Proposed);
    const job = await v.escrow.getJob(id);
    const w = workers.find((w) => job.operators.includes(w.worker.address))!;
    const rec = w.store.getJob({ chainId: 31337, jobId: id, slot: job.operators.indexOf(w.worker.address) })!;
    expect(readInvalidInput(decodeTensors(w.store.getBlob(rec.resultBlob!)!))).to.match(/^invalid_input:shape:x/);
  });

  it("posts of jobs ready together go out in one escrow multicall per operator (fewer transactions, same results)", async () => {
    const ids: bigint[] = [];
    for (let i = 0; i < 8; i++) {
      const x = new Float32Array(16).map((_, j) => Math.sin(i * 16 + j));
      ids.push(await submit(encodeTensors({ x: { type: "float32", dims: [1, 16], data: x } }), 1));
    }
    await tickAll();
    const posts = await v.escrow.queryFilter(v.escrow.filters.ResultRevealed(), -50);
    const mine = posts.filter((e) => ids.includes(e.args.jobId as bigint));
    expect(mine.map((e) => e.args.jobId).sort()).to.deep.equal([...ids].sort());
    // Fewer transactions than jobs: an operator's posts that became ready in the same tick share one multicall.
    const txs = new Set(mine.map((e) => e.transactionHash));
    expect(txs.size).to.be.lessThan(ids.length);
    for (const hash of txs) {
      const tx = await ethers.provider.getTransaction(hash);
      const n = mine.filter((e) => e.transactionHash === hash).length;
      expect(tx!.data.slice(0, 10)).to.equal(n > 1 ? "0xac9650d8" : v.escrow.interface.getFunction("submitResult")!.selector);
    }
    for (const id of ids) expect((await v.escrow.getJob(id)).status).to.equal(STATUS.Proposed);
    const batches = await Promise.all(workers.map((w) => w.metrics.registry.getSingleMetricAsString("veil_worker_post_batch_size")));
    expect(batches.join("\n")).to.match(/veil_worker_post_batch_size_count\{[^}]*\} [1-9]/);
  });

  it("an input blob that is unavailable: declined near the deadline (no slash), reassigned, served once the blob is up", async () => {
    const x = new Float32Array(16).map((_, i) => Math.cos(i));
    const blob = encodeTensors({ x: { type: "float32", dims: [1, 16], data: x } });
    let up = false;
    const hits: string[] = [];
    const server: Server = createServer((req, res) => {
      hits.push(req.url ?? "");
      if (!up) return void res.writeHead(503).end("blob store down");
      res.writeHead(200, { "content-type": "application/octet-stream" }).end(Buffer.from(blob));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/blobs/job`;
      const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
      const id = (await v.escrow.nextJobId(mlp.modelId, sha256Hex(blob))) as bigint;
      await (await v.escrow.connect(v.requester).submitJob({
        modelId: mlp.modelId, redundancy: 1, maxFee: 10n ** 9n, deadline: t + 3600n, input: "0x", inputURI: uri, inputHash: sha256Hex(blob),
      })).wait();
      const first = (await v.escrow.getJob(id)).operators[0] as string;
      const stake = (await v.staking.operator(first)).stake;
      await tickAll(2);
      expect(hits.length, "the worker tried the blob").to.be.greaterThan(0);
      // Waiting for its blob with most of the window left: healthy. Near the window's end, unposted: at risk (503).
      const waiting = workers.find((w) => w.worker.address === first)!;
      expect(waiting.worker.health()).to.not.have.property("status");
      const record = waiting.store.getJob({ chainId: 31337, jobId: id, slot: 0 })!;
      expect(record.state).to.equal("assigned");
      const end = record.meta.phaseEnd as number;
      expect(jobsAtRisk([record], end - 31).count).to.equal(0);
      expect(jobsAtRisk([record], end - 30)).to.deep.equal({ count: 1, soonest: { jobId: id, slot: 0, state: "assigned", secondsLeft: 30 } });
      expect(jobsAtRisk([{ ...record, state: "served" }], end).count, "a posted job is not at risk").to.equal(0);
      expect((await v.escrow.getJob(id)).declinedMask, "no decline while the window has time left").to.equal(0n);
      await networkHelpers.time.increase(P.commitWindow - 30n);
      await tickAll(1);
      const declined = await v.escrow.getJob(id);
      expect(declined.declinedMask).to.equal(1n);
      const w = workers.find((w) => w.worker.address === first)!;
      expect(w.store.jobsByState(["failed"]).find((r) => r.jobId === id)?.failReason).to.match(/^declined: input unavailable: .*HTTP 503/);
      const poke = await (await v.escrow.poke(id)).wait();
      const events = poke!.logs.map((l) => { try { return v.escrow.interface.parseLog(l) ?? v.staking.interface.parseLog(l); } catch { return null; } }).filter((e) => e);
      const names = events.map((e) => e!.name);
      expect(names, "the declined slot is released unslashed").to.not.include("Slashed");
      expect((await v.staking.operator(first)).stake).to.equal(stake);
      expect(names, `poke events: ${names.join(", ")}`).to.include("OperatorsAssigned");
      const next = (await v.escrow.getJob(id)).operators[0] as string;
      expect(next).to.not.equal(first);
      up = true;
      await tickAll(4);
      const job = await v.escrow.getJob(id);
      expect(job.status).to.equal(STATUS.Proposed);
      expect(job.operators[0]).to.equal(next);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe("settlement on a chain that recycles job records (workers one confirmation behind)", function () {
  this.timeout(120_000);
  const MAX_FINALIZE_BATCH = 4;
  const BACKUP_DELAY_MS = 1_000;
  let v: Veil;
  let escrowAddress: Hex;
  const workers: CreatedWorker[] = [];
  const logs: Record<string, unknown>[][] = [];
  const mlp = buildMlpModel({ seed: 7 });
  const input = (seed: number) => encodeTensors({ x: { type: "float32", dims: [1, 16], data: new Float32Array(16).map((_, j) => Math.sin(seed * 16 + j)) } });

  before(async () => {
    v = await deployVeil(connection, 3);
    await v.registry.connect(v.modelOwner).registerModel(mlp.modelId, modelParams({ redundancy: 1 }));
    escrowAddress = (await v.escrow.getAddress()) as Hex;
    const addresses = { jobEscrow: escrowAddress, nodeStaking: (await v.staking.getAddress()) as Hex, modelRegistry: (await v.registry.getAddress()) as Hex };
    const transport = custom(connection.provider);
    const signers = await ethers.getSigners();
    for (const op of v.ops) {
      const account = mnemonicToAccount(MNEMONIC, { addressIndex: signers.findIndex((s) => s.address === op.address) });
      const lines: Record<string, unknown>[] = [];
      const logger = createLogger({ level: "debug", stream: { write: (s: string) => void lines.push(JSON.parse(s)) } });
      // One confirmation: an event is acted on once a block is on top of it, so a finalize and a new submission in
      // the head block are not ingested yet when the worker next reads the job.
      const w = await createWorker({
        transport, account, addresses, dataDir: ":memory:", models: [{ bytes: mlp.bytes }], logger, startBlock: 0n, confirmations: 1, maxFinalizeBatch: MAX_FINALIZE_BATCH,
        settleBackupDelayMs: BACKUP_DELAY_MS,
      });
      await w.worker.start();
      workers.push(w);
      logs.push(lines);
    }
  });
  after(async () => {
    for (const w of workers) await w.close();
  });

  async function tickAll(rounds = 4) {
    for (let i = 0; i < rounds; i++) {
      await networkHelpers.mine(1); // bury the latest events under one block
      for (const w of workers) {
        await w.worker.tick();
        await w.worker.settle();
      }
    }
  }
  async function params(seed: number, deadlineFrom?: bigint) {
    const t = deadlineFrom ?? BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    return { modelId: mlp.modelId, redundancy: 1, maxFee: 10n ** 9n, deadline: t + 3600n, input: "0x" + Buffer.from(input(seed)).toString("hex"), inputURI: "", inputHash: ethers.ZeroHash };
  }
  function parsed(receipt: { logs: readonly any[] }) {
    return receipt.logs.map((l) => { try { return v.escrow.interface.parseLog(l); } catch { return null; } }).filter((e) => e !== null);
  }
  async function submit(seed: number) {
    const receipt = await (await v.escrow.connect(v.requester).submitJob(await params(seed))).wait();
    return parsed(receipt!).find((e) => e!.name === "JobSubmitted")!.args.jobId as bigint;
  }
  const status = async (id: bigint) => (await v.escrow.getJob(id)).status as bigint;
  async function workerOf(id: bigint) {
    const op = (await v.escrow.getJob(id)).operators[0] as string;
    return workers.find((w) => w.worker.address === op)!;
  }

  it("jobs whose challenge windows pass together are settled by one finalizeMany per operator (chunked at maxFinalizeBatch)", async () => {
    const ids: bigint[] = [];
    for (let i = 0; i < 9; i++) ids.push(await submit(100 + i));
    await tickAll();
    for (const id of ids) expect(await status(id)).to.equal(STATUS.Proposed);
    const byOperator = new Map<string, bigint[]>();
    for (const id of ids) {
      const op = (await v.escrow.getJob(id)).operators[0] as string;
      byOperator.set(op, [...(byOperator.get(op) ?? []), id]);
    }
    // Each worker knows when its jobs' windows end (from ResultProposed).
    for (const w of workers) {
      for (const id of byOperator.get(w.worker.address) ?? []) {
        expect(w.store.getJob({ chainId: 31337, jobId: id, slot: 0 })?.meta.challengeEnd).to.be.a("number");
      }
    }
    const from = await ethers.provider.getBlockNumber();
    await networkHelpers.time.increase(P.challengeWindow + 1n);
    await tickAll(2);
    for (const id of ids) expect(await status(id)).to.equal(STATUS.Finalized);

    const events = (await v.escrow.queryFilter(v.escrow.filters.JobFinalized(), from)).filter((e) => ids.includes(e.args.jobId as bigint));
    expect(events.map((e) => e.args.jobId).sort(), "each job finalized exactly once").to.deep.equal([...ids].sort());
    const txs = new Map<string, bigint[]>();
    for (const e of events) txs.set(e.transactionHash, [...(txs.get(e.transactionHash) ?? []), e.args.jobId as bigint]);
    const selector = v.escrow.interface.getFunction("finalizeMany")!.selector;
    for (const [op, mine] of byOperator) {
      const sent: string[] = [];
      for (const [hash, settled] of txs) {
        const tx = (await ethers.provider.getTransaction(hash))!;
        if (tx.from !== op) continue;
        expect(tx.data.slice(0, 10), "settled by finalizeMany, not finalize").to.equal(selector);
        expect(settled.length).to.be.at.most(MAX_FINALIZE_BATCH);
        sent.push(hash);
      }
      expect(sent, `operator ${op}: ${mine.length} jobs`).to.have.length(Math.ceil(mine.length / MAX_FINALIZE_BATCH));
      const w = workers.find((w) => w.worker.address === op)!;
      for (const id of mine) expect(w.store.getJob({ chainId: 31337, jobId: id, slot: 0 })?.state).to.equal("finalized");
    }
    // One transaction, N JobFinalized events: 9 jobs over 3 operators give one operator at least 3 in a batch.
    const largest = Math.max(...[...txs.values()].map((s) => s.length));
    expect(largest).to.be.at.least(3);
    const receipt = (await ethers.provider.getTransactionReceipt([...txs].find(([, s]) => s.length === largest)![0]))!;
    expect(parsed(receipt).filter((e) => e!.name === "JobFinalized")).to.have.length(largest);
    const sizes = await Promise.all(workers.map((w) => w.metrics.registry.getSingleMetricAsString("veil_worker_finalize_batch_size")));
    const counted = sizes.join("\n").match(/veil_worker_finalize_batch_size_sum\{[^}]*\} (\d+)/g)!.map((l) => Number(l.split(" ").pop()));
    expect(counted.reduce((a, b) => a + b, 0)).to.equal(ids.length);
  });

  it("a tracked job finalized by someone else and its record reused before the worker's next tick: marked finalized, no error loop, the new job served", async () => {
    const j1 = await submit(7);
    await tickAll();
    expect(await status(j1)).to.equal(STATUS.Proposed);
    const w = await workerOf(j1);
    const key = { chainId: 31337, jobId: j1, slot: 0 };
    expect(w.store.getJob(key)?.state).to.equal("served");
    const end = BigInt((await v.escrow.getJob(j1)).phaseEnd);

    // The requester settles j1 and submits its next job in one transaction, in the first block past the window:
    // j1's record is freed and reused at once, so getJob(j1) reverts from then on.
    await (await v.ledger.connect(v.requester).deposit(10n ** 6n)).wait();
    await networkHelpers.time.setNextBlockTimestamp(end + 1n);
    const calls = [
      v.escrow.interface.encodeFunctionData("finalize", [j1]),
      v.escrow.interface.encodeFunctionData("submitJobFromDeposit", [await params(8, end + 1n)]),
    ];
    const receipt = (await (await v.escrow.connect(v.requester).multicall(calls)).wait())!;
    const events = parsed(receipt);
    expect(events.find((e) => e!.name === "JobFinalized")?.args.jobId, "finalized by the requester, not the worker").to.equal(j1);
    const j2 = events.find((e) => e!.name === "JobSubmitted")!.args.jobId as bigint;
    expect(j2 & 0xffffffffn, "the new job reuses j1's record").to.equal(j1 & 0xffffffffn);
    expect((j2 >> 32n) & 0xffffffffn, "its next generation").to.equal(((j1 >> 32n) & 0xffffffffn) + 1n);
    await expect(v.escrow.getJob(j1)).to.be.revertedWithCustomError(v.escrow, "JobEscrowJobRecycled").withArgs(j1);

    // The worker's next tick: the head block's events are not ingested yet (one confirmation), getJob(j1) reverts.
    await w.worker.tick();
    await w.worker.settle();
    const rec = w.store.getJob(key)!;
    expect(rec.state).to.equal("finalized");
    expect(rec.lastError).to.equal(undefined);
    expect(rec.attempts).to.equal(0);

    await tickAll();
    expect(await status(j2)).to.equal(STATUS.Proposed);
    const served = await workerOf(j2);
    expect(served.store.getJob({ chainId: 31337, jobId: j2, slot: 0 })?.state).to.equal("served");
    const expected = (await served.engine.run(mlp.modelId, decodeTensors(input(8)))).outputs;
    expect((await v.escrow.getJob(j2)).result).to.equal(resultHash(expected, { kind: "exact" }));
    // Logged once, as settled; never retried as a failing step.
    const lines = logs[workers.indexOf(w)]!.filter((l) => l.jobId === String(j1));
    expect(lines.filter((l) => l.msg === "job settled on chain and its record reused").map((l) => l.outcome)).to.deep.equal(["finalized"]);
    expect(lines.filter((l) => l.level === "warn"), JSON.stringify(lines)).to.deep.equal([]);
    expect(w.store.getJob(key)?.state).to.equal("finalized");
  });

  it("a recycled job's outcome is read from its JobFinalized / JobRefunded log (chain/settled.ts)", async () => {
    const client = workers[0]!.publicClient;
    // A job no worker can serve (v.modelId: staked on, not loaded): nobody posts, the deadline allows no second
    // round, poke refunds it, and the next submission reuses its record.
    const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    const p = { ...(await params(9)), modelId: v.modelId, deadline: t + P.commitWindow + 5n };
    const refunded = parsed((await (await v.escrow.connect(v.requester).submitJob(p)).wait())!).find((e) => e!.name === "JobSubmitted")!.args.jobId as bigint;
    await networkHelpers.time.increase(P.commitWindow + 1n);
    await (await v.escrow.poke(refunded)).wait();
    expect(await status(refunded)).to.equal(STATUS.Refunded);
    const next = await submit(10);
    expect(next & 0xffffffffn).to.equal(refunded & 0xffffffffn);
    const read = () => workers[0]!.publicClient.readContract({ address: escrowAddress, abi: jobEscrowAbi, functionName: "getJob", args: [refunded] });
    const err = await read().then(() => undefined, (e: unknown) => e);
    expect(isJobRecycled(err), String(err)).to.equal(true);
    expect(await settledOutcome(client, escrowAddress, refunded)).to.equal("refunded");
    // The finalized one of the previous test, and an id the escrow never issued.
    const finalized = (await v.escrow.queryFilter(v.escrow.filters.JobFinalized())).at(-1)!.args.jobId as bigint;
    expect(await settledOutcome(client, escrowAddress, finalized)).to.equal("finalized");
    expect(await settledOutcome(client, escrowAddress, next)).to.equal(undefined);
    const unknown = await workers[0]!.publicClient.readContract({ address: escrowAddress, abi: jobEscrowAbi, functionName: "getJob", args: [(5n << 32n) | 1n] }).then(() => undefined, (e: unknown) => e);
    expect(isJobRecycled(unknown), "JobEscrowUnknownJob is not a recycled job").to.equal(false);
  });
  it("k = 3 jobs are settled once: the rota's first settler sends one finalizeMany, the others none; if it is gone, the next settles after its backup delay", async () => {
    const submit3 = async (seed: number) => {
      const receipt = await (await v.escrow.connect(v.requester).submitJob({ ...(await params(seed)), redundancy: 3 })).wait();
      return parsed(receipt!).find((e) => e!.name === "JobSubmitted")!.args.jobId as bigint;
    };
    // Every worker ticks at the same time, as separate processes would: their simulations see the same state.
    const tickTogether = async (ws = workers) => {
      await networkHelpers.mine(1);
      await Promise.all(ws.map(async (w) => { await w.worker.tick(); await w.worker.settle(); }));
    };
    const finalizeTxs = async (from: number) => {
      const selector = v.escrow.interface.getFunction("finalizeMany")!.selector;
      const out: Array<{ from: string; settled: bigint[] }> = [];
      for (let b = from + 1; b <= (await ethers.provider.getBlockNumber()); b++) {
        for (const hash of (await ethers.provider.getBlock(b))!.transactions) {
          const tx = (await ethers.provider.getTransaction(hash))!;
          if (tx.data.slice(0, 10) !== selector) continue;
          const receipt = (await ethers.provider.getTransactionReceipt(hash))!;
          out.push({ from: tx.from, settled: parsed(receipt).filter((e) => e!.name === "JobFinalized").map((e) => e!.args.jobId as bigint) });
        }
      }
      return out;
    };
    const serve = async (ids: bigint[]) => {
      for (let i = 0; i < 8 && (await Promise.all(ids.map(status))).some((s) => s !== STATUS.Proposed); i++) await tickAll(1);
      for (const id of ids) expect(await status(id)).to.equal(STATUS.Proposed);
    };
    const firstSettler = async (id: bigint) => (await v.escrow.getJob(id)).operators[Number(id % 3n)] as string;

    // All three alive: each job is settled by its first settler alone, in one batch per settler.
    const ids: bigint[] = [];
    for (let i = 0; i < 6; i++) ids.push(await submit3(200 + i));
    await serve(ids);
    let from = await ethers.provider.getBlockNumber();
    await networkHelpers.time.increase(P.challengeWindow + 1n);
    await tickTogether();
    await tickTogether();
    for (const id of ids) expect(await status(id)).to.equal(STATUS.Finalized);
    let txs = await finalizeTxs(from);
    for (const t of txs) expect(t.settled.length, `a finalizeMany from ${t.from} that settled nothing`).to.be.greaterThan(0);
    // (Earlier tests' jobs settle in the background meanwhile: look at this test's jobs only.)
    txs = txs.map((t) => ({ ...t, settled: t.settled.filter((id) => ids.includes(id)) })).filter((t) => t.settled.length > 0);
    expect(txs.flatMap((t) => t.settled).sort(), "each job settled by exactly one transaction").to.deep.equal([...ids].sort());
    for (const t of txs) for (const id of t.settled) expect(t.from).to.equal(await firstSettler(id));

    // One worker is gone: the jobs it should settle wait for the next in the rota, then are settled once.
    const more: bigint[] = [];
    for (let i = 0; i < 6; i++) more.push(await submit3(300 + i));
    await serve(more);
    const gone = workers[0]!;
    await gone.worker.stop(); // (last test of this group: the worker does not come back)
    const alive = workers.slice(1);
    const waiting = [];
    for (const id of more) if ((await firstSettler(id)) === gone.worker.address) waiting.push(id);
    from = await ethers.provider.getBlockNumber();
    await networkHelpers.time.increase(P.challengeWindow + 1n);
    await tickTogether(alive);
    for (const id of more) expect(await status(id)).to.equal(waiting.includes(id) ? STATUS.Proposed : STATUS.Finalized);
    // Rank 1 waits one delay, rank 2 two: after one delay only the next in the rota is due, so still one sender.
    await new Promise((r) => setTimeout(r, BACKUP_DELAY_MS + 200));
    await tickTogether(alive);
    await tickTogether(alive);
    for (const id of more) expect(await status(id)).to.equal(STATUS.Finalized);
    txs = await finalizeTxs(from);
    for (const t of txs) expect(t.settled.length, `a finalizeMany from ${t.from} that settled nothing`).to.be.greaterThan(0);
    txs = txs.map((t) => ({ ...t, settled: t.settled.filter((id) => more.includes(id)) })).filter((t) => t.settled.length > 0);
    expect(txs.flatMap((t) => t.settled).sort(), "each job settled by exactly one transaction").to.deep.equal([...more].sort());
    expect(txs.map((t) => t.from)).to.not.include(gone.worker.address);
  });
});
