import { expect } from "chai";
import { network } from "hardhat";
import { createPublicClient, createWalletClient, defineChain, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { HeadWatcher } from "../../packages/worker/src/chain/heads.js";
import { readLogs } from "../../packages/worker/src/chain/logs.js";
import { rpcTransport, type RpcRetryEvent } from "../../packages/worker/src/internal/retry.js";
import { RpcProxy } from "./fixtures/rpc-proxy.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const provider = connection.provider as unknown as { request(a: { method: string; params?: unknown }): Promise<unknown> };
const head = async () => BigInt((await provider.request({ method: "eth_blockNumber" })) as Hex);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const chain = defineChain({ id: 31337, name: "hardhat", nativeCurrency: { name: "ETH", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [] } } });
const account = mnemonicToAccount("test test test test test test test test test test test junk", { addressIndex: 1 });

/** Mines a block every `ms` until stopped. */
function miner(ms: number) {
  let on = true;
  const done = (async () => {
    while (on) {
      await provider.request({ method: "evm_mine" });
      await sleep(ms);
    }
  })();
  return async () => {
    on = false;
    await done;
  };
}

describe("chain/heads: HeadWatcher asks every endpoint on its own", function () {
  this.timeout(60_000);
  const proxies: RpcProxy[] = [];
  const watchers: HeadWatcher[] = [];
  const figures: string[] = [];
  const proxy = async (rules: ConstructorParameters<typeof RpcProxy>[1] = {}) => {
    const p = await new RpcProxy(provider, rules).start();
    proxies.push(p);
    return p;
  };
  const watch = (urls: string[], o: ConstructorParameters<typeof HeadWatcher>[1] = {}) => {
    const w = new HeadWatcher(urls, o);
    watchers.push(w);
    return w;
  };
  afterEach(async () => {
    await Promise.all(watchers.splice(0).map((w) => w.stop()));
    await Promise.all(proxies.splice(0).map((p) => p.stop()));
  });
  after(() => {
    if (figures.length) console.log(`      figures:\n        ${figures.join("\n        ")}`);
  });

  it("sees the real head advance while the first endpoint hangs, the second is stuck at an old block and the fourth refuses connections", async () => {
    const start = await head();
    const hung = await proxy({ mode: "hang" });
    const stuck = await proxy({ frozenHead: start });
    const live = await proxy();
    const refused = await RpcProxy.refusedUrl();
    const w = watch([hung.url, stuck.url, live.url, refused], { intervalMs: 100, timeoutMs: 300, staleAfterMs: 1_000 }).start();
    const stopMining = miner(100);
    const seen: Array<[bigint | undefined, bigint]> = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 1_600) {
      await sleep(200);
      seen.push([w.bestHead(), await head()]);
    }
    await stopMining();
    // Best head follows the chain (a poll is at most 100 ms + a round trip old), never the stuck node's block.
    for (const [best, real] of seen.slice(1)) {
      expect(best !== undefined && best > start, "best head moved past the stuck node").to.equal(true);
      expect(real - best!, `best ${best} vs chain ${real}`).to.be.within(0n, 3n);
    }
    expect(seen.at(-1)![0]! - seen[1]![0]!, "advancing").to.be.greaterThan(5n);
    await w.pollOnce();
    const real = await head();
    const [h, s, l, r] = w.endpoints();
    expect(h).to.deep.include({ url: hung.url, stale: true, error: "no answer within 300 ms" });
    expect(h!.head).to.equal(undefined);
    expect(s).to.deep.include({ url: stuck.url, stale: false, head: start });
    expect(s!.behindBlocks).to.equal(Number(real - start));
    expect(s!.headAgeMs!).to.be.above(1_000); // it answers, but its head has not moved
    expect(l).to.deep.include({ url: live.url, stale: false, head: real, behindBlocks: 0 });
    expect(r!.stale).to.equal(true);
    expect(r!.error).to.match(/fetch failed|ECONNREFUSED|HTTP request failed/i);
    // One hung endpoint does not slow the others' polls: each has its own timer.
    expect(l!.polls).to.be.at.least(2 * h!.polls);
    expect(h!.polls).to.be.within(2, 6); // 1.6 s / (300 ms timeout + 100 ms interval)
    // Health: the worker's cursor against the real best head.
    const lagging = w.lag(start, { maxLagBlocks: 5 });
    expect(lagging).to.deep.include({ bestHead: real, lagBlocks: Number(real - start), stale: false, freshEndpoints: 2, healthy: false });
    expect(lagging.reasons).to.deep.equal([`processing lags the chain head (${real}) by ${real - start} blocks`]);
    expect(w.lag(real - 2n, { maxLagBlocks: 5, confirmations: 2 })).to.deep.include({ lagBlocks: 0, healthy: true });
    figures.push(
      `1.6 s, a block per 100 ms: best head ${seen[1]![0]} → ${seen.at(-1)![0]} (stuck node at ${start}); polls hung ${h!.polls}, stuck ${s!.polls}, live ${l!.polls}, refused ${r!.polls}; live latency ${l!.latencyMs} ms`,
    );
  });

  it("an outage of every endpoint makes health unhealthy within staleAfterMs, not 'ok, lag 0'; it recovers with the real head", async () => {
    const a = await proxy();
    const b = await proxy();
    const w = watch([a.url, b.url], { intervalMs: 100, timeoutMs: 250, staleAfterMs: 800, redact: (u) => u.replace(/:\d+$/, ":<port>") }).start();
    await w.pollOnce();
    const cursor = await head();
    expect(w.lag(cursor, { maxLagBlocks: 5 })).to.deep.include({ bestHead: cursor, lagBlocks: 0, healthy: true, stale: false });
    // Both nodes stop answering (the chain goes on).
    a.rules.mode = "hang";
    b.rules.mode = "hang";
    const stopMining = miner(100);
    const t0 = Date.now();
    let firstUnhealthyMs: number | undefined;
    while (Date.now() - t0 < 1_500) {
      await sleep(50);
      if (firstUnhealthyMs === undefined && !w.lag(cursor, { maxLagBlocks: 5 }).healthy) firstUnhealthyMs = Date.now() - t0;
    }
    const during = w.lag(cursor, { maxLagBlocks: 5 });
    // The last head known equals the cursor (what the old /health compared: "ok, headLagBlocks 0"), but nothing answers.
    expect(during).to.deep.include({ bestHead: cursor, lagBlocks: 0, stale: true, freshEndpoints: 0, healthy: false });
    expect(during.reasons, JSON.stringify(during.reasons)).to.have.length(1);
    expect(during.reasons[0]).to.match(/^no RPC endpoint has answered eth_blockNumber for [12] s \(http:\/\/127\.0\.0\.1:<port>: no answer within 250 ms; http:\/\/127\.0\.0\.1:<port>: no answer within 250 ms\)$/);
    expect(firstUnhealthyMs!).to.be.within(800, 1_500);
    // Back: the real head, and the lag the outage built up.
    a.rules.mode = "ok";
    const back = Date.now();
    while (!w.lag(cursor).healthy || w.bestHead() === cursor) await sleep(20);
    const recoveredMs = Date.now() - back;
    await stopMining();
    await w.pollOnce();
    const real = await head();
    const after = w.lag(cursor, { maxLagBlocks: 5 });
    expect(after).to.deep.include({ bestHead: real, stale: false, freshEndpoints: 1, healthy: false, lagBlocks: Number(real - cursor) });
    expect(recoveredMs).to.be.below(1_000); // the hung poll ends within 250 ms, the next starts 100 ms later
    figures.push(`outage of both endpoints: unhealthy after ${firstUnhealthyMs} ms (staleAfterMs 800), real head back ${recoveredMs} ms after one endpoint returned; lag ${after.lagBlocks} blocks`);
  });

  it("an endpoint serving another chain is an error, not a head", async () => {
    const other = await proxy({ chainId: 1 });
    const good = await proxy();
    const w = watch([other.url, good.url], { chainId: 31337 });
    await w.pollOnce();
    const [o, g] = w.endpoints();
    expect(o).to.deep.include({ stale: true, error: "serves chain 1, not 31337" });
    expect(o!.head).to.equal(undefined);
    expect(g).to.deep.include({ stale: false, head: await head() });
    expect(other.count("eth_blockNumber")).to.equal(0);
  });

  it("refuses bad configuration", () => {
    expect(() => new HeadWatcher([])).to.throw(/at least one RPC URL/);
    expect(() => new HeadWatcher(["localhost:8545"])).to.throw(/not an http\(s\) or ws\(s\) URL/);
    expect(() => new HeadWatcher(["http://x"], { intervalMs: 0 })).to.throw(/intervalMs must be a positive number/);
    expect(() => new HeadWatcher(["http://x"], { staleAfterMs: Number.NaN })).to.throw(/staleAfterMs must be a positive number/);
  });
});

describe("rpcTransport (internal/retry.ts) with a dead first URL, in front of a real chain", function () {
  this.timeout(60_000);
  const proxies: RpcProxy[] = [];
  const figures: string[] = [];
  const proxy = async (rules: ConstructorParameters<typeof RpcProxy>[1] = {}) => {
    const p = await new RpcProxy(provider, rules).start();
    proxies.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.stop()));
  });
  after(() => {
    if (figures.length) console.log(`      figures:\n        ${figures.join("\n        ")}`);
  });

  /** What the daemon does: chain id, head, logs, then jobs (a transaction and its receipt each), on three clients. */
  async function daemonLike(urls: string[], events: RpcRetryEvent[], extra: Parameters<typeof rpcTransport>[1] = {}) {
    const transport = rpcTransport(urls, { onRetry: (e) => events.push(e), ...extra });
    const probe = createPublicClient({ transport });
    const pub = createPublicClient({ transport, chain, pollingInterval: 50 });
    const wallet = createWalletClient({ transport, chain, account });
    let t0 = Date.now();
    await probe.getChainId();
    const ready = Date.now() - t0;
    t0 = Date.now();
    await pub.getBlockNumber({ cacheTime: 0 });
    await readLogs(pub, { address: account.address, fromBlock: 0n, toBlock: await pub.getBlockNumber({ cacheTime: 0 }), maxRange: 1_000n });
    const scan = Date.now() - t0;
    const jobs: number[] = [];
    for (let i = 0; i < 5; i++) {
      t0 = Date.now();
      const hash = await wallet.sendTransaction({ to: account.address as Address, value: 1n });
      expect((await pub.waitForTransactionReceipt({ hash })).status).to.equal("success");
      jobs.push(Date.now() - t0);
    }
    return { ready, scan, jobs, transport };
  }

  it("a first URL that accepts TCP and never answers costs one 2 s probe, once for all clients, instead of 10 s per client", async () => {
    const hung = await proxy({ mode: "hang" });
    const live = await proxy();
    const events: RpcRetryEvent[] = [];
    const r = await daemonLike([hung.url, live.url], events);
    expect(hung.requests.map((q) => q.method)).to.deep.equal(["eth_chainId"]);
    expect(r.ready).to.be.within(2_000, 3_000); // the 2 s probe + a 125-250 ms backoff
    expect(r.scan).to.be.below(1_000);
    for (const ms of r.jobs) expect(ms).to.be.below(1_000);
    expect(events.map((e) => [e.url, e.classification.reason])).to.deep.equal([[hung.url, "TimeoutError"]]);
    figures.push(`hung first URL: ready in ${r.ready} ms, scan ${r.scan} ms, jobs ${r.jobs.join("/")} ms; requests to it: ${hung.count()}, to the live one: ${live.count()}`);
  });

  it("a heavy first request waits for the probe, not for its own timeout; a slow but live first endpoint is not cut short", async () => {
    const hung = await proxy({ mode: "hang" });
    const live = await proxy();
    const c = createPublicClient({ transport: rpcTransport([hung.url, live.url], { probeTimeoutMs: 300 }) });
    let t0 = Date.now();
    await c.getLogs({ fromBlock: 0n, toBlock: 1n });
    const failover = Date.now() - t0;
    expect(failover).to.be.within(300, 900);
    expect(hung.requests.map((q) => q.method)).to.deep.equal(["eth_chainId"]);
    expect(live.requests.map((q) => q.method)).to.deep.equal(["eth_getLogs"]);

    const slow = await proxy({ delayMs: { eth_getLogs: 1_200 } });
    const other = await proxy();
    const s = createPublicClient({ transport: rpcTransport([slow.url, other.url], { probeTimeoutMs: 300 }) });
    t0 = Date.now();
    await s.getLogs({ fromBlock: 0n, toBlock: 1n });
    const slowMs = Date.now() - t0;
    expect(slowMs).to.be.within(1_200, 2_500);
    expect(slow.requests.map((q) => q.method)).to.deep.equal(["eth_chainId", "eth_getLogs"]);
    expect(other.count()).to.equal(0);
    // Proven alive: no second probe.
    await s.getBlockNumber({ cacheTime: 0 });
    expect(slow.count("eth_chainId")).to.equal(1);
    figures.push(`heavy first request behind a hung URL: ${failover} ms (probe 300 ms); slow live first URL (1.2 s getLogs) kept: ${slowMs} ms`);
  });

  it("a first URL that refuses connections costs one failed connect in all, and a failure of the live one does not send requests back to it", async () => {
    const refused = await RpcProxy.refusedUrl();
    const live = await proxy();
    const events: RpcRetryEvent[] = [];
    const r = await daemonLike([refused, live.url], events);
    expect(events.map((e) => e.url)).to.deep.equal([refused]);
    figures.push(`refused first URL: ready in ${r.ready} ms, jobs ${r.jobs.join("/")} ms, ${events.length} failed attempt in all (3 clients)`);
    expect(r.ready).to.be.below(500);
    for (const ms of r.jobs) expect(ms).to.be.below(1_000);
    // The live node fails once: the request is retried on it, not on the refusing one (down for 30 s).
    live.rules.fail503 = 1;
    const c = createPublicClient({ transport: r.transport });
    await c.getBlockNumber({ cacheTime: 0 });
    expect(events.slice(1).map((e) => [e.url, e.classification.reason])).to.deep.equal([[live.url, "http 503"]]);
  });

  it("once its down time is over, a refusing first URL is tried again only when the endpoint in use fails; both down: the one that answered last", async () => {
    const refused = await RpcProxy.refusedUrl();
    const live = await proxy();
    const events: RpcRetryEvent[] = [];
    const c = createPublicClient({ transport: rpcTransport([refused, live.url], { downForMs: 200, baseMs: 5, maxMs: 10, onRetry: (e) => events.push(e) }) });
    await c.getBlockNumber({ cacheTime: 0 });
    await sleep(300);
    for (let i = 0; i < 5; i++) await c.getBlockNumber({ cacheTime: 0 });
    expect(events.map((e) => e.url), "sticks to the live one").to.deep.equal([refused]);
    live.rules.fail503 = 3;
    const err = await c.getBlockNumber({ cacheTime: 0 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    // Live fails → the refusing one (its down time is over) → both down: the one that answered last, live, twice.
    expect(events.slice(1).map((e) => (e.url === refused ? "refused" : "live"))).to.deep.equal(["live", "refused", "live"]);
    expect(live.count()).to.equal(1 + 5 + 3);
  });
  it("onRequest sees every attempt sent to a node (retries and the failing URL's included): veil_worker_rpc_requests_total", async () => {
    const refused = await RpcProxy.refusedUrl();
    const live = await proxy();
    const seen: string[] = [];
    const c = createPublicClient({ transport: rpcTransport([refused, live.url], { downForMs: 60_000, baseMs: 5, maxMs: 10, onRequest: (m) => seen.push(m) }) });
    await c.getBlockNumber({ cacheTime: 0 });
    await c.getChainId();
    // The refused attempt, its retry on the live URL, then one request.
    expect(seen).to.deep.equal(["eth_blockNumber", "eth_blockNumber", "eth_chainId"]);
    expect(live.count()).to.equal(2);
  });
});
