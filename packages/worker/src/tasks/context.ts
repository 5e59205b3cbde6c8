/**
 * What the worker's tasks share (task.ts): the options, the store, the transaction sender and post batcher, the
 * models, the chain clock, and the helpers every task reads the escrow with. One object, built by `VeilWorker`, so
 * that a task's constructor says what it depends on and no task reaches into another's state.
 */
import type { Address, Hex } from "viem";
import { jobEscrowAbi } from "@veil/contracts";
import { JOB_STATUSES, slotStates, type Comparator, type SlotState } from "@veil/sdk";
import type { TxSender } from "../chain/sender.js";
import type { PostBatcher } from "../chain/batcher.js";
import { isJobRecycled } from "../chain/settled.js";
import type { InputResolver } from "../blobs.js";
import type { Logger } from "../internal/log.js";
import type { JobKey, JobRecord, JobState } from "../store.js";
import type { VeilWorkerOptions } from "../worker.js";
import { PassSignal } from "./task.js";

/** On-chain job status (IJobEscrow.Status). */
export const JobStatus = { None: 0, Assigned: 1, Revealing: 2, Proposed: 3, Disputed: 4, Finalized: 5, Refunded: 6 } as const;

/** The worker's options with their defaults filled in (worker.ts constructor). */
export type ResolvedOptions = Required<Omit<VeilWorkerOptions, "metrics" | "startBlock" | "fetchInput" | "privacy" | "uploads">> &
  Pick<VeilWorkerOptions, "metrics" | "startBlock" | "fetchInput" | "privacy" | "uploads">;

export interface ModelInfo {
  modelId: Hex;
  comparator: Comparator;
  path?: string;
}

/** A job's escrow state (read from the chain, or from the listener's event-folded view). */
export interface ChainJob {
  status: number;
  operators: Address[];
  slotHashes: Hex[];
  /** Each slot's named state, by slot (the SDK's `slotStates`, whichever way the job was read). */
  slots: SlotState[];
  phaseEnd: number;
}

/** `chainJob` of a job whose escrow record was reused by a later job. */
export const RECYCLED = Symbol("recycled");
export const ZERO32 = `0x${"0".repeat(64)}` as Hex;
/** The store cursor of the escrow's event stream. */
export const CURSOR_STREAM = "escrow";

export class WorkerContext {
  /** getJob reads saved by the view, and made (for metrics, bench and tests). */
  readonly reads = { fromView: 0, fromChain: 0 };
  /** Result hash -> result blob of this worker's inferences (see `VeilWorker.resultBlobFor`). */
  readonly resultBlobs = new Map<string, Hex>();
  readonly models = new Map<Hex, ModelInfo>();
  /** Notified after every listener pass: the settler and the validator act once per pass. */
  readonly passes = new PassSignal();
  /** Job steps in flight (scheduler.ts runs them; the processor and poster wait for them when they stop), by job. */
  readonly inFlight = new Map<string, Promise<void>>();
  /** Set by `VeilWorker.stop`: no new step starts once it is. */
  stopped = false;
  /** The head block's timestamp as of the last pass (scheduling compares phase ends against it). */
  chainNow = 0n;
  /** When `chainNow` was read (wall clock): /health extrapolates chain time from it while the RPC is down. */
  chainNowAt = 0;
  /** The chain head as of the last pass. */
  lastHead = 0n;
  /** The latest block's timestamp, read at most once per pass (decline and finalize checks of every job share it). */
  private headTime: Promise<bigint> | undefined;

  constructor(
    readonly chainId: number,
    readonly address: Address,
    readonly o: ResolvedOptions,
    readonly sender: TxSender,
    readonly posts: PostBatcher,
    readonly inputs: InputResolver,
  ) {}

  get log(): Logger {
    return this.o.logger;
  }

  get store() {
    return this.o.store;
  }

  get metrics() {
    return this.o.metrics;
  }

  /** Resolves once no job step is in flight, including steps started while waiting. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }

  /** A new pass: the head's timestamp is read again at its first use. */
  newPass(): void {
    this.headTime = undefined;
  }

  latestTimestamp(): Promise<bigint> {
    this.headTime ??= this.o.publicClient.getBlock({ blockTag: "latest" }).then(
      (b) => b.timestamp,
      (err) => {
        this.headTime = undefined; // not cached: the next caller retries
        throw err;
      },
    );
    return this.headTime;
  }

  /** Reads the head's timestamp for this pass into `chainNow`. */
  async refreshChainNow(): Promise<void> {
    this.chainNow = await this.latestTimestamp();
    this.chainNowAt = Date.now();
  }

  /** The job's escrow state, or RECYCLED when it settled and its record now holds a later job (chain/settled.ts). */
  async chainJob(jobId: bigint): Promise<ChainJob | typeof RECYCLED> {
    this.reads.fromChain++;
    let j;
    try {
      j = await this.o.publicClient.readContract({ address: this.o.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "getJob", args: [jobId] });
    } catch (err) {
      if (isJobRecycled(err)) return RECYCLED;
      throw err;
    }
    const operators = j.operators as Address[];
    const slotHashes = j.slotHashes as Hex[];
    const status = Number(j.status);
    const slots = slotStates({
      status: JOB_STATUSES[status] ?? "None",
      redundancy: operators.length,
      operators,
      slotHashes,
      commitMask: Number(j.commitMask),
      revealMask: Number(j.revealMask),
      declinedMask: Number(j.declinedMask),
      missedMask: Number(j.missedMask),
    });
    return { status, operators, slotHashes, slots: slots.map((s) => s.state), phaseEnd: Number(j.phaseEnd) };
  }

  /** This worker's records of a job (one per slot it holds or held). */
  jobsOf(jobId: bigint): JobRecord[] {
    const out: JobRecord[] = [];
    for (let slot = 0; slot < 7; slot++) {
      const j = this.o.store.getJob({ chainId: this.chainId, jobId, slot });
      if (j) out.push(j);
    }
    return out;
  }

  markAll(jobId: bigint, to: "finalized" | "refunded" | "failed", patch?: { failReason: string }): void {
    for (const job of this.jobsOf(jobId)) if (!isDone(job.state)) this.o.store.transition(job, job.state, to, patch);
  }
}

export function isDone(state: JobState): boolean {
  return state === "finalized" || state === "refunded" || state === "reassigned" || state === "failed";
}

export function keyString(k: JobKey): string {
  return `${k.chainId}:${k.jobId}:${k.slot}`;
}

export function errorMessage(err: unknown): string {
  return String((err as Error)?.message ?? err);
}
