import { type Address } from "viem";
import { readContract } from "viem/actions";
import { feeLedgerAbi } from "@veil/contracts";
import {
  andWait,
  atOnce,
  decoded,
  eventArgs,
  feeLedgerAddress,
  pendingCall,
  resolveAccount,
  type AddressesParameter,
  type SentReturnType,
  type VeilClient,
  type WriteParameters,
  type WriteReturnType,
} from "../internal.js";
import { VeilError } from "../errors.js";
import { pendingPaying, type ApprovalMode, type Payment } from "./tokens.js";

// ---------------------------------------------------------------------------------------------------------------- getEarnings

export type GetEarningsParameters = AddressesParameter & { address: Address };
export type GetEarningsReturnType = bigint;
export type GetEarningsErrorType = VeilError;

/**
 * Fee-token earnings (operator shares, model royalties) waiting in the FeeLedger for `address`.
 *
 * @example
 * const earned = await getEarnings(client, { addresses, address: operator })
 */
export async function getEarnings(client: VeilClient, params: GetEarningsParameters): Promise<GetEarningsReturnType> {
  const ledger = await feeLedgerAddress(client, params.addresses);
  return decoded(readContract(client, { address: ledger, abi: feeLedgerAbi, functionName: "earningsOf", args: [params.address] }));
}

// ---------------------------------------------------------------------------------------------------------------- withdrawEarnings

export type WithdrawEarningsParameters = WriteParameters & { to?: Address | undefined };
export type WithdrawEarningsReturnType = WriteReturnType & { amount: bigint };
export type WriteWithdrawEarningsReturnType = SentReturnType;
export type WithdrawEarningsErrorType = VeilError;

/**
 * Withdraws all of the sender's earnings from the FeeLedger (never paused). Reverts with FeeLedgerNothingToWithdraw
 * when there are none.
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
  const ledger = await feeLedgerAddress(client, params.addresses);
  return pendingCall(client, account, { address: ledger, abi: feeLedgerAbi, functionName: "withdrawEarnings", args: [params.to ?? account.address] }, { addresses: params.addresses, moves: "feeToken" }, (receipt) => ({
    amount: eventArgs(feeLedgerAbi, receipt, ledger, "EarningsWithdrawn").amount as bigint,
  }));
}

// ---------------------------------------------------------------------------------------------------------------- deposit

export type DepositParameters = WriteParameters & {
  /** Fee-token base units. */
  amount: bigint;
  /** Credit another account's deposit (default: the sender's). */
  for?: Address | undefined;
  /**
   * `"auto"` (default): an EIP-2612 permit of the FeeLedger in the same transaction (`depositWithPermit`) when the
   * fee token supports permits, otherwise an approval of exactly `amount`; `"permit"` or `"approve"` force one
   * (none when the allowance already covers it).
   */
  approval?: ApprovalMode | undefined;
};
export type DepositReturnType = WriteReturnType & Payment;
export type WriteDepositReturnType = SentReturnType & Payment;
export type DepositErrorType = VeilError;

/**
 * Prepays fees into the FeeLedger; jobs can then be paid with `submitJob({ payment: "deposit" })` and refunds land
 * there too. Simulated first with the allowance it needs (a failing deposit throws its named error with nothing
 * signed), then paid by a permit in the same transaction or an approval of the ledger for exactly `amount` (unless the
 * allowance already covers it).
 * Waits for the deposit; {@link writeDeposit} returns at once.
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
  const ledger = await feeLedgerAddress(client, addresses);
  const account_ = params.for ?? account.address;
  return pendingPaying(client, account, {
    addresses,
    token: addresses.feeToken,
    spender: ledger,
    amount,
    call: params.for
      ? { address: ledger, abi: feeLedgerAbi, functionName: "depositFor", args: [params.for, amount] }
      : { address: ledger, abi: feeLedgerAbi, functionName: "deposit", args: [amount] },
    withPermit: (permit) => ({
      address: ledger,
      abi: feeLedgerAbi,
      functionName: "depositWithPermit",
      args: [account_, amount, permit.deadline, permit.v, permit.r, permit.s],
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
 * Withdraws from the sender's deposit in the FeeLedger (never paused), and waits for it; {@link writeWithdrawDeposit} returns at once.
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
  const ledger = await feeLedgerAddress(client, params.addresses);
  const call = { address: ledger, abi: feeLedgerAbi, functionName: "withdrawDeposit", args: [params.amount, params.to ?? account.address] } as const;
  return pendingCall(client, account, call, { addresses: params.addresses, moves: "feeToken" });
}

// ---------------------------------------------------------------------------------------------------------------- getDeposit

export type GetDepositParameters = AddressesParameter & { address: Address };
export type GetDepositReturnType = bigint;
export type GetDepositErrorType = VeilError;

/**
 * The prepaid deposit of `address` in the FeeLedger (refunds of the jobs it paid land there too).
 *
 * @example
 * const balance = await getDeposit(client, { addresses, address })
 */
export async function getDeposit(client: VeilClient, params: GetDepositParameters): Promise<GetDepositReturnType> {
  const ledger = await feeLedgerAddress(client, params.addresses);
  return decoded(readContract(client, { address: ledger, abi: feeLedgerAbi, functionName: "depositOf", args: [params.address] }));
}
