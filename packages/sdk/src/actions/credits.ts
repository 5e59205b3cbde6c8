import { erc20Abi, type Address, type Hex } from "viem";
import { readContract } from "viem/actions";
import { computeCreditsAbi } from "@veil/contracts";
import type { VeilError } from "../errors.js";
import { decoded, eventArgs, requireAddress, resolveAccount, send, type AddressesParameter, type VeilClient, type WriteParameters, type WriteReturnType } from "../internal.js";
import { sendPaying } from "./tokens.js";

// ---------------------------------------------------------------------------------------------------------------- mintCredits

export type MintCreditsParameters = WriteParameters & {
  /** Credits to mint, 1e18 units. */
  credits: bigint;
  /** Most staking tokens to pay (default: the current `mintCost`, i.e. no slippage allowed). */
  maxCost?: bigint | undefined;
};
export type MintCreditsReturnType = WriteReturnType & { cost: bigint; approvalHash: Hex | undefined };
export type MintCreditsErrorType = VeilError;

/**
 * Mints compute credits by locking staking tokens on the price curve. ComputeCredits has no permit path, so the
 * mint is simulated first with an allowance of `maxCost` (a mint that would fail throws its named error with
 * nothing signed), then an approval of exactly `maxCost` (by default the current cost) is sent, then the mint. An
 * allowance that already covers `maxCost` is used as is.
 *
 * @example
 * const { cost } = await mintCredits(wallet, { addresses, credits: parseEther("10") })
 */
export async function mintCredits(client: VeilClient, params: MintCreditsParameters): Promise<MintCreditsReturnType> {
  const account = resolveAccount(client, params.account, "mintCredits");
  const address = requireAddress(params.addresses, "computeCredits");
  const maxCost =
    params.maxCost ?? (await decoded(readContract(client, { address, abi: computeCreditsAbi, functionName: "mintCost", args: [params.credits] })));
  const { hash, receipt, approvalHash } = await sendPaying(client, account, {
    addresses: params.addresses,
    token: params.addresses.stakingToken,
    spender: address,
    amount: maxCost,
    call: { address, abi: computeCreditsAbi, functionName: "mint", args: [params.credits, maxCost] },
  });
  return { hash, receipt, cost: eventArgs(computeCreditsAbi, receipt, address, "Minted").cost as bigint, approvalHash };
}

// ---------------------------------------------------------------------------------------------------------------- burnCredits

export type BurnCreditsParameters = WriteParameters & {
  credits: bigint;
  /** Fewest staking tokens to accept (default: the current `burnReturn`). */
  minReturn?: bigint | undefined;
};
export type BurnCreditsReturnType = WriteReturnType & { stakeReturned: bigint; unlockTime: number };
export type BurnCreditsErrorType = VeilError;

/**
 * Burns credits and starts an unlock of the staking tokens they locked (withdraw with {@link withdrawUnlockedCredits}).
 *
 * @example
 * const { stakeReturned, unlockTime } = await burnCredits(wallet, { addresses, credits: parseEther("5") })
 */
export async function burnCredits(client: VeilClient, params: BurnCreditsParameters): Promise<BurnCreditsReturnType> {
  const account = resolveAccount(client, params.account, "burnCredits");
  const address = requireAddress(params.addresses, "computeCredits");
  const minReturn =
    params.minReturn ?? (await decoded(readContract(client, { address, abi: computeCreditsAbi, functionName: "burnReturn", args: [params.credits] })));
  const { hash, receipt } = await send(client, account, { address, abi: computeCreditsAbi, functionName: "burn", args: [params.credits, minReturn] }, { addresses: params.addresses, moves: "credits" });
  // From the event, not the simulation: the unlock time depends on the block the burn landed in.
  const burned = eventArgs(computeCreditsAbi, receipt, address, "Burned");
  return { hash, receipt, stakeReturned: burned.stakeReturned as bigint, unlockTime: Number(burned.unlockTime) };
}

// ---------------------------------------------------------------------------------------------------------------- withdrawUnlockedCredits

export type WithdrawUnlockedCreditsParameters = WriteParameters & { to?: Address | undefined };
export type WithdrawUnlockedCreditsReturnType = WriteReturnType & { amount: bigint };
export type WithdrawUnlockedCreditsErrorType = VeilError;

/**
 * Withdraws the staking tokens of every burn whose unlock delay has passed.
 *
 * @example
 * const { amount } = await withdrawUnlockedCredits(wallet, { addresses })
 */
export async function withdrawUnlockedCredits(client: VeilClient, params: WithdrawUnlockedCreditsParameters): Promise<WithdrawUnlockedCreditsReturnType> {
  const account = resolveAccount(client, params.account, "withdrawUnlockedCredits");
  const address = requireAddress(params.addresses, "computeCredits");
  const { hash, receipt } = await send(client, account, { address, abi: computeCreditsAbi, functionName: "withdrawUnlocked", args: [params.to ?? account.address] }, { addresses: params.addresses, moves: "stakingToken" });
  return { hash, receipt, amount: eventArgs(computeCreditsAbi, receipt, address, "Unlocked").amount as bigint };
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
export type GrantAgentErrorType = VeilError;

/**
 * Lets `agent` submit jobs paid by the sender's daily allowance, up to `dailyCap` a day.
 *
 * @example
 * await grantAgent(wallet, { addresses, agent: "0x...", dailyCap: 5_000_000n })
 */
export async function grantAgent(client: VeilClient, params: GrantAgentParameters): Promise<GrantAgentReturnType> {
  const account = resolveAccount(client, params.account, "grantAgent");
  const address = requireAddress(params.addresses, "computeCredits");
  const { hash, receipt } = await send(client, account, { address, abi: computeCreditsAbi, functionName: "grantAgent", args: [params.agent, params.dailyCap] }, { addresses: params.addresses });
  return { hash, receipt };
}

export type RevokeAgentParameters = WriteParameters & { agent: Address };
export type RevokeAgentReturnType = WriteReturnType;
export type RevokeAgentErrorType = VeilError;

/**
 * Revokes an agent.
 *
 * @example
 * await revokeAgent(wallet, { addresses, agent: "0x..." })
 */
export async function revokeAgent(client: VeilClient, params: RevokeAgentParameters): Promise<RevokeAgentReturnType> {
  const account = resolveAccount(client, params.account, "revokeAgent");
  const address = requireAddress(params.addresses, "computeCredits");
  const { hash, receipt } = await send(client, account, { address, abi: computeCreditsAbi, functionName: "revokeAgent", args: [params.agent] }, { addresses: params.addresses });
  return { hash, receipt };
}
