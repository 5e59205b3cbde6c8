/**
 * The poster task: a job's commit, reveal or (k = 1) result, sent through the PostBatcher (chain/batcher.ts) so
 * that posts ready within `postBatchWindowMs` of each other share one escrow `multicall`, and the decline of a slot
 * this worker cannot serve. Its steps run in the scheduler's post lane (scheduler.ts); stopping it waits for them.
 */
import { jobEscrowAbi } from "@veil/contracts";
import { resultCommitment } from "@veil/sdk";
import type { Hex } from "viem";
import { failpoint } from "../internal/failpoints.js";
import { randomBytes32 } from "../internal/util.js";
import type { JobRecord } from "../store.js";
import { JobStatus, type ChainJob, type WorkerContext } from "./context.js";
import { LaneTask } from "./task.js";

/** Results, commits, reveals and declines; its steps run in the scheduler's post lane. */
export class Poster extends LaneTask {
  readonly name = "poster";

  constructor(private readonly ctx: WorkerContext) {
    super(ctx);
  }

  /** k = 1: post the result hash directly. */
  async postResult(job: JobRecord, chain: ChainJob) {
    const { store } = this.ctx;
    if (chain.slots[0] === "posted") {
      if (job.state !== "reveal_pending") store.transition(job, job.state, "reveal_pending");
      store.transition(job, "reveal_pending", "revealed");
      return;
    }
    if (job.state === "inferred") job = store.transition(job, "inferred", "reveal_pending");
    await this.ctx.posts.send({
      kind: "reveal",
      job,
      address: this.ctx.o.addresses.jobEscrow,
      abi: jobEscrowAbi,
      functionName: "submitResult",
      args: [job.jobId, job.resultHash],
    });
    failpoint("reveal:confirmed");
    store.transition(job, "reveal_pending", "revealed");
    this.ctx.log.info("result posted", { jobId: job.jobId, resultHash: job.resultHash });
  }

  async commit(job: JobRecord, chain: ChainJob) {
    const { store } = this.ctx;
    if (chain.slots[job.slot] === "committed") {
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
    await this.ctx.posts.send({
      kind: "commit",
      job,
      address: this.ctx.o.addresses.jobEscrow,
      abi: jobEscrowAbi,
      functionName: "commit",
      args: [job.jobId, job.slot, job.commitment],
    });
    failpoint("commit:confirmed");
    store.transition(job, "commit_pending", "committed");
    this.ctx.log.info("committed", { jobId: job.jobId, slot: job.slot });
  }

  async reveal(job: JobRecord, chain: ChainJob) {
    const { store } = this.ctx;
    if (chain.slots[job.slot] === "revealed") {
      if (job.state === "committed") job = store.transition(job, "committed", "reveal_pending");
      store.transition(job, "reveal_pending", "revealed");
      return;
    }
    if (job.state === "committed") job = store.transition(job, "committed", "reveal_pending");
    await this.ctx.posts.send({
      kind: "reveal",
      job,
      address: this.ctx.o.addresses.jobEscrow,
      abi: jobEscrowAbi,
      functionName: "reveal",
      args: [job.jobId, job.slot, job.resultHash, job.salt],
    });
    failpoint("reveal:confirmed");
    store.transition(job, "reveal_pending", "revealed");
    this.ctx.log.info("revealed", { jobId: job.jobId, slot: job.slot, resultHash: job.resultHash });
  }

  /**
   * Declines the slot (JobEscrow.decline: no penalty, the slot is replaced) when `now` is set or the commit window
   * ends within `declineMarginSeconds`. Returns whether the job is done here. Idempotent across crashes: a slot the
   * chain already shows as declined is only marked. Sent on its own (not batched): it is rare, and late.
   */
  async declineIfDue(job: JobRecord, chain: ChainJob, reason: string, now: boolean): Promise<boolean> {
    const { ctx } = this;
    if (chain.status !== JobStatus.Assigned) return false;
    const declined = chain.slots[job.slot] === "declined";
    if (!declined) {
      if (!now) {
        if ((await ctx.latestTimestamp()) + BigInt(ctx.o.declineMarginSeconds) < BigInt(chain.phaseEnd)) return false;
      }
      await ctx.sender.send({
        kind: "decline",
        job,
        address: ctx.o.addresses.jobEscrow,
        abi: jobEscrowAbi,
        functionName: "decline",
        args: [job.jobId, job.slot],
      });
      ctx.log.warn("declined a job it cannot serve", { jobId: job.jobId, slot: job.slot, reason });
    }
    ctx.store.transition(job, job.state, "failed", { failReason: `declined: ${reason}`.slice(0, 300) });
    return true;
  }

  private commitment(jobId: bigint, resultHash: Hex, salt: Hex): Hex {
    const { ctx } = this;
    return resultCommitment({ escrow: ctx.o.addresses.jobEscrow, chainId: ctx.chainId, jobId, operator: ctx.address, resultHash, salt });
  }
}
