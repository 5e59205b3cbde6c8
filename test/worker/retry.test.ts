import { expect } from "chai";
import { network } from "hardhat";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createPublicClient,
  createWalletClient,
  custom,
  http,
  parseAbi,
  type Hex,
  type PublicClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  RPC_RETRY,
  backoffDelay,
  classifyRpcError,
  isRetryableRpcError,
  retryAfterMs,
  rpcTransport,
  rpcWorstCaseMs,
  withRetry,
  type RpcRetryEvent,
} from "../../packages/worker/src/internal/retry.js";

type Reply =
  | { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number }
  | { hang: true }
  | { destroy: true };

/** A real JSON-RPC-over-HTTP server whose next replies are scripted per test. */
class ScriptedRpc {
  readonly server: Server;
  readonly requests: Array<{ method: string }> = [];
  #script: Array<(req: { method: string; id: unknown }) => Reply> = [];
  #fallback: (req: { method: string; id: unknown }) => Reply = (r) => ({ status: 200, body: { jsonrpc: "2.0", id: r.id, result: "0x10" } });
  url = "";

  constructor() {
    this.server = createServer((req, res) => this.#handle(req, res));
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
  next(...replies: Array<(req: { method: string; id: unknown }) => Reply>): this {
    this.#script.push(...replies);
    return this;
  }
  always(reply: (req: { method: string; id: unknown }) => Reply): this {
    this.#fallback = reply;
    return this;
  }
  #handle(req: IncomingMessage, res: ServerResponse) {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const rpc = JSON.parse(body) as { method: string; id: unknown };
      this.requests.push({ method: rpc.method });
      const reply = (this.#script.shift() ?? this.#fallback)(rpc);
      if ("hang" in reply) return;
      if ("destroy" in reply) return req.socket.destroy();
      setTimeout(() => {
        res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
        res.end(reply.body === undefined ? "" : JSON.stringify(reply.body));
      }, reply.delayMs ?? 0);
    });
  }
}

const rpcError = (code: number, message: string, data?: string) => (r: { id: unknown }) =>
  ({ status: 200, body: { jsonrpc: "2.0", id: r.id, error: { code, message, ...(data ? { data } : {}) } } }) as Reply;
const httpStatus = (status: number, headers?: Record<string, string>) => () => ({ status, body: { error: "x" }, headers }) as Reply;

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

describe("worker/internal/retry", function () {
  let rpc: ScriptedRpc;
  let client: PublicClient;

  beforeEach(async () => {
    rpc = await new ScriptedRpc().start();
    // viem's own transport retries are disabled so every failure reaches our code.
    client = createPublicClient({ transport: http(rpc.url, { retryCount: 0, timeout: 300 }) });
  });
  afterEach(() => rpc.stop());

  describe("classifyRpcError on real viem errors over real HTTP", () => {
    it("rate limits: HTTP 429 (with Retry-After) and JSON-RPC -32005", async () => {
      rpc.next(httpStatus(429, { "retry-after": "2" }));
      const e429 = await caught(client.getBlockNumber());
      expect(classifyRpcError(e429)).to.deep.include({ kind: "rate_limited", retryable: true, retryAfterMs: 2000 });

      rpc.next(rpcError(-32005, "limit exceeded"));
      expect(classifyRpcError(await caught(client.getBlockNumber()))).to.include({ kind: "rate_limited", retryable: true });
    });

    it("transient: 5xx, -32603 internal error, timeouts, refused and reset connections", async () => {
      rpc.next(httpStatus(502));
      expect(classifyRpcError(await caught(client.getBlockNumber()))).to.include({ kind: "transient", reason: "http 502" });

      rpc.next(rpcError(-32603, "internal error"));
      expect(isRetryableRpcError(await caught(client.getBlockNumber()))).to.equal(true);

      rpc.next(rpcError(-32000, "header not found"));
      expect(classifyRpcError(await caught(client.getBlockNumber()))).to.include({ kind: "transient" });

      rpc.next(() => ({ hang: true }));
      const timeout = await caught(client.getBlockNumber());
      expect(classifyRpcError(timeout)).to.include({ kind: "transient", reason: "TimeoutError" });

      rpc.next(() => ({ destroy: true }));
      expect(classifyRpcError(await caught(client.getBlockNumber())).kind).to.equal("transient");

      const closed = await new ScriptedRpc().start();
      const deadUrl = closed.url;
      await closed.stop();
      const dead = createPublicClient({ transport: http(deadUrl, { retryCount: 0 }) });
      const refused = await caught(dead.getBlockNumber());
      expect(classifyRpcError(refused)).to.include({ kind: "transient", retryable: true });
    });

    it("never retries an execution revert, even when the node wraps it in -32603", async () => {
      const abi = parseAbi(["function price() view returns (uint256)"]);
      const address = "0x00000000000000000000000000000000000000aa";
      // Error("nope")
      const revertData =
        "0x08c379a0000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000046e6f706500000000000000000000000000000000000000000000000000000000";
      rpc.next(rpcError(3, "execution reverted: nope", revertData));
      const reverted = await caught(client.readContract({ abi, address, functionName: "price" }));
      expect((reverted as Error).name).to.equal("ContractFunctionExecutionError");
      expect(classifyRpcError(reverted)).to.include({ kind: "revert", retryable: false });

      rpc.next(rpcError(-32603, "execution reverted"));
      expect(classifyRpcError(await caught(client.call({ to: address, data: "0x" })))).to.include({ kind: "revert" });

      rpc.next(rpcError(-32000, "VM Exception while processing transaction: reverted with reason string 'no'"));
      expect(isRetryableRpcError(await caught(client.estimateGas({ account: address, to: address })))).to.equal(false);
    });

    it("reverts from a real EVM (Hardhat EDR) through viem are classified as revert", async function () {
      const conn = await network.create();
      try {
        const provider = (conn as unknown as { provider: Parameters<typeof custom>[0] }).provider;
        const edr = createPublicClient({ transport: custom(provider) });
        // Creation code that reverts with the 4-byte custom error 0xdeadbeef.
        const initcode: Hex = "0x63deadbeef60e01b60005260046000fd";
        const callErr = await caught(edr.call({ data: initcode }));
        expect(classifyRpcError(callErr)).to.include({ kind: "revert", retryable: false });

        const [account] = (await provider.request({ method: "eth_accounts" })) as Hex[];
        const wallet = createWalletClient({ account: account!, transport: custom(provider) });
        const sendErr = await caught(wallet.sendTransaction({ data: initcode, chain: null }));
        expect(classifyRpcError(sendErr).kind).to.equal("revert");

        // Re-using a consumed nonce: needs reconciliation, not a retry.
        await wallet.sendTransaction({ to: account!, nonce: 0, gas: 21_000n, chain: null });
        const nonceErr = await caught(wallet.sendTransaction({ to: account!, nonce: 0, gas: 21_000n, chain: null }));
        expect(classifyRpcError(nonceErr)).to.include({ kind: "nonce", retryable: false });
      } finally {
        await conn.close();
      }
    });

    it("distinguishes submission outcomes: nonce, already known, underpriced, insufficient funds", async () => {
      const account = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
      const wallet = createWalletClient({ account, transport: http(rpc.url, { retryCount: 0 }) });
      const send = () =>
        caught(
          wallet.sendTransaction({
            to: account.address,
            chain: null,
            nonce: 1,
            gas: 21_000n,
            maxFeePerGas: 2n,
            maxPriorityFeePerGas: 1n,
          }),
        );
      // chainId is fetched first, then eth_sendRawTransaction fails.
      const chainThenError = (code: number, message: string) => {
        rpc.next((r) => ({ status: 200, body: { jsonrpc: "2.0", id: r.id, result: "0x7a69" } }), rpcError(code, message));
      };
      chainThenError(-32000, "nonce too low: next nonce 5, tx nonce 1");
      expect(classifyRpcError(await send())).to.include({ kind: "nonce", retryable: false });
      chainThenError(-32000, "already known");
      expect(classifyRpcError(await send())).to.include({ kind: "already_known", retryable: false });
      chainThenError(-32000, "replacement transaction underpriced");
      expect(classifyRpcError(await send())).to.include({ kind: "underpriced", retryable: false });
      chainThenError(-32000, "insufficient funds for gas * price + value");
      expect(classifyRpcError(await send())).to.include({ kind: "insufficient_funds", retryable: false });
    });

    it("fatal: bad params, unknown methods, auth failures", async () => {
      rpc.next(rpcError(-32602, "invalid argument 0"));
      expect(classifyRpcError(await caught(client.getBlockNumber()))).to.include({ kind: "fatal", retryable: false });
      rpc.next(rpcError(-32601, "the method eth_foo does not exist"));
      expect(classifyRpcError(await caught(client.getBlockNumber())).kind).to.equal("fatal");
      rpc.next(httpStatus(401));
      expect(classifyRpcError(await caught(client.getBlockNumber())).kind).to.equal("fatal");
      expect(classifyRpcError(new Error("something odd")).kind).to.equal("fatal");
      expect(classifyRpcError(undefined).kind).to.equal("fatal");
    });

    it("classifies our own cancellation as aborted and survives cyclic causes", () => {
      expect(classifyRpcError(new DOMException("stop", "AbortError")).kind).to.equal("aborted");
      const a = new Error("a") as Error & { cause?: unknown };
      const b = new Error("b", { cause: a });
      a.cause = b;
      expect(classifyRpcError(a).kind).to.equal("fatal");
      const agg = new AggregateError([Object.assign(new Error("x"), { code: "ECONNREFUSED" })], "fetch failed");
      expect(classifyRpcError(new TypeError("fetch failed", { cause: agg })).kind).to.equal("transient");
      expect(retryAfterMs({ headers: { "retry-after": "Wed, 21 Oct 2015 07:28:05 GMT" } }, Date.parse("Wed, 21 Oct 2015 07:28:00 GMT"))).to.equal(5000);
    });
  });

  describe("withRetry", () => {
    it("retries transient RPC failures with exponential backoff until success", async () => {
      rpc.next(httpStatus(503), rpcError(-32603, "internal"), httpStatus(429));
      const delays: number[] = [];
      const block = await withRetry(() => client.getBlockNumber(), {
        retries: 5,
        baseMs: 10,
        maxMs: 1000,
        jitter: false,
        onRetry: (_e, _attempt, d) => delays.push(d),
      });
      expect(block).to.equal(16n);
      expect(rpc.requests).to.have.length(4);
      expect(delays).to.deep.equal([10, 20, 40]);
    });

    it("does not retry a revert and rethrows the original error", async () => {
      rpc.always(rpcError(3, "execution reverted", "0xdeadbeef"));
      let attempts = 0;
      const err = await caught(
        withRetry(
          (n) => {
            attempts = n;
            return client.call({ to: "0x00000000000000000000000000000000000000aa", data: "0x" });
          },
          { retries: 5, baseMs: 1 },
        ),
      );
      expect(attempts).to.equal(1);
      expect((err as Error).name).to.equal("CallExecutionError");
    });

    it("gives up after `retries` and throws the last error", async () => {
      let n = 0;
      const err = await caught(
        withRetry(
          async () => {
            n++;
            throw Object.assign(new Error(`boom ${n}`), { code: "ECONNRESET" });
          },
          { retries: 2, baseMs: 1 },
        ),
      );
      expect(n).to.equal(3);
      expect((err as Error).message).to.equal("boom 3");
    });

    it("honours Retry-After (capped at maxMs)", async () => {
      rpc.next(httpStatus(429, { "retry-after": "0.08" }));
      const t0 = Date.now();
      await withRetry(() => client.getBlockNumber(), { baseMs: 1, jitter: false });
      expect(Date.now() - t0).to.be.at.least(75);

      // (a raw request: viem caches getBlockNumber results for a few seconds)
      rpc.next(httpStatus(429, { "retry-after": "3600" }));
      const delays: number[] = [];
      await withRetry(() => client.request({ method: "eth_blockNumber" }), { baseMs: 1, maxMs: 30, onRetry: (_e, _a, d) => delays.push(d) });
      expect(delays).to.deep.equal([30]);
    });

    it("stops waiting as soon as the signal aborts", async () => {
      const ctl = new AbortController();
      const t0 = Date.now();
      setTimeout(() => ctl.abort(new Error("shutting down")), 30);
      const err = await caught(
        withRetry(
          async () => {
            throw Object.assign(new Error("down"), { code: "ECONNREFUSED" });
          },
          { retries: 10, baseMs: 5_000, signal: ctl.signal },
        ),
      );
      expect((err as Error).message).to.equal("shutting down");
      expect(Date.now() - t0).to.be.below(1_000);
      const pre = new AbortController();
      pre.abort(new Error("already"));
      expect(((await caught(withRetry(async () => 1, { signal: pre.signal }))) as Error).message).to.equal("already");
    });

    it("uses a custom shouldRetry and validates options", async () => {
      let n = 0;
      const v = await withRetry(
        async () => {
          if (++n < 3) throw new Error("flaky");
          return "ok";
        },
        { shouldRetry: (e) => (e as Error).message === "flaky", baseMs: 1 },
      );
      expect(v).to.equal("ok");
      expect(await caught(withRetry(async () => 1, { retries: -1 }))).to.be.instanceOf(RangeError);
    });
  });

  describe("backoffDelay", () => {
    it("doubles up to the cap and jitters within bounds", () => {
      const none = { baseMs: 100, maxMs: 1000, jitter: 0 };
      expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, none))).to.deep.equal([100, 200, 400, 800, 1000, 1000]);
      expect(backoffDelay(3, { baseMs: 100, maxMs: 1000, jitter: 1, random: () => 0.999999 })).to.equal(0);
      expect(backoffDelay(3, { baseMs: 100, maxMs: 1000, jitter: 0.5, random: () => 0.5 })).to.equal(300);
      for (let i = 0; i < 100; i++) {
        const d = backoffDelay(2, { baseMs: 100, jitter: 0.5 });
        expect(d).to.be.within(100, 200);
      }
      expect(() => backoffDelay(1, { jitter: 2 })).to.throw(RangeError);
    });
  });

  describe("rpcTransport: the one retry layer, counted in requests that reach a real HTTP server", () => {
    // A small budget with the daemon's shape: 4 attempts, capped exponential backoff.
    const budget = { attempts: 4, timeoutMs: 300, baseMs: 5, maxMs: 50, jitter: 0.5 };
    const eth = (c: PublicClient, method: string, params: unknown[] = []) => c.request({ method, params } as never);
    const address = "0x00000000000000000000000000000000000000aa";

    it("retries what can succeed up to the budget and never a revert, invalid params or a nonce/known-tx answer", async function () {
      this.timeout(20_000);
      const events: RpcRetryEvent[] = [];
      const c = createPublicClient({ transport: rpcTransport([rpc.url], { ...budget, onRetry: (e) => events.push(e) }) });
      const raw = "0x02f86b827a6901010282520894000000000000000000000000000000000000aa8080c001a0aa";
      const cases: Array<[string, Reply | ((r: { id: unknown }) => Reply), string, unknown[], number]> = [
        ["HTTP 503", { status: 503, body: { error: "x" } }, "eth_blockNumber", [], 4],
        ["HTTP 502", { status: 502, body: { error: "x" } }, "eth_blockNumber", [], 4],
        ["HTTP 429", { status: 429, body: { error: "x" } }, "eth_blockNumber", [], 4],
        ["-32005 limit exceeded", rpcError(-32005, "limit exceeded"), "eth_blockNumber", [], 4],
        ["-32603 internal error", rpcError(-32603, "internal error"), "eth_blockNumber", [], 4],
        ["-32000 header not found (node lag)", rpcError(-32000, "header not found"), "eth_getBlockByNumber", ["latest", false], 4],
        ["timeout", { hang: true }, "eth_blockNumber", [], 4],
        ["connection reset", { destroy: true }, "eth_blockNumber", [], 4],
        ["code 3 execution reverted", rpcError(3, "execution reverted", "0xdeadbeef"), "eth_call", [{ to: address, data: "0x" }, "latest"], 1],
        ["-32603 execution reverted", rpcError(-32603, "execution reverted"), "eth_call", [{ to: address, data: "0x" }, "latest"], 1],
        ["-32000 VM revert", rpcError(-32000, "VM Exception while processing transaction: reverted with reason string 'no'"), "eth_estimateGas", [{ to: address }], 1],
        ["-32602 invalid params", rpcError(-32602, "invalid argument 0: hex string has odd length"), "eth_getBalance", ["0x1", "latest"], 1],
        ["-32601 method not found", rpcError(-32601, "the method eth_foo does not exist"), "eth_foo", [], 1],
        ["HTTP 401", { status: 401, body: { error: "unauthorized" } }, "eth_blockNumber", [], 1],
        ["nonce too low", rpcError(-32000, "nonce too low: next nonce 5, tx nonce 1"), "eth_sendRawTransaction", [raw], 1],
        ["already known", rpcError(-32000, "already known"), "eth_sendRawTransaction", [raw], 1],
        ["eth_sendTransaction on 503 (node-signed: never repeated)", { status: 503, body: { error: "x" } }, "eth_sendTransaction", [{ from: address, to: address }], 1],
      ];
      for (const [name, reply, method, params, expected] of cases) {
        rpc.requests.length = 0;
        events.length = 0;
        rpc.always(typeof reply === "function" ? reply : () => reply);
        const err = await caught(eth(c, method, params));
        expect(rpc.requests.length, `${name}: requests`).to.equal(expected);
        expect(rpc.requests.every((r) => r.method === method), name).to.equal(true);
        expect(events.map((e) => e.attempt), name).to.deep.equal(Array.from({ length: expected - 1 }, (_, i) => i + 1));
        // A 503 is retryable in kind; eth_sendTransaction is the one method never repeated whatever the error.
        expect(isRetryableRpcError(err), `${name}: final error classified`).to.equal(expected > 1 || method === "eth_sendTransaction");
      }
    });

    it("returns the answer once a retry succeeds, and reports each retry (method, url, kind, delay)", async () => {
      const events: RpcRetryEvent[] = [];
      const c = createPublicClient({ transport: rpcTransport([rpc.url], { ...budget, onRetry: (e) => events.push(e) }) });
      rpc.next(httpStatus(503), rpcError(-32000, "header not found"));
      expect(await eth(c, "eth_blockNumber")).to.equal("0x10");
      expect(rpc.requests).to.have.length(3);
      expect(events.map((e) => [e.method, e.attempt, e.attempts, e.url, e.classification.kind])).to.deep.equal([
        ["eth_blockNumber", 1, 4, rpc.url, "transient"],
        ["eth_blockNumber", 2, 4, rpc.url, "transient"],
      ]);
      for (const e of events) expect(e.delayMs).to.be.within(0, budget.maxMs);
    });

    it("a refused connection is retried up to the budget", async () => {
      const closed = await new ScriptedRpc().start();
      await closed.stop();
      const events: RpcRetryEvent[] = [];
      const c = createPublicClient({ transport: rpcTransport([closed.url], { ...budget, onRetry: (e) => events.push(e) }) });
      const err = await caught(eth(c, "eth_blockNumber"));
      expect(events).to.have.length(3);
      expect(classifyRpcError(err)).to.include({ kind: "transient" });
    });

    it("fails over to the next URL within the same budget, and sticks to the one that answers", async () => {
      const second = await new ScriptedRpc().start();
      try {
        const c = createPublicClient({ transport: rpcTransport([rpc.url, second.url], budget) });
        rpc.always(httpStatus(503));
        expect(await eth(c, "eth_blockNumber")).to.equal("0x10");
        expect([rpc.requests.length, second.requests.length]).to.deep.equal([1, 1]);
        expect(await eth(c, "eth_chainId")).to.equal("0x10");
        expect([rpc.requests.length, second.requests.length]).to.deep.equal([1, 2]);
        // Not a failure another node could fix: no failover, no retry.
        second.next(rpcError(-32602, "invalid argument 0"));
        await caught(eth(c, "eth_getBalance", ["0x1", "latest"]));
        expect([rpc.requests.length, second.requests.length]).to.deep.equal([1, 3]);
        // Both down: still at most `attempts` requests in all, alternating.
        second.always(httpStatus(502));
        await caught(eth(c, "eth_blockNumber"));
        expect(rpc.requests.length + second.requests.length).to.equal(1 + 3 + 4);
      } finally {
        await second.stop();
      }
    });

    it("stays within the stated worst case when every attempt times out", async function () {
      this.timeout(10_000);
      const b = { attempts: 3, timeoutMs: 200, baseMs: 20, maxMs: 40, jitter: 0 };
      const c = createPublicClient({ transport: rpcTransport([rpc.url], b) });
      rpc.always(() => ({ hang: true }));
      const t0 = Date.now();
      const err = await caught(eth(c, "eth_blockNumber"));
      const ms = Date.now() - t0;
      expect(classifyRpcError(err)).to.include({ kind: "transient", reason: "TimeoutError" });
      expect(rpc.requests).to.have.length(3);
      expect(rpcWorstCaseMs(b)).to.equal(3 * 200 + 20 + 40);
      expect(ms).to.be.within(3 * 200 + 20 + 40 - 10, rpcWorstCaseMs(b) + 400);
      // The daemon's budget, as documented in retry.ts and main.ts.
      expect(RPC_RETRY).to.include({ attempts: 4, timeoutMs: 10_000 });
      expect(rpcWorstCaseMs()).to.equal(41_750);
      expect(rpcWorstCaseMs(RPC_RETRY, true)).to.equal(55_000);
    });

    it("caps a server's Retry-After at maxMs", async () => {
      const events: RpcRetryEvent[] = [];
      const c = createPublicClient({ transport: rpcTransport([rpc.url], { ...budget, onRetry: (e) => events.push(e) }) });
      rpc.next(httpStatus(429, { "retry-after": "3600" }));
      expect(await eth(c, "eth_blockNumber")).to.equal("0x10");
      expect(events.map((e) => e.delayMs)).to.deep.equal([budget.maxMs]);
    });

    it("shutdown stops retrying but not a first attempt, and the caller gets the RPC error, not the abort", async () => {
      const stop = new AbortController();
      const c = createPublicClient({ transport: rpcTransport([rpc.url], { ...budget, baseMs: 5_000, maxMs: 5_000, stopRetrying: stop.signal }) });
      rpc.always(httpStatus(503));
      const t0 = Date.now();
      setTimeout(() => stop.abort(new Error("shutdown: SIGTERM")), 100);
      const err = await caught(eth(c, "eth_blockNumber"));
      expect(Date.now() - t0).to.be.below(1_000);
      expect(rpc.requests).to.have.length(1);
      expect(classifyRpcError(err)).to.include({ kind: "transient", reason: "http 503" });
      // After shutdown began: one try each, still answered.
      rpc.always((r) => ({ status: 200, body: { jsonrpc: "2.0", id: r.id, result: "0x7a69" } }));
      expect(await eth(c, "eth_chainId")).to.equal("0x7a69");
      rpc.always(httpStatus(503));
      await caught(eth(c, "eth_blockNumber"));
      expect(rpc.requests).to.have.length(3);
    });
  });
});
