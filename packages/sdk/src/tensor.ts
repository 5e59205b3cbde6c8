/**
 * Canonical tensor encoding for Veil.
 *
 * This module is shared by the SDK (browser and Node) and the inference worker, and it defines the bytes whose
 * SHA-256 goes on-chain as `bytes32` (input hashes, output/result hashes). It is deliberately self-contained and
 * browser-safe: no `node:*` imports, no `Buffer`, hashing via `@noble/hashes`.
 *
 * ## Tensor model
 *
 * A {@link Tensor} is `{ type, dims, data }` with row-major `data` in one of the typed arrays listed in
 * {@link TensorDataMap} (`BigInt64Array` for int64, `Uint8Array` holding 0/1 for bool, `Uint16Array` holding the raw
 * IEEE-754 binary16 bits for float16, ...). These are exactly the numeric tensor types that onnxruntime-node accepts
 * and returns. String tensors are out of scope: they have no fixed-width little-endian representation, and no model
 * served by the protocol may take or produce them (the worker refuses such models).
 *
 * ## Canonical bytes (`encodeTensors`, format version 1)
 *
 * ```
 * magic      4 bytes   ASCII "VTNS"
 * version    u8        1
 * count      u32le     number of tensors
 * count x {            tensors sorted by name, byte-wise over the UTF-8 encoding (no duplicates)
 *   nameLen  u16le     1..65535
 *   name     nameLen   UTF-8 (well-formed, no BOM stripping)
 *   dtype    u8        code from the table below
 *   ndims    u8        0..255 (0 = scalar, one element)
 *   dims     ndims x u64le   each <= 2^53 - 1
 *   byteLen  u64le     == product(dims) * elementSize(dtype)
 *   data     byteLen   raw little-endian elements, row-major
 * }
 * ```
 * Nothing may follow the last tensor. Bool elements must be 0 or 1.
 *
 * Dtype codes are the ONNX `TensorProto.DataType` numbers, so they are stable and familiar:
 *
 * | dtype   | code | size | | dtype   | code | size |
 * |---------|------|------| |---------|------|------|
 * | float32 | 1    | 4    | | int64   | 7    | 8    |
 * | uint8   | 2    | 1    | | bool    | 9    | 1    |
 * | int8    | 3    | 1    | | float16 | 10   | 2    |
 * | uint16  | 4    | 2    | | float64 | 11   | 8    |
 * | int16   | 5    | 2    | | uint32  | 12   | 4    |
 * | int32   | 6    | 4    | | uint64  | 13   | 8    |
 *
 * Codes with the high bit set (`0x80 | code` of a float dtype: 0x81, 0x8A, 0x8B) mark a *quantized float*: an int64
 * payload produced by the `rounded` comparator (see {@link resultHash}). They only ever appear in result-hash
 * preimages ({@link canonicalResultBytes}); {@link decodeTensors} rejects them.
 *
 * @module
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

// ---------------------------------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------------------------------

/** A `0x`-prefixed hex string (compatible with viem's `Hex`). */
export type Hex = `0x${string}`;

/** Numeric tensor element types supported by onnxruntime-node (strings are intentionally out of scope). */
export type TensorDType =
  | "float32"
  | "float64"
  | "float16"
  | "int8"
  | "uint8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "int64"
  | "uint64"
  | "bool";

/** The typed array that holds the elements of each dtype. */
export interface TensorDataMap {
  float32: Float32Array;
  float64: Float64Array;
  /** Raw IEEE-754 binary16 bit patterns. */
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  /** One byte per element, 0 or 1. */
  bool: Uint8Array;
}

export type TensorData = TensorDataMap[TensorDType];

/** A tensor of one particular dtype. */
export interface TensorOf<T extends TensorDType> {
  readonly type: T;
  /** Dimensions, row-major; `[]` is a scalar (one element). */
  readonly dims: readonly number[];
  readonly data: TensorDataMap[T];
}

/** A numeric tensor; a union discriminated by `type`, so checking `type` narrows `data`. */
export type Tensor = { [T in TensorDType]: TensorOf<T> }[TensorDType];

/** Named tensors (model inputs or outputs). Key order is irrelevant to the canonical encoding. */
export type TensorMap = Record<string, Tensor>;

// ---------------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------------

export type TensorErrorCode =
  | "INVALID_TENSOR"
  | "INVALID_NAME"
  | "BAD_MAGIC"
  | "UNSUPPORTED_VERSION"
  | "TRUNCATED"
  | "TRAILING_BYTES"
  | "UNKNOWN_DTYPE"
  | "INVALID_DIMS"
  | "LENGTH_MISMATCH"
  | "INVALID_BOOL"
  | "DUPLICATE_NAME"
  | "UNSORTED_NAMES"
  | "INVALID_JSON"
  | "INVALID_COMPARATOR"
  | "INVALID_INPUT_CODE";

/** Base class of every error thrown by this module. `code` is stable; messages are for humans. */
export class TensorEncodingError extends Error {
  override name = "TensorEncodingError";
  readonly code: TensorErrorCode;
  constructor(code: TensorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A tensor (or tensor name) handed to an encoder is malformed. */
export class InvalidTensorError extends TensorEncodingError {
  override name = "InvalidTensorError";
  /** Name of the offending tensor, when known. */
  readonly tensorName: string | undefined;
  constructor(code: "INVALID_TENSOR" | "INVALID_NAME" | "INVALID_DIMS" | "INVALID_BOOL", message: string, tensorName?: string) {
    super(code, tensorName === undefined ? message : `tensor ${JSON.stringify(tensorName)}: ${message}`);
    this.tensorName = tensorName;
  }
}

/** Canonical bytes handed to {@link decodeTensors} are malformed. `offset` is where decoding stopped. */
export class TensorDecodeError extends TensorEncodingError {
  override name = "TensorDecodeError";
  readonly offset: number;
  constructor(code: TensorErrorCode, message: string, offset: number) {
    super(code, `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

/** The JSON form handed to {@link tensorsFromJson} is malformed. `path` points at the offending value. */
export class TensorJsonError extends TensorEncodingError {
  override name = "TensorJsonError";
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super("INVALID_JSON", `${path}: ${message}`, options);
    this.path = path;
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Dtype table
// ---------------------------------------------------------------------------------------------------------------------

type TypedArrayCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

export interface DTypeInfo {
  readonly type: TensorDType;
  /** Code in the canonical encoding (= ONNX TensorProto.DataType). */
  readonly code: number;
  /** Bytes per element. */
  readonly size: number;
  readonly isFloat: boolean;
  readonly ctor: TypedArrayCtor;
}

const DTYPE_LIST: readonly DTypeInfo[] = [
  { type: "float32", code: 1, size: 4, isFloat: true, ctor: Float32Array },
  { type: "uint8", code: 2, size: 1, isFloat: false, ctor: Uint8Array },
  { type: "int8", code: 3, size: 1, isFloat: false, ctor: Int8Array },
  { type: "uint16", code: 4, size: 2, isFloat: false, ctor: Uint16Array },
  { type: "int16", code: 5, size: 2, isFloat: false, ctor: Int16Array },
  { type: "int32", code: 6, size: 4, isFloat: false, ctor: Int32Array },
  { type: "int64", code: 7, size: 8, isFloat: false, ctor: BigInt64Array },
  { type: "bool", code: 9, size: 1, isFloat: false, ctor: Uint8Array },
  { type: "float16", code: 10, size: 2, isFloat: true, ctor: Uint16Array },
  { type: "float64", code: 11, size: 8, isFloat: true, ctor: Float64Array },
  { type: "uint32", code: 12, size: 4, isFloat: false, ctor: Uint32Array },
  { type: "uint64", code: 13, size: 8, isFloat: false, ctor: BigUint64Array },
];

const DTYPE_BY_NAME = new Map<string, DTypeInfo>(DTYPE_LIST.map((d) => [d.type, d]));
const DTYPE_BY_CODE = new Map<number, DTypeInfo>(DTYPE_LIST.map((d) => [d.code, d]));

/** All supported dtypes, in code order. */
export const TENSOR_DTYPES: readonly TensorDType[] = DTYPE_LIST.map((d) => d.type);

/** Set on the dtype code of a float tensor that the `rounded` comparator replaced by its int64 quantization. */
export const QUANTIZED_FLOAT_FLAG = 0x80;

export function isTensorDType(value: unknown): value is TensorDType {
  return typeof value === "string" && DTYPE_BY_NAME.has(value);
}

/** Code, element size and typed-array constructor of a dtype. */
export function dtypeInfo(type: TensorDType): DTypeInfo {
  const info = DTYPE_BY_NAME.get(type);
  if (info === undefined) throw new InvalidTensorError("INVALID_TENSOR", `unknown dtype ${JSON.stringify(type)}`);
  return info;
}

// ---------------------------------------------------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------------------------------------------------

const MAX_RANK = 255;
const MAX_NAME_BYTES = 0xffff;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8Encoder = new TextEncoder();
// ignoreBOM: a name that starts with U+FEFF must survive the round trip.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Number of elements of a tensor with these dims (1 for a scalar). Throws {@link InvalidTensorError} unless every dim
 * is a non-negative safe integer, the rank is at most 255, and the product is a safe integer.
 */
export function elementCount(dims: readonly number[], tensorName?: string): number {
  if (!Array.isArray(dims)) throw new InvalidTensorError("INVALID_DIMS", "dims must be an array", tensorName);
  if (dims.length > MAX_RANK) {
    throw new InvalidTensorError("INVALID_DIMS", `rank ${dims.length} exceeds ${MAX_RANK}`, tensorName);
  }
  let count = 1;
  let hasZero = false;
  for (const d of dims) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      throw new InvalidTensorError("INVALID_DIMS", `dims must be non-negative integers, got ${String(d)}`, tensorName);
    }
    if (d === 0) hasZero = true;
  }
  if (hasZero) return 0;
  for (const d of dims) {
    if (count > Number.MAX_SAFE_INTEGER / d) {
      throw new InvalidTensorError("INVALID_DIMS", `element count of [${dims.join(",")}] overflows`, tensorName);
    }
    count *= d;
  }
  return count;
}

/** Byte length of a tensor's raw data (`product(dims) * elementSize`). */
export function tensorByteLength(tensor: Tensor): number {
  return elementCount(tensor.dims) * dtypeInfo(tensor.type).size;
}

/**
 * Checks a tensor's structure: known dtype, the dtype's typed array, valid dims, `data.length == product(dims)`, and
 * bool elements in {0, 1}. Throws {@link InvalidTensorError}.
 */
export function validateTensor(tensor: Tensor, tensorName?: string): void {
  if (tensor === null || typeof tensor !== "object") {
    throw new InvalidTensorError("INVALID_TENSOR", "not a tensor object", tensorName);
  }
  const info = DTYPE_BY_NAME.get(tensor.type as string);
  if (info === undefined) {
    throw new InvalidTensorError("INVALID_TENSOR", `unknown dtype ${JSON.stringify(tensor.type)}`, tensorName);
  }
  if (!(tensor.data instanceof info.ctor)) {
    const got = (tensor.data as object | undefined)?.constructor?.name ?? typeof tensor.data;
    throw new InvalidTensorError("INVALID_TENSOR", `${info.type} data must be a ${info.ctor.name}, got ${got}`, tensorName);
  }
  const count = elementCount(tensor.dims, tensorName);
  if (tensor.data.length !== count) {
    throw new InvalidTensorError(
      "INVALID_TENSOR",
      `dims [${tensor.dims.join(",")}] need ${count} elements, data has ${tensor.data.length}`,
      tensorName,
    );
  }
  if (info.type === "bool") {
    const data = tensor.data as Uint8Array;
    for (let i = 0; i < data.length; i++) {
      if (data[i]! > 1) throw new InvalidTensorError("INVALID_BOOL", `bool element ${i} is ${data[i]}, not 0 or 1`, tensorName);
    }
  }
}

function nameToBytes(name: string): Uint8Array {
  if (typeof name !== "string" || name.length === 0) {
    throw new InvalidTensorError("INVALID_NAME", "tensor names must be non-empty strings");
  }
  if (LONE_SURROGATE.test(name)) {
    throw new InvalidTensorError("INVALID_NAME", "tensor name contains a lone UTF-16 surrogate (not encodable as UTF-8)", name);
  }
  const bytes = utf8Encoder.encode(name);
  if (bytes.length > MAX_NAME_BYTES) {
    throw new InvalidTensorError("INVALID_NAME", `name is ${bytes.length} UTF-8 bytes, max ${MAX_NAME_BYTES}`, name);
  }
  return bytes;
}

/** Lexicographic byte comparison (negative, zero, positive). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

/** Compares two tensor names in canonical order (byte-wise over UTF-8, which differs from JS string order). */
export function compareTensorNames(a: string, b: string): number {
  return compareBytes(utf8Encoder.encode(a), utf8Encoder.encode(b));
}

/** Tensor names of a map in canonical order. */
export function canonicalNames(map: TensorMap): string[] {
  return Object.keys(map)
    .map((name) => ({ name, bytes: utf8Encoder.encode(name) }))
    .sort((x, y) => compareBytes(x.bytes, y.bytes))
    .map((x) => x.name);
}

/** Little-endian bytes of a typed array: a view on little-endian hosts, a byte-swapped copy otherwise. */
function littleEndianBytes(data: TensorData, size: number): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return LITTLE_ENDIAN || size === 1 ? view : byteSwap(view, size);
}

function byteSwap(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) {
    for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j]!;
  }
  return out;
}

function defineEntry<T>(target: Record<string, T>, name: string, value: T): void {
  // defineProperty, not assignment: a tensor named "__proto__" must become an own property.
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------------------------------

interface Entry {
  nameBytes: Uint8Array;
  code: number;
  dims: readonly number[];
  /** Little-endian raw data. */
  bytes: Uint8Array;
}

const MAGIC = Uint8Array.of(0x56, 0x54, 0x4e, 0x53); // "VTNS"
export const TENSOR_FORMAT_VERSION = 1;

function entryOf(name: string, nameBytes: Uint8Array, tensor: Tensor): Entry {
  validateTensor(tensor, name);
  const info = dtypeInfo(tensor.type);
  return { nameBytes, code: info.code, dims: tensor.dims, bytes: littleEndianBytes(tensor.data, info.size) };
}

function sortedEntries(map: TensorMap, toEntry: (name: string, nameBytes: Uint8Array, t: Tensor) => Entry): Entry[] {
  if (map === null || typeof map !== "object" || Array.isArray(map)) {
    throw new InvalidTensorError("INVALID_TENSOR", "expected an object mapping names to tensors");
  }
  const entries = Object.keys(map).map((name) => toEntry(name, nameToBytes(name), map[name]!));
  if (entries.length > 0xffffffff) throw new InvalidTensorError("INVALID_TENSOR", "too many tensors");
  return entries.sort((a, b) => compareBytes(a.nameBytes, b.nameBytes));
}

/** Streams the canonical bytes of sorted entries into `sink`, returning the total length. */
function writeEntries(entries: readonly Entry[], sink: (chunk: Uint8Array) => void): number {
  const header = new Uint8Array(9);
  header.set(MAGIC, 0);
  header[4] = TENSOR_FORMAT_VERSION;
  new DataView(header.buffer).setUint32(5, entries.length, true);
  sink(header);
  let total = header.length;
  for (const e of entries) {
    const meta = new Uint8Array(2 + e.nameBytes.length + 2 + 8 * e.dims.length + 8);
    const view = new DataView(meta.buffer);
    let p = 0;
    view.setUint16(p, e.nameBytes.length, true);
    p += 2;
    meta.set(e.nameBytes, p);
    p += e.nameBytes.length;
    meta[p++] = e.code;
    meta[p++] = e.dims.length;
    for (const d of e.dims) {
      view.setBigUint64(p, BigInt(d), true);
      p += 8;
    }
    view.setBigUint64(p, BigInt(e.bytes.length), true);
    sink(meta);
    sink(e.bytes);
    total += meta.length + e.bytes.length;
  }
  return total;
}

function concatEntries(entries: readonly Entry[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const total = writeEntries(entries, (c) => chunks.push(c));
  const out = new Uint8Array(total);
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

function hashEntries(entries: readonly Entry[]): Hex {
  const h = sha256.create();
  writeEntries(entries, (c) => h.update(c));
  return `0x${bytesToHex(h.digest())}`;
}

/**
 * Canonical bytes of a tensor map (format above). Validates every tensor first and throws
 * {@link InvalidTensorError} on malformed names, dims, data types or lengths.
 */
export function encodeTensors(map: TensorMap): Uint8Array {
  return concatEntries(sortedEntries(map, entryOf));
}

// ---------------------------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------------------------

class Reader {
  pos = 0;
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): void {
    if (n > this.bytes.length - this.pos) {
      throw new TensorDecodeError("TRUNCATED", `truncated: ${what} needs ${n} bytes, ${this.bytes.length - this.pos} left`, this.pos);
    }
  }
  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++]!;
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** Smallest possible encoded tensor: nameLen + 1-byte name + dtype + ndims + byteLen. */
const MIN_ENTRY_BYTES = 2 + 1 + 1 + 1 + 8;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Strict inverse of {@link encodeTensors}. Throws {@link TensorDecodeError} (see `code`) on a bad magic or version,
 * truncation, trailing bytes, an unknown dtype code, dims that are not safe integers, a data length that differs from
 * `product(dims) * elementSize`, bool bytes other than 0/1, invalid UTF-8 names, and duplicate or unsorted names.
 * Every byte string it accepts re-encodes to itself. Returned typed arrays own fresh, aligned buffers.
 */
export function decodeTensors(bytes: Uint8Array): TensorMap {
  if (!(bytes instanceof Uint8Array)) throw new TensorDecodeError("TRUNCATED", "expected a Uint8Array", 0);
  const r = new Reader(bytes);
  const magic = r.take(4, "magic");
  if (compareBytes(magic, MAGIC) !== 0) throw new TensorDecodeError("BAD_MAGIC", 'bad magic, expected "VTNS"', 0);
  const version = r.u8("version");
  if (version !== TENSOR_FORMAT_VERSION) {
    throw new TensorDecodeError("UNSUPPORTED_VERSION", `unsupported format version ${version}`, 4);
  }
  const count = r.u32("count");
  if (count * MIN_ENTRY_BYTES > bytes.length - r.pos) {
    throw new TensorDecodeError("TRUNCATED", `truncated: ${count} tensors cannot fit in ${bytes.length - r.pos} bytes`, r.pos);
  }
  const out: TensorMap = {};
  let prev: Uint8Array | undefined;
  for (let i = 0; i < count; i++) {
    const entryStart = r.pos;
    const nameLen = r.u16("name length");
    if (nameLen === 0) throw new TensorDecodeError("INVALID_NAME", "empty tensor name", entryStart);
    const nameBytes = r.take(nameLen, "name");
    let name: string;
    try {
      name = utf8Decoder.decode(nameBytes);
    } catch {
      throw new TensorDecodeError("INVALID_NAME", "tensor name is not valid UTF-8", entryStart + 2);
    }
    if (prev !== undefined) {
      const cmp = compareBytes(prev, nameBytes);
      if (cmp === 0) throw new TensorDecodeError("DUPLICATE_NAME", `duplicate tensor name ${JSON.stringify(name)}`, entryStart);
      if (cmp > 0) throw new TensorDecodeError("UNSORTED_NAMES", `tensor ${JSON.stringify(name)} is out of canonical order`, entryStart);
    }
    prev = nameBytes;
    const codeAt = r.pos;
    const code = r.u8("dtype");
    const info = DTYPE_BY_CODE.get(code);
    if (info === undefined) {
      const hint = (code & QUANTIZED_FLOAT_FLAG) !== 0 ? " (quantized-float codes only occur in result-hash preimages)" : "";
      throw new TensorDecodeError("UNKNOWN_DTYPE", `unknown dtype code ${code}${hint}`, codeAt);
    }
    const ndims = r.u8("rank");
    const dims: number[] = [];
    let elements = 1n;
    for (let d = 0; d < ndims; d++) {
      const dimAt = r.pos;
      const dim = r.u64("dim");
      if (dim > MAX_SAFE) throw new TensorDecodeError("INVALID_DIMS", `dim ${dim} exceeds 2^53-1`, dimAt);
      dims.push(Number(dim));
      elements *= dim;
    }
    const lenAt = r.pos;
    const byteLen = r.u64("data length");
    const expected = elements * BigInt(info.size);
    if (byteLen !== expected) {
      throw new TensorDecodeError(
        "LENGTH_MISMATCH",
        `tensor ${JSON.stringify(name)}: ${info.type}[${dims.join(",")}] needs ${expected} data bytes, header says ${byteLen}`,
        lenAt,
      );
    }
    if (byteLen > BigInt(bytes.length - r.pos)) {
      throw new TensorDecodeError("TRUNCATED", `truncated: tensor ${JSON.stringify(name)} data needs ${byteLen} bytes`, r.pos);
    }
    const dataAt = r.pos;
    const raw = r.take(Number(byteLen), "data");
    // slice() copies into a fresh, aligned ArrayBuffer.
    const le = LITTLE_ENDIAN || info.size === 1 ? raw.slice() : byteSwap(raw, info.size);
    const data = new info.ctor(le.buffer as ArrayBuffer, 0, Number(elements));
    if (info.type === "bool") {
      const at = (data as Uint8Array).findIndex((v) => v > 1);
      if (at >= 0) throw new TensorDecodeError("INVALID_BOOL", `tensor ${JSON.stringify(name)}: bool element ${at} is not 0 or 1`, dataAt + at);
    }
    defineEntry(out, name, { type: info.type, dims, data } as Tensor);
  }
  if (r.pos !== bytes.length) {
    throw new TensorDecodeError("TRAILING_BYTES", `${bytes.length - r.pos} trailing bytes after the last tensor`, r.pos);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------------------------------------

/** `0x` + lowercase hex SHA-256 of `bytes` (32 bytes: a Solidity `bytes32`). */
export function sha256Hex(bytes: Uint8Array): Hex {
  return `0x${bytesToHex(sha256(bytes))}`;
}

/** SHA-256 of the canonical encoding of `map` (streamed, without materialising the whole encoding). */
export function tensorsHash(map: TensorMap): Hex {
  return hashEntries(sortedEntries(map, entryOf));
}

/** SHA-256 of one tensor's raw little-endian data alone (no name, dtype or dims). */
export function rawDataSha256(tensor: Tensor): Hex {
  validateTensor(tensor);
  return sha256Hex(littleEndianBytes(tensor.data, dtypeInfo(tensor.type).size));
}

/** True iff both maps have the same canonical encoding (same names, dtypes, dims and data bits). */
export function tensorsEqual(a: TensorMap, b: TensorMap): boolean {
  return compareBytes(encodeTensors(a), encodeTensors(b)) === 0;
}

// ---------------------------------------------------------------------------------------------------------------------
// Comparators and result hashes
// ---------------------------------------------------------------------------------------------------------------------

/**
 * How results of a model are compared (set per model in the registry).
 * - `exact`: bit-exact outputs.
 * - `rounded`: float outputs compared after rounding to `precision` decimal places (0..18).
 */
export type Comparator = { readonly kind: "exact" } | { readonly kind: "rounded"; readonly precision: number };

export const MAX_ROUNDED_PRECISION = 18;

/** Quantization sentinels: NaN (any payload), -Inf and +Inf. Finite values saturate strictly inside them. */
export const QUANTIZED_NAN = -(2n ** 63n);
export const QUANTIZED_NEG_INF = -(2n ** 63n) + 1n;
export const QUANTIZED_POS_INF = 2n ** 63n - 1n;
/** Finite quantized values are clamped to [QUANTIZED_MIN_FINITE, QUANTIZED_MAX_FINITE]. */
export const QUANTIZED_MIN_FINITE = -(2n ** 63n) + 2n;
export const QUANTIZED_MAX_FINITE = 2n ** 63n - 2n;

/** Throws {@link TensorEncodingError} (`INVALID_COMPARATOR`) unless `c` is a valid comparator. */
export function validateComparator(c: Comparator): void {
  if (c === null || typeof c !== "object") throw new TensorEncodingError("INVALID_COMPARATOR", "comparator must be an object");
  if (c.kind === "exact") return;
  if (c.kind === "rounded") {
    if (!Number.isInteger(c.precision) || c.precision < 0 || c.precision > MAX_ROUNDED_PRECISION) {
      throw new TensorEncodingError(
        "INVALID_COMPARATOR",
        `rounded precision must be an integer in 0..${MAX_ROUNDED_PRECISION}, got ${String(c.precision)}`,
      );
    }
    return;
  }
  throw new TensorEncodingError("INVALID_COMPARATOR", `unknown comparator kind ${JSON.stringify((c as { kind: unknown }).kind)}`);
}

const POW10_BIG: readonly bigint[] = Array.from({ length: MAX_ROUNDED_PRECISION + 1 }, (_, i) => 10n ** BigInt(i));
// 10^p is an exact double for p <= 22.
const POW10_NUM: readonly number[] = Array.from({ length: MAX_ROUNDED_PRECISION + 1 }, (_, i) => 10 ** i);
const TWO_32 = 4294967296;
const f64 = new Float64Array(1);
const f64Words = new Uint32Array(f64.buffer);
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = LITTLE_ENDIAN ? 0 : 1;

/** Splits a finite non-zero |x| into an integer mantissa m (< 2^53) and exponent e with |x| = m * 2^e exactly. */
function decompose(a: number): { m: number; e: number } {
  f64[0] = a;
  const hi = f64Words[HI]!;
  const lo = f64Words[LO]!;
  const biased = (hi >>> 20) & 0x7ff;
  const frac = (hi & 0xfffff) * TWO_32 + lo;
  return biased === 0 ? { m: frac, e: -1074 } : { m: frac + 2 ** 52, e: biased - 1075 };
}

function ctz32(v: number): number {
  return 31 - Math.clz32(v & -v);
}

function clampFinite(q: bigint): bigint {
  return q > QUANTIZED_MAX_FINITE ? QUANTIZED_MAX_FINITE : q < QUANTIZED_MIN_FINITE ? QUANTIZED_MIN_FINITE : q;
}

/** Round half to even of an exactly represented non-negative double below 2^53. */
function roundHalfEvenSmall(y: number): number {
  const f = Math.floor(y);
  const d = y - f; // exact for y < 2^53
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Reference implementation of {@link quantizeFloat} in exact BigInt arithmetic, for every finite double.
 * Exported for tests and for other implementations to check against.
 */
export function quantizeFloatExact(x: number, precision: number): bigint {
  if (Number.isNaN(x)) return QUANTIZED_NAN;
  if (x === Infinity) return QUANTIZED_POS_INF;
  if (x === -Infinity) return QUANTIZED_NEG_INF;
  if (x === 0) return 0n;
  const { m, e } = decompose(Math.abs(x));
  const num = BigInt(m) * POW10_BIG[precision]!;
  let q: bigint;
  if (e >= 0) {
    q = num << BigInt(e);
  } else {
    const k = BigInt(-e);
    q = num >> k;
    const rem = num - (q << k);
    const half = 1n << (k - 1n);
    if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
  }
  return clampFinite(x < 0 ? -q : q);
}

/**
 * `round_half_to_even(x * 10^precision)` evaluated on the *exact* real value of the double `x` (never on a rounded
 * floating-point product), saturated to int64 with sentinels for NaN and ±Inf. Uses exact double arithmetic where it
 * provably cannot round (mantissa * 10^p < 2^53 and a power-of-two scaling), and exact BigInt arithmetic otherwise.
 */
export function quantizeFloat(x: number, precision: number): bigint {
  if (x !== x || x === Infinity || x === -Infinity) return quantizeFloatExact(x, precision);
  if (x === 0) return 0n;
  let { m, e } = decompose(Math.abs(x));
  // Make m odd so that it is as small as possible.
  const lo = m % TWO_32;
  const tz = lo !== 0 ? ctz32(lo) : 32 + ctz32(Math.floor(m / TWO_32));
  m /= 2 ** tz;
  e += tz;
  const scale = POW10_NUM[precision]!;
  if (m > Number.MAX_SAFE_INTEGER / scale) return quantizeFloatExact(x, precision);
  const num = m * scale; // exact: integer below 2^53
  let q: number;
  if (e >= 0) {
    q = num * 2 ** e; // exact power-of-two scaling if it stays below 2^53
    if (!(q <= Number.MAX_SAFE_INTEGER)) return quantizeFloatExact(x, precision);
  } else {
    q = roundHalfEvenSmall(num / 2 ** -e); // exact power-of-two scaling: e >= -1074 keeps every bit
  }
  return BigInt(x < 0 ? -q : q);
}

function floatElements(tensor: Tensor): ArrayLike<number> {
  if (tensor.type === "float16") {
    const bits = tensor.data;
    const out = new Float64Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = float16BitsToNumber(bits[i]!);
    return out;
  }
  return tensor.data as Float32Array | Float64Array;
}

function quantizedEntry(name: string, nameBytes: Uint8Array, tensor: Tensor, precision: number): Entry {
  validateTensor(tensor, name);
  const info = dtypeInfo(tensor.type);
  if (!info.isFloat) return entryOf(name, nameBytes, tensor);
  const values = floatElements(tensor);
  const q = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = quantizeFloat(values[i]!, precision);
  return { nameBytes, code: QUANTIZED_FLOAT_FLAG | info.code, dims: tensor.dims, bytes: littleEndianBytes(q, 8) };
}

function resultEntries(outputs: TensorMap, comparator: Comparator): Entry[] {
  validateComparator(comparator);
  if (comparator.kind === "exact") return sortedEntries(outputs, entryOf);
  const p = comparator.precision;
  return sortedEntries(outputs, (name, nameBytes, t) => quantizedEntry(name, nameBytes, t, p));
}

/**
 * The bytes whose SHA-256 is the {@link resultHash}: the canonical encoding of `outputs` for `exact`; for `rounded`,
 * the same format with every float tensor replaced by its int64 quantization under dtype code `0x80 | code`.
 */
export function canonicalResultBytes(outputs: TensorMap, comparator: Comparator): Uint8Array {
  return concatEntries(resultEntries(outputs, comparator));
}

/**
 * Hash committed on-chain for a job's outputs, under the model's registered comparator.
 *
 * - `exact`: `sha256(encodeTensors(outputs))`.
 * - `rounded` (precision p): each float16/32/64 tensor is replaced by an int64 tensor of
 *   `round_half_to_even(x * 10^p)`; integer and bool tensors are hashed unchanged. The quantized tensor keeps its name
 *   and dims and is tagged with dtype code `0x80 | <float code>`, so it can never collide with a genuine int64 output
 *   holding the same integers (nor with a quantization of a float of another width).
 *
 * Determinism of the quantization: the product is not computed in floating point (where `x * 10^p` is itself rounded,
 * and where a port in another language, or an FMA/x87 code path, might round differently); instead the float's exact
 * value `m * 2^e` is multiplied by `10^p` exactly, and the result is rounded half-to-even exactly (BigInt arithmetic,
 * or double arithmetic only where it provably cannot round). The result is therefore a pure function of the float's
 * bits, reproducible bit-for-bit by any implementation (Solidity, Rust, Python). NaN of any payload, +Inf and -Inf map
 * to the fixed sentinels {@link QUANTIZED_NAN}, {@link QUANTIZED_POS_INF}, {@link QUANTIZED_NEG_INF}; finite values
 * beyond int64 saturate to {@link QUANTIZED_MIN_FINITE}/{@link QUANTIZED_MAX_FINITE}; -0 and +0 both give 0.
 *
 * Why this lets honest operators agree: different hardware (CPU vector widths, GPU kernels, thread partitioning) may
 * produce float outputs that differ in their last few ulps. As long as those differences stay well below `10^-p`, both
 * operators' values round to the same integer and their hashes match. It is not a guarantee: two values straddling a
 * rounding boundary (e.g. 0.12349999 vs 0.12350001 at p = 4) still round differently, however close they are. Such a
 * mismatch must be resolved as a dispute (re-execution / comparison with tolerance), never by automatic slashing.
 */
export function resultHash(outputs: TensorMap, comparator: Comparator): Hex {
  return hashEntries(resultEntries(outputs, comparator));
}

// ---------------------------------------------------------------------------------------------------------------------
// Invalid-input results
// ---------------------------------------------------------------------------------------------------------------------

/** Name of the single tensor of an invalid-input result. The `veil.` prefix is reserved for the protocol. */
export const INVALID_INPUT_TENSOR = "veil.error";
export const INVALID_INPUT_PREFIX = "invalid_input:";

/** Formats a (possibly symbolic) shape for invalid-input codes: fixed dims as numbers, dynamic dims as `?`. */
export function formatShape(dims: readonly (number | string | null | undefined)[]): string {
  return `[${dims.map((d) => (typeof d === "number" && d >= 0 ? String(d) : "?")).join(",")}]`;
}

/** Builders for the deterministic invalid-input reason codes. */
export const invalidInputCode = {
  missing: (name: string): string => `${INVALID_INPUT_PREFIX}missing:${name}`,
  unknown: (name: string): string => `${INVALID_INPUT_PREFIX}unknown:${name}`,
  dtype: (name: string, expected: string, got: string): string => `${INVALID_INPUT_PREFIX}dtype:${name}:${expected}:${got}`,
  shape: (name: string, expected: readonly (number | string | null)[], got: readonly number[]): string =>
    `${INVALID_INPUT_PREFIX}shape:${name}:${formatShape(expected)}:${formatShape(got)}`,
} as const;

/**
 * The result a worker commits for a job whose inputs don't fit the model: a single uint8 tensor named `veil.error`
 * holding the UTF-8 reason (e.g. `invalid_input:missing:x`). It is an ordinary, hashable result so every honest
 * operator commits the same hash for the same bad input.
 */
export function invalidInputResult(code: string): TensorMap {
  if (typeof code !== "string" || !code.startsWith(INVALID_INPUT_PREFIX) || code.length === INVALID_INPUT_PREFIX.length) {
    throw new TensorEncodingError("INVALID_INPUT_CODE", `invalid-input codes look like "${INVALID_INPUT_PREFIX}<reason>", got ${JSON.stringify(code)}`);
  }
  if (LONE_SURROGATE.test(code)) throw new TensorEncodingError("INVALID_INPUT_CODE", "invalid-input code is not well-formed UTF-16");
  const data = utf8Encoder.encode(code);
  const out: TensorMap = {};
  defineEntry<Tensor>(out, INVALID_INPUT_TENSOR, { type: "uint8", dims: [data.length], data });
  return out;
}

/** The reason code if `map` is an invalid-input result, else `undefined`. */
export function readInvalidInput(map: TensorMap): string | undefined {
  const keys = Object.keys(map);
  if (keys.length !== 1 || keys[0] !== INVALID_INPUT_TENSOR) return undefined;
  const t = map[INVALID_INPUT_TENSOR]!;
  if (t.type !== "uint8" || t.dims.length !== 1 || t.data.length !== t.dims[0]) return undefined;
  try {
    const code = utf8Decoder.decode(t.data);
    return code.startsWith(INVALID_INPUT_PREFIX) ? code : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// float16
// ---------------------------------------------------------------------------------------------------------------------

/** Exact value of IEEE-754 binary16 bits. */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1024 + frac) * 2 ** (exp - 25);
}

/** Nearest binary16 (round half to even, directly from the double, no double rounding); NaN becomes 0x7e00. */
export function numberToFloat16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // 65520 is the tie between 65504 (max finite) and 65536: rounds to even = Inf
  if (a < 2 ** -14) return sign | roundHalfEvenSmall(a * 2 ** 24); // subnormal; 1024 carries into the min normal
  const e = decompose(a).e + 52; // a is a normal double here: exponent of its leading bit, in -14..15
  const frac = roundHalfEvenSmall((a / 2 ** e - 1) * 1024); // exact: a / 2^e in [1, 2)
  return sign | (((e + 15) << 10) + frac); // frac == 1024 carries into the exponent
}

// ---------------------------------------------------------------------------------------------------------------------
// JSON form
// ---------------------------------------------------------------------------------------------------------------------

/** JSON element: numbers; int64/uint64 as decimal strings; bools; `"NaN"`, `"Infinity"`, `"-Infinity"`, `"-0"` for floats. */
export type TensorJsonValue = number | string | boolean;

export interface TensorJson {
  type: TensorDType;
  dims: number[];
  /** Flat, row-major. */
  data: TensorJsonValue[];
}

export type TensorMapJson = Record<string, TensorJson>;

const INT_RANGES: Partial<Record<TensorDType, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};
const BIG_RANGES = { int64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n] } as const;

function jsonFloat(v: unknown, path: string): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  if (v === "-0") return -0;
  throw new TensorJsonError(path, `expected a number (or "NaN", "Infinity", "-Infinity", "-0"), got ${JSON.stringify(v)}`);
}

function jsonBig(v: unknown, path: string, type: "int64" | "uint64"): bigint {
  let b: bigint;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) {
      throw new TensorJsonError(path, `${type} numbers must be safe integers (use a decimal string for larger values), got ${v}`);
    }
    b = BigInt(v);
  } else if (typeof v === "string" && /^-?(0|[1-9][0-9]*)$/.test(v)) {
    b = BigInt(v);
  } else {
    throw new TensorJsonError(path, `expected an integer or a decimal string, got ${JSON.stringify(v)}`);
  }
  const [lo, hi] = BIG_RANGES[type];
  if (b < lo || b > hi) throw new TensorJsonError(path, `${b} is out of ${type} range`);
  return b;
}

function tensorFromJson(value: unknown, path: string): Tensor {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TensorJsonError(path, 'expected {"type", "dims", "data"}');
  }
  const { type, dims, data } = value as Record<string, unknown>;
  for (const key of Object.keys(value)) {
    if (key !== "type" && key !== "dims" && key !== "data") throw new TensorJsonError(`${path}.${key}`, "unexpected field");
  }
  if (!isTensorDType(type)) throw new TensorJsonError(`${path}.type`, `unknown dtype ${JSON.stringify(type)} (one of ${TENSOR_DTYPES.join(", ")})`);
  if (!Array.isArray(dims)) throw new TensorJsonError(`${path}.dims`, "expected an array of non-negative integers");
  let count: number;
  try {
    count = elementCount(dims as number[]);
  } catch (e) {
    throw new TensorJsonError(`${path}.dims`, (e as Error).message, { cause: e });
  }
  if (!Array.isArray(data)) throw new TensorJsonError(`${path}.data`, "expected a flat array");
  if (data.length !== count) {
    throw new TensorJsonError(`${path}.data`, `dims [${dims.join(",")}] need ${count} elements, got ${data.length}`);
  }
  const info = dtypeInfo(type);
  const at = (i: number) => `${path}.data[${i}]`;
  switch (type) {
    case "float32":
    case "float64": {
      const out = new info.ctor(count) as Float32Array | Float64Array;
      data.forEach((v, i) => (out[i] = jsonFloat(v, at(i))));
      return { type, dims: [...dims], data: out } as Tensor;
    }
    case "float16": {
      const out = new Uint16Array(count);
      data.forEach((v, i) => (out[i] = numberToFloat16Bits(jsonFloat(v, at(i)))));
      return { type, dims: [...dims], data: out };
    }
    case "int64":
    case "uint64": {
      const out = type === "int64" ? new BigInt64Array(count) : new BigUint64Array(count);
      data.forEach((v, i) => (out[i] = jsonBig(v, at(i), type)));
      return { type, dims: [...dims], data: out } as Tensor;
    }
    case "bool": {
      const out = new Uint8Array(count);
      data.forEach((v, i) => {
        if (v === true || v === 1) out[i] = 1;
        else if (v === false || v === 0) out[i] = 0;
        else throw new TensorJsonError(at(i), `expected true/false or 0/1, got ${JSON.stringify(v)}`);
      });
      return { type, dims: [...dims], data: out };
    }
    default: {
      const [lo, hi] = INT_RANGES[type]!;
      const out = new info.ctor(count) as Exclude<TensorData, BigInt64Array | BigUint64Array>;
      data.forEach((v, i) => {
        if (typeof v !== "number" || !Number.isInteger(v)) throw new TensorJsonError(at(i), `expected an integer, got ${JSON.stringify(v)}`);
        if (v < lo || v > hi) throw new TensorJsonError(at(i), `${v} is out of ${type} range`);
        out[i] = v;
      });
      return { type, dims: [...dims], data: out } as Tensor;
    }
  }
}

/**
 * Parses the CLI's JSON form (an object or a JSON string):
 * `{"input": {"type": "float32", "dims": [1, 4], "data": [0.1, 0.2, 0.3, 0.4]}}`.
 * `data` is flat and row-major. int64/uint64 accept safe-integer numbers or decimal strings; bool accepts true/false or
 * 0/1; floats accept numbers or `"NaN"`, `"Infinity"`, `"-Infinity"`, `"-0"`, and are rounded to the dtype's precision
 * (float16 round-half-even). Throws {@link TensorJsonError} with a path to the offending value.
 */
export function tensorsFromJson(obj: unknown): TensorMap {
  let root = obj;
  if (typeof obj === "string") {
    try {
      root = JSON.parse(obj);
    } catch (e) {
      throw new TensorJsonError("$", `not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  if (root === null || typeof root !== "object" || Array.isArray(root)) {
    throw new TensorJsonError("$", "expected an object mapping tensor names to tensors");
  }
  const out: TensorMap = {};
  for (const name of Object.keys(root)) {
    const path = `$[${JSON.stringify(name)}]`;
    try {
      nameToBytes(name);
    } catch (e) {
      throw new TensorJsonError(path, (e as Error).message, { cause: e });
    }
    defineEntry(out, name, tensorFromJson((root as Record<string, unknown>)[name], path));
  }
  return out;
}

function shortestFloat(x: number, maxDigits: number, same: (y: number) => boolean): TensorJsonValue {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (Object.is(x, -0)) return "-0";
  for (let p = 1; p <= maxDigits; p++) {
    const y = Number(x.toPrecision(p));
    if (same(y)) return y;
  }
  return x;
}

/**
 * The JSON form of a tensor map (keys in canonical order). int64/uint64 are written as decimal strings; bool as
 * true/false; floats as the shortest decimal that parses back to the same value, with non-finite values and -0 as
 * strings. `tensorsFromJson(tensorsToJson(m))` reproduces `m` bit for bit, except NaN payloads (canonicalised).
 */
export function tensorsToJson(map: TensorMap): TensorMapJson {
  const out: TensorMapJson = {};
  for (const name of canonicalNames(map)) {
    const t = map[name]!;
    validateTensor(t, name);
    let data: TensorJsonValue[];
    switch (t.type) {
      case "float32":
        data = Array.from(t.data, (x) => shortestFloat(x, 9, (y) => Math.fround(y) === x));
        break;
      case "float64":
        data = Array.from(t.data, (x) => shortestFloat(x, 17, (y) => y === x));
        break;
      case "float16":
        data = Array.from(t.data, (bits) => shortestFloat(float16BitsToNumber(bits), 5, (y) => numberToFloat16Bits(y) === bits));
        break;
      case "int64":
      case "uint64":
        data = Array.from(t.data as ArrayLike<bigint>, (b) => b.toString());
        break;
      case "bool":
        data = Array.from(t.data, (b) => b === 1);
        break;
      default:
        data = Array.from(t.data as ArrayLike<number>);
    }
    defineEntry(out, name, { type: t.type, dims: [...t.dims], data });
  }
  return out;
}
