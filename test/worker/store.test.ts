import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import {
  BlobIntegrityError,
  ImmutableFieldError,
  InvalidTransitionError,
  JOB_STATES,
  STORE_SCHEMA_VERSION,
  StoreLockedError,
  StoreVersionError,
  isLegalTransition,
  openStore,
  sha256Hex,
  type Hex,
  type JobKey,
  type TransitionEvent,
  type WorkerStore,
} from "../../packages/worker/src/store.js";

const require = createRequire(import.meta.url);
// Raw access to the same file, to check what is really on disk (and to tamper with it).
function rawDb(file: string) {
  const { DatabaseSync } = require("node:sqlite") as typeof import("node:sqlite");
  return new DatabaseSync(file);
}

const h = (n: number | bigint): Hex => `0x${BigInt(n).toString(16).padStart(64, "0")}`;
const ADDR = "0x00000000000000000000000000000000000000aa" as Hex;
const CHAIN = 31337;

describe("worker/store", function () {
  let dir: string;
  let file: string;
  let store: WorkerStore;
  let now: number;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "veil-store-"));
    file = path.join(dir, "nested", "worker.sqlite");
    now = 1_700_000_000_000;
    store = openStore({ path: file, clock: () => now });
  });
  afterEach(() => {
    if (!store.closed) store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const key = (jobId: bigint | number, slot = 0): JobKey => ({ chainId: CHAIN, jobId: BigInt(jobId), slot });

  function toInferred(k: JobKey, redundancy = 2) {
    store.upsertAssigned({ ...k, redundancy, modelId: h(77), inputHash: h(1) });
    store.transition(k, "assigned", "input_ready", { inputBlob: store.putBlob(new Uint8Array([1, 2, 3])) });
    const resultBlob = store.putBlob(new TextEncoder().encode(`result ${k.jobId}`));
    return store.transition(k, ["input_ready"], "inferred", { resultHash: h(9), resultBlob });
  }

  describe("schema", () => {
    it("creates a WAL database at the latest schema version and reopens it unchanged", () => {
      expect(store.schemaVersion).to.equal(STORE_SCHEMA_VERSION);
      store.close();
      const db = rawDb(file);
      expect(db.prepare("PRAGMA journal_mode").get()).to.deep.equal({ journal_mode: "wal" });
      expect(Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version)).to.equal(STORE_SCHEMA_VERSION);
      db.close();
      store = openStore({ path: file });
      expect(store.schemaVersion).to.equal(STORE_SCHEMA_VERSION);
      expect(store.integrityCheck()).to.deep.equal([]);
    });

    it("refuses to open a store written by a newer worker (no silent downgrade)", () => {
      store.close();
      const db = rawDb(file);
      db.exec("PRAGMA user_version = 99");
      db.close();
      expect(() => openStore({ path: file })).to.throw(StoreVersionError, /99/);
    });

    it("holds an exclusive lock so a second opener fails fast with StoreLockedError", () => {
      expect(() => openStore({ path: file, busyTimeoutMs: 50 })).to.throw(StoreLockedError);
      store.close();
      const again = openStore({ path: file, busyTimeoutMs: 50 });
      again.close();
    });

    it("works in memory", () => {
      const mem = openStore({ path: ":memory:" });
      mem.upsertAssigned({ ...key(1), redundancy: 1 });
      expect(mem.countByState().assigned).to.equal(1);
      mem.close();
    });
  });

  describe("jobs", () => {
    it("upsertAssigned is idempotent: a replayed event neither duplicates nor resets progress", () => {
      const k = key(42n);
      const first = store.upsertAssigned({ ...k, redundancy: 3, modelId: h(5), inputHash: h(6), assignedBlock: 10n, assignedLogIndex: 2 });
      expect(first.created).to.equal(true);
      expect(first.job).to.include({ state: "assigned", redundancy: 3, modelId: h(5), assignedLogIndex: 2 });
      expect(first.job.assignedBlock).to.equal(10n);
      store.transition(k, "assigned", "input_ready");
      const replay = store.upsertAssigned({ ...k, redundancy: 3, modelId: h(5), inputHash: h(6), assignedBlock: 10n });
      expect(replay.created).to.equal(false);
      expect(replay.job.state).to.equal("input_ready");
      expect(store.countByState().input_ready).to.equal(1);
      expect(store.countByState().assigned).to.equal(0);
      // Same job id, other slot and other chain are distinct jobs.
      expect(store.upsertAssigned({ ...k, slot: 1, redundancy: 3 }).created).to.equal(true);
      expect(store.upsertAssigned({ ...k, chainId: 8453, redundancy: 3 }).created).to.equal(true);
    });

    it("handles full uint256 job ids and orders them numerically", () => {
      const big = (1n << 256n) - 1n;
      store.upsertAssigned({ ...key(big), redundancy: 1 });
      store.upsertAssigned({ ...key(2n), redundancy: 1 });
      store.upsertAssigned({ ...key(10n), redundancy: 1 });
      expect(store.getJob(key(big))!.jobId).to.equal(big);
      expect(store.jobsByState("assigned").map((j) => j.jobId)).to.deep.equal([2n, 10n, big]);
      expect(() => store.upsertAssigned({ ...key(1n << 256n), redundancy: 1 })).to.throw(TypeError);
      expect(() => store.upsertAssigned({ ...key(-1n), redundancy: 1 })).to.throw(TypeError);
    });

    it("walks the redundant lifecycle: commit before reveal, with salt persisted before the commit tx", () => {
      const k = key(1);
      const seen: TransitionEvent[] = [];
      store.onTransition((ev) => seen.push(ev));
      toInferred(k, 2);
      now += 1000;
      const pending = store.transition(k, "inferred", "commit_pending", { salt: h(111), commitment: h(222) });
      expect(pending).to.include({ state: "commit_pending", salt: h(111), commitment: h(222) });
      // Tx hash and nonce recorded later without changing state.
      const withTx = store.transition(k, "commit_pending", "commit_pending", { commitTxHash: h(333), commitNonce: 7 });
      expect(withTx).to.include({ state: "commit_pending", commitTxHash: h(333), commitNonce: 7 });
      store.transition(k, "commit_pending", "committed");
      store.transition(k, "committed", "reveal_pending", { revealTxHash: h(444), revealNonce: 8 });
      store.transition(k, "reveal_pending", "revealed");
      store.transition(k, "revealed", "served");
      const fin = store.transition(k, "served", "finalized");
      expect(fin.state).to.equal("finalized");
      expect(fin.updatedAt).to.equal(now);
      expect(store.jobHistory(k).map((e) => e.to)).to.deep.equal([
        "assigned",
        "input_ready",
        "inferred",
        "commit_pending",
        "committed",
        "reveal_pending",
        "revealed",
        "served",
        "finalized",
      ]);
      // Self-transitions are patches: no event.
      expect(seen.map((e) => `${e.from}->${e.to}`)).to.deep.equal([
        "null->assigned",
        "assigned->input_ready",
        "input_ready->inferred",
        "inferred->commit_pending",
        "commit_pending->committed",
        "committed->reveal_pending",
        "reveal_pending->revealed",
        "revealed->served",
        "served->finalized",
      ]);
    });

    it("redundancy 1 skips the commit phase, and the two paths cannot be mixed up", () => {
      toInferred(key(1), 1);
      expect(() => store.transition(key(1), "inferred", "commit_pending", { salt: h(1), commitment: h(2) }))
        .to.throw(InvalidTransitionError)
        .with.property("reason", "invariant");
      store.transition(key(1), "inferred", "reveal_pending");
      store.transition(key(1), "reveal_pending", "revealed");

      toInferred(key(2), 2);
      expect(() => store.transition(key(2), "inferred", "reveal_pending"))
        .to.throw(InvalidTransitionError)
        .with.property("reason", "invariant");
      expect(() => store.transition(key(2), "inferred", "commit_pending"), "no salt").to.throw(/salt and commitment/);
      expect(store.getJob(key(2))!.state).to.equal("inferred");
    });

    it("compare-and-set prevents a double commit and a double reveal", () => {
      const k = key(5);
      toInferred(k);
      store.transition(k, "inferred", "commit_pending", { salt: h(1), commitment: h(2) });
      // A second processor loop (or a replay after a crash) tries the same step again.
      let err: unknown;
      try {
        store.transition(k, "inferred", "commit_pending", { salt: h(1), commitment: h(2) });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(InvalidTransitionError);
      expect(err).to.include({ reason: "state_mismatch", actual: "commit_pending", to: "commit_pending" });
      store.transition(k, "commit_pending", "committed");
      store.transition(k, "committed", "reveal_pending");
      store.transition(k, "reveal_pending", "revealed");
      expect(() => store.transition(k, ["committed"], "reveal_pending")).to.throw(InvalidTransitionError, /state is revealed/);
      expect(store.jobHistory(k).filter((e) => e.to === "reveal_pending")).to.have.length(1);
    });

    it("rejects illegal edges before touching the database, and missing jobs", () => {
      const k = key(6);
      store.upsertAssigned({ ...k, redundancy: 2 });
      expect(() => store.transition(k, "assigned", "revealed"))
        .to.throw(InvalidTransitionError)
        .with.property("reason", "illegal_transition");
      expect(() => store.transition(key(999), "assigned", "input_ready"))
        .to.throw(InvalidTransitionError)
        .with.property("reason", "not_found");
      expect(store.getJob(k)!.version).to.equal(0);
    });

    it("lets any non-terminal state end in a terminal one, and nothing leaves a terminal state", () => {
      for (const s of JOB_STATES) {
        for (const t of ["finalized", "refunded", "reassigned", "failed"] as const) {
          const terminal = ["finalized", "refunded", "reassigned", "failed"].includes(s);
          expect(isLegalTransition(s, t), `${s}->${t}`).to.equal(!terminal || s === t);
        }
      }
      store.upsertAssigned({ ...key(1), redundancy: 2 });
      expect(() => store.transition(key(1), "assigned", "failed")).to.throw(/failReason/);
      const failed = store.transition(key(1), "assigned", "failed", { failReason: "input hash mismatch" });
      expect(failed.failReason).to.equal("input hash mismatch");
      expect(() => store.transition(key(1), "failed", "input_ready")).to.throw(InvalidTransitionError);
      toInferred(key(2));
      store.transition(key(2), "inferred", "reassigned");
      expect(store.countByState()).to.include({ failed: 1, reassigned: 1 });
    });

    it("write-once fields: a salt or result can never change once persisted", () => {
      const k = key(7);
      toInferred(k);
      store.transition(k, "inferred", "commit_pending", { salt: h(1), commitment: h(2) });
      const before = store.getJob(k)!;
      expect(() => store.transition(k, "commit_pending", "commit_pending", { salt: h(3) })).to.throw(ImmutableFieldError, /salt/);
      expect(() => store.transition(k, "commit_pending", "committed", { resultHash: h(10) })).to.throw(ImmutableFieldError);
      expect(store.getJob(k)).to.deep.equal(before);
      // Re-stating the same value is fine (idempotent retries).
      store.transition(k, "commit_pending", "commit_pending", { salt: h(1), commitment: h(2), lastError: "rpc timeout", incrementAttempts: true });
      const after = store.transition(k, "commit_pending", "commit_pending", { lastError: null, meta: { gasBumps: 1 } });
      expect(after.lastError).to.equal(undefined);
      expect(after.attempts).to.equal(1);
      expect(after.meta).to.deep.equal({ gasBumps: 1 });
      expect(after.version).to.equal(before.version + 2);
    });

    it("CHECK constraints back the invariants up even against raw SQL", () => {
      toInferred(key(8), 2);
      store.close();
      const db = rawDb(file);
      const jid = h(8);
      expect(() => db.prepare("UPDATE jobs SET state = 'committed' WHERE job_id = ?").run(jid)).to.throw(/CHECK constraint failed/);
      expect(() => db.prepare("UPDATE jobs SET state = 'failed' WHERE job_id = ?").run(jid)).to.throw(/CHECK constraint failed/);
      expect(() => db.prepare("UPDATE jobs SET state = 'bogus' WHERE job_id = ?").run(jid)).to.throw(/CHECK constraint failed/);
      db.close();
    });

    it("jobsByState and countByState filter by chain and cover every state", () => {
      store.upsertAssigned({ ...key(1), redundancy: 1 });
      now += 1;
      toInferred(key(2));
      store.upsertAssigned({ chainId: 8453, jobId: 3n, slot: 0, redundancy: 1 });
      const counts = store.countByState();
      expect(Object.keys(counts)).to.have.members([...JOB_STATES]);
      expect(counts).to.include({ assigned: 2, inferred: 1, revealed: 0 });
      expect(store.countByState(8453)).to.include({ assigned: 1, inferred: 0 });
      expect(store.jobsByState(["assigned", "inferred"], { chainId: CHAIN }).map((j) => j.jobId)).to.deep.equal([1n, 2n]);
      expect(store.jobsByState("assigned", { limit: 1 })).to.have.length(1);
      expect(store.activeJobs()).to.have.length(3);
    });
  });

  describe("metrics sources", () => {
    it("oldestByState: per active state, seconds since its oldest job entered it; terminal states and other chains left out", async () => {
      store.upsertAssigned({ ...key(1), redundancy: 1 });
      now += 4_000;
      store.upsertAssigned({ ...key(2), redundancy: 1 });
      toInferred(key(3));
      store.upsertAssigned({ chainId: 8453, jobId: 9n, slot: 0, redundancy: 1 });
      now += 1_500;
      const ages = store.oldestByState(CHAIN);
      expect(ages.assigned).to.equal(5.5); // job 1, not job 2
      expect(ages.inferred).to.equal(1.5);
      expect(ages.served).to.equal(0);
      expect(Object.keys(ages)).to.not.include.members(["finalized", "refunded", "failed", "reassigned"]);
      store.transition(key(1), "assigned", "failed", { failReason: "test" });
      expect(store.oldestByState(CHAIN).assigned).to.equal(1.5);

      const { createMetrics } = await import("../../packages/worker/src/internal/metrics.js");
      const rpc: Record<string, number> = { eth_call: 6, eth_getLogs: 2 };
      const metrics = createMetrics({
        jobStates: JOB_STATES,
        stateAges: () => store.oldestByState(CHAIN),
        queueDepth: () => ({ infer: 3, post: 0 }),
        rpcRequests: () => rpc,
      });
      metrics.jobsTotal.inc({ state: "assigned" }, 4);
      const text = await metrics.render();
      const value = (prefix: string) => Number(text.split("\n").find((l) => l.startsWith(prefix))?.split(" ")[1]);
      expect(value('veil_worker_job_state_age_seconds{state="inferred"}')).to.equal(1.5);
      expect(value('veil_worker_queue_depth{lane="infer"}')).to.equal(3);
      expect(value('veil_worker_rpc_requests_total{method="eth_call"}')).to.equal(6);
      expect(value("veil_worker_rpc_calls_per_job")).to.equal(2); // 8 requests over 4 jobs taken
    });
  });

  describe("transactions", () => {
    it("rolls back every write of a failed transaction, and fires no listeners", () => {
      const events: TransitionEvent[] = [];
      store.onTransition((e) => events.push(e));
      toInferred(key(1));
      events.length = 0;
      expect(() =>
        store.withTransaction(() => {
          store.transition(key(1), "inferred", "commit_pending", { salt: h(1), commitment: h(2) });
          store.recordTxIntent({ chainId: CHAIN, kind: "commit", job: key(1), from: ADDR, nonce: 0, calldataHash: h(5), maxFeePerGas: 10n });
          store.setCursor(CHAIN, "jobs", 100n);
          store.putBlob(new Uint8Array([9]));
          throw new Error("broadcast preparation failed");
        }),
      ).to.throw("broadcast preparation failed");
      expect(store.getJob(key(1))!.state).to.equal("inferred");
      expect(store.unfinishedTxs()).to.deep.equal([]);
      expect(store.getCursor(CHAIN, "jobs")).to.equal(undefined);
      expect(store.hasBlob(sha256Hex(new Uint8Array([9])))).to.equal(false);
      expect(events).to.deep.equal([]);
    });

    it("commits transitions at synchronous=NORMAL and a tx intent at FULL (durable before broadcast), nested or not", () => {
      expect(store.synchronous).to.equal("normal");
      let inside: string | undefined;
      store.onTransition(() => (inside = store.synchronous));
      toInferred(key(1), 2);
      expect(inside).to.equal("normal");
      // A top-level intent commits at FULL, then the connection is back at NORMAL.
      const tx = store.recordTxIntent({ chainId: CHAIN, kind: "commit", job: key(1), from: ADDR, nonce: 0, calldataHash: h(5), maxFeePerGas: 10n });
      expect(store.getTx(tx.id)!.status).to.equal("pending");
      expect(store.synchronous).to.equal("normal");
      // Nested in a transition's transaction (the level cannot change inside one): the outer commit fsyncs the WAL.
      store.withTransaction(() => {
        store.transition(key(1), "inferred", "commit_pending", { salt: h(111), commitment: h(222) });
        store.recordTxIntent({ chainId: CHAIN, kind: "commit", job: key(1), from: ADDR, nonce: 1, calldataHash: h(5), maxFeePerGas: 10n });
      });
      expect(store.synchronous).to.equal("normal");
      expect(store.unfinishedTxs()).to.have.length(2);
      // A failed intent leaves the level as it was, too.
      expect(() => store.recordTxIntent({ chainId: CHAIN, kind: "bogus" as never, from: ADDR, nonce: 2, calldataHash: h(5), maxFeePerGas: 10n })).to.throw(TypeError);
      expect(() => store.withTransaction(() => {
        store.recordTxIntent({ chainId: CHAIN, kind: "reveal", job: key(1), from: ADDR, nonce: 2, calldataHash: h(5), maxFeePerGas: 10n });
        throw new Error("broadcast preparation failed");
      })).to.throw("broadcast preparation failed");
      expect(store.synchronous).to.equal("normal");
      expect(store.unfinishedTxs()).to.have.length(2);
      const full = openStore({ path: ":memory:", sync: "full" });
      expect(full.synchronous).to.equal("full");
      full.close();
    });

    it("counts the time spent in committed write transactions (veil_worker_sqlite_seconds_total)", async () => {
      const before = store.writeMs;
      toInferred(key(1), 2);
      expect(store.writeMs).to.be.greaterThan(before);
      const reads = store.writeMs;
      store.getJob(key(1));
      expect(store.writeMs, "reads are not counted").to.equal(reads);
      const { createMetrics } = await import("../../packages/worker/src/internal/metrics.js");
      const metrics = createMetrics({ sqliteSeconds: () => store.writeMs / 1000 });
      const line = (await metrics.render()).split("\n").find((l) => l.startsWith("veil_worker_sqlite_seconds_total "));
      // (hardhat's chai matchers take over closeTo for bigints: compare the difference instead)
      expect(Math.abs(Number(line!.split(" ")[1]) - store.writeMs / 1000)).to.be.lessThan(1e-3);
    });

    it("nests with savepoints: an inner failure rolls back only the inner part", () => {
      const events: string[] = [];
      store.onTransition((e) => events.push(`${e.key.jobId}:${e.to}`));
      store.withTransaction(() => {
        store.upsertAssigned({ ...key(1), redundancy: 1 });
        expect(events, "listeners wait for the outer commit").to.deep.equal([]);
        try {
          store.withTransaction(() => {
            store.upsertAssigned({ ...key(2), redundancy: 1 });
            throw new Error("inner");
          });
        } catch {
          /* expected */
        }
        store.upsertAssigned({ ...key(3), redundancy: 1 });
      });
      expect(store.getJob(key(1))).to.not.equal(undefined);
      expect(store.getJob(key(2))).to.equal(undefined);
      expect(store.getJob(key(3))).to.not.equal(undefined);
      expect(events).to.deep.equal(["1:assigned", "3:assigned"]);
    });

    it("refuses an async callback (it would let other writes interleave) and rolls it back", () => {
      expect(() =>
        store.withTransaction((async () => {
          store.upsertAssigned({ ...key(1), redundancy: 1 });
        }) as unknown as () => void),
      ).to.throw(TypeError, /synchronous/);
      expect(store.getJob(key(1))).to.equal(undefined);
      expect(store.inTransaction).to.equal(false);
    });

    it("a throwing listener does not break the state machine", () => {
      store.onTransition(() => {
        throw new Error("metrics exploded");
      });
      const seen: string[] = [];
      store.onTransition((e) => seen.push(e.to));
      store.upsertAssigned({ ...key(1), redundancy: 1 });
      expect(seen).to.deep.equal(["assigned"]);
    });
  });

  describe("transaction intents", () => {
    const intent = (nonce: number, extra: Partial<Parameters<WorkerStore["recordTxIntent"]>[0]> = {}) =>
      store.recordTxIntent({
        chainId: CHAIN,
        kind: "commit",
        job: key(1),
        from: ADDR,
        nonce,
        to: "0x00000000000000000000000000000000000000bb",
        calldataHash: h(0xca11),
        maxFeePerGas: 30_000_000_000n,
        maxPriorityFeePerGas: 1_000_000_000n,
        gasLimit: 200_000n,
        ...extra,
      });

    it("persists intents before broadcast, bumps attempts per nonce and reconciles on confirmation", () => {
      const a1 = intent(4, { txHash: h(0xa1), rawTx: "0x02f8" });
      expect(a1).to.include({ status: "pending", attempt: 1, nonce: 4, txHash: h(0xa1), rawTx: "0x02f8" });
      expect(a1.job).to.deep.equal(key(1));
      expect(a1.maxFeePerGas).to.equal(30_000_000_000n);
      store.markTxSent(a1.id, h(0xa1));
      // Fee bump: same nonce, next attempt, new hash. Both stay unfinished (either may be mined).
      const a2 = intent(4, { txHash: h(0xa2), maxFeePerGas: 37_500_000_000n });
      expect(a2.attempt).to.equal(2);
      const other = intent(5, { kind: "reveal" });
      expect(store.unfinishedTxs().map((t) => [t.nonce, t.attempt])).to.deep.equal([
        [4, 1],
        [4, 2],
        [5, 1],
      ]);
      // Survives a restart.
      store.close();
      store = openStore({ path: file, clock: () => now });
      expect(store.unfinishedTxs({ chainId: CHAIN, from: ADDR })).to.have.length(3);
      expect(store.txByHash(CHAIN, h(0xa2))!.id).to.equal(a2.id);

      // The first attempt is the one that got mined: the bump is now replaced, the nonce is done.
      const mined = store.markTxConfirmed(a1.id, 1234n);
      expect(mined).to.include({ status: "confirmed" });
      expect(mined.blockNumber).to.equal(1234n);
      expect(store.getTx(a2.id)).to.include({ status: "replaced", replacedBy: a1.id });
      expect(store.unfinishedTxs().map((t) => t.id)).to.deep.equal([other.id]);
      store.markTxFailed(other.id, "dropped from mempool");
      expect(store.unfinishedTxs()).to.deep.equal([]);
      expect(store.txsForNonce(CHAIN, ADDR, 4).map((t) => t.status)).to.deep.equal(["confirmed", "replaced"]);
      expect(store.txsForJob(key(1))).to.have.length(3);
    });

    it("enforces unique hashes / attempts and legal status changes", () => {
      const a = intent(0, { txHash: h(1) });
      expect(() => intent(1, { txHash: h(1) })).to.throw(/UNIQUE/);
      expect(() => intent(0, { attempt: 1 })).to.throw(/UNIQUE/);
      store.markTxFailed(a.id, "nonce too low");
      expect(() => store.markTxSent(a.id, h(2))).to.throw(/cannot mark/);
      // Reconciliation may discover that a "failed" tx was mined after all.
      expect(store.markTxReverted(a.id, 9n, "execution reverted").status).to.equal("reverted");
      expect(() => intent(2, { from: "0x1234" as Hex })).to.throw(TypeError);
      expect(() => intent(2, { kind: "bogus" as never })).to.throw(TypeError);
      const r = store.recordTxIntent({ chainId: CHAIN, kind: "register", from: ADDR, nonce: 9, calldataHash: h(3), maxFeePerGas: 1n });
      expect(r.job).to.equal(undefined);
      expect(store.markTxReplaced(r.id).status).to.equal("replaced");
    });
  });

  describe("blobs", () => {
    it("stores content-addressed bytes idempotently and verifies them on read", () => {
      const bytes = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff);
      const hash = store.putBlob(bytes);
      expect(hash).to.equal(sha256Hex(bytes));
      expect(store.putBlob(bytes)).to.equal(hash);
      expect(Buffer.from(store.getBlob(hash)!).equals(Buffer.from(bytes))).to.equal(true);
      expect(store.blobInfo(hash)).to.deep.equal({ size: 100_000, createdAt: now });
      expect(store.getBlob(h(123))).to.equal(undefined);
      expect(store.putBlob(new Uint8Array(0))).to.equal("0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

      store.close();
      const db = rawDb(file);
      db.prepare("UPDATE blobs SET data = ? WHERE hash = ?").run(new Uint8Array([1, 2, 3]), hash);
      db.close();
      store = openStore({ path: file });
      expect(() => store.getBlob(hash)).to.throw(BlobIntegrityError);
    });

    it("enforces a size limit and prunes only unreferenced old blobs", () => {
      const small = openStore({ path: ":memory:", maxBlobBytes: 10, clock: () => now });
      expect(() => small.putBlob(new Uint8Array(11))).to.throw(RangeError);
      small.close();

      toInferred(key(1)); // references its input and result blobs
      const orphan = store.putBlob(new Uint8Array([42]));
      now += 10_000;
      const fresh = store.putBlob(new Uint8Array([43]));
      expect(store.pruneBlobs(now - 5_000)).to.equal(1);
      expect(store.hasBlob(orphan)).to.equal(false);
      expect(store.hasBlob(fresh)).to.equal(true);
      expect(store.getJob(key(1))!.resultBlob).to.satisfy((b: Hex) => store.hasBlob(b));
    });
  });

  describe("cursors", () => {
    it("moves forward with the events it covers, and only rewinds when asked", () => {
      expect(store.getCursor(CHAIN, "jobs")).to.equal(undefined);
      store.withTransaction(() => {
        store.upsertAssigned({ ...key(1), redundancy: 1, assignedBlock: 100n });
        store.setCursor(CHAIN, "jobs", 100n, { blockHash: h(100) });
      });
      expect(store.getCursor(CHAIN, "jobs")).to.deep.include({ blockNumber: 100n, blockHash: h(100) });
      expect(store.getCursor(CHAIN, "other")).to.equal(undefined);
      expect(() => store.setCursor(CHAIN, "jobs", 99n)).to.throw(/backwards/);
      expect(store.setCursor(CHAIN, "jobs", 95n, { allowRewind: true }).blockNumber).to.equal(95n);
      expect(store.getCursor(CHAIN, "jobs")!.blockHash).to.equal(undefined);
    });
  });

  describe("crash safety (SIGKILL)", function () {
    this.timeout(20_000);

    const tsxLoader = import.meta.resolve("tsx/esm");
    const storeUrl = pathToFileURL(path.resolve("packages/worker/src/store.ts")).href;

    /**
     * Child writer: each transaction creates job i, advances it to commit_pending with a fresh 128 KiB result blob,
     * records its commit intent and moves the cursor to i — all or nothing. It prints "<i>" after each commit.
     * With HOLD_AT=n it blocks (synchronously, mid-transaction) after writing most of transaction n.
     */
    const CHILD = `
      import { openStore } from ${JSON.stringify(storeUrl)};
      import { randomBytes } from "node:crypto";
      const [file, holdAt] = process.argv.slice(2);
      const store = openStore({ path: file });
      const h = (n) => "0x" + BigInt(n).toString(16).padStart(64, "0");
      const from = "0x00000000000000000000000000000000000000aa";
      for (let i = 1; ; i++) {
        store.withTransaction(() => {
          const key = { chainId: 31337, jobId: BigInt(i), slot: 0 };
          store.upsertAssigned({ ...key, redundancy: 2, inputHash: h(i) });
          store.transition(key, "assigned", "input_ready");
          const resultBlob = store.putBlob(randomBytes(128 * 1024));
          store.transition(key, "input_ready", "inferred", { resultHash: resultBlob, resultBlob });
          store.transition(key, "inferred", "commit_pending", { salt: h(1000 + i), commitment: h(2000 + i) });
          store.recordTxIntent({ chainId: 31337, kind: "commit", job: key, from, nonce: i - 1, calldataHash: h(i), maxFeePerGas: 1n });
          if (String(i) === holdAt) {
            process.stdout.write("holding\\n");
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000);
          }
          store.setCursor(31337, "jobs", BigInt(i));
        });
        process.stdout.write(i + "\\n");
      }
    `;

    function runChild(scriptDir: string, dbFile: string, holdAt: number | null): { child: ChildProcess; lines: string[]; wait: (pred: (lines: string[]) => boolean) => Promise<void> } {
      const script = path.join(scriptDir, "writer.mjs");
      writeFileSync(script, CHILD);
      const child = spawn(process.execPath, ["--import", tsxLoader, script, dbFile, String(holdAt ?? "")], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      const lines: string[] = [];
      let stderr = "";
      let buf = "";
      const waiters: Array<() => void> = [];
      child.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split("\n");
        buf = parts.pop()!;
        lines.push(...parts);
        for (const w of waiters) w();
      });
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const wait = (pred: (l: string[]) => boolean) =>
        new Promise<void>((resolve, reject) => {
          const check = () => {
            if (pred(lines)) resolve();
          };
          waiters.push(check);
          child.once("exit", (code) => reject(new Error(`writer exited early (${code}): ${stderr}`)));
          check();
        });
      return { child, lines, wait };
    }

    function killAndWait(child: ChildProcess): Promise<NodeJS.Signals | null> {
      return new Promise((resolve) => {
        child.once("exit", (_code, signal) => resolve(signal));
        child.kill("SIGKILL");
      });
    }

    function verifyConsistent(dbFile: string): number {
      const s = openStore({ path: dbFile });
      try {
        expect(s.integrityCheck()).to.deep.equal([]);
        const cursor = Number(s.getCursor(31337, "jobs")?.blockNumber ?? 0n);
        const counts = s.countByState();
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        // Every committed transaction is complete; the interrupted one left nothing behind.
        expect(total, "jobs == cursor").to.equal(cursor);
        expect(counts.commit_pending).to.equal(cursor);
        expect(s.unfinishedTxs()).to.have.length(cursor);
        for (let i = 1; i <= cursor; i++) {
          const job = s.getJob({ chainId: 31337, jobId: BigInt(i), slot: 0 })!;
          expect(job.salt).to.equal(h(1000 + i));
          expect(s.getBlob(job.resultBlob!)!.length).to.equal(128 * 1024); // verified against its hash
        }
        expect(s.getJob({ chainId: 31337, jobId: BigInt(cursor + 1), slot: 0 })).to.equal(undefined);
        return cursor;
      } finally {
        s.close();
      }
    }

    it("a kill in the middle of a transaction leaves exactly the committed transactions", async () => {
      const dbFile = path.join(dir, "crash1.sqlite");
      const { child, lines, wait } = runChild(dir, dbFile, 6);
      await wait((l) => l.includes("holding"));
      // While the writer is alive it owns the file: another worker cannot open it.
      expect(() => openStore({ path: dbFile, busyTimeoutMs: 50 })).to.throw(StoreLockedError);
      expect(await killAndWait(child)).to.equal("SIGKILL");
      expect(lines.filter((l) => /^\d+$/.test(l))).to.deep.equal(["1", "2", "3", "4", "5"]);
      expect(verifyConsistent(dbFile)).to.equal(5);
    });

    it("a kill at an arbitrary moment of a busy writer loses nothing that was acknowledged", async () => {
      const dbFile = path.join(dir, "crash2.sqlite");
      const { child, lines, wait } = runChild(dir, dbFile, null);
      await wait((l) => l.length >= 15);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20)));
      await killAndWait(child);
      const acknowledged = Math.max(...lines.map(Number));
      const cursor = verifyConsistent(dbFile);
      expect(cursor).to.be.at.least(acknowledged);
      // And the store is fully usable after recovery.
      const s = openStore({ path: dbFile });
      s.transition({ chainId: 31337, jobId: 1n, slot: 0 }, "commit_pending", "committed");
      s.close();
    });
  });
});
