/**
 * ONNX test models built in code with onnx-proto: real, valid `ModelProto` bytes that onnxruntime loads and runs.
 *
 * - {@link buildMlpModel}: `x: float32[N, 16]` -> Gemm(16->32) + Relu -> Gemm(32->4) -> `y: float32[N, 4]`, weights
 *   from a seeded PRNG (different seed -> different bytes -> different model id).
 * - {@link buildIntModel}: `a, b: int64[N, 3]` -> `sum = a + b`, `scaled = (a + b) * k` (k: int64[3] from the seed).
 * - {@link buildIdentityModel}: `x: float32[N]` -> Identity -> `y`, with a chosen opset (used to probe runtimes).
 *
 * Encoding is deterministic: the same parameters always give the same bytes, hence the same model id.
 */
import onnxProto from "onnx-proto";

import { sha256Hex, type Hex, type TensorDType } from "@veil/sdk";

const { onnx } = onnxProto;

/** ONNX IR version written into generated models (IR 8 = ONNX 1.12..1.13, the IR of opset 17). */
export const GENERATED_IR_VERSION = 8;
/** Default-domain opset of generated models. */
export const GENERATED_OPSET = 17;

/** A declared model input or output: `shape` holds fixed dims as numbers and symbolic (dynamic) dims as names. */
export interface ValueSpec {
  readonly name: string;
  readonly type: TensorDType;
  readonly shape: readonly (number | string)[];
}

export interface GeneratedModel {
  /** Serialized ONNX ModelProto. */
  readonly bytes: Uint8Array;
  /** `0x` sha256 of `bytes`: the model's id in the registry. */
  readonly modelId: Hex;
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly opset: number;
  readonly irVersion: number;
}

export interface MlpWeights {
  /** [hidden, inputDim], row-major (Gemm transB = 1, the PyTorch layout). */
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  /** [outputDim, hidden]. */
  readonly w2: Float32Array;
  readonly b2: Float32Array;
}

export interface GeneratedMlp extends GeneratedModel {
  readonly seed: number;
  readonly inputDim: number;
  readonly hidden: number;
  readonly outputDim: number;
  readonly weights: MlpWeights;
}

export interface GeneratedIntModel extends GeneratedModel {
  readonly seed: number;
  /** The per-column multiplier of `scaled`. */
  readonly k: BigInt64Array;
}

/** mulberry32: a tiny deterministic 32-bit PRNG (integer arithmetic only, identical on every platform). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ELEM_TYPE: Record<TensorDType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  int16: onnx.TensorProto.DataType.INT16,
  uint16: onnx.TensorProto.DataType.UINT16,
  int32: onnx.TensorProto.DataType.INT32,
  uint32: onnx.TensorProto.DataType.UINT32,
  int64: onnx.TensorProto.DataType.INT64,
  uint64: onnx.TensorProto.DataType.UINT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

function valueInfo(spec: ValueSpec): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name: spec.name,
    type: {
      tensorType: {
        elemType: ELEM_TYPE[spec.type],
        shape: { dim: spec.shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

/** Raw little-endian bytes of a typed array (generated models assume a little-endian host, as ONNX raw_data does). */
function rawBytes(data: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

function initializer(name: string, type: "float32" | "int64", dims: number[], data: Float32Array | BigInt64Array) {
  return onnx.TensorProto.create({ name, dims, dataType: ELEM_TYPE[type], rawData: rawBytes(data) });
}

function intAttr(name: string, i: number) {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
}

function finish(
  graph: Parameters<typeof onnx.GraphProto.create>[0],
  inputs: ValueSpec[],
  outputs: ValueSpec[],
  opset: number,
  irVersion: number,
): GeneratedModel {
  const model = onnx.ModelProto.create({
    irVersion,
    opsetImport: [{ domain: "", version: opset }],
    producerName: "veil-generate",
    producerVersion: "1",
    graph: { ...graph, input: inputs.map(valueInfo), output: outputs.map(valueInfo) },
  });
  // Copy out of protobufjs' (possibly pooled, Buffer-backed) writer into a plain Uint8Array.
  const bytes = new Uint8Array(onnx.ModelProto.encode(model).finish());
  return { bytes, modelId: sha256Hex(bytes), inputs, outputs, opset, irVersion };
}

export interface MlpOptions {
  /** PRNG seed (uint32). Default 1. */
  seed?: number;
  inputDim?: number;
  hidden?: number;
  outputDim?: number;
}

function uniform(rand: () => number, n: number, bound: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 2 - 1) * bound;
  return out;
}

/** The MLP `y = Gemm(Relu(Gemm(x, W1, b1)), W2, b2)` with seeded weights (Kaiming-uniform-like bounds). */
export function buildMlpModel(options: MlpOptions = {}): GeneratedMlp {
  const { seed = 1, inputDim = 16, hidden = 32, outputDim = 4 } = options;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError("seed must be a uint32");
  const rand = mulberry32(seed);
  const w1 = uniform(rand, hidden * inputDim, 1 / Math.sqrt(inputDim));
  const b1 = uniform(rand, hidden, 1 / Math.sqrt(inputDim));
  const w2 = uniform(rand, outputDim * hidden, 1 / Math.sqrt(hidden));
  const b2 = uniform(rand, outputDim, 1 / Math.sqrt(hidden));
  const inputs: ValueSpec[] = [{ name: "x", type: "float32", shape: ["N", inputDim] }];
  const outputs: ValueSpec[] = [{ name: "y", type: "float32", shape: ["N", outputDim] }];
  const model = finish(
    {
      name: `veil_mlp_seed_${seed}`,
      initializer: [
        initializer("W1", "float32", [hidden, inputDim], w1),
        initializer("B1", "float32", [hidden], b1),
        initializer("W2", "float32", [outputDim, hidden], w2),
        initializer("B2", "float32", [outputDim], b2),
      ],
      node: [
        { name: "fc1", opType: "Gemm", input: ["x", "W1", "B1"], output: ["h"], attribute: [intAttr("transB", 1)] },
        { name: "relu", opType: "Relu", input: ["h"], output: ["h_relu"] },
        { name: "fc2", opType: "Gemm", input: ["h_relu", "W2", "B2"], output: ["y"], attribute: [intAttr("transB", 1)] },
      ],
    },
    inputs,
    outputs,
    GENERATED_OPSET,
    GENERATED_IR_VERSION,
  );
  return { ...model, seed, inputDim, hidden, outputDim, weights: { w1, b1, w2, b2 } };
}

/**
 * Reference forward pass of a generated MLP in plain JS (float64 accumulation, float32 rounding per layer).
 * Agrees with onnxruntime up to float32 rounding-order differences, not bit for bit.
 */
export function referenceMlp(mlp: GeneratedMlp, x: Float32Array): Float32Array {
  const { inputDim, hidden, outputDim, weights } = mlp;
  if (x.length % inputDim !== 0) throw new RangeError(`input length ${x.length} is not a multiple of ${inputDim}`);
  const rows = x.length / inputDim;
  const y = new Float32Array(rows * outputDim);
  const h = new Float32Array(hidden);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < hidden; j++) {
      let acc = weights.b1[j]!;
      for (let k = 0; k < inputDim; k++) acc += x[r * inputDim + k]! * weights.w1[j * inputDim + k]!;
      h[j] = Math.max(0, acc);
    }
    for (let o = 0; o < outputDim; o++) {
      let acc = weights.b2[o]!;
      for (let j = 0; j < hidden; j++) acc += h[j]! * weights.w2[o * hidden + j]!;
      y[r * outputDim + o] = acc;
    }
  }
  return y;
}

/** Integer model: `sum = a + b`, `scaled = (a + b) * k` over `int64[N, 3]` (wrapping int64 arithmetic). */
export function buildIntModel(options: { seed?: number } = {}): GeneratedIntModel {
  const { seed = 1 } = options;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError("seed must be a uint32");
  const rand = mulberry32(seed);
  const k = BigInt64Array.from([0, 1, 2], () => BigInt(Math.floor(rand() * 2001) - 1000));
  const inputs: ValueSpec[] = [
    { name: "a", type: "int64", shape: ["N", 3] },
    { name: "b", type: "int64", shape: ["N", 3] },
  ];
  const outputs: ValueSpec[] = [
    { name: "scaled", type: "int64", shape: ["N", 3] },
    { name: "sum", type: "int64", shape: ["N", 3] },
  ];
  const model = finish(
    {
      name: `veil_int_seed_${seed}`,
      initializer: [initializer("K", "int64", [3], k)],
      node: [
        { name: "add", opType: "Add", input: ["a", "b"], output: ["sum"] },
        { name: "mul", opType: "Mul", input: ["sum", "K"], output: ["scaled"] },
      ],
    },
    inputs,
    outputs,
    GENERATED_OPSET,
    GENERATED_IR_VERSION,
  );
  return { ...model, seed, k };
}

/**
 * A model whose output is *not* batch-shaped although its input has a dynamic dim 0:
 * `x: float32[N, 4]` -> ReduceSum over dim 0 (keepdims) -> `s: float32[1, 4]`. Concatenating jobs along dim 0 would
 * mix them, so the engine must detect it and fall back to separate runs.
 */
export function buildColumnSumModel(): GeneratedModel {
  return finish(
    {
      name: "veil_column_sum",
      initializer: [initializer("axes", "int64", [1], BigInt64Array.of(0n))],
      node: [{ name: "sum", opType: "ReduceSum", input: ["x", "axes"], output: ["s"], attribute: [intAttr("keepdims", 1)] }],
    },
    [{ name: "x", type: "float32", shape: ["N", 4] }],
    [{ name: "s", type: "float32", shape: [1, 4] }],
    GENERATED_OPSET,
    GENERATED_IR_VERSION,
  );
}

/** `y = Identity(x)` over `float32[...shape]` (default `[N]`), declaring the given default-domain opset. */
export function buildIdentityModel(
  options: { opset?: number; irVersion?: number; shape?: readonly (number | string)[] } = {},
): GeneratedModel {
  const { opset = GENERATED_OPSET, irVersion = GENERATED_IR_VERSION, shape = ["N"] } = options;
  return finish(
    { name: "veil_identity", node: [{ name: "id", opType: "Identity", input: ["x"], output: ["y"] }] },
    [{ name: "x", type: "float32", shape }],
    [{ name: "y", type: "float32", shape }],
    opset,
    irVersion,
  );
}
