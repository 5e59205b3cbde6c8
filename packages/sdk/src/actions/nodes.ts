import { zeroHash, type Address, type Hex } from "viem";
import { readContract } from "viem/actions";
import { nodeStakingAbi } from "@veil/contracts";
import {
  andWait,
  atOnce,
  decoded,
  eventArgs,
  pendingCall,
  resolveAccount,
  toBytes32,
  type AddressesParameter,
  type SentReturnType,
  type VeilClient,
  type WriteParameters,
  type WriteReturnType,
} from "../internal.js";
import type { VeilError } from "../errors.js";
import { pendingPaying, type ApprovalMode, type Payment } from "./tokens.js";

/** An operator's state in NodeStaking, with its free stake and pending staker rewards. */
export type Node = {
  address: Address;
  registered: boolean;
  /** Active stake (eligible for selection, earns staker rewards). */
  stake: bigint;
  /** Part of `stake` locked as job collateral. */
  locked: bigint;
  /** `stake - locked`. */
  freeStake: bigint;
  unbonding: bigint;
  /** Unix time the unbonding stake can be withdrawn (0 when none). */
  unbondEnd: number;
  encryptionKey: Hex;
  endpoint: string;
  models: Hex[];
  /** stake >= minStake. */
  eligible: boolean;
  /** Fee-token staker rewards claimable with {@link claimStakerRewards}. */
  pendingRewards: bigint;
};

// ---------------------------------------------------------------------------------------------------------------- registerNode

export type RegisterNodeParameters = WriteParameters & {
  /** The worker's public HTTP endpoint (results are served under `<endpoint>/results/<hash>`). */
  endpoint: string;
  /** X25519 public key for private inference (zero when the node takes only public jobs). */
  encryptionKey?: Hex | undefined;
};
export type RegisterNodeReturnType = WriteReturnType;
export type WriteRegisterNodeReturnType = SentReturnType;
export type RegisterNodeErrorType = VeilError;

/**
 * Registers the sender as an operator, and waits for it; {@link writeRegisterNode} returns at once.
 *
 * @example
 * await registerNode(wallet, { addresses, endpoint: "https://node.example.com" })
 */
export function registerNode(client: VeilClient, params: RegisterNodeParameters): Promise<RegisterNodeReturnType> {
  return andWait(client, buildRegisterNode(client, params));
}

/** {@link registerNode}, returning at once with the hash. */
export function writeRegisterNode(client: VeilClient, params: RegisterNodeParameters): Promise<WriteRegisterNodeReturnType> {
  return atOnce(buildRegisterNode(client, params));
}

async function buildRegisterNode(client: VeilClient, params: RegisterNodeParameters) {
  const account = resolveAccount(client, params.account, "registerNode");
  const call = { address: params.addresses.nodeStaking, abi: nodeStakingAbi, functionName: "register", args: [params.endpoint, toBytes32(params.encryptionKey ?? zeroHash)] } as const;
  return pendingCall(client, account, call, { addresses: params.addresses });
}

// ---------------------------------------------------------------------------------------------------------------- stake

export type StakeParameters = WriteParameters & {
  /** Staking-token base units (18 decimals). */
  amount: bigint;
  /**
   * How NodeStaking gets the tokens: `"auto"` (default: an EIP-2612 permit in the same transaction,
   * `stakeWithPermit`, when the staking token supports one), `"permit"`, or `"approve"` (an approval of exactly
   * `amount`, sent after the stake simulated successfully).
   */
  approval?: ApprovalMode | undefined;
};
export type StakeReturnType = WriteReturnType & Payment;
export type WriteStakeReturnType = SentReturnType & Payment;
export type StakeErrorType = VeilError;

/**
 * Adds `amount` to the sender's stake. Simulated first with the allowance it needs, so a stake that would fail
 * throws its named error with nothing signed; then paid by a permit in the same transaction (`stakeWithPermit`), or,
 * for a token without permit, an approval of exactly `amount` followed by the stake. An allowance that already
 * covers `amount` is used as is. Waits for the stake; {@link writeStake} returns at once.
 *
 * @example
 * await stake(wallet, { addresses, amount: parseEther("5000") })
 */
export function stake(client: VeilClient, params: StakeParameters): Promise<StakeReturnType> {
  return andWait(client, buildStake(client, params));
}

/** {@link stake}, returning at once with the hash (an approval, when one is needed, is mined first). */
export function writeStake(client: VeilClient, params: StakeParameters): Promise<WriteStakeReturnType> {
  return atOnce(buildStake(client, params));
}

async function buildStake(client: VeilClient, params: StakeParameters) {
  const account = resolveAccount(client, params.account, "stake");
  const { addresses, amount } = params;
  const staking = addresses.nodeStaking;
  return pendingPaying(client, account, {
    addresses,
    token: addresses.stakingToken,
    spender: staking,
    amount,
    call: { address: staking, abi: nodeStakingAbi, functionName: "stake", args: [amount] },
    withPermit: (p) => ({ address: staking, abi: nodeStakingAbi, functionName: "stakeWithPermit", args: [amount, p.deadline, p.v, p.r, p.s] }),
    approval: params.approval,
  });
}

// ---------------------------------------------------------------------------------------------------------------- requestUnbond

export type RequestUnbondParameters = WriteParameters & { amount: bigint };
export type RequestUnbondReturnType = WriteReturnType & { unbondEnd: number };
export type WriteRequestUnbondReturnType = SentReturnType;
export type RequestUnbondErrorType = VeilError;

/**
 * Moves `amount` of free stake to unbonding (still slashable until the unbonding period ends). Waits for it and
 * returns the end of the unbonding (UnbondRequested event); {@link writeRequestUnbond} returns at once.
 *
 * @example
 * const { unbondEnd } = await requestUnbond(wallet, { addresses, amount: parseEther("1000") })
 */
export function requestUnbond(client: VeilClient, params: RequestUnbondParameters): Promise<RequestUnbondReturnType> {
  return andWait(client, buildRequestUnbond(client, params));
}

/** {@link requestUnbond}, returning at once with the hash. */
export function writeRequestUnbond(client: VeilClient, params: RequestUnbondParameters): Promise<WriteRequestUnbondReturnType> {
  return atOnce(buildRequestUnbond(client, params));
}

async function buildRequestUnbond(client: VeilClient, params: RequestUnbondParameters) {
  const account = resolveAccount(client, params.account, "requestUnbond");
  const staking = params.addresses.nodeStaking;
  return pendingCall(client, account, { address: staking, abi: nodeStakingAbi, functionName: "requestUnbond", args: [params.amount] }, { addresses: params.addresses, moves: "stakingToken" }, (receipt) => ({
    unbondEnd: Number(eventArgs(nodeStakingAbi, receipt, staking, "UnbondRequested").unbondEnd),
  }));
}

// ---------------------------------------------------------------------------------------------------------------- withdrawUnbonded

export type WithdrawUnbondedParameters = WriteParameters;
export type WithdrawUnbondedReturnType = WriteReturnType & { amount: bigint };
export type WriteWithdrawUnbondedReturnType = SentReturnType;
export type WithdrawUnbondedErrorType = VeilError;

/**
 * Withdraws all unbonded stake whose unbonding period has passed; waits for it and returns the amount
 * (UnbondWithdrawn event). {@link writeWithdrawUnbonded} returns at once.
 *
 * @example
 * const { amount } = await withdrawUnbonded(wallet, { addresses })
 */
export function withdrawUnbonded(client: VeilClient, params: WithdrawUnbondedParameters): Promise<WithdrawUnbondedReturnType> {
  return andWait(client, buildWithdrawUnbonded(client, params));
}

/** {@link withdrawUnbonded}, returning at once with the hash. */
export function writeWithdrawUnbonded(client: VeilClient, params: WithdrawUnbondedParameters): Promise<WriteWithdrawUnbondedReturnType> {
  return atOnce(buildWithdrawUnbonded(client, params));
}

async function buildWithdrawUnbonded(client: VeilClient, params: WithdrawUnbondedParameters) {
  const account = resolveAccount(client, params.account, "withdrawUnbonded");
  const staking = params.addresses.nodeStaking;
  return pendingCall(client, account, { address: staking, abi: nodeStakingAbi, functionName: "withdrawUnbonded", args: [] }, { addresses: params.addresses, moves: "stakingToken" }, (receipt) => ({
    amount: eventArgs(nodeStakingAbi, receipt, staking, "UnbondWithdrawn").amount as bigint,
  }));
}

// ---------------------------------------------------------------------------------------------------------------- joinModel / leaveModel

export type JoinModelParameters = WriteParameters & { modelId: Hex };
export type JoinModelReturnType = WriteReturnType;
export type WriteJoinModelReturnType = SentReturnType;
export type JoinModelErrorType = VeilError;

/**
 * Opts the sender in to serving a model (it becomes eligible for that model's jobs). Waits for it; {@link writeJoinModel} returns at once.
 *
 * @example
 * await joinModel(wallet, { addresses, modelId })
 */
export function joinModel(client: VeilClient, params: JoinModelParameters): Promise<JoinModelReturnType> {
  return andWait(client, buildJoinModel(client, params));
}

/** {@link joinModel}, returning at once with the hash. */
export function writeJoinModel(client: VeilClient, params: JoinModelParameters): Promise<WriteJoinModelReturnType> {
  return atOnce(buildJoinModel(client, params));
}

async function buildJoinModel(client: VeilClient, params: JoinModelParameters) {
  const account = resolveAccount(client, params.account, "joinModel");
  return pendingCall(client, account, { address: params.addresses.nodeStaking, abi: nodeStakingAbi, functionName: "joinModel", args: [toBytes32(params.modelId)] }, { addresses: params.addresses });
}

export type LeaveModelParameters = WriteParameters & { modelId: Hex };
export type LeaveModelReturnType = WriteReturnType;
export type WriteLeaveModelReturnType = SentReturnType;
export type LeaveModelErrorType = VeilError;

/**
 * Stops serving a model (no new jobs of it are assigned to the sender). Waits for it; {@link writeLeaveModel} returns at once.
 *
 * @example
 * await leaveModel(wallet, { addresses, modelId })
 */
export function leaveModel(client: VeilClient, params: LeaveModelParameters): Promise<LeaveModelReturnType> {
  return andWait(client, buildLeaveModel(client, params));
}

/** {@link leaveModel}, returning at once with the hash. */
export function writeLeaveModel(client: VeilClient, params: LeaveModelParameters): Promise<WriteLeaveModelReturnType> {
  return atOnce(buildLeaveModel(client, params));
}

async function buildLeaveModel(client: VeilClient, params: LeaveModelParameters) {
  const account = resolveAccount(client, params.account, "leaveModel");
  return pendingCall(client, account, { address: params.addresses.nodeStaking, abi: nodeStakingAbi, functionName: "leaveModel", args: [toBytes32(params.modelId)] }, { addresses: params.addresses });
}

// ---------------------------------------------------------------------------------------------------------------- getNode

export type GetNodeParameters = AddressesParameter & { address: Address };
export type GetNodeReturnType = Node;
export type GetNodeErrorType = VeilError;

/**
 * Reads an operator's registration, stake, models and pending staker rewards.
 *
 * @example
 * const node = await getNode(client, { addresses, address: "0x..." })
 * console.log(node.stake, node.eligible)
 */
export async function getNode(client: VeilClient, params: GetNodeParameters): Promise<GetNodeReturnType> {
  const address = params.addresses.nodeStaking;
  const [op, freeStake, pendingRewards] = await decoded(
    Promise.all([
      readContract(client, { address, abi: nodeStakingAbi, functionName: "operator", args: [params.address] }),
      readContract(client, { address, abi: nodeStakingAbi, functionName: "freeStake", args: [params.address] }),
      readContract(client, { address, abi: nodeStakingAbi, functionName: "pendingRewards", args: [params.address] }),
    ]),
  );
  return {
    address: params.address,
    registered: op.registered,
    stake: op.stake,
    locked: op.locked,
    freeStake,
    unbonding: op.unbonding,
    unbondEnd: Number(op.unbondEnd),
    encryptionKey: op.encryptionKey,
    endpoint: op.endpoint,
    models: [...op.models],
    eligible: op.eligible,
    pendingRewards,
  };
}

// ---------------------------------------------------------------------------------------------------------------- claimStakerRewards

export type ClaimStakerRewardsParameters = WriteParameters & {
  /** Recipient (default: the sender). */
  to?: Address | undefined;
};
export type ClaimStakerRewardsReturnType = WriteReturnType & { amount: bigint };
export type WriteClaimStakerRewardsReturnType = SentReturnType;
export type ClaimStakerRewardsErrorType = VeilError;

/**
 * Claims the sender's share of job fees paid to stakers (fee token); waits for it and returns the amount
 * (RewardsClaimed event). {@link writeClaimStakerRewards} returns at once.
 *
 * @example
 * const { amount } = await claimStakerRewards(wallet, { addresses })
 */
export function claimStakerRewards(client: VeilClient, params: ClaimStakerRewardsParameters): Promise<ClaimStakerRewardsReturnType> {
  return andWait(client, buildClaimStakerRewards(client, params));
}

/** {@link claimStakerRewards}, returning at once with the hash. */
export function writeClaimStakerRewards(client: VeilClient, params: ClaimStakerRewardsParameters): Promise<WriteClaimStakerRewardsReturnType> {
  return atOnce(buildClaimStakerRewards(client, params));
}

async function buildClaimStakerRewards(client: VeilClient, params: ClaimStakerRewardsParameters) {
  const account = resolveAccount(client, params.account, "claimStakerRewards");
  const staking = params.addresses.nodeStaking;
  return pendingCall(client, account, { address: staking, abi: nodeStakingAbi, functionName: "claimRewards", args: [params.to ?? account.address] }, { addresses: params.addresses, moves: "feeToken" }, (receipt) => ({
    amount: eventArgs(nodeStakingAbi, receipt, staking, "RewardsClaimed").amount as bigint,
  }));
}
