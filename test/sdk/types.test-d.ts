/**
 * Compile-time tests of the SDK's public types, checked by `npx tsc --noEmit -p sdk/tsconfig.json`
 * (test/sdk/types.test.ts runs it). Nothing here runs: every check is a type assertion or a `@ts-expect-error`
 * that fails compilation if the types become looser than intended.
 */
import type { Account, Address, Chain, Hex, Transport, WalletClient, PublicClient } from "viem";
import {
  getJob,
  submitJob,
  veilActions,
  veilPublicActions,
  waitForResult,
  writeSubmitJob,
  type Job,
  type JobResult,
  type JobStatus,
  type Model,
  type SubmitJobParameters,
  type SubmitJobReturnType,
  type TensorMap,
  type VeilAddresses,
  type VeilContractError,
  type VeilError,
  type SubmitJobErrorType,
  type WriteSubmitJobReturnType,
  type WriteStakeReturnType,
} from "../../packages/sdk/src/index.js";
import type { BaseError } from "viem";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(_ok?: T) => {};

assertType<Equal<SubmitJobReturnType["jobId"], bigint>>();
assertType<Equal<SubmitJobReturnType["operators"], Address[]>>();
assertType<Equal<SubmitJobReturnType["hash"], Hex>>();
assertType<Equal<Job["status"], JobStatus>>();
assertType<Equal<Job["source"], "chain" | "events">>();
assertType<Equal<JobStatus, "None" | "Assigned" | "Revealing" | "Proposed" | "Disputed" | "Finalized" | "Refunded">>();
assertType<Equal<JobResult["outputs"], TensorMap>>();
assertType<Equal<Model["comparator"], { readonly kind: "exact" } | { readonly kind: "rounded"; readonly precision: number }>>();
assertType<Equal<SubmitJobErrorType, VeilError>>();
assertType<VeilContractError extends VeilError ? true : false>();
assertType<VeilError extends BaseError ? true : false>();
// The form that returns at once: the hash and what is known before mining, no receipt and no job id.
assertType<Equal<WriteSubmitJobReturnType["hash"], Hex>>();
assertType<Equal<WriteSubmitJobReturnType["inputHash"], Hex>>();
assertType<"receipt" extends keyof WriteSubmitJobReturnType ? false : true>();
assertType<"jobId" extends keyof WriteSubmitJobReturnType ? false : true>();
assertType<Equal<WriteStakeReturnType["paidWith"], "allowance" | "permit" | "approval">>();
assertType<Equal<NonNullable<SubmitJobParameters["payment"]>, "transfer" | "deposit" | "permit" | "allowance" | "auto">>();

export async function walletChecks(wallet: WalletClient<Transport, Chain, Account>, pub: PublicClient, addresses: VeilAddresses, modelId: Hex) {
  const inputs: TensorMap = { x: { type: "float32", dims: [1, 2], data: new Float32Array(2) } };

  // Plain actions take a client and parameters.
  (await submitJob(wallet, { addresses, modelId, inputs })) satisfies SubmitJobReturnType;
  (await getJob(pub, { addresses, jobId: 1n })) satisfies Job;
  (await waitForResult(pub, { addresses, jobId: 1n, until: "finalized", timeout: 1_000 })) satisfies JobResult;

  // The decorator binds the addresses; they may still be overridden per call.
  const veil = wallet.extend(veilActions({ addresses }));
  const { jobId } = await veil.submitJob({ modelId, inputs, payment: "deposit" });
  jobId satisfies bigint;
  (await veil.writeSubmitJob({ modelId, inputs })).hash satisfies Hex;
  (await writeSubmitJob(wallet, { addresses, modelId, inputs })) satisfies WriteSubmitJobReturnType;
  (await veil.writeStake({ amount: 1n })) satisfies WriteStakeReturnType;
  (await veil.writeWithdrawEarnings()).hash satisfies Hex;
  (await veil.getJob({ jobId, addresses })).status satisfies JobStatus;
  (await veil.withdrawEarnings()).amount satisfies bigint;
  const reader = pub.extend(veilPublicActions({ addresses }));
  (await reader.listModels()) satisfies Model[];

  // @ts-expect-error a public-actions client has no write actions
  reader.submitJob;
  // @ts-expect-error nor their forms that return at once
  reader.writeSubmitJob;
  // @ts-expect-error the form that returns at once has no receipt
  (await veil.writeDeposit({ amount: 1n })).receipt;
  // @ts-expect-error modelId must be hex
  await veil.submitJob({ modelId: "abc", inputs });
  // @ts-expect-error inputs are required
  await submitJob(wallet, { addresses, modelId });
  // @ts-expect-error unknown payment mode
  await submitJob(wallet, { addresses, modelId, inputs, payment: "cash" });
  // @ts-expect-error jobId is a bigint
  await getJob(pub, { addresses, jobId: 1 });
  // @ts-expect-error plain actions need the addresses
  await getJob(pub, { jobId: 1n });
  // @ts-expect-error a tensor's data must match its dtype
  const bad: TensorMap = { x: { type: "float32", dims: [1], data: new Int32Array(1) } };
  return bad;
}
