/**
 * Validator mode as one more task (validator.ts has the dispute logic): a validator pass after each listener pass.
 * The validator follows its own event stream (JobDisputed, with its own cursor), so it runs beside the listener
 * rather than inside its pass; passes never overlap (`DisputeValidator.tick` shares a pass in progress).
 */
import type { DisputeValidator } from "../validator.js";
import type { WorkerContext } from "./context.js";
import type { WorkerTask } from "./task.js";

export class ValidatorTask implements WorkerTask {
  readonly name = "validator";
  private readonly halt = new AbortController();
  private pass: Promise<void> | undefined;

  constructor(
    private readonly ctx: WorkerContext,
    readonly validator: DisputeValidator,
  ) {}

  async setup(): Promise<void> {}

  async run(): Promise<void> {
    while (!this.halt.signal.aborted) {
      await this.ctx.passes.next(this.halt.signal);
      if (this.halt.signal.aborted || this.ctx.stopped) return;
      // A failed pass is logged and retried at the next listener pass (its steps record their own failures).
      await this.tick().catch((err) => this.ctx.log.warn("validator pass failed; retrying", { error: String((err as Error)?.message ?? err) }));
    }
  }

  /** One validator pass (tests drive it through `VeilWorker.tick`). */
  tick(): Promise<void> {
    const p = this.validator.tick();
    this.pass = p.catch(() => undefined);
    return p;
  }

  async stop(): Promise<void> {
    this.halt.abort();
    await this.pass;
  }

  async cleanup(): Promise<void> {}
}
