/**
 * The settler task: once per listener pass, settles this operator's served jobs whose challenge window has passed
 * with batched escrow `finalizeMany` calls (gets operators paid sooner), following the settlement rota for k > 1
 * jobs and backing off jobs whose batch settled nothing. It also closes out jobs whose escrow record a later job
 * reused (`settleRecycled`).
 */
import { jobEscrowAbi } from "@veil/contracts";
import { parseEventLogs } from "viem";
import { TxRevertedError, isRevert } from "../chain/sender.js";
import { settledOutcome } from "../chain/settled.js";
import type { JobRecord } from "../store.js";
import { isValidatorRecord } from "../validator.js";
import { errorMessage, type WorkerContext } from "./context.js";
import type { WorkerTask } from "./task.js";

export class Settler implements WorkerTask {
  readonly name = "settler";
  /** The settlement pass in progress (one at a time: see `finalizeDue`). */
  finalizing: Promise<void> | undefined;
  /** Jobs whose last finalizeMany settled nothing or reverted: not retried before `at` (ms), backing off. */
  private readonly finalizeBackoff = new Map<bigint, { failures: number; at: number }>();
  /** When this worker first saw a served job past its challenge window (wall clock): the settlement rota's clock. */
  private readonly dueSince = new Map<bigint, number>();
  private readonly halt = new AbortController();

  constructor(private readonly ctx: WorkerContext) {}

  async setup(): Promise<void> {}

  /** One settlement pass after each listener pass (a pass that comes while one is under way is skipped). */
  async run(): Promise<void> {
    while (!this.halt.signal.aborted) {
      await this.ctx.passes.next(this.halt.signal);
      if (this.halt.signal.aborted || this.ctx.stopped) return;
      this.kick();
      await this.finalizing;
    }
  }

  async stop(): Promise<void> {
    this.halt.abort();
    await this.finalizing;
  }

  async cleanup(): Promise<void> {}

  /** Starts a settlement pass unless one is under way or settling is off. */
  kick(): void {
    if (!this.ctx.o.autoFinalize || this.ctx.stopped) return;
    this.finalizing ??= this.finalizeDue().finally(() => (this.finalizing = undefined));
  }

  /**
   * The job settled without a dispute and a later submission reused its escrow record, so `getJob` reverts
   * (JobEscrowJobRecycled): someone else finalized it (or it was refunded) and the events that would have told this
   * worker are not ingested yet (confirmations). Its outcome is in its JobFinalized / JobRefunded log; every local
   * slot of the job moves to that terminal state, as the events would have moved it.
   */
  async settleRecycled(job: JobRecord) {
    const { ctx } = this;
    const outcome = await settledOutcome(ctx.o.publicClient, ctx.o.addresses.jobEscrow, job.jobId, ctx.o.startBlock);
    this.finalizeBackoff.delete(job.jobId);
    if (!outcome) {
      // The contract only recycles settled jobs, but the node has no log of how (pruned), or the job never settled
      // on this chain (a reorg removed its submission, and its record has been reused since): stop tracking it.
      ctx.markAll(job.jobId, "failed", { failReason: "settled on chain (record reused by a later job); no JobFinalized/JobRefunded log found" });
      ctx.log.warn("job settled on chain, outcome not found in the logs", { jobId: job.jobId, slot: job.slot });
      return;
    }
    ctx.markAll(job.jobId, outcome);
    ctx.log.info("job settled on chain and its record reused", { jobId: job.jobId, slot: job.slot, outcome });
  }

  /**
   * Settles this operator's served jobs whose challenge window has passed, all at once: one escrow `finalizeMany`
   * per `maxFinalizeBatch` of them (in a batch, each account's earnings and the accruals are written once and all
   * collateral is released in one staking call: ~25-35k gas a job against ~90k for `finalize` alone).
   *
   * `finalizeMany` skips the jobs that are not ready (someone else finalized them, their record was reused, a
   * challenge opened), so a batch never fails for one job. A batch that would settle nothing is not sent, and its
   * jobs, like those of a batch that reverts, are retried with a backoff instead of every pass: their records move on
   * by the events (or the scheduler's re-reads). Crash safety is the sender's: the intent is persisted before
   * broadcast and settled by `reconcile`; the local records move only on the receipt's JobFinalized logs (or, after
   * a crash, the events).
   */
  private async finalizeDue(): Promise<void> {
    const { ctx } = this;
    try {
      const now = await ctx.latestTimestamp();
      const served = ctx.store.jobsByState("served", { chainId: ctx.chainId }).filter((j) => !isValidatorRecord(j));
      const ids = new Set(served.map((j) => j.jobId));
      for (const map of [this.finalizeBackoff, this.dueSince]) for (const id of map.keys()) if (!ids.has(id)) map.delete(id); // settled meanwhile
      const due = new Map<bigint, JobRecord>();
      const wall = Date.now();
      for (const job of served) {
        const end = job.meta.challengeEnd;
        if (typeof end !== "number" || now <= BigInt(end)) continue;
        const since = this.dueSince.get(job.jobId) ?? wall;
        this.dueSince.set(job.jobId, since);
        if (wall - since < settleRank(job) * ctx.o.settleBackupDelayMs) continue; // the rota's earlier settler goes first
        const backoff = this.finalizeBackoff.get(job.jobId);
        if (backoff && Date.now() < backoff.at) continue;
        due.set(job.jobId, job);
      }
      const jobs = [...due.values()];
      for (let i = 0; i < jobs.length && !ctx.stopped; i += ctx.o.maxFinalizeBatch) {
        await this.finalizeBatch(jobs.slice(i, i + ctx.o.maxFinalizeBatch));
      }
    } catch (err) {
      ctx.metrics?.rpcErrorsTotal.inc({ method: "finalizeMany", kind: "error" });
      ctx.log.warn("finalize failed; will retry", { error: errorMessage(err) });
    }
  }

  private async finalizeBatch(jobs: JobRecord[]) {
    const { ctx } = this;
    const ids = jobs.map((j) => j.jobId);
    const call = { address: ctx.o.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "finalizeMany", args: [ids] } as const;
    let receipt;
    try {
      // Nothing to settle (others got there first, or our view is behind the chain's): no transaction.
      const { result } = await ctx.o.publicClient.simulateContract({ ...call, account: ctx.o.walletClient.account });
      if (result === 0n) return this.backOffFinalize(ids, "nothing to settle", false);
      receipt = await ctx.sender.send({ kind: "claim", job: jobs[0], ...call });
    } catch (err) {
      if (!(err instanceof TxRevertedError) && !isRevert(err)) throw err;
      return this.backOffFinalize(ids, String((err as Error).message), true);
    }
    const escrow = ctx.o.addresses.jobEscrow.toLowerCase();
    const wanted = new Set(ids);
    const settled = parseEventLogs({ abi: jobEscrowAbi, eventName: "JobFinalized", logs: receipt.logs })
      .filter((l) => l.address.toLowerCase() === escrow && wanted.has(l.args.jobId))
      .map((l) => l.args.jobId);
    ctx.store.withTransaction(() => {
      for (const id of settled) ctx.markAll(id, "finalized");
    });
    for (const id of ids) this.finalizeBackoff.delete(id);
    ctx.metrics?.finalizeBatchSize.observe(settled.length);
    ctx.log.info("finalized", { jobs: settled.length, of: ids.length, txHash: receipt.transactionHash });
  }

  /** `ids` are not batched again for a while (doubling per failure, at most 10 minutes). */
  private backOffFinalize(ids: bigint[], reason: string, reverted: boolean) {
    let delay = 0;
    for (const id of ids) {
      const failures = (this.finalizeBackoff.get(id)?.failures ?? 0) + 1;
      delay = Math.min(this.ctx.o.pollIntervalMs * 2 ** failures, 600_000);
      this.finalizeBackoff.set(id, { failures, at: Date.now() + delay });
    }
    const fields = { jobs: ids.length, retryInMs: delay, reason: reason.slice(0, 300) };
    if (reverted) this.ctx.log.warn("finalizeMany would revert; retrying later", fields);
    else this.ctx.log.debug("finalizeMany would settle nothing (settled by others, or not ready yet)", fields);
  }
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
