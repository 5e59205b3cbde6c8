/**
 * Reads what a model's registration needs from its ONNX file: the model id (sha256 of the bytes), the default-domain
 * opset from `opset_import`, and the input/output signature of the graph (names, dtypes, dims).
 *
 * A minimal protobuf reader, not a full decode: the graph's nodes and weights are skipped by length, so a 100 MB
 * model is inspected in milliseconds without copying its weights. Browser-safe (no `node:*`, no `Buffer`).
 * @module
 */
import { VeilError } from "./errors.js";
import { validateSignature, type ModelSignature, type SignatureDim, type TensorSignature } from "./signature.js";
import { dtypeInfo, sha256Hex, TENSOR_DTYPES, type Hex, type TensorDType } from "./tensor.js";

/** What {@link inspectOnnxModel} reads from a model file. */
export type OnnxModelInfo = {
  /** sha256 of the file: the model's id in the registry. */
  modelId: Hex;
  irVersion: number;
  /** Default-domain (ai.onnx) opset the model imports: the `opset` of its runtime profile. */
  opset: number;
  /** Every `opset_import` entry (custom domains included), in file order. */
  opsets: { domain: string; version: number }[];
  /** Graph inputs (initializers excluded) and outputs. */
  signature: ModelSignature;
};

/** The file is not an ONNX model Veil can describe (malformed protobuf, no default opset, a non-tensor input, ...). */
export class OnnxModelError extends VeilError {
  override name = "OnnxModelError";
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(`Not a usable ONNX model: ${message}`, { cause: options.cause, docsPath: "models.md" });
  }
}

// ONNX TensorProto.DataType codes beyond the SDK's numeric dtypes, for error messages.
const OTHER_ELEM_TYPES: Record<number, string> = {
  0: "undefined",
  8: "string",
  14: "complex64",
  15: "complex128",
  16: "bfloat16",
  17: "float8e4m3fn",
  18: "float8e4m3fnuz",
  19: "float8e5m2",
  20: "float8e5m2fnuz",
  21: "uint4",
  22: "int4",
  23: "float4e2m1",
};
const DTYPE_BY_CODE = new Map<number, TensorDType>(TENSOR_DTYPES.map((t) => [dtypeInfo(t).code, t]));

const utf8 = new TextDecoder("utf-8", { fatal: true });

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) throw new RangeError("truncated varint");
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new RangeError("varint too long");
  }
  /** A varint that must fit a JS safe integer (keys, lengths, enum values). */
  small(): number {
    const v = this.varint();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError("varint out of range");
    return Number(v);
  }
  key(): { field: number; wire: number } {
    const k = this.small();
    return { field: Math.floor(k / 8), wire: k & 7 };
  }
  /** A length-delimited field: returns a reader over its bytes and moves past it. */
  sub(): Reader {
    const len = this.small();
    if (this.pos + len > this.end) throw new RangeError("truncated field");
    const r = new Reader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }
  string(): string {
    const r = this.sub();
    return utf8.decode(this.buf.subarray(r.pos, r.end));
  }
  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.sub();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) throw new RangeError("truncated field");
  }
}

type RawValue = { name: string; kind: string; elemType: number | undefined; dims: SignatureDim[] | null };

// ValueInfoProto { name = 1; type = 2 }; TypeProto { tensor_type = 1; sequence_type = 4; map_type = 5;
// sparse_tensor_type = 8; optional_type = 9 }; TypeProto.Tensor { elem_type = 1; shape = 2 };
// TensorShapeProto { dim = 1 }; Dimension { dim_value = 1; dim_param = 2 }.
function readValueInfo(r: Reader): RawValue {
  const v: RawValue = { name: "", kind: "missing type", elemType: undefined, dims: null };
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === 2) v.name = r.string();
    else if (field === 2 && wire === 2) readType(r.sub(), v);
    else r.skip(wire);
  }
  return v;
}

function readType(r: Reader, v: RawValue): void {
  const kinds: Record<number, string> = { 4: "sequence", 5: "map", 8: "sparse tensor", 9: "optional" };
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === 2) {
      v.kind = "tensor";
      const t = r.sub();
      while (!t.done) {
        const k = t.key();
        if (k.field === 1 && k.wire === 0) v.elemType = t.small();
        else if (k.field === 2 && k.wire === 2) v.dims = readShape(t.sub());
        else t.skip(k.wire);
      }
    } else if (kinds[field] !== undefined && wire === 2) {
      v.kind = kinds[field]!;
      r.skip(wire);
    } else r.skip(wire);
  }
}

function readShape(r: Reader): SignatureDim[] {
  const dims: SignatureDim[] = [];
  while (!r.done) {
    const { field, wire } = r.key();
    if (field !== 1 || wire !== 2) {
      r.skip(wire);
      continue;
    }
    const d = r.sub();
    let dim: SignatureDim = null;
    while (!d.done) {
      const k = d.key();
      if (k.field === 1 && k.wire === 0) {
        const value = BigInt.asIntN(64, d.varint());
        if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`dim_value ${value} out of range`);
        dim = Number(value);
      } else if (k.field === 2 && k.wire === 2) {
        const p = d.string();
        dim = p === "" ? null : p;
      } else d.skip(k.wire);
    }
    dims.push(dim);
  }
  return dims;
}

/** TensorProto.name = 8. */
function tensorName(r: Reader): string {
  let name = "";
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 8 && wire === 2) name = r.string();
    else r.skip(wire);
  }
  return name;
}

/** SparseTensorProto.values = 1 (a TensorProto whose name is the initializer's). */
function sparseName(r: Reader): string {
  let name = "";
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === 2) name = tensorName(r.sub());
    else r.skip(wire);
  }
  return name;
}

function toSignature(values: RawValue[], role: "input" | "output"): TensorSignature[] {
  const seen = new Set<string>();
  return values.map((v) => {
    if (v.name === "") throw new OnnxModelError(`a graph ${role} has no name`);
    if (seen.has(v.name)) throw new OnnxModelError(`graph ${role} ${JSON.stringify(v.name)} is declared twice`);
    seen.add(v.name);
    if (v.kind !== "tensor") {
      throw new OnnxModelError(`${role} ${JSON.stringify(v.name)} is a ${v.kind}, not a tensor: Veil serves tensor inputs and outputs only`);
    }
    const type = v.elemType === undefined ? undefined : DTYPE_BY_CODE.get(v.elemType);
    if (type === undefined) {
      const what = v.elemType === undefined ? "no element type" : `element type ${OTHER_ELEM_TYPES[v.elemType] ?? `#${v.elemType}`}`;
      throw new OnnxModelError(`${role} ${JSON.stringify(v.name)} has ${what}: Veil serves ${TENSOR_DTYPES.join(", ")} tensors only`);
    }
    return { name: v.name, type, dims: v.dims };
  });
}

/** `ir_version` and `opset_import` of a model, read without decoding the graph (what a runtime checks first). */
export type OnnxModelHeader = {
  irVersion: number;
  /** `opset_import` entries; the default domain is "" (or "ai.onnx"). */
  opsets: { domain: string; version: number }[];
  /** Version imported for the default domain, if any. */
  defaultOpset: number | undefined;
};

/**
 * Reads `ir_version` (field 1) and `opset_import` (field 8) of a serialized ModelProto, skipping everything else:
 * the graph and its weights are not decoded, nothing is validated beyond the protobuf framing. Throws RangeError
 * on malformed protobuf. {@link inspectOnnxModel} reads the same fields and the signature, and validates them.
 */
export function readOnnxModelHeader(bytes: Uint8Array): OnnxModelHeader {
  let irVersion = 0;
  const opsets: { domain: string; version: number }[] = [];
  const m = new Reader(bytes, 0, bytes.length);
  while (!m.done) {
    const { field, wire } = m.key();
    if (field === 1 && wire === 0) irVersion = m.small();
    else if (field === 8 && wire === 2) opsets.push(readOpset(m.sub()));
    else m.skip(wire);
  }
  const def = opsets.find((o) => o.domain === "" || o.domain === "ai.onnx");
  return { irVersion, opsets, defaultOpset: def?.version };
}

/** OperatorSetIdProto { domain = 1; version = 2 } */
function readOpset(o: Reader): { domain: string; version: number } {
  let domain = "";
  let version = 0;
  while (!o.done) {
    const k = o.key();
    if (k.field === 1 && k.wire === 2) domain = o.string();
    else if (k.field === 2 && k.wire === 0) version = o.small();
    else o.skip(k.wire);
  }
  return { domain, version };
}

/**
 * Reads a model file's id, default-domain opset and I/O signature. Throws {@link OnnxModelError} if the bytes are
 * not a well-formed ONNX ModelProto, import no default-domain opset, or declare an input or output that is not a
 * numeric tensor of a dtype the SDK knows (string, bfloat16, sequence, map, ... tensors cannot be served).
 *
 * Graph inputs that are also initializers (weights a caller may override, IR < 4 style) are not inputs of a job.
 * Dims are numbers when fixed, the `dim_param` name when symbolic, `null` when unknown; `dims: null` when the model
 * declares no shape at all (any rank).
 *
 * @example
 * const { modelId, opset, signature } = inspectOnnxModel(new Uint8Array(readFileSync("model.onnx")))
 */
export function inspectOnnxModel(bytes: Uint8Array): OnnxModelInfo {
  if (!(bytes instanceof Uint8Array)) throw new OnnxModelError("expected the file's bytes as a Uint8Array");
  if (bytes.length === 0) throw new OnnxModelError("the file is empty");
  let irVersion = 0;
  const opsets: { domain: string; version: number }[] = [];
  const inputs: RawValue[] = [];
  const outputs: RawValue[] = [];
  const initializers = new Set<string>();
  let graphs = 0;
  try {
    // ModelProto { ir_version = 1; opset_import = 8; graph = 7 }
    const m = new Reader(bytes, 0, bytes.length);
    while (!m.done) {
      const { field, wire } = m.key();
      if (field === 1 && wire === 0) irVersion = m.small();
      else if (field === 8 && wire === 2) opsets.push(readOpset(m.sub()));
      else if (field === 7 && wire === 2) {
        graphs++;
        // GraphProto { initializer = 5; input = 11; output = 12; sparse_initializer = 15 }
        const g = m.sub();
        while (!g.done) {
          const k = g.key();
          if (k.field === 11 && k.wire === 2) inputs.push(readValueInfo(g.sub()));
          else if (k.field === 12 && k.wire === 2) outputs.push(readValueInfo(g.sub()));
          else if (k.field === 5 && k.wire === 2) initializers.add(tensorName(g.sub()));
          else if (k.field === 15 && k.wire === 2) initializers.add(sparseName(g.sub()));
          else g.skip(k.wire);
        }
      } else m.skip(wire);
    }
  } catch (e) {
    if (e instanceof OnnxModelError) throw e;
    throw new OnnxModelError(`malformed protobuf (${(e as Error).message})`, { cause: e });
  }
  if (graphs !== 1) throw new OnnxModelError(graphs === 0 ? "no graph (is this an ONNX model file?)" : "more than one graph");
  const def = opsets.find((o) => o.domain === "" || o.domain === "ai.onnx");
  if (def === undefined || def.version < 1) throw new OnnxModelError("the model imports no default-domain (ai.onnx) opset");
  if (def.version > 0xffff) throw new OnnxModelError(`opset ${def.version} is out of range`);
  const raw: ModelSignature = {
    inputs: toSignature(
      inputs.filter((v) => !initializers.has(v.name)),
      "input",
    ),
    outputs: toSignature(outputs, "output"),
  };
  if (raw.inputs.length === 0) throw new OnnxModelError("the graph declares no inputs");
  if (raw.outputs.length === 0) throw new OnnxModelError("the graph declares no outputs");
  // Canonical order (entries sorted by name), as getModel returns it; fails loudly on anything the form can't carry.
  const signature = validateSignature(raw);
  return { modelId: sha256Hex(bytes), irVersion, opset: def.version, opsets, signature };
}
