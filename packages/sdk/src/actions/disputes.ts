import type { Address, Hex } from "viem";
import { readContract } from "viem/actions";
import { disputeManagerAbi } from "@veil/contracts";
import type { VeilError } from "../errors.js";
import { decoded, requireAddress, resolveAccount, send, toBytes32, type AddressesParameter, type VeilClient, type WriteParameters, type WriteReturnType } from "../internal.js";
import { ensureAllowance } from "./tokens.js";

export const DISPUTE_STATUSES = ["None", "Drawing", "Voting", "Resolved"] as const;
export type DisputeStatus = (typeof DISPUTE_STATUSES)[number];

export type Dispute = {
  jobId: bigint;
  status: DisputeStatus;
  /** Resolved with a majority. */
  decided: boolean;
  /** Zero address for a disagreement. */
  challenger: Address;
  bond: bigint;
  challenged: Hex;
  drawBlock: bigint;
  drawBy: number;
  commitEnd: number;
  revealEnd: number;
  revealed: number;
  winner: Hex;
  members: Address[];
};

// ---------------------------------------------------------------------------------------------------------------- challenge

export type ChallengeParameters = WriteParameters & { jobId: bigint };
export type ChallengeReturnType = WriteReturnType & { bond: bigint; approvalHash: Hex | undefined };
export type ChallengeErrorType = VeilError;

/**
 * Challenges a proposed result within its challenge window, posting the bond in the staking token (approved first
 * when needed). A committee of operators then re-runs the job and votes.
 *
 * @example
 * await challenge(wallet, { addresses, jobId })
 */
export async function challenge(client: VeilClient, params: ChallengeParameters): Promise<ChallengeReturnType> {
  const account = resolveAccount(client, params.account, "challenge");
  const address = requireAddress(params.addresses, "disputeManager");
  const p = await decoded(readContract(client, { address, abi: disputeManagerAbi, functionName: "params" }));
  const approvalHash = await ensureAllowance(client, account, params.addresses.stakingToken, address, p.challengeBond);
  const { hash, receipt } = await send(client, account, { address, abi: disputeManagerAbi, functionName: "challenge", args: [params.jobId] }, { addresses: params.addresses });
  return { hash, receipt, bond: p.challengeBond, approvalHash };
}

// ---------------------------------------------------------------------------------------------------------------- commitVote / revealVote

export type CommitVoteParameters = WriteParameters & {
  jobId: bigint;
  /** The member's index in the committee. */
  index: number;
  /** The result hash the member reproduced, or zero (NONE). */
  vote: Hex;
  /** Random 32 bytes; keep them for {@link revealVote}. */
  salt: Hex;
};
export type CommitVoteReturnType = WriteReturnType & { commitment: Hex };
export type CommitVoteErrorType = VeilError;

/**
 * A committee member commits to its vote (the commitment is computed by the contract's `voteCommitment`).
 *
 * @example
 * const salt = toHex(crypto.getRandomValues(new Uint8Array(32)))
 * await commitVote(wallet, { addresses, jobId, index: 0, vote: resultHash, salt })
 */
export async function commitVote(client: VeilClient, params: CommitVoteParameters): Promise<CommitVoteReturnType> {
  const account = resolveAccount(client, params.account, "commitVote");
  const address = requireAddress(params.addresses, "disputeManager");
  const commitment = await decoded(
    readContract(client, { address, abi: disputeManagerAbi, functionName: "voteCommitment", args: [params.jobId, account.address, toBytes32(params.vote), toBytes32(params.salt)] }),
  );
  const { hash, receipt } = await send(client, account, { address, abi: disputeManagerAbi, functionName: "commitVote", args: [params.jobId, params.index, commitment] }, { addresses: params.addresses });
  return { hash, receipt, commitment };
}

export type RevealVoteParameters = CommitVoteParameters;
export type RevealVoteReturnType = WriteReturnType;
export type RevealVoteErrorType = VeilError;

/**
 * Reveals a committed vote once the commit window has closed.
 *
 * @example
 * await revealVote(wallet, { addresses, jobId, index: 0, vote: resultHash, salt })
 */
export async function revealVote(client: VeilClient, params: RevealVoteParameters): Promise<RevealVoteReturnType> {
  const account = resolveAccount(client, params.account, "revealVote");
  const address = requireAddress(params.addresses, "disputeManager");
  const { hash, receipt } = await send(client, account, {
    address,
    abi: disputeManagerAbi,
    functionName: "revealVote",
    args: [params.jobId, params.index, toBytes32(params.vote), toBytes32(params.salt)],
  }, { addresses: params.addresses });
  return { hash, receipt };
}

// ---------------------------------------------------------------------------------------------------------------- drawCommittee / resolveDispute / claimDisputeRewards

export type DisputeJobParameters = WriteParameters & { jobId: bigint };

/**
 * Draws the committee of a started dispute (anyone, once its draw block is mined). Returns whether it was drawn.
 *
 * @example
 * await drawCommittee(wallet, { addresses, jobId })
 */
export async function drawCommittee(client: VeilClient, params: DisputeJobParameters): Promise<WriteReturnType & { drawn: boolean }> {
  const account = resolveAccount(client, params.account, "drawCommittee");
  const address = requireAddress(params.addresses, "disputeManager");
  const { hash, receipt, result } = await send(client, account, { address, abi: disputeManagerAbi, functionName: "drawCommittee", args: [params.jobId] }, { addresses: params.addresses });
  return { hash, receipt, drawn: result as boolean };
}

/**
 * Resolves a dispute after its reveal window (anyone).
 *
 * @example
 * await resolveDispute(wallet, { addresses, jobId })
 */
export async function resolveDispute(client: VeilClient, params: DisputeJobParameters): Promise<WriteReturnType> {
  const account = resolveAccount(client, params.account, "resolveDispute");
  const address = requireAddress(params.addresses, "disputeManager");
  const { hash, receipt } = await send(client, account, { address, abi: disputeManagerAbi, functionName: "resolve", args: [params.jobId] }, { addresses: params.addresses });
  return { hash, receipt };
}

// ---------------------------------------------------------------------------------------------------------------- getDispute

export type GetDisputeParameters = AddressesParameter & { jobId: bigint };
export type GetDisputeReturnType = Dispute;
export type GetDisputeErrorType = VeilError;

/**
 * Reads the dispute of a job (status None when there is none).
 *
 * @example
 * const d = await getDispute(client, { addresses, jobId })
 */
export async function getDispute(client: VeilClient, params: GetDisputeParameters): Promise<GetDisputeReturnType> {
  const address = requireAddress(params.addresses, "disputeManager");
  const d = await decoded(readContract(client, { address, abi: disputeManagerAbi, functionName: "getDispute", args: [params.jobId] }));
  return {
    jobId: params.jobId,
    status: DISPUTE_STATUSES[d.status] ?? "None",
    decided: d.decided,
    challenger: d.challenger,
    bond: d.bond,
    challenged: d.challenged,
    drawBlock: BigInt(d.drawBlock),
    drawBy: d.drawBy,
    commitEnd: d.commitEnd,
    revealEnd: d.revealEnd,
    revealed: d.revealed,
    winner: d.winner,
    members: [...d.members],
  };
}
