/**
 * The worker's HTTP endpoint (node:http, no framework). It is the URL an operator registers on chain.
 *
 *   GET|HEAD /results/<0x sha256>   result bytes, content-addressed: application/octet-stream, strong ETag = the
 *                                   hash, immutable caching, Repr-Digest, CORS-readable; 304 on If-None-Match;
 *                                   404 if unknown; 400 if the id is not 0x + 64 hex. Bytes are re-verified
 *                                   against their hash on every read (a corrupted store answers 500, never
 *                                   wrong bytes). `resolveResult` may map another id (e.g. the protocol's
 *                                   result hash) to the blob's sha256.
 *   PUT /blobs/<0x sha256>          an input blob (raw bytes) for a job by content address (inputURI `sha256:<hex>`):
 *                                   201 stored, 200 already held, 400 if the body's sha256 is not the path's, 413 over
 *                                   the size limit (checked on Content-Length before reading, and while reading),
 *                                   507 when unclaimed uploads are at their bound (blobs.ts). CORS-enabled (OPTIONS).
 *   GET|HEAD /blobs/<0x sha256>     any blob this worker holds by its sha256 (inputs for the job's other operators),
 *                                   served like results.
 *   GET|HEAD /health                JSON {status, chainId, operator, headBlock, headLagBlocks, uptimeSeconds, jobs, …}
 *                                   200, or 503 when unhealthy (callback says so, throws, times out, or the chain
 *                                   head is stale / lagging beyond the configured bounds).
 *   GET|HEAD /metrics               Prometheus text of the worker's registry (404 when metrics are off).
 *   anything else                   404 (405 for a known path with another method).
 *
 * Bounded: requests with a body are refused (413) except blob uploads, URLs over 2 KiB (414), headers/request/idle timeouts and a
 * connection cap apply. `stop()` stops accepting, closes idle keep-alive connections at once and the rest after
 * in-flight responses finish (or a short grace).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Registry } from "prom-client";
import { nullLogger, type Logger } from "./internal/log.js";
import type { WorkerMetrics } from "./internal/metrics.js";

export type Hex = `0x${string}`;

/** What the server needs from the store (WorkerStore satisfies it). */
export interface BlobSource {
  /** Verified bytes, or undefined; throws when the stored bytes do not match their hash. */
  getBlob(hash: Hex): Uint8Array | undefined;
  /** Size without reading the bytes (used for HEAD). */
  blobInfo?(hash: Hex): { size: number } | undefined;
  /** Jobs per state, reported by /health when the health callback does not provide `jobs`. */
  countByState?(): Record<string, number>;
}

/** Where uploaded blobs go (BlobInbox in blobs.ts satisfies it). */
export interface BlobSink {
  readonly maxBlobBytes: number;
  put(hash: Hex, bytes: Uint8Array): { status: 200 | 201; hash: Hex; pending: boolean } | { status: 400 | 413 | 507; error: string };
}

export type HealthStatus = "ok" | "degraded" | "unhealthy";

/** Returned by the health callback; every field is optional and extra fields are passed through. */
export interface HealthInput {
  status?: HealthStatus;
  chainId?: number;
  operator?: string;
  /** Last block the worker has processed. */
  headBlock?: bigint | number;
  /** Latest block the RPC reports (for lag). */
  chainHead?: bigint | number;
  jobs?: Record<string, number>;
  /** Why the worker considers itself degraded/unhealthy. */
  reasons?: string[];
  [extra: string]: unknown;
}

export interface WorkerServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  store?: BlobSource;
  /** Accepts PUT /blobs/<sha256> (without it, uploads answer 404). */
  blobs?: BlobSink;
  /** Maps a requested id to the sha256 of the blob to serve (default: the id itself). */
  resolveResult?: (id: Hex) => Hex | undefined;
  health?: () => HealthInput | Promise<HealthInput>;
  /** Exposed at /metrics; WorkerMetrics also gets `veil_worker_http_requests_total`. */
  metrics?: WorkerMetrics | Registry;
  logger?: Logger;
  /** Unhealthy when chainHead - headBlock exceeds this. */
  maxHeadLagBlocks?: number;
  /** Unhealthy when headBlock has not changed for this long (off by default: idle dev chains mine no blocks). */
  maxHeadStalenessMs?: number;
  /** Default 2000 ms. */
  healthTimeoutMs?: number;
  /** Whole-request limit. Default 30 s. */
  requestTimeoutMs?: number;
  /** Default 10 s. */
  headersTimeoutMs?: number;
  /** Idle keep-alive. Default 5 s. */
  keepAliveTimeoutMs?: number;
  /** Default 256. */
  maxConnections?: number;
  /** How long stop() lets in-flight responses finish before cutting connections. Default 2 s. */
  stopGraceMs?: number;
  clock?: () => number;
}

export interface WorkerServer {
  /** Starts listening; resolves with the bound address. */
  start(): Promise<{ host: string; port: number; url: string }>;
  /** Stops listening and closes every connection (keep-alive ones included). Idempotent. */
  stop(): Promise<void>;
  /** http://host:port once started. */
  readonly url: string | undefined;
  readonly port: number | undefined;
}

const RESULT_PATH = /^\/results\/(0x[0-9a-fA-F]{64})$/;
const RESULTS_PREFIX = "/results/";
/** Blob paths take the sha256 with or without its 0x. */
const BLOB_PATH = /^\/blobs\/(?:0x)?([0-9a-fA-F]{64})$/;
const BLOBS_PREFIX = "/blobs/";
const MAX_URL = 2048;

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= 0n ? Number(value) : value.toString();
  return value;
}

function isRegistry(m: WorkerMetrics | Registry): m is Registry {
  return typeof (m as Registry).metrics === "function" && !("registry" in m);
}

export function createWorkerServer(options: WorkerServerOptions = {}): WorkerServer {
  const log = (options.logger ?? nullLogger()).child({ component: "http" });
  const clock = options.clock ?? Date.now;
  const startedAt = clock();
  const registry = options.metrics ? (isRegistry(options.metrics) ? options.metrics : options.metrics.registry) : undefined;
  const workerMetrics = options.metrics && !isRegistry(options.metrics) ? options.metrics : undefined;
  const healthTimeoutMs = options.healthTimeoutMs ?? 2000;
  const sockets = new Set<Socket>();
  let lastHead: { block: bigint; since: number } | undefined;
  let server: Server | undefined;
  let bound: { host: string; port: number; url: string } | undefined;
  let stopping: Promise<void> | undefined;

  /** While stopping, every response tells the client to close, so busy keep-alive sockets end with it. */
  function closeIfStopping(res: ServerResponse): void {
    if (stopping) res.setHeader("Connection", "close");
  }

  function send(
    res: ServerResponse,
    head: boolean,
    status: number,
    body: string | Uint8Array,
    headers: Record<string, string | number>,
  ): void {
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    closeIfStopping(res);
    res.writeHead(status, { "Content-Length": bytes.byteLength, "X-Content-Type-Options": "nosniff", ...headers });
    res.end(head ? undefined : bytes);
  }

  function sendJson(res: ServerResponse, head: boolean, status: number, value: unknown, headers: Record<string, string> = {}): void {
    send(res, head, status, `${JSON.stringify(value, jsonReplacer)}\n`, {
      "Content-Type": "application/json; charset=utf-8",
      "Cache-Control": "no-store",
      ...headers,
    });
  }

  function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
    if (!ifNoneMatch) return false;
    return ifNoneMatch.split(",").some((t) => {
      const tag = t.trim();
      return tag === "*" || tag === etag || tag === `W/${etag}`;
    });
  }

  function serveResult(req: IncomingMessage, res: ServerResponse, head: boolean, rawId: string, what: "result" | "blob" = "result"): number {
    const id = rawId.toLowerCase() as Hex;
    const store = options.store;
    const hash = store ? (options.resolveResult && what === "result" ? options.resolveResult(id) : id) : undefined;
    const notFound = () => {
      sendJson(res, head, 404, { error: `${what} not found` }, { "Access-Control-Allow-Origin": "*" });
      return 404;
    };
    if (!store || !hash) return notFound();
    const etag = `"${hash.toLowerCase()}"`;
    const common = {
      ETag: etag,
      "Cache-Control": "public, max-age=31536000, immutable",
      "Access-Control-Allow-Origin": "*",
      "Access-Control-Expose-Headers": "ETag, Repr-Digest, Content-Length",
    };
    const exists = head && store.blobInfo ? store.blobInfo(hash) : undefined;
    if (head && store.blobInfo && !exists) return notFound();
    if (etagMatches(req.headers["if-none-match"], etag) && (exists ?? store.blobInfo?.(hash) ?? store.getBlob(hash))) {
      closeIfStopping(res);
      res.writeHead(304, common);
      res.end();
      return 304;
    }
    let bytes: Uint8Array | undefined;
    let size: number;
    if (head && exists) {
      size = exists.size;
    } else {
      bytes = store.getBlob(hash); // verifies sha256; throws on corruption
      if (!bytes) return notFound();
      size = bytes.byteLength;
    }
    closeIfStopping(res);
    res.writeHead(200, {
      ...common,
      "Content-Type": "application/octet-stream",
      "Content-Length": size,
      "X-Content-Type-Options": "nosniff",
      "Repr-Digest": `sha-256=:${Buffer.from(hash.slice(2), "hex").toString("base64")}:`,
    });
    res.end(head ? undefined : bytes);
    return 200;
  }

  const CORS_PUT = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, PUT, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
  };

  function preflight(res: ServerResponse): number {
    closeIfStopping(res);
    res.writeHead(204, CORS_PUT);
    res.end();
    return 204;
  }

  /**
   * PUT /blobs/<sha256>: reads at most the sink's limit (refusing a larger Content-Length before reading a byte),
   * then lets the sink check the hash and its bounds. A refused upload closes the connection (its unread body is
   * never parsed as a request).
   */
  async function receiveBlob(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<number> {
    const fail = (status: number, error: string) => {
      sendJson(res, false, status, { error }, { ...CORS_PUT, Connection: "close" });
      req.resume();
      return status;
    };
    const sink = options.blobs;
    if (!sink) return fail(404, "this worker does not accept blob uploads");
    const m = BLOB_PATH.exec(pathname);
    if (!m) return fail(400, "blob id must be a sha256: 64 hex digits, optionally 0x-prefixed");
    const max = sink.maxBlobBytes;
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > max) return fail(413, `blob of ${declared} bytes exceeds this worker's limit of ${max} bytes`);
    const body = await new Promise<Buffer | "too large" | "interrupted">((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (v: Buffer | "too large" | "interrupted") => {
        if (!done) (done = true), resolve(v);
      };
      req.on("data", (chunk: Buffer) => {
        if (done) return; // the rest of a refused body is discarded; the connection closes after the answer
        size += chunk.byteLength;
        if (size > max) finish("too large");
        else chunks.push(chunk);
      });
      req.once("end", () => finish(Buffer.concat(chunks, size)));
      req.once("aborted", () => finish("interrupted"));
      req.once("error", () => finish("interrupted"));
    });
    if (body === "too large") return fail(413, `blob exceeds this worker's limit of ${max} bytes`);
    if (body === "interrupted") return fail(400, "upload interrupted");
    const size = body.byteLength;
    const r = sink.put(`0x${m[1]!.toLowerCase()}` as Hex, new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    if ("error" in r) return fail(r.status, r.error);
    sendJson(res, false, r.status, { hash: r.hash, size, pending: r.pending }, CORS_PUT);
    return r.status;
  }

  async function buildHealth(): Promise<{ code: number; body: Record<string, unknown> }> {
    const now = clock();
    let input: HealthInput = {};
    let status: HealthStatus = "ok";
    const reasons: string[] = [];
    if (options.health) {
      let timer: NodeJS.Timeout | undefined;
      try {
        input = await Promise.race([
          Promise.resolve().then(() => options.health!()),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error("health check timed out")), healthTimeoutMs);
          }),
        ]);
      } catch (err) {
        status = "unhealthy";
        reasons.push(`health check failed: ${(err as Error).message ?? String(err)}`);
      } finally {
        clearTimeout(timer);
      }
    }
    if (input.status) status = input.status;
    if (Array.isArray(input.reasons)) reasons.push(...input.reasons.map(String));

    let headLagBlocks: number | undefined;
    if (input.headBlock !== undefined) {
      const head = BigInt(input.headBlock);
      if (!lastHead || lastHead.block !== head) lastHead = { block: head, since: now };
      if (options.maxHeadStalenessMs !== undefined && now - lastHead.since > options.maxHeadStalenessMs) {
        status = "unhealthy";
        reasons.push(`chain head ${head} has not advanced for ${Math.round((now - lastHead.since) / 1000)} s`);
      }
      if (input.chainHead !== undefined) {
        headLagBlocks = Number(BigInt(input.chainHead) - head);
        if (options.maxHeadLagBlocks !== undefined && headLagBlocks > options.maxHeadLagBlocks) {
          status = "unhealthy";
          reasons.push(`processing lags the chain head by ${headLagBlocks} blocks`);
        }
      }
    }
    let jobs = input.jobs;
    if (!jobs && options.store?.countByState) {
      try {
        jobs = options.store.countByState();
      } catch (err) {
        status = "unhealthy";
        reasons.push(`store unavailable: ${(err as Error).message}`);
      }
    }
    const body: Record<string, unknown> = {
      ...input,
      status,
      ...(headLagBlocks !== undefined ? { headLagBlocks } : {}),
      uptimeSeconds: Math.floor((now - startedAt) / 1000),
      ...(jobs ? { jobs } : {}),
      ...(reasons.length > 0 ? { reasons } : {}),
    };
    return { code: status === "unhealthy" ? 503 : 200, body };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<{ route: string; status: number }> {
    const method = req.method ?? "GET";
    const head = method === "HEAD";
    const url = req.url ?? "/";
    if (url.length > MAX_URL) {
      sendJson(res, head, 414, { error: "URL too long" });
      return { route: "other", status: 414 };
    }
    const q = url.indexOf("?");
    const pathname = q >= 0 ? url.slice(0, q) : url;
    if (pathname.startsWith(BLOBS_PREFIX) && (method === "PUT" || method === "OPTIONS")) {
      return { route: "blobs", status: method === "PUT" ? await receiveBlob(req, res, pathname) : preflight(res) };
    }
    // No other endpoint takes a body: refuse without reading it, and drop the connection so it is never parsed.
    const length = req.headers["content-length"];
    if ((length !== undefined && length !== "0") || req.headers["transfer-encoding"] !== undefined) {
      sendJson(res, head, 413, { error: "request bodies are not accepted" }, { Connection: "close" });
      return { route: "other", status: 413 };
    }
    const route =
      pathname === "/health"
        ? "health"
        : pathname === "/metrics"
          ? "metrics"
          : pathname.startsWith(RESULTS_PREFIX)
            ? "results"
            : pathname.startsWith(BLOBS_PREFIX)
              ? "blobs"
              : "other";
    if (route === "other") {
      sendJson(res, head, 404, { error: "not found" });
      return { route, status: 404 };
    }
    if (method !== "GET" && !head) {
      sendJson(res, false, 405, { error: "method not allowed" }, { Allow: route === "blobs" ? "GET, HEAD, PUT, OPTIONS" : "GET, HEAD" });
      return { route, status: 405 };
    }
    if (route === "blobs") {
      const m = BLOB_PATH.exec(pathname);
      if (!m) {
        sendJson(res, head, 400, { error: "blob id must be a sha256: 64 hex digits, optionally 0x-prefixed" });
        return { route, status: 400 };
      }
      return { route, status: serveResult(req, res, head, `0x${m[1]!}`, "blob") };
    }
    if (route === "results") {
      const m = RESULT_PATH.exec(pathname);
      if (!m) {
        sendJson(res, head, 400, { error: "result id must be 0x followed by 64 hex digits (a sha256)" });
        return { route, status: 400 };
      }
      return { route, status: serveResult(req, res, head, m[1]!) };
    }
    if (route === "health") {
      const { code, body } = await buildHealth();
      sendJson(res, head, code, body);
      return { route, status: code };
    }
    if (!registry) {
      sendJson(res, head, 404, { error: "metrics are disabled" });
      return { route, status: 404 };
    }
    const text = await registry.metrics();
    send(res, head, 200, text, { "Content-Type": registry.contentType, "Cache-Control": "no-store" });
    return { route, status: 200 };
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const t0 = clock();
    handle(req, res)
      .catch((err: unknown) => {
        log.error("request failed", { method: req.method, url: req.url, err });
        if (!res.headersSent) sendJson(res, req.method === "HEAD", 500, { error: "internal error" });
        else res.destroy();
        return { route: "error", status: 500 };
      })
      .then(({ route, status }) => {
        workerMetrics?.httpRequestsTotal.inc({ route, status: String(status) });
        log.debug("request", { method: req.method, url: req.url, status, ms: clock() - t0 });
      });
  }

  return {
    get url() {
      return bound?.url;
    },
    get port() {
      return bound?.port;
    },

    async start() {
      if (server) throw new Error("server already started");
      const srv = createServer({ maxHeaderSize: 16 * 1024 }, onRequest);
      srv.requestTimeout = options.requestTimeoutMs ?? 30_000;
      srv.headersTimeout = Math.min(options.headersTimeoutMs ?? 10_000, srv.requestTimeout || Number.MAX_SAFE_INTEGER);
      srv.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5_000;
      srv.timeout = srv.requestTimeout; // idle socket timeout
      srv.maxHeadersCount = 64;
      srv.maxRequestsPerSocket = 1000;
      srv.maxConnections = options.maxConnections ?? 256;
      srv.on("connection", (socket: Socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
      });
      srv.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
        log.debug("client error", { code: err.code });
        if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        else socket.destroy();
      });
      server = srv;
      const host = options.host ?? "127.0.0.1";
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => {
          server = undefined;
          reject(err);
        };
        srv.once("error", onError);
        srv.listen(options.port ?? 0, host, () => {
          srv.off("error", onError);
          resolve();
        });
      });
      srv.on("error", (err) => log.error("http server error", { err }));
      const addr = srv.address() as AddressInfo;
      const urlHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
      bound = { host: addr.address, port: addr.port, url: `http://${urlHost}:${addr.port}` };
      log.info("http endpoint listening", { url: bound.url });
      return bound;
    },

    stop() {
      const srv = server;
      if (!srv) return Promise.resolve();
      stopping ??= new Promise<void>((resolve) => {
        const grace = setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, options.stopGraceMs ?? 2000);
        srv.close(() => {
          clearTimeout(grace);
          log.info("http endpoint stopped");
          resolve();
        });
        srv.closeIdleConnections();
        // Busy keep-alive sockets close after their in-flight response (closeIfStopping adds "Connection: close");
        // anything still open after the grace is destroyed above.
      });
      return stopping;
    },
  };
}
