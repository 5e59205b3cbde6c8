/**
 * The worker's single shutdown path.
 *
 * Components register `{ name, stop }` in start-up order (store, server, chain watcher, processor, …). On SIGINT/
 * SIGTERM or `run(reason)`:
 *   1. `signal` is aborted, so loops stop taking new work;
 *   2. components are stopped one at a time in REVERSE registration order (the processor stops before the store it
 *      writes to closes), each given the remaining grace (`ctx.remainingMs`, and `ctx.signal` aborts at the deadline);
 *   3. exit(0) when every stop resolved, exit(1) when one threw (or `run` was given exit code 1).
 * A second signal, or the grace period running out, forces exit(1) immediately.
 *
 * `exit` and the signal source are injectable so the whole sequence is testable in-process; the default is the
 * real `process`. Signal handlers are installed once per signal source (a second instance on the same source
 * throws instead of silently double-handling).
 */
import { nullLogger, type Logger } from "./log.js";

export interface StopContext {
  /** Why we are shutting down ("SIGTERM", "fatal error", …). */
  reason: string;
  /** Milliseconds left of the grace period when this component's stop began. */
  remainingMs: number;
  /** Aborted when the grace period is over. */
  signal: AbortSignal;
}

export interface Stoppable {
  name: string;
  stop(ctx: StopContext): Promise<void> | void;
}

/** What the shutdown needs from `process`: an event source for signals (an EventEmitter in tests). */
export interface SignalSource {
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

export interface ShutdownOptions {
  /** Total time allowed for all components to stop. Default 10 s. */
  graceMs?: number;
  logger?: Logger;
  /** Default `process.exit`. Called exactly once. */
  exit?: (code: number) => void;
  /** Default ["SIGINT", "SIGTERM"]; [] installs no handlers. */
  signals?: readonly NodeJS.Signals[];
  /** Default `process`. */
  source?: SignalSource;
  /** Also shut down (exit code 1) on uncaughtException / unhandledRejection. Default false. */
  catchFatal?: boolean;
}

export interface Shutdown {
  /** Registers a component; returns a function that unregisters it. */
  register(component: Stoppable): () => void;
  /** Starts the shutdown (idempotent: later calls return the same promise). Resolves with the exit code. */
  run(reason: string, exitCode?: 0 | 1): Promise<number>;
  /** Aborted as soon as shutdown begins. */
  readonly signal: AbortSignal;
  readonly started: boolean;
  /** Resolves with the exit code once exit has been called. */
  readonly done: Promise<number>;
  /** Removes the signal handlers (for tests and embedding). */
  dispose(): void;
}

const installedOn = new WeakSet<object>();

export function createShutdown(options: ShutdownOptions = {}): Shutdown {
  const graceMs = options.graceMs ?? 10_000;
  if (!(Number.isFinite(graceMs) && graceMs >= 0)) throw new RangeError("graceMs must be a non-negative number");
  const log = options.logger ?? nullLogger();
  const exitFn = options.exit ?? ((code: number) => process.exit(code));
  const source: SignalSource = options.source ?? process;
  const signals = options.signals ?? (["SIGINT", "SIGTERM"] as const);
  const components: Stoppable[] = [];
  const controller = new AbortController();

  let exited = false;
  let running: Promise<number> | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));

  const exit = (code: number): number => {
    if (!exited) {
      exited = true;
      resolveDone(code);
      exitFn(code);
    }
    return code;
  };

  const onSignal = (sig: NodeJS.Signals) => {
    if (running) {
      log.warn("second signal received, forcing exit", { signal: sig });
      exit(1);
      return;
    }
    log.info("signal received, shutting down", { signal: sig, graceMs });
    void run(sig);
  };
  const onFatal = (err: unknown) => {
    log.fatal("fatal error, shutting down", { err });
    if (running) exit(1);
    else void run("fatal error", 1);
  };

  const listeners = new Map<string, (...args: any[]) => void>();
  if (signals.length > 0 || options.catchFatal) {
    if (installedOn.has(source)) throw new Error("shutdown handlers are already installed on this signal source");
    installedOn.add(source);
    for (const sig of signals) listeners.set(sig, () => onSignal(sig));
    if (options.catchFatal) {
      listeners.set("uncaughtException", onFatal);
      listeners.set("unhandledRejection", onFatal);
    }
    for (const [ev, fn] of listeners) source.on(ev, fn);
  }

  async function sequence(reason: string, requested: 0 | 1): Promise<number> {
    controller.abort(new Error(`shutdown: ${reason}`));
    const deadline = Date.now() + graceMs;
    const graceOver = new AbortController();
    let failed = false;
    let timer: NodeJS.Timeout | undefined;
    try {
      for (const c of [...components].reverse()) {
        if (exited) return 1;
        const remainingMs = deadline - Date.now();
        if (remainingMs <= 0) {
          log.error("shutdown grace exceeded before stopping component", { component: c.name, graceMs });
          return exit(1);
        }
        const timedOut = Symbol("timeout");
        const t0 = Date.now();
        const outcome = await Promise.race([
          (async () => c.stop({ reason, remainingMs, signal: graceOver.signal }))().then(
            () => undefined,
            (err: unknown) => ({ err }),
          ),
          new Promise<typeof timedOut>((resolve) => {
            timer = setTimeout(() => resolve(timedOut), remainingMs);
          }),
        ]);
        clearTimeout(timer);
        if (outcome === timedOut) {
          graceOver.abort(new Error("shutdown grace exceeded"));
          log.error("component did not stop within the shutdown grace period, forcing exit", {
            component: c.name,
            graceMs,
          });
          return exit(1);
        }
        if (outcome && "err" in outcome) {
          failed = true;
          log.error("component failed to stop", { component: c.name, err: outcome.err });
        } else {
          log.debug("component stopped", { component: c.name, ms: Date.now() - t0 });
        }
      }
    } finally {
      clearTimeout(timer);
    }
    const code = failed || requested === 1 ? 1 : 0;
    log.info("shutdown complete", { reason, exitCode: code });
    return exit(code);
  }

  function run(reason: string, exitCode: 0 | 1 = 0): Promise<number> {
    running ??= sequence(reason, exitCode).catch((err: unknown) => {
      log.fatal("shutdown sequence crashed", { err });
      return exit(1);
    });
    return running;
  }

  return {
    register(component: Stoppable): () => void {
      if (running) throw new Error(`cannot register "${component.name}": shutdown already started`);
      components.push(component);
      return () => {
        const i = components.indexOf(component);
        if (i >= 0) components.splice(i, 1);
      };
    },
    run,
    signal: controller.signal,
    get started() {
      return running !== undefined;
    },
    done,
    dispose(): void {
      for (const [ev, fn] of listeners) source.off(ev, fn);
      if (listeners.size > 0) installedOn.delete(source);
      listeners.clear();
    },
  };
}
