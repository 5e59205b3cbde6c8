/**
 * SQLite cost of one job's lifecycle in the worker's store, on a real file (not :memory:), for each durability mode:
 * the k = 3 path (assigned → input_ready → inferred → commit_pending with salt → committed → reveal_pending →
 * revealed → served → finalized) with its two transaction intents (commit, reveal) recorded before broadcast and
 * marked sent and confirmed, as the worker does. Reports milliseconds of blocking time per job.
 *
 *   npx tsx --conditions=veil-source bench/store.ts [--jobs 400] [--json]
 *
 * Figures vary with the disk: fsync dominates "full". The last stdout line with --json is one JSON object.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { WorkerStore } from "../packages/worker/src/store.js";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "400" }, json: { type: "boolean", default: false } } });
const jobs = Number(values.jobs);
const CHAIN = 31337;
const FROM = "0x00000000000000000000000000000000000000aa" as const;
const TO = "0x00000000000000000000000000000000000000bb" as const;
const h = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as const;

function lifecycle(store: WorkerStore, i: number, nonce: { n: number }) {
  const k = { chainId: CHAIN, jobId: BigInt(i + 1), slot: 0 };
  store.upsertAssigned({ ...k, redundancy: 3, modelId: h(77), inputHash: h(i + 1) });
  store.transition(k, "assigned", "input_ready", { inputBlob: store.putBlob(new Uint8Array([i & 255, i >> 8, 1])) });
  const resultBlob = store.putBlob(new Uint8Array([i & 255, i >> 8, 2]));
  store.transition(k, "input_ready", "inferred", { resultHash: h(1_000_000 + i), resultBlob });
  store.transition(k, "inferred", "commit_pending", { salt: h(2_000_000 + i), commitment: h(3_000_000 + i) });
  for (const [kind, next] of [["commit", "committed"], ["reveal", "revealed"]] as const) {
    if (kind === "reveal") store.transition(k, "committed", "reveal_pending");
    const tx = store.recordTxIntent({ chainId: CHAIN, kind, job: k, from: FROM, nonce: nonce.n++, to: TO, calldataHash: h(9), maxFeePerGas: 10n });
    store.markTxSent(tx.id, h(4_000_000 + tx.id));
    store.markTxConfirmed(tx.id, BigInt(i));
    store.transition(k, kind === "commit" ? "commit_pending" : "reveal_pending", next);
  }
  store.transition(k, "revealed", "served");
  store.transition(k, "served", "finalized");
}

const results: Record<string, number> = {};
for (const sync of ["normal", "full"] as const) {
  const dir = mkdtempSync(path.join(tmpdir(), "veil-store-bench-"));
  try {
    const store = WorkerStore.open({ path: path.join(dir, "worker.db"), sync });
    const nonce = { n: 0 };
    for (let i = 0; i < 20; i++) lifecycle(store, 1_000_000 + i, nonce); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < jobs; i++) lifecycle(store, i, nonce);
    results[sync] = (performance.now() - t0) / jobs;
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(`SQLite per job (k = 3 lifecycle: 10 transitions, 2 tx intents sent and confirmed), ${jobs} jobs, file in ${tmpdir()}`);
console.log(`  sync normal (default: intents at FULL)   ${results.normal!.toFixed(2)} ms/job`);
console.log(`  sync full (every commit fsynced)         ${results.full!.toFixed(2)} ms/job`);
if (values.json) console.log(JSON.stringify({ jobs, sqliteMsPerJob: { normal: results.normal, full: results.full } }));
