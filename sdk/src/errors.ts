/**
 * Errors of the Veil SDK. Every error the SDK throws extends {@link VeilError}, which carries a one-line
 * `shortMessage`, optional `details`, the `cause` chain, and a multi-line `message` in the style of viem's
 * BaseError. Contract reverts are decoded against every custom error of the protocol ABIs into
 * {@link VeilContractError} (or one of its named subclasses), whose message names the error and its values:
 * `JobEscrowFeeAboveMax: fee 150000 exceeds maxFee 100000`.
 * @module
 */
import { BaseError as ViemBaseError, decodeErrorResult, type Abi, type Hex } from "viem";

type AbiError = Extract<Abi[number], { type: "error" }>;
import { formatAbiItem } from "viem/utils";
import * as abis from "./generated/abis.js";

export const SDK_VERSION = "0.1.0";

export type VeilErrorParameters = {
  /** Extra lines shown under the short message. */
  metaMessages?: string[] | undefined;
  /** Technical detail (e.g. the node's message); defaults to the cause's message. */
  details?: string | undefined;
  cause?: unknown;
  /** Page under docs/ that explains the error. */
  docsPath?: string | undefined;
};

/**
 * Base of every SDK error.
 *
 * @example
 * try { await veil.submitJob({ ... }) } catch (e) {
 *   if (e instanceof VeilError) console.error(e.shortMessage)
 * }
 */
export class VeilError extends Error {
  override name = "VeilError";
  /** One line, no trailing detail: what went wrong. */
  readonly shortMessage: string;
  readonly details: string;
  readonly metaMessages: string[] | undefined;
  readonly docsPath: string | undefined;
  readonly version = `@veil/sdk@${SDK_VERSION}`;

  constructor(shortMessage: string, args: VeilErrorParameters = {}) {
    const details =
      args.details ??
      (args.cause instanceof ViemBaseError
        ? args.cause.details
        : args.cause instanceof Error
          ? args.cause.message
          : "");
    const message = [
      shortMessage || "An error occurred.",
      ...(args.metaMessages ? ["", ...args.metaMessages] : []),
      ...(details ? ["", `Details: ${details}`] : []),
      ...(args.docsPath ? [`Docs: docs/${args.docsPath}`] : []),
      `Version: @veil/sdk@${SDK_VERSION}`,
    ].join("\n");
    super(message, args.cause === undefined ? undefined : { cause: args.cause });
    this.shortMessage = shortMessage;
    this.details = details;
    this.metaMessages = args.metaMessages;
    this.docsPath = args.docsPath;
  }

  /** Walks the cause chain from this error: the first error `fn` accepts (or null), or the deepest cause without `fn`. */
  walk(fn?: (err: unknown) => boolean): unknown {
    let err: unknown = this;
    const seen = new Set<unknown>([err]);
    for (;;) {
      if (fn !== undefined && fn(err)) return err;
      const next = (err as { cause?: unknown } | null)?.cause;
      if (!next || seen.has(next)) return fn === undefined ? err : null;
      seen.add(next);
      err = next;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Contract errors
// ---------------------------------------------------------------------------------------------------------------------

function collectErrors(): AbiError[] {
  const seen = new Map<string, AbiError>();
  for (const abi of Object.values(abis) as readonly Abi[]) {
    for (const item of abi) {
      if (item.type !== "error") continue;
      const sig = formatAbiItem(item);
      if (!seen.has(sig)) seen.set(sig, item);
    }
  }
  return [...seen.values()];
}

/** Every custom error of the protocol contracts (and of the OpenZeppelin code they use), de-duplicated. */
export const veilErrorsAbi: readonly AbiError[] = collectErrors();

function formatValue(v: unknown): string {
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return `[${v.map(formatValue).join(", ")}]`;
  if (typeof v === "string") {
    // bytes32 parameter names (governance parameters) are right-padded ASCII: show the text.
    if (/^0x[0-9a-f]{64}$/i.test(v) && /^0x([2-7][0-9a-f])+(00)+$/i.test(v)) {
      const text = new TextDecoder().decode(Uint8Array.from(v.slice(2).match(/../g)!.map((b) => parseInt(b, 16))).filter((b) => b !== 0));
      return `${v} ("${text}")`;
    }
    return v;
  }
  return String(v);
}

const JOB_STATUS = ["None", "Assigned", "Revealing", "Proposed", "Disputed", "Finalized", "Refunded"] as const;

/** Hand-written messages for the errors users meet most; every other error gets `name(param value, ...)`. */
const MESSAGES: Record<string, (a: readonly any[]) => string> = {
  JobEscrowFeeAboveMax: ([fee, maxFee]) => `fee ${fee} exceeds maxFee ${maxFee}`,
  JobEscrowInsufficientDeposit: ([account, balance, needed]) =>
    `deposit of ${account} is ${balance}, ${needed} needed`,
  JobEscrowModelInactive: ([modelId]) => `model ${modelId} is not active`,
  JobEscrowUnknownJob: ([jobId]) => `job ${jobId} does not exist`,
  JobEscrowJobRecycled: ([jobId]) => `job ${jobId} settled and its record now holds a later job`,
  JobEscrowInputTooLarge: ([size, max]) => `input of ${size} bytes exceeds the inline limit of ${max} bytes`,
  JobEscrowDeadlineTooSoon: ([deadline, earliest]) => `deadline ${deadline} is before the earliest allowed ${earliest}`,
  JobEscrowDeadlineTooLate: ([deadline, latest]) => `deadline ${deadline} is after the latest allowed ${latest}`,
  JobEscrowWrongStatus: ([jobId, status]) => `job ${jobId} is ${JOB_STATUS[Number(status)] ?? status}`,
  JobEscrowWindowOpen: ([jobId, phaseEnd, nowTs]) => `job ${jobId}: window open until ${phaseEnd} (now ${nowTs})`,
  JobEscrowWindowClosed: ([jobId, phaseEnd, nowTs]) => `job ${jobId}: window closed at ${phaseEnd} (now ${nowTs})`,
  JobEscrowNotAssigned: ([jobId, slot, caller]) => `${caller} does not hold slot ${slot} of job ${jobId}`,
  JobEscrowNothingToWithdraw: ([account]) => `${account} has nothing to withdraw`,
  NodeStakingNotRegistered: ([op]) => `${op} is not a registered operator`,
  NodeStakingAlreadyRegistered: ([op]) => `${op} is already registered`,
  NodeStakingInsufficientFreeStake: ([op, requested, free]) =>
    `${op} requested ${requested} but has ${free} free stake`,
  NodeStakingUnbondNotReady: ([op, end, nowTs]) => `unbonding of ${op} ends at ${end} (now ${nowTs})`,
  NodeStakingNothingToWithdraw: ([op]) => `${op} has nothing unbonded to withdraw`,
  NodeStakingNotEnoughOperators: ([index, requested, available]) =>
    `model #${index} needs ${requested} operators, ${available} available`,
  ModelRegistryAlreadyRegistered: ([id]) => `model ${id} is already registered`,
  ModelRegistryUnknownModel: ([id]) => `model ${id} is not registered`,
  ModelRegistryNotOwner: ([id, caller, owner]) => `${caller} is not the owner of model ${id} (owner ${owner})`,
  ERC20InsufficientAllowance: ([spender, allowance, needed]) =>
    `allowance of ${spender} is ${allowance}, ${needed} needed`,
  ERC20InsufficientBalance: ([sender, balance, needed]) => `balance of ${sender} is ${balance}, ${needed} needed`,
  AccessManagedUnauthorized: ([caller]) => `${caller} is not authorized to call this function`,
};

function formatContractError(errorName: string, abiItem: AbiError | undefined, args: readonly unknown[]): string {
  const custom = MESSAGES[errorName];
  if (custom) return `${errorName}: ${custom(args)}`;
  if (args.length === 0) return errorName;
  const parts = args.map((v, i) => {
    const name = abiItem?.inputs[i]?.name;
    return name ? `${name} ${formatValue(v)}` : formatValue(v);
  });
  return `${errorName}: ${parts.join(", ")}`;
}

export type VeilContractErrorParameters = {
  errorName: string;
  args: readonly unknown[];
  abiItem?: AbiError | undefined;
  data?: Hex | undefined;
  cause?: unknown;
};

/**
 * A revert with a protocol custom error. `errorName` and `args` are the decoded error; `shortMessage` is
 * `"<errorName>: <values>"`.
 */
export class VeilContractError extends VeilError {
  override name: string = "VeilContractError";
  readonly errorName: string;
  readonly args: readonly unknown[];
  readonly abiItem: AbiError | undefined;
  readonly data: Hex | undefined;
  constructor({ errorName, args, abiItem, data, cause }: VeilContractErrorParameters) {
    super(formatContractError(errorName, abiItem, args), {
      cause,
      metaMessages: abiItem ? [`Error: ${formatAbiItem(abiItem, { includeName: true })}`] : undefined,
      details: data ? `revert data ${data}` : undefined,
      docsPath: "errors.md",
    });
    this.errorName = errorName;
    this.args = args;
    this.abiItem = abiItem;
    this.data = data;
  }
}

/** `JobEscrowFeeAboveMax(fee, maxFee)`: the model's price x redundancy exceeds the job's maxFee. */
export class JobEscrowFeeAboveMaxError extends VeilContractError {
  override name = "JobEscrowFeeAboveMaxError";
  get fee(): bigint {
    return this.args[0] as bigint;
  }
  get maxFee(): bigint {
    return this.args[1] as bigint;
  }
}

/** `JobEscrowInsufficientDeposit(account, balance, needed)`. */
export class JobEscrowInsufficientDepositError extends VeilContractError {
  override name = "JobEscrowInsufficientDepositError";
}

/** `JobEscrowUnknownJob(jobId)`. */
export class JobEscrowUnknownJobError extends VeilContractError {
  override name = "JobEscrowUnknownJobError";
}

/**
 * `JobEscrowJobRecycled(jobId)`: the job settled without a dispute (finalized, or refunded for a missed step) and
 * the escrow reused its record for a later job, so the contract no longer holds its state. Its history is in the
 * escrow's events: `getJob` rebuilds such a job from them (`source: "events"`) and throws this error only when
 * no JobSubmitted event of the job is found (e.g. `fromBlock` after its submission). Write actions on the job
 * (`pokeJob`, `finalizeJob`, `submitResult`, ...) revert with it.
 */
export class JobEscrowJobRecycledError extends VeilContractError {
  override name = "JobEscrowJobRecycledError";
  get jobId(): bigint {
    return this.args[0] as bigint;
  }
}

/** `JobEscrowModelInactive(modelId)`. */
export class JobEscrowModelInactiveError extends VeilContractError {
  override name = "JobEscrowModelInactiveError";
}

/** `NodeStakingNotEnoughOperators(modelIndex, requested, available)`: too few staked operators serve the model. */
export class NodeStakingNotEnoughOperatorsError extends VeilContractError {
  override name = "NodeStakingNotEnoughOperatorsError";
}

/** `NodeStakingInsufficientFreeStake(operator, requested, free)`. */
export class NodeStakingInsufficientFreeStakeError extends VeilContractError {
  override name = "NodeStakingInsufficientFreeStakeError";
}

/** `ModelRegistryUnknownModel(modelId)`. */
export class ModelRegistryUnknownModelError extends VeilContractError {
  override name = "ModelRegistryUnknownModelError";
}

const NAMED: Record<string, new (p: VeilContractErrorParameters) => VeilContractError> = {
  JobEscrowFeeAboveMax: JobEscrowFeeAboveMaxError,
  JobEscrowInsufficientDeposit: JobEscrowInsufficientDepositError,
  JobEscrowUnknownJob: JobEscrowUnknownJobError,
  JobEscrowJobRecycled: JobEscrowJobRecycledError,
  JobEscrowModelInactive: JobEscrowModelInactiveError,
  NodeStakingNotEnoughOperators: NodeStakingNotEnoughOperatorsError,
  NodeStakingInsufficientFreeStake: NodeStakingInsufficientFreeStakeError,
  ModelRegistryUnknownModel: ModelRegistryUnknownModelError,
};

/** Builds the named SDK error for a decoded custom error. */
export function contractError(p: VeilContractErrorParameters): VeilContractError {
  const Ctor = NAMED[p.errorName] ?? VeilContractError;
  return new Ctor(p);
}

function findRevertData(err: unknown): Hex | undefined {
  const seen = new Set<unknown>();
  let e: any = err;
  while (e && typeof e === "object" && !seen.has(e)) {
    seen.add(e);
    const d = e.data;
    if (typeof d === "string" && /^0x[0-9a-fA-F]{8}/.test(d)) return d as Hex;
    if (d && typeof d === "object" && typeof d.data === "string" && /^0x[0-9a-fA-F]{8}/.test(d.data)) return d.data as Hex;
    if (e.raw && typeof e.raw === "string" && /^0x[0-9a-fA-F]{8}/.test(e.raw)) return e.raw as Hex;
    e = e.cause;
  }
  return undefined;
}

/**
 * Turns any error (a viem ContractFunctionExecutionError, a raw RPC error with revert data, a VeilError) into
 * a {@link VeilError}: protocol custom errors become {@link VeilContractError}s with their values in the message;
 * other errors keep viem's short message.
 *
 * @example
 * try { await submitJob(client, params) } catch (e) {
 *   const err = decodeVeilError(e)
 *   console.error(`error: ${err.name}: ${err.shortMessage}`)
 * }
 */
export function decodeVeilError(err: unknown): VeilError {
  if (err instanceof VeilError) return err;
  // viem already decoded it against the action's ABI.
  const seen = new Set<unknown>();
  for (let e: any = err; e && typeof e === "object" && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (e.name === "ContractFunctionRevertedError" && e.data?.errorName && e.data.abiItem?.type === "error") {
      return contractError({ errorName: e.data.errorName, args: e.data.args ?? [], abiItem: e.data.abiItem, data: e.raw, cause: err });
    }
  }
  const data = findRevertData(err);
  if (data) {
    try {
      const decoded = decodeErrorResult({ abi: veilErrorsAbi as Abi, data });
      if (decoded.abiItem.type === "error" && decoded.errorName !== "Error" && decoded.errorName !== "Panic") {
        return contractError({ errorName: decoded.errorName, args: decoded.args ?? [], abiItem: decoded.abiItem as AbiError, data, cause: err });
      }
    } catch {
      // not one of ours: fall through
    }
  }
  if (err instanceof ViemBaseError) return new VeilError(err.shortMessage, { cause: err, details: err.details });
  if (err instanceof Error) return new VeilError(err.message.split("\n")[0]!, { cause: err });
  return new VeilError(String(err));
}

// ---------------------------------------------------------------------------------------------------------------------
// SDK errors
// ---------------------------------------------------------------------------------------------------------------------

/** A write action was called on a client without an account and without `account` in its parameters. */
export class AccountNotFoundError extends VeilError {
  override name = "AccountNotFoundError";
  constructor(action: string) {
    super(`${action} needs an account: pass \`account\` or use a wallet client with an account.`);
  }
}

/** The deployment has no address for a contract the action needs. */
export class MissingAddressError extends VeilError {
  override name = "MissingAddressError";
  constructor(contract: string) {
    super(`No ${contract} address in this deployment.`);
  }
}

/** The job's input is larger than the escrow's inline limit and no uploader was given. */
export class InputTooLargeError extends VeilError {
  override name = "InputTooLargeError";
  constructor(readonly size: number, readonly maxInputBytes: number) {
    super(`Input is ${size} bytes, above the inline limit of ${maxInputBytes} bytes: pass an \`uploader\`.`);
  }
}

/** A transaction was mined but reverted. */
export class TransactionRevertedError extends VeilError {
  override name = "TransactionRevertedError";
  constructor(readonly hash: Hex) {
    super(`Transaction ${hash} reverted.`);
  }
}

const REFUND_REASONS = ["DeadlinePassed", "NoReveals", "DisputeUnresolved", "NoValidResult"] as const;
export type RefundReason = (typeof REFUND_REASONS)[number];
export function refundReasonName(code: number): RefundReason | `Unknown(${number})` {
  return REFUND_REASONS[code] ?? `Unknown(${code})`;
}

/** The job was refunded instead of producing a result. `reason` comes from the JobRefunded event. */
export class JobRefundedError extends VeilError {
  override name = "JobRefundedError";
  constructor(readonly jobId: bigint, readonly reason: RefundReason | string, readonly amount?: bigint) {
    super(`Job ${jobId} was refunded (${reason}${amount === undefined ? "" : `, ${amount} returned`}).`);
  }
}

/** The job entered a dispute (results disagreed, or a challenge was opened). */
export class JobDisputedError extends VeilError {
  override name = "JobDisputedError";
  constructor(readonly jobId: bigint, readonly resolveBy?: number) {
    super(`Job ${jobId} is disputed${resolveBy ? `; resolution due by ${resolveBy}` : ""}.`);
  }
}

/** Waiting for the job ran past the caller's timeout. */
export class JobTimeoutError extends VeilError {
  override name = "JobTimeoutError";
  constructor(readonly jobId: bigint, readonly timeoutMs: number, readonly status: string) {
    super(`Timed out after ${timeoutMs} ms waiting for job ${jobId} (status ${status}).`);
  }
}

/** The operators agreed that the job's input does not fit the model; `reason` is the worker's code. */
export class JobInvalidInputError extends VeilError {
  override name = "JobInvalidInputError";
  constructor(readonly jobId: bigint, readonly reason: string) {
    super(`Job ${jobId}: the operators rejected the input (${reason}).`);
  }
}

/** No operator endpoint served result bytes matching the on-chain result hash. */
export class ResultUnavailableError extends VeilError {
  override name = "ResultUnavailableError";
  constructor(readonly jobId: bigint, readonly resultHash: Hex, attempts: string[]) {
    super(`No operator served the result ${resultHash} of job ${jobId}.`, { metaMessages: attempts });
  }
}

/** The job has no result (yet). */
export class JobNotSettledError extends VeilError {
  override name = "JobNotSettledError";
  constructor(readonly jobId: bigint, readonly status: string) {
    super(`Job ${jobId} has no result yet (status ${status}).`);
  }
}
