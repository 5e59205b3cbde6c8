/**
 * Model signatures: read from real ONNX files (generated and pretrained, cross-checked against onnxruntime), the
 * canonical form, the input checks, and the registration/submission flow on a chain: a wrong input throws a named
 * error before anything is signed (nonce, balances, allowance and block number unchanged).
 */
import { expect } from "chai";
import { network } from "hardhat";
import { readFileSync } from "node:fs";
import ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { erc20Abi, type Address, type Hex } from "viem";
import { getBlockNumber, getTransactionCount, readContract } from "viem/actions";
import {
  InvalidModelRegistrationError,
  InvalidSignatureError,
  ModelInputError,
  OnnxModelError,
  checkInputs,
  encodeSignature,
  encodeTensors,
  getModel,
  inspectOnnxModel,
  jobIdTag,
  modelRegistrationFromFile,
  parseJobId,
  parseSignature,
  registerModel,
  sha256Hex,
  submitJob,
  submitJobs,
  tensorsFromJson,
  type ModelSignature,
  type TensorMap,
  type VeilAddresses,
} from "../../packages/sdk/src/index.js";
import { buildIdentityModel, buildIntModel, buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { clsSampleInput, loadPretrainedClsModel, pretrainedClsModelPath } from "../../packages/worker/src/models/pretrained.js";
import { deployVeil, PRICE, USDC, type Connection } from "../helpers/fixture.js";
import { addressesOf, viemClients } from "./helpers/viem.js";
import { jobEscrowAbi } from "../../packages/contracts/src/abis.js";

const { onnx } = onnxProto;

const assets = pretrainedClsModelPath().replace(/[^/]+$/, "");
const PRETRAINED = {
  cls: "ch_ppocr_mobile_v2.0_cls_infer.onnx",
  det: "ch_PP-OCRv4_det_infer.onnx",
  rec: "ch_PP-OCRv4_rec_infer.onnx",
} as const;
const readModel = (file: string) => new Uint8Array(readFileSync(assets + file));

/** What onnxruntime itself reports for a model's inputs and outputs (symbolic dims by name). */
async function ortSignature(bytes: Uint8Array): Promise<ModelSignature> {
  const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 });
  try {
    const conv = (m: readonly ort.InferenceSession.ValueMetadata[]) =>
      m.map((v) => {
        if (!v.isTensor) throw new Error("not a tensor");
        return { name: v.name, type: v.type as never, dims: v.shape.map((d) => (d === "" ? null : d)) };
      });
    return parseSignature(encodeSignature({ inputs: conv(s.inputMetadata), outputs: conv(s.outputMetadata) }))!;
  } finally {
    await s.release();
  }
}

const connection: Connection = await network.create({ network: "hardhat", chainType: "l1" });
const { publicClient, wallet } = viemClients(connection);

const f32 = (dims: number[], fill = 0.5): TensorMap[string] => ({ type: "float32", dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(fill) });

describe("model signatures", () => {
  describe("inspectOnnxModel", () => {
    it("reads id, opset and signature of generated models, as onnxruntime reports them", async () => {
      for (const m of [buildMlpModel({ seed: 3 }), buildIntModel({ seed: 2 }), buildIdentityModel({ opset: 9 })]) {
        const info = inspectOnnxModel(m.bytes);
        expect(info.modelId).to.equal(m.modelId);
        expect(info.opset).to.equal(m.opset);
        expect(info.irVersion).to.equal(m.irVersion);
        expect(info.signature).to.deep.equal(await ortSignature(m.bytes));
      }
      expect(encodeSignature(inspectOnnxModel(buildIntModel().bytes).signature)).to.equal(
        '{"inputs":[{"dims":["N",3],"name":"a","type":"int64"},{"dims":["N",3],"name":"b","type":"int64"}],' +
          '"outputs":[{"dims":["N",3],"name":"scaled","type":"int64"},{"dims":["N",3],"name":"sum","type":"int64"}]}',
      );
    });

    it("reads the pretrained PaddleOCR cls (opset 9), det (opset 11) and rec (opset 9) models", async () => {
      const expected = {
        cls: { opset: 9, sig: '{"inputs":[{"dims":["p2o.DynamicDimension.0",3,"p2o.DynamicDimension.1","p2o.DynamicDimension.2"],"name":"x","type":"float32"}],"outputs":[{"dims":["p2o.DynamicDimension.3",2],"name":"softmax_0.tmp_0","type":"float32"}]}' },
        det: { opset: 11, sig: '{"inputs":[{"dims":["p2o.DynamicDimension.0",3,"p2o.DynamicDimension.1","p2o.DynamicDimension.2"],"name":"x","type":"float32"}],"outputs":[{"dims":["p2o.DynamicDimension.3",1,"p2o.DynamicDimension.4","p2o.DynamicDimension.5"],"name":"sigmoid_0.tmp_0","type":"float32"}]}' },
        rec: { opset: 9, sig: '{"inputs":[{"dims":["p2o.DynamicDimension.0",3,48,"p2o.DynamicDimension.1"],"name":"x","type":"float32"}],"outputs":[{"dims":["p2o.DynamicDimension.2","p2o.DynamicDimension.3",6625],"name":"softmax_11.tmp_0","type":"float32"}]}' },
      };
      for (const [k, file] of Object.entries(PRETRAINED) as [keyof typeof PRETRAINED, string][]) {
        const bytes = readModel(file);
        const info = inspectOnnxModel(bytes);
        expect(info.opset, k).to.equal(expected[k].opset);
        expect(encodeSignature(info.signature), k).to.equal(expected[k].sig);
        expect(info.signature, k).to.deep.equal(await ortSignature(bytes));
      }
      expect(inspectOnnxModel(readModel(PRETRAINED.cls)).modelId).to.equal(loadPretrainedClsModel().modelId);
    });

    it("leaves initializers listed as graph inputs out, and refuses files it cannot describe", () => {
      const vi = (name: string, elemType: number, dims: (number | string)[]) =>
        onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } } });
      const model = (inputs: ReturnType<typeof vi>[], opset: { domain: string; version: number }[] = [{ domain: "", version: 7 }]) =>
        new Uint8Array(
          onnx.ModelProto.encode(
            onnx.ModelProto.create({
              irVersion: 3,
              opsetImport: opset,
              graph: {
                node: [{ opType: "Add", input: ["x", "w"], output: ["y"] }],
                initializer: [onnx.TensorProto.create({ name: "w", dims: [2], dataType: 1, floatData: [1, 2] })],
                input: inputs,
                output: [vi("y", 1, [2])],
              },
            }),
          ).finish(),
        );
      const ok = inspectOnnxModel(model([vi("x", 1, [2]), vi("w", 1, [2])]));
      expect(ok.signature.inputs).to.deep.equal([{ name: "x", type: "float32", dims: [2] }]);
      expect(ok.opset).to.equal(7);

      const err = (bytes: Uint8Array) => {
        try {
          inspectOnnxModel(bytes);
        } catch (e) {
          expect(e).to.be.instanceOf(OnnxModelError);
          return (e as OnnxModelError).shortMessage;
        }
        throw new Error("no error");
      };
      expect(err(model([vi("x", 8, [2])]))).to.equal('Not a usable ONNX model: input "x" has element type string: Veil serves float32, uint8, int8, uint16, int16, int32, int64, bool, float16, float64, uint32, uint64 tensors only');
      expect(err(model([vi("x", 1, [2])], [{ domain: "ai.onnx.ml", version: 3 }]))).to.equal("Not a usable ONNX model: the model imports no default-domain (ai.onnx) opset");
      expect(err(new Uint8Array([0x0a, 0xff]))).to.match(/^Not a usable ONNX model: malformed protobuf/);
      expect(err(new TextEncoder().encode("not a model"))).to.match(/^Not a usable ONNX model: /);
      expect(err(buildMlpModel().bytes.subarray(0, 200))).to.match(/^Not a usable ONNX model: malformed protobuf \(truncated/);
    });
  });

  describe("canonical form", () => {
    const sig: ModelSignature = {
      inputs: [
        { type: "int64", name: "b", dims: ["N", 3] },
        { dims: ["N", null], name: "a", type: "float16" },
        { name: "é", type: "bool", dims: null },
      ],
      outputs: [{ name: "y", type: "float32", dims: [] }],
    };

    it("is compact JSON with sorted keys and entries, independent of the order it was built in", () => {
      const text = encodeSignature(sig);
      expect(text).to.equal(
        '{"inputs":[{"dims":["N",null],"name":"a","type":"float16"},{"dims":["N",3],"name":"b","type":"int64"},{"dims":null,"name":"é","type":"bool"}],"outputs":[{"dims":[],"name":"y","type":"float32"}]}',
      );
      const shuffled = { outputs: sig.outputs, inputs: [...sig.inputs].reverse() };
      expect(encodeSignature(shuffled)).to.equal(text);
      expect(encodeSignature(parseSignature(text)!)).to.equal(text);
      expect(parseSignature(JSON.stringify(JSON.parse(text), null, 2))).to.deep.equal(parseSignature(text));
      expect(parseSignature("")).to.equal(null);
    });

    it("rejects malformed signatures with the path of the offending value", () => {
      const bad: [unknown, RegExp][] = [
        [{ inputs: [] }, /outputs: expected an array/],
        [{ inputs: [{ name: "x", type: "string", dims: [] }], outputs: [] }, /inputs\[0\]\.type: unknown dtype "string"/],
        [{ inputs: [{ name: "x", type: "float32", dims: [-1] }], outputs: [] }, /inputs\[0\]\.dims\[0\]: expected a non-negative integer/],
        [{ inputs: [{ name: "x", type: "float32", dims: [1.5] }], outputs: [] }, /dims\[0\]/],
        [{ inputs: [{ name: "", type: "float32", dims: [] }], outputs: [] }, /inputs\[0\]\.name/],
        [{ inputs: [{ name: "x", type: "float32", dims: [] }, { name: "x", type: "int8", dims: [] }], outputs: [] }, /"x" appears twice/],
        [{ inputs: [{ name: "x", type: "float32", dims: [], extra: 1 }], outputs: [] }, /inputs\[0\]\.extra: unexpected field/],
      ];
      for (const [value, msg] of bad) {
        expect(() => encodeSignature(value as ModelSignature)).to.throw(InvalidSignatureError, msg);
        expect(() => parseSignature(JSON.stringify(value))).to.throw(InvalidSignatureError, msg);
      }
      expect(() => parseSignature("{")).to.throw(InvalidSignatureError, /not valid JSON/);
    });
  });

  describe("checkInputs", () => {
    const sig: ModelSignature = {
      inputs: [
        { name: "a", type: "int64", dims: ["N", 3] },
        { name: "b", type: "int64", dims: ["N", 3] },
      ],
      outputs: [],
    };
    const i64 = (dims: number[]): TensorMap[string] => ({ type: "int64", dims, data: new BigInt64Array(dims.reduce((x, y) => x * y, 1)) });
    const problems = (s: ModelSignature, inputs: TensorMap, opts = {}) => {
      try {
        checkInputs(s, inputs, opts);
        return [];
      } catch (e) {
        expect(e).to.be.instanceOf(ModelInputError);
        return (e as ModelInputError).problems.map((p) => p.message);
      }
    };

    it("accepts inputs that fit, any size of a symbolic dim, including 0", () => {
      expect(problems(sig, { a: i64([2, 3]), b: i64([2, 3]) })).to.deep.equal([]);
      expect(problems(sig, { a: i64([0, 3]), b: i64([0, 3]) })).to.deep.equal([]);
      expect(problems({ inputs: [{ name: "x", type: "float32", dims: null }], outputs: [] }, { x: f32([2, 2, 2]) })).to.deep.equal([]);
      expect(problems({ inputs: [{ name: "x", type: "float32", dims: [null, 4] }], outputs: [] }, { x: f32([7, 4]) })).to.deep.equal([]);
    });

    it("names every missing, unknown, mistyped and misshapen input, with the codes operators would commit", () => {
      expect(problems(sig, { a: i64([1, 3]), c: i64([1, 3]) })).to.deep.equal(['missing input "b" (int64[N,3])', 'unknown input "c": the model takes "a", "b"']);
      expect(problems(sig, { a: { type: "int32", dims: [1, 3], data: new Int32Array(3) }, b: i64([1, 3]) })).to.deep.equal(['input "a" is int32, the model takes int64']);
      expect(problems(sig, { a: i64([1, 3, 1]), b: i64([1, 4]) })).to.deep.equal([
        'input "a" has 3 dims [1,3,1], the model takes 2: [N,3]',
        'input "b" has shape [1,4], the model takes [N,3] (dim 1 must be 3, not 4)',
      ]);
      const err = (() => {
        try {
          checkInputs(sig, { a: i64([1, 4]), b: i64([1, 3]) }, { modelId: `0x${"ab".repeat(32)}` });
        } catch (e) {
          return e as ModelInputError;
        }
      })()!;
      expect(err.problems[0]!.code).to.equal("invalid_input:shape:a:[?,3]:[1,4]");
      expect(err.shortMessage).to.equal(`Inputs do not fit model 0x${"ab".repeat(32)}: input "a" has shape [1,4], the model takes [N,3] (dim 1 must be 3, not 4)`);
      expect(err.message).to.contain("The model takes:\n  a: int64[N,3]\n  b: int64[N,3]");
    });

    it("requires one size per symbolic dim across inputs (and within one)", () => {
      expect(problems(sig, { a: i64([2, 3]), b: i64([3, 3]) })).to.deep.equal(['dim "N" must have one size: it is 2 in "a" (dim 0) but 3 in "b" (dim 0)']);
      const square: ModelSignature = { inputs: [{ name: "m", type: "float32", dims: ["K", "K"] }], outputs: [] };
      expect(problems(square, { m: f32([2, 2]) })).to.deep.equal([]);
      expect(problems(square, { m: f32([2, 3]) })).to.deep.equal(['dim "K" must have one size: it is 2 in "m" (dim 0) but 3 in "m" (dim 1)']);
    });

    it("refuses NaN and ±Infinity in float inputs unless allowNonFinite, including the JSON form's strings", () => {
      const s: ModelSignature = { inputs: [{ name: "x", type: "float32", dims: [2, 3] }, { name: "h", type: "float16", dims: [2] }], outputs: [] };
      const x = f32([2, 3]);
      (x.data as Float32Array)[4] = NaN;
      (x.data as Float32Array)[5] = -Infinity;
      const h: TensorMap[string] = { type: "float16", dims: [2], data: Uint16Array.of(0x3c00, 0x7c00) };
      expect(problems(s, { x, h })).to.deep.equal([
        'input "h" holds Infinity at [1]: non-finite floats are refused unless you pass allowNonFinite',
        'input "x" holds NaN at [1,1] (2 non-finite values in all): non-finite floats are refused unless you pass allowNonFinite',
      ]);
      expect(problems(s, { x, h }, { allowNonFinite: true })).to.deep.equal([]);
      // The JSON form spells them as strings: they parse, and the check catches them with their position.
      const fromJson = tensorsFromJson('{"x": {"type": "float32", "dims": [2, 3], "data": [0, 1, 2, "Infinity", 4, 5]}, "h": {"type": "float16", "dims": [2], "data": [1, "NaN"]}}');
      expect(problems(s, fromJson)).to.deep.equal([
        'input "h" holds NaN at [1]: non-finite floats are refused unless you pass allowNonFinite',
        'input "x" holds Infinity at [1,0]: non-finite floats are refused unless you pass allowNonFinite',
      ]);
      // Integer inputs have no non-finite values to refuse; -0 is finite.
      expect(problems(s, { x: { type: "float32", dims: [2, 3], data: Float32Array.of(-0, 0, 1, 2, 3, 4) }, h: { type: "float16", dims: [2], data: Uint16Array.of(0x8000, 0x7bff) } })).to.deep.equal([]);
    });

    it("checks the real classifier's input: its sample fits, a wrong layout does not", () => {
      const cls = inspectOnnxModel(readModel(PRETRAINED.cls)).signature;
      expect(problems(cls, clsSampleInput(2))).to.deep.equal([]);
      expect(problems(cls, { x: f32([1, 48, 192, 3]) })).to.deep.equal([
        'input "x" has shape [1,48,192,3], the model takes [p2o.DynamicDimension.0,3,p2o.DynamicDimension.1,p2o.DynamicDimension.2] (dim 1 must be 3, not 48)',
      ]);
    });
  });

  describe("registration and submission on a chain", () => {
    let addresses: VeilAddresses;
    let owner: Address, user: Address;
    const mlp = buildMlpModel({ seed: 77 });
    const cls = readModel(PRETRAINED.cls);
    const good: TensorMap = { x: f32([1, 16]) };

    before(async function () {
      this.timeout(120_000);
      const v = await deployVeil(connection, 2);
      addresses = await addressesOf(v);
      owner = v.modelOwner.address as Address;
      user = v.outsider.address as Address; // a fresh account: no approval to the ledger
      await registerModel(wallet(owner), { addresses, price: PRICE, ...modelRegistrationFromFile(mlp.bytes) });
      await registerModel(wallet(owner), { addresses, price: PRICE, ...modelRegistrationFromFile(cls, { ortVersion: "1.30.0", graphOptimizationLevel: "basic" }) });
      for (const op of v.ops) {
        await v.staking.connect(op).joinModel(mlp.modelId);
        await v.staking.connect(op).joinModel(inspectOnnxModel(cls).modelId);
      }
      await v.usdc.mint(user, 100n * USDC);
    });

    it("registers the file's opset and signature; getModel returns them", async () => {
      const m = await getModel(publicClient, { addresses, modelId: inspectOnnxModel(cls).modelId });
      expect(m.profile).to.deep.equal({ opset: 9, ortVersion: "1.30.0", executionProvider: "cpu", graphOptimizationLevel: 1, sequential: true });
      expect(m.signature).to.deep.equal(inspectOnnxModel(cls).signature);
      expect(m.ioSignature).to.equal(encodeSignature(inspectOnnxModel(cls).signature));
      expect((await getModel(publicClient, { addresses, modelId: mlp.modelId })).profile.opset).to.equal(17);
    });

    it("refuses a registration without an opset or with a bad profile before signing", async () => {
      const nonce = await getTransactionCount(publicClient, { address: owner });
      const id = `0x${"12".repeat(32)}` as Hex;
      const bad = [
        [{ profile: {} as never, signature: null }, /profile\.opset is required/],
        [{ profile: { opset: 17, graphOptimizationLevel: 4 }, signature: null }, /graphOptimizationLevel must be 0/],
        [{ profile: { opset: 17, ortVersion: "latest" }, signature: null }, /ortVersion must be an exact onnxruntime version/],
        [{ profile: { opset: 17 }, signature: undefined as never }, /signature is required/],
      ] as const;
      for (const [p, msg] of bad) {
        const err = await registerModel(wallet(owner), { addresses, modelId: id, price: PRICE, ...p }).catch((e) => e);
        expect(err, String(msg)).to.be.instanceOf(InvalidModelRegistrationError);
        expect(err.shortMessage).to.match(msg);
      }
      expect(() => modelRegistrationFromFile(mlp.bytes, { graphOptimizationLevel: "max" as never })).to.throw(InvalidModelRegistrationError, /one of disabled, basic, extended, all/);
      expect(await getTransactionCount(publicClient, { address: owner })).to.equal(nonce);
    });

    it("a wrong name, dtype, shape or a NaN throws ModelInputError and sends nothing", async () => {
      const state = async () => ({
        nonce: await getTransactionCount(publicClient, { address: user }),
        eth: await publicClient.getBalance({ address: user }),
        usdc: await readContract(publicClient, { address: addresses.feeToken, abi: erc20Abi, functionName: "balanceOf", args: [user] }),
        // The FeeLedger collects the fee: what a payment would have approved or permitted.
        allowance: await readContract(publicClient, {
          address: addresses.feeToken,
          abi: erc20Abi,
          functionName: "allowance",
          args: [user, await readContract(publicClient, { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "ledger" })],
        }),
        block: await getBlockNumber(publicClient, { cacheTime: 0 }),
      });
      const before = await state();
      const nan = f32([1, 16]);
      (nan.data as Float32Array)[3] = NaN;
      const cases: [TensorMap, string][] = [
        [{ input: f32([1, 16]) }, 'missing input "x" (float32[N,16])'],
        [{ x: { type: "float64", dims: [1, 16], data: new Float64Array(16) } }, 'input "x" is float64, the model takes float32'],
        [{ x: f32([1, 8]) }, 'input "x" has shape [1,8], the model takes [N,16] (dim 1 must be 16, not 8)'],
        [{ x: nan }, 'input "x" holds NaN at [0,3]: non-finite floats are refused unless you pass allowNonFinite'],
      ];
      for (const [inputs, message] of cases) {
        const err = await submitJob(wallet(user), { addresses, modelId: mlp.modelId, inputs }).catch((e) => e);
        expect(err, message).to.be.instanceOf(ModelInputError);
        expect(err.problems[0].message).to.equal(message);
        expect(err.shortMessage.startsWith(`Inputs do not fit model ${mlp.modelId}: ${message}`), err.shortMessage).to.equal(true);
      }
      for (const payment of ["deposit", "permit"] as const) {
        const err = await submitJob(wallet(user), { addresses, modelId: mlp.modelId, inputs: { x: f32([2, 15]) }, payment }).catch((e) => e);
        expect(err, payment).to.be.instanceOf(ModelInputError);
      }
      // The real classifier: its own (110 KB) input in the wrong layout is refused before any upload is attempted.
      const uploads: Uint8Array[] = [];
      const uploader = { put: async (b: Uint8Array) => (uploads.push(b), "http://127.0.0.1:1/never") };
      const clsErr = await submitJob(wallet(user), { addresses, modelId: inspectOnnxModel(cls).modelId, inputs: { x: f32([1, 48, 192, 3]) }, uploader }).catch((e) => e);
      expect(clsErr).to.be.instanceOf(ModelInputError);
      expect(uploads).to.have.length(0);
      // A batch with one bad job sends none of them.
      const batchErr = await submitJobs(wallet(user), { addresses, payment: "transfer", jobs: [{ modelId: mlp.modelId, inputs: good }, { modelId: mlp.modelId, inputs: { x: f32([1, 17]) } }] }).catch((e) => e);
      expect(batchErr).to.be.instanceOf(ModelInputError);
      expect(await state()).to.deep.equal(before);

      // Control: the same account's valid input goes through (so the checks above really stood between it and a payment).
      const ok = await submitJob(wallet(user), { addresses, modelId: mlp.modelId, inputs: good });
      expect(ok.jobId).to.be.a("bigint");
      expect((await state()).nonce).to.be.greaterThan(before.nonce);
      // allowNonFinite lets a NaN through to the chain.
      const sent = await submitJob(wallet(user), { addresses, modelId: mlp.modelId, inputs: { x: nan }, allowNonFinite: true });
      // The next record, tagged with this submission's model and input (job ids: tag << 64 | generation << 32 | index).
      expect(parseJobId(sent.jobId)).to.deep.equal({
        tag: jobIdTag(mlp.modelId, sha256Hex(encodeTensors({ x: nan }))),
        generation: 0n,
        index: parseJobId(ok.jobId).index + 1n,
      });
    });

    it("a model registered without a signature is not checked (getModel says so)", async () => {
      const bare = buildMlpModel({ seed: 78 });
      await registerModel(wallet(owner), { addresses, price: PRICE, modelId: bare.modelId, profile: { opset: bare.opset }, signature: null });
      const m = await getModel(publicClient, { addresses, modelId: bare.modelId });
      expect(m.signature).to.equal(null);
      expect(m.ioSignature).to.equal("");
      expect(m.signatureError).to.equal(undefined);
    });
  });
});
