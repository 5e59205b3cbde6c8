import { zeroHash, type Address, type Hex } from "viem";
import { readContract } from "viem/actions";
import { nodeStakingAbi } from "@veil/contracts";
import { decoded, eventArgs, resolveAccount, send, toBytes32, type AddressesParameter, type VeilClient, type WriteParameters, type WriteReturnType } from "../internal.js";
import type { VeilError } from "../errors.js";
import { sendPaying, type ApprovalMode } from "./tokens.js";

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
export type RegisterNodeErrorType = VeilError;

/**
 * Registers the sender as an operator.
 *
 * @example
 * await registerNode(wallet, { addresses, endpoint: "https://node.example.com" })
 */
export async function registerNode(client: VeilClient, params: RegisterNodeParameters): Promise<RegisterNodeReturnType> {
  const account = resolveAccount(client, params.account, "registerNode");
  const { hash, receipt } = await send(client, account, {
    address: params.addresses.nodeStaking,
    abi: nodeStakingAbi,
    functionName: "register",
    args: [params.endpoint, toBytes32(params.encryptionKey ?? zeroHash)],
  }, { addresses: params.addresses });
  return { hash, receipt };
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
export type StakeReturnType = WriteReturnType & { approvalHash: Hex | undefined };
export type StakeErrorType = VeilError;

/**
 * Adds `amount` to the sender's stake. Simulated first with the allowance it needs, so a stake that would fail
 * throws its named error with nothing signed; then paid by a permit in the same transaction (`stakeWithPermit`), or,
 * for a token without permit, an approval of exactly `amount` followed by the stake. An allowance that already
 * covers `amount` is used as is.
 *
 * @example
 * await stake(wallet, { addresses, amount: parseEther("5000") })
 */
export async function stake(client: VeilClient, params: StakeParameters): Promise<StakeReturnType> {
  const account = resolveAccount(client, params.account, "stake");
  const { addresses, amount } = params;
  const staking = addresses.nodeStaking;
  const { hash, receipt, approvalHash } = await sendPaying(client, account, {
    addresses,
    token: addresses.stakingToken,
    spender: staking,
    amount,
    call: { address: staking, abi: nodeStakingAbi, functionName: "stake", args: [amount] },
    withPermit: (p) => ({ address: staking, abi: nodeStakingAbi, functionName: "stakeWithPermit", args: [amount, p.deadline, p.v, p.r, p.s] }),
    approval: params.approval,
  });
  return { hash, receipt, approvalHash };
}

// ---------------------------------------------------------------------------------------------------------------- requestUnbond

export type RequestUnbondParameters = WriteParameters & { amount: bigint };
export type RequestUnbondReturnType = WriteReturnType & { unbondEnd: number };
export type RequestUnbondErrorType = VeilError;

/**
 * Moves `amount` of free stake to unbonding (still slashable until the unbonding period ends).
 *
 * @example
 * const { unbondEnd } = await requestUnbond(wallet, { addresses, amount: parseEther("1000") })
 */
export async function requestUnbond(client: VeilClient, params: RequestUnbondParameters): Promise<RequestUnbondReturnType> {
  const account = resolveAccount(client, params.account, "requestUnbond");
  const { hash, receipt } = await send(client, account, {
    address: params.addresses.nodeStaking,
    abi: nodeStakingAbi,
    functionName: "requestUnbond",
    args: [params.amount],
  }, { addresses: params.addresses, moves: "stakingToken" });
  return { hash, receipt, unbondEnd: Number(eventArgs(nodeStakingAbi, receipt, params.addresses.nodeStaking, "UnbondRequested").unbondEnd) };
}

// ---------------------------------------------------------------------------------------------------------------- withdrawUnbonded

export type WithdrawUnbondedParameters = WriteParameters;
export type WithdrawUnbondedReturnType = WriteReturnType & { amount: bigint };
export type WithdrawUnbondedErrorType = VeilError;

/**
 * Withdraws all unbonded stake whose unbonding period has passed.
 *
 * @example
 * const { amount } = await withdrawUnbonded(wallet, { addresses })
 */
export async function withdrawUnbonded(client: VeilClient, params: WithdrawUnbondedParameters): Promise<WithdrawUnbondedReturnType> {
  const account = resolveAccount(client, params.account, "withdrawUnbonded");
  const { hash, receipt } = await send(client, account, {
    address: params.addresses.nodeStaking,
    abi: nodeStakingAbi,
    functionName: "withdrawUnbonded",
    args: [],
  }, { addresses: params.addresses, moves: "stakingToken" });
  return { hash, receipt, amount: eventArgs(nodeStakingAbi, receipt, params.addresses.nodeStaking, "UnbondWithdrawn").amount as bigint };
}

// ---------------------------------------------------------------------------------------------------------------- joinModel / leaveModel

export type JoinModelParameters = WriteParameters & { modelId: Hex };
export type JoinModelReturnType = WriteReturnType;
export type JoinModelErrorType = VeilError;

/**
 * Opts the sender in to serving a model (it becomes eligible for that model's jobs).
 *
 * @example
 * await joinModel(wallet, { addresses, modelId })
 */
export async function joinModel(client: VeilClient, params: JoinModelParameters): Promise<JoinModelReturnType> {
  const account = resolveAccount(client, params.account, "joinModel");
  const { hash, receipt } = await send(client, account, {
    address: params.addresses.nodeStaking,
    abi: nodeStakingAbi,
    functionName: "joinModel",
    args: [toBytes32(params.modelId)],
  }, { addresses: params.addresses });
  return { hash, receipt };
}

export type LeaveModelParameters = WriteParameters & { modelId: Hex };
export type LeaveModelReturnType = WriteReturnType;
export type LeaveModelErrorType = VeilError;

/**
 * Stops serving a model (no new jobs of it are assigned to the sender).
 *
 * @example
 * await leaveModel(wallet, { addresses, modelId })
 */
export async function leaveModel(client: VeilClient, params: LeaveModelParameters): Promise<LeaveModelReturnType> {
  const account = resolveAccount(client, params.account, "leaveModel");
  const { hash, receipt } = await send(client, account, {
    address: params.addresses.nodeStaking,
    abi: nodeStakingAbi,
    functionName: "leaveModel",
    args: [toBytes32(params.modelId)],
  }, { addresses: params.addresses });
  return { hash, receipt };
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
export type ClaimStakerRewardsErrorType = VeilError;

/**
 * Claims the sender's share of job fees paid to stakers (fee token).
 *
 * @example
 * const { amount } = await claimStakerRewards(wallet, { addresses })
 */
export async function claimStakerRewards(client: VeilClient, params: ClaimStakerRewardsParameters): Promise<ClaimStakerRewardsReturnType> {
  const account = resolveAccount(client, params.account, "claimStakerRewards");
  const { hash, receipt } = await send(client, account, {
    address: params.addresses.nodeStaking,
    abi: nodeStakingAbi,
    functionName: "claimRewards",
    args: [params.to ?? account.address],
  }, { addresses: params.addresses, moves: "feeToken" });
  return { hash, receipt, amount: eventArgs(nodeStakingAbi, receipt, params.addresses.nodeStaking, "RewardsClaimed").amount as bigint };
}
