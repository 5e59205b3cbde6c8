/**
 * Validator mode: the worker's part in verification (docs/verification.md, contracts/DisputeManager.sol).
 *
 * Every pass (tasks/validator.ts runs one after each pass of the worker's chain listener) the validator
 *  1. follows the escrow's `JobDisputed` events for the models this worker serves and keeps a tracker per dispute,
 *     which moves it along on chain: `startDisagreement` (operators disagreed), `drawCommittee` once the seed block
 *     is mined, `resolve` after the reveal window (or after `drawBy` when nobody drew). Anyone may call these; a
 *     revert means another validator got there first and is tolerated.
 *  2. when this operator is a drawn committee member, re-runs the job with the engine (the input from the job's
 *     `JobSubmitted` event: inline, or by URI checked against its hash), hashes the outputs with the model's
 *     comparator, and votes for that hash if it is one of the operators' revealed results, else NONE (bytes32(0)).
 *     Salt, vote and commitment are persisted before `commitVote` is sent (as for operator commits), and the vote
 *     is revealed in the reveal window.
 *  3. claims its DisputeManager rewards (after a dispute it tracked resolves, and every `claimIntervalMs`).
 *  4. optionally (`spotCheckRate` > 0) re-runs a sample of `Proposed` jobs of served models in which this operator
 *     has no slot, and challenges (approving and posting the bond) a proposed result its own run does not reproduce.
 *
 * State lives in the worker's store, as job records on reserved slots (>= VALIDATOR_SLOT_BASE, which the operator
 * state machine in tasks/scheduler.ts skips): a tracker, a ballot and a spot check per job at most. Every step re-reads the
 * DisputeManager's views first, so after a restart nothing already on chain is sent again, and a vote is never
 * committed twice (write-once salt/commitment in the store, plus the on-chain ballot).
 *
 * The validator always computes honestly: `tamperOutputs` (adversarial tests) affects operator results only.
 */
import {
  decodeEventLog,
  encodeAbiParameters,
  keccak256,
  type Address,
  type Chain,
  type Hex,
  type Log,
  type PublicClient,
  type Transport,
} from "viem";
import { disputeManagerAbi, jobEscrowAbi, veilTokenAbi } from "@veil/contracts";
import { sha256Hex, type Comparator } from "@veil/sdk";
import type { InferenceEngine } from "./inference/engine.js";
import { computeResult, privateEnvelope } from "./inference/compute.js";
import type { Logger } from "./internal/log.js";
import { isPrivateEnvelope, type PrivateCodec, type PrivateInput } from "./private.js";
import { TxRevertedError, isRevert, revertReason, type TxSender } from "./chain/sender.js";
import { isJobRecycled, settledOutcome } from "./chain/settled.js";
import { isTerminalState, type JobKey, type JobRecord, type WorkerStore } from "./store.js";
import { defaultFetch, definedOnly, hexBytes, randomBytes32, sameAddress } from "./internal/util.js";

/** Store slots at and above this one hold validator records, never operator slots (the escrow's k is <= 7). */
export const VALIDATOR_SLOT_BASE = 100;
/** One record per disputed job: drives start, draw and resolve. */
export const TRACKER_SLOT = VALIDATOR_SLOT_BASE;
/** This operator's committee ballot for the job (a member holds one index only: the draw never repeats a member). */
export const BALLOT_SLOT = VALIDATOR_SLOT_BASE + 1;
/** A spot check of a proposed job. */
export const SPOT_CHECK_SLOT = VALIDATOR_SLOT_BASE + 2;

export function isValidatorRecord(key: JobKey): boolean {
  return key.slot >= VALIDATOR_SLOT_BASE;
}

/** IDisputeManager.Status */
export const DisputeStatus = { None: 0, Drawing: 1, Voting: 2, Resolved: 3 } as const;

const NONE = `0x${"0".repeat(64)}` as Hex;
const ESCROW = { Proposed: 3, Disputed: 4, Finalized: 5, Refunded: 6 } as const;
const CURSOR_STREAM = "validator";

export interface ServedModel {
  modelId: Hex;
  comparator: Comparator;
}

export interface DisputeValidatorOptions {
  publicClient: PublicClient<Transport, Chain | undefined>;
  /** The worker's sender: one nonce queue per signer. */
  sender: TxSender;
  store: WorkerStore;
  engine: InferenceEngine;
  logger: Logger;
  chainId: number;
  addresses: { jobEscrow: Address; disputeManager: Address };
  /** The served model with this id (loaded in the engine), or undefined. */
  model: (modelId: Hex) => ServedModel | undefined;
  /** Probability in [0, 1] that a proposed job of a served model, not ours, is re-run and checked. Default 0. */
  spotCheckRate?: number;
  /** Blocks an event must be buried under before it is acted on. */
  confirmations?: number;
  startBlock?: bigint;
  maxLogRange?: bigint;
  /** How often to look for claimable rewards besides after each resolution. Default 1 hour. */
  claimIntervalMs?: number;
  fetchInput?: (uri: string) => Promise<Uint8Array>;
  /**
   * Resolves a job's input URI, `sha256:<hex>` content addresses included (from the job's operators: blobs.ts).
   * Takes precedence over `fetchInput`.
   */
  resolveInput?: (uri: string, jobId: bigint) => Promise<Uint8Array>;
  /** Opens private inputs re-wrapped to this member once drawn (docs/privacy.md); without it a private job is never voted on. */
  privacy?: PrivateCodec;
  signal?: AbortSignal;
}

interface Dispute {
  status: number;
  challenger: Address;
  drawBlock: bigint;
  drawBy: number;
  commitEnd: number;
  revealEnd: number;
  decided: boolean;
  winner: Hex;
  members: Address[];
}

interface EscrowJob {
  modelId: Hex;
  status: number;
  phaseEnd: number;
  operators: Address[];
  slotHashes: Hex[];
  /** Slots whose result is on chain: revealed (k > 1) or posted (k = 1, bit 0). */
  revealMask: number;
  result: Hex;
}

/** Chain facts read once per tick. */
interface Now {
  block: bigint;
  timestamp: number;
}

export class DisputeValidator {
  readonly operator: Address;
  private readonly o: DisputeValidatorOptions & { spotCheckRate: number; confirmations: number; maxLogRange: bigint; claimIntervalMs: number };
  private running: Promise<void> | undefined;
  private claimDue = true;
  private lastClaimCheck = 0;
  private stakingToken: Address | undefined;

  constructor(options: DisputeValidatorOptions) {
    const rate = options.spotCheckRate ?? 0;
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`spotCheckRate must be in [0, 1], got ${rate}`);
    this.o = { confirmations: 0, maxLogRange: 2_000n, claimIntervalMs: 3_600_000, ...definedOnly(options), spotCheckRate: rate } as typeof this.o;
    this.operator = options.sender.address;
  }

  private get log() {
    return this.o.logger;
  }

  /** One pass over events, disputes, ballots, spot checks and claims. Concurrent calls share one pass. */
  tick(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass() {
    const latest = await this.o.publicClient.getBlock({ blockTag: "latest" });
    const now: Now = { block: latest.number!, timestamp: Number(latest.timestamp) };
    await this.ingest(now.block);
    // Trackers first: a committee drawn in this pass creates the ballot that the next loop advances.
    for (const kind of [TRACKER_SLOT, BALLOT_SLOT, SPOT_CHECK_SLOT]) {
      for (const rec of this.records(kind)) await this.guarded(rec, now);
    }
    await this.maybeClaim();
  }

  private records(slot: number): JobRecord[] {
    return this.o.store.activeJobs({ chainId: this.o.chainId }).filter((j) => j.slot === slot);
  }

  /** Advances one record as far as it goes this pass; a failure is recorded on it and retried next pass. */
  private async guarded(rec: JobRecord, now: Now) {
    try {
      for (let step = 0; step < 8; step++) {
        const before = rec.state;
        const next = await this.advance(rec, now);
        if (!next || next.state === before || isTerminalState(next.state)) return;
        rec = next;
      }
    } catch (err) {
      const current = this.o.store.getJob(rec);
      const message = isRevert(err) ? revertReason(err).reason : String((err as Error)?.message ?? err);
      if (current && !isTerminalState(current.state)) {
        this.o.store.transition(current, current.state, current.state, { lastError: message.slice(0, 300), incrementAttempts: true });
      }
      this.log.warn("validator step failed; will retry", { jobId: rec.jobId, record: recordKind(rec.slot), state: rec.state, error: message });
    }
  }

  private advance(rec: JobRecord, now: Now): Promise<JobRecord | undefined> {
    if (rec.slot === TRACKER_SLOT) return this.track(rec, now);
    if (rec.slot === BALLOT_SLOT) return this.vote(rec, now);
    return this.spotCheck(rec, now);
  }

  // ---------------------------------------------------------------- events

  private async ingest(head: bigint) {
    const { publicClient, store, chainId } = this.o;
    const safe = head - BigInt(this.o.confirmations);
    const cursor = store.getCursor(chainId, CURSOR_STREAM);
    let from = cursor ? cursor.blockNumber + 1n : (this.o.startBlock ?? (head > 1_000n ? head - 1_000n : 0n));
    while (from <= safe) {
      const to = from + this.o.maxLogRange - 1n < safe ? from + this.o.maxLogRange - 1n : safe;
      const logs = await publicClient.getLogs({ address: this.o.addresses.jobEscrow, fromBlock: from, toBlock: to });
      // Read what the records need before the SQLite transaction (no awaits inside it).
      const disputed: { jobId: bigint; job: EscrowJob }[] = [];
      const proposed: { jobId: bigint; job: EscrowJob; input: SubmittedInput }[] = [];
      for (const log of logs) {
        const d = decode(log);
        const spot = d?.eventName === "ResultProposed" && this.o.spotCheckRate > 0;
        if (d?.eventName !== "JobDisputed" && !spot) continue;
        const jobId = d!.args.jobId as bigint;
        const job = await this.escrowJob(jobId);
        // Recycled: a proposed job that settled long ago (a catching-up scan) has nothing left to check.
        if (!job || !this.o.model(job.modelId)) continue; // only operators serving the model can be drawn for it
        if (!spot) disputed.push({ jobId, job });
        else if (this.shouldSpotCheck(job)) proposed.push({ jobId, job, input: await this.submitted(jobId) });
      }
      store.withTransaction(() => {
        for (const { jobId, job } of disputed) {
          store.upsertAssigned({ chainId, jobId, slot: TRACKER_SLOT, redundancy: job.operators.length, modelId: job.modelId, meta: { kind: "tracker" } });
        }
        for (const { jobId, job, input } of proposed) {
          store.upsertAssigned({ chainId, jobId, slot: SPOT_CHECK_SLOT, redundancy: 1, modelId: job.modelId, ...this.inputFields(input), meta: { kind: "spot_check", ...this.inputMeta(input) } });
        }
        store.setCursor(chainId, CURSOR_STREAM, to);
      });
      from = to + 1n;
    }
  }

  private shouldSpotCheck(job: EscrowJob): boolean {
    if (this.o.spotCheckRate === 0) return false;
    if (job.operators.some((op) => sameAddress(op, this.operator))) return false; // our own result: nothing to learn
    if (this.o.spotCheckRate === 1) return true;
    // Unpredictable to others, so a liar cannot tell which of its results will be checked.
    return crypto.getRandomValues(new Uint32Array(1))[0]! / 2 ** 32 < this.o.spotCheckRate;
  }

  // ---------------------------------------------------------------- disputes (anyone's part)

  private async track(rec: JobRecord, now: Now): Promise<JobRecord | undefined> {
    const { store } = this.o;
    const jobId = rec.jobId;
    const d = await this.dispute(jobId);
    switch (d.status) {
      case DisputeStatus.None: {
        const job = await this.escrowJob(jobId);
        if (!job) {
          // Settled without a dispute manager round and its record reused (disputed records never are: defensive).
          const outcome = await settledOutcome(this.o.publicClient, this.o.addresses.jobEscrow, jobId, this.o.startBlock);
          if (outcome) return store.transition(rec, rec.state, outcome);
          return store.transition(rec, rec.state, "failed", { failReason: "settled on chain; no JobFinalized/JobRefunded log found" });
        }
        if (job.status === ESCROW.Disputed) {
          // A disagreement: nobody has started the committee yet (a challenge starts it in the same transaction).
          const outcome = await this.idempotent(rec, "startDisagreement", [jobId]);
          if (outcome === true) this.log.info("dispute started", { jobId });
          else if (outcome === "DisputeManagerTooLate") {
            // Too little of the escrow's dispute window is left for a vote: the escrow refunds the job (poke).
            return store.transition(rec, rec.state, "failed", { failReason: "too late to start a committee" });
          }
          return store.getJob(rec);
        }
        if (job.status === ESCROW.Finalized || job.status === ESCROW.Refunded) {
          return store.transition(rec, rec.state, job.status === ESCROW.Finalized ? "finalized" : "refunded");
        }
        return rec;
      }
      case DisputeStatus.Drawing: {
        if (now.timestamp > d.drawBy) {
          await this.idempotent(rec, "resolve", [jobId]);
        } else if (now.block > d.drawBlock) {
          if ((await this.idempotent(rec, "drawCommittee", [jobId])) === true) this.log.info("committee drawn", { jobId });
        }
        return store.getJob(rec);
      }
      case DisputeStatus.Voting: {
        await this.rewrapIfAssigned(rec, d.members);
        const index = d.members.findIndex((m) => sameAddress(m, this.operator));
        if (index >= 0 && !store.getJob({ ...rec, slot: BALLOT_SLOT })) {
          const input = await this.submitted(jobId);
          store.upsertAssigned({
            chainId: this.o.chainId,
            jobId,
            slot: BALLOT_SLOT,
            redundancy: 2, // commit-reveal
            modelId: rec.modelId,
            ...this.inputFields(input),
            meta: { kind: "ballot", index, ...this.inputMeta(input) },
          });
          this.log.info("drawn to the committee", { jobId, index });
        }
        if (now.timestamp > d.revealEnd) await this.idempotent(rec, "resolve", [jobId]);
        return store.getJob(rec);
      }
      default: {
        this.claimDue = true;
        this.log.info("dispute resolved", { jobId, decided: d.decided, winner: d.winner });
        return store.transition(rec, rec.state, "finalized", { meta: { decided: d.decided, winner: d.winner } });
      }
    }
  }

  /**
   * Private jobs: the committee can only vote once it holds the content key. An operator assigned to the job opened
   * the input itself, so it re-wraps the key to the drawn members and publishes it through JobKeys (once per
   * dispute), so the dispute never depends on the requester being online (docs/privacy.md). Every assigned operator
   * does so, on purpose: a member cannot tell a garbage wrap from a good one before trying it, so deferring to
   * whoever published first would let a lying operator block the vote with bad wraps.
   */
  private async rewrapIfAssigned(rec: JobRecord, members: readonly Address[]) {
    const privacy = this.o.privacy;
    if (!privacy || rec.meta.rewrapped) return;
    const job = await this.escrowJob(rec.jobId);
    if (!job || !job.operators.some((o: Address) => sameAddress(o, this.operator))) return;
    const input = await this.submitted(rec.jobId);
    let envelope: Uint8Array | undefined;
    if (input.input.length > 2) envelope = hexBytes(input.input);
    else if (input.inputURI) envelope = await this.resolveInput(input.inputURI, rec.jobId);
    if (!isPrivateEnvelope(envelope)) {
      this.o.store.transition(rec, rec.state, rec.state, { meta: { rewrapped: "not private" } });
      return;
    }
    const hash = await privacy.rewrapForDispute(rec.jobId, envelope, members, input.inputHash);
    if (hash) {
      this.o.store.transition(rec, rec.state, rec.state, { meta: { rewrapped: hash } });
      this.log.info("re-wrapped the job key for the committee", { jobId: rec.jobId, tx: hash });
    }
  }

  /**
   * Sends a step anyone may take. Returns true when it landed, else the revert's error name: another validator
   * was first (the next pass reads the new state), or it is too early or too late.
   */
  private async idempotent(
    rec: JobRecord,
    functionName: "startDisagreement" | "drawCommittee" | "resolve",
    args: readonly unknown[],
  ): Promise<true | string> {
    try {
      await this.o.sender.send({ kind: "dispute", job: rec, address: this.dm, abi: disputeManagerAbi, functionName, args });
      return true;
    } catch (err) {
      if (!(err instanceof TxRevertedError) && !isRevert(err)) throw err;
      const { reason, errorName } = err instanceof TxRevertedError ? err : revertReason(err);
      this.log.debug("dispute step not taken", { jobId: rec.jobId, functionName, reason });
      return errorName ?? "reverted";
    }
  }

  // ---------------------------------------------------------------- committee member

  private async vote(rec: JobRecord, now: Now): Promise<JobRecord | undefined> {
    const { store } = this.o;
    const jobId = rec.jobId;
    const index = Number(rec.meta.index);
    const d = await this.dispute(jobId);
    if (d.status === DisputeStatus.Resolved) {
      const b = await this.ballot(jobId, index);
      const patch = { meta: { decided: d.decided, winner: d.winner } };
      if (b.revealed) return store.transition(rec, rec.state, "finalized", patch);
      return store.transition(rec, rec.state, "failed", { ...patch, failReason: "the dispute resolved before this member revealed" });
    }
    if (d.status !== DisputeStatus.Voting || !sameAddress(d.members[index], this.operator)) return rec;

    switch (rec.state) {
      case "assigned":
        return this.fetchInput(rec);
      case "input_ready":
        return this.infer(rec);
      case "inferred": {
        const b = await this.ballot(jobId, index);
        if (b.commitment !== NONE) {
          return store.transition(rec, rec.state, "failed", { failReason: "a commitment is on chain that this store holds no salt for" });
        }
        if (now.timestamp >= d.commitEnd) return store.transition(rec, rec.state, "failed", { failReason: "commit window closed" });
        const vote = (await this.candidates(jobId)).includes(rec.resultHash!) ? rec.resultHash! : NONE;
        const salt = randomBytes32();
        // Persisted before the commitment is sent: a crash can never lose what the reveal needs.
        const commitment = this.voteCommitment(jobId, vote, salt);
        rec = store.transition(rec, "inferred", "commit_pending", { salt, commitment, meta: { vote } });
        return this.commitVote(rec, index, d, now);
      }
      case "commit_pending":
        return this.commitVote(rec, index, d, now);
      case "committed": {
        if (now.timestamp <= d.commitEnd) return rec; // reveals open after every commitment is in
        rec = store.transition(rec, "committed", "reveal_pending");
        return this.revealVote(rec, index, d, now);
      }
      case "reveal_pending":
        return this.revealVote(rec, index, d, now);
      default:
        return rec; // revealed: wait for resolve
    }
  }

  private async commitVote(rec: JobRecord, index: number, d: Dispute, now: Now) {
    const { store } = this.o;
    const b = await this.ballot(rec.jobId, index);
    if (b.commitment === rec.commitment) return store.transition(rec, "commit_pending", "committed");
    if (b.commitment !== NONE) return store.transition(rec, rec.state, "failed", { failReason: "another commitment is on chain for this ballot" });
    if (now.timestamp >= d.commitEnd) return store.transition(rec, rec.state, "failed", { failReason: "commit window closed" });
    await this.o.sender.send({ kind: "dispute", job: rec, address: this.dm, abi: disputeManagerAbi, functionName: "commitVote", args: [rec.jobId, index, rec.commitment] });
    this.log.info("vote committed", { jobId: rec.jobId, index });
    return store.transition(rec, "commit_pending", "committed");
  }

  private async revealVote(rec: JobRecord, index: number, d: Dispute, now: Now) {
    const { store } = this.o;
    const b = await this.ballot(rec.jobId, index);
    if (b.revealed) return store.transition(rec, "reveal_pending", "revealed");
    if (now.timestamp >= d.revealEnd) return store.transition(rec, rec.state, "failed", { failReason: "reveal window closed" });
    const vote = rec.meta.vote as Hex;
    await this.o.sender.send({ kind: "dispute", job: rec, address: this.dm, abi: disputeManagerAbi, functionName: "revealVote", args: [rec.jobId, index, vote, rec.salt] });
    this.log.info("vote revealed", { jobId: rec.jobId, index, vote });
    return store.transition(rec, "reveal_pending", "revealed");
  }

  /**
   * The results a vote can name: every operator result on chain, the slots of `revealMask` (k > 1: the revealed
   * ones; k = 1: bit 0, the posted result).
   */
  private async candidates(jobId: bigint): Promise<Hex[]> {
    const job = await this.escrowJob(jobId);
    if (!job) return [];
    return job.slotHashes.filter((_, i) => ((job.revealMask >> i) & 1) === 1).map((h) => h.toLowerCase() as Hex);
  }

  // ---------------------------------------------------------------- spot checks

  private async spotCheck(rec: JobRecord, now: Now): Promise<JobRecord | undefined> {
    const { store } = this.o;
    const jobId = rec.jobId;
    if (rec.state === "reveal_pending") return this.challenge(rec, now);
    const job = await this.escrowJob(jobId);
    if (!job || job.status !== ESCROW.Proposed || now.timestamp >= job.phaseEnd) {
      return store.transition(rec, rec.state, "finalized", { meta: { outcome: "window_over" } });
    }
    switch (rec.state) {
      case "assigned":
        return this.fetchInput(rec);
      case "input_ready":
        return this.infer(rec);
      case "inferred": {
        if (rec.resultHash === job.result.toLowerCase()) {
          return store.transition(rec, "inferred", "finalized", { meta: { outcome: "agrees" } });
        }
        this.log.warn("spot check: the proposed result is not reproduced; challenging", { jobId, proposed: job.result, reproduced: rec.resultHash });
        rec = store.transition(rec, "inferred", "reveal_pending", { meta: { proposed: job.result } });
        return this.challenge(rec, now);
      }
      default:
        return rec;
    }
  }

  private async challenge(rec: JobRecord, now: Now): Promise<JobRecord> {
    const { store, publicClient } = this.o;
    const jobId = rec.jobId;
    const d = await this.dispute(jobId);
    if (d.status !== DisputeStatus.None) {
      const outcome = sameAddress(d.challenger, this.operator) ? "challenged" : "disputed_by_another";
      return store.transition(rec, "reveal_pending", "finalized", { meta: { outcome } });
    }
    const job = await this.escrowJob(jobId);
    if (!job || job.status !== ESCROW.Proposed || now.timestamp >= job.phaseEnd) {
      return store.transition(rec, "reveal_pending", "finalized", { meta: { outcome: "window_over" } });
    }
    const token = await this.token();
    const bond = (await publicClient.readContract({ address: this.dm, abi: disputeManagerAbi, functionName: "params" })).challengeBond;
    const [balance, allowance] = await Promise.all([
      publicClient.readContract({ address: token, abi: veilTokenAbi, functionName: "balanceOf", args: [this.operator] }),
      publicClient.readContract({ address: token, abi: veilTokenAbi, functionName: "allowance", args: [this.operator, this.dm] }),
    ]);
    if (balance < bond) {
      this.log.warn("cannot challenge: the bond exceeds this operator's unstaked VEIL", { jobId, bond, balance });
      return store.transition(rec, "reveal_pending", "finalized", { meta: { outcome: "no_bond" } });
    }
    // Approve exactly the bond (no standing allowance to the dispute manager).
    if (allowance < bond) {
      await this.o.sender.send({ kind: "other", job: rec, address: token, abi: veilTokenAbi, functionName: "approve", args: [this.dm, bond] });
    }
    await this.o.sender.send({ kind: "dispute", job: rec, address: this.dm, abi: disputeManagerAbi, functionName: "challenge", args: [jobId] });
    this.log.info("challenged a proposed result", { jobId, bond });
    return store.transition(rec, "reveal_pending", "finalized", { meta: { outcome: "challenged" } });
  }

  // ---------------------------------------------------------------- re-execution

  private resolveInput(uri: string, jobId: bigint): Promise<Uint8Array> {
    return this.o.resolveInput ? this.o.resolveInput(uri, jobId) : (this.o.fetchInput ?? defaultFetch)(uri);
  }

  private async fetchInput(rec: JobRecord): Promise<JobRecord> {
    const { store } = this.o;
    const uri = rec.inputUri;
    let blob = rec.meta.inputBlob as Hex | undefined;
    if (!blob && uri) {
      const bytes = await this.resolveInput(uri, rec.jobId);
      if (sha256Hex(bytes) !== rec.inputHash?.toLowerCase()) {
        // Same deterministic invalid-input result the operators post for a reference that does not match.
        return store.transition(rec, "assigned", "input_ready", { meta: { inputMismatch: true } });
      }
      blob = store.putBlob(bytes);
    }
    return store.transition(rec, "assigned", "input_ready", { inputBlob: blob });
  }

  /** The operators' computation (inference/compute.ts, as tasks/processor.ts `infer` runs it), honest. */
  private async infer(rec: JobRecord): Promise<JobRecord> {
    const { store, engine } = this.o;
    const model = rec.modelId ? this.o.model(rec.modelId) : undefined;
    if (!model) return store.transition(rec, rec.state, "failed", { failReason: `model ${rec.modelId} is not served by this worker` });
    const input = rec.inputBlob ? store.getBlob(rec.inputBlob) : undefined;
    const envelope = privateEnvelope(input, !!rec.meta.inputMismatch);
    let privateInput: PrivateInput | undefined;
    if (envelope) {
      // Only committee members get the content key (re-wrapped once drawn): a spot check cannot open it, and a
      // member waits for its key rather than vote on a guess.
      if (rec.slot === SPOT_CHECK_SLOT) return store.transition(rec, rec.state, "finalized", { meta: { outcome: "private" } });
      privateInput = await this.o.privacy?.openForCommittee(rec.jobId, envelope, rec.inputHash);
      if (!privateInput) return rec;
    }
    const { resultHash } = await computeResult({ engine, model, input, inputMismatch: !!rec.meta.inputMismatch, privateInput });
    this.log.debug("re-executed", { jobId: rec.jobId, record: recordKind(rec.slot), resultHash });
    return store.transition(rec, "input_ready", "inferred", { resultHash });
  }

  // ---------------------------------------------------------------- claims

  private async maybeClaim() {
    if (!this.claimDue && Date.now() - this.lastClaimCheck < this.o.claimIntervalMs) return;
    this.claimDue = false;
    this.lastClaimCheck = Date.now();
    const amount = await this.o.publicClient.readContract({ address: this.dm, abi: disputeManagerAbi, functionName: "claimable", args: [this.operator] });
    if (amount === 0n) return;
    try {
      await this.o.sender.send({ kind: "claim", address: this.dm, abi: disputeManagerAbi, functionName: "claim", args: [this.operator] });
      this.log.info("claimed dispute rewards", { amount });
    } catch (err) {
      this.claimDue = true;
      this.log.warn("claim failed; will retry", { error: isRevert(err) ? revertReason(err).reason : String((err as Error)?.message ?? err) });
    }
  }

  // ---------------------------------------------------------------- reads

  private get dm(): Address {
    return this.o.addresses.disputeManager;
  }

  private async token(): Promise<Address> {
    this.stakingToken ??= await this.o.publicClient.readContract({ address: this.dm, abi: disputeManagerAbi, functionName: "stakingToken" });
    return this.stakingToken;
  }

  private async dispute(jobId: bigint): Promise<Dispute> {
    const d = await this.read(() => this.o.publicClient.readContract({ address: this.dm, abi: disputeManagerAbi, functionName: "getDispute", args: [jobId] }));
    return {
      status: Number(d.status),
      challenger: d.challenger,
      drawBlock: BigInt(d.drawBlock),
      drawBy: Number(d.drawBy),
      commitEnd: Number(d.commitEnd),
      revealEnd: Number(d.revealEnd),
      decided: d.decided,
      winner: d.winner,
      members: [...d.members],
    };
  }

  private async ballot(jobId: bigint, index: number) {
    const b = await this.read(() => this.o.publicClient.readContract({ address: this.dm, abi: disputeManagerAbi, functionName: "ballot", args: [jobId, index] }));
    return { commitment: b.commitment.toLowerCase() as Hex, revealed: b.revealed };
  }

  /**
   * The job's escrow state; undefined when it settled without a dispute and a later job reuses its record
   * (JobEscrowJobRecycled: chain/settled.ts). A job in or after a dispute always reads (its record is kept).
   */
  private async escrowJob(jobId: bigint): Promise<EscrowJob | undefined> {
    let j;
    try {
      j = await this.read(() => this.o.publicClient.readContract({ address: this.o.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "getJob", args: [jobId] }));
    } catch (err) {
      if (isJobRecycled(err)) return undefined;
      throw err;
    }
    return {
      modelId: j.modelId.toLowerCase() as Hex,
      status: Number(j.status),
      phaseEnd: Number(j.phaseEnd),
      operators: [...j.operators],
      slotHashes: [...j.slotHashes],
      revealMask: Number(j.revealMask),
      result: j.result,
    };
  }

  private inputFields(s: SubmittedInput) {
    return { inputHash: s.inputHash, inputUri: s.inputURI || undefined };
  }

  /** Inline input goes to the blob store now (content-addressed, so a replay writes nothing new). */
  private inputMeta(s: SubmittedInput) {
    return s.input.length > 2 ? { inputBlob: this.o.store.putBlob(hexBytes(s.input)) } : {};
  }

  /**
   * The JobSubmitted event of `jobId`, searched backwards from the head one `maxLogRange` at a time down to
   * `startBlock`: a disputed job was submitted at most its lifetime plus its windows ago, so it is near, and a
   * scan from block 0 would be one huge query on a long chain (ids are never issued twice, so the first match is it).
   */
  private async submitted(jobId: bigint): Promise<SubmittedInput> {
    const { publicClient, addresses, maxLogRange } = this.o;
    const floor = this.o.startBlock ?? 0n;
    const head = await publicClient.getBlockNumber({ cacheTime: 0 });
    for (let to = head; to >= floor; to -= maxLogRange) {
      const from = to - maxLogRange + 1n > floor ? to - maxLogRange + 1n : floor;
      const logs = await this.read(() =>
        publicClient.getContractEvents({ address: addresses.jobEscrow, abi: jobEscrowAbi, eventName: "JobSubmitted", args: { jobId }, fromBlock: from, toBlock: to }),
      );
      const args = (logs[0] as unknown as { args: SubmittedInput } | undefined)?.args;
      if (args) return args;
      if (from === floor) break;
    }
    throw new Error(`no JobSubmitted event for job ${jobId} between blocks ${floor} and ${head}`);
  }

  private read<T>(f: () => Promise<T>): Promise<T> {
    return f(); // transient RPC failures are retried by the transport (internal/retry.ts rpcTransport), reverts never
  }

  private voteCommitment(jobId: bigint, vote: Hex, salt: Hex): Hex {
    return keccak256(
      encodeAbiParameters(
        [{ type: "address" }, { type: "uint256" }, { type: "uint256" }, { type: "address" }, { type: "bytes32" }, { type: "bytes32" }],
        [this.dm, BigInt(this.o.chainId), jobId, this.operator, vote, salt],
      ),
    );
  }
}

// -------------------------------------------------------------------------------------------------------------

interface SubmittedInput {
  inputHash: Hex;
  input: Hex;
  inputURI: string;
}

function decode(log: Log): { eventName: string; args: Record<string, unknown> } | undefined {
  try {
    return decodeEventLog({ abi: jobEscrowAbi, data: log.data, topics: log.topics }) as never;
  } catch {
    return undefined;
  }
}

function recordKind(slot: number): string {
  return slot === TRACKER_SLOT ? "tracker" : slot === BALLOT_SLOT ? "ballot" : "spot_check";
}





