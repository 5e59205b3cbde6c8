import { expect } from "chai";
import { network } from "hardhat";
import { createPublicClient, type Address, type Hex, type PublicClient } from "viem";
import {
  LogRangeSizer,
  LogRangeTooLargeError,
  isLogsTooLarge,
  logChunks,
  readLogs,
  type LogChunk,
} from "../../packages/worker/src/chain/logs.js";
import { classifyRpcError, rpcTransport } from "../../packages/worker/src/internal/retry.js";
import { EMITTER_TOPIC, RpcProxy, emitterInitCode, type RefusalStyle } from "./fixtures/rpc-proxy.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const provider = connection.provider as unknown as { request(a: { method: string; params?: unknown }): Promise<unknown> };
const hex = (n: bigint | number) => `0x${n.toString(16)}` as Hex;

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

/** Chunks must tile [from, to] exactly, in order. */
function expectTiles(chunks: LogChunk[], from: bigint, to: bigint) {
  let next = from;
  for (const c of chunks) {
    expect(c.from, "chunks are contiguous").to.equal(next);
    expect(c.to >= c.from).to.equal(true);
    next = c.to + 1n;
  }
  expect(next - 1n, "chunks end at toBlock").to.equal(to);
}

describe("chain/logs: adaptive eth_getLogs ranges against a real chain over real HTTP", function () {
  this.timeout(300_000);
  // The issue's chain: 800 job inputs of 15 KB, 4 per block over 200 blocks: a 25 MB eth_getLogs answer.
  const BLOCKS = 200;
  const PER_TX = 4;
  const BYTES = 15_000;
  let proxy: RpcProxy;
  let emitter: Address;
  let first: bigint; // the emitter's deployment block (no logs)
  let head: bigint;
  let client: PublicClient;
  const figures: string[] = [];

  before(async () => {
    const [from] = (await provider.request({ method: "eth_accounts" })) as Address[];
    const deploy = (await provider.request({ method: "eth_sendTransaction", params: [{ from, data: emitterInitCode() }] })) as Hex;
    const receipt = (await provider.request({ method: "eth_getTransactionReceipt", params: [deploy] })) as { contractAddress: Address; blockNumber: Hex };
    emitter = receipt.contractAddress;
    first = BigInt(receipt.blockNumber);
    const t0 = Date.now();
    for (let i = 0; i < BLOCKS; i++) {
      const data = Buffer.alloc(BYTES, 0x5a);
      data[0] = PER_TX;
      data.writeUInt32BE(i, 1);
      await provider.request({ method: "eth_sendTransaction", params: [{ from, to: emitter, data: `0x${data.toString("hex")}`, gas: hex(2_000_000) }] });
    }
    head = BigInt((await provider.request({ method: "eth_blockNumber" })) as Hex);
    expect(head).to.equal(first + BigInt(BLOCKS));
    figures.push(`chain: ${BLOCKS * PER_TX} logs of ${BYTES} B in ${BLOCKS} blocks, mined in ${Date.now() - t0} ms`);
    proxy = await new RpcProxy(provider).start();
    client = createPublicClient({ transport: rpcTransport([proxy.url], { baseMs: 5, maxMs: 20 }) });
  });
  after(async () => {
    await proxy?.stop();
    if (figures.length) console.log(`      figures:\n        ${figures.join("\n        ")}`);
  });
  beforeEach(() => {
    proxy.rules = {};
    proxy.requests.length = 0;
  });

  function expectAllLogs(logs: Array<{ blockNumber: bigint | null; logIndex: number | null; data: Hex; topics: readonly Hex[] }>) {
    expect(logs).to.have.length(BLOCKS * PER_TX);
    const keys = new Set(logs.map((l) => `${l.blockNumber}:${l.logIndex}`));
    expect(keys.size, "no log twice").to.equal(logs.length);
    const seqs = new Map<number, number>();
    for (const l of logs) {
      expect(l.topics[0]).to.equal(EMITTER_TOPIC);
      expect((l.data.length - 2) / 2).to.equal(BYTES);
      const seq = Number.parseInt(l.data.slice(4, 12), 16);
      seqs.set(seq, (seqs.get(seq) ?? 0) + 1);
    }
    expect([...seqs.keys()].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: BLOCKS }, (_, i) => i));
    expect([...seqs.values()].every((n) => n === PER_TX)).to.equal(true);
    // In block order.
    for (let i = 1; i < logs.length; i++) expect(logs[i]!.blockNumber! >= logs[i - 1]!.blockNumber!).to.equal(true);
  }

  it("a 25 MB answer over viem's 10 MiB limit: one eth_getLogs fails the same way every time; readLogs reaches the head in 6 requests", async () => {
    // What the worker does today: the whole backlog in one request (maxLogRange 2,000 > 201 blocks).
    for (let i = 0; i < 2; i++) {
      const err = await caught(client.getLogs({ address: emitter, fromBlock: first, toBlock: head }));
      expect((err as Error).name).to.equal("ResponseBodyTooLargeError");
      expect(classifyRpcError(err)).to.include({ kind: "too_large", retryable: false });
      expect(isLogsTooLarge(err)).to.equal(true);
    }
    expect(proxy.count("eth_getLogs"), "the transport does not retry a too-large answer").to.equal(2);
    proxy.requests.length = 0;

    const chunks: LogChunk[] = [];
    const splits: string[] = [];
    const t0 = Date.now();
    const r = await readLogs(client, {
      address: emitter,
      fromBlock: first,
      toBlock: head,
      maxRange: 2_000n,
      onRange: (c) => void chunks.push(c),
      onSplit: (s) => splits.push(`${s.from}-${s.to}→${s.nextRange}: ${s.reason}`),
    });
    const ms = Date.now() - t0;
    expectTiles(chunks, first, head);
    expectAllLogs(chunks.flatMap((c) => c.logs));
    expect(r.logs, "with onRange the logs are the caller's").to.have.length(0);
    // 201 blocks: 201 (25 MB) and 100 (12.3 MB) too large, then 50, 50, 50 (6.1 MB each), then 51 left.
    expect(r.splits).to.equal(2);
    expect(splits[0]).to.match(/over viem's limit of 10485760 bytes/);
    expect(r.requests).to.equal(proxy.count("eth_getLogs"));
    expect(r.requests).to.be.at.most(6);
    figures.push(`viem 10 MiB limit, 201 blocks, maxRange 2000: ${r.requests} getLogs (${r.splits} split, ${r.chunks} chunks), ${ms} ms; sizes ${proxy.requests.filter((q) => q.method === "eth_getLogs").map((q) => `${q.to! - q.from! + 1n}:${(q.bytes / 1e6).toFixed(1)}MB`).join(" ")}`);
  });

  for (const style of ["infura", "alchemy", "quicknode", "ankr", "http413"] as RefusalStyle[]) {
    it(`a node that refuses spans over 16 blocks (${style}): every log read, each refused span asked once, never retried as-is`, async () => {
      proxy.rules = { maxLogBlocks: 16, refusal: style };
      const t0 = Date.now();
      const chunks: LogChunk[] = [];
      const r = await readLogs(client, { address: emitter, fromBlock: first, toBlock: head, maxRange: 2_000n, onRange: (c) => void chunks.push(c) });
      const ms = Date.now() - t0;
      expectTiles(chunks, first, head);
      expectAllLogs(chunks.flatMap((c) => c.logs));
      const asked = proxy.requests.filter((q) => q.method === "eth_getLogs");
      expect(asked.length, "one HTTP request per eth_getLogs: -32005/413/400 answers are not retried by the transport").to.equal(r.requests);
      const refused = asked.filter((q) => q.outcome === "refused");
      expect(refused.length).to.equal(r.splits);
      expect(new Set(refused.map((q) => `${q.from}-${q.to}`)).size, "no refused span asked twice").to.equal(refused.length);
      // Bound: log2(2000) + 1 halvings at first, then one failed regrowth per `growAfter` (3) full chunks.
      expect(r.requests).to.be.at.most(r.chunks + 12 + Math.ceil(r.chunks / 3));
      expect(chunks.every((c) => c.to - c.from + 1n <= 16n)).to.equal(true);
      figures.push(`${style} (span limit 16): ${r.requests} getLogs = ${r.chunks} chunks + ${r.splits} refused, ${ms} ms`);
    });
  }

  it("a node that refuses answers over 1 MB (Alchemy's 'Log response size exceeded'): spans adapt to the log density", async () => {
    proxy.rules = { maxLogBytes: 1_000_000, refusal: "alchemy" };
    const sizer = new LogRangeSizer(2_000n);
    const chunks: LogChunk[] = [];
    // Start before the deployment: empty blocks let the span grow, the dense ones shrink it.
    const r = await readLogs(client, { address: emitter, fromBlock: 0n, toBlock: head, sizer, onRange: (c) => void chunks.push(c) });
    expectTiles(chunks, 0n, head);
    expectAllLogs(chunks.flatMap((c) => c.logs));
    const answered = proxy.requests.filter((q) => q.method === "eth_getLogs" && q.outcome === "answered");
    expect(answered.every((q) => q.bytes <= 1_000_000)).to.equal(true);
    expect(r.requests).to.equal(proxy.count("eth_getLogs"));
    expect(r.requests).to.be.at.most(r.chunks + 12 + Math.ceil(r.chunks / 3));
    // 123 KB a block: at most 8 blocks a megabyte; the span ends at most one doubling above that.
    expect(sizer.range).to.be.within(1n, 16n);
    figures.push(`alchemy (1 MB answers), blocks 0-${head}: ${r.requests} getLogs = ${r.chunks} chunks + ${r.splits} refused; span now ${sizer.range}`);
  });

  it("a single block over the limit is a LogRangeTooLargeError naming it, after log2(span) + 1 requests; the blocks before it are delivered", async () => {
    proxy.rules = { maxLogBytes: 100_000, refusal: "alchemy" }; // each block holds 4 x 15 KB = 123 KB of log JSON
    const chunks: LogChunk[] = [];
    const t0 = Date.now();
    const err = await caught(readLogs(client, { address: emitter, fromBlock: first, toBlock: head, maxRange: 2_000n, onRange: (c) => void chunks.push(c) }));
    expect(err).to.be.instanceOf(LogRangeTooLargeError);
    const e = err as LogRangeTooLargeError;
    expect(e.block).to.equal(first + 1n);
    expect(e.address).to.equal(emitter);
    expect(e.message).to.contain(`block ${first + 1n} alone is too large`).and.contain("Log response size exceeded");
    expect(isLogsTooLarge(e)).to.equal(true);
    // The deployment block (no logs) was read before: a cursor can stand just before the block it cannot read.
    expect(chunks.map((c) => [c.from, c.to, c.logs.length])).to.deep.equal([[first, first, 0]]);
    const spans = proxy.requests.filter((q) => q.method === "eth_getLogs").map((q) => Number(q.to! - q.from! + 1n));
    expect(spans).to.deep.equal([201, 100, 50, 25, 12, 6, 3, 1, 1]);
    figures.push(`single block over 100 KB: LogRangeTooLargeError(block ${e.block}) after ${spans.length} getLogs (${spans.join(", ")}), ${Date.now() - t0} ms`);
  });

  it("a sizer kept across calls starts where the node last agreed and grows back once the limit is lifted", async () => {
    const sizer = new LogRangeSizer(2_000n);
    proxy.rules = { maxLogBlocks: 16, refusal: "infura" };
    const a = await readLogs(client, { address: emitter, fromBlock: first, toBlock: first + 99n, sizer });
    expect(sizer.range).to.be.at.most(16n);
    const refusedA = proxy.requests.filter((q) => q.outcome === "refused").length;
    proxy.requests.length = 0;
    const b = await readLogs(client, { address: emitter, fromBlock: first + 100n, toBlock: head, sizer });
    const refusedB = proxy.requests.filter((q) => q.outcome === "refused").length;
    expect(a.logs.length + b.logs.length).to.equal(BLOCKS * PER_TX);
    expect(refusedB, "no halving down from 2000 again").to.be.below(refusedA);
    expect(refusedB).to.be.at.most(Math.ceil(b.chunks / 3) + 1);
    // Limit lifted: the span doubles every 3 full chunks until viem's 10 MiB stops it (85 blocks of 123 KB).
    proxy.rules = {};
    proxy.requests.length = 0;
    const before = sizer.range;
    const c = await readLogs(client, { address: emitter, fromBlock: first, toBlock: head, sizer });
    expect(c.logs).to.have.length(BLOCKS * PER_TX);
    expect(sizer.range > before).to.equal(true);
    expect(c.requests).to.be.at.most(c.chunks + Math.ceil(c.chunks / 3) + 1);
    figures.push(`kept sizer: first call ${a.requests} getLogs (${refusedA} refused), next ${b.requests} (${refusedB} refused); lifted: ${c.requests} getLogs, span ${before} → ${sizer.range}`);
  });

  it("a rate limit is not a size limit: -32005 'limit exceeded' is retried by the transport, then rethrown, never split", async () => {
    proxy.rules = { getLogsError: { code: -32005, message: "limit exceeded" } };
    const sizer = new LogRangeSizer(2_000n);
    const stats = { requests: 0, chunks: 0, splits: 0 };
    const err = await caught((async () => {
      for await (const _ of logChunks(client, { address: emitter, fromBlock: first, toBlock: head, sizer }, stats));
    })());
    expect(classifyRpcError(err)).to.include({ kind: "rate_limited" });
    expect(isLogsTooLarge(err)).to.equal(false);
    expect(proxy.count("eth_getLogs"), "the transport's 4 attempts").to.equal(4);
    expect(stats).to.deep.equal({ requests: 1, chunks: 0, splits: 0 });
    expect(sizer.range).to.equal(2_000n);
  });

  it("recognises the limits of other nodes and providers, and nothing else, from real answers", async () => {
    const tooLarge = [
      [-32005, "query returned more than 10000 results"],
      [-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"],
      [-32600, "Under the Free tier plan, you can make eth_getLogs requests with up to a 10 block range."],
      [-32614, "eth_getLogs and eth_newFilter are limited to a 10,000 blocks range"],
      [-32602, "query exceeds max block range 100000"],
      [-32602, "query exceeds max results 20000"],
      [-32000, "exceed maximum block range: 50000"],
      [-32005, "Requested range exceeds maximum range limit"],
      [-32600, "block range is too wide"],
      [-32000, "block range too large"],
      [-32000, "ranges over 10000 blocks are not supported on freetier"],
      [-32000, "Block range limit exceeded."],
      [-32000, "too many logs"],
    ] as const;
    const other = [
      [-32005, "limit exceeded", "rate_limited"],
      [-32005, "daily request count exceeded, request rate limited", "rate_limited"],
      [-32000, "block range extends beyond current head block", "fatal"],
      [-32602, "invalid block range params", "fatal"],
      [-32000, "header not found", "transient"],
    ] as const;
    const single = createPublicClient({ transport: rpcTransport([proxy.url], { attempts: 1 }) });
    for (const [code, message] of tooLarge) {
      proxy.rules = { getLogsError: { code, message } };
      const err = await caught(single.getLogs({ address: emitter, fromBlock: first, toBlock: head }));
      expect(classifyRpcError(err).kind, message).to.equal("too_large");
    }
    for (const [code, message, kind] of other) {
      proxy.rules = { getLogsError: { code, message } };
      const err = await caught(single.getLogs({ address: emitter, fromBlock: first, toBlock: head }));
      expect(classifyRpcError(err).kind, message).to.equal(kind);
    }
  });

  it("a timeout halves the span for the next call and is rethrown (the transport already spent its attempts)", async () => {
    proxy.rules = { delayMs: { eth_getLogs: 400 } };
    const slow = createPublicClient({ transport: rpcTransport([proxy.url], { attempts: 2, timeoutMs: 150, baseMs: 5, maxMs: 10 }) });
    const sizer = new LogRangeSizer(64n);
    const err = await caught(readLogs(slow, { address: emitter, fromBlock: first, toBlock: head, sizer }));
    expect((err as Error).name).to.equal("TimeoutError");
    expect(proxy.count("eth_getLogs")).to.equal(2);
    expect(sizer.range).to.equal(32n);
  });

  it("bad arguments are clear errors before any request; an empty range reads nothing", async () => {
    const bad: Array<[Parameters<typeof readLogs>[1], RegExp]> = [
      [{ address: emitter, fromBlock: 0n, toBlock: 1n, maxRange: 0n }, /maxRange must be a bigint of at least 1 block/],
      [{ address: emitter, fromBlock: 0n, toBlock: 1n }, /give maxRange or sizer/],
      [{ address: "0x1234" as Address, fromBlock: 0n, toBlock: 1n, maxRange: 10n }, /20-byte hex addresses/],
      [{ address: [], fromBlock: 0n, toBlock: 1n, maxRange: 10n }, /20-byte hex addresses/],
      [{ address: emitter, fromBlock: -1n, toBlock: 1n, maxRange: 10n }, /fromBlock must not be negative/],
      [{ address: emitter, fromBlock: 0 as unknown as bigint, toBlock: 1n, maxRange: 10n }, /must be bigints/],
    ];
    for (const [o, re] of bad) expect((await caught(readLogs(client, o))) as Error).to.have.property("message").that.matches(re);
    expect(() => new LogRangeSizer(10n, { growAfter: 0 })).to.throw(/growAfter must be a positive integer/);
    expect(() => new LogRangeSizer(10n, { initialRange: 11n })).to.throw(/initialRange must be within \[1, 10\]/);
    const empty = await readLogs(client, { address: emitter, fromBlock: head + 1n, toBlock: head, maxRange: 10n });
    expect(empty).to.deep.include({ requests: 0, chunks: 0, splits: 0 });
    expect(proxy.count()).to.equal(0);
  });
});
