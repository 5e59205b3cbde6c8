/**
 * Prometheus metrics for one worker, on a private prom-client Registry (never the global one, so two workers or
 * two tests in one process never share or double-register series).
 *
 * Precision note on `veil_worker_earnings_total{token}`: Prometheus samples are float64. Earnings are accumulated
 * here exactly as bigint base units and converted once per scrape, so the exposed value is exact up to 2^53 base
 * units (9.0e15: 9 billion units of a 6-decimal token, 0.009 of an 18-decimal token) and carries ~1e-16 relative
 * error beyond that — fine for dashboards and alerts; the chain is the source of truth for accounting.
 * `earnings(token)` returns the exact bigint.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface WorkerMetricsOptions {
  /** Job states to pre-initialise at 0 so every `{state}` series exists from the first scrape. */
  jobStates?: readonly string[];
  /** Called at scrape time to fill `veil_worker_jobs_in_state` (e.g. `() => store.countByState()`). */
  jobsInState?: () => Partial<Record<string, number>>;
  /** Called at scrape time for `veil_worker_sqlite_seconds_total` (e.g. `() => store.writeMs / 1000`). */
  sqliteSeconds?: () => number;
  /** Called at scrape time for `veil_worker_queue_depth{lane}`: jobs waiting for a slot in each scheduling lane. */
  queueDepth?: () => Partial<Record<string, number>>;
  /**
   * Called at scrape time for `veil_worker_job_state_age_seconds{state}`: per active local state, seconds since the
   * oldest job in it entered it (e.g. `() => store.oldestByState(chainId)`). A stuck job shows as a growing age long
   * before its deadline.
   */
  stateAges?: () => Partial<Record<string, number>>;
  /**
   * Called at scrape time for `veil_worker_rpc_requests_total{method}` and `veil_worker_rpc_calls_per_job`: JSON-RPC
   * requests sent so far, per method, each attempt counted (main.ts counts them in its transport's `onRequest`).
   */
  rpcRequests?: () => Partial<Record<string, number>>;
  /** Labels added to every series (e.g. `{ operator: "0x…", chain_id: "8453" }`). */
  defaultLabels?: Record<string, string>;
  /** Also export process/Node.js metrics (CPU, memory, event loop lag) with the `veil_worker_` prefix. */
  processMetrics?: boolean;
  inferenceBuckets?: number[];
  batchBuckets?: number[];
}

export interface WorkerMetrics {
  readonly registry: Registry;
  /** Transitions into each local job state (incremented by the processor on each committed transition). */
  readonly jobsTotal: Counter<"state">;
  /** Current number of jobs per local state (computed at scrape time from `jobsInState`). */
  readonly jobsInState: Gauge<"state">;
  readonly inferenceSeconds: Histogram<"model">;
  /** Use `recordEarnings`: the series is derived from an exact bigint accumulator at scrape time. */
  readonly earningsTotal: Counter<"token">;
  readonly rpcErrorsTotal: Counter<"method" | "kind">;
  readonly txTotal: Counter<"kind" | "outcome">;
  readonly chainHeadBlock: Gauge;
  readonly batchSize: Histogram;
  readonly postBatchSize: Histogram;
  /** Jobs settled per `finalizeMany` transaction (the worker's batched finalization). */
  readonly finalizeBatchSize: Histogram;
  readonly httpRequestsTotal: Counter<"route" | "status">;
  readonly queueDepth: Gauge<"lane">;
  readonly jobStateAge: Gauge<"state">;
  readonly rpcRequestsTotal: Counter<"method">;
  /** RPC requests over jobs taken (transitions into `assigned`): the steady-state figure bench/load.ts reports. */
  readonly rpcCallsPerJob: Gauge;
  /** Adds `amount` base units of `token` (address or symbol) to the exact accumulator. */
  recordEarnings(token: string, amount: bigint): void;
  /** The exact accumulated earnings for `token`. */
  earnings(token: string): bigint;
  setChainHead(block: bigint | number): void;
  /** Prometheus text exposition of this registry. */
  render(): Promise<string>;
  readonly contentType: string;
}

export const DEFAULT_INFERENCE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
export const DEFAULT_BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

export function createMetrics(options: WorkerMetricsOptions = {}): WorkerMetrics {
  const registry = new Registry();
  if (options.defaultLabels) registry.setDefaultLabels(options.defaultLabels);
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: "veil_worker_" });

  const jobStates = options.jobStates ?? [];
  const exactEarnings = new Map<string, bigint>();

  const jobsTotal = new Counter({
    name: "veil_worker_jobs_total",
    help: "Job transitions into each local state",
    labelNames: ["state"] as const,
    registers: [registry],
  });
  for (const state of jobStates) jobsTotal.inc({ state }, 0);

  const sqliteSource = options.sqliteSeconds;
  new Counter({
    name: "veil_worker_sqlite_seconds_total",
    help: "Seconds spent in committed SQLite write transactions (statements, commit and fsync), blocking the event loop",
    registers: [registry],
    collect() {
      if (!sqliteSource) return;
      this.reset();
      this.inc(sqliteSource());
    },
  });
  const jobsInStateSource = options.jobsInState;
  const jobsInState = new Gauge({
    name: "veil_worker_jobs_in_state",
    help: "Jobs currently in each local state",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      if (!jobsInStateSource) return;
      const counts = jobsInStateSource();
      this.reset();
      for (const state of jobStates) this.set({ state }, 0);
      for (const [state, n] of Object.entries(counts)) if (n !== undefined) this.set({ state }, n);
    },
  });
  for (const state of jobStates) jobsInState.set({ state }, 0);

  const inferenceSeconds = new Histogram({
    name: "veil_worker_inference_seconds",
    help: "Wall-clock time of one inference (per job, batched jobs share a batch's time)",
    labelNames: ["model"] as const,
    buckets: options.inferenceBuckets ?? DEFAULT_INFERENCE_BUCKETS,
    registers: [registry],
  });

  const earningsTotal = new Counter({
    name: "veil_worker_earnings_total",
    help: "Fees earned, in the token's base units (float64: exact up to 2^53 units)",
    labelNames: ["token"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [token, amount] of exactEarnings) this.inc({ token }, Number(amount));
    },
  });

  const rpcErrorsTotal = new Counter({
    name: "veil_worker_rpc_errors_total",
    help: "RPC errors by JSON-RPC method and classification (transient, rate_limited, revert, nonce, ...)",
    labelNames: ["method", "kind"] as const,
    registers: [registry],
  });

  const txTotal = new Counter({
    name: "veil_worker_tx_total",
    help: "Transactions by kind (commit, reveal, ...) and outcome (sent, confirmed, reverted, replaced, failed)",
    labelNames: ["kind", "outcome"] as const,
    registers: [registry],
  });

  const chainHeadBlock = new Gauge({
    name: "veil_worker_chain_head_block",
    help: "Latest chain head block number seen by the worker",
    registers: [registry],
  });

  const batchSize = new Histogram({
    name: "veil_worker_batch_size",
    help: "Number of jobs per inference batch",
    buckets: options.batchBuckets ?? DEFAULT_BATCH_BUCKETS,
    registers: [registry],
  });

  const postBatchSize = new Histogram({
    name: "veil_worker_post_batch_size",
    help: "Escrow posts (results, commits, reveals) per multicall transaction",
    buckets: [2, 4, 8, 16, 32],
    registers: [registry],
  });

  const finalizeBatchSize = new Histogram({
    name: "veil_worker_finalize_batch_size",
    help: "Own jobs settled per escrow finalizeMany transaction",
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [registry],
  });

  const httpRequestsTotal = new Counter({
    name: "veil_worker_http_requests_total",
    help: "HTTP requests served by the worker endpoint",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  });

  const queueSource = options.queueDepth;
  const queueDepth = new Gauge({
    name: "veil_worker_queue_depth",
    help: "Jobs waiting for a slot in each scheduling lane (infer, post, fetch, watch)",
    labelNames: ["lane"] as const,
    registers: [registry],
    collect() {
      if (!queueSource) return;
      this.reset();
      for (const [lane, n] of Object.entries(queueSource())) if (n !== undefined) this.set({ lane }, n);
    },
  });

  const ageSource = options.stateAges;
  const jobStateAge = new Gauge({
    name: "veil_worker_job_state_age_seconds",
    help: "Per active local state: seconds since the oldest job in it entered it (0 when none is in it)",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      if (!ageSource) return;
      this.reset();
      for (const [state, s] of Object.entries(ageSource())) if (s !== undefined) this.set({ state }, s);
    },
  });

  const rpcSource = options.rpcRequests;
  const rpcTotal = (): number => Object.values(rpcSource?.() ?? {}).reduce<number>((a, b) => a + (b ?? 0), 0);
  const rpcRequestsTotal = new Counter({
    name: "veil_worker_rpc_requests_total",
    help: "JSON-RPC requests sent, per method (every attempt of a retried request counts)",
    labelNames: ["method"] as const,
    registers: [registry],
    collect() {
      if (!rpcSource) return;
      this.reset();
      for (const [method, n] of Object.entries(rpcSource())) if (n) this.inc({ method }, n);
    },
  });
  const rpcCallsPerJob = new Gauge({
    name: "veil_worker_rpc_calls_per_job",
    help: "JSON-RPC requests sent over jobs taken since start (every request of the process, idle polling included)",
    registers: [registry],
    async collect() {
      if (!rpcSource) return;
      const taken = (await jobsTotal.get()).values.find((v) => v.labels.state === "assigned")?.value ?? 0;
      this.set(taken > 0 ? rpcTotal() / taken : 0);
    },
  });

  return {
    registry,
    jobsTotal,
    jobsInState,
    inferenceSeconds,
    earningsTotal,
    rpcErrorsTotal,
    txTotal,
    chainHeadBlock,
    batchSize,
    postBatchSize,
    finalizeBatchSize,
    httpRequestsTotal,
    queueDepth,
    jobStateAge,
    rpcRequestsTotal,
    rpcCallsPerJob,
    recordEarnings(token: string, amount: bigint): void {
      if (typeof amount !== "bigint" || amount < 0n) throw new RangeError("earnings must be a non-negative bigint");
      exactEarnings.set(token, (exactEarnings.get(token) ?? 0n) + amount);
    },
    earnings(token: string): bigint {
      return exactEarnings.get(token) ?? 0n;
    },
    setChainHead(block: bigint | number): void {
      chainHeadBlock.set(Number(block));
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
