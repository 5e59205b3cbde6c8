/**
 * Validation of job inputs against a model's declared inputs.
 *
 * The outcome must be identical for every honest operator, so it depends only on the model's declarations and the
 * inputs, and the *first* failure is reported in a fixed order:
 *  1. missing:  declared inputs in canonical (UTF-8 byte) order, the first one not provided;
 *  2. unknown:  provided inputs in canonical order, the first one not declared;
 *  3. for each declared input in canonical order: dtype (exact match, no casting), then shape (same rank, and every
 *     fixed dim equal; symbolic/dynamic dims accept any size, including 0).
 */
import {
  compareTensorNames,
  invalidInputCode,
  type TensorDType,
  type TensorMap,
} from "@veil/sdk";

/** A declared model input/output: fixed dims as numbers, symbolic (dynamic) dims as their name ("" if unnamed). */
export interface ModelValueInfo {
  readonly name: string;
  readonly type: TensorDType;
  readonly shape: readonly (number | string)[];
}

interface Schema {
  /** Declared inputs in canonical order. */
  sorted: readonly ModelValueInfo[];
  names: ReadonlySet<string>;
}

// Per declaration array (a loaded model's `inputs` is created once), so the hot path doesn't re-sort.
const schemas = new WeakMap<readonly ModelValueInfo[], Schema>();

function schemaOf(declared: readonly ModelValueInfo[]): Schema {
  let s = schemas.get(declared);
  if (s === undefined) {
    const sorted = [...declared].sort((a, b) => compareTensorNames(a.name, b.name));
    s = { sorted, names: new Set(sorted.map((d) => d.name)) };
    schemas.set(declared, s);
  }
  return s;
}

/** The invalid-input reason code for `inputs`, or `undefined` if they fit the model. */
export function validateInputs(declared: readonly ModelValueInfo[], inputs: TensorMap): string | undefined {
  const { sorted: decl, names: declNames } = schemaOf(declared);
  for (const d of decl) {
    if (!Object.prototype.hasOwnProperty.call(inputs, d.name)) return invalidInputCode.missing(d.name);
  }
  const unknown = Object.keys(inputs).filter((name) => !declNames.has(name));
  if (unknown.length > 0) return invalidInputCode.unknown(unknown.sort(compareTensorNames)[0]!);
  for (const d of decl) {
    const t = inputs[d.name]!;
    if (t.type !== d.type) return invalidInputCode.dtype(d.name, d.type, t.type);
    if (!shapeMatches(d.shape, t.dims)) return invalidInputCode.shape(d.name, d.shape, t.dims);
  }
  return undefined;
}

export function shapeMatches(declared: readonly (number | string)[], dims: readonly number[]): boolean {
  if (declared.length !== dims.length) return false;
  return declared.every((d, i) => typeof d !== "number" || d === dims[i]);
}

/** Whether dim 0 is dynamic, i.e. the model may accept a batch of any size there. */
export function hasDynamicDim0(v: ModelValueInfo): boolean {
  return v.shape.length >= 1 && typeof v.shape[0] === "string";
}
