/**
 * Issue 15 (RPC faults), at the level of the operator's own process: `veil node start` workers as OS processes,
 * talking JSON-RPC over real HTTP to a real chain (the in-process Hardhat network, EDR) through fault proxies
 * (fixtures/rpc-proxy.ts: node:http, every request recorded).
 *
 * 1. eth_getLogs limits: a backlog of 40 jobs with ~15 KB inline inputs (a 1.2 MB getLogs answer for the whole range)
 *    behind a node that refuses spans over 16 blocks and answers over 100 KB. The worker's cursor reaches the head,
 *    every job is served, the chunks tile the range and the getLogs count is bounded. A single block over the limit
 *    makes /health 503 with the reason, and lifting the limit recovers.
 * 2. Two --rpc-url's: one endpoint frozen or hung leaves /health right (chainHead = the live endpoint's, both listed);
 *    the endpoint the worker reads through frozen while the other advances past --max-head-lag-blocks: 503 with the
 *    lag reason, then 200 once it moves again. (HeadWatcher's staleAfterMs, 30 s, is not configurable from the
 *    worker, so the "every endpoint silent" path is left to test/worker/heads.test.ts.)
 * 3. A first --rpc-url that accepts TCP and never answers: the worker is ready, answers /health and serves a job within
 *    seconds, and no request other than eth_chainId probes ever goes to the hung URL.
 * One test is skipped for a worker fix (see it): /health's chainHead can be behind the block the worker processed.
 */
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { network } from "hardhat";
import VeilLocal from "../../ignition/modules/VeilLocal.js";
import { writeDeployment } from "../../scripts/write-deployment.js";
import { decodeTensors, encodeTensors, resultHash } from "../../packages/sdk/src/tensor.js";
import { buildMlpModel, type GeneratedMlp } from "../../packages/worker/src/models/generate.js";
import type { FeeLedger, IVeilEscrow, MockUSDC, ModelRegistry, NodeStaking, VeilToken } from "../../types/ethers-contracts/index.js";
import { modelParams, STATUS, type Connection } from "../helpers/fixture.js";
import { freePort, nodeKey, startWorkerProcess, type LocalNode, type WorkerProcess } from "./fixtures/local-node.js";
import { RpcProxy, type Eip1193, type ProxyRequest } from "./fixtures/rpc-proxy.js";

const E18 = 10n ** 18n;
const JOBS = 40;
const ROWS = 234; // x: float32[234, 16] = 14,976 bytes of tensor data per job (the escrow's inline cap is 16,384)
const MAX_LOG_BLOCKS = 16;
const MAX_LOG_BYTES = 100_000;

interface Health {
  code: number;
  body: {
    status: string;
    reasons?: string[];
    headBlock: number;
    chainHead: number;
    headLagBlocks?: number;
    jobs?: Record<string, number>;
    endpoints?: Array<{ url: string; head?: number; stale: boolean; error?: string }>;
  };
}

async function health(w: WorkerProcess): Promise<Health> {
  const r = await fetch(`${w.url}/health`, { signal: AbortSignal.timeout(5_000) });
  return { code: r.status, body: (await r.json()) as Health["body"] };
}

describe("worker RPC faults: veil node start processes over HTTP through fault proxies (issue 15)", function () {
  this.timeout(120_000);
  let connection: Connection;
  let ethers: Connection["ethers"];
  let provider: Eip1193;
  const figures: string[] = [];
  const children: LocalNode["children"] = [];
  const proxies: RpcProxy[] = [];
  let dir: string;
  let deploymentFile: string;
  let startBlock: number;
  let c: { escrow: IVeilEscrow; ledger: FeeLedger; staking: NodeStaking; registry: ModelRegistry; veil: VeilToken; usdc: MockUSDC };
  let signers: HardhatEthersSigner[];
  let requester: HardhatEthersSigner;

  before(async () => {
    const t0 = Date.now();
    connection = await network.create({ network: "hardhat", chainType: "l1" });
    ethers = connection.ethers;
    provider = connection.provider as unknown as Eip1193;
    dir = mkdtempSync(path.join(tmpdir(), "veil-rpc-faults-"));
    signers = await ethers.getSigners();
    requester = signers[1]!;
    startBlock = await ethers.provider.getBlockNumber();
    const d = await connection.ignition.deploy(VeilLocal, { parameters: { VeilLocal: { treasury: signers[3]!.address } } });
    // The escrow's core and its forwarded views at one address, and its fee ledger (which the requester approves).
    const escrow = await ethers.getContractAt("IVeilEscrow", await d.escrow.getAddress());
    c = {
      escrow,
      ledger: await ethers.getContractAt("FeeLedger", await escrow.ledger()),
      staking: await ethers.getContractAt("NodeStaking", await d.staking.getAddress()),
      registry: await ethers.getContractAt("ModelRegistry", await d.registry.getAddress()),
      veil: await ethers.getContractAt("VeilToken", await d.veil.getAddress()),
      usdc: await ethers.getContractAt("MockUSDC", await d.feeToken.getAddress()),
    };
    const addr = async (x: { getAddress(): Promise<string> } | undefined) => (x ? ((await x.getAddress()) as `0x${string}`) : undefined);
    deploymentFile = writeDeployment(
      {
        chainId: 31337,
        startBlock,
        addresses: {
          jobEscrow: (await addr(d.escrow))!,
          nodeStaking: (await addr(d.staking))!,
          modelRegistry: (await addr(d.registry))!,
          feeToken: (await addr(d.feeToken))!,
          stakingToken: (await addr(d.veil))!,
          accessManager: (await addr(d.manager))!,
          disputeManager: await addr(d.disputeManager),
          computeCredits: await addr(d.credits),
          jobKeys: await addr(d.jobKeys),
        },
      },
      path.join(dir, "deployments"),
    );
    await (await c.usdc.mint(requester.address, 1_000n * 10n ** 6n)).wait();
    await (await c.usdc.connect(requester).approve(await c.ledger.getAddress(), ethers.MaxUint256)).wait();
    figures.push(`setup (in-process chain, Ignition deploy): ${Date.now() - t0} ms`);
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await Promise.all(proxies.map((p) => p.stop()));
    await connection?.close().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (figures.length) console.log(`      figures:\n        ${figures.join("\n        ")}`);
  });

  async function proxy(): Promise<RpcProxy> {
    const p = await new RpcProxy(provider).start();
    proxies.push(p);
    return p;
  }

  /** A model of its own (so that k = 1 jobs go to this test's operator only) and a registered, staked operator. */
  async function operator(index: number, seed: number, join: boolean) {
    const mlp = buildMlpModel({ seed });
    const op = signers[index]!;
    const port = await freePort();
    await (await c.registry.connect(signers[2]!).registerModel(mlp.modelId, modelParams({ redundancy: 1 }))).wait();
    await (await c.veil.connect(signers[0]!).transfer(op.address, 10_000n * E18)).wait();
    await (await c.veil.connect(op).approve(await c.staking.getAddress(), 5_000n * E18)).wait();
    await (await c.staking.connect(op).register(`http://127.0.0.1:${port}`, ethers.ZeroHash)).wait();
    await (await c.staking.connect(op).stake(5_000n * E18)).wait();
    if (join) await (await c.staking.connect(op).joinModel(mlp.modelId)).wait();
    const modelFile = path.join(dir, `mlp-${seed}.onnx`);
    writeFileSync(modelFile, mlp.bytes);
    return { mlp, op, port, modelFile, key: nodeKey(index) };
  }

  function startWorker(o: Awaited<ReturnType<typeof operator>>, rpcUrls: string[], extra: string[] = []): WorkerProcess {
    const args = [
      ...rpcUrls.flatMap((u) => ["--rpc-url", u]),
      "--model", o.modelFile, "--deployment", deploymentFile, "--data-dir", path.join(dir, `data-${o.op.address}`),
      "--http-port", String(o.port), "--poll-interval-ms", "200", ...extra,
    ];
    return startWorkerProcess({ children } as unknown as LocalNode, args, { VEIL_PRIVATE_KEY: o.key }, o.port);
  }

  function input(i: number, rows: number): Uint8Array {
    const x = new Float32Array(rows * 16).map((_, j) => Math.sin(i * 1_000 + j));
    return encodeTensors({ x: { type: "float32", dims: [rows, 16], data: x } });
  }

  async function submit(mlp: GeneratedMlp, bytes: Uint8Array): Promise<{ id: bigint; block: number }> {
    const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    const receipt = (await (
      await c.escrow.connect(requester).submitJob({
        modelId: mlp.modelId, redundancy: 1, maxFee: 10n ** 9n, deadline: t + 3600n, input: ethers.hexlify(bytes), inputURI: "", inputHash: ethers.ZeroHash,
      })
    ).wait())!;
    const ev = receipt.logs.map((l) => { try { return c.escrow.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "JobSubmitted");
    if (!ev) throw new Error("no JobSubmitted event in the receipt");
    return { id: ev.args.jobId as bigint, block: receipt.blockNumber };
  }

  async function until<T>(what: string, ms: number, w: WorkerProcess, check: () => Promise<T | undefined | false>): Promise<T> {
    const end = Date.now() + ms;
    let last: unknown;
    for (;;) {
      try {
        const v = await check();
        if (v !== undefined && v !== false) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const h = await fetch(`${w.url}/health`).then((r) => r.text()).catch((e) => String(e));
    throw new Error(`${what} within ${ms} ms${last ? ` (last error: ${String(last)})` : ""}\n/health: ${h}\nworker log tail:\n${w.logs().split("\n").slice(-12).join("\n")}`);
  }

  const head = async () => BigInt((await provider.request({ method: "eth_blockNumber" })) as string);
  const mine = (n: number) => provider.request({ method: "hardhat_mine", params: [`0x${n.toString(16)}`] });
  const statusOf = async (id: bigint) => (await c.escrow.getJob(id)).status;

  it(`eth_getLogs limits: a backlog of ${JOBS} jobs with 15 KB inputs behind a node refusing spans over ${MAX_LOG_BLOCKS} blocks and answers over ${MAX_LOG_BYTES / 1000} KB: cursor at the head, every job served, bounded requests; one block over the limit is a 503 with the reason`, async () => {
    const o = await operator(5, 31, true);
    const escrow = (await c.escrow.getAddress()) as `0x${string}`;
    let t0 = Date.now();
    const jobs: Array<{ id: bigint; block: number }> = [];
    for (let i = 0; i < JOBS; i++) {
      const bytes = input(i, ROWS);
      if (i === 0) expect(bytes.length, "inline input size").to.be.within(14_900, 16_384);
      jobs.push(await submit(o.mlp, bytes));
    }
    const H = await head();
    // What the worker read in one request before adaptive ranges: the whole backlog, far over the proxy's limits.
    const whole = await provider.request({ method: "eth_getLogs", params: [{ address: escrow, fromBlock: `0x${startBlock.toString(16)}`, toBlock: `0x${H.toString(16)}` }] });
    const wholeBytes = JSON.stringify(whole).length;
    expect(wholeBytes).to.be.above(JOBS * 28_000);
    figures.push(`getLogs backlog: ${JOBS} jobs of ${input(0, ROWS).length} B inline in blocks ${jobs[0]!.block}..${jobs.at(-1)!.block} (range ${startBlock}..${H}, ${Number(H) - startBlock + 1} blocks; one answer for all: ${(wholeBytes / 1e6).toFixed(2)} MB), submitted in ${Date.now() - t0} ms`);

    const p = await proxy();
    p.rules = { maxLogBlocks: MAX_LOG_BLOCKS, maxLogBytes: MAX_LOG_BYTES };
    t0 = Date.now();
    const w = startWorker(o, [p.url]);
    await w.ready;
    const readyMs = Date.now() - t0;
    await until(`the cursor did not reach the backlog's head ${H}`, 30_000, w, async () => (await health(w)).body.headBlock >= Number(H));
    const cursorMs = Date.now() - t0;
    await until(`not all ${JOBS} jobs were served`, 40_000, w, async () =>
      (await Promise.all(jobs.map((j) => statusOf(j.id)))).every((s) => s === STATUS.Proposed),
    );
    const servedMs = Date.now() - t0;

    // The backlog's eth_getLogs requests (those starting at or below H), in the order sent.
    const logsReqs = p.requests.filter((r) => r.method === "eth_getLogs");
    const backlog = logsReqs.filter((r) => r.from !== undefined && r.from <= H);
    const answered = backlog.filter((r) => r.outcome === "answered");
    const refused = backlog.filter((r) => r.outcome === "refused");
    expect(backlog.length, "every getLogs had a numeric range").to.equal(logsReqs.filter((r) => r.from === undefined || r.from <= H).length);
    // The answered chunks tile [startBlock, H] in order: no block skipped, none read twice.
    expect(answered[0]!.from).to.equal(BigInt(startBlock));
    for (let i = 1; i < answered.length; i++) expect(answered[i]!.from, `chunk ${i} follows chunk ${i - 1}`).to.equal(answered[i - 1]!.to! + 1n);
    expect(answered.at(-1)!.to! >= H).to.equal(true);
    for (const r of answered) {
      expect(Number(r.to! - r.from! + 1n)).to.be.at.most(MAX_LOG_BLOCKS);
      expect(r.bytes).to.be.at.most(MAX_LOG_BYTES + 1_000);
    }
    // A refused range is never asked again as it was (the retry layer does not retry a too-large answer).
    const key = (r: ProxyRequest) => `${r.from}-${r.to}`;
    expect(new Set(refused.map(key)).size, `refused ranges: ${refused.map(key).join(", ")}`).to.equal(refused.length);
    expect(refused.length).to.be.above(0);
    // Bounded: 40 blocks of one 30 KB (hex) job each, at most 3 an answer, need >= 14 chunks (20 at the 2-block span
    // the halvings settle on) plus a few for the blocks before them; halving from 2,000 blocks costs a refusal per
    // halving, and each failed regrowth one more (measured: 30 = 23 answered + 7 refused).
    expect(backlog.length, "eth_getLogs requests for the backlog").to.be.at.most(40);

    const h = await health(w);
    expect(h.code, JSON.stringify(h.body)).to.equal(200);
    expect(h.body.status).to.equal("ok");
    expect(h.body.jobs?.served).to.equal(JOBS);
    // The served result is the one on chain.
    const last = await c.escrow.getJob(jobs.at(-1)!.id);
    const bytes = new Uint8Array(await (await fetch(`${w.url}/results/${last.result}`)).arrayBuffer());
    expect(resultHash(decodeTensors(bytes), { kind: "exact" })).to.equal(last.result);
    figures.push(
      `getLogs limits: worker ready in ${readyMs} ms, cursor at ${H} after ${cursorMs} ms, ${JOBS} jobs served after ${servedMs} ms; ` +
        `backlog eth_getLogs: ${backlog.length} requests (${answered.length} answered, ${refused.length} refused; spans ${answered.map((r) => Number(r.to! - r.from! + 1n)).join(",")})`,
    );

    // One block whose logs alone are over the limit: /health says why (503), and recovers when the limit is lifted.
    p.rules = { maxLogBlocks: MAX_LOG_BLOCKS, maxLogBytes: 20_000 };
    const big = await submit(o.mlp, input(JOBS, ROWS));
    t0 = Date.now();
    const bad = await until("/health did not report the unreadable block", 15_000, w, async () => {
      const x = await health(w);
      return x.code === 503 && x.body.reasons?.some((r) => r.startsWith("cannot read the escrow's events:")) ? x : undefined;
    });
    const unhealthyMs = Date.now() - t0;
    expect(bad.body.status).to.equal("unhealthy");
    const reason = bad.body.reasons!.find((r) => r.startsWith("cannot read the escrow's events:"))!;
    // The block named is one the node refused on its own, and the cursor stops just before it. (It is the new job's
    // block, unless the node's 20 KB limit also refuses an earlier block not ingested yet when the limit dropped:
    // seen once in CI on a loaded machine.)
    const named = /eth_getLogs for block (\d+) alone is too large to read \(node: Log response size exceeded\./.exec(reason);
    expect(named, reason).to.not.equal(null);
    const block = Number(named![1]);
    expect(block).to.be.at.most(big.block);
    expect(p.requests.some((r) => r.method === "eth_getLogs" && r.from === BigInt(block) && r.to === BigInt(block) && r.outcome === "refused"), reason).to.equal(true);
    expect(reason).to.contain("use an RPC endpoint with a larger log/response limit");
    expect(bad.body.headBlock).to.equal(block - 1);
    expect(await statusOf(big.id)).to.equal(STATUS.Assigned);
    await new Promise((r) => setTimeout(r, 1_000));
    const single = p.requests.filter((r) => r.method === "eth_getLogs" && r.from === BigInt(block) && r.to === BigInt(block) && r.outcome === "refused");
    p.rules = { maxLogBlocks: MAX_LOG_BLOCKS, maxLogBytes: MAX_LOG_BYTES };
    t0 = Date.now();
    await until(`job ${big.id} was not served once the limit was lifted`, 15_000, w, async () => (await statusOf(big.id)) === STATUS.Proposed);
    const ok = await until("/health did not recover", 10_000, w, async () => {
      const x = await health(w);
      return x.code === 200 && x.body.status === "ok" ? x : undefined;
    });
    expect(ok.body.reasons).to.equal(undefined);
    expect(ok.body.headBlock).to.be.at.least(big.block);
    figures.push(
      `one block over the limit: 503 after ${unhealthyMs} ms ("${reason.slice(0, 90)}..."); ${single.length} refused single-block requests by then; ` +
        `served ${Date.now() - t0} ms after the limit was lifted`,
    );
    expect(await w.stop()).to.equal(0);
  });

  let baselineReadyMs = 0;

  it("two --rpc-url's: a frozen or hung second endpoint leaves /health right; the endpoint read through frozen while the other advances past --max-head-lag-blocks is a 503 with the lag reason, then recovers", async () => {
    const o = await operator(6, 32, false);
    const a = await proxy();
    const b = await proxy();
    let t0 = Date.now();
    const w = startWorker(o, [a.url, b.url], ["--max-head-lag-blocks", "5"]);
    await w.ready;
    baselineReadyMs = Date.now() - t0;
    const ep = (x: Health) => x.body.endpoints!;
    const okWith = (what: string, check: (x: Health) => boolean) =>
      until(what, 15_000, w, async () => {
        const x = await health(w);
        return x.code === 200 && x.body.status === "ok" && check(x) ? x : undefined;
      });

    // The second endpoint stuck at an old block: the worker (reading through the first) follows the chain.
    const h0 = await head();
    b.rules = { frozenHead: h0 };
    await mine(8);
    const h1 = h0 + 8n;
    let x = await okWith(`/health did not follow the live endpoint to ${h1}`, (x) => x.body.chainHead === Number(h1) && x.body.headBlock === Number(h1) && ep(x)[1]?.head === Number(h0));
    expect(ep(x).map((e) => e.url)).to.deep.equal([`${a.url}/`, `${b.url}/`]);
    expect(ep(x)[0]).to.deep.include({ head: Number(h1), stale: false });
    expect(ep(x)[1]).to.deep.include({ head: Number(h0), stale: false });
    expect(x.body.reasons).to.equal(undefined);

    // The second endpoint hangs: listed with its error, the worker stays healthy and follows the chain.
    b.rules = { mode: "hang" };
    await mine(2);
    const h2 = h1 + 2n;
    x = await okWith("/health did not list the hung endpoint's error", (x) => x.body.chainHead === Number(h2) && x.body.headBlock === Number(h2) && /no answer within 2000 ms/.test(ep(x)[1]?.error ?? ""));
    expect(ep(x)[0]).to.deep.include({ head: Number(h2), stale: false });
    expect(ep(x)[0]!.error).to.equal(undefined);

    // The endpoint the worker reads through freezes while the other advances: the lag shows, 503.
    b.rules = {};
    await okWith("the second endpoint did not come back", (x) => ep(x)[1]?.error === undefined && ep(x)[1]?.head === Number(h2));
    const hA = await head();
    a.rules = { frozenHead: hA };
    await mine(10);
    t0 = Date.now();
    const lagReason = `processing lags the chain head (${hA + 10n}) by 10 blocks`;
    const lagging = await until("/health did not report the lag", 15_000, w, async () => {
      const y = await health(w);
      return y.code === 503 && y.body.reasons?.includes(lagReason) ? y : undefined;
    });
    const lagMs = Date.now() - t0;
    expect(lagging.body.status).to.equal("unhealthy");
    expect(lagging.body.chainHead).to.equal(Number(hA + 10n));
    expect(lagging.body.headBlock).to.equal(Number(hA));
    expect(lagging.body.headLagBlocks).to.equal(10);
    expect(ep(lagging)[0]).to.deep.include({ head: Number(hA), stale: false });
    expect(ep(lagging)[1]).to.deep.include({ head: Number(hA + 10n), stale: false });

    // It moves again: the worker catches up, 200.
    a.rules = {};
    t0 = Date.now();
    x = await okWith("/health did not recover", (x) => x.body.headBlock === Number(hA + 10n));
    expect(x.body.reasons).to.equal(undefined);
    expect(x.body.chainHead).to.equal(Number(hA + 10n));
    figures.push(`two endpoints: worker ready in ${baselineReadyMs} ms; 503 (lag 10 > 5) ${lagMs} ms after the 10 blocks; 200 again ${Date.now() - t0} ms after the endpoint moved`);
    expect(await w.stop()).to.equal(0);
  });

  it("a first --rpc-url that accepts TCP and never answers: ready, /health and the first job within seconds; only eth_chainId probes go to it", async () => {
    const o = await operator(7, 33, false);
    const hung = await proxy();
    hung.rules = { mode: "hang" };
    const live = await proxy();
    const t0 = Date.now();
    const w = startWorker(o, [hung.url, live.url]);
    let healthMs = 0;
    const first = until("/health did not answer", 60_000, w, async () => {
      const x = await health(w);
      healthMs ||= Date.now() - t0;
      return x;
    });
    await w.ready;
    const readyMs = Date.now() - t0;
    await first;
    const job = await submit(o.mlp, input(1, 1));
    const t1 = Date.now();
    await until(`job ${job.id} was not served`, 15_000, w, async () => (await statusOf(job.id)) === STATUS.Proposed);
    const jobMs = Date.now() - t1;
    const x = await until("/health did not list the hung endpoint", 10_000, w, async () => {
      const y = await health(w);
      return y.body.endpoints?.[0]?.error ? y : undefined;
    });
    expect(x.code).to.equal(200);
    expect(x.body.status).to.equal("ok");
    // At least the live endpoint's head as last polled (every 2 s), at most the chain's (see the skipped test below).
    expect(x.body.chainHead, JSON.stringify(x.body)).to.be.within(x.body.endpoints![1]!.head!, Number(await head()));
    expect(x.body.endpoints![0]).to.deep.include({ url: `${hung.url}/`, stale: true, error: "no answer within 2000 ms" });
    expect(x.body.endpoints![0]!.head).to.equal(undefined);
    expect(x.body.endpoints![1]).to.deep.include({ url: `${live.url}/`, stale: false });
    // The worker's work all went to the live endpoint: the hung one only ever saw eth_chainId (the transport's
    // one probe, and the HeadWatcher's chain-id check before each of its polls).
    expect([...new Set(hung.requests.map((r) => r.method))]).to.deep.equal(["eth_chainId"]);
    expect(live.count("eth_getLogs")).to.be.above(0);
    expect(live.count("eth_sendRawTransaction")).to.be.above(0);
    // Within seconds of a start with two live endpoints (the transport's 2 s probe), not the 180 s measured.
    expect(readyMs, `ready in ${readyMs} ms; with two live endpoints ${baselineReadyMs} ms`).to.be.below(Math.max(baselineReadyMs, 8_000) + 6_000);
    expect(jobMs).to.be.below(5_000);
    figures.push(
      `hung first URL: /health answered after ${healthMs} ms, "worker running" after ${readyMs} ms (two live endpoints: ${baselineReadyMs} ms), ` +
        `first job served ${jobMs} ms after submission; requests to the hung URL: ${hung.count()} (all eth_chainId), to the live one: ${live.count()}`,
    );
    expect(await w.stop()).to.equal(0);
  });

  // The HeadWatcher polls every 2 s; the worker reads its head every tick: /health reports the newer of the two
  // (it once reported {"headBlock":114,"chainHead":111,"headLagBlocks":-3}).
  it("/health never reports a chain head behind the block the worker has processed (headLagBlocks >= 0) while blocks arrive", async () => {
    const o = await operator(8, 34, false);
    const p = await proxy();
    const w = startWorker(o, [p.url]);
    await w.ready;
    const bad: string[] = [];
    let samples = 0;
    const end = Date.now() + 4_000;
    let next = Date.now();
    while (Date.now() < end) {
      if (Date.now() >= next) {
        await mine(1);
        next = Date.now() + 300;
      }
      const x = await health(w);
      samples++;
      if (x.body.chainHead < x.body.headBlock || (x.body.headLagBlocks ?? 0) < 0) {
        bad.push(`headBlock ${x.body.headBlock} chainHead ${x.body.chainHead} headLagBlocks ${x.body.headLagBlocks}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    figures.push(`chain head vs processed: ${bad.length} of ${samples} /health answers had chainHead < headBlock`);
    expect(bad, bad.slice(0, 5).join("; ")).to.deep.equal([]);
    expect(await w.stop()).to.equal(0);
  });
});
