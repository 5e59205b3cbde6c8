import { parseEventLogs, type Address, type Hex } from "viem";
import { readContract } from "viem/actions";
import { disputeManagerAbi } from "@veil/contracts";
import type { VeilError } from "../errors.js";
import {
  andWait,
  atOnce,
  decoded,
  pendingCall,
  requireAddress,
  resolveAccount,
  toBytes32,
  type AddressesParameter,
  type PendingWrite,
  type SentReturnType,
  type VeilClient,
  type WriteParameters,
  type WriteReturnType,
} from "../internal.js";
import { pendingPaying, type Payment } from "./tokens.js";

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
/** What {@link writeChallenge} knows once the challenge is sent: the bond and how it was paid. */
export type ChallengeSent = Payment & {
  /** The bond posted, in the staking token. */
  bond: bigint;
};
export type ChallengeReturnType = WriteReturnType & ChallengeSent;
export type WriteChallengeReturnType = SentReturnType & ChallengeSent;
export type ChallengeErrorType = VeilError;

/**
 * Challenges a proposed result within its challenge window, posting the bond in the staking token: simulated first
 * with the allowance it needs (a challenge that would fail throws its named error with nothing signed), then an
 * approval of exactly the bond when the allowance does not cover it. A committee of operators then re-runs the job
 * and votes. Waits for the challenge; {@link writeChallenge} returns at once.
 *
 * @example
 * await challenge(wallet, { addresses, jobId })
 */
export function challenge(client: VeilClient, params: ChallengeParameters): Promise<ChallengeReturnType> {
  return andWait(client, buildChallenge(client, params));
}

/** {@link challenge}, returning at once with the hash (the approval, when one is needed, is mined first). */
export function writeChallenge(client: VeilClient, params: ChallengeParameters): Promise<WriteChallengeReturnType> {
  return atOnce(buildChallenge(client, params));
}

async function buildChallenge(client: VeilClient, params: ChallengeParameters): Promise<PendingWrite<ChallengeSent, {}>> {
  const account = resolveAccount(client, params.account, "challenge");
  const address = requireAddress(params.addresses, "disputeManager");
  const p = await decoded(readContract(client, { address, abi: disputeManagerAbi, functionName: "params" }));
  const paid = await pendingPaying(client, account, {
    addresses: params.addresses,
    token: params.addresses.stakingToken,
    spender: address,
    amount: p.challengeBond,
    call: { address, abi: disputeManagerAbi, functionName: "challenge", args: [params.jobId] },
  });
  return { ...paid, known: { ...paid.known, bond: p.challengeBond } };
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
/** What {@link writeCommitVote} knows once the commitment is sent. */
export type CommitVoteSent = { commitment: Hex };
export type CommitVoteReturnType = WriteReturnType & CommitVoteSent;
export type WriteCommitVoteReturnType = SentReturnType & CommitVoteSent;
export type CommitVoteErrorType = VeilError;

/**
 * A committee member commits to its vote (the commitment is computed by the contract's `voteCommitment`), and waits
 * for it; {@link writeCommitVote} returns at once.
 *
 * @example
 * const salt = toHex(crypto.getRandomValues(new Uint8Array(32)))
 * await commitVote(wallet, { addresses, jobId, index: 0, vote: resultHash, salt })
 */
export function commitVote(client: VeilClient, params: CommitVoteParameters): Promise<CommitVoteReturnType> {
  return andWait(client, buildCommitVote(client, params));
}

/** {@link commitVote}, returning at once with the hash and the commitment. */
export function writeCommitVote(client: VeilClient, params: CommitVoteParameters): Promise<WriteCommitVoteReturnType> {
  return atOnce(buildCommitVote(client, params));
}

async function buildCommitVote(client: VeilClient, params: CommitVoteParameters): Promise<PendingWrite<CommitVoteSent, {}>> {
  const account = resolveAccount(client, params.account, "commitVote");
  const address = requireAddress(params.addresses, "disputeManager");
  const commitment = await decoded(
    readContract(client, { address, abi: disputeManagerAbi, functionName: "voteCommitment", args: [params.jobId, account.address, toBytes32(params.vote), toBytes32(params.salt)] }),
  );
  const sent = await pendingCall(client, account, { address, abi: disputeManagerAbi, functionName: "commitVote", args: [params.jobId, params.index, commitment] }, { addresses: params.addresses });
  return { ...sent, known: { commitment } };
}

export type RevealVoteParameters = CommitVoteParameters;
export type RevealVoteReturnType = WriteReturnType;
export type WriteRevealVoteReturnType = SentReturnType;
export type RevealVoteErrorType = VeilError;

/**
 * Reveals a committed vote once the commit window has closed, and waits for it; {@link writeRevealVote} returns at
 * once.
 *
 * @example
 * await revealVote(wallet, { addresses, jobId, index: 0, vote: resultHash, salt })
 */
export function revealVote(client: VeilClient, params: RevealVoteParameters): Promise<RevealVoteReturnType> {
  return andWait(client, buildRevealVote(client, params));
}

/** {@link revealVote}, returning at once with the hash. */
export function writeRevealVote(client: VeilClient, params: RevealVoteParameters): Promise<WriteRevealVoteReturnType> {
  return atOnce(buildRevealVote(client, params));
}

async function buildRevealVote(client: VeilClient, params: RevealVoteParameters) {
  const account = resolveAccount(client, params.account, "revealVote");
  const address = requireAddress(params.addresses, "disputeManager");
  const call = { address, abi: disputeManagerAbi, functionName: "revealVote", args: [params.jobId, params.index, toBytes32(params.vote), toBytes32(params.salt)] } as const;
  return pendingCall(client, account, call, { addresses: params.addresses });
}

// ---------------------------------------------------------------------------------------------------------------- drawCommittee / resolveDispute

export type DisputeJobParameters = WriteParameters & { jobId: bigint };
export type DrawCommitteeParameters = DisputeJobParameters;
export type DrawCommitteeReturnType = WriteReturnType & {
  /** Whether the committee was drawn (CommitteeDrawn); false when the draw block was too old and was moved (DrawRetargeted). */
  drawn: boolean;
};
export type WriteDrawCommitteeReturnType = SentReturnType;
export type DrawCommitteeErrorType = VeilError;

/**
 * Draws the committee of a started dispute (anyone, once its draw block is mined), waits for it and returns whether
 * it was drawn; {@link writeDrawCommittee} returns at once.
 *
 * @example
 * await drawCommittee(wallet, { addresses, jobId })
 */
export function drawCommittee(client: VeilClient, params: DrawCommitteeParameters): Promise<DrawCommitteeReturnType> {
  return andWait(client, buildDrawCommittee(client, params));
}

/** {@link drawCommittee}, returning at once with the hash. */
export function writeDrawCommittee(client: VeilClient, params: DrawCommitteeParameters): Promise<WriteDrawCommitteeReturnType> {
  return atOnce(buildDrawCommittee(client, params));
}

async function buildDrawCommittee(client: VeilClient, params: DrawCommitteeParameters) {
  const account = resolveAccount(client, params.account, "drawCommittee");
  const address = requireAddress(params.addresses, "disputeManager");
  return pendingCall(client, account, { address, abi: disputeManagerAbi, functionName: "drawCommittee", args: [params.jobId] }, { addresses: params.addresses }, (receipt) => ({
    drawn: parseEventLogs({ abi: disputeManagerAbi, eventName: "CommitteeDrawn", logs: receipt.logs }).some(
      (l) => l.address.toLowerCase() === address.toLowerCase() && l.args.jobId === params.jobId,
    ),
  }));
}

export type ResolveDisputeParameters = DisputeJobParameters;
export type ResolveDisputeReturnType = WriteReturnType;
export type WriteResolveDisputeReturnType = SentReturnType;
export type ResolveDisputeErrorType = VeilError;

/**
 * Resolves a dispute after its reveal window (anyone), and waits for it; {@link writeResolveDispute} returns at once.
 *
 * @example
 * await resolveDispute(wallet, { addresses, jobId })
 */
export function resolveDispute(client: VeilClient, params: ResolveDisputeParameters): Promise<ResolveDisputeReturnType> {
  return andWait(client, buildResolveDispute(client, params));
}

/** {@link resolveDispute}, returning at once with the hash. */
export function writeResolveDispute(client: VeilClient, params: ResolveDisputeParameters): Promise<WriteResolveDisputeReturnType> {
  return atOnce(buildResolveDispute(client, params));
}

async function buildResolveDispute(client: VeilClient, params: ResolveDisputeParameters) {
  const account = resolveAccount(client, params.account, "resolveDispute");
  const address = requireAddress(params.addresses, "disputeManager");
  return pendingCall(client, account, { address, abi: disputeManagerAbi, functionName: "resolve", args: [params.jobId] }, { addresses: params.addresses });
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
