/**
 * Errors of the Veil SDK. Every error the SDK throws extends {@link VeilError}, which carries a one-line
 * `shortMessage`, optional `details`, the `cause` chain, and a multi-line `message` in the style of viem's
 * BaseError. Contract reverts are decoded against every custom error of the protocol ABIs into
 * {@link VeilContractError} (or one of its named subclasses), whose message names the error and its values, amounts
 * in tokens (base units in parentheses) and times as ISO 8601 plus relative when the caller supplies
 * {@link ErrorUnits} (the SDK's write actions do):
 * `JobEscrowFeeAboveMax: fee 0.15 mUSDC (150000 base units) exceeds maxFee 0.1 mUSDC (100000 base units)`.
 * Node and transport failures name their cause: {@link InsufficientFundsError} (no ETH for gas),
 * {@link NonceError}, {@link RpcUnreachableError}, {@link RpcTimeoutError}.
 * @module
 */
import { BaseError as ViemBaseError, decodeErrorResult, formatEther, formatUnits, type Abi, type Address, type Hex } from "viem";

type AbiError = Extract<Abi[number], { type: "error" }>;
import { formatAbiItem } from "viem/utils";
import * as abis from "@veil/contracts/abis";

export const SDK_VERSION = "0.1.0";

/**
 * Where the `Docs:` line of an error's message points: `docsPath` (e.g. `errors.md`) under this base. The pages are
 * the repository's docs/ folder.
 */
export const DOCS_BASE_URL = "docs/";

export type VeilErrorParameters = {
  /** Extra lines shown under the short message. */
  metaMessages?: string[] | undefined;
  /** Technical detail (e.g. the node's message); defaults to the cause's details (a viem error) or message. */
  details?: string | undefined;
  cause?: unknown;
  /** Page under docs/ that explains the error (e.g. `errors.md`). */
  docsPath?: string | undefined;
};

/**
 * Base of every SDK error: a viem {@link ViemBaseError | BaseError}, so code that handles viem's errors handles the
 * SDK's too (`e instanceof BaseError`, `e.shortMessage`, `e.details`, `e.walk()` to the root cause, e.g. the
 * ContractFunctionRevertedError or HttpRequestError viem threw). The message is laid out as viem's:
 * the short message, the meta messages, `Docs: docs/<page>`, `Details: ...` and `Version: @veil/sdk@x`.
 *
 * @example
 * try { await veil.submitJob({ ... }) } catch (e) {
 *   if (e instanceof VeilError) console.error(e.shortMessage)
 *   if (e instanceof BaseError) console.error(e.walk()) // the root cause
 * }
 */
export class VeilError extends ViemBaseError {
  override name = "VeilError";

  constructor(shortMessage: string, args: VeilErrorParameters = {}) {
    const details =
      args.details ??
      (args.cause instanceof ViemBaseError
        ? args.cause.details
        : args.cause instanceof Error
          ? args.cause.message
          : "");
    const docsUrl = args.docsPath ? `${DOCS_BASE_URL}${args.docsPath}` : undefined;
    super(shortMessage, { cause: args.cause as Error | undefined, details, docsPath: args.docsPath, docsBaseUrl: DOCS_BASE_URL, metaMessages: args.metaMessages });
    // viem's BaseError takes the cause's details and docs over ours, and its own version: the SDK's win here.
    this.details = details;
    this.docsPath = args.docsPath;
    this.version = `@veil/sdk@${SDK_VERSION}`;
    this.message = [
      shortMessage || "An error occurred.",
      "",
      ...(args.metaMessages ? [...args.metaMessages, ""] : []),
      ...(docsUrl ? [`Docs: ${docsUrl}`] : []),
      ...(details ? [`Details: ${details}`] : []),
      `Version: ${this.version}`,
    ].join("\n");
    // A cause viem's BaseError drops (a falsy value) still belongs to the chain.
    if (args.cause !== undefined && !("cause" in this)) Object.defineProperty(this, "cause", { value: args.cause, writable: true, configurable: true });
  }

  /**
   * Walks the cause chain from this error: the first error `fn` accepts (or null), or without `fn` the root cause
   * (the deepest error). As viem's, and safe against a chain that loops.
   */
  override walk(): Error;
  override walk(fn: (err: unknown) => boolean): Error | null;
  override walk(fn?: (err: unknown) => boolean): Error | null {
    let err: unknown = this;
    const seen = new Set<unknown>([err]);
    for (;;) {
      if (fn !== undefined && fn(err)) return err as Error;
      const next = (err as { cause?: unknown } | null)?.cause;
      if (next === undefined || next === null || seen.has(next)) return fn === undefined ? (err as Error) : null;
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

// ---------------------------------------------------------------------------------------------------------------------
// Units: amounts in tokens, times as ISO plus relative
// ---------------------------------------------------------------------------------------------------------------------

/** A token's display units. */
export type TokenUnits = { symbol: string; decimals: number };

/**
 * What error messages need to show values in the user's units. Decoding is synchronous and knows no token, so the
 * caller supplies them: the SDK's write actions read each deployment token's symbol and decimals once per client
 * (cached) and the chain's time, and pass them here. Without units, amounts print in base units and times are
 * measured from the local clock.
 */
export type ErrorUnits = {
  feeToken?: TokenUnits | undefined;
  stakingToken?: TokenUnits | undefined;
  /** ComputeCredits (the credit token itself, 18 decimals). */
  credits?: TokenUnits | undefined;
  /**
   * The token an ERC-20 error (`ERC20InsufficientBalance`, `ERC20InsufficientAllowance`, ...) is about: the one
   * the failing action moves. Those errors come from the token contract and do not name it.
   */
  token?: "feeToken" | "stakingToken" | "credits" | undefined;
  /** Chain time (unix seconds) that relative times are measured from; default: the local clock. */
  now?: number | bigint | undefined;
};

/**
 * The kind of each argument of an error whose values have units: an amount of a deployment token (`feeToken`,
 * `stakingToken`, `credits`; `token`: the token the action moves, see {@link ErrorUnits.token}) or a unix `time`.
 * `time@N`: a time whose reference "now" is argument N of the same error (the chain's time at the revert).
 */
type ArgKind = "feeToken" | "stakingToken" | "credits" | "token" | "time" | `time@${number}` | null;

/** Errors whose arguments carry units, by error name (argument kinds in ABI order). */
export const ERROR_ARG_UNITS: Readonly<Record<string, readonly ArgKind[]>> = {
  // JobEscrow: fees are fee-token amounts.
  JobEscrowFeeAboveMax: ["feeToken", "feeToken"],
  JobEscrowPriceAboveMaximum: [null, "feeToken", "feeToken"],
  JobEscrowPriceBelowMinimum: [null, "feeToken", "feeToken"],
  JobEscrowDeadlineTooSoon: ["time", "time"],
  JobEscrowDeadlineTooLate: ["time", "time"],
  JobEscrowWindowOpen: [null, "time@2", "time"],
  JobEscrowWindowClosed: [null, "time@2", "time"],
  // FeeLedger: deposits and transfers are fee-token amounts.
  FeeLedgerInsufficientDeposit: [null, "feeToken", "feeToken"],
  FeeLedgerTransferMismatch: ["feeToken", "feeToken"],
  // NodeStaking: stakes are staking-token amounts.
  NodeStakingInsufficientFreeStake: [null, "stakingToken", "stakingToken"],
  NodeStakingUnbondNotReady: [null, "time@2", "time"],
  NodeStakingStakeOverflow: ["stakingToken"],
  NodeStakingTransferMismatch: ["stakingToken", "stakingToken"],
  // ComputeCredits: fees and the pool in the fee token, mint costs in the staking token.
  ComputeCreditsAgentCapExceeded: [null, null, "feeToken", "feeToken"],
  ComputeCreditsAllowanceExceeded: [null, "feeToken", "feeToken"],
  ComputeCreditsPoolInsufficient: ["feeToken", "feeToken"],
  ComputeCreditsCostAboveMax: ["stakingToken", "stakingToken"],
  ComputeCreditsReturnBelowMin: ["stakingToken", "stakingToken"],
  ComputeCreditsSupplyCap: ["credits", "credits"],
  ComputeCreditsTransferMismatch: ["stakingToken", "stakingToken"],
  ComputeCreditsNothingUnlocked: [null, "time@2", "time"],
  // DisputeManager windows.
  DisputeManagerCommitClosed: [null, "time@2", "time"],
  DisputeManagerDrawExpired: [null, "time@2", "time"],
  DisputeManagerNotResolvable: [null, null, "time@3", "time"],
  DisputeManagerRevealClosed: [null, "time@2", "time"],
  DisputeManagerRevealNotOpen: [null, "time@2", "time"],
  DisputeManagerTooLate: [null, "time", "time"],
  // ERC-20 errors come from the token the action moves.
  ERC20InsufficientAllowance: [null, "token", "token"],
  ERC20InsufficientBalance: [null, "token", "token"],
  ERC2612ExpiredSignature: ["time"],
};

function tokenOf(kind: "feeToken" | "stakingToken" | "credits" | "token", units: ErrorUnits | undefined): TokenUnits | undefined {
  if (!units) return undefined;
  const k = kind === "token" ? units.token : kind;
  return k ? units[k] : undefined;
}

/** `5000 VEIL (5000000000000000000000 base units)`; the bare number when the token's units are unknown. */
/**
 * A job id as the SDK and CLI print it: `0x` and 32 hex digits (tag, generation, record index; see `parseJobId`).
 * Ids are ~2^127: hex shows their parts where decimal hides them.
 */
export function formatJobId(jobId: bigint | number | string): string {
  return `0x${BigInt(jobId).toString(16).padStart(32, "0")}`;
}

export function formatAmount(value: bigint, token: TokenUnits | undefined): string {
  if (!token) return value.toString();
  return `${formatUnits(value, token.decimals)} ${token.symbol} (${value} base unit${value === 1n ? "" : "s"})`;
}

/** `45 s`, `59 min`, `3 h 12 min`, `21 d 4 h`: a duration in seconds for people (two units at most). */
export function formatDuration(seconds: number): string {
  const s = Math.abs(Math.round(seconds));
  if (s < 120) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** `in 59 min`, `12 min ago`, `now`: the distance from `now` to `t` (both unix seconds). */
export function formatRelative(t: number, now: number): string {
  const d = t - now;
  if (Math.abs(d) < 1) return "now";
  return d > 0 ? `in ${formatDuration(d)}` : `${formatDuration(d)} ago`;
}

/** `2026-12-03T09:00:00Z (in 59 min)`: a unix time as ISO 8601 (UTC, whole seconds) with its distance from `now`. */
export function formatTime(t: number | bigint, now?: number | bigint): string {
  const secs = Number(t);
  if (!Number.isFinite(secs) || secs < 0 || secs > 8.64e12) return String(t);
  const iso = new Date(secs * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const ref = now === undefined ? Date.now() / 1000 : Number(now);
  return `${iso} (${formatRelative(secs, ref)})`;
}

/** Each argument as text, in the units {@link ERROR_ARG_UNITS} gives it. */
function formatArgs(errorName: string, args: readonly unknown[], units: ErrorUnits | undefined): string[] {
  const kinds = ERROR_ARG_UNITS[errorName];
  return args.map((v, i) => {
    const kind = kinds?.[i];
    if (!kind || (typeof v !== "bigint" && typeof v !== "number")) return formatValue(v);
    if (kind === "time") return formatTime(v, units?.now);
    if (kind.startsWith("time@")) {
      const ref = args[Number(kind.slice(5))];
      return formatTime(v, typeof ref === "bigint" || typeof ref === "number" ? ref : units?.now);
    }
    return formatAmount(BigInt(v), tokenOf(kind as "feeToken", units));
  });
}

const JOB_STATUS = ["None", "Assigned", "Revealing", "Proposed", "Disputed", "Finalized", "Refunded"] as const;

/**
 * Hand-written messages for the errors users meet most, from the formatted arguments `a` (amounts and times
 * already in units) and the raw ones `raw`; every other error gets `name(param value, ...)`.
 */
const MESSAGES: Record<string, (a: readonly string[], raw: readonly any[]) => string> = {
  JobEscrowFeeAboveMax: ([fee, maxFee]) => `fee ${fee} exceeds maxFee ${maxFee}`,
  JobEscrowModelInactive: ([modelId]) => `model ${modelId} is not active`,
  JobEscrowUnknownJob: ([jobId]) => `job ${formatJobId(jobId!)} does not exist`,
  JobEscrowJobRecycled: ([jobId]) => `job ${formatJobId(jobId!)} settled and its record now holds a later job`,
  JobEscrowInputTooLarge: ([size, max]) => `input of ${size} bytes exceeds the inline limit of ${max} bytes`,
  JobEscrowDeadlineTooSoon: ([deadline, earliest]) => `deadline ${deadline} is before the earliest allowed ${earliest}`,
  JobEscrowDeadlineTooLate: ([deadline, latest]) => `deadline ${deadline} is after the latest allowed ${latest}`,
  JobEscrowWrongStatus: ([jobId], [, status]) => `job ${formatJobId(jobId!)} is ${JOB_STATUS[Number(status)] ?? status}`,
  JobEscrowWindowOpen: ([jobId, phaseEnd]) => `job ${formatJobId(jobId!)}: window open until ${phaseEnd}`,
  JobEscrowWindowClosed: ([jobId, phaseEnd]) => `job ${formatJobId(jobId!)}: window closed at ${phaseEnd}`,
  JobEscrowNotAssigned: ([jobId, slot, caller]) => `${caller} does not hold slot ${slot} of job ${formatJobId(jobId!)}`,
  FeeLedgerInsufficientDeposit: ([account, balance, needed]) => `deposit of ${account} is ${balance}, ${needed} needed`,
  FeeLedgerNothingToWithdraw: ([account]) => `${account} has nothing to withdraw`,
  FeeLedgerTransferMismatch: ([expected, received]) => `the ledger received ${received}, ${expected} expected (a fee-on-transfer or rebasing token?)`,
  FeeLedgerZeroAmount: () => `the amount is zero`,
  FeeLedgerNotPayerModule: ([module]) => `${module} is not an allowlisted payer module of the FeeLedger`,
  NodeStakingNotRegistered: ([op]) => `${op} is not a registered operator`,
  NodeStakingAlreadyRegistered: ([op]) => `${op} is already registered`,
  NodeStakingInsufficientFreeStake: ([op, requested, free]) => `${op} requested ${requested} but has ${free} free stake`,
  NodeStakingUnbondNotReady: ([op, end]) => `unbonding of ${op} ends at ${end}`,
  NodeStakingNothingToWithdraw: ([op]) => `${op} has nothing unbonded to withdraw`,
  NodeStakingNotEnoughOperators: ([index, requested, available]) =>
    `model #${index} needs ${requested} operators, ${available} available`,
  ModelRegistryAlreadyRegistered: ([id]) => `model ${id} is already registered`,
  ModelRegistryUnknownModel: ([id]) => `model ${id} is not registered`,
  ModelRegistryNotOwner: ([id, caller, owner]) => `${caller} is not the owner of model ${id} (owner ${owner})`,
  ComputeCreditsCostAboveMax: ([cost, maxCost]) => `minting costs ${cost}, above maxCost ${maxCost}`,
  ComputeCreditsPoolInsufficient: ([fee, pool]) => `the credits pool holds ${pool}, the fee is ${fee}`,
  ComputeCreditsAllowanceExceeded: ([holder, fee, left]) => `today's allowance of ${holder} has ${left} left, the fee is ${fee}`,
  ERC20InsufficientAllowance: ([spender, allowance, needed]) => `allowance of ${spender} is ${allowance}, ${needed} needed`,
  ERC20InsufficientBalance: ([sender, balance, needed]) => `balance of ${sender} is ${balance}, ${needed} needed`,
  ERC2612ExpiredSignature: ([deadline]) => `permit expired at ${deadline}`,
  AccessManagedUnauthorized: ([caller]) => `${caller} is not authorized to call this function`,
};

function formatContractError(errorName: string, abiItem: AbiError | undefined, args: readonly unknown[], units?: ErrorUnits): string {
  const formatted = formatArgs(errorName, args, units);
  const custom = MESSAGES[errorName];
  if (custom) return `${errorName}: ${custom(formatted, args)}`;
  if (args.length === 0) return errorName;
  const parts = formatted.map((v, i) => {
    const name = abiItem?.inputs[i]?.name;
    return name ? `${name} ${v}` : v;
  });
  return `${errorName}: ${parts.join(", ")}`;
}

/** Whether the error's message changes with units (it has amounts or times). */
export function hasUnits(errorName: string): boolean {
  return ERROR_ARG_UNITS[errorName] !== undefined;
}

export type VeilContractErrorParameters = {
  errorName: string;
  args: readonly unknown[];
  abiItem?: AbiError | undefined;
  data?: Hex | undefined;
  cause?: unknown;
  /** Token units and chain time for the message (see {@link ErrorUnits}). */
  units?: ErrorUnits | undefined;
};

/**
 * A revert with a protocol custom error. `errorName` and `args` are the decoded error (raw values: amounts in base
 * units, times in unix seconds); `shortMessage` is `"<errorName>: <values>"`, in units when they were known.
 */
export class VeilContractError extends VeilError {
  override name: string = "VeilContractError";
  readonly errorName: string;
  readonly args: readonly unknown[];
  readonly abiItem: AbiError | undefined;
  readonly data: Hex | undefined;
  constructor({ errorName, args, abiItem, data, cause, units }: VeilContractErrorParameters) {
    super(formatContractError(errorName, abiItem, args, units), {
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

/** `FeeLedgerInsufficientDeposit(account, balance, needed)`: the deposit in the FeeLedger does not cover the fee. */
export class FeeLedgerInsufficientDepositError extends VeilContractError {
  override name = "FeeLedgerInsufficientDepositError";
  get account(): Address {
    return this.args[0] as Address;
  }
  get balance(): bigint {
    return this.args[1] as bigint;
  }
  get needed(): bigint {
    return this.args[2] as bigint;
  }
}

/**
 * The escrow's deposit error before the FeeLedger held deposits: `FeeLedgerInsufficientDeposit` is thrown as
 * {@link FeeLedgerInsufficientDepositError}, which this names (so `instanceof JobEscrowInsufficientDepositError`
 * still matches).
 * @deprecated Use {@link FeeLedgerInsufficientDepositError}.
 */
export const JobEscrowInsufficientDepositError = FeeLedgerInsufficientDepositError;
/** @deprecated Use {@link FeeLedgerInsufficientDepositError}. */
export type JobEscrowInsufficientDepositError = FeeLedgerInsufficientDepositError;

/** `FeeLedgerNothingToWithdraw(account)`: no earnings (or nothing accrued) to withdraw. */
export class FeeLedgerNothingToWithdrawError extends VeilContractError {
  override name = "FeeLedgerNothingToWithdrawError";
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
  FeeLedgerInsufficientDeposit: FeeLedgerInsufficientDepositError,
  FeeLedgerNothingToWithdraw: FeeLedgerNothingToWithdrawError,
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
export function decodeVeilError(err: unknown, units?: ErrorUnits): VeilError {
  if (err instanceof VeilContractError && units) {
    // Re-render a contract error with units (e.g. one decoded earlier without them).
    return contractError({ errorName: err.errorName, args: err.args, abiItem: err.abiItem, data: err.data, cause: err.cause, units });
  }
  if (err instanceof VeilError) return err;
  // viem already decoded it against the action's ABI.
  const seen = new Set<unknown>();
  for (let e: any = err; e && typeof e === "object" && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (e.name === "ContractFunctionRevertedError" && e.data?.errorName && e.data.abiItem?.type === "error") {
      return contractError({ errorName: e.data.errorName, args: e.data.args ?? [], abiItem: e.data.abiItem, data: e.raw, cause: err, units });
    }
  }
  const data = findRevertData(err);
  if (data) {
    try {
      const decoded = decodeErrorResult({ abi: veilErrorsAbi as Abi, data });
      if (decoded.abiItem.type === "error" && decoded.errorName !== "Error" && decoded.errorName !== "Panic") {
        return contractError({ errorName: decoded.errorName, args: decoded.args ?? [], abiItem: decoded.abiItem as AbiError, data, cause: err, units });
      }
    } catch {
      // not one of ours: fall through
    }
  }
  const node = nodeError(err);
  if (node) return node;
  if (err instanceof ViemBaseError) return new VeilError(err.shortMessage, { cause: err, details: err.details });
  if (err instanceof Error) return new VeilError(err.message.split("\n")[0]!, { cause: err });
  return new VeilError(String(err));
}

/** Every message and detail string along the cause chain, and the first `sender`/`url` found on it. */
function chainFacts(err: unknown): { texts: string[]; names: string[]; sender?: Address; url?: string; timeout?: number } {
  const texts: string[] = [];
  const names: string[] = [];
  let sender: Address | undefined;
  let url: string | undefined;
  let timeout: number | undefined;
  const seen = new Set<unknown>();
  for (let e: any = err; e && typeof e === "object" && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (typeof e.name === "string") names.push(e.name);
    for (const t of [e.shortMessage, e.details, e.message]) if (typeof t === "string" && t) texts.push(t);
    if (!sender && typeof e.sender === "string") sender = e.sender as Address;
    if (!sender && typeof e.account?.address === "string") sender = e.account.address as Address;
    // viem's TransactionExecutionError names the sender only in its request arguments ("from: 0x...").
    if (!sender && Array.isArray(e.metaMessages)) sender = /\bfrom:\s+(0x[0-9a-fA-F]{40})\b/.exec(e.metaMessages.join("\n"))?.[1] as Address | undefined;
    if (!url && typeof e.url === "string") url = e.url;
    if (timeout === undefined && typeof e.timeout === "number") timeout = e.timeout;
  }
  return { texts, names, sender, url, timeout };
}

/**
 * Node and transport failures, named by their cause instead of viem's generic wrapper (Hardhat's EDR answers a
 * transaction from an account without ETH with "Missing or invalid parameters" and the cause only in the details).
 */
function nodeError(err: unknown): VeilError | undefined {
  const f = chainFacts(err);
  const all = f.texts.join("\n");
  // Insufficient funds for gas: viem's InsufficientFundsError, EDR's "Sender doesn't have enough funds", geth's
  // "insufficient funds for gas * price + value", anvil's "Insufficient funds for gas * price + value".
  if (f.names.includes("InsufficientFundsError") || /doesn't have enough funds|insufficient funds for (gas|transfer)|exceeds the balance of the account/i.test(all)) {
    const m = /upfront cost is: (\d+) and the sender's balance is: (\d+)/i.exec(all) ?? /have (\d+) want (\d+)/i.exec(all);
    const [needed, balance] = m ? (m[0].startsWith("have") ? [BigInt(m[2]!), BigInt(m[1]!)] : [BigInt(m[1]!), BigInt(m[2]!)]) : [undefined, undefined];
    return new InsufficientFundsError({ account: f.sender, balance, needed, cause: err });
  }
  if (f.names.includes("NonceTooLowError") || /nonce too low|nonce is too low|transaction already imported|already known/i.test(all)) {
    const m = /expected nonce to be (\d+) but got (\d+)/i.exec(all) ?? /next nonce (\d+), tx nonce (\d+)/i.exec(all);
    return new NonceError({ kind: "low", account: f.sender, expected: m ? Number(m[1]) : undefined, got: m ? Number(m[2]) : undefined, cause: err });
  }
  if (f.names.includes("NonceTooHighError") || /nonce too high/i.test(all)) {
    return new NonceError({ kind: "high", account: f.sender, cause: err });
  }
  if (f.names.includes("TimeoutError") || /took too long to respond/i.test(all)) {
    return new RpcTimeoutError({ url: f.url, timeout: f.timeout, cause: err });
  }
  if (f.names.includes("HttpRequestError") || f.names.includes("WebSocketRequestError") || f.names.includes("SocketClosedError")) {
    const status = (function find(e: any, seen = new Set<unknown>()): number | undefined {
      for (; e && typeof e === "object" && !seen.has(e); e = e.cause) {
        seen.add(e);
        if (typeof e.status === "number") return e.status;
      }
      return undefined;
    })(err);
    const why = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|fetch failed|socket hang up|Failed to fetch/i.exec(all)?.[0];
    return new RpcUnreachableError({ url: f.url, status, reason: why, cause: err });
  }
  return undefined;
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
    super(`Input is ${size} bytes, above the inline limit of ${maxInputBytes} bytes: send it by content address (the default) or through an \`uploader\`.`);
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
    super(`Job ${formatJobId(jobId)} was refunded (${reason}${amount === undefined ? "" : `, ${amount} returned`}).`);
  }
}

/** The job entered a dispute (results disagreed, or a challenge was opened). */
export class JobDisputedError extends VeilError {
  override name = "JobDisputedError";
  constructor(readonly jobId: bigint, readonly resolveBy?: number) {
    super(`Job ${formatJobId(jobId)} is disputed${resolveBy ? `; resolution due by ${resolveBy}` : ""}.`);
  }
}

/** Waiting for the job ran past the caller's timeout. */
export class JobTimeoutError extends VeilError {
  override name = "JobTimeoutError";
  constructor(readonly jobId: bigint, readonly timeoutMs: number, readonly status: string) {
    super(`Timed out after ${timeoutMs} ms waiting for job ${formatJobId(jobId)} (status ${status}).`);
  }
}

/** The operators agreed that the job's input does not fit the model; `reason` is the worker's code. */
export class JobInvalidInputError extends VeilError {
  override name = "JobInvalidInputError";
  constructor(readonly jobId: bigint, readonly reason: string) {
    super(`Job ${formatJobId(jobId)}: the operators rejected the input (${reason}).`);
  }
}

/** No operator endpoint served result bytes matching the on-chain result hash. */
export class ResultUnavailableError extends VeilError {
  override name = "ResultUnavailableError";
  constructor(readonly jobId: bigint, readonly resultHash: Hex, attempts: string[]) {
    super(`No operator served the result ${resultHash} of job ${formatJobId(jobId)}.`, { metaMessages: attempts });
  }
}

/** The job has no result (yet). */
export class JobNotSettledError extends VeilError {
  override name = "JobNotSettledError";
  constructor(readonly jobId: bigint, readonly status: string) {
    super(`Job ${formatJobId(jobId)} has no result yet (status ${status}).`);
  }
}

/** The sending account cannot pay for the transaction's gas. Nothing was sent. */
export class InsufficientFundsError extends VeilError {
  override name = "InsufficientFundsError";
  readonly account: Address | undefined;
  /** The account's ETH balance (wei), when known. */
  readonly balance: bigint | undefined;
  /** What the transaction may cost at most (gas limit x max fee per gas, plus value; wei), when known. */
  readonly needed: bigint | undefined;
  constructor(p: { account?: Address | undefined; balance?: bigint | undefined; needed?: bigint | undefined; gas?: bigint | undefined; cause?: unknown }) {
    const who = p.account ? `account ${p.account}` : "the sending account";
    const has = p.balance === undefined ? "does not have enough ETH for gas" : `has ${formatEther(p.balance)} ETH`;
    const needs =
      p.needed === undefined
        ? ""
        : `; the transaction needs ~${formatEther(p.needed)} ETH of gas${p.gas === undefined ? "" : ` (${p.gas} gas)`}`;
    super(`${who} ${has}${needs}. Nothing was sent: fund it with ETH on this chain and retry.`, { cause: p.cause });
    this.account = p.account;
    this.balance = p.balance;
    this.needed = p.needed;
  }
}

/** The node refused the transaction's nonce (another transaction from the account got there first, or was replayed). */
export class NonceError extends VeilError {
  override name = "NonceError";
  readonly account: Address | undefined;
  /** The account's next nonce as the node sees it, when known. */
  readonly expected: number | undefined;
  readonly got: number | undefined;
  constructor(p: { kind: "low" | "high"; account?: Address | undefined; expected?: number | undefined; got?: number | undefined; cause?: unknown }) {
    const who = p.account ? `account ${p.account}` : "the sending account";
    const detail = p.got !== undefined && p.expected !== undefined ? ` (transaction nonce ${p.got}, the account's next nonce is ${p.expected})` : "";
    super(
      p.kind === "low"
        ? `nonce too low for ${who}${detail}: another transaction from this account was mined or is pending (a second process or wallet using the same key?). Retry to use the next nonce.`
        : `nonce too high for ${who}${detail}: an earlier transaction of this account is missing; wait for it or resend it.`,
      { cause: p.cause },
    );
    this.account = p.account;
    this.expected = p.expected;
    this.got = p.got;
  }
}

/** The RPC endpoint could not be reached (connection refused, DNS, HTTP error). Nothing was sent. */
export class RpcUnreachableError extends VeilError {
  override name = "RpcUnreachableError";
  readonly url: string | undefined;
  readonly status: number | undefined;
  constructor(p: { url?: string | undefined; status?: number | undefined; reason?: string | undefined; cause?: unknown }) {
    const where = p.url ? `RPC ${redactUrl(p.url)}` : "the RPC endpoint";
    const why = p.status !== undefined ? `HTTP ${p.status}` : (p.reason ?? "no connection");
    super(`${where} is unreachable (${why}): check the URL (--rpc-url / VEIL_RPC_URL) and that the node is running.`, { cause: p.cause });
    this.url = p.url;
    this.status = p.status;
  }
}

/** The RPC endpoint did not answer in time. A transaction may or may not have been sent: check the account's nonce. */
export class RpcTimeoutError extends VeilError {
  override name = "RpcTimeoutError";
  readonly url: string | undefined;
  constructor(p: { url?: string | undefined; timeout?: number | undefined; cause?: unknown }) {
    const where = p.url ? `RPC ${redactUrl(p.url)}` : "the RPC endpoint";
    super(`${where} did not answer${p.timeout === undefined ? " in time" : ` within ${p.timeout} ms`}.`, { cause: p.cause });
    this.url = p.url;
  }
}

/** An RPC URL without what may be a secret (API keys in the path or query, credentials). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const secretPath = u.pathname.split("/").some((part) => part.length >= 20);
    return `${u.protocol}//${u.host}${secretPath ? "/…" : u.pathname === "/" ? "" : u.pathname}${u.search ? "?…" : ""}`;
  } catch {
    return url;
  }
}
