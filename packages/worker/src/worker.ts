/**
 * The Veil inference worker: follows the escrow's events, takes the jobs assigned to its operator, runs the model
 * with ONNX Runtime, and commits/reveals (or, at k = 1, posts) the result hash; results are served over HTTP.
 *
 * The work is done by tasks with one lifecycle (tasks/task.ts: setup, run, stop, cleanup), sharing one context
 * (tasks/context.ts) and one job scheduler (tasks/scheduler.ts):
 *   listener   follows the escrow's logs (cursor, confirmations, reorgs), applies them to the job records, and wakes
 *              the jobs they give a step (tasks/listener.ts);
 *   processor  fetches inputs and runs inference (tasks/processor.ts);
 *   poster     commits, reveals, results and declines, batched into escrow multicalls (tasks/poster.ts);
 *   settler    batched finalizeMany after challenge windows, with the settlement rota (tasks/settler.ts);
 *   validator  validator mode's disputes, votes and spot checks (tasks/validator.ts, validator.ts).
 * This class is the facade: it loads and checks the models, wires the tasks up, and answers /health.
 *
 * Crash safety: every job is a persisted state machine (store.ts) and every transaction intent is persisted with
 * its signed bytes before broadcast (chain/sender.ts). After a restart the worker first settles persisted intents
 * against the chain, then re-reads each active job's on-chain state before doing anything, so a commit or reveal
 * that already landed is never sent twice and an interrupted job resumes where it stopped.
 */
import { encodeSignature, inspectOnnxModel, sha256Hex, type Comparator } from "@veil/sdk";
import { readFile } from "node:fs/promises";
import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import { modelRegistryAbi, nodeStakingAbi } from "@veil/contracts";
import type { InferenceEngine } from "./inference/engine.js";
import { GRAPH_OPTIMIZATION_LEVELS, type RuntimeProfile } from "./inference/profile.js";
import type { Logger } from "./internal/log.js";
import type { WorkerMetrics } from "./internal/metrics.js";
import { TxSender } from "./chain/sender.js";
import { PostBatcher } from "./chain/batcher.js";
import type { JobRecord, WorkerStore } from "./store.js";
import type { PrivateCodec } from "./private.js";
import { DisputeValidator, isValidatorRecord } from "./validator.js";
import { definedOnly } from "./internal/util.js";
import { DEFAULT_MAX_BLOB_BYTES, InputResolver, type BlobInbox } from "./blobs.js";
import { CURSOR_STREAM, RECYCLED, WorkerContext, type ResolvedOptions } from "./tasks/context.js";
import { ChainListener, JobView } from "./tasks/listener.js";
import { Poster } from "./tasks/poster.js";
import { Processor } from "./tasks/processor.js";
import { Scheduler } from "./tasks/scheduler.js";
import { Settler } from "./tasks/settler.js";
import { TaskRunner, type WorkerTask } from "./tasks/task.js";
import { ValidatorTask } from "./tasks/validator.js";

export { JobStatus } from "./tasks/context.js";
export { settleRank } from "./tasks/settler.js";

export interface VeilWorkerAddresses {
  jobEscrow: Address;
  nodeStaking: Address;
  modelRegistry: Address;
  /** Required in validator mode. */
  disputeManager?: Address;
}

export interface WorkerModel {
  /** The ONNX file; its sha256 must be a registered model id. */
  path?: string;
  bytes?: Uint8Array;
  /** The model id the operator means to serve: start-up fails unless the file's sha256 is exactly this id. */
  modelId?: Hex;
  /** Micro-batch this model's jobs (only for models whose outputs are batch-exact). */
  batching?: boolean;
}

export interface VeilWorkerOptions {
  publicClient: PublicClient<Transport, Chain | undefined>;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  addresses: VeilWorkerAddresses;
  store: WorkerStore;
  engine: InferenceEngine;
  logger: Logger;
  metrics?: WorkerMetrics;
  models: WorkerModel[];
  /** Blocks an event must be buried under before the worker acts on it (reorg safety). */
  confirmations?: number;
  /**
   * Blocks (its own included) under the worker's own receipts before a post counts as done and its intent as
   * confirmed. Default 1; the daemon passes `--confirmations`, so that its own posts are trusted no sooner than
   * others' events (a chain that only mines on demand, as tests use, would never deepen them).
   */
  receiptConfirmations?: number;
  pollIntervalMs?: number;
  /** First block to scan when the store has no cursor (default: the current head minus 1,000). */
  startBlock?: bigint;
  maxLogRange?: bigint;
  /**
   * Jobs in inference at once (default 8). Jobs that only wait (for a challenge window, the reveal phase, an input
   * blob) hold no slot; posts and blob fetches have lanes of their own (see tasks/scheduler.ts).
   */
  maxConcurrency?: number;
  /** A job that waits this long for an inference or post slot is logged (once) and reported by /health (default 60 s). */
  slotWaitWarnMs?: number;
  gasBumpPercent?: number;
  txTimeoutMs?: number;
  /**
   * Settle own jobs whose challenge window has passed (gets operators paid sooner): one escrow `finalizeMany` per
   * tick for all of them, at most `maxFinalizeBatch` jobs a transaction.
   */
  autoFinalize?: boolean;
  /** Adversarial testing only: alter outputs before hashing (a dishonest operator). */
  tamperOutputs?: boolean;
  /** Fetches inputs given by a URI other than `sha256:<hex>` (default: global fetch). */
  fetchInput?: (uri: string) => Promise<Uint8Array>;
  /** Largest input blob fetched from another operator (default 64 MiB). */
  maxBlobBytes?: number;
  /** Uploaded blobs (the HTTP endpoint's PUT /blobs): unclaimed ones are garbage-collected every minute. */
  uploads?: BlobInbox;
  /** Opens private (encrypted) inputs (private.ts); without it, private jobs are never committed. */
  privacy?: PrivateCodec;
  /** Validator mode (validator.ts): drive disputes of served models, vote when drawn, claim rewards. */
  validator?: boolean;
  /** Validator mode: share of others' proposed jobs to re-run and challenge when wrong (default 0). */
  spotCheckRate?: number;
  /**
   * A job whose input blob or private key has not arrived is declined (no penalty) once its commit window ends
   * within this many seconds (default 60). A private key that arrives but does not open is declined at once.
   */
  declineMarginSeconds?: number;
  /**
   * Results, commits and reveals ready within `postBatchWindowMs` (default 25) of each other go out in one escrow
   * `multicall`, at most this many (default 20; 1 sends each on its own). Saves ~19k gas per post after the first.
   */
  maxPostBatch?: number;
  postBatchWindowMs?: number;
  /**
   * Jobs per `finalizeMany` (default 50; 1 sends one transaction per job). Settling in a batch costs ~25-35k gas a
   * job against ~90k for `finalize` alone (snapshots/gas.md).
   */
  maxFinalizeBatch?: number;
  /**
   * Settlement rota for k > 1 jobs (default 15 s). Every operator of a job could settle it, and workers that all
   * send `finalizeMany` for the same jobs in the same block waste all but one transaction (measured: 34 of 58
   * batches settled nothing). The job's slot `jobId mod k` settles it as soon as its challenge window has passed;
   * the operator `r` slots after it in the rota settles it only if it is still unsettled `r x settleBackupDelayMs`
   * (wall clock) after this worker first saw it due, so a vanished settler delays pay by seconds, not forever.
   */
  settleBackupDelayMs?: number;
}


/** /health is unhealthy (503) while a job's step is not posted this close to the end of its window. */
const AT_RISK_SECONDS = 30;
/** States whose step is still to be posted in the job's current window. */
const UNPOSTED: ReadonlySet<string> = new Set(["assigned", "input_ready", "inferred", "commit_pending", "reveal_pending"]);

export class VeilWorker {
  readonly address: Address;
  readonly chainId: number;
  private readonly o: ResolvedOptions;
  private readonly ctx: WorkerContext;
  private readonly sender: TxSender;
  private readonly listener: ChainListener;
  private readonly processor: Processor;
  private readonly poster: Poster;
  private readonly settler: Settler;
  private readonly scheduler: Scheduler;
  private readonly validatorTask: ValidatorTask | undefined;
  private readonly runner: TaskRunner;
  private resultBlobsLoaded = false;
  /** Aborts the sender's waits once every task has stopped. */
  private readonly abort = new AbortController();
  private running = false;
  private prepared: Promise<void> | undefined;

  constructor(chainId: number, options: VeilWorkerOptions) {
    this.o = {
      confirmations: 0,
      receiptConfirmations: 1,
      pollIntervalMs: 500,
      maxLogRange: 2_000n,
      maxConcurrency: 8,
      gasBumpPercent: 20,
      txTimeoutMs: 30_000,
      autoFinalize: true,
      tamperOutputs: false,
      validator: false,
      spotCheckRate: 0,
      declineMarginSeconds: 60,
      maxPostBatch: 20,
      postBatchWindowMs: 25,
      maxFinalizeBatch: 50,
      settleBackupDelayMs: 15_000,
      slotWaitWarnMs: 60_000,
      maxBlobBytes: DEFAULT_MAX_BLOB_BYTES,
      ...definedOnly(options),
    } as ResolvedOptions;
    if (!Number.isInteger(this.o.maxConcurrency) || this.o.maxConcurrency < 1) {
      throw new RangeError(`maxConcurrency must be a positive integer, got ${this.o.maxConcurrency}`);
    }
    if (!Number.isInteger(this.o.maxFinalizeBatch) || this.o.maxFinalizeBatch < 1) {
      throw new RangeError(`maxFinalizeBatch must be a positive integer, got ${this.o.maxFinalizeBatch}`);
    }
    this.chainId = chainId;
    this.address = options.walletClient.account.address;
    const inputs = new InputResolver({
      store: options.store,
      publicClient: options.publicClient,
      nodeStaking: options.addresses.nodeStaking,
      self: this.address,
      fetchUri: options.fetchInput,
      maxBlobBytes: this.o.maxBlobBytes,
    });
    this.sender = new TxSender({
      publicClient: options.publicClient,
      walletClient: options.walletClient,
      store: options.store,
      chainId,
      logger: options.logger,
      metrics: options.metrics,
      bumpPercent: this.o.gasBumpPercent,
      txTimeoutMs: this.o.txTimeoutMs,
      confirmations: this.o.receiptConfirmations,
      signal: this.abort.signal,
    });
    const posts = new PostBatcher(this.sender, {
      escrow: options.addresses.jobEscrow,
      maxBatch: this.o.maxPostBatch,
      windowMs: this.o.postBatchWindowMs,
      onBatch: (n) => this.o.metrics?.postBatchSize.observe(n),
    });
    const ctx = (this.ctx = new WorkerContext(chainId, this.address, this.o, this.sender, posts, inputs));
    const view = new JobView(ctx);
    this.poster = new Poster(ctx);
    this.processor = new Processor(ctx, this.poster);
    this.settler = new Settler(ctx);
    this.scheduler = new Scheduler(ctx, view, this.processor, this.poster, this.settler);
    this.listener = new ChainListener(ctx, view, this.scheduler);
    const tasks: WorkerTask[] = [this.listener, this.processor, this.poster, this.settler];
    if (this.o.validator) {
      const disputeManager = options.addresses.disputeManager;
      if (!disputeManager) throw new Error("validator mode needs the DisputeManager address");
      const validator = new DisputeValidator({
        publicClient: options.publicClient,
        sender: this.sender,
        store: options.store,
        engine: options.engine,
        logger: options.logger.child({ component: "validator" }),
        chainId,
        addresses: { jobEscrow: options.addresses.jobEscrow, disputeManager },
        model: (modelId) => ctx.models.get(modelId.toLowerCase() as Hex),
        spotCheckRate: this.o.spotCheckRate,
        confirmations: this.o.confirmations,
        startBlock: options.startBlock,
        maxLogRange: this.o.maxLogRange,
        fetchInput: options.fetchInput,
        resolveInput: async (uri, jobId) => {
          const job = await ctx.chainJob(jobId);
          return inputs.fetch(uri, job === RECYCLED ? [] : job.operators);
        },
        privacy: options.privacy,
        signal: this.abort.signal,
      });
      this.validatorTask = new ValidatorTask(ctx, validator);
      tasks.push(this.validatorTask);
    }
    this.runner = new TaskRunner(tasks, options.logger.child({ component: "tasks" }));
  }

  get log(): Logger {
    return this.o.logger;
  }

  /** getJob reads saved by the job view, and made (for metrics, bench and tests). */
  get reads(): { fromView: number; fromChain: number } {
    return this.ctx.reads;
  }

  /** Reorgs seen (depth in blocks of each), for /health and tests. */
  get reorgs(): ReadonlyArray<{ at: number; forkBlock: bigint; depth: number }> {
    return this.listener.reorgs;
  }

  /** The dispute validator (validator mode only). */
  private get validator(): DisputeValidator | undefined {
    return this.validatorTask?.validator;
  }

  /**
   * Verifies and loads every model without sending anything: each file must hash to the id it was given (if any)
   * and that id must be registered, with a runtime profile this engine reproduces. Idempotent; `start()` calls it.
   */
  prepare(): Promise<void> {
    this.prepared ??= (async () => {
      for (const m of this.o.models) await this.loadModel(m);
    })();
    return this.prepared;
  }

  /**
   * Loads the models (`prepare`), settles crashed transactions, joins the models' pools, then sets the tasks up and
   * runs them until `stop()`.
   */
  async start(): Promise<void> {
    await this.prepare();
    const settled = await this.sender.reconcile();
    if (settled) this.log.info("reconciled transactions left by a previous run", { settled });
    await this.checkOperator();
    for (const modelId of this.ctx.models.keys()) await this.joinModel(modelId);
    await this.runner.setup();
    this.running = true;
    this.runner.start();
  }

  /** Stops taking jobs, lets in-flight steps finish (their state is persisted either way), and returns. */
  async stop(): Promise<void> {
    if (this.ctx.stopped) return;
    this.ctx.stopped = true; // no step starts from here on, whichever task is still running
    this.scheduler.clearTimers();
    if (this.running) await this.runner.stop();
    // Steps started by `tick()` (tests) run outside the tasks' loops.
    await Promise.allSettled([this.ctx.drain(), this.settler.finalizing]);
    this.abort.abort(new Error("worker stopped"));
  }

  /**
   * One pass, as the tasks' loops run it: the listener's (ingest confirmed events, schedule the jobs that have
   * something to do), then the settler's and the validator's. Exposed for tests.
   */
  async tick(): Promise<void> {
    await this.listener.pass();
    this.settler.kick();
    await this.validatorTask?.tick();
  }

  /** Waits until every active job is idle (tests and the demo), including runs started while waiting. */
  async settle(): Promise<void> {
    while (this.ctx.inFlight.size > 0 || this.settler.finalizing) {
      await Promise.allSettled([...this.ctx.inFlight.values(), this.settler.finalizing]);
    }
  }

  /**
   * The blob (sha256 of the result bytes) behind an on-chain result hash. Under the exact comparator they are the
   * same; under a rounded comparator the on-chain hash is over quantized outputs, so the worker keeps the mapping.
   */
  resultBlobFor(resultHash: Hex): Hex | undefined {
    if (this.o.store.hasBlob(resultHash)) return resultHash;
    // The map is filled from the store once (results of earlier runs), then by every inference: a request for an
    // unknown hash costs a map lookup, never a scan of the job table.
    if (!this.resultBlobsLoaded) {
      this.resultBlobsLoaded = true;
      for (const job of this.o.store.jobsByState(["inferred", "commit_pending", "committed", "reveal_pending", "revealed", "served", "disputed", "finalized"])) {
        if (job.resultHash && job.resultBlob) this.ctx.resultBlobs.set(job.resultHash.toLowerCase(), job.resultBlob);
      }
    }
    return this.ctx.resultBlobs.get(resultHash.toLowerCase());
  }

  /** Model ids this worker serves. */
  servedModels(): Hex[] {
    return [...this.ctx.models.keys()];
  }

  /**
   * Health facts for the HTTP endpoint. "degraded" (HTTP 200, with reasons) while a job has waited longer than
   * `slotWaitWarnMs` for an inference or post slot: it may miss its window.
   */
  health() {
    const now = Date.now();
    const { lanes } = this.scheduler;
    const waits = [...this.scheduler.waitingSince.values()].map((since) => now - since);
    const starved = waits.filter((ms) => ms >= this.o.slotWaitWarnMs);
    const reasons: string[] = [];
    let status: "degraded" | "unhealthy" | undefined;
    if (starved.length) {
      status = "degraded";
      reasons.push(
        `${starved.length} job(s) waiting over ${duration(this.o.slotWaitWarnMs)} for a processing slot ` +
          `(longest ${duration(Math.max(...starved))}; max-concurrency ${this.o.maxConcurrency})`,
      );
    }
    if (this.listener.ingestError) {
      status = "unhealthy";
      reasons.push(`cannot read the escrow's events: ${this.listener.ingestError}`);
    }
    const risk = this.jobsAtRisk(now);
    if (risk.count > 0) {
      status = "unhealthy";
      reasons.push(
        `${risk.count} job(s) not yet posted within ${AT_RISK_SECONDS} s of their window's end ` +
          `(soonest: job ${risk.soonest!.jobId} slot ${risk.soonest!.slot}, ${risk.soonest!.state}, ${risk.soonest!.secondsLeft} s left)`,
      );
    }
    return {
      ...(status ? { status, reasons } : {}),
      chainId: this.chainId,
      operator: this.address,
      headBlock: this.o.store.getCursor(this.chainId, CURSOR_STREAM)?.blockNumber ?? 0n,
      chainHead: this.ctx.lastHead,
      jobs: this.o.store.countByState(this.chainId),
      models: this.servedModels(),
      slots: {
        infer: { busy: lanes.infer.active, size: lanes.infer.size },
        post: { busy: lanes.post.active, size: lanes.post.size },
        waiting: waits.length,
        longestWaitSeconds: waits.length ? Math.round(Math.max(...waits) / 1000) : 0,
      },
    };
  }

  /** Jobs waiting for a slot in each lane (metrics: `veil_worker_queue_depth`). */
  queueDepth(): Record<string, number> {
    return this.scheduler.queueDepth();
  }

  private jobsAtRisk(now: number) {
    const { chainNow, chainNowAt } = this.ctx;
    if (chainNow === 0n) return { count: 0 };
    const chainTime = Number(chainNow) + Math.floor((now - chainNowAt) / 1000);
    return jobsAtRisk(this.o.store.activeJobs({ chainId: this.chainId }).filter((j) => !isValidatorRecord(j)), chainTime);
  }

  private async checkOperator() {
    const op = await this.o.publicClient.readContract({
      address: this.o.addresses.nodeStaking,
      abi: nodeStakingAbi,
      functionName: "operator",
      args: [this.address],
    });
    if (!op.registered) throw new Error(`operator ${this.address} is not registered: run \`veil node register\` first`);
    if (!op.eligible) this.log.warn("operator stake is below the minimum: no jobs will be assigned", { stake: op.stake });
  }

  private async loadModel(m: WorkerModel) {
    const bytes = m.bytes ?? new Uint8Array(await readFile(m.path!));
    const modelId = sha256Hex(bytes) as Hex;
    const file = m.path ?? "(bytes)";
    if (m.modelId !== undefined && m.modelId.toLowerCase() !== modelId) {
      throw new Error(
        `model file ${file} has sha256 ${modelId}, but it was given as model ${m.modelId.toLowerCase()}: ` +
          "a model's id is the sha256 of its file, so this file cannot serve that model (nothing was sent on chain)",
      );
    }
    let model;
    try {
      model = await this.o.publicClient.readContract({
        address: this.o.addresses.modelRegistry,
        abi: modelRegistryAbi,
        functionName: "getModel",
        args: [modelId],
      });
    } catch (err) {
      throw new Error(`model file ${file} has sha256 ${modelId}, which is not a registered model id: refusing to serve it`, { cause: err });
    }
    // The registered signature is what requesters' SDKs check inputs against: if it does not describe this file,
    // honest inputs would be refused by the SDK or the model, so the worker does not serve it.
    if (model.ioSignature !== "") {
      const actual = encodeSignature(inspectOnnxModel(bytes).signature);
      if (actual !== model.ioSignature) {
        throw new Error(
          `model ${modelId}'s registered input/output signature does not describe file ${file}: registered ` +
            `${model.ioSignature.slice(0, 200)}, the file declares ${actual.slice(0, 200)}; refusing to serve it`,
        );
      }
    }
    const profile: RuntimeProfile = {
      opset: model.profile.opset,
      ortVersion: model.profile.ortVersion,
      executionProvider: model.profile.executionProvider,
      graphOptimizationLevel: GRAPH_OPTIMIZATION_LEVELS[model.profile.graphOptimizationLevel] ?? "all",
      sequential: model.profile.sequential,
    };
    await this.o.engine.loadModel(modelId, bytes, profile, { batching: m.batching ?? false });
    const comparator: Comparator = model.comparator === 0 ? { kind: "exact" } : { kind: "rounded", precision: model.precision };
    this.ctx.models.set(modelId, { modelId, comparator, path: m.path });
  }

  /** Joins the model's operator pool unless this operator already serves it. */
  private async joinModel(modelId: Hex) {
    const serving = await this.o.publicClient.readContract({
      address: this.o.addresses.nodeStaking,
      abi: nodeStakingAbi,
      functionName: "isServing",
      args: [this.address, modelId],
    });
    if (!serving) {
      await this.sender.send({ kind: "other", address: this.o.addresses.nodeStaking, abi: nodeStakingAbi, functionName: "joinModel", args: [modelId] });
    }
    const info = this.ctx.models.get(modelId)!;
    this.log.info("serving model", { modelId, comparator: info.comparator.kind, path: info.path });
  }
}

// -------------------------------------------------------------------------------------------------------------

/**
 * Jobs whose own step (result, commit or reveal) is not on chain yet while their current window ends within
 * `marginSeconds` (a missed step is slashed). `chainTime` is the last head's timestamp plus the wall-clock time since
 * it was read, so an RPC outage that freezes the head does not freeze the deadlines (`/health` goes 503).
 */
export function jobsAtRisk(
  jobs: Iterable<Pick<JobRecord, "jobId" | "slot" | "state" | "meta">>,
  chainTime: number,
  marginSeconds = AT_RISK_SECONDS,
): { count: number; soonest?: { jobId: bigint; slot: number; state: string; secondsLeft: number } } {
  let count = 0;
  let soonest: { jobId: bigint; slot: number; state: string; secondsLeft: number } | undefined;
  for (const job of jobs) {
    if (!UNPOSTED.has(job.state)) continue;
    const end = job.meta.phaseEnd;
    if (typeof end !== "number") continue;
    const left = end - chainTime;
    if (left > marginSeconds) continue;
    count++;
    if (!soonest || left < soonest.secondsLeft) soonest = { jobId: job.jobId, slot: job.slot, state: job.state, secondsLeft: left };
  }
  return { count, soonest };
}

/** 850 ms, 42 s, 3 min 5 s. */
function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
