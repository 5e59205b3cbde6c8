import { erc20Abi, type Address } from "viem";
import { readContract } from "viem/actions";
import { computeCreditsAbi } from "@veil/contracts";
import type { VeilError } from "../errors.js";
import {
  andWait,
  atOnce,
  decoded,
  eventArgs,
  pendingCall,
  requireAddress,
  resolveAccount,
  type AddressesParameter,
  type PendingWrite,
  type SentReturnType,
  type VeilClient,
  type WriteParameters,
  type WriteReturnType,
} from "../internal.js";
import { pendingPaying, type Payment } from "./tokens.js";

// ---------------------------------------------------------------------------------------------------------------- mintCredits

export type MintCreditsParameters = WriteParameters & {
  /** Credits to mint, 1e18 units. */
  credits: bigint;
  /** Most staking tokens to pay (default: the current `mintCost`, i.e. no slippage allowed). */
  maxCost?: bigint | undefined;
};
/** What {@link writeMintCredits} knows once the mint is sent. */
export type MintCreditsSent = Payment & {
  /** The most staking tokens the mint may cost (approved or allowed exactly). */
  maxCost: bigint;
};
export type MintCreditsReturnType = WriteReturnType & MintCreditsSent & { cost: bigint };
export type WriteMintCreditsReturnType = SentReturnType & MintCreditsSent;
export type MintCreditsErrorType = VeilError;

/**
 * Mints compute credits by locking staking tokens on the price curve. ComputeCredits has no permit path, so the
 * mint is simulated first with an allowance of `maxCost` (a mint that would fail throws its named error with
 * nothing signed), then an approval of exactly `maxCost` (by default the current cost) is sent, then the mint. An
 * allowance that already covers `maxCost` is used as is. Waits for the mint and returns its cost (Minted event);
 * {@link writeMintCredits} returns at once.
 *
 * @example
 * const { cost } = await mintCredits(wallet, { addresses, credits: parseEther("10") })
 */
export function mintCredits(client: VeilClient, params: MintCreditsParameters): Promise<MintCreditsReturnType> {
  return andWait(client, buildMintCredits(client, params));
}

/** {@link mintCredits}, returning at once with the hash (the approval, when one is needed, is mined first). */
export function writeMintCredits(client: VeilClient, params: MintCreditsParameters): Promise<WriteMintCreditsReturnType> {
  return atOnce(buildMintCredits(client, params));
}

async function buildMintCredits(client: VeilClient, params: MintCreditsParameters): Promise<PendingWrite<MintCreditsSent, { cost: bigint }>> {
  const account = resolveAccount(client, params.account, "mintCredits");
  const address = requireAddress(params.addresses, "computeCredits");
  const maxCost =
    params.maxCost ?? (await decoded(readContract(client, { address, abi: computeCreditsAbi, functionName: "mintCost", args: [params.credits] })));
  const paid = await pendingPaying(
    client,
    account,
    {
      addresses: params.addresses,
      token: params.addresses.stakingToken,
      spender: address,
      amount: maxCost,
      call: { address, abi: computeCreditsAbi, functionName: "mint", args: [params.credits, maxCost] },
    },
    (receipt) => ({ cost: eventArgs(computeCreditsAbi, receipt, address, "Minted").cost as bigint }),
  );
  return { ...paid, known: { ...paid.known, maxCost } };
}

// ---------------------------------------------------------------------------------------------------------------- burnCredits

export type BurnCreditsParameters = WriteParameters & {
  credits: bigint;
  /** Fewest staking tokens to accept (default: the current `burnReturn`). */
  minReturn?: bigint | undefined;
};
/** What {@link writeBurnCredits} knows once the burn is sent. */
export type BurnCreditsSent = {
  /** The fewest staking tokens the burn accepts. */
  minReturn: bigint;
};
export type BurnCreditsReturnType = WriteReturnType & BurnCreditsSent & { stakeReturned: bigint; unlockTime: number };
export type WriteBurnCreditsReturnType = SentReturnType & BurnCreditsSent;
export type BurnCreditsErrorType = VeilError;

/**
 * Burns credits and starts an unlock of the staking tokens they locked (withdraw with {@link withdrawUnlockedCredits}).
 * Waits for the burn and returns what it returns and when it unlocks (Burned event); {@link writeBurnCredits}
 * returns at once.
 *
 * @example
 * const { stakeReturned, unlockTime } = await burnCredits(wallet, { addresses, credits: parseEther("5") })
 */
export function burnCredits(client: VeilClient, params: BurnCreditsParameters): Promise<BurnCreditsReturnType> {
  return andWait(client, buildBurnCredits(client, params));
}

/** {@link burnCredits}, returning at once with the hash. */
export function writeBurnCredits(client: VeilClient, params: BurnCreditsParameters): Promise<WriteBurnCreditsReturnType> {
  return atOnce(buildBurnCredits(client, params));
}

async function buildBurnCredits(client: VeilClient, params: BurnCreditsParameters): Promise<PendingWrite<BurnCreditsSent, { stakeReturned: bigint; unlockTime: number }>> {
  const account = resolveAccount(client, params.account, "burnCredits");
  const address = requireAddress(params.addresses, "computeCredits");
  const minReturn =
    params.minReturn ?? (await decoded(readContract(client, { address, abi: computeCreditsAbi, functionName: "burnReturn", args: [params.credits] })));
  const call = { address, abi: computeCreditsAbi, functionName: "burn", args: [params.credits, minReturn] } as const;
  const sent = await pendingCall(client, account, call, { addresses: params.addresses, moves: "credits" }, (receipt) => {
    // From the event, not the simulation: the unlock time depends on the block the burn landed in.
    const burned = eventArgs(computeCreditsAbi, receipt, address, "Burned");
    return { stakeReturned: burned.stakeReturned as bigint, unlockTime: Number(burned.unlockTime) };
  });
  return { ...sent, known: { minReturn } };
}

// ---------------------------------------------------------------------------------------------------------------- withdrawUnlockedCredits

export type WithdrawUnlockedCreditsParameters = WriteParameters & { to?: Address | undefined };
export type WithdrawUnlockedCreditsReturnType = WriteReturnType & { amount: bigint };
export type WriteWithdrawUnlockedCreditsReturnType = SentReturnType;
export type WithdrawUnlockedCreditsErrorType = VeilError;

/**
 * Withdraws the staking tokens of every burn whose unlock delay has passed; waits for it and returns the amount
 * (Unlocked event). {@link writeWithdrawUnlockedCredits} returns at once.
 *
 * @example
 * const { amount } = await withdrawUnlockedCredits(wallet, { addresses })
 */
export function withdrawUnlockedCredits(client: VeilClient, params: WithdrawUnlockedCreditsParameters): Promise<WithdrawUnlockedCreditsReturnType> {
  return andWait(client, buildWithdrawUnlockedCredits(client, params));
}

/** {@link withdrawUnlockedCredits}, returning at once with the hash. */
export function writeWithdrawUnlockedCredits(client: VeilClient, params: WithdrawUnlockedCreditsParameters): Promise<WriteWithdrawUnlockedCreditsReturnType> {
  return atOnce(buildWithdrawUnlockedCredits(client, params));
}

async function buildWithdrawUnlockedCredits(client: VeilClient, params: WithdrawUnlockedCreditsParameters) {
  const account = resolveAccount(client, params.account, "withdrawUnlockedCredits");
  const address = requireAddress(params.addresses, "computeCredits");
  const call = { address, abi: computeCreditsAbi, functionName: "withdrawUnlocked", args: [params.to ?? account.address] } as const;
  return pendingCall(client, account, call, { addresses: params.addresses, moves: "stakingToken" }, (receipt) => ({
    amount: eventArgs(computeCreditsAbi, receipt, address, "Unlocked").amount as bigint,
  }));
}

// ---------------------------------------------------------------------------------------------------------------- getCreditAllowance

export type GetCreditAllowanceParameters = AddressesParameter & {
  address: Address;
  /** Also report what `agent` may still spend of `address`'s allowance today. */
  agent?: Address | undefined;
};
export type GetCreditAllowanceReturnType = {
  /** Credit balance (1e18 units). */
  credits: bigint;
  /** Fee-token units the holder can still spend today. */
  allowanceLeft: bigint;
  /** Unix time of the next daily reset (00:00 UTC). */
  nextReset: number;
  /** With `agent`: its cap left today. */
  agentAllowanceLeft: bigint | undefined;
};
export type GetCreditAllowanceErrorType = VeilError;

/**
 * A holder's credits and today's allowance.
 *
 * @example
 * const { allowanceLeft } = await getCreditAllowance(client, { addresses, address })
 */
export async function getCreditAllowance(client: VeilClient, params: GetCreditAllowanceParameters): Promise<GetCreditAllowanceReturnType> {
  const address = requireAddress(params.addresses, "computeCredits");
  const [credits, allowanceLeft, nextReset, agentAllowanceLeft] = await decoded(
    Promise.all([
      readContract(client, { address, abi: erc20Abi, functionName: "balanceOf", args: [params.address] }),
      readContract(client, { address, abi: computeCreditsAbi, functionName: "allowanceLeft", args: [params.address] }),
      readContract(client, { address, abi: computeCreditsAbi, functionName: "nextReset" }),
      params.agent
        ? readContract(client, { address, abi: computeCreditsAbi, functionName: "agentAllowanceLeft", args: [params.address, params.agent] })
        : Promise.resolve(undefined),
    ]),
  );
  return { credits, allowanceLeft, nextReset: Number(nextReset), agentAllowanceLeft };
}

// ---------------------------------------------------------------------------------------------------------------- grantAgent / revokeAgent

export type GrantAgentParameters = WriteParameters & {
  agent: Address;
  /** Fee-token units a day the agent may spend of the sender's allowance. */
  dailyCap: bigint;
};
export type GrantAgentReturnType = WriteReturnType;
export type WriteGrantAgentReturnType = SentReturnType;
export type GrantAgentErrorType = VeilError;

/**
 * Lets `agent` submit jobs paid by the sender's daily allowance, up to `dailyCap` a day. Waits for it;
 * {@link writeGrantAgent} returns at once.
 *
 * @example
 * await grantAgent(wallet, { addresses, agent: "0x...", dailyCap: 5_000_000n })
 */
export function grantAgent(client: VeilClient, params: GrantAgentParameters): Promise<GrantAgentReturnType> {
  return andWait(client, buildGrantAgent(client, params));
}

/** {@link grantAgent}, returning at once with the hash. */
export function writeGrantAgent(client: VeilClient, params: GrantAgentParameters): Promise<WriteGrantAgentReturnType> {
  return atOnce(buildGrantAgent(client, params));
}

async function buildGrantAgent(client: VeilClient, params: GrantAgentParameters) {
  const account = resolveAccount(client, params.account, "grantAgent");
  const address = requireAddress(params.addresses, "computeCredits");
  return pendingCall(client, account, { address, abi: computeCreditsAbi, functionName: "grantAgent", args: [params.agent, params.dailyCap] }, { addresses: params.addresses });
}

export type RevokeAgentParameters = WriteParameters & { agent: Address };
export type RevokeAgentReturnType = WriteReturnType;
export type WriteRevokeAgentReturnType = SentReturnType;
export type RevokeAgentErrorType = VeilError;

/**
 * Revokes an agent. Waits for it; {@link writeRevokeAgent} returns at once.
 *
 * @example
 * await revokeAgent(wallet, { addresses, agent: "0x..." })
 */
export function revokeAgent(client: VeilClient, params: RevokeAgentParameters): Promise<RevokeAgentReturnType> {
  return andWait(client, buildRevokeAgent(client, params));
}

/** {@link revokeAgent}, returning at once with the hash. */
export function writeRevokeAgent(client: VeilClient, params: RevokeAgentParameters): Promise<WriteRevokeAgentReturnType> {
  return atOnce(buildRevokeAgent(client, params));
}

async function buildRevokeAgent(client: VeilClient, params: RevokeAgentParameters) {
  const account = resolveAccount(client, params.account, "revokeAgent");
  const address = requireAddress(params.addresses, "computeCredits");
  return pendingCall(client, account, { address, abi: computeCreditsAbi, functionName: "revokeAgent", args: [params.agent] }, { addresses: params.addresses });
}
