import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { network } from "hardhat";
import { custom, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { createWorker, type CreatedWorker } from "../../worker/src/create.js";
import { nullLogger } from "../../worker/src/internal/log.js";
import { buildMlpModel } from "../../worker/src/models/generate.js";
import { encodeTensors, resultHash, decodeTensors, readInvalidInput, sha256Hex } from "../../sdk/src/tensor.js";
import { deployVeil, modelParams, P, STATUS, type Veil } from "../helpers/fixture.js";

const connection = await network.create();
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
    const transport = custom(connection.provider as never);
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
      const id = (await v.escrow.nextJobId()) as bigint;
      await (await v.escrow.connect(v.requester).submitJob({
        modelId: mlp.modelId, redundancy: 1, maxFee: 10n ** 9n, deadline: t + 3600n, input: "0x", inputURI: uri, inputHash: sha256Hex(blob),
      })).wait();
      const first = (await v.escrow.getJob(id)).operators[0] as string;
      const stake = (await v.staking.operator(first)).stake;
      await tickAll(2);
      expect(hits.length, "the worker tried the blob").to.be.greaterThan(0);
      expect((await v.escrow.getJob(id)).revealMask, "no decline while the window has time left").to.equal(0n);
      await networkHelpers.time.increase(P.commitWindow - 30n);
      await tickAll(1);
      const declined = await v.escrow.getJob(id);
      expect(declined.revealMask).to.equal(1n);
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
