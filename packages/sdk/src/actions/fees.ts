import { encodeFunctionData, type Address, type Hex } from "viem";
import { readContract } from "viem/actions";
import { jobEscrowAbi } from "@veil/contracts";
import { decoded, eventArgs, resolveAccount, send, type AddressesParameter, type VeilClient, type WriteParameters, type WriteReturnType } from "../internal.js";
import type { VeilError } from "../errors.js";
import { sendPaying, type ApprovalMode } from "./tokens.js";

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
export type WithdrawEarningsErrorType = VeilError;

/**
 * Withdraws all of the sender's earnings (never paused). Reverts with JobEscrowNothingToWithdraw when there are none.
 *
 * @example
 * const { amount } = await withdrawEarnings(wallet, { addresses })
 */
export async function withdrawEarnings(client: VeilClient, params: WithdrawEarningsParameters): Promise<WithdrawEarningsReturnType> {
  const account = resolveAccount(client, params.account, "withdrawEarnings");
  const { hash, receipt } = await send(client, account, {
    address: params.addresses.jobEscrow,
    abi: jobEscrowAbi,
    functionName: "withdrawEarnings",
    args: [params.to ?? account.address],
  }, { addresses: params.addresses, moves: "feeToken" });
  return { hash, receipt, amount: eventArgs(jobEscrowAbi, receipt, params.addresses.jobEscrow, "EarningsWithdrawn").amount as bigint };
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
export type DepositReturnType = WriteReturnType & { approvalHash: Hex | undefined };
export type DepositErrorType = VeilError;

/**
 * Prepays fees into the escrow; jobs can then be paid with `submitJob({ payment: "deposit" })` and refunds land
 * there too. Simulated first with the allowance it needs (a failing deposit throws its named error with nothing
 * signed), then paid by a permit in the same transaction, or by an approval of exactly `amount` for a token
 * without permit.
 *
 * @example
 * await deposit(wallet, { addresses, amount: 10_000_000n }) // 10 USDC
 */
export async function deposit(client: VeilClient, params: DepositParameters): Promise<DepositReturnType> {
  const account = resolveAccount(client, params.account, "deposit");
  const { addresses, amount } = params;
  const escrow = addresses.jobEscrow;
  const inner = params.for
    ? encodeFunctionData({ abi: jobEscrowAbi, functionName: "depositFor", args: [params.for, amount] })
    : encodeFunctionData({ abi: jobEscrowAbi, functionName: "deposit", args: [amount] });
  const { hash, receipt, approvalHash } = await sendPaying(client, account, {
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
  return { hash, receipt, approvalHash };
}

// ---------------------------------------------------------------------------------------------------------------- withdrawDeposit

export type WithdrawDepositParameters = WriteParameters & { amount: bigint; to?: Address | undefined };
export type WithdrawDepositReturnType = WriteReturnType;
export type WithdrawDepositErrorType = VeilError;

/**
 * Withdraws from the sender's deposit (never paused).
 *
 * @example
 * await withdrawDeposit(wallet, { addresses, amount: 5_000_000n })
 */
export async function withdrawDeposit(client: VeilClient, params: WithdrawDepositParameters): Promise<WithdrawDepositReturnType> {
  const account = resolveAccount(client, params.account, "withdrawDeposit");
  const { hash, receipt } = await send(client, account, {
    address: params.addresses.jobEscrow,
    abi: jobEscrowAbi,
    functionName: "withdrawDeposit",
    args: [params.amount, params.to ?? account.address],
  }, { addresses: params.addresses, moves: "feeToken" });
  return { hash, receipt };
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
