/**
 * The worker's parts (chain listener, processor, poster, settler, validator) are tasks with one lifecycle, as in
 * infernet-node and Ponder: `setup` (before anything runs: a failure here is fatal, the worker does not start),
 * `run` (the task's loop, until `stop`), `stop` (finish what is in flight; persisted state makes an interrupted
 * step safe either way) and `cleanup` (release what setup took). The runner sets tasks up in order, runs them side
 * by side, stops them in reverse order (validator and settler first, the listener last; the worker's `stopped` flag
 * has closed the door to new steps before, see worker.ts `stop`), cleans them up, and logs every transition.
 *
 * A task whose `run` throws is logged and restarted with a doubling backoff: one part failing (an RPC outage
 * surfacing in the settler, say) must not take down the parts that still meet deadlines.
 */
import type { Logger } from "../internal/log.js";
import { sleep } from "../internal/retry.js";

export interface WorkerTask {
  readonly name: string;
  setup(): Promise<void>;
  /** The task's loop; resolves once the task has been stopped (or has nothing more to do). */
  run(): Promise<void>;
  /** Ends `run` and waits for the task's in-flight work. */
  stop(): Promise<void>;
  cleanup(): Promise<void>;
}

/** First restart delay of a task whose run() threw; doubles per consecutive failure up to RESTART_MAX_MS. */
const RESTART_BASE_MS = 500;
const RESTART_MAX_MS = 30_000;

export class TaskRunner {
  private readonly runs = new Map<string, Promise<void>>();
  private readonly wake = new AbortController();
  private set: WorkerTask[] = [];
  private stopping = false;

  constructor(
    private readonly tasks: readonly WorkerTask[],
    private readonly log: Logger,
    private readonly restartBaseMs = RESTART_BASE_MS,
  ) {}

  /**
   * Sets every task up, in order. A setup that fails cleans up the tasks already set up (reverse order) and throws:
   * a worker that cannot set up a part does not start with the others.
   */
  async setup(): Promise<void> {
    for (const task of this.tasks) {
      this.log.debug("task setting up", { task: task.name });
      try {
        await task.setup();
      } catch (err) {
        this.log.error("task setup failed; the worker does not start", { task: task.name, error: String((err as Error)?.message ?? err) });
        for (const done of [...this.set].reverse()) await this.cleanupOne(done);
        this.set = [];
        throw err;
      }
      this.set.push(task);
    }
  }

  /** Starts every set-up task's loop (supervised: see the file comment). */
  start(): void {
    for (const task of this.set) {
      this.log.debug("task running", { task: task.name });
      this.runs.set(task.name, this.supervise(task));
    }
  }

  /** Stops the tasks in reverse order (each after the one set up after it), then cleans them up in reverse order. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wake.abort(new Error("tasks stopping")); // ends a restart backoff at once
    const order = [...this.set].reverse();
    for (const task of order) {
      try {
        await task.stop();
      } catch (err) {
        this.log.warn("task stop failed", { task: task.name, error: String((err as Error)?.message ?? err) });
      }
      await this.runs.get(task.name);
      this.log.debug("task stopped", { task: task.name });
    }
    for (const task of order) await this.cleanupOne(task);
  }

  private async supervise(task: WorkerTask): Promise<void> {
    for (let failures = 0; !this.stopping; ) {
      try {
        await task.run();
        return;
      } catch (err) {
        if (this.stopping) return;
        failures++;
        const delay = Math.min(this.restartBaseMs * 2 ** (failures - 1), RESTART_MAX_MS);
        this.log.warn("task failed; restarting", { task: task.name, failures, restartInMs: delay, error: String((err as Error)?.message ?? err) });
        await sleep(delay, this.wake.signal).catch(() => undefined);
      }
    }
  }

  private async cleanupOne(task: WorkerTask) {
    try {
      await task.cleanup();
      this.log.debug("task cleaned up", { task: task.name });
    } catch (err) {
      this.log.warn("task cleanup failed", { task: task.name, error: String((err as Error)?.message ?? err) });
    }
  }
}

/**
 * The listener's passes, for the tasks that act once per pass (settler, validator): `next` resolves at the next
 * `notify` (or when `signal` aborts). A pass that comes while a task is still busy with the previous one is not
 * queued: the task's next pass looks at the whole state again anyway.
 */
export class PassSignal {
  private waiters: Array<() => void> = [];

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  next(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/**
 * A task whose work runs in the scheduler's lanes (processor, poster): `run` only waits to be stopped, and `stop`
 * drains the steps in flight. Setup and cleanup have nothing to do.
 */
export abstract class LaneTask implements WorkerTask {
  abstract readonly name: string;
  private readonly halt = new AbortController();

  constructor(private readonly inFlight: { drain(): Promise<void> }) {}

  async setup(): Promise<void> {}

  run(): Promise<void> {
    return untilAborted(this.halt.signal);
  }

  async stop(): Promise<void> {
    await this.inFlight.drain();
    this.halt.abort();
  }

  async cleanup(): Promise<void> {}
}

/** Resolves when `signal` aborts (the run() of a task whose work is driven by others, until it is stopped). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
