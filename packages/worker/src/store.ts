/**
 * Persistent job state for one worker: a single SQLite file (node:sqlite, WAL). Job transitions commit at
 * synchronous=NORMAL (durable against a killed process; after a power loss the last ones may roll back, and the
 * worker redoes them from the chain: inference is deterministic); a transaction intent commits at FULL before its
 * bytes are broadcast, which also makes every earlier commit (a commit's salt included) durable on disk.
 *
 * Why this exists: an operator has stake at risk. A commit whose salt is lost cannot be revealed (slash); a reveal
 * or commit sent twice wastes gas or reverts. Every step of a job's local lifecycle is therefore a compare-and-set
 * transition (`transition(key, from[], to, patch)`) committed to disk before the side effect it enables, and
 * transaction intents are persisted before they are broadcast, so a restarted worker resumes exactly where it was.
 *
 * Local lifecycle of one (chainId, jobId, slot):
 *
 *   assigned → input_ready → inferred ─┬─(redundancy > 1)→ commit_pending → committed → reveal_pending → revealed → served
 *                                      └─(redundancy = 1)────────────────────────────→ reveal_pending ─┘
 *   committed / reveal_pending / revealed / served → disputed
 *   any non-terminal state (incl. disputed) → finalized | refunded | reassigned | failed (terminal)
 *   commit_pending and reveal_pending (and every state) may "transition" to themselves to record tx hash / nonce.
 *
 * Invariants enforced both here and by CHECK constraints in the schema: states from `inferred` on carry a result
 * hash; commit states (and reveal states of a redundant job) carry salt + commitment; `failed` carries a reason;
 * salt, commitment, result and input hashes are write-once (changing a salt after a commit was sent would make the
 * reveal impossible).
 *
 * Everything is synchronous (node:sqlite is): `withTransaction(fn)` takes a synchronous callback, nests with
 * savepoints, and defers `onTransition` listeners until the outermost transaction has committed.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";

// ---------------------------------------------------------------------------------------------------------------
// node:sqlite is still flagged experimental on Node 22 and prints an ExperimentalWarning on first load. We load
// it lazily through require with a filter that drops exactly that one warning and forwards every other warning.

type SqliteModule = typeof import("node:sqlite");
let sqlite: SqliteModule | undefined;
function loadSqlite(): SqliteModule {
  if (sqlite) return sqlite;
  const original = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    const message = typeof warning === "string" ? warning : warning?.message;
    const opt = rest[0];
    const type =
      typeof opt === "string" ? opt : ((opt as { type?: string } | undefined)?.type ?? (warning as Error)?.name);
    if (type === "ExperimentalWarning" && /\bSQLite\b/.test(String(message))) return;
    return (original as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    sqlite = createRequire(import.meta.url)("node:sqlite") as SqliteModule;
  } finally {
    process.emitWarning = original;
  }
  return sqlite;
}

// ---------------------------------------------------------------------------------------------------------------
// Types

export type Hex = `0x${string}`;

export const JOB_STATES = [
  "assigned",
  "input_ready",
  "inferred",
  "commit_pending",
  "committed",
  "reveal_pending",
  "revealed",
  "served",
  "disputed",
  "finalized",
  "refunded",
  "reassigned",
  "failed",
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_STATES = ["finalized", "refunded", "reassigned", "failed"] as const satisfies readonly JobState[];
export type TerminalState = (typeof TERMINAL_STATES)[number];
export const ACTIVE_STATES = JOB_STATES.filter((s) => !(TERMINAL_STATES as readonly string[]).includes(s));

const NEXT: Record<JobState, readonly JobState[]> = {
  assigned: ["input_ready"],
  input_ready: ["inferred"],
  inferred: ["commit_pending", "reveal_pending"],
  commit_pending: ["committed"],
  // The backward edges are a reorg's: the chain lost a post of ours, which is sent again (same salt and commitment).
  committed: ["reveal_pending", "disputed", "commit_pending"],
  reveal_pending: ["revealed", "disputed"],
  revealed: ["served", "disputed", "reveal_pending", "commit_pending"],
  served: ["disputed", "reveal_pending", "commit_pending"],
  disputed: [],
  finalized: [],
  refunded: [],
  reassigned: [],
  failed: [],
};

export function isTerminalState(state: JobState): state is TerminalState {
  return (TERMINAL_STATES as readonly string[]).includes(state);
}

/** Whether the lifecycle graph allows `from → to` (self-transitions, i.e. patches, are always allowed). */
export function isLegalTransition(from: JobState, to: JobState): boolean {
  if (from === to) return true;
  if (isTerminalState(from)) return false;
  return isTerminalState(to) || NEXT[from].includes(to);
}

export interface JobKey {
  chainId: number;
  jobId: bigint;
  slot: number;
}

export interface JobRecord extends JobKey {
  state: JobState;
  redundancy: number;
  modelId?: Hex;
  /** Input commitment as announced on chain. */
  inputHash?: Hex;
  inputUri?: string;
  /** sha256 of the fetched input bytes in the blob table. */
  inputBlob?: Hex;
  /** The protocol's result hash (what is committed/revealed on chain). */
  resultHash?: Hex;
  /** sha256 of the result bytes in the blob table (served at GET /results/<hash>). */
  resultBlob?: Hex;
  salt?: Hex;
  commitment?: Hex;
  commitTxHash?: Hex;
  commitNonce?: number;
  revealTxHash?: Hex;
  revealNonce?: number;
  /** On-chain deadline (block timestamp, seconds) as announced. */
  deadline?: bigint;
  assignedBlock?: bigint;
  assignedTxHash?: Hex;
  assignedLogIndex?: number;
  failReason?: string;
  lastError?: string;
  /** Processing attempts (incremented with `patch.incrementAttempts`). */
  attempts: number;
  meta: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
  /** Incremented on every write to the row. */
  version: number;
}

export interface AssignedJobInput extends JobKey {
  redundancy: number;
  modelId?: Hex;
  inputHash?: Hex;
  inputUri?: string;
  deadline?: bigint;
  assignedBlock?: bigint;
  assignedTxHash?: Hex;
  assignedLogIndex?: number;
  meta?: Record<string, unknown>;
}

export interface JobPatch {
  inputHash?: Hex;
  inputBlob?: Hex;
  resultHash?: Hex;
  resultBlob?: Hex;
  salt?: Hex;
  commitment?: Hex;
  commitTxHash?: Hex | null;
  commitNonce?: number | null;
  revealTxHash?: Hex | null;
  revealNonce?: number | null;
  deadline?: bigint;
  failReason?: string;
  lastError?: string | null;
  incrementAttempts?: boolean;
  /** Shallow-merged into the stored meta object (a key set to null is removed). */
  meta?: Record<string, unknown>;
}

export interface TransitionEvent {
  key: JobKey;
  /** null when the job was just created by upsertAssigned. */
  from: JobState | null;
  to: JobState;
  job: JobRecord;
}

export const TX_KINDS = ["commit", "reveal", "decline", "register", "update_node", "stake", "unstake", "claim", "dispute", "other"] as const;
export type TxKind = (typeof TX_KINDS)[number];
export const TX_STATUSES = ["pending", "sent", "confirmed", "reverted", "failed", "replaced"] as const;
/**
 * pending: intent persisted, broadcast not (yet) acknowledged — after a crash it may or may not be in a mempool.
 * sent: the node accepted it. confirmed / reverted: mined (the nonce is consumed either way).
 * failed: rejected or dropped without consuming the nonce. replaced: another tx with the same nonce was mined.
 */
export type TxStatus = (typeof TX_STATUSES)[number];

export interface TxIntentInput {
  chainId: number;
  kind: TxKind;
  job?: JobKey;
  from: Hex;
  nonce: number;
  to?: Hex;
  /** Hash of the calldata (any 32-byte hash the caller chooses; used to detect a changed payload on resume). */
  calldataHash: Hex;
  value?: bigint;
  gasLimit?: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas?: bigint;
  /** 1 for the first broadcast of a nonce, +1 per fee bump. Default: next attempt for (chainId, from, nonce). */
  attempt?: number;
  /** Known before broadcast when the tx is signed locally. */
  txHash?: Hex;
  /** The signed serialized tx, so a crashed intent can be re-broadcast byte-for-byte (same hash). */
  rawTx?: Hex;
}

export interface TxRecord {
  id: number;
  chainId: number;
  kind: TxKind;
  job?: JobKey;
  from: Hex;
  nonce: number;
  to?: Hex;
  calldataHash: Hex;
  value?: bigint;
  gasLimit?: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas?: bigint;
  attempt: number;
  txHash?: Hex;
  rawTx?: Hex;
  status: TxStatus;
  blockNumber?: bigint;
  error?: string;
  replacedBy?: number;
  createdAt: number;
  updatedAt: number;
}

export interface Cursor {
  chainId: number;
  stream: string;
  blockNumber: bigint;
  blockHash?: Hex;
  updatedAt: number;
}

export interface StoreOptions {
  /** Database file, or ":memory:". Parent directories are created. */
  path: string;
  /** Milliseconds since epoch; injectable for tests. */
  clock?: () => number;
  /**
   * Hold an exclusive lock on the file for the store's lifetime so a second worker process cannot open the same
   * state (two workers sharing a slot's state would double-commit). Default true for files.
   */
  exclusive?: boolean;
  /** How long to wait for a lock held by another connection. Default 5000 ms. */
  busyTimeoutMs?: number;
  /** Largest blob `putBlob` accepts. Default 64 MiB. */
  maxBlobBytes?: number;
  /**
   * "normal" (default): transitions commit at synchronous=NORMAL and only `durable` transactions (transaction
   * intents) at FULL. "full": every commit at FULL (5.2 ms of fsync per job measured, bench/store.ts).
   */
  sync?: "normal" | "full";
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

export class StoreError extends Error {
  override name = "StoreError";
}

export type InvalidTransitionReason = "state_mismatch" | "not_found" | "illegal_transition" | "invariant";

/** Thrown when a compare-and-set transition does not apply. Nothing was written. */
export class InvalidTransitionError extends StoreError {
  override name = "InvalidTransitionError";
  constructor(
    readonly key: JobKey,
    readonly expected: readonly JobState[],
    readonly actual: JobState | null,
    readonly to: JobState,
    readonly reason: InvalidTransitionReason,
    detail?: string,
  ) {
    super(
      `invalid transition of job ${formatKey(key)} to ${to}: ` +
        (reason === "not_found"
          ? "job not found"
          : reason === "state_mismatch"
            ? `state is ${actual}, expected one of [${expected.join(", ")}]`
            : (detail ?? reason)),
    );
  }
}

/** Thrown when a write-once field (salt, commitment, result/input hash) would change. Nothing was written. */
export class ImmutableFieldError extends StoreError {
  override name = "ImmutableFieldError";
  constructor(
    readonly key: JobKey,
    readonly field: string,
  ) {
    super(`job ${formatKey(key)}: ${field} is already set to a different value and cannot change`);
  }
}

export class BlobIntegrityError extends StoreError {
  override name = "BlobIntegrityError";
  constructor(readonly hash: Hex) {
    super(`blob ${hash} failed its sha256 check (corrupted storage)`);
  }
}

export class StoreLockedError extends StoreError {
  override name = "StoreLockedError";
  constructor(readonly file: string) {
    super(`store ${file} is locked by another process (is another worker running on this data directory?)`);
  }
}

export class StoreVersionError extends StoreError {
  override name = "StoreVersionError";
  constructor(
    readonly found: number,
    readonly supported: number,
  ) {
    super(`store schema version ${found} is newer than this worker supports (${supported}); refusing to downgrade`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Schema

const q = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(", ");
const RESULT_STATES = ["inferred", "commit_pending", "committed", "reveal_pending", "revealed", "served", "disputed"];
const SECRET_STATES = ["commit_pending", "committed", "reveal_pending", "revealed", "served"];

interface Migration {
  version: number;
  sql: string;
}

/** Append-only: never edit a released migration, add a new one. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE jobs (
        chain_id            INTEGER NOT NULL CHECK (chain_id > 0),
        job_id              TEXT    NOT NULL CHECK (length(job_id) = 66),  -- 0x + 64 hex: sorts numerically
        slot                INTEGER NOT NULL CHECK (slot >= 0),
        state               TEXT    NOT NULL CHECK (state IN (${q(JOB_STATES)})),
        redundancy          INTEGER NOT NULL CHECK (redundancy >= 1),
        model_id            TEXT,
        input_hash          TEXT,
        input_uri           TEXT,
        input_blob          TEXT,
        result_hash         TEXT,
        result_blob         TEXT,
        salt                TEXT,
        commitment          TEXT,
        commit_tx_hash      TEXT,
        commit_nonce        INTEGER,
        reveal_tx_hash      TEXT,
        reveal_nonce        INTEGER,
        deadline            TEXT,
        assigned_block      INTEGER,
        assigned_tx_hash    TEXT,
        assigned_log_index  INTEGER,
        fail_reason         TEXT,
        last_error          TEXT,
        attempts            INTEGER NOT NULL DEFAULT 0,
        meta                TEXT    NOT NULL DEFAULT '{}',
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL,
        version             INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (chain_id, job_id, slot),
        CHECK (state NOT IN (${q(RESULT_STATES)}) OR result_hash IS NOT NULL),
        CHECK (state NOT IN ('commit_pending', 'committed') OR redundancy > 1),
        CHECK (state NOT IN (${q(SECRET_STATES)}) OR redundancy = 1 OR (salt IS NOT NULL AND commitment IS NOT NULL)),
        CHECK (state <> 'failed' OR fail_reason IS NOT NULL)
      ) WITHOUT ROWID;
      CREATE INDEX jobs_by_state ON jobs (state, chain_id, updated_at);

      CREATE TABLE job_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        chain_id    INTEGER NOT NULL,
        job_id      TEXT    NOT NULL,
        slot        INTEGER NOT NULL,
        from_state  TEXT,
        to_state    TEXT    NOT NULL,
        at          INTEGER NOT NULL,
        FOREIGN KEY (chain_id, job_id, slot) REFERENCES jobs (chain_id, job_id, slot) ON DELETE CASCADE
      );
      CREATE INDEX job_events_by_job ON job_events (chain_id, job_id, slot, id);

      CREATE TABLE pending_txs (
        id                       INTEGER PRIMARY KEY AUTOINCREMENT,
        chain_id                 INTEGER NOT NULL,
        kind                     TEXT    NOT NULL,
        job_id                   TEXT,
        slot                     INTEGER,
        from_address             TEXT    NOT NULL,
        nonce                    INTEGER NOT NULL CHECK (nonce >= 0),
        to_address               TEXT,
        calldata_hash            TEXT    NOT NULL,
        value                    TEXT,
        gas_limit                TEXT,
        max_fee_per_gas          TEXT    NOT NULL,
        max_priority_fee_per_gas TEXT,
        attempt                  INTEGER NOT NULL CHECK (attempt >= 1),
        tx_hash                  TEXT,
        raw_tx                   TEXT,
        status                   TEXT    NOT NULL CHECK (status IN (${q(TX_STATUSES)})),
        block_number             INTEGER,
        error                    TEXT,
        replaced_by              INTEGER REFERENCES pending_txs (id),
        created_at               INTEGER NOT NULL,
        updated_at               INTEGER NOT NULL,
        UNIQUE (chain_id, from_address, nonce, attempt),
        CHECK ((job_id IS NULL) = (slot IS NULL))
      );
      CREATE UNIQUE INDEX pending_txs_by_hash ON pending_txs (chain_id, tx_hash) WHERE tx_hash IS NOT NULL;
      CREATE INDEX pending_txs_unfinished ON pending_txs (chain_id, from_address, nonce) WHERE status IN ('pending', 'sent');
      CREATE INDEX pending_txs_by_job ON pending_txs (chain_id, job_id, slot) WHERE job_id IS NOT NULL;

      CREATE TABLE blobs (
        hash        TEXT    PRIMARY KEY CHECK (length(hash) = 66),
        size        INTEGER NOT NULL,
        data        BLOB    NOT NULL,
        created_at  INTEGER NOT NULL
      );

      CREATE TABLE cursors (
        chain_id      INTEGER NOT NULL,
        stream        TEXT    NOT NULL,
        block_number  INTEGER NOT NULL CHECK (block_number >= 0),
        block_hash    TEXT,
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (chain_id, stream)
      ) WITHOUT ROWID;
    `,
  },
  {
    // Blobs received by upload (PUT /blobs/<sha256>) that no job has claimed yet: bounded in total bytes and age.
    version: 2,
    sql: `
      CREATE TABLE blob_uploads (
        hash        TEXT    PRIMARY KEY CHECK (length(hash) = 66),
        size        INTEGER NOT NULL CHECK (size >= 0),
        created_at  INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX blob_uploads_by_age ON blob_uploads (created_at);
    `,
  },
];

export const STORE_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const HEX32 = /^0x[0-9a-f]{64}$/;
const HEX = /^0x(?:[0-9a-f]{2})*$/;
const ADDRESS = /^0x[0-9a-f]{40}$/;
const MAX_UINT256 = (1n << 256n) - 1n;

function formatKey(key: JobKey): string {
  return `${key.chainId}/${key.jobId}/${key.slot}`;
}

function jobIdText(jobId: bigint): string {
  if (typeof jobId !== "bigint" || jobId < 0n || jobId > MAX_UINT256) throw new TypeError("jobId must be a uint256 bigint");
  return `0x${jobId.toString(16).padStart(64, "0")}`;
}

function checkKey(key: JobKey): void {
  if (!Number.isSafeInteger(key.chainId) || key.chainId <= 0) throw new TypeError("chainId must be a positive integer");
  if (!Number.isSafeInteger(key.slot) || key.slot < 0) throw new TypeError("slot must be a non-negative integer");
  jobIdText(key.jobId);
}

function hex32(value: string | undefined, what: string): Hex | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (!HEX32.test(v)) throw new TypeError(`${what} must be a 32-byte 0x hex string`);
  return v as Hex;
}

function hexAny(value: string | undefined, what: string): Hex | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (!HEX.test(v)) throw new TypeError(`${what} must be 0x hex`);
  return v as Hex;
}

function address(value: string | undefined, what: string): Hex | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (!ADDRESS.test(v)) throw new TypeError(`${what} must be a 20-byte 0x address`);
  return v as Hex;
}

function nonNegInt(value: number | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`${what} must be a non-negative integer`);
  return value;
}

function uint(value: bigint | undefined, what: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== "bigint" || value < 0n) throw new TypeError(`${what} must be a non-negative bigint`);
  return value.toString();
}

/** sha256 of `bytes` as 0x-prefixed lowercase hex: the content address used by the blob table. */
export function sha256Hex(bytes: Uint8Array): Hex {
  return `0x${createHash("sha256").update(bytes).digest("hex")}`;
}

type Row = Record<string, SQLInputValue>;
const opt = <T>(v: unknown, f: (x: never) => T): T | undefined => (v === null || v === undefined ? undefined : f(v as never));

function rowToJob(r: Row): JobRecord {
  const job: JobRecord = {
    chainId: Number(r.chain_id),
    jobId: BigInt(r.job_id as string),
    slot: Number(r.slot),
    state: r.state as JobState,
    redundancy: Number(r.redundancy),
    attempts: Number(r.attempts),
    meta: JSON.parse(r.meta as string) as Record<string, unknown>,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    version: Number(r.version),
  };
  const set = <K extends keyof JobRecord>(k: K, v: JobRecord[K] | undefined) => {
    if (v !== undefined) job[k] = v;
  };
  set("modelId", opt(r.model_id, (x: Hex) => x));
  set("inputHash", opt(r.input_hash, (x: Hex) => x));
  set("inputUri", opt(r.input_uri, (x: string) => x));
  set("inputBlob", opt(r.input_blob, (x: Hex) => x));
  set("resultHash", opt(r.result_hash, (x: Hex) => x));
  set("resultBlob", opt(r.result_blob, (x: Hex) => x));
  set("salt", opt(r.salt, (x: Hex) => x));
  set("commitment", opt(r.commitment, (x: Hex) => x));
  set("commitTxHash", opt(r.commit_tx_hash, (x: Hex) => x));
  set("commitNonce", opt(r.commit_nonce, (x: number) => Number(x)));
  set("revealTxHash", opt(r.reveal_tx_hash, (x: Hex) => x));
  set("revealNonce", opt(r.reveal_nonce, (x: number) => Number(x)));
  set("deadline", opt(r.deadline, (x: string) => BigInt(x)));
  set("assignedBlock", opt(r.assigned_block, (x: number) => BigInt(x)));
  set("assignedTxHash", opt(r.assigned_tx_hash, (x: Hex) => x));
  set("assignedLogIndex", opt(r.assigned_log_index, (x: number) => Number(x)));
  set("failReason", opt(r.fail_reason, (x: string) => x));
  set("lastError", opt(r.last_error, (x: string) => x));
  return job;
}

function rowToTx(r: Row): TxRecord {
  const tx: TxRecord = {
    id: Number(r.id),
    chainId: Number(r.chain_id),
    kind: r.kind as TxKind,
    from: r.from_address as Hex,
    nonce: Number(r.nonce),
    calldataHash: r.calldata_hash as Hex,
    maxFeePerGas: BigInt(r.max_fee_per_gas as string),
    attempt: Number(r.attempt),
    status: r.status as TxStatus,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
  if (r.job_id !== null) tx.job = { chainId: tx.chainId, jobId: BigInt(r.job_id as string), slot: Number(r.slot) };
  if (r.to_address !== null) tx.to = r.to_address as Hex;
  if (r.value !== null) tx.value = BigInt(r.value as string);
  if (r.gas_limit !== null) tx.gasLimit = BigInt(r.gas_limit as string);
  if (r.max_priority_fee_per_gas !== null) tx.maxPriorityFeePerGas = BigInt(r.max_priority_fee_per_gas as string);
  if (r.tx_hash !== null) tx.txHash = r.tx_hash as Hex;
  if (r.raw_tx !== null) tx.rawTx = r.raw_tx as Hex;
  if (r.block_number !== null) tx.blockNumber = BigInt(r.block_number as number);
  if (r.error !== null) tx.error = r.error as string;
  if (r.replaced_by !== null) tx.replacedBy = Number(r.replaced_by);
  return tx;
}

const WRITE_ONCE: ReadonlyArray<[keyof JobPatch & keyof JobRecord, string]> = [
  ["inputHash", "input_hash"],
  ["inputBlob", "input_blob"],
  ["resultHash", "result_hash"],
  ["resultBlob", "result_blob"],
  ["salt", "salt"],
  ["commitment", "commitment"],
];

// ---------------------------------------------------------------------------------------------------------------

export class WorkerStore {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #clock: () => number;
  readonly #maxBlobBytes: number;
  readonly #statements = new Map<string, StatementSync>();
  readonly #listeners = new Set<(ev: TransitionEvent) => void>();
  #depth = 0;
  #syncAll = false;
  #writeMs = 0;
  #syncAfterCommit = false;
  #afterCommit: Array<() => void> = [];
  #closed = false;

  private constructor(db: DatabaseSync, options: StoreOptions) {
    this.#db = db;
    this.path = options.path;
    this.#clock = options.clock ?? Date.now;
    this.#maxBlobBytes = options.maxBlobBytes ?? 64 * 1024 * 1024;
    this.#syncAll = options.sync === "full";
  }

  /** Opens (creating and migrating as needed) the store at `options.path`. */
  static open(options: StoreOptions): WorkerStore {
    const { DatabaseSync: Database } = loadSqlite();
    const memory = options.path === ":memory:";
    if (!memory) mkdirSync(path.dirname(path.resolve(options.path)), { recursive: true });
    const db = new Database(options.path, { timeout: options.busyTimeoutMs ?? 5000, enableForeignKeyConstraints: true });
    try {
      if (options.exclusive ?? !memory) db.exec("PRAGMA locking_mode = EXCLUSIVE");
      if (!memory) {
        const mode = db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode: string } | undefined;
        if (mode?.journal_mode !== "wal") throw new StoreError(`could not enable WAL mode (got ${mode?.journal_mode})`);
      }
      // NORMAL in WAL mode: a commit survives a killed process (the WAL is written before COMMIT returns) but is
      // fsynced only at checkpoints. What must survive power loss (a tx intent, and so the salt committed before
      // it) commits with `durable` (FULL). `sync: "full"` makes every commit FULL.
      db.exec(`PRAGMA synchronous = ${options.sync === "full" ? "FULL" : "NORMAL"}; PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF;`);
      // Take the write lock now (held for the connection's life in exclusive mode) and migrate.
      const store = new WorkerStore(db, options);
      store.#migrate();
      return store;
    } catch (err) {
      try {
        db.close();
      } catch {
        /* already failed */
      }
      if (err instanceof Error && /database is locked|SQLITE_BUSY/i.test(err.message)) throw new StoreLockedError(options.path);
      throw err;
    }
  }

  #migrate(): void {
    this.#db.exec("BEGIN EXCLUSIVE");
    try {
      const current = Number((this.#db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
      if (current > STORE_SCHEMA_VERSION) throw new StoreVersionError(current, STORE_SCHEMA_VERSION);
      for (const m of MIGRATIONS) {
        if (m.version <= current) continue;
        this.#db.exec(m.sql);
        this.#db.exec(`PRAGMA user_version = ${m.version}`);
      }
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  get schemaVersion(): number {
    return Number((this.#stmt("PRAGMA user_version").get() as { user_version: number }).user_version);
  }

  #stmt(sql: string): StatementSync {
    if (this.#closed) throw new StoreError("store is closed");
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  close(): void {
    if (this.#closed) return;
    if (this.#depth > 0) throw new StoreError("cannot close the store inside a transaction");
    this.#closed = true;
    this.#statements.clear();
    this.#db.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Transactions

  /**
   * Runs `fn` in a transaction (BEGIN IMMEDIATE at the outermost level, SAVEPOINTs when nested). Commits when `fn`
   * returns, rolls back when it throws. `fn` must be synchronous: node:sqlite is synchronous, and awaiting inside a
   * transaction would let unrelated writes join it.
   */
  withTransaction<T>(fn: () => T, options: { durable?: boolean } = {}): T {
    if (this.#closed) throw new StoreError("store is closed");
    const top = this.#depth === 0;
    const savepoint = `sp_${this.#depth}`;
    // The safety level cannot change inside a transaction: a durable top-level one commits at FULL; a durable one
    // nested in another makes the outer commit fsync the WAL afterwards (a checkpoint syncs it first).
    const durable = options.durable === true && !this.#syncAll;
    const started = top ? performance.now() : 0;
    if (top && durable) this.#db.exec("PRAGMA synchronous = FULL");
    else if (durable) this.#syncAfterCommit = true;
    this.#db.exec(top ? "BEGIN IMMEDIATE" : `SAVEPOINT ${savepoint}`);
    this.#depth++;
    const hooksMark = this.#afterCommit.length;
    let result: T;
    try {
      result = fn();
      if (result !== null && typeof result === "object" && typeof (result as { then?: unknown }).then === "function") {
        (result as unknown as Promise<unknown>).catch(() => {});
        throw new TypeError("withTransaction callback must be synchronous (it returned a promise)");
      }
    } catch (err) {
      this.#depth--;
      this.#afterCommit.length = hooksMark;
      this.#db.exec(top ? "ROLLBACK" : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
      if (top) this.#restoreSync(durable);
      throw err;
    }
    this.#depth--;
    try {
      this.#db.exec(top ? "COMMIT" : `RELEASE ${savepoint}`);
      if (top && this.#syncAfterCommit) this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (err) {
      if (top) this.#restoreSync(durable);
      this.#afterCommit.length = hooksMark;
      if (top) {
        try {
          this.#db.exec("ROLLBACK");
        } catch {
          /* COMMIT failure may already have rolled back */
        }
      }
      throw err;
    }
    if (top) {
      this.#restoreSync(durable);
      this.#writeMs += performance.now() - started;
      const hooks = this.#afterCommit.splice(0);
      for (const hook of hooks) hook();
    }
    return result;
  }

  #restoreSync(durable: boolean) {
    this.#syncAfterCommit = false;
    if (durable) this.#db.exec("PRAGMA synchronous = NORMAL");
  }

  /** The connection's current SQLite safety level (diagnostics and tests): "normal" except while a durable commit runs. */
  get synchronous(): "off" | "normal" | "full" | "extra" {
    const level = Number((this.#db.prepare("PRAGMA synchronous").get() as { synchronous: number }).synchronous);
    return (["off", "normal", "full", "extra"] as const)[level] ?? "full";
  }

  /** Milliseconds spent in committed write transactions since the store was opened (statements, commit, fsync). */
  get writeMs(): number {
    return this.#writeMs;
  }

  get inTransaction(): boolean {
    return this.#depth > 0;
  }

  /** Listener for committed state changes (including creation). Called after the outermost commit. */
  onTransition(listener: (ev: TransitionEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(ev: TransitionEvent): void {
    this.#afterCommit.push(() => {
      for (const l of this.#listeners) {
        try {
          l(ev);
        } catch {
          /* a listener (metrics, logging) must not break the state machine */
        }
      }
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Jobs

  getJob(key: JobKey): JobRecord | undefined {
    checkKey(key);
    const row = this.#stmt("SELECT * FROM jobs WHERE chain_id = ? AND job_id = ? AND slot = ?").get(
      key.chainId,
      jobIdText(key.jobId),
      key.slot,
    ) as Row | undefined;
    return row ? rowToJob(row) : undefined;
  }

  /**
   * Records an assignment seen on chain. Idempotent: a replayed event (restart, reorg re-scan, duplicate log)
   * returns the existing record untouched — it never duplicates the job or resets its progress.
   */
  upsertAssigned(input: AssignedJobInput): { job: JobRecord; created: boolean } {
    checkKey(input);
    if (!Number.isSafeInteger(input.redundancy) || input.redundancy < 1) throw new TypeError("redundancy must be >= 1");
    const params = {
      chain_id: input.chainId,
      job_id: jobIdText(input.jobId),
      slot: input.slot,
      redundancy: input.redundancy,
      model_id: hex32(input.modelId, "modelId") ?? null,
      input_hash: hex32(input.inputHash, "inputHash") ?? null,
      input_uri: input.inputUri ?? null,
      deadline: uint(input.deadline, "deadline"),
      assigned_block: input.assignedBlock === undefined ? null : BigInt(uint(input.assignedBlock, "assignedBlock")!),
      assigned_tx_hash: hex32(input.assignedTxHash, "assignedTxHash") ?? null,
      assigned_log_index: nonNegInt(input.assignedLogIndex, "assignedLogIndex") ?? null,
      meta: JSON.stringify(input.meta ?? {}),
      now: this.#clock(),
    };
    return this.withTransaction(() => {
      const { changes } = this.#stmt(
        `INSERT INTO jobs (chain_id, job_id, slot, state, redundancy, model_id, input_hash, input_uri, deadline,
                           assigned_block, assigned_tx_hash, assigned_log_index, meta, created_at, updated_at)
         VALUES ($chain_id, $job_id, $slot, 'assigned', $redundancy, $model_id, $input_hash, $input_uri, $deadline,
                 $assigned_block, $assigned_tx_hash, $assigned_log_index, $meta, $now, $now)
         ON CONFLICT (chain_id, job_id, slot) DO NOTHING`,
      ).run(params);
      const job = this.getJob(input)!;
      const created = Number(changes) === 1;
      if (created) {
        this.#logEvent(input, null, "assigned");
        this.#emit({ key: keyOf(job), from: null, to: "assigned", job });
      }
      return { job, created };
    });
  }

  /**
   * Atomic compare-and-set: moves the job to `to` (applying `patch`) only if its current state is one of `from`
   * and the lifecycle allows it. Otherwise throws InvalidTransitionError and writes nothing. `to` may equal the
   * current state to record a patch (tx hash, nonce, error) without changing state.
   */
  transition(key: JobKey, from: JobState | readonly JobState[], to: JobState, patch: JobPatch = {}): JobRecord {
    checkKey(key);
    const expected: readonly JobState[] = typeof from === "string" ? [from] : from;
    if (!(JOB_STATES as readonly string[]).includes(to)) throw new TypeError(`unknown state ${String(to)}`);
    const impossible = expected.filter((s) => !isLegalTransition(s, to));
    if (impossible.length > 0) {
      throw new InvalidTransitionError(key, expected, null, to, "illegal_transition", `${impossible.join(", ")} → ${to} is not a legal transition`);
    }
    return this.withTransaction(() => {
      const current = this.getJob(key);
      if (!current) throw new InvalidTransitionError(key, expected, null, to, "not_found");
      if (!expected.includes(current.state)) throw new InvalidTransitionError(key, expected, current.state, to, "state_mismatch");
      return this.#apply(current, to, patch, expected);
    });
  }

  #apply(current: JobRecord, to: JobState, patch: JobPatch, expected: readonly JobState[]): JobRecord {
    const key = keyOf(current);
    const sets: string[] = ["state = $state", "updated_at = $now", "version = version + 1"];
    const params: Record<string, SQLInputValue> = {
      state: to,
      now: this.#clock(),
      chain_id: key.chainId,
      job_id: jobIdText(key.jobId),
      slot: key.slot,
      version: current.version,
    };
    const next: JobRecord = { ...current, state: to };

    for (const [field, column] of WRITE_ONCE) {
      const raw = patch[field] as string | undefined;
      if (raw === undefined) continue;
      const value = hex32(raw, field)!;
      const existing = current[field] as string | undefined;
      if (existing !== undefined && existing !== value) throw new ImmutableFieldError(key, field);
      sets.push(`${column} = $${column}`);
      params[column] = value;
      (next as unknown as Record<string, unknown>)[field] = value;
    }
    const nullable: ReadonlyArray<[keyof JobPatch & keyof JobRecord, string, (v: never) => SQLInputValue]> = [
      ["commitTxHash", "commit_tx_hash", (v: string) => hex32(v, "commitTxHash")!],
      ["commitNonce", "commit_nonce", (v: number) => nonNegInt(v, "commitNonce")!],
      ["revealTxHash", "reveal_tx_hash", (v: string) => hex32(v, "revealTxHash")!],
      ["revealNonce", "reveal_nonce", (v: number) => nonNegInt(v, "revealNonce")!],
      ["lastError", "last_error", (v: string) => String(v).slice(0, 4000)],
      ["failReason", "fail_reason", (v: string) => String(v).slice(0, 4000)],
      ["deadline", "deadline", (v: bigint) => uint(v, "deadline")],
    ];
    for (const [field, column, conv] of nullable) {
      if (!(field in patch) || patch[field] === undefined) continue;
      const v = patch[field];
      const stored = v === null ? null : conv(v as never);
      sets.push(`${column} = $${column}`);
      params[column] = stored;
      const rec = next as unknown as Record<string, unknown>;
      if (v === null) delete rec[field];
      else rec[field] = field === "commitTxHash" || field === "revealTxHash" ? stored : v;
    }
    if (patch.incrementAttempts) {
      sets.push("attempts = attempts + 1");
      next.attempts = current.attempts + 1;
    }
    if (patch.meta) {
      const meta = { ...current.meta };
      for (const [k, v] of Object.entries(patch.meta)) {
        if (v === null) delete meta[k];
        else meta[k] = v;
      }
      sets.push("meta = $meta");
      params.meta = JSON.stringify(meta);
      next.meta = meta;
    }

    // Invariants (also CHECK constraints): checked here for a precise error instead of a generic SQLite one.
    const violation = invariantViolation(current, next);
    if (violation) throw new InvalidTransitionError(key, expected, current.state, to, "invariant", violation);

    const { changes } = this.#stmt(
      `UPDATE jobs SET ${sets.join(", ")}
       WHERE chain_id = $chain_id AND job_id = $job_id AND slot = $slot AND version = $version`,
    ).run(params);
    if (Number(changes) !== 1) throw new InvalidTransitionError(key, expected, current.state, to, "state_mismatch");
    const updated = this.getJob(key)!;
    if (current.state !== to) {
      this.#logEvent(key, current.state, to);
      this.#emit({ key, from: current.state, to, job: updated });
    }
    return updated;
  }

  #logEvent(key: JobKey, from: JobState | null, to: JobState): void {
    this.#stmt("INSERT INTO job_events (chain_id, job_id, slot, from_state, to_state, at) VALUES (?, ?, ?, ?, ?, ?)").run(
      key.chainId,
      jobIdText(key.jobId),
      key.slot,
      from,
      to,
      this.#clock(),
    );
  }

  /** The job's state history, oldest first. */
  jobHistory(key: JobKey): Array<{ from: JobState | null; to: JobState; at: number }> {
    checkKey(key);
    const rows = this.#stmt(
      "SELECT from_state, to_state, at FROM job_events WHERE chain_id = ? AND job_id = ? AND slot = ? ORDER BY id",
    ).all(key.chainId, jobIdText(key.jobId), key.slot) as Row[];
    return rows.map((r) => ({ from: (r.from_state as JobState | null) ?? null, to: r.to_state as JobState, at: Number(r.at) }));
  }

  /** Jobs in any of `states` (oldest update first) — what a restarted worker resumes. */
  jobsByState(states: JobState | readonly JobState[], options: { chainId?: number; limit?: number } = {}): JobRecord[] {
    const list: readonly JobState[] = typeof states === "string" ? [states] : states;
    for (const s of list) if (!(JOB_STATES as readonly string[]).includes(s)) throw new TypeError(`unknown state ${s}`);
    if (list.length === 0) return [];
    const limit = options.limit ?? -1;
    const params: SQLInputValue[] = [...list];
    let sql = `SELECT * FROM jobs WHERE state IN (${list.map(() => "?").join(", ")})`;
    if (options.chainId !== undefined) {
      sql += " AND chain_id = ?";
      params.push(options.chainId);
    }
    sql += " ORDER BY updated_at, chain_id, job_id, slot LIMIT ?";
    params.push(limit);
    return (this.#stmt(sql).all(...params) as Row[]).map(rowToJob);
  }

  /** All non-terminal jobs. */
  activeJobs(options: { chainId?: number; limit?: number } = {}): JobRecord[] {
    return this.jobsByState(ACTIVE_STATES, options);
  }

  /** Number of jobs per state, every state present (0 when none). */
  countByState(chainId?: number): Record<JobState, number> {
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    const rows = (
      chainId === undefined
        ? this.#stmt("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").all()
        : this.#stmt("SELECT state, COUNT(*) AS n FROM jobs WHERE chain_id = ? GROUP BY state").all(chainId)
    ) as Row[];
    for (const r of rows) counts[r.state as JobState] = Number(r.n);
    return counts;
  }

  /**
   * Per active state: seconds since the oldest job in it was last updated (entered it), 0 for an empty state; for
   * `veil_worker_job_state_age_seconds`. One indexed MIN per state (jobs_by_state), so a scrape stays cheap with
   * many jobs.
   */
  oldestByState(chainId: number, now = this.#clock()): Record<string, number> {
    const ages: Record<string, number> = {};
    const rows = this.#stmt(
      `SELECT state, MIN(updated_at) AS oldest FROM jobs WHERE chain_id = ? AND state IN (${q(ACTIVE_STATES)}) GROUP BY state`,
    ).all(chainId) as Row[];
    for (const s of ACTIVE_STATES) ages[s] = 0;
    for (const r of rows) ages[r.state as string] = Math.max(0, (now - Number(r.oldest)) / 1000);
    return ages;
  }

  /** Deletes terminal jobs (and their history) last updated before `olderThan` (ms since epoch). */
  pruneTerminalJobs(olderThan: number): number {
    return Number(
      this.#stmt(`DELETE FROM jobs WHERE state IN (${q(TERMINAL_STATES)}) AND updated_at < ?`).run(olderThan).changes,
    );
  }

  // -------------------------------------------------------------------------------------------------------------
  // Transaction intents

  /**
   * Persists a transaction intent BEFORE it is broadcast. The attempt number defaults to the next one for
   * (chainId, from, nonce); (chainId, from, nonce, attempt) and the tx hash are unique.
   */
  recordTxIntent(input: TxIntentInput): TxRecord {
    if (!(TX_KINDS as readonly string[]).includes(input.kind)) throw new TypeError(`unknown tx kind ${input.kind}`);
    if (!Number.isSafeInteger(input.chainId) || input.chainId <= 0) throw new TypeError("chainId must be a positive integer");
    if (input.job) checkKey(input.job);
    if (input.job && input.job.chainId !== input.chainId) throw new TypeError("job.chainId must equal chainId");
    const from = address(input.from, "from")!;
    const nonce = nonNegInt(input.nonce, "nonce")!;
    return this.withTransaction(() => {
      const attempt =
        input.attempt ??
        Number(
          (
            this.#stmt(
              "SELECT COALESCE(MAX(attempt), 0) + 1 AS next FROM pending_txs WHERE chain_id = ? AND from_address = ? AND nonce = ?",
            ).get(input.chainId, from, nonce) as Row
          ).next,
        );
      if (!Number.isSafeInteger(attempt) || attempt < 1) throw new TypeError("attempt must be >= 1");
      const now = this.#clock();
      const { lastInsertRowid } = this.#stmt(
        `INSERT INTO pending_txs (chain_id, kind, job_id, slot, from_address, nonce, to_address, calldata_hash, value,
                                  gas_limit, max_fee_per_gas, max_priority_fee_per_gas, attempt, tx_hash, raw_tx,
                                  status, created_at, updated_at)
         VALUES ($chain_id, $kind, $job_id, $slot, $from, $nonce, $to, $calldata_hash, $value, $gas_limit,
                 $max_fee, $max_prio, $attempt, $tx_hash, $raw_tx, 'pending', $now, $now)`,
      ).run({
        chain_id: input.chainId,
        kind: input.kind,
        job_id: input.job ? jobIdText(input.job.jobId) : null,
        slot: input.job ? input.job.slot : null,
        from,
        nonce,
        to: address(input.to, "to") ?? null,
        calldata_hash: hex32(input.calldataHash, "calldataHash")!,
        value: uint(input.value, "value"),
        gas_limit: uint(input.gasLimit, "gasLimit"),
        max_fee: uint(input.maxFeePerGas, "maxFeePerGas")!,
        max_prio: uint(input.maxPriorityFeePerGas, "maxPriorityFeePerGas"),
        attempt,
        tx_hash: hex32(input.txHash, "txHash") ?? null,
        raw_tx: hexAny(input.rawTx, "rawTx") ?? null,
        now,
      });
      return this.getTx(Number(lastInsertRowid))!;
    }, { durable: true });
  }

  getTx(id: number): TxRecord | undefined {
    const row = this.#stmt("SELECT * FROM pending_txs WHERE id = ?").get(id) as Row | undefined;
    return row ? rowToTx(row) : undefined;
  }

  txByHash(chainId: number, txHash: Hex): TxRecord | undefined {
    const row = this.#stmt("SELECT * FROM pending_txs WHERE chain_id = ? AND tx_hash = ?").get(
      chainId,
      hex32(txHash, "txHash")!,
    ) as Row | undefined;
    return row ? rowToTx(row) : undefined;
  }

  /** Intents not known to be finished (pending or sent), by chain/sender/nonce/attempt — reconcile these at start-up. */
  unfinishedTxs(options: { chainId?: number; from?: Hex } = {}): TxRecord[] {
    let sql = "SELECT * FROM pending_txs WHERE status IN ('pending', 'sent')";
    const params: SQLInputValue[] = [];
    if (options.chainId !== undefined) {
      sql += " AND chain_id = ?";
      params.push(options.chainId);
    }
    if (options.from !== undefined) {
      sql += " AND from_address = ?";
      params.push(address(options.from, "from")!);
    }
    sql += " ORDER BY chain_id, from_address, nonce, attempt";
    return (this.#stmt(sql).all(...params) as Row[]).map(rowToTx);
  }

  /** Every attempt of `from` at nonce `minNonce` or above, by nonce then attempt (the sender's gap filling). */
  txsFromNonce(chainId: number, from: Hex, minNonce: number): TxRecord[] {
    return (
      this.#stmt("SELECT * FROM pending_txs WHERE chain_id = ? AND from_address = ? AND nonce >= ? ORDER BY nonce, attempt, id").all(
        chainId,
        address(from, "from")!,
        minNonce,
      ) as Row[]
    ).map(rowToTx);
  }

  /** Every attempt for one nonce, oldest first. */
  txsForNonce(chainId: number, from: Hex, nonce: number): TxRecord[] {
    return (
      this.#stmt("SELECT * FROM pending_txs WHERE chain_id = ? AND from_address = ? AND nonce = ? ORDER BY attempt").all(
        chainId,
        address(from, "from")!,
        nonce,
      ) as Row[]
    ).map(rowToTx);
  }

  txsForJob(key: JobKey): TxRecord[] {
    checkKey(key);
    return (
      this.#stmt("SELECT * FROM pending_txs WHERE chain_id = ? AND job_id = ? AND slot = ? ORDER BY id").all(
        key.chainId,
        jobIdText(key.jobId),
        key.slot,
      ) as Row[]
    ).map(rowToTx);
  }

  /** The node accepted the broadcast. */
  markTxSent(id: number, txHash: Hex): TxRecord {
    return this.#updateTx(id, ["pending", "sent"], "sent", { tx_hash: hex32(txHash, "txHash")! });
  }

  /**
   * The tx was mined with status success. Other attempts for the same nonce that are still open become `replaced`
   * (the nonce is consumed), all in one transaction.
   */
  markTxConfirmed(id: number, blockNumber: bigint): TxRecord {
    return this.#mined(id, "confirmed", blockNumber);
  }

  /** The tx was mined but reverted (nonce consumed; the job's action did not happen). */
  markTxReverted(id: number, blockNumber: bigint, error?: string): TxRecord {
    return this.#mined(id, "reverted", blockNumber, error);
  }

  /** Rejected by the node or dropped without consuming the nonce. */
  markTxFailed(id: number, error: string): TxRecord {
    return this.#updateTx(id, ["pending", "sent"], "failed", { error: error.slice(0, 4000) });
  }

  /** Superseded: another transaction with the same nonce was mined (optionally the id of that record). */
  markTxReplaced(id: number, replacedBy?: number): TxRecord {
    return this.#updateTx(id, ["pending", "sent"], "replaced", { replaced_by: replacedBy ?? null });
  }

  #mined(id: number, status: "confirmed" | "reverted", blockNumber: bigint, error?: string): TxRecord {
    if (typeof blockNumber !== "bigint" || blockNumber < 0n) throw new TypeError("blockNumber must be a non-negative bigint");
    return this.withTransaction(() => {
      const tx = this.#updateTx(id, ["pending", "sent", "replaced", "failed"], status, {
        block_number: blockNumber,
        error: error?.slice(0, 4000) ?? null,
        replaced_by: null,
      });
      this.#stmt(
        `UPDATE pending_txs SET status = 'replaced', replaced_by = ?, updated_at = ?
         WHERE chain_id = ? AND from_address = ? AND nonce = ? AND id <> ? AND status IN ('pending', 'sent', 'failed')`,
      ).run(id, this.#clock(), tx.chainId, tx.from, tx.nonce, id);
      return tx;
    });
  }

  #updateTx(id: number, from: readonly TxStatus[], to: TxStatus, fields: Record<string, SQLInputValue>): TxRecord {
    return this.withTransaction(() => {
      const tx = this.getTx(id);
      if (!tx) throw new StoreError(`tx intent ${id} not found`);
      if (tx.status === to && to !== "sent") return tx; // idempotent re-mark
      if (!from.includes(tx.status)) throw new StoreError(`tx intent ${id} is ${tx.status}, cannot mark it ${to}`);
      const cols = Object.keys(fields);
      this.#stmt(
        `UPDATE pending_txs SET status = $status, updated_at = $now${cols.map((c) => `, ${c} = $${c}`).join("")} WHERE id = $id`,
      ).run({ ...fields, status: to, now: this.#clock(), id });
      return this.getTx(id)!;
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Blobs

  /** Stores `bytes` under their sha256 (idempotent) and returns the hash. */
  putBlob(bytes: Uint8Array): Hex {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("blob must be a Uint8Array");
    if (bytes.byteLength > this.#maxBlobBytes) throw new RangeError(`blob of ${bytes.byteLength} bytes exceeds ${this.#maxBlobBytes}`);
    const hash = sha256Hex(bytes);
    this.#stmt("INSERT INTO blobs (hash, size, data, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING").run(
      hash,
      bytes.byteLength,
      bytes,
      this.#clock(),
    );
    return hash;
  }

  /** The bytes stored under `hash`, re-verified against it; undefined if absent. Throws BlobIntegrityError on mismatch. */
  getBlob(hash: Hex): Uint8Array | undefined {
    const h = hex32(hash, "blob hash")!;
    const row = this.#stmt("SELECT data FROM blobs WHERE hash = ?").get(h) as { data: Uint8Array } | undefined;
    if (!row) return undefined;
    const data = row.data;
    const actual = createHash("sha256").update(data).digest();
    if (!timingSafeEqual(actual, Buffer.from(h.slice(2), "hex"))) throw new BlobIntegrityError(h);
    return data;
  }

  /** Size and creation time without reading the bytes. */
  blobInfo(hash: Hex): { size: number; createdAt: number } | undefined {
    const row = this.#stmt("SELECT size, created_at FROM blobs WHERE hash = ?").get(hex32(hash, "blob hash")!) as Row | undefined;
    return row ? { size: Number(row.size), createdAt: Number(row.created_at) } : undefined;
  }

  hasBlob(hash: Hex): boolean {
    return this.blobInfo(hash) !== undefined;
  }

  deleteBlob(hash: Hex): boolean {
    return Number(this.#stmt("DELETE FROM blobs WHERE hash = ?").run(hex32(hash, "blob hash")!).changes) === 1;
  }

  /**
   * Stores an uploaded blob that no job has claimed yet (see `claimBlob`). A blob already stored (an inline input,
   * a result, an earlier upload) is not stored again and not counted twice. Returns the hash and whether it is new.
   */
  putUploadedBlob(bytes: Uint8Array): { hash: Hex; stored: boolean } {
    return this.withTransaction(() => {
      const hash = sha256Hex(bytes);
      if (this.hasBlob(hash)) return { hash, stored: false };
      this.putBlob(bytes);
      this.#stmt("INSERT INTO blob_uploads (hash, size, created_at) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING").run(
        hash,
        bytes.byteLength,
        this.#clock(),
      );
      return { hash, stored: true };
    });
  }

  /** Whether an assigned job (one still getting its input) has `hash` as its on-chain input hash. */
  isInputAwaited(hash: Hex): boolean {
    return this.#stmt("SELECT 1 FROM jobs WHERE state = 'assigned' AND input_hash = ? LIMIT 1").get(hex32(hash, "input hash")!) !== undefined;
  }

  /** A job now references the blob: it is no longer an unclaimed upload (and no longer subject to their bounds). */
  claimBlob(hash: Hex): void {
    this.#stmt("DELETE FROM blob_uploads WHERE hash = ?").run(hex32(hash, "blob hash")!);
  }

  /** Unclaimed uploads: how many and their total bytes. */
  uploadedBlobStats(): { count: number; bytes: number } {
    const row = this.#stmt("SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM blob_uploads").get() as Row;
    return { count: Number(row.n), bytes: Number(row.bytes) };
  }

  /**
   * Deletes unclaimed uploads received more than `maxAgeMs` ago (by the store's clock), bytes included unless a job
   * references them. Returns how many uploads were dropped.
   */
  pruneUploadedBlobs(maxAgeMs: number): number {
    const olderThan = this.#clock() - maxAgeMs;
    return this.withTransaction(() => {
      const old = (this.#stmt("SELECT hash FROM blob_uploads WHERE created_at < ?").all(olderThan) as Row[]).map((r) => r.hash as string);
      for (const hash of old) {
        this.#stmt(
          `DELETE FROM blobs WHERE hash = ? AND hash NOT IN (
             SELECT input_blob FROM jobs WHERE input_blob IS NOT NULL UNION SELECT result_blob FROM jobs WHERE result_blob IS NOT NULL)`,
        ).run(hash);
        this.#stmt("DELETE FROM blob_uploads WHERE hash = ?").run(hash);
      }
      return old.length;
    });
  }

  /** Deletes blobs created before `olderThan` that no non-terminal job references. Returns how many. */
  pruneBlobs(olderThan: number): number {
    return Number(
      this.#stmt(
        `DELETE FROM blobs WHERE created_at < ? AND hash NOT IN (
           SELECT result_blob FROM jobs WHERE result_blob IS NOT NULL AND state NOT IN (${q(TERMINAL_STATES)})
           UNION SELECT input_blob FROM jobs WHERE input_blob IS NOT NULL AND state NOT IN (${q(TERMINAL_STATES)}))`,
      ).run(olderThan).changes,
    );
  }

  // -------------------------------------------------------------------------------------------------------------
  // Chain cursors

  getCursor(chainId: number, stream: string): Cursor | undefined {
    const row = this.#stmt("SELECT * FROM cursors WHERE chain_id = ? AND stream = ?").get(chainId, stream) as Row | undefined;
    if (!row) return undefined;
    const c: Cursor = { chainId, stream, blockNumber: BigInt(row.block_number as number), updatedAt: Number(row.updated_at) };
    if (row.block_hash !== null) c.blockHash = row.block_hash as Hex;
    return c;
  }

  /**
   * Records the last fully processed block of `stream` on `chainId`. Call it inside the same `withTransaction` as
   * the writes for that block range so events and cursor commit (or roll back) together. Moving backwards
   * (reorg rewind) requires `allowRewind`.
   */
  setCursor(chainId: number, stream: string, blockNumber: bigint, options: { blockHash?: Hex; allowRewind?: boolean } = {}): Cursor {
    if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new TypeError("chainId must be a positive integer");
    if (typeof blockNumber !== "bigint" || blockNumber < 0n) throw new TypeError("blockNumber must be a non-negative bigint");
    if (stream.length === 0) throw new TypeError("stream must be non-empty");
    return this.withTransaction(() => {
      const prev = this.getCursor(chainId, stream);
      if (prev && blockNumber < prev.blockNumber && !options.allowRewind) {
        throw new StoreError(`cursor ${chainId}/${stream} would move backwards (${prev.blockNumber} → ${blockNumber})`);
      }
      this.#stmt(
        `INSERT INTO cursors (chain_id, stream, block_number, block_hash, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (chain_id, stream) DO UPDATE SET block_number = excluded.block_number,
           block_hash = excluded.block_hash, updated_at = excluded.updated_at`,
      ).run(chainId, stream, blockNumber, hex32(options.blockHash, "blockHash") ?? null, this.#clock());
      return this.getCursor(chainId, stream)!;
    });
  }

  /** Runs SQLite's integrity check; returns the problems found (empty when healthy). */
  integrityCheck(): string[] {
    const rows = this.#stmt("PRAGMA integrity_check").all() as Array<{ integrity_check: string }>;
    const problems = rows.map((r) => r.integrity_check).filter((m) => m !== "ok");
    const fk = this.#stmt("PRAGMA foreign_key_check").all() as Row[];
    for (const r of fk) problems.push(`foreign key violation in ${String(r.table)} rowid ${String(r.rowid)}`);
    return problems;
  }
}

function keyOf(k: JobKey): JobKey {
  return { chainId: k.chainId, jobId: k.jobId, slot: k.slot };
}

function invariantViolation(current: JobRecord, next: JobRecord): string | undefined {
  if (RESULT_STATES.includes(next.state) && !next.resultHash) return `${next.state} requires resultHash`;
  if (current.state === "inferred" && next.state === "commit_pending" && current.redundancy === 1) {
    return "redundancy 1 jobs have no commit phase (inferred → reveal_pending)";
  }
  if (current.state === "inferred" && next.state === "reveal_pending" && current.redundancy > 1) {
    return `redundancy ${current.redundancy} jobs must commit before revealing (inferred → commit_pending)`;
  }
  if (SECRET_STATES.includes(next.state) && next.redundancy > 1 && (!next.salt || !next.commitment)) {
    return `${next.state} requires salt and commitment (persist them before sending the commit)`;
  }
  if (next.state === "failed" && !next.failReason) return "failed requires failReason";
  return undefined;
}

/** Opens (creating and migrating as needed) a worker store. */
export function openStore(options: StoreOptions): WorkerStore {
  return WorkerStore.open(options);
}
