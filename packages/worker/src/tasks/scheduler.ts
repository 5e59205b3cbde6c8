/**
 * Job scheduling, shared by the tasks (task.ts): which job's next step runs now, in which lane, and the job state
 * machine that picks the step (`advance`). The listener wakes the jobs its events touch and runs a scheduling pass
 * after each poll; the processor's and poster's steps run in the lanes below.
 *
 * A job's next step runs in one of four lanes, each with its own bound, so that waiting never takes the place of
 * work (an honest operator whose slots were held by jobs that only wait would miss deadlines and be slashed):
 *
 *   infer  `maxConcurrency`: reading an inline input and running the model (assigned, input_ready).
 *   post   max(maxConcurrency, 8 x maxPostBatch): commits, reveals and k = 1 results (inferred .. revealed). Sends
 *          share one nonce queue and one multicall batcher, and pipeline (receipts are awaited side by side); a post
 *          uses no CPU while it waits for its block, so the bound is the multicalls in flight: 8 of 20 posts
 *          (2 of them capped a worker at ~35 posts/s with 1 s blocks, bench/load.ts).
 *   fetch  FETCH_LANE: input blobs by reference (network I/O; a failing fetch backs off, see `retry`).
 *   watch  WATCH_LANE: one chain read of a job that waits for the chain (committed: for the reveal phase; served or
 *          disputed: for settlement).
 *
 * A waiting job holds no slot and is not read tick after tick: it is read again when an event touches it (the
 * listener's `wake`), when the phase it waits for ends (a timer: a wall-clock setTimeout, and the chain clock
 * checked at every pass, since test chains jump in time), after a reorg, or, once past its phase end and still
 * waiting, every WATCH_RECHECK_MS as a safety net.
 *
 * Within a lane the job whose current phase ends first goes first. A job runs its steps back to back while the
 * next step's lane has room (a job usually goes from assigned to served in one run), and a finished run hands
 * its slot on at once (`pump`). A run that makes no progress (a blob or key that has not arrived, a failed RPC)
 * backs off before its next try, so it cannot hold a lane tick after tick either.
 */
import { TxRevertedError, isRevert, revertReason } from "../chain/sender.js";
import { sameAddress } from "../internal/util.js";
import type { JobRecord, JobState } from "../store.js";
import { isValidatorRecord } from "../validator.js";
import { JobStatus, RECYCLED, errorMessage, isDone, keyString, type ChainJob, type WorkerContext } from "./context.js";
import type { JobFanout, JobView } from "./listener.js";
import type { Poster } from "./poster.js";
import type { Processor } from "./processor.js";
import type { Settler } from "./settler.js";

type LaneName = "infer" | "post" | "fetch" | "watch";
/** Pump order: posts first (they free collateral and meet windows), then inference, fetches and chain re-reads. */
const LANE_NAMES: readonly LaneName[] = ["post", "infer", "fetch", "watch"];
/** Post lane size, in multicalls of `maxPostBatch` posts awaiting their blocks. */
const POST_LANE_BATCHES = 8;
/** Concurrent input-blob fetches (network I/O: each is bounded by its own timeout). */
const FETCH_LANE = 16;
/** Concurrent chain reads of waiting jobs. */
const WATCH_LANE = 16;
/** Waiting jobs are moved by events and timers; a chain read every this often is only a safety net. */
const WATCH_RECHECK_MS = 60_000;
/** Longest backoff of a job whose runs make no progress (well inside the default 60 s decline margin). */
const RETRY_MAX_MS = 15_000;
/** A phase-end timer fires this long after the wall-clock estimate of the end (block times are whole seconds). */
const TIMER_SLACK_MS = 1_000;

interface Queued {
  job: JobRecord;
  lane: LaneName;
}

export class Scheduler implements JobFanout {
  /** Slots per lane. */
  readonly lanes: Record<LaneName, Lane>;
  /** Jobs waiting for a slot, per lane, most urgent first (per lane, so a pump never walks another lane's backlog). */
  private queues: Record<LaneName, Queued[]> = { infer: [], post: [], fetch: [], watch: [] };
  /** Since when (ms) each queued infer/post job has waited for a slot. */
  waitingSince = new Map<string, number>();
  /** Starved jobs already warned about (once each). */
  private readonly starvedWarned = new Set<string>();
  /** Jobs whose last run made no progress: not run again before `at` (ms). */
  private readonly retry = new Map<string, { failures: number; at: number }>();
  /** Waiting (committed, served, disputed) jobs: when they were last read from the chain (wall ms, and chain time). */
  private readonly watched = new Map<string, { at: number; chainTime: bigint }>();
  /** Jobs to re-read from the chain at their next scheduling (after a reorg), whatever their lane's cadence. */
  private readonly rechecks = new Set<string>();
  /** Jobs an event touched since their last run: a waiting one is read once more, a running one re-queued after. */
  private readonly woken = new Set<string>();
  /** Phase-end timers of waiting jobs (cleared when the job runs, is done, or the worker stops). */
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly ctx: WorkerContext,
    private readonly view: JobView,
    private readonly processor: Processor,
    private readonly poster: Poster,
    private readonly settler: Settler,
  ) {
    const o = ctx.o;
    this.lanes = {
      infer: new Lane(o.maxConcurrency),
      post: new Lane(Math.max(o.maxConcurrency, POST_LANE_BATCHES * o.maxPostBatch)),
      fetch: new Lane(FETCH_LANE),
      watch: new Lane(WATCH_LANE),
    };
  }

  /** Clears every phase-end timer (the worker is stopping). */
  clearTimers(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  recheck(job: JobRecord): void {
    this.rechecks.add(keyString(job));
  }

  /**
   * An event (listener.ts) or a phase-end timer changed what `job` can do: its next step starts now if its lane
   * has room. Otherwise it waits for the pass's `schedule`, which queues it by urgency (queuing it here as well
   * would cost a walk of the lane's backlog per event, while a burst of assignments arrives).
   */
  wake(job: JobRecord): void {
    if (this.ctx.stopped || isValidatorRecord(job)) return;
    const key = keyString(job);
    this.woken.add(key);
    if (this.ctx.inFlight.has(key)) return; // looked at again when its run ends (`launch`)
    const lane = this.laneOf(job, Date.now());
    if (lane && this.lanes[lane].tryAcquire()) this.launch(job, lane);
  }

  /** Jobs waiting for a slot, per lane (`veil_worker_queue_depth`). */
  queueDepth(): Record<LaneName, number> {
    const q = this.queues;
    return { infer: q.infer.length, post: q.post.length, fetch: q.fetch.length, watch: q.watch.length };
  }

  /** The pass's scheduling: every active job with a step to run is queued in its lane, most urgent first. */
  schedule(): void {
    const now = Date.now();
    const queue: Queued[] = [];
    const active = new Set<string>();
    for (const job of this.ctx.store.activeJobs({ chainId: this.ctx.chainId })) {
      if (isValidatorRecord(job)) continue; // the validator's own records (validator.ts)
      const key = keyString(job);
      active.add(key);
      if (this.ctx.inFlight.has(key)) continue;
      const lane = this.laneOf(job, now);
      if (lane) queue.push({ job, lane });
    }
    // Forget jobs that are done.
    for (const map of [this.retry, this.watched]) for (const key of map.keys()) if (!active.has(key)) map.delete(key);
    for (const key of this.woken) if (!active.has(key)) this.woken.delete(key);
    for (const key of this.timers.keys()) if (!active.has(key)) this.disarm(key);
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
   * Starts queued jobs while their lanes have room; the rest wait for a slot (or the next pass). A pump runs after
   * every finished step, so it costs O(jobs started), not O(backlog): only the heads of lanes with room are looked at.
   */
  private pump(now = Date.now()) {
    if (this.ctx.stopped) return;
    for (const name of LANE_NAMES) {
      const queue = this.queues[name];
      while (queue.length > 0 && this.lanes[name].active < this.lanes[name].size) {
        const q = queue.shift()!;
        const key = keyString(q.job);
        if (this.ctx.inFlight.has(key)) continue;
        const job = this.ctx.store.getJob(q.job); // fresh: it may have moved since it was queued
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
    // A backing-off job is still tried every pass once its decline margin is near, so a decline is never late.
    if (retry && now < retry.at && !this.nearDecline(job)) return undefined;
    if (this.rechecks.has(key) && (job.state === "committed" || job.state === "served" || job.state === "disputed")) return "watch";
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
      case "served":
      case "disputed":
        return this.waitingLane(job, key, now);
      default:
        return undefined;
    }
  }

  /**
   * A job waiting for the chain: committed (for the reveal phase: its RevealPhaseStarted event, or its commit
   * window's end), served (for its challenge window's end and settlement) or disputed. "watch" when it is to be
   * read now, else undefined (it holds no slot, and a timer wakes it at its phase end).
   */
  private waitingLane(job: JobRecord, key: string, now: number): LaneName | undefined {
    // Only a committed job has anything to read after an event (the reveal phase); a served or disputed record is
    // moved by the events themselves (listener.ts `apply`), and a read per event would double the RPC calls per job.
    if (job.state === "committed" && this.woken.has(key)) return "watch";
    const end = job.state === "committed" ? job.meta.phaseEnd : job.meta.challengeEnd;
    if (job.state === "served" && typeof end !== "number") return "watch";
    const chainNow = this.ctx.chainNow;
    const last = this.watched.get(key);
    if (last === undefined) {
      // A job just committed, or found committed after a restart, is read once: the reveal phase may have begun
      // before it got here (the RevealPhaseStarted event was applied while it was still sending its commit, or
      // before the restart), and no later event would tell.
      if (job.state === "committed") return "watch";
      this.watched.set(key, { at: now, chainTime: chainNow }); // a served job first seen: its events drive it
    } else if (typeof end === "number" && last.chainTime <= BigInt(end) && chainNow > BigInt(end)) {
      // Read again once its phase has ended (a served job is about to be settled, by this worker or another
      // account: a record reused at once is only noticed by reading).
      return "watch";
    } else if (now - last.at >= WATCH_RECHECK_MS && (typeof end !== "number" || chainNow > BigInt(end))) {
      // The safety net reads only jobs past their phase end that are still waiting (or whose end is unknown):
      // before it, events and the timer move the job, and a read of every served job each minute grew with the
      // jobs held (3.7 getJob calls per job at 22,000 served jobs in their 1 h window, bench/load.ts --soak).
      return "watch";
    }
    if (typeof end === "number" && !this.timers.has(key)) this.arm(key, end);
    return undefined;
  }

  /** A timer that wakes the waiting job `key` when chain time reaches `end` (estimated from the last pass's clock). */
  private arm(key: string, end: number) {
    this.disarm(key);
    const { chainNow, chainNowAt } = this.ctx;
    if (chainNow === 0n || BigInt(end) < chainNow) return;
    const ms = (end - Number(chainNow)) * 1000 - (Date.now() - chainNowAt) + TIMER_SLACK_MS;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      const [chainId, jobId, slot] = key.split(":");
      const job = this.ctx.store.getJob({ chainId: Number(chainId), jobId: BigInt(jobId!), slot: Number(slot) });
      if (job && !isDone(job.state)) this.wake(job);
    }, Math.max(0, ms));
    timer.unref();
    this.timers.set(key, timer);
  }

  private disarm(key: string) {
    const t = this.timers.get(key);
    if (t !== undefined) clearTimeout(t);
    this.timers.delete(key);
  }

  private launch(job: JobRecord, lane: LaneName) {
    const key = keyString(job);
    this.waitingSince.delete(key);
    this.starvedWarned.delete(key);
    if (lane === "watch") this.watched.set(key, { at: Date.now(), chainTime: this.ctx.chainNow });
    this.rechecks.delete(key);
    this.woken.delete(key);
    this.disarm(key);
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
        this.ctx.inFlight.delete(key);
        // An event that came during the run (the last commit's RevealPhaseStarted, say) is acted on now.
        this.pump();
        const again = this.woken.has(key) ? this.ctx.store.getJob(job) : undefined;
        if (again && !isDone(again.state)) this.wake(again);
      });
    this.ctx.inFlight.set(key, p);
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
          const fromView = held === "infer" || held === "fetch" || (held === "post" && job.attempts === 0 && !this.rechecks.has(keyString(job)));
          const viewed = fromView ? this.view.get(job.jobId) : undefined;
          fresh = viewed === undefined;
          chain = viewed ?? (await this.ctx.chainJob(job.jobId));
        }
        await this.advance(job, chain, fresh);
        const next = this.ctx.store.getJob(job);
        if (!next || next.state === job.state) return progressed;
        progressed = true;
        if (isDone(next.state) || this.ctx.stopped) return progressed;
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
    const chainNow = this.ctx.chainNow;
    if (typeof end !== "number" || chainNow === 0n) return true;
    return chainNow + BigInt(this.ctx.o.declineMarginSeconds) + BigInt(Math.ceil(RETRY_MAX_MS / 1000)) >= BigInt(end);
  }

  /** A run that moved its job clears its backoff; one that did not (waiting, or failed) retries later and later. */
  private noteProgress(key: string, progressed: boolean) {
    if (progressed) {
      this.retry.delete(key);
      return;
    }
    const failures = (this.retry.get(key)?.failures ?? 0) + 1;
    // The first retry is the next pass; then doubling, at most RETRY_MAX_MS (well inside the decline margin).
    const delay = failures <= 1 ? 0 : Math.min(this.ctx.o.pollIntervalMs * 2 ** (failures - 1), RETRY_MAX_MS);
    this.retry.set(key, { failures, at: Date.now() + delay });
  }

  /** Jobs that have waited for an infer/post slot longer than `slotWaitWarnMs`: logged once each, and in /health. */
  private noteStarved(now: number) {
    for (const key of this.starvedWarned) if (!this.waitingSince.has(key)) this.starvedWarned.delete(key);
    for (const [key, since] of this.waitingSince) {
      if (now - since < this.ctx.o.slotWaitWarnMs || this.starvedWarned.has(key)) continue;
      this.starvedWarned.add(key);
      const q = this.queues.infer.find((x) => keyString(x.job) === key) ?? this.queues.post.find((x) => keyString(x.job) === key);
      this.ctx.log.warn("job has waited long for a processing slot: raise --max-concurrency or take fewer jobs", {
        jobId: q?.job.jobId,
        slot: q?.job.slot,
        state: q?.job.state,
        waitedSeconds: Math.round((now - since) / 1000),
        phaseEnd: q?.job.meta.phaseEnd,
        busy: { infer: this.lanes.infer.active, post: this.lanes.post.active },
        maxConcurrency: this.ctx.o.maxConcurrency,
      });
    }
  }

  // ---------------------------------------------------------------- job state machine

  /** One step of `job`, given the chain's view of it. */
  private async advance(job: JobRecord, chain: ChainJob | typeof RECYCLED, fresh = true): Promise<void> {
    const { store } = this.ctx;
    if (chain === RECYCLED) return this.settler.settleRecycled(job);
    const onChainOperator = chain.operators[job.slot];
    if (!sameAddress(onChainOperator, this.ctx.address)) {
      store.transition(job, job.state, "reassigned", { failReason: "slot no longer ours" });
      return;
    }
    if (chain.status === JobStatus.Finalized) return void store.transition(job, job.state, "finalized");
    if (chain.status === JobStatus.Refunded) return void store.transition(job, job.state, "refunded");
    if (isMissed(chain, job.slot)) return void store.transition(job, job.state, "failed", { failReason: "missed a deadline" });

    const stepBack = fresh ? removedPost(job, chain) : undefined;
    if (stepBack) {
      this.ctx.log.warn("a reorg removed this worker's post; sending it again", { jobId: job.jobId, slot: job.slot, state: job.state, to: stepBack });
      job = store.transition(job, job.state, stepBack, { lastError: "post removed by a chain reorganisation" });
      // The transaction that carried the post is gone with its block, and with it a nonce of ours: fill the hole
      // before sending again, or the new post waits behind it (the listener may not have seen this reorg at all:
      // a replaced head block it had not ingested yet).
      await this.ctx.sender.fillGaps().catch(() => 0);
    }
    switch (job.state) {
      case "assigned":
        return this.processor.fetchInput(job, chain);
      case "input_ready":
        return this.processor.infer(job, chain);
      case "inferred":
      case "commit_pending":
        if (chain.status !== JobStatus.Assigned) return this.failIfPast(job, chain);
        return job.redundancy === 1 ? this.poster.postResult(job, chain) : this.poster.commit(job, chain);
      case "committed":
        // The reveal phase has begun: the reveal is a post like any other (post lane).
        if (chain.status === JobStatus.Revealing) store.transition(job, "committed", "reveal_pending");
        return;
      case "reveal_pending":
        if (job.redundancy === 1) return this.poster.postResult(job, chain);
        return this.poster.reveal(job, chain);
      case "revealed":
        store.transition(job, "revealed", "served");
        return;
      case "served":
      case "disputed":
        return this.noteChallengeEnd(job, chain);
    }
  }

  /** A proposed job: its challenge end, for the settler (normally already known from its ResultProposed event). */
  private noteChallengeEnd(job: JobRecord, chain: ChainJob) {
    if (chain.status !== JobStatus.Proposed || job.meta.challengeEnd === chain.phaseEnd) return;
    this.ctx.store.transition(job, job.state, job.state, { meta: { challengeEnd: chain.phaseEnd } });
  }

  private failIfPast(job: JobRecord, chain: ChainJob) {
    // The chain moved past the step this slot was preparing (e.g. reassigned or refunded): stop working on it.
    if (chain.status === JobStatus.Revealing && job.redundancy > 1 && chain.slots[job.slot] !== "pending") {
      this.ctx.store.transition(job, job.state, "committed");
    }
  }

  private onJobError(job: JobRecord, err: unknown) {
    const { store, log } = this.ctx;
    const current = store.getJob(job);
    if (!current || isDone(current.state)) return;
    if (err instanceof TxRevertedError || isRevert(err)) {
      const name = err instanceof TxRevertedError ? err.errorName : revertReason(err).errorName;
      if (name === "JobEscrowUnknownJob") {
        // The id is not on this chain: a reorg removed the submission this record was made for (an id, once
        // issued, exists until its record is reused). Its record may now hold another submission, but that one has
        // another id (the id carries its input's tag), so a read or post of this id reverts instead of landing on
        // it (a post fails its simulation and is not sent): the job is gone, and no slot of it can be slashed. It may come back, re-included,
        // until its deadline; past it nothing can, and a record kept would count as a job at risk in /health
        // forever. Meanwhile it is only re-read, with the scheduler's backoff.
        if (current.deadline !== undefined && this.ctx.chainNow > current.deadline) {
          store.transition(current, current.state, "failed", { failReason: "its submission is no longer on chain (removed by a reorg) and its deadline has passed" });
          log.warn("dropped a job whose submission a reorg removed and that did not come back before its deadline", { jobId: job.jobId, slot: job.slot });
          return;
        }
        if (current.attempts === 0) log.warn("a job's submission is not on chain (removed by a reorg): waiting for it to be re-included", { jobId: job.jobId, slot: job.slot });
        store.transition(current, current.state, current.state, { lastError: "submission not on chain", incrementAttempts: true });
        return;
      }
      // A revert never succeeds by retrying: the window closed or the job moved on. Re-read on the next pass;
      // if the chain says the slot missed its step, advance() marks it failed.
      store.transition(current, current.state, current.state, { lastError: String((err as Error).message).slice(0, 300), incrementAttempts: true });
      log.warn("transaction would revert", { jobId: job.jobId, slot: job.slot, error: (err as Error).message });
      return;
    }
    store.transition(current, current.state, current.state, { lastError: errorMessage(err).slice(0, 300), incrementAttempts: true });
    log.warn("job step failed; will retry", { jobId: job.jobId, slot: job.slot, state: current.state, error: errorMessage(err) });
  }
}

/**
 * The state to go back to when the chain no longer has a post this worker made (a reorg removed the block it was
 * in; the transaction may return from the mempool, or not): a commit missing while the job still takes commits, a
 * reveal (or a k = 1 result) missing while it still takes them. Re-sending is safe: the commitment and salt are
 * persisted, and a post that lands twice reverts without effect.
 */
function removedPost(job: JobRecord, chain: ChainJob): JobState | undefined {
  const slot = chain.slots[job.slot];
  if (job.redundancy === 1) {
    const posted = job.state === "revealed" || job.state === "served";
    return posted && chain.status === JobStatus.Assigned && slot !== "posted" ? "reveal_pending" : undefined;
  }
  if ((job.state === "committed" || job.state === "revealed" || job.state === "served") && chain.status === JobStatus.Assigned && slot !== "committed") {
    return "commit_pending";
  }
  if ((job.state === "revealed" || job.state === "served") && chain.status === JobStatus.Revealing && slot !== "revealed") return "reveal_pending";
  return undefined;
}

function isMissed(chain: ChainJob, slot: number) {
  return chain.slots[slot] === "missed";
}

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
