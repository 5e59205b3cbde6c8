/**
 * Inference benchmark: raw onnxruntime-node vs the Veil engine (unbatched and micro-batched).
 *
 *   npx tsx bench/inference.ts [--seconds 2] [--concurrency 64] [--threads 1]
 *
 * For each model, bursts of `concurrency` single-row jobs are queued at once, repeatedly, for `seconds` per mode
 * (in interleaved rounds, so background load on a shared machine biases no mode):
 *  (a) raw:      `session.run` on a plain onnxruntime session (same session options as the engine)
 *  (b) engine:   `engine.run` without batching (input validation, conversion, concurrency limiter)
 *  (c) batched:  `engine.run` with micro-batching (window 2 ms, up to 64 rows for the MLP, 8 for the conv net,
 *                whose per-image cost doesn't fall with batch size and rises past ~16 images), verified bit-exact first
 * Latency is per job, from submission to result. Also checks that batched outputs equal unbatched outputs.
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

import ort from "onnxruntime-node";

import { encodeTensors, type TensorMap } from "../packages/sdk/src/tensor.js";
import { toOrtFeeds } from "../packages/worker/src/inference/convert.js";
import { createInferenceEngine, ORT_VERSION, type InferenceEngine } from "../packages/worker/src/inference/index.js";
import { buildMlpModel } from "../packages/worker/src/models/generate.js";
import { clsSampleInput, loadPretrainedClsModel, PRETRAINED_CLS } from "../packages/worker/src/models/pretrained.js";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "2" },
    concurrency: { type: "string", default: "64" },
    threads: { type: "string", default: "1" },
  },
});
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
const THREADS = Number(args.threads);

interface Row {
  model: string;
  mode: string;
  jobs: number;
  jobsPerSec: number;
  p50: number;
  p95: number;
  avgBatch: number;
  rssMiB: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Mode {
  label: string;
  /** Runs one job; resolves with the number of jobs in the session.run that served it. */
  job: (x: TensorMap) => Promise<number>;
  latencies: number[];
  batchSum: number;
  seconds: number;
}

const ROUNDS = 4;

/**
 * Measures the modes in interleaved rounds (a b c a b c ...) so drifting background load on a shared machine biases
 * none of them; each round queues bursts of `CONCURRENCY` jobs for SECONDS / ROUNDS.
 */
async function measure(model: string, inputs: TensorMap[], modes: Mode[], rows: Row[]): Promise<void> {
  for (const m of modes) await Promise.all(inputs.slice(0, CONCURRENCY).map(m.job)); // warm-up
  let n = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const m of modes) {
      const t0 = performance.now();
      while (performance.now() - t0 < (SECONDS * 1000) / ROUNDS) {
        const burst = Array.from({ length: CONCURRENCY }, (_, i) => inputs[(n + i) % inputs.length]!);
        n += CONCURRENCY;
        await Promise.all(
          burst.map(async (x) => {
            const s = performance.now();
            const jobsInRun = await m.job(x); // not `batchSum += await ...`: that reads batchSum before awaiting
            m.batchSum += jobsInRun;
            m.latencies.push(performance.now() - s);
          }),
        );
      }
      m.seconds += (performance.now() - t0) / 1000;
    }
  }
  for (const m of modes) {
    const sorted = [...m.latencies].sort((a, b) => a - b);
    rows.push({
      model,
      mode: m.label,
      jobs: sorted.length,
      jobsPerSec: sorted.length / m.seconds,
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      avgBatch: m.batchSum / sorted.length,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    });
  }
}

const mode = (label: string, job: Mode["job"]): Mode => ({ label, job, latencies: [], batchSum: 0, seconds: 0 });

async function benchModel(
  name: string,
  modelId: `0x${string}`,
  bytes: Uint8Array,
  inputs: TensorMap[],
  rows: Row[],
  maxBatchRows: number,
): Promise<void> {
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
  });
  const plain = await createInferenceEngine({ intraOpNumThreads: THREADS });
  await plain.loadModel(modelId, bytes);
  const batched = await createInferenceEngine({ intraOpNumThreads: THREADS, batchWindowMs: 2 });
  const info = await batched.loadModel(modelId, bytes, undefined, { batching: { samples: inputs.slice(0, 8), maxRows: maxBatchRows } });

  const modes = [
    mode("(a) raw session.run", async (x) => {
      await session.run(toOrtFeeds(x));
      return 1;
    }),
    mode("(b) engine, unbatched", async (x) => (await plain.run(modelId, x)).batchJobs),
  ];
  if (info.batching.enabled) {
    modes.push(mode(`(c) engine, batched <=${maxBatchRows}`, async (x) => (await batched.run(modelId, x)).batchJobs));
    await checkIdentical(name, modelId, plain, batched, inputs);
  } else {
    console.log(`${name}: batching NOT enabled: ${JSON.stringify(info.batching)}`);
  }
  await measure(name, inputs, modes, rows);
  await Promise.all([session.release(), plain.close(), batched.close()]);
}

async function checkIdentical(name: string, modelId: string, a: InferenceEngine, b: InferenceEngine, inputs: TensorMap[]) {
  const [ra, rb] = await Promise.all([
    Promise.all(inputs.map((x) => a.run(modelId, x))),
    Promise.all(inputs.map((x) => b.run(modelId, x))),
  ]);
  const same = ra.every((r, i) => Buffer.from(encodeTensors(r.outputs)).equals(Buffer.from(encodeTensors(rb[i]!.outputs))));
  console.log(`${name}: batched outputs bit-identical to unbatched for ${inputs.length} jobs: ${same ? "yes" : "NO"}`);
}

function printTable(rows: Row[]): void {
  const header = ["model", "mode", "jobs", "jobs/s", "p50 ms", "p95 ms", "avg batch", "RSS MiB"];
  const body = rows.map((r) => [
    r.model,
    r.mode,
    String(r.jobs),
    r.jobsPerSec.toFixed(0),
    r.p50.toFixed(2),
    r.p95.toFixed(2),
    r.avgBatch.toFixed(1),
    r.rssMiB.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `onnxruntime-node ${ORT_VERSION}, node ${process.version}, ${process.platform}/${process.arch}, ` +
      `intraOpNumThreads=${THREADS}, ${CONCURRENCY} single-row jobs queued per burst, ${SECONDS}s per row`,
  );
  const rows: Row[] = [];

  const mlp = buildMlpModel({ seed: 1 });
  const mlpInputs = Array.from({ length: 256 }, (_, i) => ({
    x: { type: "float32" as const, dims: [1, 16], data: Float32Array.from({ length: 16 }, (_, k) => Math.sin(i * 31 + k)) },
  }));
  await benchModel("MLP 16-32-4", mlp.modelId, mlp.bytes, mlpInputs, rows, 64);

  const cls = loadPretrainedClsModel();
  const clsInputs = Array.from({ length: 64 }, (_, i) => clsSampleInput(1, i + 1));
  await benchModel(`cls ${PRETRAINED_CLS.inputDims(1).slice(1).join("x")}`, cls.modelId, cls.bytes, clsInputs, rows, 8);

  console.log();
  printTable(rows);
  console.log(`\nRSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB, total ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

await main();
