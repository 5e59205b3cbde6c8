/**
 * Jobs whose escrow record was recycled. JobEscrow reuses the record of a job that settled without a dispute
 * (finalized, or refunded for a missed step) for a later submission: from then on `getJob` of the old id, and every
 * write taking it (but `finalizeMany` and `claim`, which skip it), reverts with `JobEscrowJobRecycled`. Such a job is
 * settled for good and its outcome is in its `JobFinalized` or `JobRefunded` log, both indexed by job id. Disputed
 * jobs' records are never reused, so a job read during or after a dispute always reads.
 */
import { decodeErrorResult, isHex, type Address, type Chain, type Hex, type PublicClient, type Transport } from "viem";
import { jobEscrowAbi } from "@veil/contracts";
import { getJobHistory } from "@veil/sdk";
import type { VeilAddresses } from "@veil/sdk";

export type SettledOutcome = "finalized" | "refunded";

/**
 * Whether `err` is the escrow's `JobEscrowJobRecycled(jobId)` revert: the revert data found anywhere in the error's
 * cause chain (viem's ContractFunctionRevertedError `raw`, a RawContractError's or an RPC error's `data`) decodes
 * with the escrow's ABI to that error. Where viem already decoded it (with an ABI that has the error), its error name
 * is taken as is. The worker's TxRevertedError keeps viem's error as its cause, so it is recognised through it.
 * Messages are never matched: a revert that does not carry its data is not recognised.
 */
export function isJobRecycled(err: unknown): boolean {
  return recycledJobId(err) !== undefined;
}

/** The job id of a `JobEscrowJobRecycled(jobId)` revert anywhere in `err`'s cause chain (see isJobRecycled). */
export function recycledJobId(err: unknown): bigint | undefined {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e !== null && typeof e === "object" && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const o = e as { data?: unknown; raw?: unknown; errorName?: unknown };
    // viem's ContractFunctionRevertedError: `data` decoded with the call's ABI, `raw` the undecoded bytes.
    const decodedData = o.data as { errorName?: unknown; args?: readonly unknown[] } | undefined;
    if (decodedData && typeof decodedData === "object" && decodedData.errorName === "JobEscrowJobRecycled" && typeof decodedData.args?.[0] === "bigint") {
      return decodedData.args[0];
    }
    for (const data of [o.raw, o.data, (o.data as { data?: unknown } | undefined)?.data]) {
      const id = decodeRecycled(data);
      if (id !== undefined) return id;
    }
  }
  return undefined;
}

function decodeRecycled(data: unknown): bigint | undefined {
  if (typeof data !== "string" || !isHex(data) || data.length < 10) return undefined;
  try {
    const r = decodeErrorResult({ abi: jobEscrowAbi, data: data as Hex });
    return r.errorName === "JobEscrowJobRecycled" ? (r.args[0] as bigint) : undefined;
  } catch {
    return undefined; // not an escrow error
  }
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
