/**
 * Content-addressed input blobs (sdk/src/blobs.ts, worker/src/blobs.ts): the worker's PUT/GET /blobs endpoint with
 * its bounds, and inputs above the escrow's 16 KiB inline limit end to end: the SDK submits `sha256:<hex>` and
 * pushes the bytes to the drawn operators, a worker that missed the push gets them from another operator, and a
 * blob nobody has is declined without penalty.
 */
import { expect } from "chai";
import { createHash } from "node:crypto";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { network } from "hardhat";
import { custom, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { BlobInbox } from "../../packages/worker/src/blobs.js";
import { createWorker, type CreatedWorker } from "../../packages/worker/src/create.js";
import { createLogger } from "../../packages/worker/src/internal/log.js";
import { createWorkerServer, type WorkerServer } from "../../packages/worker/src/server.js";
import { openStore, type WorkerStore } from "../../packages/worker/src/store.js";
import { clsSampleInput, loadPretrainedClsModel, PRETRAINED_CLS } from "../../packages/worker/src/models/pretrained.js";
import { contentUri, parseContentUri, pushBlob } from "../../packages/sdk/src/blobs.js";
import { registerModel, modelRegistrationFromFile } from "../../packages/sdk/src/actions/models.js";
import { submitJob, waitForResult } from "../../packages/sdk/src/actions/jobs.js";
import { encodeTensors, sha256Hex } from "../../packages/sdk/src/tensor.js";
import { deployVeil, P, PRICE, STATUS, type Connection, type Veil } from "../helpers/fixture.js";
import { addressesOf, viemClients } from "../sdk/helpers/viem.js";

const sha256 = (b: Uint8Array) => `0x${createHash("sha256").update(b).digest("hex")}` as Hex;

function req(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Uint8Array | (() => AsyncGenerator<Uint8Array>) } = {}) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const r = httpRequest(url, { method: opts.method ?? "GET", headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    r.on("error", reject);
    const body = opts.body;
    if (typeof body === "function") {
      (async () => {
        for await (const chunk of body()) if (!r.write(chunk)) await new Promise((ok) => r.once("drain", ok));
        r.end();
      })().catch(() => undefined);
    } else r.end(body);
  });
}

describe("input blobs: PUT/GET /blobs/<sha256> on the worker's endpoint", () => {
  let store: WorkerStore;
  let inbox: BlobInbox;
  let server: WorkerServer;
  let base: string;
  let clock = 1_000_000;

  beforeEach(async () => {
    store = openStore({ path: ":memory:", clock: () => clock });
    inbox = new BlobInbox({ store, maxBlobBytes: 64 * 1024, maxPendingBytes: 100 * 1024, pendingTtlMs: 60_000 });
    server = createWorkerServer({ store, blobs: inbox });
    ({ url: base } = await server.start());
  });
  afterEach(async () => {
    await server.stop();
    store.close();
  });

  const blob = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

  it("stores bytes under their sha256 (with or without 0x) and serves them back, verified", async () => {
    const bytes = blob(40_000);
    const put = await req(`${base}/blobs/${sha256(bytes)}`, { method: "PUT", body: bytes, headers: { "content-type": "application/octet-stream" } });
    expect(put.status).to.equal(201);
    expect(JSON.parse(put.body.toString())).to.deep.equal({ hash: sha256(bytes), size: 40_000, pending: true });
    const again = await req(`${base}/blobs/${sha256(bytes).slice(2)}`, { method: "PUT", body: bytes });
    expect(again.status, "already held").to.equal(200);
    const got = await req(`${base}/blobs/${sha256(bytes)}`);
    expect(got.status).to.equal(200);
    expect(sha256(got.body)).to.equal(sha256(bytes));
    expect(got.headers.etag).to.equal(`"${sha256(bytes)}"`);
    expect((await req(`${base}/blobs/${sha256(blob(10))}`)).status).to.equal(404);
    expect(store.uploadedBlobStats()).to.deep.equal({ count: 1, bytes: 40_000 });
    // Browsers may upload too (CORS preflight).
    const pre = await req(`${base}/blobs/${sha256(bytes)}`, { method: "OPTIONS" });
    expect(pre.status).to.equal(204);
    expect(pre.headers["access-control-allow-methods"]).to.contain("PUT");
  });

  it("rejects bytes that do not hash to the path (400), nothing stored", async () => {
    const bytes = blob(1000);
    const other = sha256(blob(1000, 2));
    const put = await req(`${base}/blobs/${other}`, { method: "PUT", body: bytes });
    expect(put.status).to.equal(400);
    expect(JSON.parse(put.body.toString()).error).to.equal(`the body's sha256 is ${sha256(bytes)}, not ${other} (the path must be the sha256 of the bytes)`);
    expect(store.hasBlob(other)).to.equal(false);
    expect(store.hasBlob(sha256(bytes))).to.equal(false);
    expect((await req(`${base}/blobs/not-a-hash`, { method: "PUT", body: bytes })).status).to.equal(400);
  });

  it("refuses a blob over the size limit (413): by Content-Length before reading, and while streaming", async () => {
    const big = blob(64 * 1024 + 1);
    const declared = await req(`${base}/blobs/${sha256(big)}`, { method: "PUT", body: big });
    expect(declared.status).to.equal(413);
    expect(JSON.parse(declared.body.toString()).error).to.match(/65537 bytes exceeds this worker's limit of 65536 bytes/);
    // Chunked (no Content-Length): cut off once past the limit, even if the body would go on for ever.
    const chunked = await req(`${base}/blobs/${sha256(big)}`, {
      method: "PUT",
      body: async function* () {
        for (let i = 0; i < 1000; i++) yield blob(16 * 1024, i);
      },
    });
    expect(chunked.status).to.equal(413);
    expect(store.uploadedBlobStats().count).to.equal(0);
  });

  it("bounds uploads no job has claimed (507 past the total, dropped after the TTL); an awaited input is always taken", async () => {
    const a = blob(60_000, 1);
    const b = blob(60_000, 2);
    expect((await req(`${base}/blobs/${sha256(a)}`, { method: "PUT", body: a })).status).to.equal(201);
    const full = await req(`${base}/blobs/${sha256(b)}`, { method: "PUT", body: b });
    expect(full.status).to.equal(507);
    expect(JSON.parse(full.body.toString()).error).to.match(/holds 60000 bytes of uploads no job has claimed yet \(limit 102400\)/);
    // A job assigned to this worker waits for b: accepted past the bound, and not pending.
    store.upsertAssigned({ chainId: 31337, jobId: 9n, slot: 0, redundancy: 1, inputHash: sha256(b), inputUri: contentUri(sha256(b)) });
    const awaited = await req(`${base}/blobs/${sha256(b)}`, { method: "PUT", body: b });
    expect(awaited.status).to.equal(201);
    expect(JSON.parse(awaited.body.toString()).pending).to.equal(false);
    expect(store.uploadedBlobStats()).to.deep.equal({ count: 1, bytes: 60_000 });
    // a is never claimed: gone after the TTL (garbage-collected on the next upload, or by the worker's tick).
    clock += 60_001;
    const c = blob(50_000, 3);
    expect((await req(`${base}/blobs/${sha256(c)}`, { method: "PUT", body: c })).status).to.equal(201);
    expect(store.hasBlob(sha256(a))).to.equal(false);
    expect(store.hasBlob(sha256(b)), "a job's input is never collected").to.equal(true);
    expect(store.uploadedBlobStats()).to.deep.equal({ count: 1, bytes: 50_000 });
    expect(inbox.gc()).to.equal(0);
  });

  it("sha256: URIs name a blob by its hash and nothing else", () => {
    const h = sha256(blob(3));
    expect(contentUri(h)).to.equal(`sha256:${h.slice(2)}`);
    expect(parseContentUri(contentUri(h))).to.equal(h);
    expect(parseContentUri(`sha256:${h.slice(2).toUpperCase()}`)).to.equal(h);
    expect(parseContentUri(`https://x/${h}`)).to.equal(undefined);
    expect(parseContentUri("sha256:abc")).to.equal(undefined);
    expect(() => contentUri("0x12")).to.throw(TypeError);
  });
});

describe("input blobs end to end: the PaddleOCR classifier's real-size input (in-process chain, real workers and HTTP)", function () {
  this.timeout(120_000);
  const MNEMONIC = "test test test test test test test test test test test junk";
  const cls = loadPretrainedClsModel();
  let connection: Connection;
  let v: Veil;
  let addresses: Awaited<ReturnType<typeof addressesOf>>;
  const workers: { w: CreatedWorker; server: WorkerServer; url: string; logs: Record<string, any>[] }[] = [];

  before(async () => {
    connection = await network.create({ network: "hardhat", chainType: "l1" });
    v = await deployVeil(connection, 3);
    addresses = await addressesOf(v);
    const { wallet } = viemClients(connection);
    const reg = modelRegistrationFromFile(cls.bytes);
    await registerModel(wallet(v.modelOwner.address as Address), { addresses, price: PRICE, redundancy: 1, ...reg });
    const signers = await connection.ethers.getSigners();
    const transport = custom(connection.provider);
    for (const op of v.ops) {
      const account = mnemonicToAccount(MNEMONIC, { addressIndex: signers.findIndex((s) => s.address === op.address) });
      const logs: Record<string, any>[] = [];
      const logger = createLogger({ level: "debug", stream: { write: (s: string) => void logs.push(JSON.parse(s)) } });
      const w = await createWorker({ transport, account, addresses, dataDir: ":memory:", models: [{ bytes: cls.bytes }], logger, startBlock: 0n, pollIntervalMs: 100 });
      const server = createWorkerServer({ store: w.store, blobs: w.blobs, resolveResult: (h) => w.worker.resultBlobFor(h) });
      const { url } = await server.start();
      await (await v.staking.connect(op).updateNode(url, connection.ethers.ZeroHash)).wait();
      await w.worker.start();
      workers.push({ w, server, url, logs });
    }
  });
  after(async () => {
    for (const { w, server } of workers) {
      await server.stop();
      await w.close();
    }
    await connection?.close();
  });

  const workerOf = (op: string) => workers.find(({ w }) => w.worker.address.toLowerCase() === op.toLowerCase())!;

  it("the SDK submits it by content address, pushes it to the drawn operator, and gets the verified result", async () => {
    const inputs = clsSampleInput(1, 7);
    const bytes = encodeTensors(inputs);
    expect(bytes.byteLength, "the classifier's own input is far above the 16 KiB inline limit").to.be.greaterThan(100_000);
    const { wallet, publicClient } = viemClients(connection);
    const started = performance.now();
    const sub = await submitJob(wallet(v.requester.address as Address), { addresses, modelId: cls.modelId, inputs });
    expect(sub.inputURI).to.equal(`sha256:${sha256(bytes).slice(2)}`);
    expect(sub.inputHash).to.equal(sha256(bytes));
    const job = await v.escrow.getJob(sub.jobId);
    expect(job.operators).to.deep.equal(sub.operators);
    expect(sub.blobPushes).to.have.length(1);
    const push = sub.blobPushes![0]!;
    expect(push).to.include({ operator: sub.operators[0], ok: true, status: 201, endpoint: workerOf(sub.operators[0]!).url });
    console.log(`      blob push of ${bytes.byteLength} bytes: ${push.ms} ms (submit + push ${(performance.now() - started).toFixed(0)} ms)`);
    // Nothing of the input is on chain but its hash and URI.
    const [submitted] = await v.escrow.queryFilter(v.escrow.filters.JobSubmitted(sub.jobId));
    expect(submitted!.args.input).to.equal("0x");

    const result = await waitForResult(publicClient, { addresses, jobId: sub.jobId, timeout: 60_000 });
    const out = result.outputs[PRETRAINED_CLS.output.name]!;
    expect(out.dims).to.deep.equal([1, 2]);
    const p = Array.from(out.data as Float32Array);
    expect(Math.abs(p[0]! + p[1]! - 1), "probabilities").to.be.lessThan(1e-5);
    // The operator ran the model on exactly the pushed bytes.
    const served = workerOf(sub.operators[0]!);
    const rec = served.w.store.jobsByState(["served", "revealed", "finalized"]).find((r) => r.jobId === sub.jobId)!;
    expect(rec.inputBlob).to.equal(sha256(bytes));
    expect(served.w.store.uploadedBlobStats().count, "claimed by its job").to.equal(0);
    const local = (await served.w.engine.run(cls.modelId, inputs)).outputs;
    expect(Array.from(local[PRETRAINED_CLS.output.name]!.data as Float32Array)).to.deep.equal(p);
  });

  it("an operator that missed the push gets the blob from another operator of the job (verified), and both agree", async () => {
    const inputs = clsSampleInput(1, 8);
    const bytes = encodeTensors(inputs);
    const hash = sha256(bytes);
    const t = BigInt((await connection.ethers.provider.getBlock("latest"))!.timestamp);
    const receipt = await (
      await v.escrow.connect(v.requester).submitJob({
        modelId: cls.modelId, redundancy: 2, maxFee: PRICE * 2n, deadline: t + 3600n, input: "0x", inputURI: contentUri(hash), inputHash: hash,
      })
    ).wait();
    const ev = receipt!.logs.map((l) => { try { return v.escrow.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "OperatorsAssigned")!;
    const jobId = ev.args.jobId as bigint;
    const [first, second] = ev.args.operators as string[];
    // Only the first operator gets the bytes.
    const { publicClient } = viemClients(connection);
    const pushes = await pushBlob(publicClient, { addresses, bytes, operators: [first as Address] });
    expect(pushes.map((p) => p.ok)).to.deep.equal([true]);
    const end = Date.now() + 30_000;
    while (Number((await v.escrow.getJob(jobId)).status) !== Number(STATUS.Proposed)) {
      if (Date.now() > end) throw new Error(`job not proposed; status ${(await v.escrow.getJob(jobId)).status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const job = await v.escrow.getJob(jobId);
    expect(job.slotHashes[0]).to.equal(job.slotHashes[1]);
    const peer = workerOf(second!);
    const rec = peer.w.store.getJob({ chainId: 31337, jobId, slot: 1 })!;
    expect(rec.inputBlob).to.equal(hash);
    expect(peer.w.store.uploadedBlobStats().count, "fetched, not uploaded").to.equal(0);
    // GET /blobs serves what a worker holds, to anyone who knows the hash.
    const got = await fetch(`${peer.url}/blobs/${hash}`);
    expect(sha256(new Uint8Array(await got.arrayBuffer()))).to.equal(hash);
  });

  it("a blob no operator has: retried, then declined near the commit deadline (no slash), naming who was asked", async () => {
    const bytes = encodeTensors(clsSampleInput(1, 9));
    const hash = sha256(bytes);
    const t = BigInt((await connection.ethers.provider.getBlock("latest"))!.timestamp);
    const receipt = await (
      await v.escrow.connect(v.requester).submitJob({
        modelId: cls.modelId, redundancy: 2, maxFee: PRICE * 2n, deadline: t + 3600n, input: "0x", inputURI: contentUri(hash), inputHash: hash,
      })
    ).wait();
    const ev = receipt!.logs.map((l) => { try { return v.escrow.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "OperatorsAssigned")!;
    const jobId = ev.args.jobId as bigint;
    const ops = ev.args.operators as string[];
    const stakes = await Promise.all(ops.map(async (o) => (await v.staking.operator(o)).stake));
    await new Promise((r) => setTimeout(r, 1000));
    expect((await v.escrow.getJob(jobId)).declinedMask, "no decline while the window has time left").to.equal(0n);
    await connection.networkHelpers.time.increase(P.commitWindow - 30n);
    const end = Date.now() + 20_000;
    while ((await v.escrow.getJob(jobId)).declinedMask !== 3n) {
      if (Date.now() > end) throw new Error(`not declined: declinedMask ${(await v.escrow.getJob(jobId)).declinedMask}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const [i, op] of ops.entries()) {
      const w = workerOf(op);
      // Each worker records the decline once its own transaction's receipt is in: the chain may show both first.
      const until = Date.now() + 20_000;
      while (w.w.store.getJob({ chainId: 31337, jobId, slot: i })!.state !== "failed" && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      const rec = w.w.store.getJob({ chainId: 31337, jobId, slot: i })!;
      expect(rec.state).to.equal("failed");
      expect(rec.failReason).to.match(new RegExp(`^declined: input unavailable: input blob sha256:${hash.slice(2)} has not been uploaded to this worker, and no other operator has it: ${ops[1 - i]} \\(does not have it\\)`));
      expect((await v.staking.operator(op)).stake).to.equal(stakes[i]);
    }
  });
});
