import { encodeFunctionData, type Address } from "viem";
import { readContract } from "viem/actions";
import { jobEscrowAbi } from "@veil/contracts";
import {
  andWait,
  atOnce,
  decoded,
  eventArgs,
  pendingCall,
  resolveAccount,
  type AddressesParameter,
  type SentReturnType,
  type VeilClient,
  type WriteParameters,
  type WriteReturnType,
} from "../internal.js";
import type { VeilError } from "../errors.js";
import { pendingPaying, type ApprovalMode, type Payment } from "./tokens.js";

// ---------------------------------------------------------------------------------------------------------------- getEarnings

export type GetEarningsParameters = AddressesParameter & { address: Address };
export type GetEarningsReturnType = bigint;
export type GetEarningsErrorType = VeilError;

/**
 * Fee-token earnings (operator shares, model royalties) waiting in the escrow for `address`.
 *
 * @example
 * const earned = await getEarnings(client, { addresses, address: operator })
 */
export async function getEarnings(client: VeilClient, params: GetEarningsParameters): Promise<GetEarningsReturnType> {
  return decoded(readContract(client, { address: params.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "earningsOf", args: [params.address] }));
}

// ---------------------------------------------------------------------------------------------------------------- withdrawEarnings

export type WithdrawEarningsParameters = WriteParameters & { to?: Address | undefined };
export type WithdrawEarningsReturnType = WriteReturnType & { amount: bigint };
export type WriteWithdrawEarningsReturnType = SentReturnType;
export type WithdrawEarningsErrorType = VeilError;

/**
 * Withdraws all of the sender's earnings (never paused). Reverts with JobEscrowNothingToWithdraw when there are none.
 * Waits for it and returns the amount (EarningsWithdrawn event); {@link writeWithdrawEarnings} returns at once.
 *
 * @example
 * const { amount } = await withdrawEarnings(wallet, { addresses })
 */
export function withdrawEarnings(client: VeilClient, params: WithdrawEarningsParameters): Promise<WithdrawEarningsReturnType> {
  return andWait(client, buildWithdrawEarnings(client, params));
}

/** {@link withdrawEarnings}, returning at once with the hash. */
export function writeWithdrawEarnings(client: VeilClient, params: WithdrawEarningsParameters): Promise<WriteWithdrawEarningsReturnType> {
  return atOnce(buildWithdrawEarnings(client, params));
}

async function buildWithdrawEarnings(client: VeilClient, params: WithdrawEarningsParameters) {
  const account = resolveAccount(client, params.account, "withdrawEarnings");
  const escrow = params.addresses.jobEscrow;
  return pendingCall(client, account, { address: escrow, abi: jobEscrowAbi, functionName: "withdrawEarnings", args: [params.to ?? account.address] }, { addresses: params.addresses, moves: "feeToken" }, (receipt) => ({
    amount: eventArgs(jobEscrowAbi, receipt, escrow, "EarningsWithdrawn").amount as bigint,
  }));
}

// ---------------------------------------------------------------------------------------------------------------- deposit

export type DepositParameters = WriteParameters & {
  /** Fee-token base units. */
  amount: bigint;
  /** Credit another account's deposit (default: the sender's). */
  for?: Address | undefined;
  /**
   * `"auto"` (default: an EIP-2612 permit in the same transaction, the escrow's multicall of `permitFeeToken` and
   * the deposit, when the fee token supports one), `"permit"`, or `"approve"` (an approval of exactly `amount`,
   * sent after the deposit simulated successfully).
   */
  approval?: ApprovalMode | undefined;
};
export type DepositReturnType = WriteReturnType & Payment;
export type WriteDepositReturnType = SentReturnType & Payment;
export type DepositErrorType = VeilError;

/**
 * Prepays fees into the escrow; jobs can then be paid with `submitJob({ payment: "deposit" })` and refunds land
 * there too. Simulated first with the allowance it needs (a failing deposit throws its named error with nothing
 * signed), then paid by a permit in the same transaction, or by an approval of exactly `amount` for a token
 * without permit. Waits for the deposit; {@link writeDeposit} returns at once.
 *
 * @example
 * await deposit(wallet, { addresses, amount: 10_000_000n }) // 10 USDC
 */
export function deposit(client: VeilClient, params: DepositParameters): Promise<DepositReturnType> {
  return andWait(client, buildDeposit(client, params));
}

/** {@link deposit}, returning at once with the hash (an approval, when one is needed, is mined first). */
export function writeDeposit(client: VeilClient, params: DepositParameters): Promise<WriteDepositReturnType> {
  return atOnce(buildDeposit(client, params));
}

async function buildDeposit(client: VeilClient, params: DepositParameters) {
  const account = resolveAccount(client, params.account, "deposit");
  const { addresses, amount } = params;
  const escrow = addresses.jobEscrow;
  const inner = params.for
    ? encodeFunctionData({ abi: jobEscrowAbi, functionName: "depositFor", args: [params.for, amount] })
    : encodeFunctionData({ abi: jobEscrowAbi, functionName: "deposit", args: [amount] });
  return pendingPaying(client, account, {
    addresses,
    token: addresses.feeToken,
    spender: escrow,
    amount,
    call: params.for
      ? { address: escrow, abi: jobEscrowAbi, functionName: "depositFor", args: [params.for, amount] }
      : { address: escrow, abi: jobEscrowAbi, functionName: "deposit", args: [amount] },
    withPermit: (p) => ({
      address: escrow,
      abi: jobEscrowAbi,
      functionName: "multicall",
      args: [[encodeFunctionData({ abi: jobEscrowAbi, functionName: "permitFeeToken", args: [p.value, p.deadline, p.v, p.r, p.s] }), inner]],
    }),
    approval: params.approval,
  });
}

// ---------------------------------------------------------------------------------------------------------------- withdrawDeposit

export type WithdrawDepositParameters = WriteParameters & { amount: bigint; to?: Address | undefined };
export type WithdrawDepositReturnType = WriteReturnType;
export type WriteWithdrawDepositReturnType = SentReturnType;
export type WithdrawDepositErrorType = VeilError;

/**
 * Withdraws from the sender's deposit (never paused), and waits for it; {@link writeWithdrawDeposit} returns at once.
 *
 * @example
 * await withdrawDeposit(wallet, { addresses, amount: 5_000_000n })
 */
export function withdrawDeposit(client: VeilClient, params: WithdrawDepositParameters): Promise<WithdrawDepositReturnType> {
  return andWait(client, buildWithdrawDeposit(client, params));
}

/** {@link withdrawDeposit}, returning at once with the hash. */
export function writeWithdrawDeposit(client: VeilClient, params: WithdrawDepositParameters): Promise<WriteWithdrawDepositReturnType> {
  return atOnce(buildWithdrawDeposit(client, params));
}

async function buildWithdrawDeposit(client: VeilClient, params: WithdrawDepositParameters) {
  const account = resolveAccount(client, params.account, "withdrawDeposit");
  const call = { address: params.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "withdrawDeposit", args: [params.amount, params.to ?? account.address] } as const;
  return pendingCall(client, account, call, { addresses: params.addresses, moves: "feeToken" });
}

// ---------------------------------------------------------------------------------------------------------------- getDeposit

export type GetDepositParameters = AddressesParameter & { address: Address };
export type GetDepositReturnType = bigint;
export type GetDepositErrorType = VeilError;

/**
 * The prepaid deposit of `address` in the escrow.
 *
 * @example
 * const balance = await getDeposit(client, { addresses, address })
 */
export async function getDeposit(client: VeilClient, params: GetDepositParameters): Promise<GetDepositReturnType> {
  return decoded(readContract(client, { address: params.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "depositOf", args: [params.address] }));
}
