/**
 * The Veil inference worker: follows the escrow's events, takes the jobs assigned to its operator, runs the model
 * with ONNX Runtime, and commits/reveals (or, at k = 1, posts) the result hash; results are served over HTTP.
 *
 * Crash safety: every job is a persisted state machine (store.ts) and every transaction intent is persisted with
 * its signed bytes before broadcast (chain/sender.ts). After a restart the worker first settles persisted intents
 * against the chain, then re-reads each active job's on-chain state before doing anything, so a commit or reveal
 * that already landed is never sent twice and an interrupted job resumes where it stopped.
 */
import { inspectOnnxModel } from "@veil/sdk";
import { encodeSignature } from "@veil/sdk";
import { readFile } from "node:fs/promises";
import {
  decodeEventLog,
  parseEventLogs,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type Log,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { jobEscrowAbi, modelRegistryAbi, nodeStakingAbi } from "@veil/contracts";
import { JOB_STATUSES, parseJobEvents, reduceJobs, resultCommitment, type JobState as EscrowJobState } from "@veil/sdk";
import { sha256Hex, type Comparator, type TensorMap } from "@veil/sdk";
import type { InferenceEngine } from "./inference/engine.js";
import { computeResult, privateEnvelope } from "./inference/compute.js";
import { GRAPH_OPTIMIZATION_LEVELS, type RuntimeProfile } from "./inference/profile.js";
import type { Logger } from "./internal/log.js";
import type { WorkerMetrics } from "./internal/metrics.js";
import { sleep } from "./internal/retry.js";
import { failpoint } from "./internal/failpoints.js";
import { TxRevertedError, TxSender, isRevert } from "./chain/sender.js";
import { PostBatcher } from "./chain/batcher.js";
import { LogRangeSizer, LogRangeTooLargeError, logChunks, type LogChunk } from "./chain/logs.js";
import { isJobRecycled, settledOutcome } from "./chain/settled.js";
import type { JobKey, JobRecord, JobState, WorkerStore } from "./store.js";
import type { PrivateCodec, PrivateInput } from "./private.js";
import { DisputeValidator, isValidatorRecord } from "./validator.js";
import { definedOnly, hexBytes, randomBytes32, sameAddress } from "./internal/util.js";
import { DEFAULT_MAX_BLOB_BYTES, InputResolver, parseContentUri, type BlobInbox } from "./blobs.js";

/** On-chain job status (IJobEscrow.Status). */
export const JobStatus = { None: 0, Assigned: 1, Revealing: 2, Proposed: 3, Disputed: 4, Finalized: 5, Refunded: 6 } as const;

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
  pollIntervalMs?: number;
  /** First block to scan when the store has no cursor (default: the current head minus 1,000). */
  startBlock?: bigint;
  maxLogRange?: bigint;
  /**
   * Jobs in inference at once (default 8). Jobs that only wait (for a challenge window, the reveal phase, an input
   * blob) hold no slot; posts and blob fetches have lanes of their own (see "scheduling" in worker.ts).
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

interface ModelInfo {
  modelId: Hex;
  comparator: Comparator;
  path?: string;
}

const CURSOR_STREAM = "escrow";
/** Post lane size, in multicalls of `maxPostBatch` posts awaiting their blocks. */
const POST_LANE_BATCHES = 8;
/** Blocks of ingested history whose hashes are remembered to find a reorg's fork point. */
const REORG_WINDOW = 128;
/** /health is unhealthy (503) while a job's step is not posted this close to the end of its window. */
const AT_RISK_SECONDS = 30;
/** States whose step is still to be posted in the job's current window. */
const UNPOSTED: ReadonlySet<string> = new Set(["assigned", "input_ready", "inferred", "commit_pending", "reveal_pending"]);

export class VeilWorker {
  readonly address: Address;
  readonly chainId: number;
  private readonly o: Required<Omit<VeilWorkerOptions, "metrics" | "startBlock" | "fetchInput" | "privacy" | "uploads">> &
    Pick<VeilWorkerOptions, "metrics" | "startBlock" | "fetchInput" | "privacy" | "uploads">;
  /** A job's input bytes from its URI (blobs.ts). */
  private readonly inputs: InputResolver;
  private lastUploadGc = 0;
  /** The head block's timestamp as of this tick (scheduling compares phase ends against it). */
  private chainNow = 0n;
  /**
   * Hashes of recently ingested blocks (range ends), newest last, for reorg detection: a new range whose first block
   * does not extend the cursor's hash means the chain reorganised; the fork point is the newest block whose hash
   * still matches. At most REORG_WINDOW entries.
   */
  private readonly recentHashes = new Map<bigint, Hex>();
  /** The escrow log stream's adaptive getLogs span (starts at maxLogRange; chain/logs.ts). */
  private readonly logRange: LogRangeSizer;
  /** Why events cannot be read at all (a single block too large for the node): /health is unhealthy meanwhile. */
  private ingestError: string | undefined;
  /** Jobs to re-read from the chain at their next scheduling (after a reorg), whatever their lane's cadence. */
  private readonly recheck = new Set<string>();
  /** Reorgs seen (depth in blocks of each), for /health and tests. */
  readonly reorgs: Array<{ at: number; forkBlock: bigint; depth: number }> = [];
  /**
   * The escrow's view of this operator's jobs, folded from the events `ingest` reads by the SDK's job reducer (one
   * job model with `getJobHistory`). Steps take a job's state from here instead of a `getJob` call; a step that
   * failed before, and the re-checks that look for posts a reorg removed, read the chain at its head, because this
   * view is `confirmations` blocks behind it. A job this worker never saw
   * submitted (an older job reassigned to it, or one from before a restart) is not here and is read with `getJob`.
   */
  private view = new Map<bigint, EscrowJobState>();
  /** getJob reads saved by the view, and made (for metrics, bench and tests). */
  readonly reads = { fromView: 0, fromChain: 0 };
  /** Block of each job's JobSubmitted seen by `ingest` (until it settles): a reassignment reads that block only. */
  private readonly submittedIn = new Map<bigint, bigint>();
  /** When `chainNow` was read (wall clock): /health extrapolates chain time from it while the RPC is down. */
  private chainNowAt = 0;
  private readonly sender: TxSender;
  /** Results, commits and reveals, batched into escrow multicalls (chain/batcher.ts). */
  private readonly posts: PostBatcher;
  private readonly models = new Map<Hex, ModelInfo>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly resultBlobs = new Map<string, Hex>();
  private resultBlobsLoaded = false;
  private readonly abort = new AbortController();
  /** Ends the loop's sleep between ticks at once on `stop()`. */
  private readonly wake = new AbortController();
  private loop: Promise<void> | undefined;
  private prepared: Promise<void> | undefined;
  private stopped = false;
  private lastHead = 0n;
  /** The latest block's timestamp, read at most once per tick (decline and finalize checks of every job share it). */
  private headTime: Promise<bigint> | undefined;
  private readonly validator: DisputeValidator | undefined;
  /** The settlement pass in progress (one at a time: see `finalizeDue`). */
  private finalizing: Promise<void> | undefined;
  /** Jobs whose last finalizeMany settled nothing or reverted: not retried before `at` (ms), backing off. */
  private readonly finalizeBackoff = new Map<bigint, { failures: number; at: number }>();
  /** When this worker first saw a served job past its challenge window (wall clock): the settlement rota's clock. */
  private readonly dueSince = new Map<bigint, number>();
  /** Slots per lane (see "scheduling"). */
  private readonly lanes: Record<LaneName, Lane>;
  /** Jobs with a step to run that found no room in its lane, most urgent first. */
  /** Jobs waiting for a slot, per lane, most urgent first (per lane, so a pump never walks another lane's backlog). */
  private queues: Record<LaneName, Queued[]> = { infer: [], post: [], fetch: [], watch: [] };
  /** Since when (ms) each queued infer/post job has waited for a slot. */
  private waitingSince = new Map<string, number>();
  /** Starved jobs already warned about (once each). */
  private readonly starvedWarned = new Set<string>();
  /** Jobs whose last run made no progress: not run again before `at` (ms). */
  private readonly retry = new Map<string, { failures: number; at: number }>();
  /** Waiting (served, disputed) jobs: when they were last read from the chain (wall ms, and chain time). */
  private readonly watched = new Map<string, { at: number; chainTime: bigint }>();

  constructor(chainId: number, options: VeilWorkerOptions) {
    this.o = {
      confirmations: 0,
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
    } as typeof this.o;
    if (!Number.isInteger(this.o.maxConcurrency) || this.o.maxConcurrency < 1) {
      throw new RangeError(`maxConcurrency must be a positive integer, got ${this.o.maxConcurrency}`);
    }
    this.lanes = {
      infer: new Lane(this.o.maxConcurrency),
      post: new Lane(Math.max(this.o.maxConcurrency, POST_LANE_BATCHES * this.o.maxPostBatch)),
      fetch: new Lane(FETCH_LANE),
      watch: new Lane(WATCH_LANE),
    };
    if (!Number.isInteger(this.o.maxFinalizeBatch) || this.o.maxFinalizeBatch < 1) {
      throw new RangeError(`maxFinalizeBatch must be a positive integer, got ${this.o.maxFinalizeBatch}`);
    }
    this.chainId = chainId;
    this.logRange = new LogRangeSizer(this.o.maxLogRange);
    this.address = options.walletClient.account.address;
    this.inputs = new InputResolver({
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
      signal: this.abort.signal,
    });
    this.posts = new PostBatcher(this.sender, {
      escrow: options.addresses.jobEscrow,
      maxBatch: this.o.maxPostBatch,
      windowMs: this.o.postBatchWindowMs,
      onBatch: (n) => this.o.metrics?.postBatchSize.observe(n),
    });
    if (this.o.validator) {
      const disputeManager = options.addresses.disputeManager;
      if (!disputeManager) throw new Error("validator mode needs the DisputeManager address");
      this.validator = new DisputeValidator({
        publicClient: options.publicClient,
        sender: this.sender,
        store: options.store,
        engine: options.engine,
        logger: options.logger.child({ component: "validator" }),
        chainId,
        addresses: { jobEscrow: options.addresses.jobEscrow, disputeManager },
        model: (modelId) => this.models.get(modelId.toLowerCase() as Hex),
        spotCheckRate: this.o.spotCheckRate,
        confirmations: this.o.confirmations,
        startBlock: options.startBlock,
        maxLogRange: this.o.maxLogRange,
        fetchInput: options.fetchInput,
        resolveInput: async (uri, jobId) => {
          const job = await this.chainJob(jobId);
          return this.inputs.fetch(uri, job === RECYCLED ? [] : job.operators);
        },
        privacy: options.privacy,
        signal: this.abort.signal,
      });
    }
  }

  get log(): Logger {
    return this.o.logger;
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

  /** Loads the models (`prepare`), settles crashed transactions, joins the models' pools, then follows the chain until `stop()`. */
  async start(): Promise<void> {
    await this.prepare();
    const settled = await this.sender.reconcile();
    if (settled) this.log.info("reconciled transactions left by a previous run", { settled });
    await this.checkOperator();
    for (const modelId of this.models.keys()) await this.joinModel(modelId);
    this.loop = this.run();
  }

  /** Stops taking jobs, lets in-flight steps finish (their state is persisted either way), and returns. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake.abort(new Error("worker stopping")); // end the poll sleep now, not after a whole interval
    await this.loop?.catch(() => undefined);
    await Promise.allSettled([...this.inFlight.values(), this.finalizing]);
    this.abort.abort(new Error("worker stopped"));
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
        if (job.resultHash && job.resultBlob) this.resultBlobs.set(job.resultHash.toLowerCase(), job.resultBlob);
      }
    }
    return this.resultBlobs.get(resultHash.toLowerCase());
  }

  /** Model ids this worker serves. */
  servedModels(): Hex[] {
    return [...this.models.keys()];
  }

  /**
   * Health facts for the HTTP endpoint. "degraded" (HTTP 200, with reasons) while a job has waited longer than
   * `slotWaitWarnMs` for an inference or post slot: it may miss its window.
   */
  health() {
    const now = Date.now();
    const waits = [...this.waitingSince.values()].map((since) => now - since);
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
    if (this.ingestError) {
      status = "unhealthy";
      reasons.push(`cannot read the escrow's events: ${this.ingestError}`);
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
      chainHead: this.lastHead,
      jobs: this.o.store.countByState(this.chainId),
      models: this.servedModels(),
      slots: {
        infer: { busy: this.lanes.infer.active, size: this.lanes.infer.size },
        post: { busy: this.lanes.post.active, size: this.lanes.post.size },
        waiting: waits.length,
        longestWaitSeconds: waits.length ? Math.round(Math.max(...waits) / 1000) : 0,
      },
    };
  }

  private jobsAtRisk(now: number) {
    if (this.chainNow === 0n) return { count: 0 };
    const chainTime = Number(this.chainNow) + Math.floor((now - this.chainNowAt) / 1000);
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
    this.models.set(modelId, { modelId, comparator, path: m.path });
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
    const info = this.models.get(modelId)!;
    this.log.info("serving model", { modelId, comparator: info.comparator.kind, path: info.path });
  }

  private async run() {
    while (!this.stopped) {
      try {
        await this.tick();
      } catch (err) {
        this.o.metrics?.rpcErrorsTotal.inc({ method: "tick", kind: "error" });
        this.log.warn("tick failed; retrying", { error: String((err as Error)?.message ?? err) });
      }
      await sleep(this.o.pollIntervalMs, this.wake.signal).catch(() => undefined);
    }
  }

  /** One pass: ingest confirmed events, then schedule the jobs that have something to do. Exposed for tests. */
  async tick(): Promise<void> {
    this.headTime = undefined;
    try {
      await this.ingest();
    } catch (err) {
      // Jobs already ingested still have steps to take (and deadlines): an unreadable range or an RPC failure here
      // must not stop them. /health reports what ingest cannot do; the next tick retries it.
      this.o.metrics?.rpcErrorsTotal.inc({ method: "ingest", kind: "error" });
      this.log.warn("reading events failed; jobs already known carry on", { error: String((err as Error)?.message ?? err) });
    }
    this.chainNow = await this.latestTimestamp();
    this.chainNowAt = Date.now();
    this.schedule();
    if (this.o.uploads && Date.now() - this.lastUploadGc >= 60_000) {
      this.lastUploadGc = Date.now();
      const dropped = this.o.uploads.gc();
      if (dropped) this.log.info("dropped uploaded blobs no job claimed", { count: dropped });
    }
    if (this.o.autoFinalize && !this.stopped) {
      this.finalizing ??= this.finalizeDue().finally(() => (this.finalizing = undefined));
    }
    await this.validator?.tick();
  }

  /** Waits until every active job is idle (tests and the demo), including runs started while waiting. */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0 || this.finalizing) {
      await Promise.allSettled([...this.inFlight.values(), this.finalizing]);
    }
  }

  // ---------------------------------------------------------------- scheduling
  //
  // A job's next step runs in one of four lanes, each with its own bound, so that waiting never takes the place of
  // work (an honest operator whose slots were held by jobs that only wait would miss deadlines and be slashed):
  //
  //   infer  `maxConcurrency`: reading an inline input and running the model (assigned, input_ready).
  //   post   max(maxConcurrency, 8 x maxPostBatch): commits, reveals and k = 1 results (inferred .. revealed). Sends
  //          share one nonce queue and one multicall batcher, and pipeline (receipts are awaited side by side); a post
  //          uses no CPU while it waits for its block, so the bound is the multicalls in flight: 8 of 20 posts
  //          (2 of them capped a worker at ~35 posts/s with 1 s blocks, bench/load.ts).
  //   fetch  FETCH_LANE: input blobs by reference (network I/O; a failing fetch backs off, see `retry`).
  //   watch  WATCH_LANE: jobs that wait for the chain: committed (until the reveal phase), and served or disputed
  //          ones (their settlement comes by events and `finalizeDue`; they are re-read only when their challenge
  //          end is unknown, or every WATCH_RECHECK_MS as a safety net).
  //
  // Within a lane the job whose current phase ends first goes first. A job runs its steps back to back while the
  // next step's lane has room (a job usually goes from assigned to served in one run), and a finished run hands
  // its slot on at once (`pump`). A run that makes no progress (a blob or key that has not arrived, a failed RPC)
  // backs off before its next try, so it cannot hold a lane tick after tick either.

  private schedule() {
    const now = Date.now();
    const queue: Queued[] = [];
    const active = new Set<string>();
    for (const job of this.o.store.activeJobs({ chainId: this.chainId })) {
      if (isValidatorRecord(job)) continue; // the validator's own records (validator.ts)
      const key = keyString(job);
      active.add(key);
      if (this.inFlight.has(key)) continue;
      const lane = this.laneOf(job, now);
      if (lane) queue.push({ job, lane });
    }
    // Forget jobs that are done.
    for (const map of [this.retry, this.watched]) for (const key of map.keys()) if (!active.has(key)) map.delete(key);
    queue.sort(byUrgency);
    const queues: Record<LaneName, Queued[]> = { infer: [], post: [], fetch: [], watch: [] };
    const waiting = new Map<string, number>();
    for (const q of queue) {
      queues[q.lane].push(q);
      const key = keyString(q.job);
      if (q.lane === "infer" || q.lane === "post") waiting.set(key, this.waitingSince.get(key) ?? now);
    }
    this.queues = queues;
    this.waitingSince = waiting;
    this.pump(now);
    this.noteStarved(now);
  }

  /** Queues `q` in its lane by urgency (a job whose next step found its lane full). */
  private enqueue(q: Queued, now = Date.now()) {
    const queue = this.queues[q.lane];
    const at = queue.findIndex((x) => byUrgency(q, x) < 0);
    queue.splice(at < 0 ? queue.length : at, 0, q);
    const key = keyString(q.job);
    if ((q.lane === "infer" || q.lane === "post") && !this.waitingSince.has(key)) this.waitingSince.set(key, now);
  }

  /**
   * Starts queued jobs while their lanes have room; the rest wait for a slot (or the next tick). A pump runs after
   * every finished step, so it costs O(jobs started), not O(backlog): only the heads of lanes with room are looked at.
   */
  private pump(now = Date.now()) {
    if (this.stopped) return;
    for (const name of LANE_NAMES) {
      const queue = this.queues[name];
      while (queue.length > 0 && this.lanes[name].active < this.lanes[name].size) {
        const q = queue.shift()!;
        const key = keyString(q.job);
        if (this.inFlight.has(key)) continue;
        const job = this.o.store.getJob(q.job); // fresh: it may have moved since it was queued
        const lane = job && !isDone(job.state) ? this.laneOf(job, now) : undefined;
        if (!job || !lane) {
          this.waitingSince.delete(key);
          continue;
        }
        if (this.lanes[lane].tryAcquire()) this.launch(job, lane);
        else this.enqueue({ job, lane }, now);
      }
    }
  }

  /** The lane of `job`'s next step, or undefined when it has nothing to do now. */
  private laneOf(job: JobRecord, now: number): LaneName | undefined {
    const key = keyString(job);
    const retry = this.retry.get(key);
    // A backing-off job is still tried every tick once its decline margin is near, so a decline is never late.
    if (retry && now < retry.at && !this.nearDecline(job)) return undefined;
    if (this.recheck.has(key) && (job.state === "committed" || job.state === "served" || job.state === "disputed")) return "watch";
    switch (job.state) {
      case "assigned":
        return job.meta.inputBlob || !job.inputUri ? "infer" : "fetch";
      case "input_ready":
        return "infer";
      case "inferred":
      case "commit_pending":
      case "reveal_pending":
      case "revealed":
        return "post";
      case "committed":
        return "watch";
      case "served":
      case "disputed": {
        const end = job.meta.challengeEnd;
        if (job.state === "served" && typeof end !== "number") return "watch";
        const last = this.watched.get(key);
        if (last === undefined) {
          this.watched.set(key, { at: now, chainTime: this.chainNow }); // first seen: its events drive it
          return undefined;
        }
        // Read again once its challenge window has ended (it is about to be settled, by this worker or another
        // account: a record reused at once is only noticed by reading), then every WATCH_RECHECK_MS.
        if (typeof end === "number" && last.chainTime <= BigInt(end) && this.chainNow > BigInt(end)) return "watch";
        return now - last.at >= WATCH_RECHECK_MS ? "watch" : undefined;
      }
      default:
        return undefined;
    }
  }

  private launch(job: JobRecord, lane: LaneName) {
    const key = keyString(job);
    this.waitingSince.delete(key);
    this.starvedWarned.delete(key);
    if (lane === "watch") this.watched.set(key, { at: Date.now(), chainTime: this.chainNow });
    this.recheck.delete(key);
    const p = this.drive(job, lane)
      // A waiting job's read that finds it still waiting is no failure: watch runs are paced by laneOf, not backoff.
      .then((progressed) => {
        if (lane === "watch") this.retry.delete(key);
        else this.noteProgress(key, progressed);
      })
      .catch((err) => {
        this.noteProgress(key, false);
        this.onJobError(job, err);
      })
      .finally(() => {
        this.inFlight.delete(key);
        this.pump();
      });
    this.inFlight.set(key, p);
  }

  /**
   * Runs `job`'s steps back to back, holding a slot of the lane each step belongs to: it stops when the job waits
   * (watch lane, or a step that changed nothing), is done, or the next step's lane is full (the job is queued).
   * The chain is read once per lane, not per step: inference changes nothing on chain, and a post re-reads it.
   * Resolves whether the job moved.
   */
  private async drive(job: JobRecord, lane: LaneName): Promise<boolean> {
    let held = lane;
    let chain: ChainJob | typeof RECYCLED | undefined;
    let progressed = false;
    try {
      for (;;) {
        // A snapshot read before this step's own post must not be taken for a reorg that removed it.
        let fresh = false;
        if (chain === undefined) {
          // Posts too: each is simulated before it is sent, so a view behind the chain costs a refused simulation,
          // never a wrong transaction; a job whose last step failed, or that a reorg re-check names, reads the chain.
          const fromView = held === "infer" || held === "fetch" || (held === "post" && job.attempts === 0 && !this.recheck.has(keyString(job)));
          const viewed = fromView ? this.viewed(job.jobId) : undefined;
          fresh = viewed === undefined;
          chain = viewed ?? (await this.chainJob(job.jobId));
        }
        await this.advance(job, chain, fresh);
        const next = this.o.store.getJob(job);
        if (!next || next.state === job.state) return progressed;
        progressed = true;
        if (isDone(next.state) || this.stopped) return progressed;
        job = next;
        const want = this.laneOf(job, Date.now());
        if (!want || want === "watch" || want === "fetch") return progressed;
        if (want !== held) {
          if (!this.lanes[want].tryAcquire()) {
            this.enqueue({ job, lane: want });
            return progressed;
          }
          this.lanes[held].release();
          held = want;
          chain = undefined;
          this.pump(); // the slot just left goes to the next job at once
        }
      }
    } finally {
      this.lanes[held].release();
    }
  }

  /** Whether `job` is within reach of its decline margin (see `declineIfDue`), allowing for the longest backoff. */
  private nearDecline(job: JobRecord): boolean {
    const end = job.meta.phaseEnd;
    if (typeof end !== "number" || this.chainNow === 0n) return true;
    return this.chainNow + BigInt(this.o.declineMarginSeconds) + BigInt(Math.ceil(RETRY_MAX_MS / 1000)) >= BigInt(end);
  }

  /** A run that moved its job clears its backoff; one that did not (waiting, or failed) retries later and later. */
  private noteProgress(key: string, progressed: boolean) {
    if (progressed) {
      this.retry.delete(key);
      return;
    }
    const failures = (this.retry.get(key)?.failures ?? 0) + 1;
    // The first retry is the next tick; then doubling, at most RETRY_MAX_MS (well inside the decline margin).
    const delay = failures <= 1 ? 0 : Math.min(this.o.pollIntervalMs * 2 ** (failures - 1), RETRY_MAX_MS);
    this.retry.set(key, { failures, at: Date.now() + delay });
  }

  /** Jobs that have waited for an infer/post slot longer than `slotWaitWarnMs`: logged once each, and in /health. */
  private noteStarved(now: number) {
    for (const key of this.starvedWarned) if (!this.waitingSince.has(key)) this.starvedWarned.delete(key);
    for (const [key, since] of this.waitingSince) {
      if (now - since < this.o.slotWaitWarnMs || this.starvedWarned.has(key)) continue;
      this.starvedWarned.add(key);
      const q = this.queues.infer.find((x) => keyString(x.job) === key) ?? this.queues.post.find((x) => keyString(x.job) === key);
      this.log.warn("job has waited long for a processing slot: raise --max-concurrency or take fewer jobs", {
        jobId: q?.job.jobId,
        slot: q?.job.slot,
        state: q?.job.state,
        waitedSeconds: Math.round((now - since) / 1000),
        phaseEnd: q?.job.meta.phaseEnd,
        busy: { infer: this.lanes.infer.active, post: this.lanes.post.active },
        maxConcurrency: this.o.maxConcurrency,
      });
    }
  }

  // ---------------------------------------------------------------- events

  private async ingest() {
    const { publicClient, store } = this.o;
    const head = await publicClient.getBlockNumber({ cacheTime: 0 });
    this.lastHead = head;
    this.o.metrics?.setChainHead(head);
    const safe = head - BigInt(this.o.confirmations);
    const cursor = store.getCursor(this.chainId, CURSOR_STREAM);
    let from = cursor ? cursor.blockNumber + 1n : (this.o.startBlock ?? (head > 1_000n ? head - 1_000n : 0n));
    while (from <= safe && !this.stopped) {
      const want = from + this.logRange.range - 1n < safe ? from + this.logRange.range - 1n : safe;
      // Reorg check: the range's first block must extend the block the cursor stands on.
      const cur = store.getCursor(this.chainId, CURSOR_STREAM);
      const first = await publicClient.getBlock({ blockNumber: from });
      if (cur?.blockHash && cur.blockNumber === from - 1n && first.parentHash !== cur.blockHash) {
        from = (await this.rewind(cur.blockNumber)) + 1n;
        continue;
      }
      // One chunk, whose span halves while the node says the answer is too large (chain/logs.ts).
      let chunk: LogChunk | undefined;
      try {
        for await (const c of logChunks(publicClient, { address: this.o.addresses.jobEscrow, fromBlock: from, toBlock: want, sizer: this.logRange })) {
          chunk = c;
          break;
        }
        this.ingestError = undefined;
      } catch (err) {
        if (err instanceof LogRangeTooLargeError) this.ingestError = err.message;
        throw err;
      }
      const { to, logs } = chunk!;
      const last = to === from ? first : await publicClient.getBlock({ blockNumber: to });
      const submitted = new Map<bigint, SubmittedJob>();
      const decoded = logs.map((l) => decode(l)).filter((d): d is Decoded => d !== undefined);
      for (const d of decoded) {
        if (d.eventName === "JobSubmitted") {
          submitted.set(d.args.jobId, toSubmitted(d.args));
          this.submittedIn.set(d.args.jobId, d.blockNumber);
        } else if (d.eventName === "JobFinalized" || d.eventName === "JobRefunded") {
          this.submittedIn.delete(d.args.jobId);
        }
      }
      // Fetch JobSubmitted for reassignments of older jobs before opening the SQLite transaction.
      for (const d of decoded) {
        if (d.eventName !== "OperatorsAssigned" || submitted.has(d.args.jobId)) continue;
        if (!d.args.operators.some((o: Address) => sameAddress(o, this.address))) continue;
        const s = await this.fetchSubmitted(d.args.jobId, d.blockNumber);
        if (s) submitted.set(d.args.jobId, s);
      }
      store.withTransaction(() => {
        for (const d of decoded) this.apply(d, submitted);
        store.setCursor(this.chainId, CURSOR_STREAM, to, { blockHash: last.hash! });
      });
      this.fold(logs);
      this.recentHashes.set(to, last.hash!);
      for (const n of this.recentHashes.keys()) {
        if (this.recentHashes.size <= REORG_WINDOW) break;
        this.recentHashes.delete(n);
      }
      from = to + 1n;
    }
  }

  /**
   * The chain reorganised below `cursorBlock`: finds the fork point (the newest remembered block whose hash the chain
   * still has; REORG_WINDOW blocks back at most), moves the cursor back to it, resyncs the nonce and marks every
   * active job to be re-read. Events after the fork are ingested again (applying an event twice is a no-op), and a
   * job whose own commit, result or reveal the reorg removed steps back and sends it again (`advance`). Returns the
   * fork block.
   */
  private async rewind(cursorBlock: bigint): Promise<bigint> {
    const { publicClient, store } = this.o;
    const cursor = store.getCursor(this.chainId, CURSOR_STREAM)!;
    const known = new Map(this.recentHashes);
    if (cursor.blockHash) known.set(cursor.blockNumber, cursor.blockHash);
    let fork: bigint | undefined;
    for (const n of [...known.keys()].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))) {
      const block = await publicClient.getBlock({ blockNumber: n }).catch(() => undefined);
      if (block?.hash === known.get(n)) {
        fork = n;
        break;
      }
    }
    const floor = cursorBlock > BigInt(REORG_WINDOW) ? cursorBlock - BigInt(REORG_WINDOW) : 0n;
    if (fork === undefined) {
      fork = floor;
      this.log.error("chain reorganised deeper than the remembered blocks; re-reading from the window's start", { cursorBlock, fork });
    }
    const forkHash = (await publicClient.getBlock({ blockNumber: fork })).hash!;
    store.setCursor(this.chainId, CURSOR_STREAM, fork, { blockHash: forkHash, allowRewind: true });
    for (const n of [...this.recentHashes.keys()]) if (n > fork) this.recentHashes.delete(n);
    for (const [id, block] of this.submittedIn) if (block > fork) this.submittedIn.delete(id);
    for (const [id, j] of this.view) if (j.last.blockNumber > fork) this.view.delete(id);
    for (const job of store.activeJobs({ chainId: this.chainId })) this.recheck.add(keyString(job));
    this.sender.resync();
    const depth = Number(cursorBlock - fork);
    this.reorgs.push({ at: Date.now(), forkBlock: fork, depth });
    if (this.reorgs.length > 100) this.reorgs.shift();
    this.o.metrics?.rpcErrorsTotal.inc({ method: "reorg", kind: "reorg" });
    this.log.warn("chain reorganised: events re-read from the fork point, active jobs re-checked", { forkBlock: fork, depth });
    return fork;
  }

  /** Folds a range's escrow logs into `view`, keeping this operator's unsettled jobs only. */
  private fold(logs: Log[]) {
    let parsed;
    try {
      parsed = parseJobEvents(logs, this.o.addresses.jobEscrow);
      const { jobs, changed } = reduceJobs(this.view, parsed);
      for (const id of changed) {
        const j = jobs.get(id)!;
        if (j.status === "Finalized" || j.status === "Refunded" || !j.operators.some((op) => sameAddress(op, this.address))) jobs.delete(id);
      }
      this.view = jobs;
    } catch (err) {
      // A log the reducer cannot apply here (e.g. a node that gives no block timestamps where one is needed): those
      // jobs leave the view and are read with getJob, as before it existed.
      for (const l of parsed ?? []) this.view.delete(l.args.jobId);
      this.log.debug("job view: fell back to getJob for the jobs of a range", { error: String((err as Error)?.message ?? err) });
    }
  }

  private apply(d: Decoded, submitted: Map<bigint, SubmittedJob>) {
    const { store } = this.o;
    const a = d.args;
    switch (d.eventName) {
      case "OperatorsAssigned": {
        const s = submitted.get(a.jobId);
        a.operators.forEach((op: Address, i: number) => {
          const slot = Number(a.slots[i]);
          const key = { chainId: this.chainId, jobId: a.jobId as bigint, slot };
          const existing = store.getJob(key);
          if (sameAddress(op, this.address)) {
            if (!s) return;
            if (existing && !isDone(existing.state) && existing.inputHash !== undefined && s.inputHash.toLowerCase() !== existing.inputHash.toLowerCase()) {
              // Same id, other input: a reorg replaced the submission this record was made for. Its result must never
              // be posted for the new job; the record stops here (posts will name their input: see the escrow issue).
              store.transition(key, existing.state, "failed", { failReason: "submission replaced by a chain reorganisation (the job id now has another input)" });
              this.log.error("a reorg replaced an assigned job's submission with another input under the same id; the old result is dropped", { jobId: a.jobId, slot });
              return;
            }
            if (existing && existing.state !== "reassigned") return; // replayed event
            if (existing) return; // a slot taken away once is never taken back by the same operator
            const inputBlob = s.input.length > 2 ? store.putBlob(hexBytes(s.input)) : undefined;
            if (inputBlob) store.claimBlob(inputBlob); // uploaded earlier by someone: now a job's input
            store.upsertAssigned({
              ...key,
              redundancy: s.redundancy,
              modelId: s.modelId,
              inputHash: s.inputHash,
              inputUri: s.inputURI || undefined,
              deadline: BigInt(s.deadline),
              meta: { inputBlob, phaseEnd: Number(a.phaseEnd) },
            });
          } else if (existing && !isDone(existing.state)) {
            store.transition(key, existing.state, "reassigned", { failReason: "slot reassigned after a missed deadline" });
          }
        });
        break;
      }
      case "RevealPhaseStarted":
        // The end of the phase the job is now in: what its reveal's urgency is ordered by.
        for (const job of this.jobsOf(a.jobId)) {
          if (!isDone(job.state)) store.transition(job, job.state, job.state, { meta: { phaseEnd: Number(a.phaseEnd) } });
        }
        break;
      case "ResultProposed":
        // When the challenge window ends, the job can be finalized (finalizeDue).
        for (const job of this.jobsOf(a.jobId)) {
          if (!isDone(job.state)) store.transition(job, job.state, job.state, { meta: { challengeEnd: Number(a.challengeEnd) } });
        }
        break;
      case "JobFinalized":
        this.markAll(a.jobId, "finalized");
        break;
      case "JobRefunded":
        this.markAll(a.jobId, "refunded");
        break;
      case "JobDisputed":
        for (const job of this.jobsOf(a.jobId)) {
          if (["committed", "reveal_pending", "revealed", "served"].includes(job.state)) store.transition(job, job.state, "disputed");
        }
        break;
    }
  }

  private jobsOf(jobId: bigint): JobRecord[] {
    const out: JobRecord[] = [];
    for (let slot = 0; slot < 7; slot++) {
      const j = this.o.store.getJob({ chainId: this.chainId, jobId, slot });
      if (j) out.push(j);
    }
    return out;
  }

  private markAll(jobId: bigint, to: "finalized" | "refunded" | "failed", patch?: { failReason: string }) {
    for (const job of this.jobsOf(jobId)) if (!isDone(job.state)) this.o.store.transition(job, job.state, to, patch);
  }

  /**
   * The JobSubmitted event of a job assigned to us after its submission (a reassignment): read from the block this
   * worker saw it in, or else searched backwards from `before` one `maxLogRange` at a time (a job lives at most the
   * escrow's maxJobDuration, so it is near), down to `startBlock`. Never one scan from block 0.
   */
  private async fetchSubmitted(jobId: bigint, before: bigint): Promise<SubmittedJob | undefined> {
    const read = async (fromBlock: bigint, toBlock: bigint) => {
      const logs = await this.o.publicClient.getContractEvents({
        address: this.o.addresses.jobEscrow, abi: jobEscrowAbi, eventName: "JobSubmitted", args: { jobId }, fromBlock, toBlock,
      });
      const log = logs[0] as unknown as { args: Record<string, any> } | undefined;
      return log ? toSubmitted(log.args) : undefined;
    };
    const seen = this.submittedIn.get(jobId);
    if (seen !== undefined) {
      const s = await read(seen, seen);
      if (s) return s;
    }
    const floor = this.o.startBlock ?? 0n;
    for (let to = before; to >= floor; to -= this.o.maxLogRange) {
      const from = to - this.o.maxLogRange + 1n > floor ? to - this.o.maxLogRange + 1n : floor;
      const s = await read(from, to);
      if (s) return s;
      if (from === floor) break;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- job state machine

  /** One step of `job`, given the chain's view of it. */
  private async advance(job: JobRecord, chain: ChainJob | typeof RECYCLED, fresh = true): Promise<void> {
    if (chain === RECYCLED) return this.settleRecycled(job);
    const onChainOperator = chain.operators[job.slot];
    if (!sameAddress(onChainOperator, this.address)) {
      this.o.store.transition(job, job.state, "reassigned", { failReason: "slot no longer ours" });
      return;
    }
    if (chain.status === JobStatus.Finalized) return void this.o.store.transition(job, job.state, "finalized");
    if (chain.status === JobStatus.Refunded) return void this.o.store.transition(job, job.state, "refunded");
    if (isMissed(chain, job.slot)) return void this.o.store.transition(job, job.state, "failed", { failReason: "missed a deadline" });

    const stepBack = fresh ? this.removedPost(job, chain) : undefined;
    if (stepBack) {
      this.log.warn("a reorg removed this worker's post; sending it again", { jobId: job.jobId, slot: job.slot, state: job.state, to: stepBack });
      job = this.o.store.transition(job, job.state, stepBack, { lastError: "post removed by a chain reorganisation" });
    }
    switch (job.state) {
      case "assigned":
        return this.fetchInput(job, chain);
      case "input_ready":
        return this.infer(job, chain);
      case "inferred":
      case "commit_pending":
        if (chain.status !== JobStatus.Assigned) return this.failIfPast(job, chain);
        return job.redundancy === 1 ? this.postResult(job, chain) : this.commit(job, chain);
      case "committed":
        // The reveal phase has begun: the reveal is a post like any other (post lane).
        if (chain.status === JobStatus.Revealing) this.o.store.transition(job, "committed", "reveal_pending");
        return;
      case "reveal_pending":
        if (job.redundancy === 1) return this.postResult(job, chain);
        return this.reveal(job, chain);
      case "revealed":
        this.o.store.transition(job, "revealed", "served");
        return;
      case "served":
      case "disputed":
        return this.noteChallengeEnd(job, chain);
    }
  }

  /**
   * The state to go back to when the chain no longer has a post this worker made (a reorg removed the block it was
   * in; the transaction may return from the mempool, or not): a commit missing while the job still takes commits, a
   * reveal (or a k = 1 result) missing while it still takes them. Re-sending is safe: the commitment and salt are
   * persisted, and a post that lands twice reverts without effect.
   */
  private removedPost(job: JobRecord, chain: ChainJob): JobState | undefined {
    const bit = (mask: number) => ((mask >> job.slot) & 1) === 1;
    if (job.redundancy === 1) {
      const posted = job.state === "revealed" || job.state === "served";
      return posted && chain.status === JobStatus.Assigned && chain.slotHashes[0] === ZERO32 ? "reveal_pending" : undefined;
    }
    if ((job.state === "committed" || job.state === "revealed" || job.state === "served") && chain.status === JobStatus.Assigned && !bit(chain.commitMask)) {
      return "commit_pending";
    }
    if ((job.state === "revealed" || job.state === "served") && chain.status === JobStatus.Revealing && !bit(chain.revealMask)) return "reveal_pending";
    return undefined;
  }

  /**
   * The job settled without a dispute and a later submission reused its escrow record, so `getJob` reverts
   * (JobEscrowJobRecycled): someone else finalized it (or it was refunded) and the events that would have told this
   * worker are not ingested yet (confirmations). Its outcome is in its JobFinalized / JobRefunded log; every local
   * slot of the job moves to that terminal state, as the events would have moved it.
   */
  private async settleRecycled(job: JobRecord) {
    const outcome = await settledOutcome(this.o.publicClient, this.o.addresses.jobEscrow, job.jobId, this.o.startBlock);
    this.finalizeBackoff.delete(job.jobId);
    if (!outcome) {
      // The contract only recycles settled jobs, but the node has no log of how (pruned): stop tracking it anyway.
      this.markAll(job.jobId, "failed", { failReason: "settled on chain (record reused by a later job); no JobFinalized/JobRefunded log found" });
      this.log.warn("job settled on chain, outcome not found in the logs", { jobId: job.jobId, slot: job.slot });
      return;
    }
    this.markAll(job.jobId, outcome);
    this.log.info("job settled on chain and its record reused", { jobId: job.jobId, slot: job.slot, outcome });
  }

  /**
   * The job's input: inline (stored at assignment), or by reference. A `sha256:<hex>` reference comes from this
   * worker's blob store (the requester pushed it) or from the job's other operators (blobs.ts); any other URI is
   * fetched. Bytes that do not hash to the on-chain inputHash give the deterministic invalid-input result; bytes
   * that never arrive are retried (backing off) and the slot is declined, without penalty, near its deadline.
   */
  private async fetchInput(job: JobRecord, chain: ChainJob) {
    const { store } = this.o;
    let blob = job.meta.inputBlob as Hex | undefined;
    if (!blob && job.inputUri) {
      const content = parseContentUri(job.inputUri);
      if (content && content !== job.inputHash?.toLowerCase()) {
        // The reference names other bytes than the chain's hash: no bytes can satisfy both.
        store.transition(job, "assigned", "input_ready", { meta: { inputMismatch: true } });
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = await this.inputs.fetch(job.inputUri, chain.operators);
      } catch (err) {
        // Retried (with backoff); a blob still unavailable near the end of the commit window is declined, not missed.
        if (await this.declineIfDue(job, chain, `input unavailable: ${String((err as Error)?.message ?? err)}`, false)) return;
        throw err;
      }
      if (sha256Hex(bytes) !== job.inputHash) {
        // The requester's reference does not match its on-chain hash: deterministic invalid-input result.
        store.transition(job, "assigned", "input_ready", { meta: { inputMismatch: true } });
        return;
      }
      blob = store.putBlob(bytes);
      store.claimBlob(blob);
    }
    store.transition(job, "assigned", "input_ready", { inputBlob: blob });
  }

  private async infer(job: JobRecord, chain: ChainJob) {
    const { store, engine } = this.o;
    const model = this.models.get(job.modelId!);
    if (!model) {
      store.transition(job, job.state, "failed", { failReason: `model ${job.modelId} is not served by this worker` });
      return;
    }
    const input = job.inputBlob ? store.getBlob(job.inputBlob) : undefined;
    const envelope = privateEnvelope(input, !!job.meta.inputMismatch);
    let privateInput: PrivateInput | undefined;
    if (envelope) {
      // Private job: no key yet, or none that opens it -> no result at all (never commit a guess; docs/privacy.md).
      // A key that was published but does not open (corrupt, replayed, wrong recipient) is declined at once; a key
      // that never arrives is declined near the end of the commit window. Either way no penalty (JobEscrow.decline).
      privateInput = await this.o.privacy?.openInput(job.jobId, envelope, job.inputHash);
      if (!privateInput) {
        const failure = this.o.privacy?.failures.get(job.jobId);
        const reason = failure ? `${failure.reason}: ${failure.message}` : "no encryption key configured for private jobs";
        await this.declineIfDue(job, chain, reason, failure?.reason !== "waiting");
        return;
      }
    }
    const { servedBytes, resultHash } = await computeResult({
      engine,
      model,
      input,
      inputMismatch: !!job.meta.inputMismatch,
      privateInput,
      onRun: (seconds) => this.o.metrics?.inferenceSeconds.observe({ model: model.modelId.slice(0, 10) }, seconds),
      tamper: this.o.tamperOutputs ? tamper : undefined,
    });
    const resultBlob = store.putBlob(servedBytes);
    failpoint("infer:stored");
    store.transition(job, "input_ready", "inferred", { resultBlob, resultHash });
    this.resultBlobs.set(resultHash.toLowerCase(), resultBlob);
    this.log.debug("inferred", { jobId: job.jobId, slot: job.slot, resultHash });
  }

  /** k = 1: post the result hash directly. */
  private async postResult(job: JobRecord, chain: ChainJob) {
    const { store } = this.o;
    if (chain.slotHashes[0] !== ZERO32) {
      if (job.state !== "reveal_pending") store.transition(job, job.state, "reveal_pending");
      store.transition(job, "reveal_pending", "revealed");
      return;
    }
    if (job.state === "inferred") job = store.transition(job, "inferred", "reveal_pending");
    await this.posts.send({
      kind: "reveal",
      job,
      address: this.o.addresses.jobEscrow,
      abi: jobEscrowAbi,
      functionName: "submitResult",
      args: [job.jobId, job.resultHash],
    });
    failpoint("reveal:confirmed");
    store.transition(job, "reveal_pending", "revealed");
    this.log.info("result posted", { jobId: job.jobId, resultHash: job.resultHash });
  }

  private async commit(job: JobRecord, chain: ChainJob) {
    const { store } = this.o;
    if ((chain.commitMask >> job.slot) & 1) {
      store.transition(job, job.state, job.state === "inferred" ? "commit_pending" : job.state);
      store.transition(job, "commit_pending", "committed");
      return;
    }
    if (job.state === "inferred") {
      // The salt is persisted before the commitment is sent: a crash can never lose what a reveal needs.
      const salt = randomBytes32();
      const commitment = this.commitment(job.jobId, job.resultHash!, salt);
      job = store.transition(job, "inferred", "commit_pending", { salt, commitment });
    }
    failpoint("commit:before-send");
    await this.posts.send({
      kind: "commit",
      job,
      address: this.o.addresses.jobEscrow,
      abi: jobEscrowAbi,
      functionName: "commit",
      args: [job.jobId, job.slot, job.commitment],
    });
    failpoint("commit:confirmed");
    store.transition(job, "commit_pending", "committed");
    this.log.info("committed", { jobId: job.jobId, slot: job.slot });
  }

  private async reveal(job: JobRecord, chain: ChainJob) {
    const { store } = this.o;
    if ((chain.revealMask >> job.slot) & 1) {
      if (job.state === "committed") job = store.transition(job, "committed", "reveal_pending");
      store.transition(job, "reveal_pending", "revealed");
      return;
    }
    if (job.state === "committed") job = store.transition(job, "committed", "reveal_pending");
    await this.posts.send({
      kind: "reveal",
      job,
      address: this.o.addresses.jobEscrow,
      abi: jobEscrowAbi,
      functionName: "reveal",
      args: [job.jobId, job.slot, job.resultHash, job.salt],
    });
    failpoint("reveal:confirmed");
    store.transition(job, "reveal_pending", "revealed");
    this.log.info("revealed", { jobId: job.jobId, slot: job.slot, resultHash: job.resultHash });
  }

  /**
   * Declines the slot (JobEscrow.decline: no penalty, the slot is replaced) when `now` is set or the commit window
   * ends within `declineMarginSeconds`. Returns whether the job is done here. Idempotent across crashes: a slot the
   * chain already shows as declined is only marked.
   */
  private async declineIfDue(job: JobRecord, chain: ChainJob, reason: string, now: boolean): Promise<boolean> {
    if (chain.status !== JobStatus.Assigned) return false;
    const declined = ((chain.revealMask >> job.slot) & 1) === 1; // while Assigned, revealMask holds declined slots
    if (!declined) {
      if (!now) {
        if ((await this.latestTimestamp()) + BigInt(this.o.declineMarginSeconds) < BigInt(chain.phaseEnd)) return false;
      }
      await this.sender.send({
        kind: "decline",
        job,
        address: this.o.addresses.jobEscrow,
        abi: jobEscrowAbi,
        functionName: "decline",
        args: [job.jobId, job.slot],
      });
      this.log.warn("declined a job it cannot serve", { jobId: job.jobId, slot: job.slot, reason });
    }
    this.o.store.transition(job, job.state, "failed", { failReason: `declined: ${reason}`.slice(0, 300) });
    return true;
  }

  private latestTimestamp(): Promise<bigint> {
    this.headTime ??= this.o.publicClient.getBlock({ blockTag: "latest" }).then(
      (b) => b.timestamp,
      (err) => {
        this.headTime = undefined; // not cached: the next caller retries
        throw err;
      },
    );
    return this.headTime;
  }

  /** A proposed job: its challenge end, for `finalizeDue` (normally already known from its ResultProposed event). */
  private noteChallengeEnd(job: JobRecord, chain: ChainJob) {
    if (chain.status !== JobStatus.Proposed || job.meta.challengeEnd === chain.phaseEnd) return;
    this.o.store.transition(job, job.state, job.state, { meta: { challengeEnd: chain.phaseEnd } });
  }

  /**
   * Settles this operator's served jobs whose challenge window has passed, all at once: one escrow `finalizeMany`
   * per `maxFinalizeBatch` of them (in a batch, each account's earnings and the accruals are written once and all
   * collateral is released in one staking call: ~25-35k gas a job against ~90k for `finalize` alone).
   *
   * `finalizeMany` skips the jobs that are not ready (someone else finalized them, their record was reused, a
   * challenge opened), so a batch never fails for one job. A batch that would settle nothing is not sent, and its
   * jobs, like those of a batch that reverts, are retried with a backoff instead of every tick: their records move on
   * by the events (or `advance`). Crash safety is the sender's: the intent is persisted before broadcast and settled
   * by `reconcile`; the local records move only on the receipt's JobFinalized logs (or, after a crash, the events).
   */
  private async finalizeDue(): Promise<void> {
    try {
      const now = await this.latestTimestamp();
      const served = this.o.store.jobsByState("served", { chainId: this.chainId }).filter((j) => !isValidatorRecord(j));
      const ids = new Set(served.map((j) => j.jobId));
      for (const map of [this.finalizeBackoff, this.dueSince]) for (const id of map.keys()) if (!ids.has(id)) map.delete(id); // settled meanwhile
      const due = new Map<bigint, JobRecord>();
      const wall = Date.now();
      for (const job of served) {
        const end = job.meta.challengeEnd;
        if (typeof end !== "number" || now <= BigInt(end)) continue;
        const since = this.dueSince.get(job.jobId) ?? wall;
        this.dueSince.set(job.jobId, since);
        if (wall - since < settleRank(job) * this.o.settleBackupDelayMs) continue; // the rota's earlier settler goes first
        const backoff = this.finalizeBackoff.get(job.jobId);
        if (backoff && Date.now() < backoff.at) continue;
        due.set(job.jobId, job);
      }
      const jobs = [...due.values()];
      for (let i = 0; i < jobs.length && !this.stopped; i += this.o.maxFinalizeBatch) {
        await this.finalizeBatch(jobs.slice(i, i + this.o.maxFinalizeBatch));
      }
    } catch (err) {
      this.o.metrics?.rpcErrorsTotal.inc({ method: "finalizeMany", kind: "error" });
      this.log.warn("finalize failed; will retry", { error: String((err as Error)?.message ?? err) });
    }
  }

  private async finalizeBatch(jobs: JobRecord[]) {
    const ids = jobs.map((j) => j.jobId);
    const call = { address: this.o.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "finalizeMany", args: [ids] } as const;
    let receipt;
    try {
      // Nothing to settle (others got there first, or our view is behind the chain's): no transaction.
      const { result } = await this.o.publicClient.simulateContract({ ...call, account: this.o.walletClient.account });
      if (result === 0n) return this.backOffFinalize(ids, "nothing to settle", false);
      receipt = await this.sender.send({ kind: "claim", job: jobs[0], ...call });
    } catch (err) {
      if (!(err instanceof TxRevertedError) && !isRevert(err)) throw err;
      return this.backOffFinalize(ids, String((err as Error).message), true);
    }
    const escrow = this.o.addresses.jobEscrow.toLowerCase();
    const wanted = new Set(ids);
    const settled = parseEventLogs({ abi: jobEscrowAbi, eventName: "JobFinalized", logs: receipt.logs })
      .filter((l) => l.address.toLowerCase() === escrow && wanted.has(l.args.jobId))
      .map((l) => l.args.jobId);
    this.o.store.withTransaction(() => {
      for (const id of settled) this.markAll(id, "finalized");
    });
    for (const id of ids) this.finalizeBackoff.delete(id);
    this.o.metrics?.finalizeBatchSize.observe(settled.length);
    this.log.info("finalized", { jobs: settled.length, of: ids.length, txHash: receipt.transactionHash });
  }

  /** `ids` are not batched again for a while (doubling per failure, at most 10 minutes). */
  private backOffFinalize(ids: bigint[], reason: string, reverted: boolean) {
    let delay = 0;
    for (const id of ids) {
      const failures = (this.finalizeBackoff.get(id)?.failures ?? 0) + 1;
      delay = Math.min(this.o.pollIntervalMs * 2 ** failures, 600_000);
      this.finalizeBackoff.set(id, { failures, at: Date.now() + delay });
    }
    const fields = { jobs: ids.length, retryInMs: delay, reason: reason.slice(0, 300) };
    if (reverted) this.log.warn("finalizeMany would revert; retrying later", fields);
    else this.log.debug("finalizeMany would settle nothing (settled by others, or not ready yet)", fields);
  }

  private failIfPast(job: JobRecord, chain: ChainJob) {
    // The chain moved past the step this slot was preparing (e.g. reassigned or refunded): stop working on it.
    if (chain.status === JobStatus.Revealing && job.redundancy > 1 && (chain.commitMask >> job.slot) & 1) {
      this.o.store.transition(job, job.state, "committed");
    }
  }

  private onJobError(job: JobRecord, err: unknown) {
    const { store } = this.o;
    const current = store.getJob(job);
    if (!current || isDone(current.state)) return;
    if (err instanceof TxRevertedError || isRevert(err)) {
      // A revert never succeeds by retrying: the window closed or the job moved on. Re-read on the next tick;
      // if the chain says the slot missed its step, advance() marks it failed.
      store.transition(current, current.state, current.state, { lastError: String((err as Error).message).slice(0, 300), incrementAttempts: true });
      this.log.warn("transaction would revert", { jobId: job.jobId, slot: job.slot, error: (err as Error).message });
      return;
    }
    store.transition(current, current.state, current.state, { lastError: String((err as Error)?.message ?? err).slice(0, 300), incrementAttempts: true });
    this.log.warn("job step failed; will retry", { jobId: job.jobId, slot: job.slot, state: current.state, error: String((err as Error)?.message ?? err) });
  }

  /** The job's state as the events folded so far say (see `view`), in `getJob`'s shape; undefined when not there. */
  private viewed(jobId: bigint): ChainJob | undefined {
    const j = this.view.get(jobId);
    if (!j) return undefined;
    this.reads.fromView++;
    return {
      status: JOB_STATUSES.indexOf(j.status),
      operators: [...j.operators],
      slotHashes: [...j.slotHashes],
      commitMask: j.commitMask,
      revealMask: j.revealMask,
      missedMask: j.missedMask,
      phaseEnd: j.phaseEnd,
    };
  }

  /** The job's escrow state, or RECYCLED when it settled and its record now holds a later job (chain/settled.ts). */
  private async chainJob(jobId: bigint): Promise<ChainJob | typeof RECYCLED> {
    this.reads.fromChain++;
    let j;
    try {
      j = await this.o.publicClient.readContract({ address: this.o.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "getJob", args: [jobId] });
    } catch (err) {
      if (isJobRecycled(err)) return RECYCLED;
      throw err;
    }
    return {
      status: Number(j.status),
      operators: j.operators as Address[],
      slotHashes: j.slotHashes as Hex[],
      commitMask: Number(j.commitMask),
      revealMask: Number(j.revealMask),
      missedMask: Number(j.missedMask),
      phaseEnd: Number(j.phaseEnd),
    };
  }

  private commitment(jobId: bigint, resultHash: Hex, salt: Hex): Hex {
    return resultCommitment({ escrow: this.o.addresses.jobEscrow, chainId: this.chainId, jobId, operator: this.address, resultHash, salt });
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

/**
 * This slot's place in the job's settlement rota: 0 for slot `jobId mod k` (settles at once), r for the slot r places
 * after it (settles after r backup delays). Every operator computes the same rota from public data.
 */
export function settleRank(job: { jobId: bigint; slot: number; redundancy?: number }): number {
  const k = job.redundancy ?? 1;
  if (k <= 1) return 0;
  const first = Number(job.jobId % BigInt(k));
  return (job.slot - first + k) % k;
}

interface ChainJob {
  status: number;
  operators: Address[];
  slotHashes: Hex[];
  commitMask: number;
  revealMask: number;
  missedMask: number;
  phaseEnd: number;
}

interface SubmittedJob {
  modelId: Hex;
  redundancy: number;
  deadline: number;
  inputHash: Hex;
  input: Hex;
  inputURI: string;
}

type Decoded = { eventName: string; args: Record<string, any>; blockNumber: bigint };

const ZERO32 = `0x${"0".repeat(64)}` as Hex;
/** `chainJob` of a job whose escrow record was reused by a later job. */
const RECYCLED = Symbol("recycled");

function decode(log: Log): Decoded | undefined {
  try {
    const d = decodeEventLog({ abi: jobEscrowAbi, data: log.data, topics: log.topics }) as unknown as Decoded;
    return { ...d, blockNumber: log.blockNumber ?? 0n };
  } catch {
    return undefined;
  }
}

function toSubmitted(a: Record<string, any>): SubmittedJob {
  return {
    modelId: a.modelId,
    redundancy: Number(a.redundancy),
    deadline: Number(a.deadline),
    inputHash: a.inputHash,
    input: a.input,
    inputURI: a.inputURI,
  };
}

function isMissed(chain: ChainJob, slot: number) {
  return ((chain.missedMask >> slot) & 1) === 1;
}

function isDone(state: JobState) {
  return state === "finalized" || state === "refunded" || state === "reassigned" || state === "failed";
}

function keyString(k: JobKey) {
  return `${k.chainId}:${k.jobId}:${k.slot}`;
}

/** 850 ms, 42 s, 3 min 5 s. */
function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

type LaneName = "infer" | "post" | "fetch" | "watch";
/** Pump order: posts first (they free collateral and meet windows), then inference, fetches and chain re-reads. */
const LANE_NAMES: readonly LaneName[] = ["post", "infer", "fetch", "watch"];

interface Queued {
  job: JobRecord;
  lane: LaneName;
}

/** Concurrent input-blob fetches (network I/O: each is bounded by its own timeout). */
const FETCH_LANE = 16;
/** Concurrent chain reads of waiting jobs. */
const WATCH_LANE = 16;
/** Served and disputed jobs are moved by events; a chain read every this often is only a safety net. */
const WATCH_RECHECK_MS = 60_000;
/** Longest backoff of a job whose runs make no progress (well inside the default 60 s decline margin). */
const RETRY_MAX_MS = 15_000;

/** Counting slots (non-blocking: a job that finds no room is queued, never awaited). */
class Lane {
  active = 0;
  constructor(readonly size: number) {}
  tryAcquire(): boolean {
    if (this.active >= this.size) return false;
    this.active++;
    return true;
  }
  release(): void {
    this.active--;
  }
}

/** The job whose current phase ends first (meta.phaseEnd, else its deadline) goes first; then by job id and slot. */
function byUrgency(a: Queued, b: Queued): number {
  const end = (j: JobRecord) => (typeof j.meta.phaseEnd === "number" ? j.meta.phaseEnd : j.deadline !== undefined ? Number(j.deadline) : Infinity);
  return end(a.job) - end(b.job) || (a.job.jobId < b.job.jobId ? -1 : a.job.jobId > b.job.jobId ? 1 : a.job.slot - b.job.slot);
}






/** A dishonest operator's output: every float nudged, so the hash differs under any comparator. */
function tamper(outputs: TensorMap): TensorMap {
  const out: TensorMap = {};
  for (const [name, t] of Object.entries(outputs)) {
    if (t.type === "float32" || t.type === "float64") {
      const data = t.data.slice() as Float32Array;
      for (let i = 0; i < data.length; i++) data[i] = data[i]! + 0.5;
      out[name] = { ...t, data } as typeof t;
    } else out[name] = t;
  }
  return out;
}
