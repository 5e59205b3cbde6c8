/**
 * The worker's inference engine: loads hash-verified ONNX models into deterministic onnxruntime sessions, validates
 * job inputs into deterministic invalid-input results, runs jobs with bounded concurrency and optional per-model
 * micro-batching, and returns canonical tensors.
 *
 * Determinism. Every session uses: the model's registered graph optimization level (default "all"; it must match
 * across operators because graph rewrites such as Gemm/activation fusion change float rounding), sequential execution,
 * one inter-op thread, a fixed intra-op thread count, denormals preserved (`session.set_denormal_as_zero = 0`), and
 * exactly one execution provider, never a silent fallback once a profile names one. On CPU, onnxruntime's MLAS picks
 * kernels by CPU features (AVX2 / AVX-512 / NEON ...), so two machines can still differ in the last ulps on float
 * models: that is what the registry's `rounded` comparator is for (sdk/src/tensor.ts `resultHash`).
 *
 * Concurrency. onnxruntime-node's `session.run` executes synchronously on the JS thread (inside a setImmediate), so
 * in-process runs never overlap; `maxConcurrency` bounds how many runs are dispatched at once (queueing the rest),
 * and throughput comes from intra-op threads and micro-batching.
 *
 * Micro-batching (per model, opt-in). Jobs for the same model that arrive within `batchWindowMs` are concatenated along
 * dim 0 (up to `maxBatchRows` rows) when every input has a dynamic dim 0, all of a job's inputs share the same dim 0,
 * and the remaining dims match; the batch runs once and every output is split back along dim 0. If an output's dim 0
 * is not the batch's row count the model is not batch-shaped: the jobs are re-run one by one and batching is switched
 * off for that model. Batching is only sound if the kernels give bit-identical rows for every batch size, which depends
 * on the model and the CPU, hence `loadModel(..., { batching: { samples } })` verifies it before enabling it.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";

import ort from "onnxruntime-node";

import {
  encodeTensors,
  invalidInputResult,
  isTensorDType,
  validateTensor,
  type Hex,
  type Tensor,
  type TensorMap,
} from "@veil/sdk";
import { concatDim0, fromOrtTensor, splitDim0, toOrtFeeds } from "./convert.js";
import {
  EngineClosedError,
  ExecutionProviderUnavailableError,
  InferenceError,
  InferenceRunError,
  InputTooLargeError,
  InvalidModelIdError,
  ModelHashMismatchError,
  ModelNotLoadedError,
  RuntimeProfileMismatchError,
  UnsupportedModelError,
} from "./errors.js";
import {
  availableExecutionProviders,
  DEFAULT_EXECUTION_PROVIDERS,
  maxSupportedOpset,
  ORT_VERSION,
  profileMismatches,
  readOnnxModelHeader,
  toLocalProfile,
  type GraphOptimizationLevel,
  type LocalRuntime,
  type RuntimeProfile,
} from "./profile.js";
import { hasDynamicDim0, validateInputs, type ModelValueInfo } from "./validate.js";

export interface InferenceEngineOptions {
  /** Execution providers to consider, best first. Default `["cuda", "cpu"]`: CUDA where it really works, else CPU. */
  executionProviders?: readonly string[];
  /** CUDA device for the "cuda" provider. Default 0. */
  cudaDeviceId?: number;
  /** Intra-op threads per session. Fixed (never "auto") so every run uses the same partitioning. Default 1. */
  intraOpNumThreads?: number;
  /**
   * Maximum session runs dispatched at once across the engine. Default 4. onnxruntime-node runs execute one at a time
   * on the JS thread anyway; a few in flight let them be scheduled back to back (1 costs ~35% throughput on tiny
   * models), while the bound keeps a burst of jobs from materialising all its feeds at once.
   */
  maxConcurrency?: number;
  /** Maximum total elements over a job's inputs (operator policy; exceeding it is a refusal). Default 2^24. */
  maxInputElements?: number;
  /** How long the first job of a batch waits for others, in ms. Default 2. */
  batchWindowMs?: number;
  /** Maximum rows (sum of dim 0) in one batched run. Default 32. */
  maxBatchRows?: number;
  /** onnxruntime log severity (0 verbose .. 4 fatal). Default 3 (errors). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

export interface LoadModelOptions {
  /**
   * Micro-batching for this model. `false` (default): off. `true`: on, trusting that the model is batch-exact.
   * An object: on, with `maxRows` overriding the engine's `maxBatchRows` for this model, and, if `samples` are given,
   * only if batched runs of these valid single-job inputs are bit-identical to unbatched runs.
   */
  batching?: boolean | { samples?: readonly TensorMap[]; maxRows?: number };
}

export interface BatchVerification {
  /** Every checked batch gave bit-identical outputs to the unbatched runs. */
  exact: boolean;
  /** Job counts of the batches that were checked. */
  checkedBatchSizes: number[];
  /** Number of (batch, job) pairs whose outputs differed. */
  mismatches: number;
  detail?: string;
}

export interface BatchingState {
  enabled: boolean;
  /** Maximum rows per batched run for this model. */
  maxRows: number;
  /** Every input has a dynamic dim 0. */
  eligible: boolean;
  verification?: BatchVerification;
  /** Why batching is off, when it is. */
  detail?: string;
}

export interface LoadedModelInfo {
  modelId: Hex;
  /** Execution provider the session was created with. */
  executionProvider: string;
  /** The profile the model runs under (the registered one, or this machine's defaults). */
  profile: RuntimeProfile;
  inputs: readonly ModelValueInfo[];
  outputs: readonly ModelValueInfo[];
  irVersion: number;
  byteLength: number;
  loadMs: number;
  batching: BatchingState;
}

export interface RunResult {
  /** Canonical outputs, or the invalid-input result. */
  outputs: TensorMap;
  /** The invalid-input code when the inputs don't fit the model (then `outputs` is `invalidInputResult(invalid)`). */
  invalid?: string;
  /** End-to-end latency inside the engine: queueing, batching window and run. */
  ms: number;
  /** Duration of the session.run that produced the outputs (0 for invalid inputs). */
  runMs: number;
  /** Jobs in that session.run: 1 unbatched, more when micro-batched, 0 for invalid inputs. */
  batchJobs: number;
}

export interface EngineStats {
  jobs: number;
  invalidJobs: number;
  /** session.run calls for jobs (verification runs excluded). */
  runs: number;
  batchedRuns: number;
  batchedJobs: number;
  /** Jobs re-run alone after a failed or non-splittable batch. */
  fallbackJobs: number;
  /** Jobs waiting in batch windows right now. */
  pending: number;
  /** Runs holding one of the `maxConcurrency` slots right now. */
  running: number;
  /** Runs waiting for a slot right now. */
  queued: number;
  /** Jobs accepted and not finished. */
  inFlight: number;
}

interface Job {
  readonly inputs: TensorMap;
  readonly rows: number;
  readonly shapeKey: string;
  readonly start: number;
  resolve(r: RunResult): void;
  reject(e: unknown): void;
}

interface ModelEntry {
  readonly id: Hex;
  readonly info: LoadedModelInfo;
  readonly session: ort.InferenceSession;
  readonly outputNames: readonly string[];
  readonly inflight: Set<Promise<unknown>>;
  batcher: Batcher | undefined;
}

const MODEL_ID = /^0x[0-9a-fA-F]{64}$/;
const RESERVED_PREFIX = "veil.";

function normalizeModelId(modelId: string): Hex {
  if (typeof modelId !== "string" || !MODEL_ID.test(modelId)) throw new InvalidModelIdError(modelId);
  return modelId.toLowerCase() as Hex;
}

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) throw new InferenceError("INVALID_OPTION", `${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

function setEntry(map: TensorMap, name: string, t: Tensor): void {
  // A tensor named "__proto__" must become an own property, not the object's prototype.
  if (name === "__proto__") Object.defineProperty(map, name, { value: t, enumerable: true, writable: true, configurable: true });
  else map[name] = t;
}

/** FIFO counting semaphore. */
class Semaphore {
  private available: number;
  private readonly waiters: (() => void)[] = [];
  constructor(readonly size: number) {
    this.available = size;
  }
  get held(): number {
    return this.size - this.available;
  }
  get waiting(): number {
    return this.waiters.length;
  }
  acquire(): Promise<void> {
    if (this.available > 0) {
      this.available--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next !== undefined) next();
    else this.available++;
  }
  async with<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** Rows of a job if it can join a batch (every input has the same dim 0 >= 1), else undefined. */
function jobRows(inputs: TensorMap): number | undefined {
  let rows: number | undefined;
  for (const name of Object.keys(inputs)) {
    const d0 = inputs[name]!.dims[0];
    if (d0 === undefined || d0 < 1 || (rows !== undefined && d0 !== rows)) return undefined;
    rows = d0;
  }
  return rows;
}

function shapeKeyOf(inputs: TensorMap): string {
  return Object.keys(inputs)
    .sort()
    .map((n) => `${n}\u0000${inputs[n]!.dims.slice(1).join(",")}`)
    .join("\u0001");
}

function concatJobs(jobs: readonly { inputs: TensorMap }[]): TensorMap {
  const feeds: TensorMap = {};
  for (const name of Object.keys(jobs[0]!.inputs)) setEntry(feeds, name, concatDim0(jobs.map((j) => j.inputs[name]!)));
  return feeds;
}

/** Splits batched outputs back per job, or undefined if some output's dim 0 is not the batch's row count. */
function splitOutputs(outputs: TensorMap, rows: readonly number[]): TensorMap[] | undefined {
  const total = rows.reduce((a, b) => a + b, 0);
  const names = Object.keys(outputs);
  if (names.some((n) => outputs[n]!.dims[0] !== total)) return undefined;
  const perJob: TensorMap[] = rows.map(() => ({}));
  for (const name of names) {
    splitDim0(outputs[name]!, rows).forEach((t, i) => setEntry(perJob[i]!, name, t));
  }
  return perJob;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class Batcher {
  private pending: Job[] = [];
  private rows = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly engine: InferenceEngine,
    private readonly model: ModelEntry,
    private readonly windowMs: number,
    readonly maxRows: number,
  ) {}

  get size(): number {
    return this.pending.length;
  }

  submit(inputs: TensorMap, rows: number, start: number): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      if (this.rows + rows > this.maxRows) this.flush();
      this.pending.push({ inputs, rows, shapeKey: shapeKeyOf(inputs), start, resolve, reject });
      this.rows += rows;
      if (this.rows >= this.maxRows) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.windowMs);
    });
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const jobs = this.pending;
    this.pending = [];
    this.rows = 0;
    const groups = new Map<string, Job[]>();
    for (const job of jobs) {
      const g = groups.get(job.shapeKey);
      if (g === undefined) groups.set(job.shapeKey, [job]);
      else g.push(job);
    }
    for (const group of groups.values()) void this.dispatch(group);
  }

  private async dispatch(jobs: Job[]): Promise<void> {
    if (jobs.length > 1 && this.model.batcher === this) {
      let batched: { outputs: TensorMap[]; runMs: number } | undefined;
      try {
        batched = await this.engine._runBatch(this.model, jobs);
      } catch {
        batched = undefined; // a failing batch is retried job by job so one bad job cannot fail the others
      }
      if (batched !== undefined) {
        const end = performance.now();
        jobs.forEach((job, i) =>
          job.resolve({ outputs: batched.outputs[i]!, ms: end - job.start, runMs: batched.runMs, batchJobs: jobs.length }),
        );
        return;
      }
      this.engine._noteFallback(jobs.length);
    }
    for (const job of jobs) {
      this.engine._runSingle(this.model, job.inputs, job.start).then(job.resolve, job.reject);
    }
  }
}

/**
 * Inference engine. Create with {@link createInferenceEngine} (which probes the runtime first).
 */
export class InferenceEngine {
  /** Usable execution providers, best first. */
  readonly executionProviders: readonly string[];
  readonly ortVersion: string = ORT_VERSION;
  /** Highest default-domain opset the runtime loads. */
  readonly maxOpset: number;

  private readonly intraOpNumThreads: number;
  private readonly maxInputElements: number;
  private readonly batchWindowMs: number;
  private readonly maxBatchRows: number;
  private readonly cudaDeviceId: number;
  private readonly logSeverityLevel: 0 | 1 | 2 | 3 | 4;
  private readonly limiter: Semaphore;
  private readonly models = new Map<Hex, ModelEntry>();
  private readonly loading = new Map<Hex, Promise<LoadedModelInfo>>();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;
  private readonly counters = { jobs: 0, invalidJobs: 0, runs: 0, batchedRuns: 0, batchedJobs: 0, fallbackJobs: 0 };

  /** Prefer {@link createInferenceEngine}. `local` is the probed runtime. */
  constructor(local: LocalRuntime, options: InferenceEngineOptions = {}) {
    if (local.executionProviders.length === 0) {
      throw new ExecutionProviderUnavailableError((options.executionProviders ?? DEFAULT_EXECUTION_PROVIDERS).join("|"));
    }
    this.executionProviders = [...local.executionProviders];
    this.maxOpset = local.maxOpset;
    this.ortVersion = local.ortVersion;
    this.intraOpNumThreads = positiveInt("intraOpNumThreads", options.intraOpNumThreads, 1);
    this.maxInputElements = positiveInt("maxInputElements", options.maxInputElements, 1 << 24);
    this.batchWindowMs = positiveInt("batchWindowMs", options.batchWindowMs, 2, 0);
    this.maxBatchRows = positiveInt("maxBatchRows", options.maxBatchRows, 32);
    this.cudaDeviceId = positiveInt("cudaDeviceId", options.cudaDeviceId, 0, 0);
    this.logSeverityLevel = options.logSeverityLevel ?? 3;
    this.limiter = new Semaphore(positiveInt("maxConcurrency", options.maxConcurrency, 4));
  }

  private get local(): LocalRuntime {
    return { ortVersion: this.ortVersion, executionProviders: this.executionProviders, maxOpset: this.maxOpset };
  }

  /** What this engine serves by default: ORT version, best provider, highest opset, "all", sequential. */
  localRuntimeProfile(): RuntimeProfile {
    return toLocalProfile(this.local);
  }

  /** Why a model's registered profile can't be reproduced by this engine (empty: it can). */
  checkProfile(profile: RuntimeProfile): string[] {
    return profileMismatches(profile, this.local);
  }

  /**
   * Loads a model whose file must hash (sha256) to `modelId`; throws {@link ModelHashMismatchError} otherwise. A path
   * is read fully and the session is created from the verified bytes (never re-read from disk), so the file can't be
   * swapped in between. With a `profile` (from the registry) the session uses exactly its execution provider and
   * optimization level and the model's declared opset must equal `profile.opset`; an irreproducible profile throws
   * {@link RuntimeProfileMismatchError}. Without one, the best available provider and "all" are used.
   * Loading an already loaded id returns the existing session.
   */
  async loadModel(
    modelId: string,
    source: Uint8Array | string,
    profile?: RuntimeProfile,
    options: LoadModelOptions = {},
  ): Promise<LoadedModelInfo> {
    this.assertOpen();
    const id = normalizeModelId(modelId);
    for (;;) {
      const existing = this.models.get(id)?.info;
      if (existing !== undefined) {
        if (profile !== undefined) {
          const reasons = this.profileDiff(existing.profile, profile);
          if (reasons.length > 0) throw new RuntimeProfileMismatchError(reasons.map((r) => `already loaded with ${r}`));
        }
        return existing;
      }
      const inProgress = this.loading.get(id);
      if (inProgress === undefined) break;
      // Someone else is loading this id: wait, then use their session, or load ourselves if they failed.
      await inProgress.catch(() => undefined);
      this.assertOpen();
    }
    const pending = this.doLoad(id, source, profile, options);
    this.loading.set(id, pending);
    try {
      return await pending;
    } finally {
      this.loading.delete(id);
    }
  }

  private profileDiff(a: RuntimeProfile, b: RuntimeProfile): string[] {
    const out: string[] = [];
    if (a.executionProvider !== b.executionProvider) out.push(`executionProvider ${a.executionProvider}`);
    if (a.graphOptimizationLevel !== b.graphOptimizationLevel) out.push(`graphOptimizationLevel ${a.graphOptimizationLevel}`);
    if (a.opset !== b.opset) out.push(`opset ${a.opset}`);
    return out;
  }

  private async doLoad(id: Hex, source: Uint8Array | string, registered: RuntimeProfile | undefined, options: LoadModelOptions) {
    const t0 = performance.now();
    let bytes: Uint8Array;
    if (typeof source === "string") bytes = await readFile(source);
    else if (source instanceof Uint8Array) bytes = source;
    else throw new InferenceError("INVALID_OPTION", "model source must be a Uint8Array or a file path");

    const actual = `0x${createHash("sha256").update(bytes).digest("hex")}` as Hex;
    if (actual !== id) throw new ModelHashMismatchError(id, actual);

    let header: ReturnType<typeof readOnnxModelHeader>;
    try {
      header = readOnnxModelHeader(bytes);
    } catch (e) {
      throw new UnsupportedModelError(`not a valid ONNX model: ${(e as Error).message}`, { cause: e });
    }
    if (header.defaultOpset === undefined) throw new UnsupportedModelError("model imports no default-domain (ai.onnx) opset");

    let profile: RuntimeProfile;
    if (registered !== undefined) {
      const reasons = this.checkProfile(registered);
      if (registered.opset !== header.defaultOpset) {
        reasons.push(`profile opset ${registered.opset} != model's declared opset ${header.defaultOpset}`);
      }
      if (reasons.length > 0) throw new RuntimeProfileMismatchError(reasons);
      profile = { ...registered };
    } else {
      if (header.defaultOpset > this.maxOpset) {
        throw new RuntimeProfileMismatchError([`model opset ${header.defaultOpset} > highest supported ${this.maxOpset}`]);
      }
      profile = { ...this.localRuntimeProfile(), opset: header.defaultOpset };
    }

    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, this.sessionOptions(profile.executionProvider, profile.graphOptimizationLevel));
    } catch (e) {
      throw new UnsupportedModelError(`onnxruntime could not load the model: ${(e as Error).message}`, { cause: e });
    }
    try {
      const inputs = describeValues(session.inputMetadata, "input");
      const outputs = describeValues(session.outputMetadata, "output");
      for (const o of outputs) {
        if (o.name.startsWith(RESERVED_PREFIX)) throw new UnsupportedModelError(`output name ${JSON.stringify(o.name)} uses the reserved "veil." prefix`);
      }
      const eligible = inputs.length > 0 && inputs.every(hasDynamicDim0);
      const info: LoadedModelInfo = {
        modelId: id,
        executionProvider: profile.executionProvider,
        profile,
        inputs,
        outputs,
        irVersion: header.irVersion,
        byteLength: bytes.length,
        loadMs: 0,
        batching: { enabled: false, maxRows: this.maxBatchRows, eligible, detail: "not requested" },
      };
      const entry: ModelEntry = { id, info, session, outputNames: [...session.outputNames], inflight: new Set(), batcher: undefined };
      const batching = options.batching;
      if (batching !== undefined && batching !== false) {
        const maxRows = positiveInt("batching.maxRows", batching === true ? undefined : batching.maxRows, this.maxBatchRows);
        if (!eligible) {
          info.batching = { enabled: false, maxRows, eligible, detail: "not every input has a dynamic dim 0" };
        } else if (batching === true || batching.samples === undefined) {
          info.batching = { enabled: true, maxRows, eligible };
        } else {
          const verification = await this.verify(entry, batching.samples);
          info.batching = verification.exact
            ? { enabled: true, maxRows, eligible, verification }
            : { enabled: false, maxRows, eligible, verification, detail: "batched outputs differ from unbatched outputs" };
        }
        if (info.batching.enabled) entry.batcher = new Batcher(this, entry, this.batchWindowMs, maxRows);
      }
      info.loadMs = performance.now() - t0;
      if (this.closed) throw new EngineClosedError();
      this.models.set(id, entry);
      return info;
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  private sessionOptions(ep: string, level: GraphOptimizationLevel): ort.InferenceSession.SessionOptions {
    const provider = ep === "cuda" ? { name: "cuda" as const, deviceId: this.cudaDeviceId } : ep;
    return {
      executionProviders: [provider],
      graphOptimizationLevel: level,
      executionMode: "sequential",
      intraOpNumThreads: this.intraOpNumThreads,
      interOpNumThreads: 1,
      enableCpuMemArena: true,
      enableMemPattern: true,
      enableProfiling: false,
      logSeverityLevel: this.logSeverityLevel,
      extra: { session: { set_denormal_as_zero: "0" } },
    };
  }

  hasModel(modelId: string): boolean {
    return this.models.has(normalizeModelId(modelId));
  }

  /** Info of a loaded model; throws {@link ModelNotLoadedError}. */
  getModel(modelId: string): LoadedModelInfo {
    return this.entry(modelId).info;
  }

  loadedModels(): LoadedModelInfo[] {
    return [...this.models.values()].map((m) => m.info);
  }

  private entry(modelId: string): ModelEntry {
    const id = normalizeModelId(modelId);
    const m = this.models.get(id);
    if (m === undefined) throw new ModelNotLoadedError(id);
    return m;
  }

  /** The invalid-input code for `inputs` against the model's declared inputs, or undefined if they fit. */
  validateInputs(modelId: string, inputs: TensorMap): string | undefined {
    return validateInputs(this.entry(modelId).info.inputs, inputs);
  }

  /**
   * Runs one job. Inputs that don't fit the model resolve (not reject) with the deterministic invalid-input result.
   * Rejects with InvalidTensorError for structurally malformed tensors, {@link InputTooLargeError} above
   * `maxInputElements`, {@link InferenceRunError} if onnxruntime fails, {@link ModelNotLoadedError},
   * {@link EngineClosedError}.
   */
  async run(modelId: string, inputs: TensorMap): Promise<RunResult> {
    const start = performance.now();
    this.assertOpen();
    const model = this.entry(modelId);
    if (inputs === null || typeof inputs !== "object" || Array.isArray(inputs)) {
      throw new InferenceError("INVALID_OPTION", "inputs must be an object mapping names to tensors");
    }
    let elements = 0;
    for (const name of Object.keys(inputs)) {
      validateTensor(inputs[name]!, name);
      elements += inputs[name]!.data.length;
    }
    const invalid = validateInputs(model.info.inputs, inputs);
    if (invalid !== undefined) {
      this.counters.invalidJobs++;
      return { outputs: invalidInputResult(invalid), invalid, ms: performance.now() - start, runMs: 0, batchJobs: 0 };
    }
    if (elements > this.maxInputElements) throw new InputTooLargeError(elements, this.maxInputElements);
    this.counters.jobs++;
    const batcher = model.batcher;
    const rows = batcher !== undefined ? jobRows(inputs) : undefined;
    const p =
      batcher !== undefined && rows !== undefined && rows < batcher.maxRows
        ? batcher.submit(inputs, rows, start)
        : this._runSingle(model, inputs, start);
    return this.track(model, p);
  }

  private track<T>(model: ModelEntry, p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    model.inflight.add(p);
    const done = () => {
      this.inflight.delete(p);
      model.inflight.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /** Runs `feeds` in the model's session, converting outputs. Caller holds the limiter. */
  private async execute(model: ModelEntry, feeds: TensorMap): Promise<{ outputs: TensorMap; runMs: number }> {
    const t0 = performance.now();
    let raw: ort.InferenceSession.ReturnType;
    try {
      raw = await model.session.run(toOrtFeeds(feeds));
    } catch (e) {
      throw new InferenceRunError(model.id, { cause: e });
    }
    const runMs = performance.now() - t0;
    const outputs: TensorMap = {};
    for (const name of model.outputNames) setEntry(outputs, name, fromOrtTensor(name, raw[name]!));
    return { outputs, runMs };
  }

  /** @internal */
  async _runSingle(model: ModelEntry, inputs: TensorMap, start: number): Promise<RunResult> {
    const { outputs, runMs } = await this.limiter.with(() => this.execute(model, inputs));
    this.counters.runs++;
    return { outputs, ms: performance.now() - start, runMs, batchJobs: 1 };
  }

  /** @internal Runs jobs as one batch; undefined (and batching switched off) if outputs aren't batch-shaped. */
  async _runBatch(model: ModelEntry, jobs: readonly Job[]): Promise<{ outputs: TensorMap[]; runMs: number } | undefined> {
    const { outputs, runMs } = await this.limiter.with(() => this.execute(model, concatJobs(jobs)));
    this.counters.runs++;
    const split = splitOutputs(outputs, jobs.map((j) => j.rows));
    if (split === undefined) {
      model.batcher = undefined;
      model.info.batching = { ...model.info.batching, enabled: false, detail: "an output's dim 0 is not the batch size" };
      return undefined;
    }
    this.counters.batchedRuns++;
    this.counters.batchedJobs += jobs.length;
    return { outputs: split, runMs };
  }

  /** @internal */
  _noteFallback(jobs: number): void {
    this.counters.fallbackJobs += jobs;
  }

  /**
   * Checks that running `samples` (valid inputs of a loaded model, one job each, same non-batch dims) as batches gives
   * bit-identical outputs to running them one by one: batches of the first 2, first 3, all, and all in reverse order.
   */
  async verifyBatching(modelId: string, samples: readonly TensorMap[]): Promise<BatchVerification> {
    return this.verify(this.entry(modelId), samples);
  }

  private async verify(model: ModelEntry, samples: readonly TensorMap[]): Promise<BatchVerification> {
    if (!model.info.batching.eligible) {
      return { exact: false, checkedBatchSizes: [], mismatches: 0, detail: "not every input has a dynamic dim 0" };
    }
    if (!Array.isArray(samples) || samples.length < 2) {
      throw new InferenceError("INVALID_OPTION", "batching verification needs at least 2 sample inputs");
    }
    const rows: number[] = [];
    for (const [i, s] of samples.entries()) {
      for (const name of Object.keys(s)) validateTensor(s[name]!, name);
      const invalid = validateInputs(model.info.inputs, s);
      const r = jobRows(s);
      if (invalid !== undefined || r === undefined || shapeKeyOf(s) !== shapeKeyOf(samples[0]!)) {
        throw new InferenceError("INVALID_OPTION", `batching sample ${i} is not a valid batchable input (${invalid ?? "dims"})`);
      }
      rows.push(r);
    }
    const singles: Uint8Array[] = [];
    for (const s of samples) singles.push(encodeTensors((await this.limiter.with(() => this.execute(model, s))).outputs));
    const n = samples.length;
    const all = samples.map((_, i) => i);
    const batches = [...new Set([2, 3, n])].filter((k) => k <= n).map((k) => all.slice(0, k));
    batches.push([...all].reverse());
    let mismatches = 0;
    for (const batch of batches) {
      const { outputs } = await this.limiter.with(() => this.execute(model, concatJobs(batch.map((i) => ({ inputs: samples[i]! })))));
      const split = splitOutputs(outputs, batch.map((i) => rows[i]!));
      if (split === undefined) {
        return { exact: false, checkedBatchSizes: batches.map((b) => b.length), mismatches: 0, detail: "an output's dim 0 is not the batch size" };
      }
      batch.forEach((i, k) => {
        if (!sameBytes(encodeTensors(split[k]!), singles[i]!)) mismatches++;
      });
    }
    return { exact: mismatches === 0, checkedBatchSizes: batches.map((b) => b.length), mismatches };
  }

  /**
   * Turns micro-batching on or off for a loaded model (on requires a dynamic dim 0 on every input), optionally with a
   * new per-model row limit.
   */
  setBatching(modelId: string, enabled: boolean, maxRows?: number): void {
    const model = this.entry(modelId);
    if (!enabled) {
      model.batcher?.flush();
      model.batcher = undefined;
      model.info.batching = { ...model.info.batching, enabled: false, detail: "switched off" };
      return;
    }
    if (!model.info.batching.eligible) {
      throw new InferenceError("INVALID_OPTION", "model is not batchable: not every input has a dynamic dim 0");
    }
    const rows = positiveInt("maxRows", maxRows, model.info.batching.maxRows);
    if (model.batcher?.maxRows !== rows) {
      model.batcher?.flush();
      model.batcher = new Batcher(this, model, this.batchWindowMs, rows);
    }
    model.info.batching = { ...model.info.batching, enabled: true, maxRows: rows, detail: undefined };
  }

  stats(): EngineStats {
    let pending = 0;
    for (const m of this.models.values()) pending += m.batcher?.size ?? 0;
    return { ...this.counters, pending, running: this.limiter.held, queued: this.limiter.waiting, inFlight: this.inflight.size };
  }

  /** Finishes the model's accepted jobs, then releases its session. */
  async unloadModel(modelId: string): Promise<void> {
    const model = this.entry(modelId);
    this.models.delete(model.id);
    model.batcher?.flush();
    await Promise.allSettled([...model.inflight]);
    await model.session.release();
  }

  /** Refuses new work, finishes accepted jobs (flushing batch windows), then releases every session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.models.values()) m.batcher?.flush();
    await Promise.allSettled([...this.inflight, ...this.loading.values()]);
    const sessions = [...this.models.values()].map((m) => m.session);
    this.models.clear();
    await Promise.all(sessions.map((s) => s.release()));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new EngineClosedError();
  }
}

function describeValues(metadata: readonly ort.InferenceSession.ValueMetadata[], kind: "input" | "output"): ModelValueInfo[] {
  return metadata.map((m) => {
    if (!m.isTensor) throw new UnsupportedModelError(`${kind} ${JSON.stringify(m.name)} is not a tensor`);
    if (!isTensorDType(m.type)) throw new UnsupportedModelError(`${kind} ${JSON.stringify(m.name)} has unsupported dtype ${m.type}`);
    return { name: m.name, type: m.type, shape: [...m.shape] };
  });
}

/**
 * Probes the runtime (usable execution providers among `options.executionProviders`, highest loadable opset) and
 * creates an engine. Throws {@link ExecutionProviderUnavailableError} if none of the requested providers works.
 */
export async function createInferenceEngine(options: InferenceEngineOptions = {}): Promise<InferenceEngine> {
  const candidates = options.executionProviders ?? DEFAULT_EXECUTION_PROVIDERS;
  const [executionProviders, maxOpset] = await Promise.all([availableExecutionProviders(candidates), maxSupportedOpset()]);
  return new InferenceEngine({ ortVersion: ORT_VERSION, executionProviders, maxOpset }, options);
}
