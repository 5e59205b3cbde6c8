import { expect } from "chai";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger } from "../../packages/worker/src/internal/log.js";
import { createMetrics, type WorkerMetrics } from "../../packages/worker/src/internal/metrics.js";
import { createWorkerServer, type HealthInput, type WorkerServer } from "../../packages/worker/src/server.js";
import { JOB_STATES, openStore, type Hex, type WorkerStore } from "../../packages/worker/src/store.js";

interface Res {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A plain node:http client (no fetch magic), so HEAD, bodies and keep-alive are exactly what we send. */
function req(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; agent?: Agent } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const r = httpRequest(url, { method: opts.method ?? "GET", headers: opts.headers, agent: opts.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    r.on("error", reject);
    r.end(opts.body);
  });
}

const sha256 = (b: Uint8Array) => `0x${createHash("sha256").update(b).digest("hex")}`;

describe("worker/server", function () {
  let dir: string;
  let store: WorkerStore;
  let metrics: WorkerMetrics;
  let server: WorkerServer;
  let base: string;
  let health: () => HealthInput | Promise<HealthInput>;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "veil-server-"));
    store = openStore({ path: path.join(dir, "w.sqlite") });
    metrics = createMetrics({ jobStates: JOB_STATES, jobsInState: () => store.countByState() });
    health = () => ({ chainId: 31337, operator: "0x00000000000000000000000000000000000000aa", headBlock: 12n, chainHead: 14n });
    server = createWorkerServer({ store, metrics, health: () => health(), healthTimeoutMs: 200 });
    ({ url: base } = await server.start());
  });
  afterEach(async () => {
    await server.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("GET /results/<sha256>", () => {
    it("serves the exact bytes, and the client can verify them against the requested id", async () => {
      const bytes = new Uint8Array(300_000).map((_, i) => (i * 7 + 3) & 0xff);
      const id = store.putBlob(bytes);
      const res = await req(`${base}/results/${id}`);
      expect(res.status).to.equal(200);
      // Client-side integrity check: what came over the wire hashes to the id we asked for.
      expect(sha256(res.body)).to.equal(id);
      expect(res.headers).to.include({
        "content-type": "application/octet-stream",
        "content-length": "300000",
        etag: `"${id}"`,
        "cache-control": "public, max-age=31536000, immutable",
        "access-control-allow-origin": "*",
        "x-content-type-options": "nosniff",
      });
      expect(res.headers["repr-digest"]).to.equal(`sha-256=:${Buffer.from(id.slice(2), "hex").toString("base64")}:`);
      // Also through fetch (what an SDK would use), with an upper-case id.
      const viaFetch = await fetch(`${base}/results/${id.toUpperCase().replace("0X", "0x")}`);
      expect(sha256(new Uint8Array(await viaFetch.arrayBuffer()))).to.equal(id);
    });

    it("answers 304 to a matching If-None-Match, HEAD without a body, 404 for unknown and 400 for malformed ids", async () => {
      const id = store.putBlob(new TextEncoder().encode("hello"));
      expect((await req(`${base}/results/${id}`, { headers: { "if-none-match": `"${id}"` } })).status).to.equal(304);
      expect((await req(`${base}/results/${id}`, { headers: { "if-none-match": `"0xother", W/"${id}"` } })).status).to.equal(304);
      expect((await req(`${base}/results/${id}`, { headers: { "if-none-match": `"0xother"` } })).status).to.equal(200);

      const head = await req(`${base}/results/${id}`, { method: "HEAD" });
      expect(head.status).to.equal(200);
      expect(head.headers["content-length"]).to.equal("5");
      expect(head.body.length).to.equal(0);

      const unknown = `0x${"11".repeat(32)}`;
      expect((await req(`${base}/results/${unknown}`)).status).to.equal(404);
      expect((await req(`${base}/results/${unknown}`, { method: "HEAD" })).status).to.equal(404);
      expect((await req(`${base}/results/0x1234`)).status).to.equal(400);
      expect((await req(`${base}/results/${id}/extra`)).status).to.equal(400);
      expect((await req(`${base}/results/${id}?download=1`)).status).to.equal(200);
    });

    it("never serves corrupted bytes: a blob that fails its hash check on read is a 500", async () => {
      const id = store.putBlob(new TextEncoder().encode("precious"));
      // Flip the stored bytes behind the store's back (disk corruption, a bad restore, ...).
      const file = store.path;
      await server.stop();
      store.close();
      const { DatabaseSync } = createRequire(import.meta.url)("node:sqlite") as typeof import("node:sqlite");
      const raw = new DatabaseSync(file);
      raw.prepare("UPDATE blobs SET data = ? WHERE hash = ?").run(new TextEncoder().encode("tampered"), id);
      raw.close();
      store = openStore({ path: file });
      const logged: string[] = [];
      server = createWorkerServer({ store, logger: createLogger({ stream: { write: (l: string) => logged.push(l) } }) });
      ({ url: base } = await server.start());
      const res = await req(`${base}/results/${id}`);
      expect(res.status).to.equal(500);
      expect(res.body.toString()).to.not.include("tampered");
      expect(logged.join("")).to.match(/BlobIntegrityError/);
    });

    it("maps other ids (e.g. the protocol's result hash) through resolveResult", async () => {
      const bytes = new TextEncoder().encode("result bytes");
      const blob = store.putBlob(bytes);
      const protocolHash = `0x${"cd".repeat(32)}` as Hex;
      const other = createWorkerServer({ store, resolveResult: (id) => (id === protocolHash ? blob : undefined) });
      const { url } = await other.start();
      try {
        const res = await req(`${url}/results/${protocolHash}`);
        expect(res.status).to.equal(200);
        expect(sha256(res.body)).to.equal(blob);
        expect(res.headers.etag).to.equal(`"${blob}"`);
        expect((await req(`${url}/results/${blob}`)).status).to.equal(404);
      } finally {
        await other.stop();
      }
    });
  });

  describe("GET /health", () => {
    it("reports status, chain, operator, head lag, uptime and jobs by state", async () => {
      store.upsertAssigned({ chainId: 31337, jobId: 1n, slot: 0, redundancy: 1 });
      const res = await req(`${base}/health`);
      expect(res.status).to.equal(200);
      expect(res.headers["content-type"]).to.equal("application/json; charset=utf-8");
      const body = JSON.parse(res.body.toString()) as Record<string, unknown>;
      expect(body).to.include({ status: "ok", chainId: 31337, operator: "0x00000000000000000000000000000000000000aa", headBlock: 12, chainHead: 14, headLagBlocks: 2 });
      expect(body.uptimeSeconds).to.be.a("number");
      expect(body.jobs).to.include({ assigned: 1, revealed: 0 });
      const head = await req(`${base}/health`, { method: "HEAD" });
      expect(head.status).to.equal(200);
      expect(head.body.length).to.equal(0);
    });

    it("answers 503 when the callback says unhealthy, throws, or hangs", async () => {
      health = () => ({ status: "unhealthy", reasons: ["rpc down"] });
      let res = await req(`${base}/health`);
      expect(res.status).to.equal(503);
      expect(JSON.parse(res.body.toString())).to.deep.include({ status: "unhealthy", reasons: ["rpc down"] });

      health = () => {
        throw new Error("boom");
      };
      res = await req(`${base}/health`);
      expect(res.status).to.equal(503);
      expect(JSON.parse(res.body.toString()).reasons[0]).to.match(/boom/);

      health = () => new Promise(() => {});
      res = await req(`${base}/health`);
      expect(res.status).to.equal(503);
      expect(JSON.parse(res.body.toString()).reasons[0]).to.match(/timed out/);

      health = async () => ({ status: "degraded" });
      expect((await req(`${base}/health`)).status).to.equal(200);
    });

    it("turns unhealthy when the head lags or stops advancing beyond the configured bounds", async () => {
      let now = 1_000_000;
      let head = 100n;
      const other = createWorkerServer({
        health: () => ({ headBlock: head, chainHead: 105n }),
        maxHeadLagBlocks: 10,
        maxHeadStalenessMs: 60_000,
        clock: () => now,
      });
      const { url } = await other.start();
      try {
        expect((await req(`${url}/health`)).status).to.equal(200);
        now += 61_000;
        const stale = await req(`${url}/health`);
        expect(stale.status).to.equal(503);
        expect(JSON.parse(stale.body.toString()).reasons[0]).to.match(/not advanced/);
        head = 90n;
        const lag = await req(`${url}/health`);
        expect(lag.status).to.equal(503);
        expect(JSON.parse(lag.body.toString())).to.include({ headLagBlocks: 15 });
        head = 104n;
        expect((await req(`${url}/health`)).status).to.equal(200);
      } finally {
        await other.stop();
      }
    });
  });

  describe("GET /metrics", () => {
    it("exposes the worker's own registry in Prometheus text format", async () => {
      store.upsertAssigned({ chainId: 31337, jobId: 1n, slot: 0, redundancy: 1 });
      metrics.jobsTotal.inc({ state: "assigned" });
      metrics.inferenceSeconds.observe({ model: "mnist" }, 0.042);
      metrics.recordEarnings("USDC", 2n ** 53n + 1n);
      metrics.recordEarnings("USDC", 1n);
      metrics.rpcErrorsTotal.inc({ method: "eth_call", kind: "transient" });
      metrics.txTotal.inc({ kind: "commit", outcome: "confirmed" });
      metrics.setChainHead(123n);
      metrics.batchSize.observe(4);
      await req(`${base}/results/0x12`);
      const res = await req(`${base}/metrics`);
      expect(res.status).to.equal(200);
      expect(res.headers["content-type"]).to.match(/^text\/plain; version=0\.0\.4/);
      const text = res.body.toString();
      expect(text).to.include('veil_worker_jobs_in_state{state="assigned"} 1');
      expect(text).to.include('veil_worker_jobs_in_state{state="revealed"} 0');
      expect(text).to.include('veil_worker_jobs_total{state="assigned"} 1');
      expect(text).to.include('veil_worker_inference_seconds_bucket{le="0.05",model="mnist"} 1');
      expect(text).to.include('veil_worker_rpc_errors_total{method="eth_call",kind="transient"} 1');
      expect(text).to.include('veil_worker_tx_total{kind="commit",outcome="confirmed"} 1');
      expect(text).to.include("veil_worker_chain_head_block 123");
      expect(text).to.include('veil_worker_batch_size_bucket{le="4"} 1');
      expect(text).to.include('veil_worker_http_requests_total{route="results",status="400"} 1');
      expect(text).to.match(/veil_worker_earnings_total\{token="USDC"\} 9007199254740994/);
      expect(metrics.earnings("USDC")).to.equal(2n ** 53n + 2n); // exact, unlike the float series
      // A fresh registry per worker: nothing leaks into (or from) prom-client's global registry.
      expect(createMetrics().registry).to.not.equal(metrics.registry);
    });

    it("is a 404 when metrics are disabled", async () => {
      const other = createWorkerServer({});
      const { url } = await other.start();
      try {
        expect((await req(`${url}/metrics`)).status).to.equal(404);
        expect(JSON.parse((await req(`${url}/health`)).body.toString())).to.include({ status: "ok" });
      } finally {
        await other.stop();
      }
    });
  });

  describe("bounds", () => {
    it("404s unknown paths, 405s other methods, 413s any request body, 414s huge URLs", async () => {
      expect((await req(`${base}/`)).status).to.equal(404);
      expect((await req(`${base}/admin`)).status).to.equal(404);
      expect((await req(`${base}/healthz`)).status).to.equal(404);
      const post = await req(`${base}/health`, { method: "POST" });
      expect(post.status).to.equal(405);
      expect(post.headers.allow).to.equal("GET, HEAD");
      const big = await req(`${base}/health`, { method: "POST", body: "x".repeat(10_000), headers: { "content-type": "text/plain" } });
      expect(big.status).to.equal(413);
      expect(big.headers.connection).to.equal("close");
      const chunked = await req(`${base}/results/0x${"00".repeat(32)}`, { method: "GET", headers: { "transfer-encoding": "chunked" }, body: "abc" });
      expect(chunked.status).to.equal(413);
      expect((await req(`${base}/results/${"a".repeat(3000)}`)).status).to.equal(414);
    });

    it("answers garbage on the socket with 400 and closes it", async () => {
      const port = server.port!;
      const reply = await new Promise<string>((resolve, reject) => {
        const s = connect(port, "127.0.0.1", () => s.write("NOT HTTP AT ALL\r\n\r\n"));
        let data = "";
        s.on("data", (d) => (data += d.toString()));
        s.on("close", () => resolve(data));
        s.on("error", reject);
      });
      expect(reply).to.match(/^HTTP\/1\.1 400/);
    });
  });

  describe("lifecycle", () => {
    it("stop() closes idle keep-alive connections immediately and lets in-flight requests finish", async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 4 });
      let release!: () => void;
      health = () => new Promise<HealthInput>((r) => (release = () => r({ chainId: 1 })));
      const other = createWorkerServer({ store, health: () => health(), healthTimeoutMs: 5_000, stopGraceMs: 5_000 });
      const { url } = await other.start();
      const idle = await req(`${url}/results/0x${"00".repeat(32)}`, { agent }); // leaves a keep-alive socket behind
      expect(idle.status).to.equal(404);
      const inflight = req(`${url}/health`, { agent });
      await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      const stopped = other.stop();
      setTimeout(() => release(), 100);
      const res = await inflight;
      expect(res.status).to.equal(200);
      await stopped;
      expect(Date.now() - t0, "stop must not wait for keep-alive timeouts or the grace").to.be.below(1_500);
      await req(`${url}/health`).then(
        () => expect.fail("server should be closed"),
        (err: NodeJS.ErrnoException) => expect(err.code).to.equal("ECONNREFUSED"),
      );
      await other.stop(); // idempotent
      agent.destroy();
    });

    it("rejects start() when the port is taken", async () => {
      const other = createWorkerServer({ port: server.port! });
      const err = await other.start().catch((e: NodeJS.ErrnoException) => e);
      expect((err as NodeJS.ErrnoException).code).to.equal("EADDRINUSE");
      await other.stop();
    });
  });
});
