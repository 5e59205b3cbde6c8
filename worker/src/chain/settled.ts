/**
 * Jobs whose escrow record was recycled. JobEscrow reuses the record of a job that settled without a dispute
 * (finalized, or refunded for a missed step) for a later submission: from then on `getJob` of the old id, and every
 * write taking it (but `finalizeMany` and `claim`, which skip it), reverts with `JobEscrowJobRecycled`. Such a job is
 * settled for good and its outcome is in its `JobFinalized` or `JobRefunded` log, both indexed by job id. Disputed
 * jobs' records are never reused, so a job read during or after a dispute always reads.
 */
import { decodeEventLog, encodeEventTopics, numberToHex, pad, type Address, type Chain, type Hex, type Log, type PublicClient, type Transport } from "viem";
import { jobEscrowAbi } from "../../../sdk/src/generated/abis.js";
import { isRevert, revertReason } from "./sender.js";

export type SettledOutcome = "finalized" | "refunded";

/** Whether `err` is the escrow's `JobEscrowJobRecycled(jobId)` revert. */
export function isJobRecycled(err: unknown): boolean {
  if (!isRevert(err)) return false;
  const { reason, errorName } = revertReason(err);
  return errorName === "JobEscrowJobRecycled" || (errorName === undefined && /JobEscrowJobRecycled/.test(reason));
}

const SETTLED_TOPICS = [
  encodeEventTopics({ abi: jobEscrowAbi, eventName: "JobFinalized" })[0]!,
  encodeEventTopics({ abi: jobEscrowAbi, eventName: "JobRefunded" })[0]!,
] as Hex[];

/**
 * How job `jobId` settled, from its JobFinalized / JobRefunded log (one `eth_getLogs`: the escrow's address, either
 * event's topic, the job id topic). Undefined when the node returns no such log (e.g. it prunes old logs).
 */
export async function settledOutcome(
  publicClient: PublicClient<Transport, Chain | undefined>,
  escrow: Address,
  jobId: bigint,
  fromBlock = 0n,
): Promise<SettledOutcome | undefined> {
  const logs = (await publicClient.request({
    method: "eth_getLogs",
    params: [{ address: escrow, topics: [SETTLED_TOPICS, pad(numberToHex(jobId), { size: 32 })], fromBlock: numberToHex(fromBlock), toBlock: "latest" }],
  } as never)) as Log[];
  for (const log of logs) {
    try {
      const d = decodeEventLog({ abi: jobEscrowAbi, data: log.data, topics: log.topics });
      if (d.eventName === "JobFinalized") return "finalized";
      if (d.eventName === "JobRefunded") return "refunded";
    } catch {
      // not one of ours (another contract cannot log from the escrow's address): ignore
    }
  }
  return undefined;
}
