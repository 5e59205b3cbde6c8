/**
 * Load benchmark of the Veil worker as operators run it: `hardhat node` as its own process, the protocol deployed
 * over HTTP with the Ignition module deployments use (test/worker/fixtures/local-node.ts), and `veil node start`
 * worker processes on DEFAULT settings (only the flags every operator must give: RPC URL, model, address book, data
 * directory, HTTP port), fed at a steady open-loop rate by a requester that is not the bottleneck.
 *
 *   npm run bench:load -- [--duration 30] [--rate <jobs/s>] [--soak] [--json] [--logs <dir>]
 *   npx tsx --conditions=veil-source bench/load.ts ...
 *
 * Runs, one after the other, on one chain:
 *   one    1 worker, k = 1 jobs of model A (its only server), offered at --rate (default 100 jobs/s, the target)
 *   three  3 workers, k = 1 jobs of model B spread over them by the escrow's draw (default 150 jobs/s)
 *   k3     3 fresh workers, k = 3 jobs of model C (commit, then reveal) at a third of the three-worker rate (fresh:
 *          the three-worker run leaves its workers a backlog that k = 3 jobs would only queue behind)
 * Each run: workers started and "worker running", then --warmup s of load, then the measured window of --duration s
 * (jobs/s, RPC calls, SQLite time, latency, CPU and RSS all come from this window), then submissions stop and up to
 * --drain s are left for the backlog. Each run's workers are stopped (SIGTERM) before the next run's start.
 *
 * What is measured, and how:
 *   jobs/s       jobs whose result was posted (ResultProposed) inside the window / window seconds. Open loop: the
 *                figure can never exceed the offered rate (pass a higher --rate to look for the ceiling).
 *   RPC calls    a counting node:http proxy between each worker and the node (bench/lib/rpc-proxy.ts) counts every
 *                JSON-RPC call by method (a batch request counts each call); calls in the window / jobs posted in it.
 *   SQLite ms    read from the worker's /metrics (veil_worker_sqlite_seconds_total, or the _sum of a histogram
 *                veil_worker_sqlite_seconds) when the worker exports it; null (and said) when it does not.
 *   latency      submit → posted, from chain events as a log watcher (eth_getLogs every 100 ms, straight to the node)
 *                first saw them, in wall-clock time: JobSubmitted to ResultProposed. Block timestamps are 1 s
 *                granular, so they are not used; both ends carry the same <= ~100 ms watcher delay, and both are
 *                block arrivals, so with 1 s blocks latencies come in whole seconds. Jobs submitted in the window
 *                and still unposted when the run ends count with their age then, a lower bound, and the percentile
 *                says so (lowerBound); the latency of the jobs posted in the window is shown next to it.
 *   RSS          VmRSS of each worker process every second; growth = mean of the last min(60 s, window / 3) of the
 *                window against the same span right after warm-up. --soak measures the one-worker run for 600 s
 *                (and skips the other runs): the 10-minute figure.
 *   CPU          /proc CPU time of the node, each worker and the bench process itself (requester, proxies,
 *                watcher), and of the whole machine (anything else running on it shows as "other").
 * Afterwards every job submitted is counted on chain: the escrow's getJob (read in batches through its own
 * multicall) gives Assigned/Revealing (stuck: never posted), Proposed (posted, in its 1 h challenge window, which is
 * why nothing is finalized by the end of a run), Disputed, Finalized, Refunded; checked against the events.
 *
 * The requester: four funded accounts, each with at most one send in flight, every 100 ms as many jobs
 * as the rate owes in ONE escrow multicall of submitJobFromDeposit (the same calldata the SDK's submitJobs/
 * writeSubmissions send for a batch paid from the deposit), signed locally with a gas limit estimated once per run,
 * so it costs the node one eth_sendRawTransaction per batch; the SDK path reads ~4 values per job (its gas bound of
 * each draw) on top, which on a shared 2-core machine would take CPU from the workers under test.
 *
 * The chain: `hardhat node`, set up with its default automine, then switched to interval mining, a block every
 * second (--block-time, ms), before the first worker starts. Not automine: under load automine mines a block per
 * transaction and gives each the next second as its timestamp, so the chain's clock runs ahead of the wall clock by
 * a second a block (measured: 26 minutes ahead after 2 minutes at 100 jobs/s), and 600 s commit windows close in
 * wall-clock seconds. --block-time 0 keeps automine for comparison (the table then shows how far the chain's clock
 * ran ahead). Blocks hold 60 M gas: 150 jobs/s of submissions and the workers' posts filled 1-second blocks to
 * 26 % on average (the table shows how full they were).
 *
 * The human table goes to stdout; with --json the last stdout line is one JSON object. Progress goes to stderr.
 * --logs <dir> keeps each worker's log (JSON lines) there. Other options: --warmup (10 s), --drain (10 s),
 * --k3-duration (15 s; 0 skips the k = 3 run). Default duration: about 3.3 minutes in all.
 *
 * Read the figures with the backlog: when the offered rate is above what the workers post, the backlog grows for
 * the whole run, jobs submitted in the window are still queued at its end (latency is then a lower bound), and RSS
 * grows with the jobs held. For the 10-minute RSS figure run --soak at a rate the worker keeps up with.
 *
 * JSON: jobsPerSecond {one, three, k3}; rpcCallsPerJob, latencyMs {p50, p95} and rssGrowthPct are the worse of
 * the two k = 1 runs (per run under *ByRun and runs[]); sqliteMsPerJob is null until the worker exports the metric.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import hre from "hardhat";
import {
  createPublicClient,
  decodeFunctionResult,
  encodeFunctionData,
  http,
  keccak256,
  toFunctionSelector,
  toHex,
  type Abi,
  type AbiEvent,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { privateKeyToAccount, type PrivateKeyAccount } from "viem/accounts";
import { hardhat } from "viem/chains";
import * as contractAbis from "@veil/contracts";
import { jobEscrowAbi } from "@veil/contracts";
import { freePort, nodeKey, startLocalNode, startWorkerProcess, type LocalNode, type WorkerProcess } from "../test/worker/fixtures/local-node.js";
import { writeDeployment } from "../scripts/write-deployment.js";
import type { VeilDeployment } from "../packages/sdk/src/addresses.js";
import { buildMlpModel } from "../packages/worker/src/models/generate.js";
import { localRuntimeProfile, readOnnxModelHeader } from "../packages/worker/src/inference/profile.js";
import { inspectOnnxModel } from "../packages/sdk/src/onnx.js";
import { encodeSignature } from "../packages/sdk/src/signature.js";
import { encodeTensors } from "../packages/sdk/src/tensor.js";
import { diffCounts, startCountingProxy, sumCounts, totalOf, type CountingProxy, type MethodCounts } from "./lib/rpc-proxy.js";
import { ProcSampler } from "./lib/proc-sampler.js";

// ---------------------------------------------------------------------------------------------------------------- options

function usage(e: unknown): never {
  process.stderr.write(`bench:load: ${(e as Error)?.message ?? e}\n`);
  process.exit(2);
}
const { values: args } = (() => {
  try {
    return parseArgs({
      options: {
        duration: { type: "string" },
        warmup: { type: "string", default: "10" },
        drain: { type: "string", default: "10" },
        rate: { type: "string" },
        soak: { type: "boolean", default: false },
        "k3-duration": { type: "string", default: "15" },
        "block-time": { type: "string" },
        json: { type: "boolean", default: false },
        logs: { type: "string" },
      },
      allowPositionals: false,
    });
  } catch (e) {
    return usage(e);
  }
})();

function num(name: string, raw: string | undefined, fallback: number, { min, integer = false }: { min: number; integer?: boolean }): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
    throw new Error(`--${name} must be ${integer ? "an integer" : "a number"} >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return v;
}
const { DURATION_S, WARMUP_S, DRAIN_S, RATE, K3_DURATION_S, BLOCK_TIME_MS } = (() => {
  try {
    if (args.soak && args.duration !== undefined) throw new Error("--soak measures the one-worker run for 600 s: give --soak or --duration, not both");
    return {
      DURATION_S: args.soak ? 600 : num("duration", args.duration, 30, { min: 5 }),
      WARMUP_S: num("warmup", args.warmup, 10, { min: 0 }),
      DRAIN_S: num("drain", args.drain, 10, { min: 0 }),
      RATE: args.rate === undefined ? undefined : num("rate", args.rate, 0, { min: 0.1 }),
      K3_DURATION_S: args.soak ? 0 : num("k3-duration", args["k3-duration"], 15, { min: 0 }),
      BLOCK_TIME_MS: num("block-time", args["block-time"], 1000, { min: 0, integer: true }),
    };
  } catch (e) {
    return usage(e);
  }
})();
const JSON_OUT = args.json;

const TARGET = { one: 100, three: 150 } as const;
const E18 = 10n ** 18n;
/** Stake per operator: collateral is 100 VEIL a slot until settlement (1 h away), so 10 M VEIL backs 100,000 jobs. */
const STAKE = 10_000_000n * E18;
const PRICE = 50_000n; // 0.05 mUSDC a slot
const REQUESTERS = [10, 11, 12, 13];
const MAX_BATCH = 40;
const SUBMIT_TICK_MS = 100;
const WATCH_MS = 100;

const t0 = Date.now();
const say = (s: string) => process.stderr.write(`[load ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------- chain watcher

type RunName = "one" | "three" | "k3";

interface Track {
  id: bigint;
  run: RunName | undefined;
  k: number;
  submittedAt: number;
  operators: Address[];
  commits: number;
  postedAt?: number;
  finalizedAt?: number;
  refundedAt?: number;
  disputedAt?: number;
  declined: number;
  missed: number;
}

const WATCHED = ["JobSubmitted", "OperatorsAssigned", "ResultCommitted", "ResultProposed", "JobDisputed", "SlotDeclined", "SlotMissed", "JobFinalized", "JobRefunded"] as const;
const watchedEvents = jobEscrowAbi.filter((x) => x.type === "event" && (WATCHED as readonly string[]).includes(x.name)) as unknown as AbiEvent[];

/** Polls the escrow's logs every 100 ms and keeps, per job, the wall-clock time each event was first seen. */
class Watcher {
  readonly jobs = new Map<bigint, Track>();
  private next: bigint;
  private stopped = false;
  private loop: Promise<void> | undefined;
  polls = 0;
  errors = 0;

  constructor(
    private readonly client: PublicClient,
    private readonly escrow: Address,
    fromBlock: bigint,
    private readonly runOfTx: (hash: Hex) => RunName | undefined,
  ) {
    this.next = fromBlock;
  }

  start() {
    this.loop = (async () => {
      while (!this.stopped) {
        const began = Date.now();
        await this.poll().catch(() => void this.errors++);
        await sleep(Math.max(0, WATCH_MS - (Date.now() - began)));
      }
    })();
  }

  async stop() {
    this.stopped = true;
    await this.loop;
  }

  async poll() {
    this.polls++;
    const logs = await this.client.getLogs({ address: this.escrow, events: watchedEvents, fromBlock: this.next, toBlock: "latest" });
    const seen = Date.now();
    let last = this.next - 1n;
    for (const l of logs as unknown as { eventName: string; args: Record<string, any>; blockNumber: bigint; transactionHash: Hex }[]) {
      if (l.blockNumber > last) last = l.blockNumber;
      const id = l.args.jobId as bigint;
      if (l.eventName === "JobSubmitted") {
        if (!this.jobs.has(id)) {
          this.jobs.set(id, { id, run: this.runOfTx(l.transactionHash), k: Number(l.args.redundancy), submittedAt: seen, operators: [], commits: 0, declined: 0, missed: 0 });
        }
        continue;
      }
      const j = this.jobs.get(id);
      if (!j) continue; // a job from before the first run (none are submitted then)
      switch (l.eventName) {
        case "OperatorsAssigned":
          j.operators.push(...(l.args.operators as Address[]));
          break;
        case "ResultCommitted":
          j.commits++;
          break;
        case "ResultProposed":
          j.postedAt ??= seen;
          break;
        case "JobDisputed":
          j.disputedAt ??= seen;
          break;
        case "SlotDeclined":
          j.declined++;
          break;
        case "SlotMissed":
          j.missed++;
          break;
        case "JobFinalized":
          j.finalizedAt ??= seen;
          break;
        case "JobRefunded":
          j.refundedAt ??= seen;
          break;
      }
    }
    // Logs of a block arrive together: everything up to the last block with a log has been read.
    this.next = last + 1n;
  }
}

// ---------------------------------------------------------------------------------------------------------------- requester

interface Requester {
  account: PrivateKeyAccount;
  nonce: number;
  busy: boolean;
}

class Submitter {
  readonly runOfTx = new Map<Hex, RunName>();
  /** Every batch sent: its hash, run, size, sender and calldata (kept to explain a batch that reverted when mined). */
  readonly batches: { hash: Hex; run: RunName; jobs: number; from: Address; data: Hex }[] = [];
  sentJobs = 0;
  sentTxs = 0;
  failedTxs: { hash?: Hex; jobs: number; error: string }[] = [];
  private inflight = new Set<Promise<void>>();
  private seq = 0;
  /** Most jobs owed but not yet sent at a tick (the requester falling behind its rate shows here). */
  maxOwed = 0;

  constructor(
    private readonly send: (raw: Hex) => Promise<unknown>,
    private readonly requesters: Requester[],
    private readonly escrow: Address,
  ) {}

  /** One escrow multicall of n submitJobFromDeposit calls, each with an input no other job of the bench has. */
  calldata(run: { modelId: Hex; k: number; deadline: number }, n: number): Hex {
    const calls: Hex[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.seq++;
      const x = new Float32Array(16).map((_, j) => Math.sin(s * 16 + j + 0.5));
      const input = toHex(encodeTensors({ x: { type: "float32", dims: [1, 16], data: x } }));
      calls.push(
        encodeFunctionData({
          abi: jobEscrowAbi,
          functionName: "submitJobFromDeposit",
          args: [{ modelId: run.modelId, redundancy: run.k, maxFee: PRICE * BigInt(run.k), deadline: run.deadline, input, inputURI: "", inputHash: `0x${"0".repeat(64)}` }],
        }),
      );
    }
    return encodeFunctionData({ abi: jobEscrowAbi, functionName: "multicall", args: [calls] });
  }

  private async sendBatch(r: Requester, run: RunName, spec: { modelId: Hex; k: number; deadline: number; gas: (n: number) => bigint }, n: number) {
    r.busy = true;
    let hash: Hex | undefined;
    try {
      const data = this.calldata(spec, n);
      const raw = await r.account.signTransaction({
        chainId: hardhat.id,
        type: "eip1559",
        to: this.escrow,
        data,
        gas: spec.gas(n),
        nonce: r.nonce,
        maxFeePerGas: 50n * 10n ** 9n,
        maxPriorityFeePerGas: 10n ** 9n,
      });
      hash = keccak256(raw);
      this.runOfTx.set(hash, run); // before sending: the watcher may see its logs before the call returns
      await this.send(raw);
      this.batches.push({ hash, run, jobs: n, from: r.account.address, data });
      r.nonce++;
      this.sentJobs += n;
      this.sentTxs++;
    } catch (e) {
      this.failedTxs.push({ hash, jobs: n, error: (e as { shortMessage?: string })?.shortMessage ?? String((e as Error)?.message ?? e) });
      if (hash) this.runOfTx.delete(hash);
      r.nonce = -1; // resynchronised before its next batch
    } finally {
      r.busy = false;
    }
  }

  /** Sends jobs at `rate` per second until `until()` says stop, then waits for the batches in flight. */
  async run(run: RunName, rate: number, spec: { modelId: Hex; k: number; deadline: number; gas: (n: number) => bigint }, until: () => boolean, nonceOf: (a: Address) => Promise<number>) {
    const start = Date.now();
    let scheduled = 0;
    while (!until()) {
      let owed = Math.floor((rate * (Date.now() - start)) / 1000) - scheduled;
      this.maxOwed = Math.max(this.maxOwed, owed);
      for (const r of this.requesters) {
        if (owed <= 0) break;
        if (r.busy) continue;
        if (r.nonce < 0) {
          r.busy = true;
          r.nonce = await nonceOf(r.account.address);
          r.busy = false;
        }
        const n = Math.min(owed, MAX_BATCH);
        owed -= n;
        scheduled += n;
        const p = this.sendBatch(r, run, spec, n);
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      }
      await sleep(SUBMIT_TICK_MS);
    }
    await Promise.all(this.inflight);
  }
}

// ---------------------------------------------------------------------------------------------------------------- workers

interface Worker {
  name: string;
  operator: Address;
  key: Hex;
  httpPort: number;
  proxy: CountingProxy;
  proc?: WorkerProcess;
}

/** The worker's /metrics, each series summed over its label sets (`name` or `name{k="v"}` as asked). */
async function scrapeMetrics(w: Worker): Promise<Map<string, number>> {
  const text = await fetch(`${w.proc!.url}/metrics`).then((r) => (r.ok ? r.text() : "")).catch(() => "");
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+|NaN|[+-]Inf)$/.exec(line.trim());
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + v);
    const outcome = /outcome="([^"]+)"/.exec(m[2] ?? "")?.[1];
    if (outcome) out.set(`${m[1]}{outcome="${outcome}"}`, (out.get(`${m[1]}{outcome="${outcome}"}`) ?? 0) + v);
  }
  return out;
}

/** SQLite seconds from the worker's metrics, if it exports them (it does not yet: see the report's sqliteMetric). */
const sqliteSeconds = (m: Map<string, number>) => m.get("veil_worker_sqlite_seconds_total") ?? m.get("veil_worker_sqlite_seconds_sum");

function logLevels(logs: string): { warn: number; error: number; top: string[] } {
  let warn = 0;
  let error = 0;
  const msgs = new Map<string, number>();
  for (const line of logs.split("\n")) {
    const lvl = /"level":"(warn|error|fatal)"/.exec(line)?.[1];
    if (!lvl) continue;
    if (lvl === "warn") warn++;
    else error++;
    const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 80);
    msgs.set(`${lvl}: ${msg}`, (msgs.get(`${lvl}: ${msg}`) ?? 0) + 1);
  }
  const top = [...msgs].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([m, n]) => `${n}x ${m}`);
  return { warn, error, top };
}

// ---------------------------------------------------------------------------------------------------------------- statistics

function percentile(sorted: { ms: number; lowerBound: boolean }[], q: number) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

interface RunResult {
  run: RunName;
  workers: number;
  k: number;
  offeredRate: number;
  windowS: number;
  submittedInWindow: number;
  postedInWindow: number;
  jobsPerSecond: number;
  backlogAtWindowEnd: number;
  rpcCalls: number;
  rpcCallsPerJob: number | null;
  rpcCallsPerSecond: number;
  rpcMethods: Record<string, number>;
  rpcMethodsPerJob: Record<string, number> | null;
  /** eth_call / eth_estimateGas by contract function, per posted job (raw counts when none was posted). */
  rpcContractCallsPerJob: Record<string, number>;
  rpcByWorker: Record<string, number>;
  requesterRpcCalls: number;
  sqliteMsPerJob: number | null;
  latencyMs: { p50: number | null; p95: number | null; lowerBound: boolean; posted: number; unposted: number };
  /** Jobs posted inside the window, whenever they were submitted (how long the backlog made them wait). */
  latencyOfPostedMs: { p50: number | null; p95: number | null; n: number };
  rss: { worker: string; baselineMiB: number; finalMiB: number; growthPct: number; spanS: number }[];
  cpuCores: Record<string, number | null>;
  benchEventLoopDelayMs: { p99: number; max: number };
  requesterMaxOwed: number;
  /** Blocks mined in the window, and how full they were (null: more than 400 blocks, not read). */
  blocks: { count: number; meanGasPct: number | null; maxGasPct: number | null; meanTxs: number | null };
  /** How far the chain's clock (latest block timestamp) was ahead of the wall clock at the window's end. */
  chainClockAheadS: number;
  /** From the workers' own /metrics over the window (summed over the run's workers). */
  workerMetrics: {
    inferenceMsPerJob: number | null;
    inferenceBatchMean: number | null;
    postsPerMulticallMean: number | null;
    txConfirmed: number;
    txReverted: number;
    txFailed: number;
    rpcErrors: number;
  };
}

// ---------------------------------------------------------------------------------------------------------------- main

async function main() {
  await hre.tasks.getTask("build").run({ quiet: true });
  say("starting hardhat node and deploying VeilLocal over HTTP");
  const node: LocalNode = await startLocalNode();
  const onSignal = () => void node.close().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const sampler = new ProcSampler(1000);
  const proxies: CountingProxy[] = [];
  let watcher: Watcher | undefined;
  try {
    const { ethers } = node.connection;
    const { escrow, staking, registry, veil, usdc } = node.contracts;
    const signers = await ethers.getSigners();
    const [admin, , owner] = signers;
    const escrowAddress = (await escrow.getAddress()) as Address;
    const pub = createPublicClient({ chain: hardhat, transport: http(node.rpc) }) as PublicClient;
    const blockGasLimit = (await pub.getBlock()).gasLimit;
    const mining = BLOCK_TIME_MS > 0 ? `interval mining, a block every ${BLOCK_TIME_MS} ms` : "automine (each transaction mined as it arrives)";
    sampler.watch("hardhat node", node.children[0]!.pid!);
    sampler.watch("bench", process.pid);
    sampler.start();

    // Models: A is served by the one-worker run's operator only, B by the three-worker run's, C by the k = 3 run's
    // (fresh workers: the three-worker run leaves its workers a backlog that k = 3 jobs would queue behind).
    const local = await localRuntimeProfile();
    const models = { A: buildMlpModel({ seed: 31 }), B: buildMlpModel({ seed: 32 }), C: buildMlpModel({ seed: 33 }) };
    const modelFiles: Record<string, string> = {};
    for (const [name, m] of Object.entries(models)) {
      await (await registry.connect(owner).registerModel(m.modelId, {
        price: PRICE, royaltyBps: 0, redundancy: 1, comparator: 0, precision: 0, metadataURI: `bench://load/${name}`,
        profile: { opset: readOnnxModelHeader(m.bytes).defaultOpset ?? 17, ortVersion: local.ortVersion, executionProvider: "cpu", graphOptimizationLevel: 3, sequential: true },
        ioSignature: encodeSignature(inspectOnnxModel(m.bytes).signature),
      })).wait();
      modelFiles[name] = path.join(node.dir, `model-${name}.onnx`);
      writeFileSync(modelFiles[name]!, m.bytes);
    }

    // Operators 5 (run one), 6-8 (run three) and 14-16 (run k3): registered and staked as an operator does by hand.
    const workers: Worker[] = [];
    const operatorIndexes = [5, 6, 7, 8, ...(K3_DURATION_S > 0 && !args.soak ? [14, 15, 16] : [])];
    for (const [i, index] of operatorIndexes.entries()) {
      const op = signers[index]!;
      const httpPort = await freePort();
      await (await veil.connect(admin).transfer(op.address, STAKE)).wait();
      await (await veil.connect(op).approve(await staking.getAddress(), STAKE)).wait();
      await (await staking.connect(op).register(`http://127.0.0.1:${httpPort}`, ethers.ZeroHash)).wait();
      await (await staking.connect(op).stake(STAKE)).wait();
      const proxy = await startCountingProxy(node.rpc);
      proxies.push(proxy);
      workers.push({ name: i === 0 ? "worker-1" : i <= 3 ? `worker-${i}of3` : `k3-worker-${i - 3}`, operator: op.address as Address, key: nodeKey(index), httpPort, proxy });
    }
    // Requesters: mock USDC, a deposit in the escrow's FeeLedger (jobs are paid from it).
    const ledger = await ethers.getContractAt("FeeLedger", await escrow.ledger());
    for (const index of REQUESTERS) {
      const r = signers[index]!;
      await (await usdc.mint(r.address, 10n ** 13n)).wait();
      await (await usdc.connect(r).approve(await ledger.getAddress(), ethers.MaxUint256)).wait();
      await (await ledger.connect(r).deposit(10n ** 13n)).wait();
    }
    const submitProxy = await startCountingProxy(node.rpc);
    proxies.push(submitProxy);
    const requesters: Requester[] = await Promise.all(
      REQUESTERS.map(async (index) => {
        const account = privateKeyToAccount(nodeKey(index));
        return { account, nonce: await pub.getTransactionCount({ address: account.address, blockTag: "pending" }), busy: false };
      }),
    );
    const submitter = new Submitter((raw) => fetchRpc(submitProxy.url, "eth_sendRawTransaction", [raw]), requesters, escrowAddress);
    const nonceOf = async (a: Address) => pub.getTransactionCount({ address: a, blockTag: "pending" });

    watcher = new Watcher(pub, escrowAddress, (await pub.getBlockNumber()) + 1n, (h) => submitter.runOfTx.get(h));
    watcher.start();
    const deployment = JSON.parse(readFileSync(node.deploymentFile, "utf8")) as VeilDeployment;
    const nameOfCall = contractCallNamer(deployment.addresses as unknown as Record<string, string>);

    /** `veil node start` with the flags every operator gives, nothing else (defaults for all the rest). */
    const startWorker = async (w: Worker, model: string) => {
      const dir = path.join(node.dir, w.name);
      mkdirSync(dir, { recursive: true });
      // An address book whose startBlock is now (as for an operator who joins today), not the deployment block.
      const book = writeDeployment({ ...deployment, startBlock: Number(await pub.getBlockNumber()) }, path.join(dir, "deployments"));
      const flags = ["--rpc-url", w.proxy.url, "--model", model, "--deployment", book, "--data-dir", path.join(dir, "data"), "--http-port", String(w.httpPort)];
      // VEIL_BENCH_WORKER_NODE_OPTIONS (e.g. --max-old-space-size=256) goes to the workers only: RSS with a bounded heap.
      const nodeOptions = process.env.VEIL_BENCH_WORKER_NODE_OPTIONS;
      w.proc = startWorkerProcess(node, flags, { VEIL_PRIVATE_KEY: w.key, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) }, w.httpPort);
      await w.proc.ready;
      sampler.watch(w.name, w.proc.child.pid!);
      return flags;
    };
    const stopWorker = async (w: Worker) => {
      const p = w.proc!;
      // SIGTERM (the worker's graceful stop), SIGKILL if it has not exited 20 s later.
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((r) => (timer = setTimeout(() => r(void p.child.kill("SIGKILL")), 20_000)));
      await Promise.race([p.stop(), killed]);
      clearTimeout(timer);
      sampler.forget(w.name);
      if (args.logs) {
        mkdirSync(args.logs, { recursive: true });
        writeFileSync(path.join(args.logs, `${w.name}.log`), p.logs());
      }
    };

    /** Gas limit of a batch of n submissions: estimated once for 1 and 10 jobs, with a 30 % margin. */
    const gasModel = async (modelId: Hex, k: number, deadline: number) => {
      const est = async (n: number) =>
        pub.estimateGas({
          account: requesters[0]!.account.address,
          to: escrowAddress,
          data: submitter.calldata({ modelId, k, deadline }, n),
        });
      const [one, ten] = await Promise.all([est(1), est(10)]);
      const perJob = (ten - one) / 9n;
      const base = one - perJob;
      return (n: number) => {
        const g = ((base + perJob * BigInt(n)) * 13n) / 10n + 50_000n;
        return g < blockGasLimit ? g : blockGasLimit;
      };
    };

    const results: RunResult[] = [];
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();

    const measure = async (run: RunName, ws: Worker[], modelId: Hex, k: number, rate: number, warmupS: number, windowS: number, drainS: number): Promise<RunResult> => {
      const deadline = Number((await pub.getBlock()).timestamp) + 7_200;
      const gas = await gasModel(modelId, k, deadline);
      say(`run ${run}: ${ws.length} worker(s), k = ${k}, offering ${rate} jobs/s; ${warmupS} s warm-up, ${windowS} s measured, up to ${drainS} s drain`);
      const started = Date.now();
      let stop = false;
      submitter.maxOwed = 0;
      const sending = submitter.run(run, rate, { modelId, k, deadline, gas }, () => stop, nonceOf);
      await sleep(warmupS * 1000);
      const windowStart = Date.now();
      const blockAtStart = await pub.getBlockNumber();
      const countsBefore = ws.map((w) => w.proxy.counts());
      const contractBefore = ws.map((w) => w.proxy.contractCalls());
      const reqBefore = submitProxy.counts();
      const metricsBefore = await Promise.all(ws.map(scrapeMetrics));
      loopDelay.reset();
      await sleep(windowS * 1000);
      const windowEnd = Date.now();
      const headAtEnd = await pub.getBlock();
      const chainClockAheadS = Number(headAtEnd.timestamp) - windowEnd / 1000;
      const countsAfter = ws.map((w) => w.proxy.counts());
      const contractAfter = ws.map((w) => w.proxy.contractCalls());
      const reqAfter = submitProxy.counts();
      const metricsAfter = await Promise.all(ws.map(scrapeMetrics));
      const eventLoop = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
      stop = true;
      await sending;
      // Drain: the jobs already submitted get up to drainS to be posted.
      const drainEnd = Date.now() + drainS * 1000;
      await sleep(3 * WATCH_MS); // the watcher has seen the last submissions
      const mine = () => [...watcher!.jobs.values()].filter((j) => j.run === run);
      while (Date.now() < drainEnd && mine().some((j) => j.postedAt === undefined && j.refundedAt === undefined)) await sleep(250);
      const endedAt = Date.now();
      const blockCount = Number(headAtEnd.number - blockAtStart);
      let blocks: RunResult["blocks"] = { count: blockCount, meanGasPct: null, maxGasPct: null, meanTxs: null };
      if (blockCount > 0 && blockCount <= 400) {
        const got = [];
        for (let b = blockAtStart + 1n; b <= headAtEnd.number; b += 20n) {
          const to = b + 19n < headAtEnd.number ? b + 19n : headAtEnd.number;
          const nums = Array.from({ length: Number(to - b) + 1 }, (_, i) => b + BigInt(i));
          got.push(...(await Promise.all(nums.map((n) => pub.getBlock({ blockNumber: n })))));
        }
        const pct = got.map((x) => (Number(x.gasUsed) / Number(x.gasLimit)) * 100);
        blocks = { count: blockCount, meanGasPct: pct.reduce((a, b) => a + b, 0) / pct.length, maxGasPct: Math.max(...pct), meanTxs: got.reduce((a, x) => a + x.transactions.length, 0) / got.length };
      }
      const jobs = mine();
      const secs = (windowEnd - windowStart) / 1000;
      const submittedInWindow = jobs.filter((j) => j.submittedAt >= windowStart && j.submittedAt < windowEnd);
      const postedInWindow = jobs.filter((j) => j.postedAt !== undefined && j.postedAt >= windowStart && j.postedAt < windowEnd).length;
      const calls = ws.map((_, i) => diffCounts(countsAfter[i]!, countsBefore[i]!));
      const all = sumCounts(...calls);
      const rpcCalls = totalOf(all);
      const perJob = (n: number) => (postedInWindow > 0 ? n / postedInWindow : null);
      const contractCalls: Record<string, number> = {};
      for (const [key, n] of Object.entries(sumCounts(...ws.map((_, i) => diffCounts(contractAfter[i]!, contractBefore[i]!))))) {
        const name = nameOfCall(key);
        contractCalls[name] = (contractCalls[name] ?? 0) + n;
      }
      const ofPosted = jobs
        .filter((j) => j.postedAt !== undefined && j.postedAt >= windowStart && j.postedAt < windowEnd)
        .map((j) => ({ ms: j.postedAt! - j.submittedAt, lowerBound: false }))
        .sort((a, b) => a.ms - b.ms);
      const lat = submittedInWindow
        .map((j) => (j.postedAt !== undefined ? { ms: j.postedAt - j.submittedAt, lowerBound: false } : { ms: endedAt - j.submittedAt, lowerBound: true }))
        .sort((a, b) => a.ms - b.ms);
      const p50 = percentile(lat, 0.5);
      const p95 = percentile(lat, 0.95);
      const span = Math.min(60_000, (windowEnd - windowStart) / 3);
      const rss = ws.map((w) => {
        const baseline = sampler.meanRssKiB(w.name, windowStart, windowStart + span) ?? NaN;
        const final = sampler.meanRssKiB(w.name, windowEnd - span, windowEnd) ?? NaN;
        return { worker: w.name, baselineMiB: baseline / 1024, finalMiB: final / 1024, growthPct: ((final - baseline) / baseline) * 100, spanS: span / 1000 };
      });
      const cores = (name: string) => {
        const s = sampler.cpuSecondsBetween(name, windowStart, windowEnd);
        return s === undefined ? null : s / secs;
      };
      const cpuCores: Record<string, number | null> = { "hardhat node": cores("hardhat node"), bench: cores("bench") };
      for (const w of ws) cpuCores[w.name] = cores(w.name);
      const machine = sampler.machineBusyBetween(windowStart, windowEnd);
      cpuCores.machine = machine?.busyCores ?? null;
      cpuCores.other = machine ? machine.busyCores - Object.entries(cpuCores).filter(([k]) => k !== "machine").reduce((a, [, v]) => a + (v ?? 0), 0) : null;
      const delta = (name: string) => ws.reduce((a, _, i) => a + ((metricsAfter[i]!.get(name) ?? 0) - (metricsBefore[i]!.get(name) ?? 0)), 0);
      const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
      const workerMetrics = {
        inferenceMsPerJob: ratio(delta("veil_worker_inference_seconds_sum") * 1000, delta("veil_worker_inference_seconds_count")),
        inferenceBatchMean: ratio(delta("veil_worker_batch_size_sum"), delta("veil_worker_batch_size_count")),
        postsPerMulticallMean: ratio(delta("veil_worker_post_batch_size_sum"), delta("veil_worker_post_batch_size_count")),
        txConfirmed: delta('veil_worker_tx_total{outcome="confirmed"}'),
        txReverted: delta('veil_worker_tx_total{outcome="reverted"}'),
        txFailed: delta('veil_worker_tx_total{outcome="failed"}'),
        rpcErrors: delta("veil_worker_rpc_errors_total"),
      };
      const sqliteSecs = ws.map((_, i) => {
        const [a, b] = [sqliteSeconds(metricsBefore[i]!), sqliteSeconds(metricsAfter[i]!)];
        return a !== undefined && b !== undefined ? b - a : undefined;
      });
      const sqliteMsPerJob = sqliteSecs.every((s) => s !== undefined) && postedInWindow > 0 ? (sqliteSecs.reduce((a, b) => a! + b!, 0)! * 1000) / postedInWindow : null;
      const r: RunResult = {
        run,
        workers: ws.length,
        k,
        offeredRate: rate,
        windowS: secs,
        submittedInWindow: submittedInWindow.length,
        postedInWindow,
        jobsPerSecond: postedInWindow / secs,
        backlogAtWindowEnd: jobs.filter((j) => j.submittedAt < windowEnd && (j.postedAt === undefined || j.postedAt >= windowEnd)).length,
        rpcCalls,
        rpcCallsPerJob: perJob(rpcCalls),
        rpcCallsPerSecond: rpcCalls / secs,
        rpcMethods: Object.fromEntries(Object.entries(all).sort((a, b) => b[1] - a[1])),
        rpcMethodsPerJob: postedInWindow > 0 ? Object.fromEntries(Object.entries(all).sort((a, b) => b[1] - a[1]).map(([m, n]) => [m, n / postedInWindow])) : null,
        rpcContractCallsPerJob: Object.fromEntries(Object.entries(contractCalls).sort((a, b) => b[1] - a[1]).map(([m, n]) => [m, postedInWindow > 0 ? n / postedInWindow : n])),
        rpcByWorker: Object.fromEntries(ws.map((w, i) => [w.name, totalOf(calls[i]!)])),
        requesterRpcCalls: totalOf(diffCounts(reqAfter, reqBefore)),
        sqliteMsPerJob,
        latencyMs: {
          p50: p50 ? Math.round(p50.ms) : null,
          p95: p95 ? Math.round(p95.ms) : null,
          lowerBound: !!(p50?.lowerBound || p95?.lowerBound),
          posted: lat.filter((l) => !l.lowerBound).length,
          unposted: lat.filter((l) => l.lowerBound).length,
        },
        latencyOfPostedMs: { p50: ofPosted.length ? Math.round(percentile(ofPosted, 0.5)!.ms) : null, p95: ofPosted.length ? Math.round(percentile(ofPosted, 0.95)!.ms) : null, n: ofPosted.length },
        rss,
        cpuCores,
        benchEventLoopDelayMs: eventLoop,
        requesterMaxOwed: submitter.maxOwed,
        blocks,
        chainClockAheadS,
        workerMetrics,
      };
      say(
        `run ${run}: ${r.jobsPerSecond.toFixed(1)} jobs/s posted (offered ${rate}), ${r.rpcCallsPerJob?.toFixed(2) ?? "-"} RPC calls/job, ` +
          `latency p50 ${r.latencyMs.p50} ms p95 ${r.latencyMs.p95} ms${r.latencyMs.lowerBound ? " (lower bound)" : ""}, backlog ${r.backlogAtWindowEnd}; took ${((endedAt - started) / 1000).toFixed(0)} s`,
      );
      return r;
    };

    // ------------------------------------------------------------ run one: 1 worker, k = 1
    const flagsShown: string[] = [];
    if (BLOCK_TIME_MS > 0) {
      // Setup ran on automine (fast); the runs get blocks at wall-clock pace.
      await pub.request({ method: "evm_setAutomine" as never, params: [false] as never });
      await pub.request({ method: "evm_setIntervalMining" as never, params: [BLOCK_TIME_MS] as never });
    }
    say("starting worker-1 (veil node start, default settings)");
    const w1 = workers[0]!;
    flagsShown.push(...(await startWorker(w1, modelFiles.A!)));
    results.push(await measure("one", [w1], models.A.modelId as Hex, 1, RATE ?? TARGET.one, WARMUP_S, DURATION_S, DRAIN_S));
    const logs1 = logLevels(w1.proc!.logs());

    // ------------------------------------------------------------ runs three and k3: 3 workers
    let logs3: ({ name: string } & ReturnType<typeof logLevels>)[] = [];
    if (!args.soak) {
      say("stopping worker-1; starting three workers");
      const three = workers.slice(1, 4);
      await Promise.all([stopWorker(w1), ...three.map((w) => startWorker(w, modelFiles.B!))]);
      results.push(await measure("three", three, models.B.modelId as Hex, 1, RATE ?? TARGET.three, WARMUP_S, DURATION_S, DRAIN_S));
      logs3 = three.map((w) => ({ name: w.name, ...logLevels(w.proc!.logs()) }));
      if (K3_DURATION_S > 0) {
        const k3 = workers.slice(4);
        say("stopping the three workers; starting three fresh ones for k = 3 jobs of model C");
        await Promise.all([...three.map(stopWorker), ...k3.map((w) => startWorker(w, modelFiles.C!))]);
        results.push(await measure("k3", k3, models.C.modelId as Hex, 3, (RATE ?? TARGET.three) / 3, Math.min(WARMUP_S, 5), K3_DURATION_S, Math.max(DRAIN_S, 15)));
        logs3.push(...k3.map((w) => ({ name: w.name, ...logLevels(w.proc!.logs()) })));
        say("stopping the k = 3 workers");
        await Promise.all(k3.map(stopWorker));
      } else {
        say("stopping the three workers");
        await Promise.all(three.map(stopWorker));
      }
    } else {
      await stopWorker(w1);
    }
    await watcher.stop();
    loopDelay.disable();
    sampler.stop();

    // ------------------------------------------------------------ every job, counted on chain
    say("counting every job on chain (getJob through the escrow's multicall, and the events)");
    const census = await countOnChain(pub, escrowAddress, watcher, submitter);

    // ------------------------------------------------------------ report
    const by = (run: RunName) => results.find((r) => r.run === run);
    const k1 = results.filter((r) => r.k === 1);
    const worst = <T,>(xs: T[], f: (x: T) => number | null) => xs.map(f).reduce<number | null>((a, b) => (b === null ? a : a === null || b > a ? b : a), null);
    const worstLatency = k1.reduce<RunResult | undefined>((a, r) => (!a || (r.latencyMs.p95 ?? Infinity) > (a.latencyMs.p95 ?? Infinity) ? r : a), undefined);
    const rssAll = k1.flatMap((r) => r.rss.map((x) => ({ ...x, run: r.run })));
    const summary = {
      bench: "load",
      chain: `hardhat node over HTTP, ${mining}`,
      worker: `veil node start ${flagsShown.map((f) => (f.includes("/") ? "<path>" : f)).join(" ")} (every other setting at its default)`,
      jobsPerSecond: { one: by("one")?.jobsPerSecond ?? null, three: by("three")?.jobsPerSecond ?? null, k3: by("k3")?.jobsPerSecond ?? null },
      offeredJobsPerSecond: { one: by("one")?.offeredRate ?? null, three: by("three")?.offeredRate ?? null, k3: by("k3")?.offeredRate ?? null },
      targets: { jobsPerSecond: { one: TARGET.one, three: TARGET.three }, rpcCallsPerJob: 2, rssGrowthPct: 10 },
      /** The worse of the k = 1 runs. */
      rpcCallsPerJob: worst(k1, (r) => r.rpcCallsPerJob),
      rpcCallsPerJobByRun: Object.fromEntries(results.map((r) => [r.run, r.rpcCallsPerJob])),
      rpcMethodsPerJob: Object.fromEntries(results.map((r) => [r.run, r.rpcMethodsPerJob])),
      sqliteMsPerJob: worst(k1, (r) => r.sqliteMsPerJob),
      sqliteMetric: results.some((r) => r.sqliteMsPerJob !== null)
        ? "veil_worker_sqlite_seconds(_total|_sum) from /metrics"
        : "null: the worker exports no SQLite timing (expected veil_worker_sqlite_seconds_total, or a histogram veil_worker_sqlite_seconds, on /metrics)",
      /** The k = 1 run with the worse p95. */
      latencyMs: worstLatency ? { ...worstLatency.latencyMs, run: worstLatency.run } : { p50: null, p95: null },
      latencyMsByRun: Object.fromEntries(results.map((r) => [r.run, r.latencyMs])),
      latencyOfPostedMsByRun: Object.fromEntries(results.map((r) => [r.run, r.latencyOfPostedMs])),
      rpcContractCallsPerJob: Object.fromEntries(results.map((r) => [r.run, r.rpcContractCallsPerJob])),
      /** The worst worker of the k = 1 runs. */
      rssGrowthPct: worst(rssAll, (x) => x.growthPct),
      rssByWorker: rssAll,
      cpuCoresByRun: Object.fromEntries(results.map((r) => [r.run, r.cpuCores])),
      runs: results,
      jobs: census,
      requester: { batches: submitter.sentTxs, jobs: submitter.sentJobs, failedBatches: submitter.failedTxs },
      workerLogs: { "worker-1": logs1, ...Object.fromEntries(logs3.map(({ name, ...l }) => [name, l])) },
      watcher: { polls: watcher.polls, errors: watcher.errors, periodMs: WATCH_MS },
      settings: { warmupS: WARMUP_S, durationS: DURATION_S, drainS: DRAIN_S, k3DurationS: K3_DURATION_S, soak: args.soak, blockTimeMs: BLOCK_TIME_MS, blockGasLimit: Number(blockGasLimit), requesters: REQUESTERS.length, maxBatch: MAX_BATCH },
      cpus: (await import("node:os")).cpus().length,
      totalSeconds: Math.round((Date.now() - t0) / 1000),
    };
    printTable(summary, results);
    if (JSON_OUT) process.stdout.write(JSON.stringify(summary, (_k, v) => (typeof v === "bigint" ? v.toString() : typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v)) + "\n");
  } finally {
    await watcher?.stop();
    sampler.stop();
    await Promise.all(proxies.map((p) => p.close().catch(() => undefined)));
    await node.close();
  }
}

/** Names `<method> <to> <selector>` keys as `<method> Contract.function` from the deployment and its ABIs. */
function contractCallNamer(addresses: Record<string, string>) {
  const contractOf = new Map(Object.entries(addresses).map(([key, a]) => [String(a).toLowerCase(), key]));
  const fnOf = new Map<string, string>();
  for (const abi of Object.values(contractAbis)) {
    if (!Array.isArray(abi)) continue;
    for (const item of abi as Abi) if (item.type === "function") fnOf.set(toFunctionSelector(item), item.name);
  }
  return (key: string) => {
    const [method, to, selector] = key.split(" ");
    return `${method} ${contractOf.get(to ?? "") ?? to}.${fnOf.get(selector ?? "") ?? selector}`;
  };
}

/** A JSON-RPC call over plain fetch (the requester's one call a batch); throws the node's error message. */
async function fetchRpc(url: string, method: string, params: unknown[]): Promise<unknown> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

const STATUS_NAMES = ["None", "Assigned", "Revealing", "Proposed", "Disputed", "Finalized", "Refunded"] as const;

/**
 * Every job the requester submitted, by its on-chain status: the escrow's getJob for each, read 200 at a time
 * through the escrow's own multicall in one eth_call (a batch that reverts, e.g. on a recycled record, is split down
 * to single jobs, and a recycled job is classed by its settlement event); then checked against the events.
 */
async function countOnChain(pub: PublicClient, escrow: Address, watcher: Watcher, submitter: Submitter) {
  // Events afresh from the node (not the watcher's view): JobSubmitted of the requester's transactions.
  // The first job the watcher saw (ids carry a tag of their input, so the smallest id is not the first one).
  const first = watcher.jobs.values().next().value?.id as bigint | undefined;
  const head = await pub.getBlockNumber();
  const events = new Map<bigint, { run: RunName | undefined; proposed: boolean; finalized: boolean; refunded: boolean; disputed: boolean }>();
  type Decoded = { eventName: string; args: Record<string, any>; transactionHash: Hex };
  const withJobs = new Set<Hex>();
  // The whole chain (the node is fresh), in ranges small enough for one response (JobSubmitted carries the input).
  const scan = async (from: bigint, to: bigint): Promise<Decoded[]> => {
    try {
      return (await pub.getLogs({ address: escrow, events: watchedEvents, fromBlock: from, toBlock: to })) as unknown as Decoded[];
    } catch (e) {
      if (to === from) throw e;
      const mid = (from + to) / 2n;
      return [...(await scan(from, mid)), ...(await scan(mid + 1n, to))];
    }
  };
  const STEP = 250n;
  for (let b = 0n; b <= head; b += STEP) {
    const logs = await scan(b, b + STEP - 1n < head ? b + STEP - 1n : head);
    for (const l of logs) {
      const id = l.args.jobId as bigint;
      if (l.eventName === "JobSubmitted") {
        withJobs.add(l.transactionHash);
        const run = submitter.runOfTx.get(l.transactionHash);
        if (run) events.set(id, { run, proposed: false, finalized: false, refunded: false, disputed: false });
        continue;
      }
      const e = events.get(id);
      if (!e) continue;
      if (l.eventName === "ResultProposed") e.proposed = true;
      if (l.eventName === "JobFinalized") e.finalized = true;
      if (l.eventName === "JobRefunded") e.refunded = true;
      if (l.eventName === "JobDisputed") e.disputed = true;
    }
  }
  const ids = [...events.keys()];
  // Batches sent whose jobs never appeared: reverted when mined (interval mining accepts a transaction before it
  // runs), or never mined. The first reverted one is replayed at its block's parent for a reason (approximate:
  // the transactions before it in its block are not replayed).
  const lost = submitter.batches.filter((b) => !withJobs.has(b.hash));
  let reverted = 0;
  let revertedJobs = 0;
  const revertedByRun: Record<string, number> = {};
  let unmined = 0;
  let revertReason: string | undefined;
  for (const b of lost) {
    const receipt = await pub.getTransactionReceipt({ hash: b.hash }).catch(() => undefined);
    if (!receipt) {
      unmined++;
      continue;
    }
    reverted++;
    revertedJobs += b.jobs;
    revertedByRun[b.run] = (revertedByRun[b.run] ?? 0) + 1;
    if (revertReason === undefined) {
      revertReason = await pub
        .call({ account: b.from, to: escrow, data: b.data, blockNumber: receipt.blockNumber - 1n })
        .then(() => "(the replay at the parent block succeeds: it reverted on the state the block's earlier transactions left)")
        .catch((e: { shortMessage?: string; message?: string }) => (e.shortMessage ?? e.message ?? String(e)).split("\n")[0]!);
    }
  }
  const status = new Map<bigint, string>();
  const read = async (chunk: bigint[]): Promise<void> => {
    if (chunk.length === 0) return;
    const data = encodeFunctionData({ abi: jobEscrowAbi, functionName: "multicall", args: [chunk.map((id) => encodeFunctionData({ abi: jobEscrowAbi, functionName: "getJob", args: [id] }))] });
    try {
      const { data: out } = await pub.call({ to: escrow, data });
      const results = decodeFunctionResult({ abi: jobEscrowAbi, functionName: "multicall", data: out! }) as readonly Hex[];
      results.forEach((r, i) => {
        const v = decodeFunctionResult({ abi: jobEscrowAbi, functionName: "getJob", data: r }) as { status: number };
        status.set(chunk[i]!, STATUS_NAMES[Number(v.status)] ?? `status ${v.status}`);
      });
    } catch {
      if (chunk.length === 1) {
        const e = events.get(chunk[0]!)!;
        status.set(chunk[0]!, e.finalized ? "Finalized" : e.refunded ? "Refunded" : "unreadable");
        return;
      }
      const half = Math.ceil(chunk.length / 2);
      await read(chunk.slice(0, half));
      await read(chunk.slice(half));
    }
  };
  for (let i = 0; i < ids.length; i += 200) await read(ids.slice(i, i + 200));

  const tally = (filter: (id: bigint) => boolean) => {
    const t = { submitted: 0, posted: 0, finalized: 0, refunded: 0, disputed: 0, stuck: 0, other: 0 };
    for (const id of ids) {
      if (!filter(id)) continue;
      t.submitted++;
      const s = status.get(id);
      if (s === "Proposed") t.posted++;
      else if (s === "Finalized") t.finalized++;
      else if (s === "Refunded") t.refunded++;
      else if (s === "Disputed") t.disputed++;
      else if (s === "Assigned" || s === "Revealing") t.stuck++;
      else t.other++;
    }
    return t;
  };
  // Events and statuses must tell the same story: a Proposed/Finalized job has its ResultProposed event, a stuck one none.
  let mismatches = 0;
  for (const id of ids) {
    const s = status.get(id);
    const e = events.get(id)!;
    if (
      (s === "Proposed" && !e.proposed) ||
      ((s === "Assigned" || s === "Revealing") && (e.proposed || e.refunded || e.finalized)) ||
      (s === "Finalized" && !e.finalized) ||
      (s === "Refunded" && !e.refunded) ||
      (s === "Disputed" && !e.disputed)
    ) mismatches++;
  }
  const runs: RunName[] = ["one", "three", "k3"];
  return {
    ...tally(() => true),
    byRun: Object.fromEntries(runs.map((r) => [r, tally((id) => events.get(id)!.run === r)]).filter(([, t]) => (t as { submitted: number }).submitted > 0)),
    eventStatusMismatches: mismatches,
    requesterJobsSent: submitter.sentJobs,
    requesterBatchesReverted: { batches: reverted, jobs: revertedJobs, byRun: revertedByRun, firstReason: revertReason },
    requesterBatchesNeverMined: unmined,
    firstJobId: first === undefined ? undefined : `0x${first.toString(16).padStart(32, "0")}`,
    note: "posted = Proposed, waiting out its 1 h challenge window (nothing can finalize within a run); stuck = Assigned/Revealing, never posted by the end",
  };
}

// ---------------------------------------------------------------------------------------------------------------- table

function printTable(s: any, results: RunResult[]) {
  const f = (v: number | null | undefined, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? "-" : v.toFixed(d));
  const line = (label: string, cells: string[]) => console.log(`  ${label.padEnd(34)}${cells.map((c) => c.padStart(17)).join("")}`);
  console.log(`\nVeil worker load benchmark: ${s.chain}; ${s.cpus} CPU cores`);
  console.log(`  worker: ${s.worker}`);
  console.log(`  each run: ${s.settings.warmupS} s warm-up, then the measured window; figures are from the window\n`);
  line("", results.map((r) => `${r.run} (${r.workers}w, k=${r.k})`));
  line("offered jobs/s", results.map((r) => f(r.offeredRate)));
  line("posted jobs/s", results.map((r) => f(r.jobsPerSecond)));
  line("submitted / posted in window", results.map((r) => `${r.submittedInWindow}/${r.postedInWindow}`));
  line("backlog at window end (jobs)", results.map((r) => String(r.backlogAtWindowEnd)));
  line("RPC calls per job (workers)", results.map((r) => f(r.rpcCallsPerJob, 2)));
  line("RPC calls/s (workers)", results.map((r) => f(r.rpcCallsPerSecond, 0)));
  line("SQLite ms per job", results.map((r) => f(r.sqliteMsPerJob, 2)));
  line("latency p50 ms (submit→posted)", results.map((r) => `${r.latencyMs.lowerBound ? ">=" : ""}${f(r.latencyMs.p50, 0)}`));
  line("latency p95 ms", results.map((r) => `${r.latencyMs.lowerBound ? ">=" : ""}${f(r.latencyMs.p95, 0)}`));
  line("  of jobs posted in window: p50", results.map((r) => f(r.latencyOfPostedMs.p50, 0)));
  line("  of jobs posted in window: p95", results.map((r) => f(r.latencyOfPostedMs.p95, 0)));
  line("worker RSS growth % (worst)", results.map((r) => f(Math.max(...r.rss.map((x) => x.growthPct)), 1)));
  line("worker RSS MiB (end, worst)", results.map((r) => f(Math.max(...r.rss.map((x) => x.finalMiB)), 0)));
  for (const name of ["hardhat node", "bench", "machine", "other"]) line(`CPU cores: ${name}`, results.map((r) => f(r.cpuCores[name], 2)));
  line("CPU cores: workers (sum)", results.map((r) => f(Object.entries(r.cpuCores).filter(([k]) => k.includes("worker")).reduce((a, [, v]) => a + (v ?? 0), 0), 2)));
  line("bench event-loop delay p99 ms", results.map((r) => f(r.benchEventLoopDelayMs.p99, 0)));
  line("worker: inference ms per job", results.map((r) => f(r.workerMetrics.inferenceMsPerJob, 2)));
  line("worker: posts per multicall (mean)", results.map((r) => f(r.workerMetrics.postsPerMulticallMean, 1)));
  line("worker: txs confirmed / reverted", results.map((r) => `${r.workerMetrics.txConfirmed} / ${r.workerMetrics.txReverted}`));
  line("blocks in window", results.map((r) => String(r.blocks.count)));
  line("block gas used % (mean / max)", results.map((r) => `${f(r.blocks.meanGasPct, 0)} / ${f(r.blocks.maxGasPct, 0)}`));
  line("chain clock ahead of wall (s)", results.map((r) => f(r.chainClockAheadS, 0)));
  console.log("\n  RPC calls per posted job, by method (- : nothing posted in the window; raw counts are in the JSON):");
  const methods = [...new Set(results.flatMap((r) => Object.keys(r.rpcMethods)))];
  for (const m of methods) line(`    ${m}`, results.map((r) => f(r.rpcMethodsPerJob?.[m] ?? (r.rpcMethodsPerJob ? 0 : null), 2)));
  console.log("  of which eth_call / eth_estimateGas, by contract function:");
  const fns = [...new Set(results.flatMap((r) => Object.keys(r.rpcContractCallsPerJob)))];
  for (const m of fns) line(`    ${m.replace(/^eth_/, "")}`.slice(0, 34), results.map((r) => (r.postedInWindow > 0 ? f(r.rpcContractCallsPerJob[m] ?? 0, 2) : "-")));
  const j = s.jobs;
  console.log(`\n  every job on chain afterwards: ${j.submitted} submitted: ${j.posted} posted (Proposed), ${j.finalized} finalized, ${j.refunded} refunded, ${j.disputed} disputed, ${j.stuck} stuck (never posted), ${j.other} other; ${j.eventStatusMismatches} event/status mismatches`);
  for (const [run, t] of Object.entries(j.byRun as Record<string, any>)) console.log(`    ${run.padEnd(6)} ${t.submitted} submitted, ${t.posted} posted, ${t.refunded} refunded, ${t.stuck} stuck`);
  if (j.requesterBatchesReverted.batches || j.requesterBatchesNeverMined) {
    console.log(`  requester: ${j.requesterBatchesReverted.batches} batches (${j.requesterBatchesReverted.jobs} jobs; by run ${JSON.stringify(j.requesterBatchesReverted.byRun)}) reverted when mined${j.requesterBatchesReverted.firstReason ? ` (${j.requesterBatchesReverted.firstReason})` : ""}, ${j.requesterBatchesNeverMined} never mined`);
  }
  if (s.requester.failedBatches.length) console.log(`  requester: ${s.requester.failedBatches.length} batches failed, e.g. ${s.requester.failedBatches[0].error}`);
  for (const [w, l] of Object.entries(s.workerLogs as Record<string, { warn: number; error: number; top: string[] }>)) {
    if (l.warn || l.error) console.log(`  ${w} log: ${l.warn} warnings, ${l.error} errors; ${l.top.join("; ")}`);
  }
  for (const r of results) {
    if (r.backlogAtWindowEnd > r.offeredRate * 5) {
      console.log(`  ${r.run}: the workers fell behind the offered rate (backlog ${r.backlogAtWindowEnd} jobs at the window's end): jobs/s is their ceiling, latency a lower bound, RSS includes the backlog`);
    }
  }
  console.log(
    `\n  targets: >= ${s.targets.jobsPerSecond.one} jobs/s one worker, >= ${s.targets.jobsPerSecond.three} three; <= ${s.targets.rpcCallsPerJob} RPC calls/job; RSS growth < ${s.targets.rssGrowthPct} % over 10 min (--soak)`,
  );
  console.log(`  total ${s.totalSeconds} s\n`);
}

main().catch((e) => {
  process.stderr.write(`bench:load error: ${e?.stack ?? e}\n`);
  process.exitCode = 1;
});
