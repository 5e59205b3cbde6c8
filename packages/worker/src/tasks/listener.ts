/**
 * The chain listener task: follows the escrow's logs with a block cursor `confirmations` blocks behind the head,
 * detects reorganisations by parent hash and rewinds to the fork point, applies the events to this operator's job
 * records (store.ts) and folds them into the job view, then fans them out: every job an event touched is scheduled
 * at once (scheduler.ts `wake`), not at the next poll. Each pass ends with a scheduling pass over all active jobs
 * (the safety net for anything no event announced) and a notification to the tasks that act once per pass.
 */
import { decodeEventLog, type Address, type Hex, type Log } from "viem";
import { jobEscrowAbi } from "@veil/contracts";
import { JOB_STATUSES, parseJobEvents, reduceJobs, type JobState as EscrowJobState } from "@veil/sdk";
import { LogRangeSizer, LogRangeTooLargeError, logChunks, type LogChunk } from "../chain/logs.js";
import { sleep } from "../internal/retry.js";
import { hexBytes, sameAddress } from "../internal/util.js";
import type { JobRecord } from "../store.js";
import { CURSOR_STREAM, errorMessage, isDone, type ChainJob, type WorkerContext } from "./context.js";
import type { WorkerTask } from "./task.js";

/** Blocks of ingested history whose hashes are remembered to find a reorg's fork point. */
const REORG_WINDOW = 128;

/**
 * Events after which a job of this operator has a step to take: a new assignment (fetch and infer), the reveal
 * phase (reveal), a missed slot (the job stops). The others only record facts that `apply` writes to the record
 * (a challenge end, a settlement, a dispute) or that a step reads from the view when it runs.
 */
const WAKING_EVENTS: ReadonlySet<string> = new Set(["OperatorsAssigned", "RevealPhaseStarted", "SlotMissed"]);

/** What the listener needs of the scheduler (scheduler.ts). */
export interface JobFanout {
  /** An event changed `job`: schedule its next step now (a waiting job is re-read once). */
  wake(job: JobRecord): void;
  /** A reorg: re-read `job` from the chain at its next scheduling, whatever its lane's cadence. */
  recheck(job: JobRecord): void;
  /** The pass's scheduling of every active job. */
  schedule(): void;
}

/**
 * The escrow's view of this operator's jobs, folded from the events the listener reads by the SDK's job reducer
 * (one job model with `getJobHistory`). Steps take a job's state from here instead of a `getJob` call; a step that
 * failed before, and the re-checks that look for posts a reorg removed, read the chain at its head, because this
 * view is `confirmations` blocks behind it. A job this worker never saw submitted (an older job reassigned to it,
 * or one from before a restart) is not here and is read with `getJob`.
 */
export class JobView {
  private jobs = new Map<bigint, EscrowJobState>();

  constructor(private readonly ctx: WorkerContext) {}

  /** The job's state as the events folded so far say; undefined when not there. */
  get(jobId: bigint): ChainJob | undefined {
    const j = this.jobs.get(jobId);
    if (!j) return undefined;
    this.ctx.reads.fromView++;
    return {
      status: JOB_STATUSES.indexOf(j.status),
      operators: [...j.operators],
      slotHashes: [...j.slotHashes],
      slots: j.slots.map((s) => s.state),
      phaseEnd: j.phaseEnd,
    };
  }

  /** Folds a range's escrow logs in, keeping this operator's unsettled jobs only. */
  fold(logs: Log[]): void {
    let parsed;
    try {
      parsed = parseJobEvents(logs, this.ctx.o.addresses.jobEscrow);
      const { jobs, changed } = reduceJobs(this.jobs, parsed);
      for (const id of changed) {
        const j = jobs.get(id)!;
        if (j.status === "Finalized" || j.status === "Refunded" || !j.operators.some((op) => sameAddress(op, this.ctx.address))) jobs.delete(id);
        // Kept small: a job is held here until it settles (an hour's challenge window at the job rate), and the
        // worker reads its input from the store, not from here; only the last log is needed to spot a replay.
        else if (j.input.length > 2 || j.applied.length > 1) jobs.set(id, { ...j, input: "0x", applied: [j.last] });
      }
      this.jobs = jobs;
    } catch (err) {
      // A log the reducer cannot apply here (e.g. a node that gives no block timestamps where one is needed): those
      // jobs leave the view and are read with getJob, as before it existed.
      for (const l of parsed ?? []) this.jobs.delete(l.args.jobId);
      this.ctx.log.debug("job view: fell back to getJob for the jobs of a range", { error: errorMessage(err) });
    }
  }

  /** A reorg: jobs last changed after `fork` are dropped (read with getJob until their events come again). */
  forgetAfter(fork: bigint): void {
    for (const [id, j] of this.jobs) if (j.last.blockNumber > fork) this.jobs.delete(id);
  }
}

export class ChainListener implements WorkerTask {
  readonly name = "listener";
  /**
   * Hashes of recently ingested blocks (range ends), newest last, for reorg detection: a new range whose first block
   * does not extend the cursor's hash means the chain reorganised; the fork point is the newest block whose hash
   * still matches. At most REORG_WINDOW entries.
   */
  private readonly recentHashes = new Map<bigint, Hex>();
  /** The escrow log stream's adaptive getLogs span (starts at maxLogRange; chain/logs.ts). */
  private readonly logRange: LogRangeSizer;
  /** Why events cannot be read at all (a single block too large for the node): /health is unhealthy meanwhile. */
  ingestError: string | undefined;
  /** Block of each job's JobSubmitted seen by `ingest` (until it settles): a reassignment reads that block only. */
  private readonly submittedIn = new Map<bigint, bigint>();
  /** Reorgs seen (depth in blocks of each), for /health and tests. */
  readonly reorgs: Array<{ at: number; forkBlock: bigint; depth: number }> = [];
  private lastUploadGc = 0;
  /** Ends the poll sleep at once on `stop()`. */
  private readonly wake = new AbortController();

  constructor(
    private readonly ctx: WorkerContext,
    readonly view: JobView,
    private readonly jobs: JobFanout,
  ) {
    this.logRange = new LogRangeSizer(ctx.o.maxLogRange);
  }

  async setup(): Promise<void> {}

  async run(): Promise<void> {
    while (!this.ctx.stopped) {
      try {
        await this.pass();
        this.ctx.passes.notify();
      } catch (err) {
        this.ctx.metrics?.rpcErrorsTotal.inc({ method: "tick", kind: "error" });
        this.ctx.log.warn("tick failed; retrying", { error: errorMessage(err) });
      }
      await sleep(this.ctx.o.pollIntervalMs, this.wake.signal).catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.wake.abort(new Error("worker stopping")); // end the poll sleep now, not after a whole interval
  }

  async cleanup(): Promise<void> {}

  /** One pass: ingest confirmed events (waking the jobs they touch), then schedule every job with something to do. */
  async pass(): Promise<void> {
    const { ctx } = this;
    ctx.newPass();
    try {
      await this.ingest();
    } catch (err) {
      // Jobs already ingested still have steps to take (and deadlines): an unreadable range or an RPC failure here
      // must not stop them. /health reports what ingest cannot do; the next pass retries it.
      ctx.metrics?.rpcErrorsTotal.inc({ method: "ingest", kind: "error" });
      ctx.log.warn("reading events failed; jobs already known carry on", { error: errorMessage(err) });
    }
    await ctx.refreshChainNow();
    this.jobs.schedule();
    const uploads = ctx.o.uploads;
    if (uploads && Date.now() - this.lastUploadGc >= 60_000) {
      this.lastUploadGc = Date.now();
      const dropped = uploads.gc();
      if (dropped) ctx.log.info("dropped uploaded blobs no job claimed", { count: dropped });
    }
  }

  private async ingest() {
    const { ctx } = this;
    const { publicClient, store } = ctx.o;
    const head = await publicClient.getBlockNumber({ cacheTime: 0 });
    ctx.lastHead = head;
    ctx.metrics?.setChainHead(head);
    const safe = head - BigInt(ctx.o.confirmations);
    const cursor = store.getCursor(ctx.chainId, CURSOR_STREAM);
    let from = cursor ? cursor.blockNumber + 1n : (ctx.o.startBlock ?? (head > 1_000n ? head - 1_000n : 0n));
    while (from <= safe && !ctx.stopped) {
      const want = from + this.logRange.range - 1n < safe ? from + this.logRange.range - 1n : safe;
      // Reorg check: the range's first block must extend the block the cursor stands on.
      const cur = store.getCursor(ctx.chainId, CURSOR_STREAM);
      const first = await publicClient.getBlock({ blockNumber: from });
      if (cur?.blockHash && cur.blockNumber === from - 1n && first.parentHash !== cur.blockHash) {
        from = (await this.rewind(cur.blockNumber)) + 1n;
        continue;
      }
      // One chunk, whose span halves while the node says the answer is too large (chain/logs.ts).
      let chunk: LogChunk | undefined;
      try {
        for await (const c of logChunks(publicClient, { address: ctx.o.addresses.jobEscrow, fromBlock: from, toBlock: want, sizer: this.logRange })) {
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
        if (!d.args.operators.some((o: Address) => sameAddress(o, ctx.address))) continue;
        const s = await this.fetchSubmitted(d.args.jobId, d.blockNumber);
        if (s) submitted.set(d.args.jobId, s);
      }
      store.withTransaction(() => {
        for (const d of decoded) this.apply(d, submitted);
        store.setCursor(ctx.chainId, CURSOR_STREAM, to, { blockHash: last.hash! });
      });
      this.view.fold(logs);
      this.recentHashes.set(to, last.hash!);
      for (const n of this.recentHashes.keys()) {
        if (this.recentHashes.size <= REORG_WINDOW) break;
        this.recentHashes.delete(n);
      }
      this.fanOut(decoded);
      from = to + 1n;
    }
  }

  /**
   * The jobs a range's events gave a next step take it now (after the fold, so that they read the view), not at
   * the next pass. An assignment names its slots; the rarer phase events look the job's records up.
   */
  private fanOut(decoded: Decoded[]) {
    const { ctx } = this;
    const keys = new Map<string, { chainId: number; jobId: bigint; slot: number }>();
    for (const d of decoded) {
      if (d.eventName === "OperatorsAssigned") {
        d.args.operators.forEach((op: Address, i: number) => {
          if (!sameAddress(op, ctx.address)) return;
          const key = { chainId: ctx.chainId, jobId: d.args.jobId as bigint, slot: Number(d.args.slots[i]) };
          keys.set(`${key.jobId}:${key.slot}`, key);
        });
      } else if (WAKING_EVENTS.has(d.eventName)) {
        for (const job of ctx.jobsOf(d.args.jobId)) keys.set(`${job.jobId}:${job.slot}`, job);
      }
    }
    for (const key of keys.values()) {
      const job = ctx.store.getJob(key);
      if (job && !isDone(job.state)) this.jobs.wake(job);
    }
  }

  /**
   * The chain reorganised below `cursorBlock`: finds the fork point (the newest remembered block whose hash the chain
   * still has; REORG_WINDOW blocks back at most), moves the cursor back to it, resyncs the nonce and marks every
   * active job to be re-read. Events after the fork are ingested again (applying an event twice is a no-op), and a
   * job whose own commit, result or reveal the reorg removed steps back and sends it again (scheduler.ts
   * `advance`). Returns the fork block.
   */
  private async rewind(cursorBlock: bigint): Promise<bigint> {
    const { ctx } = this;
    const { publicClient, store } = ctx.o;
    const cursor = store.getCursor(ctx.chainId, CURSOR_STREAM)!;
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
      ctx.log.error("chain reorganised deeper than the remembered blocks; re-reading from the window's start", { cursorBlock, fork });
    }
    const forkHash = (await publicClient.getBlock({ blockNumber: fork })).hash!;
    store.setCursor(ctx.chainId, CURSOR_STREAM, fork, { blockHash: forkHash, allowRewind: true });
    for (const n of [...this.recentHashes.keys()]) if (n > fork) this.recentHashes.delete(n);
    for (const [id, block] of this.submittedIn) if (block > fork) this.submittedIn.delete(id);
    this.view.forgetAfter(fork);
    for (const job of store.activeJobs({ chainId: ctx.chainId })) this.jobs.recheck(job);
    // Our transactions in the dropped blocks are gone from the chain (and nodes do not put them back in their
    // pools): fill the holes they leave in our nonce sequence before anything else is sent, then re-read the nonce.
    const filled = await ctx.sender.fillGaps().catch((err: unknown) => {
      ctx.log.warn("could not check the nonce sequence after a reorg; the next stuck receipt retries", { error: errorMessage(err) });
      return 0;
    });
    ctx.sender.resync();
    const depth = Number(cursorBlock - fork);
    this.reorgs.push({ at: Date.now(), forkBlock: fork, depth });
    if (this.reorgs.length > 100) this.reorgs.shift();
    ctx.metrics?.rpcErrorsTotal.inc({ method: "reorg", kind: "reorg" });
    ctx.log.warn("chain reorganised: events re-read from the fork point, active jobs re-checked", { forkBlock: fork, depth, nonceGapsFilled: filled });
    return fork;
  }

  private apply(d: Decoded, submitted: Map<bigint, SubmittedJob>) {
    const { ctx } = this;
    const { store } = ctx.o;
    const a = d.args;
    switch (d.eventName) {
      case "OperatorsAssigned": {
        const s = submitted.get(a.jobId);
        a.operators.forEach((op: Address, i: number) => {
          const slot = Number(a.slots[i]);
          const key = { chainId: ctx.chainId, jobId: a.jobId as bigint, slot };
          const existing = store.getJob(key);
          if (sameAddress(op, ctx.address)) {
            if (!s) return;
            if (existing && !isDone(existing.state) && existing.inputHash !== undefined && s.inputHash.toLowerCase() !== existing.inputHash.toLowerCase()) {
              // Same id, other input. A job id carries its input's tag (uint64 of keccak256(modelId, inputHash)), so a
              // submission a reorg replaced with another input gets another id and a post for the old one reverts
              // (JobEscrowUnknownJob): this is left for a 64-bit tag collision only. The old result must never be
              // posted for the new job; the record stops here.
              store.transition(key, existing.state, "failed", { failReason: "submission replaced by a chain reorganisation (the job id now has another input)" });
              ctx.log.error("a reorg replaced an assigned job's submission with another input under the same id; the old result is dropped", { jobId: a.jobId, slot });
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
        for (const job of ctx.jobsOf(a.jobId)) {
          if (!isDone(job.state)) store.transition(job, job.state, job.state, { meta: { phaseEnd: Number(a.phaseEnd) } });
        }
        break;
      case "ResultProposed":
        // When the challenge window ends, the job can be finalized (settler.ts).
        for (const job of ctx.jobsOf(a.jobId)) {
          if (!isDone(job.state)) store.transition(job, job.state, job.state, { meta: { challengeEnd: Number(a.challengeEnd) } });
        }
        break;
      case "JobFinalized":
        ctx.markAll(a.jobId, "finalized");
        break;
      case "JobRefunded":
        ctx.markAll(a.jobId, "refunded");
        break;
      case "JobDisputed":
        for (const job of ctx.jobsOf(a.jobId)) {
          if (["committed", "reveal_pending", "revealed", "served"].includes(job.state)) store.transition(job, job.state, "disputed");
        }
        break;
    }
  }

  /**
   * The JobSubmitted event of a job assigned to us after its submission (a reassignment): read from the block this
   * worker saw it in, or else searched backwards from `before` one `maxLogRange` at a time (a job lives at most the
   * escrow's maxJobDuration, so it is near), down to `startBlock`. Never one scan from block 0.
   */
  private async fetchSubmitted(jobId: bigint, before: bigint): Promise<SubmittedJob | undefined> {
    const { o } = this.ctx;
    const read = async (fromBlock: bigint, toBlock: bigint) => {
      const logs = await o.publicClient.getContractEvents({
        address: o.addresses.jobEscrow, abi: jobEscrowAbi, eventName: "JobSubmitted", args: { jobId }, fromBlock, toBlock,
      });
      const log = logs[0] as unknown as { args: Record<string, any> } | undefined;
      return log ? toSubmitted(log.args) : undefined;
    };
    const seen = this.submittedIn.get(jobId);
    if (seen !== undefined) {
      const s = await read(seen, seen);
      if (s) return s;
    }
    const floor = o.startBlock ?? 0n;
    for (let to = before; to >= floor; to -= o.maxLogRange) {
      const from = to - o.maxLogRange + 1n > floor ? to - o.maxLogRange + 1n : floor;
      const s = await read(from, to);
      if (s) return s;
      if (from === floor) break;
    }
    return undefined;
  }
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
