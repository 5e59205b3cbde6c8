/**
 * A model's input/output signature: what it registers on-chain (`ModelRegistry` `ioSignature`), and the check the SDK
 * runs on a job's inputs before anything is signed ({@link checkInputs}).
 *
 * ## Canonical form
 *
 * Compact JSON, keys in byte order, entries sorted by name (UTF-8 byte order, as in the tensor encoding):
 * ```
 * {"inputs":[{"dims":["N",3,224,224],"name":"x","type":"float32"}],"outputs":[{"dims":["N",1000],"name":"y","type":"float32"}]}
 * ```
 * `dims` holds a number for a fixed dim, the `dim_param` name for a symbolic dim, `null` for an unknown dim, and is
 * itself `null` when the model declares no shape (any rank). `type` is an SDK dtype ({@link TensorDType}). The same
 * signature always encodes to the same bytes, so two registrations of one file carry the same string.
 *
 * An empty string means "not declared" (a model registered by id without its file): the SDK then cannot check inputs.
 *
 * Browser-safe.
 * @module
 */
import { VeilError } from "./errors.js";
import {
  compareTensorNames,
  float16BitsToNumber,
  invalidInputCode,
  isTensorDType,
  TENSOR_DTYPES,
  validateTensor,
  type Hex,
  type Tensor,
  type TensorDType,
  type TensorMap,
} from "./tensor.js";

/** A fixed dim, a symbolic dim's name, or `null` (unknown). */
export type SignatureDim = number | string | null;

export type TensorSignature = {
  name: string;
  type: TensorDType;
  /** `null`: the model declares no shape (any rank). */
  dims: SignatureDim[] | null;
};

export type ModelSignature = {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
};

/** Longest `ioSignature` the registry accepts, in UTF-8 bytes (ModelRegistry.MAX_IO_SIGNATURE_BYTES). */
export const MAX_IO_SIGNATURE_BYTES = 16_384;

/** A signature (or the JSON of one) is malformed. */
export class InvalidSignatureError extends VeilError {
  override name = "InvalidSignatureError";
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(`Invalid model signature: ${message}`, { cause: options.cause, docsPath: "models.md" });
  }
}

const LONE_SURROGATE = /\p{Cs}/u;
const utf8Encoder = new TextEncoder();

function validateEntry(e: unknown, path: string): TensorSignature {
  if (e === null || typeof e !== "object" || Array.isArray(e)) throw new InvalidSignatureError(`${path}: expected {"dims", "name", "type"}`);
  for (const key of Object.keys(e)) {
    if (key !== "dims" && key !== "name" && key !== "type") throw new InvalidSignatureError(`${path}.${key}: unexpected field`);
  }
  const { name, type, dims } = e as Record<string, unknown>;
  if (typeof name !== "string" || name.length === 0 || LONE_SURROGATE.test(name)) {
    throw new InvalidSignatureError(`${path}.name: expected a non-empty, well-formed string`);
  }
  if (!isTensorDType(type)) {
    throw new InvalidSignatureError(`${path}.type: unknown dtype ${JSON.stringify(type)} (one of ${TENSOR_DTYPES.join(", ")})`);
  }
  if (dims === null) return { name, type, dims: null };
  if (!Array.isArray(dims) || dims.length > 255) throw new InvalidSignatureError(`${path}.dims: expected null or an array of at most 255 dims`);
  const out: SignatureDim[] = dims.map((d: unknown, i) => {
    if (d === null) return null;
    if (typeof d === "number" && Number.isSafeInteger(d) && d >= 0) return d;
    if (typeof d === "string" && d.length > 0 && !LONE_SURROGATE.test(d)) return d;
    throw new InvalidSignatureError(`${path}.dims[${i}]: expected a non-negative integer, a symbol name or null, got ${JSON.stringify(d)}`);
  });
  return { name, type, dims: out };
}

function validateList(list: unknown, path: string): TensorSignature[] {
  if (!Array.isArray(list)) throw new InvalidSignatureError(`${path}: expected an array`);
  const entries = list.map((e, i) => validateEntry(e, `${path}[${i}]`)).sort((a, b) => compareTensorNames(a.name, b.name));
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.name === entries[i - 1]!.name) throw new InvalidSignatureError(`${path}: ${JSON.stringify(entries[i]!.name)} appears twice`);
  }
  return entries;
}

/** Checks a signature's structure; returns a copy with entries in canonical order. Throws {@link InvalidSignatureError}. */
export function validateSignature(signature: unknown): ModelSignature {
  if (signature === null || typeof signature !== "object" || Array.isArray(signature)) {
    throw new InvalidSignatureError('expected {"inputs": [...], "outputs": [...]}');
  }
  for (const key of Object.keys(signature)) {
    if (key !== "inputs" && key !== "outputs") throw new InvalidSignatureError(`${key}: unexpected field`);
  }
  const s = signature as Record<string, unknown>;
  return { inputs: validateList(s["inputs"], "inputs"), outputs: validateList(s["outputs"], "outputs") };
}

function encodeEntry(t: TensorSignature): string {
  const dims =
    t.dims === null ? "null" : `[${t.dims.map((d) => (d === null ? "null" : typeof d === "number" ? String(d) : JSON.stringify(d))).join(",")}]`;
  return `{"dims":${dims},"name":${JSON.stringify(t.name)},"type":${JSON.stringify(t.type)}}`;
}

/** The canonical compact JSON of a signature (see the module docs). Throws {@link InvalidSignatureError}. */
export function encodeSignature(signature: ModelSignature): string {
  const s = validateSignature(signature);
  return `{"inputs":[${s.inputs.map(encodeEntry).join(",")}],"outputs":[${s.outputs.map(encodeEntry).join(",")}]}`;
}

/**
 * Parses a registered `ioSignature`: `null` for the empty string (no signature declared), else the signature with
 * entries in canonical order. Accepts any valid JSON of a signature, canonical or not. Throws {@link InvalidSignatureError}.
 */
export function parseSignature(text: string): ModelSignature | null {
  if (typeof text !== "string") throw new InvalidSignatureError("expected a string");
  if (text === "") return null;
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new InvalidSignatureError(`not valid JSON (${(e as Error).message})`, { cause: e });
  }
  return validateSignature(obj);
}

/** UTF-8 byte length of a string (what the registry's MAX_IO_SIGNATURE_BYTES limits). */
export function utf8Length(text: string): number {
  return utf8Encoder.encode(text).length;
}

/** Dims as the user reads them: numbers, symbol names, `?` for unknown; `[*]` for any rank. */
export function formatSignatureDims(dims: readonly SignatureDim[] | null): string {
  return dims === null ? "[*]" : `[${dims.map((d) => (d === null ? "?" : String(d))).join(",")}]`;
}

/** `x: float32[N,3,224,224]` */
export function formatTensorSignature(t: TensorSignature): string {
  return `${t.name}: ${t.type}${formatSignatureDims(t.dims)}`;
}

// ---------------------------------------------------------------------------------------------------------------------
// Checking inputs
// ---------------------------------------------------------------------------------------------------------------------

export type InputProblemKind = "missing" | "unknown" | "dtype" | "rank" | "shape" | "symbol" | "nonFinite";

export type InputProblem = {
  kind: InputProblemKind;
  /** The input the problem is about (for "symbol", the second input that disagrees). */
  tensor: string;
  /** One line, in the user's terms. */
  message: string;
  /**
   * The invalid-input code an operator would commit for this input (`invalid_input:dtype:x:float32:int32`), for the
   * problems operators detect (missing, unknown, dtype, rank, shape); absent for the checks only the SDK makes.
   */
  code?: string | undefined;
};

export type CheckInputsOptions = {
  /**
   * Send NaN and ±Infinity in float inputs (default false: rejected). Opt in only for a model that reads them
   * deliberately, e.g. NaN as a "missing value" marker in a tree ensemble or an imputer.
   */
  allowNonFinite?: boolean | undefined;
  /** Named in the error message. */
  modelId?: Hex | undefined;
};

/**
 * A job's inputs don't fit the model's registered signature. Thrown before anything is signed or uploaded, so it
 * costs nothing. `problems` lists every mismatch found (the message shows them all).
 *
 * @example
 * try { await veil.submitJob({ modelId, inputs }) } catch (e) {
 *   if (e instanceof ModelInputError) for (const p of e.problems) console.error(p.message)
 * }
 */
export class ModelInputError extends VeilError {
  override name = "ModelInputError";
  readonly problems: InputProblem[];
  readonly modelId: Hex | undefined;
  constructor(problems: InputProblem[], signature: ModelSignature, modelId?: Hex) {
    const first = problems[0]!;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""})` : "";
    super(`Inputs do not fit ${modelId === undefined ? "the model" : `model ${modelId}`}: ${first.message}${more}`, {
      metaMessages: [
        ...(problems.length > 1 ? ["Problems:", ...problems.map((p) => `  - ${p.message}`)] : []),
        "The model takes:",
        ...signature.inputs.map((t) => `  ${formatTensorSignature(t)}`),
      ],
      docsPath: "models.md",
    });
    this.problems = problems;
    this.modelId = modelId;
  }
}

const FLOAT_TYPES = new Set<TensorDType>(["float32", "float64", "float16"]);

/** Index of the first non-finite element and how many there are; `undefined` if all are finite. */
function nonFinite(t: Tensor): { first: number; value: number; count: number } | undefined {
  let first = -1;
  let value = 0;
  let count = 0;
  if (t.type === "float16") {
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      if ((d[i]! & 0x7c00) === 0x7c00) {
        if (count++ === 0) (first = i), (value = float16BitsToNumber(d[i]!));
      }
    }
  } else if (t.type === "float32" || t.type === "float64") {
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      const x = d[i]!;
      if (x - x !== 0) {
        // NaN - NaN and Inf - Inf are NaN; every finite x gives 0
        if (count++ === 0) (first = i), (value = x);
      }
    }
  }
  return count === 0 ? undefined : { first, value, count };
}

/** Row-major coordinates of flat index `i` in `dims`. */
function coordinates(i: number, dims: readonly number[]): number[] {
  const out = new Array<number>(dims.length);
  for (let a = dims.length - 1; a >= 0; a--) {
    const d = dims[a]!;
    out[a] = d === 0 ? 0 : i % d;
    i = d === 0 ? 0 : Math.floor(i / d);
  }
  return out;
}

/**
 * Checks a job's inputs against a model's signature, the way operators will, plus what only a requester can catch
 * early. Throws {@link ModelInputError} listing every problem:
 *  - a declared input missing, or an input the model does not declare (names are case-sensitive);
 *  - a dtype other than the declared one (no casting);
 *  - a rank other than the declared one, or a fixed dim of another size;
 *  - a symbolic dim with two different sizes (in two inputs, or twice in one), e.g. `N` = 2 in `a` and 3 in `b`;
 *  - NaN or ±Infinity in a float input, unless `allowNonFinite` (see {@link CheckInputsOptions}).
 *
 * Structural errors of a tensor itself (data length vs dims, wrong typed array) throw the tensor module's
 * InvalidTensorError, as encoding would.
 */
export function checkInputs(signature: ModelSignature, inputs: TensorMap, options: CheckInputsOptions = {}): void {
  const problems: InputProblem[] = [];
  const declared = [...signature.inputs].sort((a, b) => compareTensorNames(a.name, b.name));
  const names = new Set(declared.map((d) => d.name));
  const takes = declared.map((d) => JSON.stringify(d.name)).join(", ");
  for (const name of Object.keys(inputs)) validateTensor(inputs[name]!, name);

  for (const d of declared) {
    if (!Object.prototype.hasOwnProperty.call(inputs, d.name)) {
      problems.push({ kind: "missing", tensor: d.name, message: `missing input ${JSON.stringify(d.name)} (${d.type}${formatSignatureDims(d.dims)})`, code: invalidInputCode.missing(d.name) });
    }
  }
  for (const name of Object.keys(inputs).sort(compareTensorNames)) {
    if (!names.has(name)) {
      problems.push({ kind: "unknown", tensor: name, message: `unknown input ${JSON.stringify(name)}: the model takes ${takes}`, code: invalidInputCode.unknown(name) });
    }
  }
  // Where each symbol was first seen: its size, the input and the axis.
  const symbols = new Map<string, { size: number; tensor: string; axis: number }>();
  const shapeOk = new Set<string>();
  for (const d of declared) {
    if (!Object.prototype.hasOwnProperty.call(inputs, d.name)) continue;
    const t = inputs[d.name]!;
    const q = JSON.stringify(d.name);
    if (t.type !== d.type) {
      problems.push({ kind: "dtype", tensor: d.name, message: `input ${q} is ${t.type}, the model takes ${d.type}`, code: invalidInputCode.dtype(d.name, d.type, t.type) });
      continue;
    }
    if (d.dims === null) {
      shapeOk.add(d.name);
      continue;
    }
    const got = `[${t.dims.join(",")}]`;
    const want = formatSignatureDims(d.dims);
    const code = invalidInputCode.shape(d.name, d.dims.map((x) => (typeof x === "number" ? x : null)), t.dims);
    if (t.dims.length !== d.dims.length) {
      problems.push({ kind: "rank", tensor: d.name, message: `input ${q} has ${t.dims.length} dim${t.dims.length === 1 ? "" : "s"} ${got}, the model takes ${d.dims.length}: ${want}`, code });
      continue;
    }
    const bad = d.dims.findIndex((x, i) => typeof x === "number" && x !== t.dims[i]);
    if (bad >= 0) {
      problems.push({ kind: "shape", tensor: d.name, message: `input ${q} has shape ${got}, the model takes ${want} (dim ${bad} must be ${d.dims[bad]}, not ${t.dims[bad]})`, code });
      continue;
    }
    shapeOk.add(d.name);
    d.dims.forEach((x, axis) => {
      if (typeof x !== "string") return;
      const size = t.dims[axis]!;
      const seen = symbols.get(x);
      if (seen === undefined) symbols.set(x, { size, tensor: d.name, axis });
      else if (seen.size !== size) {
        problems.push({
          kind: "symbol",
          tensor: d.name,
          message: `dim ${JSON.stringify(x)} must have one size: it is ${seen.size} in ${JSON.stringify(seen.tensor)} (dim ${seen.axis}) but ${size} in ${q} (dim ${axis})`,
        });
      }
    });
  }
  if (options.allowNonFinite !== true) {
    for (const d of declared) {
      if (!shapeOk.has(d.name) || !FLOAT_TYPES.has(d.type)) continue;
      const t = inputs[d.name]!;
      const nf = nonFinite(t);
      if (nf === undefined) continue;
      const value = Number.isNaN(nf.value) ? "NaN" : nf.value > 0 ? "Infinity" : "-Infinity";
      const at = t.dims.length === 0 ? "" : ` at [${coordinates(nf.first, t.dims).join(",")}]`;
      const more = nf.count > 1 ? ` (${nf.count} non-finite values in all)` : "";
      problems.push({
        kind: "nonFinite",
        tensor: d.name,
        message: `input ${JSON.stringify(d.name)} holds ${value}${at}${more}: non-finite floats are refused unless you pass allowNonFinite`,
      });
    }
  }
  if (problems.length > 0) throw new ModelInputError(problems, signature, options.modelId);
}
