/**
 * The job model: one pure reducer that folds the JobEscrow's events into a job's state. Everything that follows jobs
 * from the chain (the SDK's `getJobHistory`, the worker's ingest) goes through it, so "what state is job X in" has one
 * answer, computed from logs alone: no `getJob` per job, no scan from block 0.
 *
 * The state equals the escrow's own `getJob` field by field (test/sdk/reducer.test.ts checks it after every
 * transaction of real jobs), with the exceptions the events cannot cover: a k > 1 slot that committed and never
 * revealed shows a zero hash where the chain shows its commitment (`ResultCommitted` does not carry it; an operator
 * knows its own); the job's terms version and royalty are not in any event (the {@link Job} of a state has them
 * undefined); a payer module's address is known once its JobRefunded names it (JobSubmitted has its id only).
 *
 * Browser-safe and side-effect free. Nothing is mutated: every call returns a new state (or the very same object
 * when the log was already applied), so a caller can keep the previous state to rewind to.
 *
 * **Ordering.** A job's logs must be applied in chain order: (blockNumber, logIndex) increasing. The one exception is
 * built in: the escrow emits the submission's `OperatorsAssigned` *before* its `JobSubmitted` (same transaction), and
 * it is accepted after the state was started from `JobSubmitted`. {@link foldJobEvents} and {@link reduceJobs} sort
 * their input themselves, so only logs split across calls must arrive in order (a later call never carries a log
 * older than one already applied, except a replay). A log older than the last one applied that was never applied
 * throws {@link JobEventOrderError}: a log is missing and the job must be refolded from its history.
 *
 * **Replays** are no-ops: a log already applied (same blockHash and logIndex) returns the state unchanged, so
 * overlapping `eth_getLogs` ranges can be fed again. A log from a block number already applied under another block
 * hash throws {@link JobEventReorgError}: rewind (refold without the orphaned blocks) first.
 *
 * **Block timestamps.** Two steps move a phase end without an event saying so: the last slot of a commit round to
 * decline, or to commit while the others declined, closes the commit window at once (`phaseEnd = block.timestamp -
 * 1`, so `poke` can replace the declined slots). The reducer reads the log's `blockTimestamp` then (EDR, anvil, geth
 * 1.16+ and reth return it with `eth_getLogs`, and viem keeps it); when a log that needs it lacks it,
 * {@link JobEventTimestampRequiredError} names the block: set `blockTimestamp` from that block and call again.
 */
import { formatJobId } from "../errors.js";
import { encodeEventTopics, parseEventLogs, zeroAddress, zeroHash, type Address, type Hex, type Log, type ParseEventLogsReturnType } from "viem";
import { jobEscrowAbi } from "@veil/contracts";
import { VeilError, refundReasonName, type RefundReason } from "../errors.js";
import type { Job, JobStatus } from "../actions/jobs.js";

/**
 * The escrow events that change a job; each has `uint256 indexed jobId` as its first indexed topic (a JobId:
 * `tag << 64 | generation << 32 | record index`, a bigint of about 2^127).
 */
export const JOB_EVENT_NAMES = [
  "JobSubmitted",
  "OperatorsAssigned",
  "ResultCommitted",
  "RevealPhaseStarted",
  "ResultRevealed",
  "ResultProposed",
  "JobDisputed",
  "SlotDeclined",
  "SlotMissed",
  "JobFinalized",
  "JobRefunded",
] as const;
export type JobEventName = (typeof JOB_EVENT_NAMES)[number];

/** topic0 of each job event, in {@link JOB_EVENT_NAMES} order: `topics: [JOB_EVENT_TOPICS, jobIdTopic?]` in eth_getLogs. */
export const JOB_EVENT_TOPICS: readonly Hex[] = JOB_EVENT_NAMES.map((eventName) => encodeEventTopics({ abi: jobEscrowAbi, eventName })[0]!);

type DecodedEscrowLog = ParseEventLogsReturnType<typeof jobEscrowAbi, undefined, true>[number];
/** A decoded, mined escrow log of any event (what `parseEventLogs({ abi: jobEscrowAbi, logs, strict: true })` returns). */
export type EscrowLog = DecodedEscrowLog & { blockTimestamp?: bigint | number | null | undefined; removed?: boolean | undefined };
/** A decoded, mined escrow log of one of the job events. */
export type JobEventLog = Extract<EscrowLog, { eventName: JobEventName }>;
type LogOf<N extends JobEventName> = Extract<JobEventLog, { eventName: N }>;

/** Where a log sits in the chain: enough to recognise a replay and to rewind past a reorg. */
export type LogRef = {
  blockNumber: bigint;
  blockHash: Hex;
  logIndex: number;
  transactionHash: Hex;
  eventName: JobEventName;
};

/** Dispute reasons, by the escrow's `DisputeReason` code. */
export const DISPUTE_REASONS = ["Disagreement", "Challenge"] as const;
export type DisputeReasonName = (typeof DISPUTE_REASONS)[number];

// ---------------------------------------------------------------------------------------------------------------- slots

/**
 * What one operator slot of a job shows, named (from the escrow's bit masks, which {@link slotStates} decodes):
 * - `"pending"`: assigned, nothing posted yet;
 * - `"posted"`: k = 1, the operator posted its result (`resultHash`);
 * - `"committed"`: k > 1, committed and not (yet) revealed;
 * - `"revealed"`: k > 1, revealed its result (`resultHash`);
 * - `"declined"`: declined the job in the current commit round (`declineJob`; the slot is replaced or the job refunded);
 * - `"missed"`: slashed for a missed step: a k > 1 reveal (SlotMissed in Revealing), or a commit (k > 1) or post
 *   (k = 1) when the job was then refunded for its deadline (a missed commit that was replaced shows the new
 *   operator's slot instead). A slot that declined in the refund's round shows `"missed"` too: the escrow's
 *   SlotMissed names it (without penalty) and clears `declinedMask` when the round ends.
 */
export type SlotState = "pending" | "committed" | "revealed" | "posted" | "declined" | "missed";

/** One operator slot of a job: who holds it and its {@link SlotState}; `resultHash` when it revealed or posted one. */
export type JobSlot = { readonly slot: number; readonly operator: Address; readonly state: SlotState; readonly resultHash?: Hex };

/** The fields of a job {@link slotStates} reads: the escrow's `getJob`, or a folded {@link JobState}. */
export type SlotStatesInput = {
  readonly status: JobStatus;
  readonly redundancy: number;
  readonly operators: readonly Address[];
  readonly slotHashes: readonly Hex[];
  readonly commitMask: number;
  readonly revealMask: number;
  readonly declinedMask: number;
  readonly missedMask: number;
};

/**
 * The named state of every slot of a job, from the escrow's bit masks. The one place that decodes them: the SDK's
 * `getJob` (from the chain or from events) and the reducer's {@link JobState} both take their `slots` from it, so the
 * two always agree. The masks: `commitMask`, the k > 1 slots that committed; `revealMask`, the slots whose result
 * hash is public (k = 1: the posted result, bit 0; k > 1: the revealed slots); `declinedMask`, the slots that
 * declined in the current commit round; `missedMask`, the k > 1 slots slashed for a missed reveal. A slot missed
 * at commit is replaced (the new operator's slot shows) or, when the job was refunded instead, shows `"missed"`.
 *
 * @example
 * const job = await getJob(client, { addresses, jobId })
 * const committed = job.slots.filter((s) => s.state === "committed").length
 */
export function slotStates(job: SlotStatesInput): JobSlot[] {
  const k = job.redundancy;
  const out: JobSlot[] = [];
  for (let slot = 0; slot < k; slot++) {
    const bit = 1 << slot;
    const operator = job.operators[slot] ?? zeroAddress;
    const hash = job.slotHashes[slot] ?? zeroHash;
    const at = (state: SlotState, resultHash?: Hex): JobSlot => (resultHash === undefined ? { slot, operator, state } : { slot, operator, state, resultHash });
    if (job.missedMask & bit) out.push(at("missed"));
    else if (job.revealMask & bit) out.push(at(k === 1 ? "posted" : "revealed", hash));
    else if (job.declinedMask & bit) out.push(at("declined"));
    else if (k > 1 && job.commitMask & bit) out.push(at("committed"));
    else if (job.status === "Assigned") out.push(at("pending"));
    // Past Assigned with nothing posted: only a job refunded from Assigned (its deadline allowed no other round after
    // a missed commit), whose every slot that had not committed or posted was slashed (SlotMissed).
    else out.push(at(job.status === "Refunded" ? "missed" : "pending"));
  }
  return out;
}

/**
 * A job as its events describe it. The fields of the escrow's `getJob` (`JobView`) have its meaning exactly; the
 * others are what the events add.
 */
export type JobState = {
  readonly jobId: bigint;
  /** The JobEscrow that emitted the job's logs (as the first log gave it). */
  readonly escrow: Address;
  readonly requester: Address;
  readonly modelId: Hex;
  readonly status: JobStatus;
  /** Who paid: 0, the requester; otherwise the FeeLedger's payer module id (JobSubmitted's `payerModule`). */
  readonly payerModule: number;
  /**
   * Where refunds go: the requester when it paid; a payer module's address once its JobRefunded names it, undefined
   * before (the events carry only the module's id: `FeeLedger.payerModule(id)` gives its address).
   */
  readonly payer: Address | undefined;
  /**
   * `"deposit"` when the requester paid, `"allowance"` when a payer module did.
   * @deprecated Use `payerModule`.
   */
  readonly payMode: "deposit" | "allowance";
  /** The governance terms version the job settles under (JobSubmitted's `termsVersion`; `paramsAt` gives them). */
  readonly termsVersion: number;
  /** The model owner's royalty, fixed at submission (JobSubmitted's `royaltyBps`). */
  readonly royaltyBps: number;
  /** k, the number of operator slots. */
  readonly redundancy: number;
  /** Fee per slot (`fee / k`). */
  readonly price: bigint;
  /** Total fee escrowed at submission. */
  readonly fee: bigint;
  /** Latest time a result may be proposed (unix seconds). */
  readonly deadline: number;
  /** End of the current window (commit, reveal, challenge or dispute); 0 once Finalized or Refunded (as getJob). */
  readonly phaseEnd: number;
  /** End of the challenge window set by ResultProposed; 0 while no result was proposed. */
  readonly challengeEnd: number;
  /** Resolution deadline set by JobDisputed; 0 while not disputed. */
  readonly resolveBy: number;
  /** Operator of each slot (the latest drawn); zero address until the submission's OperatorsAssigned is applied. */
  readonly operators: readonly Address[];
  /** Per slot: the revealed (k > 1) or posted (k = 1) result hash; zero otherwise (commitments are not in events). */
  readonly slotHashes: readonly Hex[];
  /** Every slot's operator and named state ({@link slotStates}): read this, not the masks. */
  readonly slots: readonly JobSlot[];
  /**
   * k > 1: slots that committed (0 at k = 1, as getJob).
   * @deprecated A bit mask of the escrow's; use `slots`.
   */
  readonly commitMask: number;
  /**
   * As getJob: slots whose result hash is public (k = 1: the posted result, bit 0; k > 1: the revealed slots).
   * @deprecated A bit mask of the escrow's; use `slots`.
   */
  readonly revealMask: number;
  /**
   * As getJob: slots that declined in the current commit round (cleared when the round ends).
   * @deprecated A bit mask of the escrow's; use `slots` (state `"declined"`).
   */
  readonly declinedMask: number;
  /**
   * k > 1: slots slashed for missing their reveal.
   * @deprecated A bit mask of the escrow's; use `slots` (state `"missed"`).
   */
  readonly missedMask: number;
  /** As getJob: the proposed (while Proposed), final or dispute-resolved result; undefined otherwise. */
  readonly result: Hex | undefined;
  /** The result ResultProposed named, kept through a challenge; undefined while none was proposed. */
  readonly proposedResult: Hex | undefined;
  readonly disputeReason: DisputeReasonName | undefined;
  /** Why the job was refunded (JobRefunded); undefined unless Refunded. */
  readonly refundReason: RefundReason | `Unknown(${number})` | undefined;
  /** sha256 of the canonical input bytes. */
  readonly inputHash: Hex;
  /** The inline input ("0x" when it went by reference). */
  readonly input: Hex;
  /** The input's URI ("" when inline). */
  readonly inputURI: string;
  /** An operator may decline a slot: input by reference, or an inline private envelope (see `decline`). */
  readonly declinable: boolean;
  /** OperatorsAssigned logs applied: 1 after the submission, +1 per replacement round. */
  readonly assignments: number;
  /** The JobSubmitted log. */
  readonly submitted: LogRef;
  /** The last log applied in chain order (for reorg rewinds). */
  readonly last: LogRef;
  /** Every log applied, in the order applied. */
  readonly applied: readonly LogRef[];
};

// ---------------------------------------------------------------------------------------------------------------- errors

/** A log the reducer cannot apply: wrong job or escrow, unmined, removed, or not possible in the job's status. */
export class JobEventError extends VeilError {
  override name = "JobEventError";
  constructor(
    readonly jobId: bigint | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** A log older than the last one applied to its job and never applied itself: a log is missing; refold the job. */
export class JobEventOrderError extends JobEventError {
  override name = "JobEventOrderError";
  constructor(
    jobId: bigint,
    readonly log: LogRef,
    readonly last: LogRef,
  ) {
    super(jobId, `job ${formatJobId(jobId)}: ${describe(log)} is older than the last log applied (${describe(last)}) and was never applied: a log is missing; refold the job from its history`);
  }
}

/** A log from a block number the job already has a log of, under another block hash: the chain reorganised. */
export class JobEventReorgError extends JobEventError {
  override name = "JobEventReorgError";
  constructor(
    jobId: bigint,
    readonly log: LogRef,
    readonly applied: LogRef,
  ) {
    super(jobId, `job ${formatJobId(jobId)}: ${describe(log)} is in block ${log.blockNumber} (${log.blockHash}), but the job has a log of block ${applied.blockNumber} from ${applied.blockHash}: the chain reorganised; rewind first`);
  }
}

/** The log closes the commit window at its block's timestamp, which it does not carry: set `blockTimestamp` and retry. */
export class JobEventTimestampRequiredError extends JobEventError {
  override name = "JobEventTimestampRequiredError";
  constructor(
    jobId: bigint,
    readonly log: LogRef,
  ) {
    super(jobId, `job ${formatJobId(jobId)}: ${describe(log)} closes the commit window at its block's timestamp: set blockTimestamp on the log (block ${log.blockNumber}, ${log.blockHash}) and apply it again`);
  }
}

function describe(l: LogRef): string {
  return `${l.eventName} (block ${l.blockNumber}, log ${l.logIndex})`;
}

// ---------------------------------------------------------------------------------------------------------------- decoding

/**
 * Decodes raw logs (`eth_getLogs`, a receipt) into the escrow's job events: logs of other contracts and other escrow
 * events are dropped, pending logs refused.
 */
export function parseJobEvents(logs: readonly Log[], escrow: Address): JobEventLog[] {
  const at = escrow.toLowerCase();
  return parseEventLogs({ abi: jobEscrowAbi, eventName: [...JOB_EVENT_NAMES], logs: logs.filter((l) => l.address.toLowerCase() === at) as Log[], strict: true }).map((l) =>
    checkMined(l as JobEventLog),
  );
}

function isJobEvent(log: { eventName?: string }): log is JobEventLog {
  return (JOB_EVENT_NAMES as readonly string[]).includes(log.eventName ?? "");
}

function checkMined<L extends JobEventLog>(log: L): L {
  if (log.blockHash == null || log.blockNumber == null || log.logIndex == null || log.transactionHash == null) {
    throw new JobEventError(jobIdOf(log), `${log.eventName} of job ${formatJobId(jobIdOf(log) ?? 0n)} is pending (no block hash, number or log index): only mined logs can be applied`);
  }
  if (log.removed) throw new JobEventError(jobIdOf(log), `${log.eventName} of job ${formatJobId(jobIdOf(log) ?? 0n)} (block ${log.blockNumber}, log ${log.logIndex}) was removed by a reorg: rewind instead of applying it`);
  return log;
}

function jobIdOf(log: { args?: unknown }): bigint | undefined {
  const id = (log.args as { jobId?: unknown } | undefined)?.jobId;
  return typeof id === "bigint" ? id : undefined;
}

function refOf(log: JobEventLog): LogRef {
  checkMined(log);
  return { blockNumber: log.blockNumber!, blockHash: log.blockHash!, logIndex: log.logIndex!, transactionHash: log.transactionHash!, eventName: log.eventName };
}

/** Chain order of two positions: negative when `a` comes first. */
function order(a: { blockNumber: bigint; logIndex: number }, b: { blockNumber: bigint; logIndex: number }): number {
  if (a.blockNumber !== b.blockNumber) return a.blockNumber < b.blockNumber ? -1 : 1;
  return a.logIndex - b.logIndex;
}

/** Sorts logs in chain order (stable for equal positions; does not change its input). */
export function sortLogs<L extends { blockNumber: bigint | null; logIndex: number | null }>(logs: readonly L[]): L[] {
  return [...logs].sort((a, b) => order({ blockNumber: a.blockNumber ?? 0n, logIndex: a.logIndex ?? 0 }, { blockNumber: b.blockNumber ?? 0n, logIndex: b.logIndex ?? 0 }));
}

// ---------------------------------------------------------------------------------------------------------------- reducer

/** First four bytes ("VEIL") of a private job's inline input envelope (docs/privacy.md). */
const ENVELOPE_MAGIC = "0x5645494c";
const STATUS_ASSIGNED = 1;
const STATUS_REVEALING = 2;

export type JobSubmittedArgs = LogOf<"JobSubmitted">["args"];
/** Where the JobSubmitted log sits, and the escrow that emitted it. */
export type JobLogMeta = Omit<LogRef, "eventName"> & { escrow: Address };

/**
 * A job's state right after its JobSubmitted log: status Assigned, no operators yet (the submission's
 * OperatorsAssigned, which the escrow emits just before, is applied next).
 */
export function initialJobState(args: JobSubmittedArgs, meta: JobLogMeta): JobState {
  const k = args.redundancy;
  if (!Number.isInteger(k) || k < 1 || k > 7) throw new JobEventError(args.jobId, `JobSubmitted of job ${formatJobId(args.jobId)}: redundancy ${k} is outside 1..7`);
  const ref: LogRef = { blockNumber: meta.blockNumber, blockHash: meta.blockHash, logIndex: meta.logIndex, transactionHash: meta.transactionHash, eventName: "JobSubmitted" };
  return withSlots({
    jobId: args.jobId,
    escrow: meta.escrow,
    requester: args.requester,
    modelId: args.modelId,
    status: "Assigned",
    payerModule: args.payerModule,
    payer: args.payerModule === 0 ? args.requester : undefined,
    payMode: args.payerModule === 0 ? "deposit" : "allowance",
    termsVersion: args.termsVersion,
    royaltyBps: args.royaltyBps,
    redundancy: k,
    price: args.fee / BigInt(k),
    fee: args.fee,
    deadline: args.deadline,
    phaseEnd: 0,
    challengeEnd: 0,
    resolveBy: 0,
    operators: Array<Address>(k).fill(zeroAddress),
    slotHashes: Array<Hex>(k).fill(zeroHash),
    commitMask: 0,
    revealMask: 0,
    declinedMask: 0,
    missedMask: 0,
    result: undefined,
    proposedResult: undefined,
    disputeReason: undefined,
    refundReason: undefined,
    inputHash: args.inputHash,
    input: args.input,
    inputURI: args.inputURI,
    declinable: args.inputURI.length > 0 || args.input.slice(0, 10).toLowerCase() === ENVELOPE_MAGIC,
    assignments: 0,
    submitted: ref,
    last: ref,
    applied: [ref],
  });
}

function withSlots(state: Omit<JobState, "slots">): JobState {
  return { ...state, slots: slotStates(state) };
}

/** {@link initialJobState} from a decoded JobSubmitted log. */
export function jobStateFromSubmission(log: LogOf<"JobSubmitted">): JobState {
  const ref = refOf(log);
  return initialJobState(log.args, { ...ref, escrow: log.address });
}

/**
 * Applies one log of the job to its state and returns the new state (`state` itself is not changed; a log already
 * applied returns `state`). Throws {@link JobEventError} for a log of another job or escrow, a pending or removed log,
 * or a step the job's status does not allow (a log is missing); {@link JobEventOrderError} for a log older than the
 * last applied; {@link JobEventReorgError} for a block seen under another hash; {@link JobEventTimestampRequiredError}
 * when the log needs its block's timestamp. See the module's notes on ordering.
 */
export function reduceJobEvent(state: JobState, log: JobEventLog): JobState {
  const ref = refOf(log);
  const { jobId } = state;
  if (log.args.jobId !== jobId) throw new JobEventError(jobId, `${describe(ref)} is of job ${formatJobId(log.args.jobId)}, not job ${formatJobId(jobId)}`);
  if (log.address.toLowerCase() !== state.escrow.toLowerCase()) {
    throw new JobEventError(jobId, `job ${jobId}: ${describe(ref)} comes from ${log.address}, but the job's escrow is ${state.escrow}`);
  }
  for (const a of state.applied) {
    if (a.blockHash === ref.blockHash && a.logIndex === ref.logIndex) return state; // replay
    if (a.blockNumber === ref.blockNumber && a.blockHash !== ref.blockHash) throw new JobEventReorgError(jobId, ref, a);
  }
  if (log.eventName === "JobSubmitted") throw new JobEventError(jobId, `job ${jobId}: a second JobSubmitted (${describe(ref)}) after ${describe(state.submitted)}`);
  // The submission's own OperatorsAssigned precedes JobSubmitted in the same transaction.
  const submissionDraw =
    log.eventName === "OperatorsAssigned" && state.assignments === 0 && ref.transactionHash === state.submitted.transactionHash && ref.blockHash === state.submitted.blockHash;
  if (!submissionDraw && order(ref, state.last) < 0) throw new JobEventOrderError(jobId, ref, state.last);
  if (state.assignments === 0 && !submissionDraw) {
    throw new JobEventError(jobId, `job ${jobId}: ${describe(ref)} before the submission's OperatorsAssigned (of transaction ${state.submitted.transactionHash}): a log is missing`);
  }

  const next = withSlots(apply(state, log, ref));
  return { ...next, last: order(ref, state.last) > 0 ? ref : state.last, applied: [...state.applied, ref] };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function apply(state: JobState, log: JobEventLog, ref: LogRef): JobState {
  const s: Mutable<JobState> = { ...state };
  const k = s.redundancy;
  const full = (1 << k) - 1;
  const expect = (...statuses: JobStatus[]) => {
    if (!statuses.includes(s.status)) {
      throw new JobEventError(s.jobId, `job ${s.jobId}: ${describe(ref)} cannot happen to a job in status ${s.status} (a log is missing or from another chain)`);
    }
  };
  const slotBit = (slot: number) => {
    if (!Number.isInteger(slot) || slot < 0 || slot >= k) throw new JobEventError(s.jobId, `job ${s.jobId}: ${describe(ref)} names slot ${slot}, outside 0..${k - 1}`);
    return 1 << slot;
  };
  const closeNow = () => {
    const t = log.blockTimestamp;
    if (t === undefined || t === null) throw new JobEventTimestampRequiredError(s.jobId, ref);
    s.phaseEnd = Number(t) - 1;
  };

  switch (log.eventName) {
    case "OperatorsAssigned": {
      expect("Assigned");
      const { slots, operators, phaseEnd } = log.args;
      if (slots.length !== operators.length || slots.length === 0) {
        throw new JobEventError(s.jobId, `job ${s.jobId}: ${describe(ref)} has ${slots.length} slots for ${operators.length} operators`);
      }
      const ops = [...s.operators];
      for (const [i, slot] of slots.entries()) {
        slotBit(slot);
        ops[slot] = operators[i]!;
      }
      s.operators = ops;
      s.phaseEnd = phaseEnd;
      s.assignments += 1;
      break;
    }
    case "ResultCommitted": {
      expect("Assigned");
      if (k === 1) throw new JobEventError(s.jobId, `job ${s.jobId}: ${describe(ref)} at k = 1 (no commit phase)`);
      s.commitMask |= slotBit(log.args.slot);
      // The rest declined: nobody has anything left to commit, so the escrow ends the window now (JobEscrow.commit).
      if (s.commitMask !== full && (s.commitMask | s.declinedMask) === full) closeNow();
      break;
    }
    case "RevealPhaseStarted":
      expect("Assigned");
      s.status = "Revealing";
      s.phaseEnd = log.args.phaseEnd;
      break;
    case "ResultRevealed": {
      expect(k === 1 ? "Assigned" : "Revealing");
      const bit = slotBit(log.args.slot);
      const hashes = [...s.slotHashes];
      hashes[log.args.slot] = log.args.resultHash;
      s.slotHashes = hashes;
      s.revealMask |= bit; // k = 1: the posted result (bit 0); k > 1: a reveal
      break;
    }
    case "SlotDeclined": {
      expect("Assigned");
      const bit = slotBit(log.args.slot);
      s.declinedMask |= bit;
      // Every slot committed or declined: the escrow ends the window now (JobEscrow.decline).
      if ((s.commitMask | s.declinedMask) === full) closeNow();
      break;
    }
    case "SlotMissed": {
      const bit = slotBit(log.args.slot);
      if (log.args.phase === STATUS_ASSIGNED) {
        expect("Assigned");
        // The missed-commit round clears the declines; replacements (OperatorsAssigned) or a refund follow.
        s.declinedMask = 0;
      } else if (log.args.phase === STATUS_REVEALING) {
        expect("Revealing");
        s.missedMask |= bit;
      } else {
        throw new JobEventError(s.jobId, `job ${s.jobId}: ${describe(ref)} names phase ${log.args.phase}, not Assigned (1) or Revealing (2)`);
      }
      break;
    }
    case "ResultProposed":
      expect(k === 1 ? "Assigned" : "Revealing");
      s.status = "Proposed";
      s.result = log.args.resultHash;
      s.proposedResult = log.args.resultHash;
      s.phaseEnd = log.args.challengeEnd;
      s.challengeEnd = log.args.challengeEnd;
      break;
    case "JobDisputed":
      expect("Revealing", "Proposed");
      s.status = "Disputed";
      s.result = undefined; // getJob shows no result while disputed
      s.phaseEnd = log.args.resolveBy;
      s.resolveBy = log.args.resolveBy;
      s.disputeReason = DISPUTE_REASONS[log.args.reason];
      break;
    case "JobFinalized":
      expect("Proposed", "Disputed");
      s.status = "Finalized";
      s.result = log.args.resultHash === zeroHash ? undefined : log.args.resultHash;
      s.phaseEnd = 0;
      break;
    case "JobRefunded":
      expect("Assigned", "Revealing", "Disputed");
      s.status = "Refunded";
      s.result = undefined;
      s.phaseEnd = 0;
      s.refundReason = refundReasonName(log.args.reason);
      s.payer = log.args.payer;
      break;
    case "JobSubmitted":
      throw new JobEventError(s.jobId, `job ${s.jobId}: JobSubmitted is the start of a job, not a step (use initialJobState)`);
  }
  return s;
}

/**
 * Folds one job's whole history (any order; replays allowed) into its state; undefined when the logs hold no
 * JobSubmitted of the job (e.g. the range started after its submission). Throws {@link JobEventError} when the logs
 * are of several jobs.
 */
export function foldJobEvents(logs: readonly JobEventLog[]): JobState | undefined {
  if (logs.length === 0) return undefined;
  const jobId = logs[0]!.args.jobId;
  const other = logs.find((l) => l.args.jobId !== jobId);
  if (other) throw new JobEventError(jobId, `foldJobEvents takes one job's logs: got jobs ${jobId} and ${other.args.jobId} (use reduceJobs for a stream)`);
  const sorted = sortLogs(logs.map(checkMined));
  const submitted = sorted.find((l): l is LogOf<"JobSubmitted"> => l.eventName === "JobSubmitted");
  if (!submitted) return undefined;
  let state = jobStateFromSubmission(submitted);
  for (const log of sorted) state = reduceJobEvent(state, log);
  return state;
}

/** What {@link reduceJobs} returns. */
export type JobsReduction = {
  /** Every job's state: a new map (the one passed in is not changed). */
  jobs: Map<bigint, JobState>;
  /** Jobs whose state changed (a replay changes nothing), in the order of their first change. */
  changed: bigint[];
  /**
   * Job logs of jobs neither in the map nor submitted in these logs (their JobSubmitted is older than the stream):
   * fold their history ({@link foldJobEvents} over `eth_getLogs` by job id topic) and add it to the map.
   */
  orphans: JobEventLog[];
};

/**
 * Folds a stream of many jobs' logs (one escrow; any order within the call, replays allowed; other escrow events
 * ignored) into a map of job states, e.g. each `eth_getLogs` range a worker ingests. A job submitted in these logs
 * is started from its JobSubmitted. All or nothing: when a log throws (see {@link reduceJobEvent}), the map passed in
 * is still the state before the call.
 */
export function reduceJobs(jobs: ReadonlyMap<bigint, JobState>, logs: readonly EscrowLog[]): JobsReduction {
  const out = new Map(jobs);
  const changed: bigint[] = [];
  const orphans: JobEventLog[] = [];
  const sorted = sortLogs(logs.filter(isJobEvent).map(checkMined));
  let escrow: string | undefined;
  const seenAt = new Map<string, Hex>(); // "block:logIndex" -> block hash
  for (const log of sorted) {
    const address = log.address.toLowerCase();
    if (escrow !== undefined && address !== escrow) throw new JobEventError(log.args.jobId, `reduceJobs takes one escrow's logs: got ${escrow} and ${address}`);
    escrow = address;
    const position = `${log.blockNumber}:${log.logIndex}`;
    const hash = seenAt.get(position);
    if (hash !== undefined && hash !== log.blockHash) {
      throw new JobEventReorgError(log.args.jobId, refOf(log), { ...refOf(log), blockHash: hash });
    }
    seenAt.set(position, log.blockHash!);
  }
  const touch = (id: bigint) => {
    if (!changed.includes(id)) changed.push(id);
  };
  // Jobs submitted in this stream start from their JobSubmitted, so the submission's OperatorsAssigned (just before
  // it in the same transaction) applies to them.
  for (const log of sorted) {
    if (log.eventName !== "JobSubmitted" || out.has(log.args.jobId)) continue;
    out.set(log.args.jobId, jobStateFromSubmission(log));
    touch(log.args.jobId);
  }
  for (const log of sorted) {
    const before = out.get(log.args.jobId);
    if (!before) {
      orphans.push(log);
      continue;
    }
    const after = reduceJobEvent(before, log);
    if (after !== before) {
      out.set(log.args.jobId, after);
      touch(log.args.jobId);
    }
  }
  return { jobs: out, changed, orphans };
}

/** The SDK's {@link Job} view of a state (`source: "events"`). */
export function jobFromState(state: JobState): Job {
  return {
    jobId: state.jobId,
    source: "events",
    requester: state.requester,
    modelId: state.modelId,
    status: state.status,
    payerModule: state.payerModule,
    payer: state.payer,
    payMode: state.payMode,
    redundancy: state.redundancy,
    price: state.price,
    deadline: state.deadline,
    phaseEnd: state.phaseEnd,
    operators: [...state.operators],
    slotHashes: [...state.slotHashes],
    slots: [...state.slots],
    commitMask: state.commitMask,
    revealMask: state.revealMask,
    declinedMask: state.declinedMask,
    missedMask: state.missedMask,
    result: state.result,
    termsVersion: state.termsVersion,
    royaltyBps: state.royaltyBps,
  };
}
