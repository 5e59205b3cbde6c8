import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import {
  decodeTensors,
  encodeTensors,
  invalidInputResult,
  readInvalidInput,
  tensorsHash,
  type Tensor,
  type TensorMap,
} from "../../packages/sdk/src/tensor.js";
import {
  createInferenceEngine,
  EngineClosedError,
  InputTooLargeError,
  InvalidModelIdError,
  localRuntimeProfile,
  maxSupportedOpset,
  ModelHashMismatchError,
  ModelNotLoadedError,
  ORT_VERSION,
  readOnnxModelHeader,
  RuntimeProfileMismatchError,
  type InferenceEngine,
  type RuntimeProfile,
} from "../../packages/worker/src/inference/index.js";
import {
  buildColumnSumModel,
  buildIdentityModel,
  buildIntModel,
  buildMlpModel,
  referenceMlp,
} from "../../packages/worker/src/models/generate.js";
import { clsSampleInput, loadPretrainedClsModel, PRETRAINED_CLS, pretrainedClsModelPath } from "../../packages/worker/src/models/pretrained.js";

const f32 = (dims: number[], data: ArrayLike<number>): Tensor => ({ type: "float32", dims, data: Float32Array.from(data) });
const mlpInput = (rows: number, seed: number): TensorMap => ({
  x: f32([rows, 16], Array.from({ length: rows * 16 }, (_, i) => Math.sin(seed * 977 + i * 0.731) * 2)),
});
const bytesHex = (m: TensorMap) => Buffer.from(encodeTensors(m)).toString("hex");

describe("worker/inference", function () {
  const mlp = buildMlpModel({ seed: 42 });
  const ints = buildIntModel({ seed: 7 });
  const cls = loadPretrainedClsModel();
  let engine: InferenceEngine;

  before(async () => {
    engine = await createInferenceEngine({ intraOpNumThreads: 1 });
    await engine.loadModel(mlp.modelId, mlp.bytes);
    await engine.loadModel(ints.modelId, ints.bytes);
  });
  after(async () => engine?.close());

  describe("generated models", () => {
    it("are deterministic per seed and distinct across seeds", () => {
      const again = buildMlpModel({ seed: 42 });
      expect(Buffer.from(again.bytes).equals(Buffer.from(mlp.bytes))).to.equal(true);
      expect(again.modelId).to.equal(mlp.modelId);
      expect(buildMlpModel({ seed: 43 }).modelId).to.not.equal(mlp.modelId);
      expect(buildIntModel({ seed: 8 }).modelId).to.not.equal(ints.modelId);
      expect(readOnnxModelHeader(mlp.bytes)).to.deep.include({ irVersion: 8, defaultOpset: 17 });
      expect(mlp.inputs).to.deep.equal([{ name: "x", type: "float32", shape: ["N", 16] }]);
    });

    it("declare what onnxruntime reports", () => {
      const info = engine.getModel(mlp.modelId);
      expect(info.inputs).to.deep.equal(mlp.inputs);
      expect(info.outputs).to.deep.equal(mlp.outputs);
      expect(engine.getModel(ints.modelId).inputs).to.deep.equal(ints.inputs);
      expect(info.executionProvider).to.equal(engine.executionProviders[0]);
      expect(info.profile).to.deep.equal({ ...engine.localRuntimeProfile(), opset: 17 });
    });
  });

  describe("MLP", () => {
    it("matches a JS reference within float tolerance", async () => {
      const input = mlpInput(5, 1);
      const { outputs, invalid, batchJobs } = await engine.run(mlp.modelId, input);
      expect(invalid).to.equal(undefined);
      expect(batchJobs).to.equal(1);
      const y = outputs["y"]!;
      expect(y.type).to.equal("float32");
      expect(y.dims).to.deep.equal([5, 4]);
      const ref = referenceMlp(mlp, input["x"]!.data as Float32Array);
      // Plain comparisons: the toolbox's chai matchers turn closeTo/within into bigint matchers in the full suite.
      (y.data as Float32Array).forEach((v, i) => expect(Math.abs(v - ref[i]!) <= 1e-5 * Math.max(1, Math.abs(ref[i]!)), `y[${i}] = ${v} vs ${ref[i]}`).to.equal(true));
      expect(new Set(ref).size).to.be.greaterThan(10); // not a degenerate model
    });

    it("gives the same bits on repeated runs and with 1 vs 2 intra-op threads", async () => {
      const input = mlpInput(64, 2);
      const first = tensorsHash((await engine.run(mlp.modelId, input)).outputs);
      for (let i = 0; i < 5; i++) expect(tensorsHash((await engine.run(mlp.modelId, input)).outputs)).to.equal(first);
      const twoThreads = await createInferenceEngine({ intraOpNumThreads: 2 });
      try {
        await twoThreads.loadModel(mlp.modelId, mlp.bytes);
        for (let i = 0; i < 3; i++) expect(tensorsHash((await twoThreads.run(mlp.modelId, input)).outputs)).to.equal(first);
      } finally {
        await twoThreads.close();
      }
    });

    it("handles an empty batch", async () => {
      const { outputs } = await engine.run(mlp.modelId, { x: f32([0, 16], []) });
      expect(outputs["y"]!.dims).to.deep.equal([0, 4]);
    });
  });

  describe("model loading", () => {
    it("refuses a file whose sha256 is not the model id", async () => {
      const other = buildMlpModel({ seed: 99 });
      try {
        await engine.loadModel(other.modelId, mlp.bytes);
        expect.fail("loaded a model under the wrong id");
      } catch (e) {
        expect(e).to.be.instanceOf(ModelHashMismatchError);
        expect((e as ModelHashMismatchError).expected).to.equal(other.modelId);
        expect((e as ModelHashMismatchError).actual).to.equal(mlp.modelId);
      }
      expect(engine.hasModel(other.modelId)).to.equal(false);
      const err = await engine.loadModel(mlp.modelId, pretrainedClsModelPath()).catch((e: unknown) => e);
      // already loaded under that id: the cached session is returned without touching the file
      expect(err).to.not.be.instanceOf(Error);
      const err2 = await engine.loadModel(other.modelId, pretrainedClsModelPath()).catch((e: unknown) => e);
      expect(err2).to.be.instanceOf(ModelHashMismatchError);
      expect((err2 as ModelHashMismatchError).actual).to.equal(PRETRAINED_CLS.modelId);
      const err3 = await engine.loadModel("0x1234", mlp.bytes).catch((e: unknown) => e);
      expect(err3).to.be.instanceOf(InvalidModelIdError);
    });

    it("deduplicates concurrent loads of one id, and a failed load doesn't poison the next", async () => {
      const e = await createInferenceEngine();
      try {
        const m = buildMlpModel({ seed: 6 });
        const [bad, good1, good2] = await Promise.allSettled([
          e.loadModel(m.modelId, mlp.bytes), // wrong bytes: fails
          e.loadModel(m.modelId, m.bytes),
          e.loadModel(m.modelId, m.bytes),
        ]);
        expect(bad.status).to.equal("rejected");
        expect(good1.status).to.equal("fulfilled");
        expect(good2.status).to.equal("fulfilled");
        expect((good1 as PromiseFulfilledResult<unknown>).value).to.equal((good2 as PromiseFulfilledResult<unknown>).value);
        expect(e.loadedModels()).to.have.length(1);
      } finally {
        await e.close();
      }
    });

    it("loads from a path and accepts an upper-case id", async () => {
      const dir = mkdtempSync(join(tmpdir(), "veil-inference-"));
      try {
        const m = buildMlpModel({ seed: 5 });
        const path = join(dir, "mlp.onnx");
        writeFileSync(path, m.bytes);
        const e = await createInferenceEngine();
        try {
          const info = await e.loadModel(`0x${m.modelId.slice(2).toUpperCase()}`, path);
          expect(info.modelId).to.equal(m.modelId);
          expect(info.byteLength).to.equal(m.bytes.length);
          expect((await e.run(m.modelId, mlpInput(1, 0))).outputs["y"]!.dims).to.deep.equal([1, 4]);
        } finally {
          await e.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("checks registered runtime profiles", async () => {
      const local = engine.localRuntimeProfile();
      expect(local).to.deep.equal(await localRuntimeProfile());
      expect(local.ortVersion).to.equal(ORT_VERSION).and.to.match(/^\d+\.\d+\.\d+/);
      expect(local.sequential).to.equal(true);
      expect(local.graphOptimizationLevel).to.equal("all");
      const good: RuntimeProfile = { ...local, opset: 17, executionProvider: "cpu" };
      expect(engine.checkProfile(good)).to.deep.equal([]);
      expect(engine.checkProfile({ ...good, ortVersion: "1.29.0" })).to.have.length(1);
      expect(engine.checkProfile({ ...good, executionProvider: "rocm" })).to.have.length(1);
      expect(engine.checkProfile({ ...good, sequential: false })).to.have.length(1);
      expect(engine.checkProfile({ ...good, opset: local.opset + 1 })).to.have.length(1);
      expect(engine.checkProfile({ ...good, graphOptimizationLevel: "layout" as never })).to.have.length(1);

      const e = await createInferenceEngine();
      try {
        const err = await e.loadModel(mlp.modelId, mlp.bytes, { ...good, opset: 18 }).catch((x: unknown) => x);
        expect(err).to.be.instanceOf(RuntimeProfileMismatchError);
        expect((err as RuntimeProfileMismatchError).reasons.join()).to.match(/declared opset 17/);
        const err2 = await e.loadModel(mlp.modelId, mlp.bytes, { ...good, ortVersion: "0.0.1" }).catch((x: unknown) => x);
        expect(err2).to.be.instanceOf(RuntimeProfileMismatchError);
        const info = await e.loadModel(mlp.modelId, mlp.bytes, { ...good, graphOptimizationLevel: "disabled" });
        expect(info.profile.graphOptimizationLevel).to.equal("disabled");
        // the same model id cannot be re-registered under a different profile in one engine
        const err3 = await e.loadModel(mlp.modelId, mlp.bytes, good).catch((x: unknown) => x);
        expect(err3).to.be.instanceOf(RuntimeProfileMismatchError);
        // unfused Gemm+Relu on CPU happens to give the same bits for this model
        const input = mlpInput(8, 3);
        expect(bytesHex((await e.run(mlp.modelId, input)).outputs)).to.equal(bytesHex((await engine.run(mlp.modelId, input)).outputs));
      } finally {
        await e.close();
      }
    });

    it("knows the highest opset the runtime loads", async () => {
      const max = await maxSupportedOpset();
      expect(max).to.be.at.least(17);
      const e = await createInferenceEngine();
      try {
        const ok = buildIdentityModel({ opset: max });
        await e.loadModel(ok.modelId, ok.bytes);
        const tooNew = buildIdentityModel({ opset: max + 1 });
        const err = await e.loadModel(tooNew.modelId, tooNew.bytes).catch((x: unknown) => x);
        expect(err).to.be.instanceOf(RuntimeProfileMismatchError);
      } finally {
        await e.close();
      }
    });

    it("rejects runs on models that are not loaded", async () => {
      const err = await engine.run(buildMlpModel({ seed: 1000 }).modelId, mlpInput(1, 1)).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(ModelNotLoadedError);
    });
  });

  describe("invalid inputs", () => {
    const cases: [string, () => TensorMap, string][] = [
      ["missing", () => ({}), "invalid_input:missing:x"],
      ["unknown", () => ({ ...mlpInput(1, 1), z: f32([1], [1]) }), "invalid_input:unknown:z"],
      ["dtype", () => ({ x: { type: "float64", dims: [1, 16], data: new Float64Array(16) } }), "invalid_input:dtype:x:float32:float64"],
      ["fixed dim", () => ({ x: f32([1, 15], new Array(15).fill(0)) }), "invalid_input:shape:x:[?,16]:[1,15]"],
      ["rank", () => ({ x: f32([16], new Array(16).fill(0)) }), "invalid_input:shape:x:[?,16]:[16]"],
      ["rank 3", () => ({ x: f32([1, 1, 16], new Array(16).fill(0)) }), "invalid_input:shape:x:[?,16]:[1,1,16]"],
    ];
    for (const [label, inputs, code] of cases) {
      it(`${label} -> ${code}`, async () => {
        const r = await engine.run(mlp.modelId, inputs());
        expect(r.invalid).to.equal(code);
        expect(readInvalidInput(r.outputs)).to.equal(code);
        expect(tensorsHash(r.outputs)).to.equal(tensorsHash(invalidInputResult(code)));
        expect(r.batchJobs).to.equal(0);
      });
    }

    it("reports the first problem in canonical order", async () => {
      const i64 = (dims: number[]): Tensor => ({ type: "int64", dims, data: new BigInt64Array(dims.reduce((a, b) => a * b, 1)) });
      const run = async (m: TensorMap) => (await engine.run(ints.modelId, m)).invalid;
      expect(await run({})).to.equal("invalid_input:missing:a");
      expect(await run({ b: i64([1, 3]), zz: i64([1]), c: i64([1]) })).to.equal("invalid_input:missing:a");
      expect(await run({ a: i64([1, 3]), b: i64([1, 3]), zz: i64([1]), c: i64([1]) })).to.equal("invalid_input:unknown:c");
      expect(await run({ a: i64([2, 4]), b: f32([1, 3], [1, 2, 3]) })).to.equal("invalid_input:shape:a:[?,3]:[2,4]");
      expect(await run({ a: i64([2, 3]), b: f32([1, 3], [1, 2, 3]) })).to.equal("invalid_input:dtype:b:int64:float32");
      expect(engine.validateInputs(ints.modelId, { a: i64([2, 3]), b: i64([5, 3]) })).to.equal(undefined);
    });

    it("refuses (does not commit to) inputs above the operator's size limit", async () => {
      const small = await createInferenceEngine({ maxInputElements: 100 });
      try {
        await small.loadModel(mlp.modelId, mlp.bytes);
        expect((await small.run(mlp.modelId, mlpInput(6, 1))).invalid).to.equal(undefined);
        const err = await small.run(mlp.modelId, mlpInput(7, 1)).catch((e: unknown) => e);
        expect(err).to.be.instanceOf(InputTooLargeError);
        expect((err as InputTooLargeError).elements).to.equal(112);
      } finally {
        await small.close();
      }
    });

    it("throws on structurally malformed tensors", async () => {
      const err = await engine.run(mlp.modelId, { x: f32([2, 16], new Array(16).fill(0)) }).catch((e: unknown) => e);
      expect(err).to.have.property("code", "INVALID_TENSOR");
    });
  });

  describe("int64 model", () => {
    it("computes sum and scaled with wrapping int64 arithmetic", async () => {
      const a = BigInt64Array.of(1n, -2n, 3n, 2n ** 62n, -(2n ** 63n), 9n);
      const b = BigInt64Array.of(10n, 20n, -30n, 2n ** 62n, -1n, 0n);
      const { outputs } = await engine.run(ints.modelId, { a: { type: "int64", dims: [2, 3], data: a }, b: { type: "int64", dims: [2, 3], data: b } });
      const sum = [...a].map((x, i) => BigInt.asIntN(64, x + b[i]!));
      const scaled = sum.map((s, i) => BigInt.asIntN(64, s * ints.k[i % 3]!));
      expect(outputs["sum"]!.type).to.equal("int64");
      expect([...(outputs["sum"]!.data as BigInt64Array)]).to.deep.equal(sum);
      expect([...(outputs["scaled"]!.data as BigInt64Array)]).to.deep.equal(scaled);
      expect(Object.keys(outputs).sort()).to.deep.equal(["scaled", "sum"]);
    });
  });

  describe("micro-batching", () => {
    it("gives bytes identical to unbatched runs (verified model, mixed row counts)", async () => {
      const samples = [1, 2, 3, 4, 5].map((s) => mlpInput(1, 100 + s));
      const batched = await createInferenceEngine({ batchWindowMs: 5, maxBatchRows: 16 });
      try {
        const info = await batched.loadModel(mlp.modelId, mlp.bytes, undefined, { batching: { samples } });
        expect(info.batching.enabled, JSON.stringify(info.batching)).to.equal(true);
        expect(info.batching.verification).to.deep.include({ exact: true, mismatches: 0 });
        const inputs = Array.from({ length: 40 }, (_, i) => mlpInput(i % 7 === 0 ? 3 : 1, i));
        const [viaBatch, alone] = await Promise.all([
          Promise.all(inputs.map((x) => batched.run(mlp.modelId, x))),
          Promise.all(inputs.map((x) => engine.run(mlp.modelId, x))),
        ]);
        viaBatch.forEach((r, i) => {
          expect(bytesHex(r.outputs), `job ${i}`).to.equal(bytesHex(alone[i]!.outputs));
          expect(r.outputs["y"]!.dims).to.deep.equal([inputs[i]!["x"]!.dims[0], 4]);
        });
        expect(alone.every((r) => r.batchJobs === 1)).to.equal(true);
        expect(Math.max(...viaBatch.map((r) => r.batchJobs))).to.be.greaterThan(1);
        const stats = batched.stats();
        expect(stats.batchedRuns).to.be.greaterThan(0);
        expect(stats.runs).to.be.lessThan(inputs.length);
        expect(stats.fallbackJobs).to.equal(0);
        expect(stats).to.deep.include({ pending: 0, inFlight: 0, running: 0, queued: 0 });
        // each job owns its output memory
        const y0 = viaBatch[1]!.outputs["y"]!.data;
        expect(y0.byteOffset).to.equal(0);
        expect(y0.buffer.byteLength).to.equal(y0.byteLength);
      } finally {
        await batched.close();
      }
    });

    it("batches the int64 model and keeps invalid jobs out of batches", async () => {
      const batched = await createInferenceEngine();
      try {
        await batched.loadModel(ints.modelId, ints.bytes, undefined, { batching: true });
        const job = (i: number): TensorMap => ({
          a: { type: "int64", dims: [1, 3], data: BigInt64Array.of(BigInt(i), 2n, 3n) },
          b: { type: "int64", dims: [1, 3], data: BigInt64Array.of(5n, BigInt(-i), 2n ** 62n) },
        });
        const jobs: TensorMap[] = Array.from({ length: 10 }, (_, i) => job(i));
        jobs.push({ a: job(0)["a"]! });
        const results = await Promise.all(jobs.map((j) => batched.run(ints.modelId, j)));
        expect(results[10]!.invalid).to.equal("invalid_input:missing:b");
        for (let i = 0; i < 10; i++) {
          expect(bytesHex(results[i]!.outputs)).to.equal(bytesHex((await engine.run(ints.modelId, jobs[i]!)).outputs));
        }
        expect(batched.stats().batchedJobs).to.equal(10);
      } finally {
        await batched.close();
      }
    });

    it("falls back to separate runs when outputs are not batch-shaped, and switches batching off", async () => {
      const colsum = buildColumnSumModel();
      const e = await createInferenceEngine();
      try {
        const info = await e.loadModel(colsum.modelId, colsum.bytes, undefined, { batching: true });
        expect(info.batching.enabled).to.equal(true);
        const inputs = [1, 2, 3, 4].map((k) => ({ x: f32([2, 4], [k, k, k, k, 1, 2, 3, 4]) }));
        const results = await Promise.all(inputs.map((x) => e.run(colsum.modelId, x)));
        results.forEach((r, i) => expect([...(r.outputs["s"]!.data as Float32Array)]).to.deep.equal([i + 2, i + 3, i + 4, i + 5]));
        expect(e.getModel(colsum.modelId).batching.enabled).to.equal(false);
        expect(e.stats().fallbackJobs).to.equal(4);
        const v = await e.verifyBatching(colsum.modelId, inputs);
        expect(v.exact).to.equal(false);
      } finally {
        await e.close();
      }
    });

    it("refuses batching for models without a dynamic dim 0", async () => {
      const e = await createInferenceEngine();
      try {
        const fixed = buildIdentityModel({ shape: [4, "M"] });
        const info = await e.loadModel(fixed.modelId, fixed.bytes, undefined, { batching: true });
        expect(info.batching).to.deep.include({ enabled: false, eligible: false });
        expect(() => e.setBatching(fixed.modelId, true)).to.throw(/dynamic dim 0/);
        const off = await e.loadModel(mlp.modelId, mlp.bytes, undefined, { batching: false });
        expect(off.batching).to.deep.include({ enabled: false, eligible: true });
        e.setBatching(mlp.modelId, true);
        expect(e.getModel(mlp.modelId).batching.enabled).to.equal(true);
        const r = await Promise.all([1, 2].map((i) => e.run(mlp.modelId, mlpInput(1, i))));
        expect(r.map((x) => x.batchJobs)).to.deep.equal([2, 2]);
      } finally {
        await e.close();
      }
    });
  });

  describe("pretrained PaddleOCR direction classifier", () => {
    it("is the expected file", () => {
      expect(cls.modelId).to.equal(PRETRAINED_CLS.modelId);
      expect(cls.bytes.length).to.be.within(500_000, 700_000);
    });

    it("loads, runs a valid input, and is deterministic (runs, threads, batching)", async () => {
      const e = await createInferenceEngine();
      const e2 = await createInferenceEngine({ intraOpNumThreads: 2 });
      try {
        const info = await e.loadModel(PRETRAINED_CLS.modelId, cls.path, undefined, {
          batching: { samples: [1, 2, 3].map((s) => clsSampleInput(1, s)) },
        });
        expect(info.inputs).to.deep.equal([PRETRAINED_CLS.input]);
        expect(info.outputs).to.deep.equal([PRETRAINED_CLS.output]);
        expect(info.batching.verification?.exact, JSON.stringify(info.batching)).to.equal(true);
        await e2.loadModel(PRETRAINED_CLS.modelId, cls.bytes);

        const input = clsSampleInput(1, 11);
        expect(input["x"]!.dims).to.deep.equal(PRETRAINED_CLS.inputDims(1));
        const r = await e.run(PRETRAINED_CLS.modelId, input);
        const out = r.outputs[PRETRAINED_CLS.output.name]!;
        expect(out.type).to.equal("float32");
        expect(out.dims).to.deep.equal([1, 2]);
        const [p0, p180] = out.data as Float32Array;
        expect(Math.abs(p0! + p180! - 1) <= 1e-5, `p0 + p180 = ${p0! + p180!}`).to.equal(true);
        expect(p0! >= 0 && p0! <= 1, `p0 = ${p0}`).to.equal(true);

        const h = tensorsHash(r.outputs);
        for (let i = 0; i < 3; i++) expect(tensorsHash((await e.run(PRETRAINED_CLS.modelId, input)).outputs)).to.equal(h);
        expect(tensorsHash((await e2.run(PRETRAINED_CLS.modelId, input)).outputs)).to.equal(h);
        const concurrent = await Promise.all([input, clsSampleInput(1, 12), input].map((x) => e.run(PRETRAINED_CLS.modelId, x)));
        expect(tensorsHash(concurrent[0]!.outputs)).to.equal(h);
        expect(tensorsHash(concurrent[2]!.outputs)).to.equal(h);

        // invalid: wrong channel count is a fixed dim
        const bad = await e.run(PRETRAINED_CLS.modelId, { x: f32([1, 1, 48, 192], new Float32Array(48 * 192)) });
        expect(bad.invalid).to.equal("invalid_input:shape:x:[?,3,?,?]:[1,1,48,192]");
        // outputs survive the canonical encoding
        expect(tensorsHash(decodeTensors(encodeTensors(r.outputs)))).to.equal(h);
      } finally {
        await Promise.all([e.close(), e2.close()]);
      }
    });
  });

  describe("concurrency", () => {
    it("bounds the runs in flight and queues the rest", async () => {
      const e = await createInferenceEngine({ maxConcurrency: 2 });
      try {
        await e.loadModel(mlp.modelId, mlp.bytes);
        const jobs = Array.from({ length: 10 }, (_, i) => e.run(mlp.modelId, mlpInput(2, i)));
        expect(e.stats()).to.deep.include({ running: 2, queued: 8, inFlight: 10 });
        let maxRunning = 0;
        const poll = setInterval(() => (maxRunning = Math.max(maxRunning, e.stats().running)), 0);
        const results = await Promise.all(jobs);
        clearInterval(poll);
        expect(maxRunning).to.be.at.most(2);
        expect(e.stats()).to.deep.include({ running: 0, queued: 0, inFlight: 0, runs: 10 });
        for (let i = 0; i < 10; i++) {
          expect(bytesHex(results[i]!.outputs)).to.equal(bytesHex((await engine.run(mlp.modelId, mlpInput(2, i))).outputs));
        }
      } finally {
        await e.close();
      }
    });
  });

  describe("lifecycle", () => {
    it("close() finishes accepted jobs, then refuses work", async () => {
      const e = await createInferenceEngine({ batchWindowMs: 50 });
      await e.loadModel(mlp.modelId, mlp.bytes, undefined, { batching: true });
      const pending = [1, 2, 3].map((i) => e.run(mlp.modelId, mlpInput(1, i)));
      expect(e.stats().pending).to.equal(3);
      await e.close();
      const results = await Promise.all(pending);
      expect(results.map((r) => r.batchJobs)).to.deep.equal([3, 3, 3]);
      expect(e.isClosed).to.equal(true);
      expect(await e.run(mlp.modelId, mlpInput(1, 1)).catch((x: unknown) => x)).to.be.instanceOf(EngineClosedError);
      expect(await e.loadModel(mlp.modelId, mlp.bytes).catch((x: unknown) => x)).to.be.instanceOf(EngineClosedError);
    });

    it("unloadModel() releases one model", async () => {
      const e = await createInferenceEngine();
      try {
        await e.loadModel(ints.modelId, ints.bytes);
        await e.unloadModel(ints.modelId);
        expect(e.hasModel(ints.modelId)).to.equal(false);
        expect(await e.run(ints.modelId, {}).catch((x: unknown) => x)).to.be.instanceOf(ModelNotLoadedError);
      } finally {
        await e.close();
      }
    });
  });
});
