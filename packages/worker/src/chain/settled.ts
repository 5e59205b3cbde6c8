/**
 * Jobs whose escrow record was recycled. JobEscrow reuses the record of a job that settled without a dispute
 * (finalized, or refunded for a missed step) for a later submission: from then on `getJob` of the old id, and every
 * write taking it (but `finalizeMany` and `claim`, which skip it), reverts with `JobEscrowJobRecycled`. Such a job is
 * settled for good and its outcome is in its `JobFinalized` or `JobRefunded` log, both indexed by job id. Disputed
 * jobs' records are never reused, so a job read during or after a dispute always reads.
 */
import type { Address, Chain, PublicClient, Transport } from "viem";
import { getJobHistory } from "@veil/sdk";
import type { VeilAddresses } from "@veil/sdk";
import { isRevert, revertReason } from "./sender.js";

export type SettledOutcome = "finalized" | "refunded";

/** Whether `err` is the escrow's `JobEscrowJobRecycled(jobId)` revert. */
export function isJobRecycled(err: unknown): boolean {
  if (!isRevert(err)) return false;
  const { reason, errorName } = revertReason(err);
  return errorName === "JobEscrowJobRecycled" || (errorName === undefined && /JobEscrowJobRecycled/.test(reason));
}

/**
 * How job `jobId` settled, from its event history (the SDK's `getJobHistory`: one `eth_getLogs` over the escrow,
 * filtered by the job id topic). Undefined when the node returns no such history (e.g. it prunes old logs) or the
 * job is not settled.
 */
export async function settledOutcome(
  publicClient: PublicClient<Transport, Chain | undefined>,
  escrow: Address,
  jobId: bigint,
  fromBlock = 0n,
): Promise<SettledOutcome | undefined> {
  // getJobHistory reads the escrow's address only.
  const job = await getJobHistory(publicClient, { addresses: { jobEscrow: escrow } as VeilAddresses, jobId, fromBlock });
  if (job?.status === "Finalized") return "finalized";
  if (job?.status === "Refunded") return "refunded";
  return undefined;
}
