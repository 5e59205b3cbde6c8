import { expect } from "chai";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import {
  canonicalResultBytes,
  decodeTensors,
  encodeTensors,
  float16BitsToNumber,
  invalidInputCode,
  invalidInputResult,
  InvalidTensorError,
  numberToFloat16Bits,
  QUANTIZED_MAX_FINITE,
  QUANTIZED_MIN_FINITE,
  QUANTIZED_NAN,
  QUANTIZED_NEG_INF,
  QUANTIZED_POS_INF,
  quantizeFloat,
  quantizeFloatExact,
  rawDataSha256,
  readInvalidInput,
  resultHash,
  sha256Hex,
  TENSOR_DTYPES,
  TensorDecodeError,
  TensorEncodingError,
  TensorJsonError,
  tensorsEqual,
  tensorsFromJson,
  tensorsHash,
  tensorsToJson,
  type Tensor,
  type TensorErrorCode,
  type TensorMap,
} from "../../packages/sdk/src/tensor.js";

const nodeSha = (b: Uint8Array) => `0x${createHash("sha256").update(b).digest("hex")}`;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Independent little writer for hand-built canonical bytes (does not reuse the implementation). */
function raw(parts: (number[] | Uint8Array | string)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "string") out.push(...Buffer.from(p, "utf8"));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}
const u16 = (n: number) => [n & 0xff, n >> 8];
const u32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];
const u64 = (n: bigint) => Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
const HEADER = (count: number) => raw(["VTNS", [1], u32(count)]);
/** One uint8 tensor entry. */
const u8Entry = (name: string, data: number[], code = 2) =>
  raw([u16(Buffer.byteLength(name)), name, [code, 1], u64(BigInt(data.length)), u64(BigInt(data.length)), data]);

function expectCode(fn: () => unknown, code: TensorErrorCode, cls: new (...a: never[]) => Error = TensorEncodingError) {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${code}`).to.be.instanceOf(cls);
  expect((caught as TensorEncodingError).code).to.equal(code);
}

function everyDtype(): TensorMap {
  const f16 = Uint16Array.of(0x0000, 0x8000, 0x3c00, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x7e01);
  const f32 = new Float32Array(new Uint32Array([0x3f800000, 0x80000000, 0x7f7fffff, 0x00000001, 0x7fc00001, 0xff800000]).buffer);
  return {
    f16: { type: "float16", dims: [2, 4], data: f16 },
    f32: { type: "float32", dims: [3, 2], data: f32 },
    f64: { type: "float64", dims: [4], data: Float64Array.of(Math.PI, -0, Number.MIN_VALUE, -Number.MAX_VALUE) },
    i8: { type: "int8", dims: [3], data: Int8Array.of(-128, 0, 127) },
    u8: { type: "uint8", dims: [2], data: Uint8Array.of(0, 255) },
    i16: { type: "int16", dims: [2], data: Int16Array.of(-32768, 32767) },
    u16: { type: "uint16", dims: [2], data: Uint16Array.of(0, 65535) },
    i32: { type: "int32", dims: [2], data: Int32Array.of(-(2 ** 31), 2 ** 31 - 1) },
    u32: { type: "uint32", dims: [2], data: Uint32Array.of(0, 2 ** 32 - 1) },
    i64: { type: "int64", dims: [4], data: BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, -1n, 0n) },
    u64: { type: "uint64", dims: [2], data: BigUint64Array.of(0n, 2n ** 64n - 1n) },
    b: { type: "bool", dims: [2, 2], data: Uint8Array.of(0, 1, 1, 0) },
    empty: { type: "float32", dims: [2, 0, 5], data: new Float32Array(0) },
    scalar: { type: "int64", dims: [], data: BigInt64Array.of(42n) },
  };
}

function bitsOf(t: Tensor): string {
  return hex(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

describe("sdk/tensor", () => {
  describe("canonical encoding", () => {
    it("round-trips every dtype bit for bit (int64 extremes, float16 bits, NaN payloads, bool, empty, scalar)", () => {
      const m = everyDtype();
      expect(TENSOR_DTYPES).to.have.length(12);
      expect(new Set(Object.values(m).map((t) => t.type))).to.have.property("size", 12);
      const bytes = encodeTensors(m);
      const back = decodeTensors(bytes);
      expect(Object.keys(back).sort()).to.deep.equal(Object.keys(m).sort());
      for (const [name, t] of Object.entries(m)) {
        const d = back[name]!;
        expect(d.type, name).to.equal(t.type);
        expect(d.dims, name).to.deep.equal(t.dims);
        expect(d.data.constructor, name).to.equal(t.data.constructor);
        expect(bitsOf(d), name).to.equal(bitsOf(t));
      }
      expect(hex(encodeTensors(back))).to.equal(hex(bytes));
      expect((back["i64"]!.data as BigInt64Array)[0]).to.equal(-(2n ** 63n));
      expect((back["scalar"]!.data as BigInt64Array)[0]).to.equal(42n);
    });

    it("matches the documented byte layout exactly", () => {
      const m: TensorMap = {
        b: { type: "int32", dims: [2], data: Int32Array.of(1, -2) },
        a: { type: "uint8", dims: [2, 1], data: Uint8Array.of(7, 9) },
      };
      const expected = raw([
        "VTNS", [1], u32(2),
        u16(1), "a", [2, 2], u64(2n), u64(1n), u64(2n), [7, 9],
        u16(1), "b", [6, 1], u64(2n), u64(8n), [1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff],
      ]);
      const bytes = encodeTensors(m);
      expect(hex(bytes)).to.equal(hex(expected));
      expect(tensorsHash(m)).to.equal(nodeSha(expected));
      expect(sha256Hex(bytes)).to.equal(nodeSha(expected)).and.to.match(/^0x[0-9a-f]{64}$/);
      expect(hex(encodeTensors({}))).to.equal(hex(HEADER(0)));
    });

    it("sorts by UTF-8 bytes, so key order is irrelevant (and differs from JS string order)", () => {
      const t = (v: number): Tensor => ({ type: "uint8", dims: [1], data: Uint8Array.of(v) });
      const cjk = "\uFF61"; // UTF-8 EF BD A1; UTF-16 0xFF61
      const emoji = "\u{1F600}"; // UTF-8 F0 9F 98 80; UTF-16 0xD83D 0xDE00
      expect([cjk, emoji].sort()).to.deep.equal([emoji, cjk]); // JS order
      const one = encodeTensors({ [emoji]: t(1), z: t(2), [cjk]: t(3), A: t(4) });
      const two = encodeTensors({ A: t(4), [cjk]: t(3), z: t(2), [emoji]: t(1) });
      expect(hex(one)).to.equal(hex(two));
      expect(Object.keys(decodeTensors(one))).to.deep.equal(["A", "z", cjk, emoji]);
      expect(tensorsEqual({ a: t(1), b: t(2) }, { b: t(2), a: t(1) })).to.equal(true);
      expect(tensorsEqual({ a: t(1) }, { a: t(2) })).to.equal(false);
    });

    it("keeps awkward names intact (__proto__, leading BOM)", () => {
      const bytes = raw([HEADER(2), u8Entry("__proto__", [2]), u8Entry("\uFEFFx", [1])]); // 0x5F < 0xEF
      const m = decodeTensors(bytes);
      expect(Object.keys(m)).to.deep.equal(["__proto__", "\uFEFFx"]);
      expect(Object.prototype.hasOwnProperty.call(m, "__proto__")).to.equal(true);
      expect(Object.getPrototypeOf(m)).to.equal(Object.prototype);
      expect(m["\uFEFFx"]!.data).to.deep.equal(Uint8Array.of(1));
      expect(hex(encodeTensors(m))).to.equal(hex(bytes));
    });

    it("rejects malformed tensors on encode", () => {
      const bad = (t: unknown, name = "t") => () => encodeTensors({ [name]: t as Tensor });
      expectCode(bad({ type: "float32", dims: [2], data: new Float64Array(2) }), "INVALID_TENSOR", InvalidTensorError);
      expectCode(bad({ type: "float32", dims: [3], data: new Float32Array(2) }), "INVALID_TENSOR", InvalidTensorError);
      expectCode(bad({ type: "string", dims: [1], data: ["a"] }), "INVALID_TENSOR", InvalidTensorError);
      expectCode(bad({ type: "int64", dims: [1], data: new Float64Array(1) }), "INVALID_TENSOR", InvalidTensorError);
      expectCode(bad({ type: "uint8", dims: [-1], data: new Uint8Array(0) }), "INVALID_DIMS", InvalidTensorError);
      expectCode(bad({ type: "uint8", dims: [1.5], data: new Uint8Array(1) }), "INVALID_DIMS", InvalidTensorError);
      expectCode(bad({ type: "uint8", dims: new Array(256).fill(1), data: new Uint8Array(1) }), "INVALID_DIMS", InvalidTensorError);
      expectCode(bad({ type: "uint8", dims: [2 ** 30, 2 ** 30], data: new Uint8Array(0) }), "INVALID_DIMS", InvalidTensorError);
      expectCode(bad({ type: "bool", dims: [2], data: Uint8Array.of(1, 2) }), "INVALID_BOOL", InvalidTensorError);
      const ok = { type: "uint8", dims: [1], data: Uint8Array.of(1) };
      expectCode(bad(ok, ""), "INVALID_NAME", InvalidTensorError);
      expectCode(bad(ok, "a\uD800b"), "INVALID_NAME", InvalidTensorError);
      expectCode(bad(ok, "x".repeat(65536)), "INVALID_NAME", InvalidTensorError);
      expect(() => encodeTensors({ ["x".repeat(65535)]: ok as Tensor })).not.to.throw();
    });
  });

  describe("strict decoding", () => {
    const valid = raw([HEADER(1), u8Entry("a", [1, 2])]);

    it("accepts the valid baseline", () => {
      expect(decodeTensors(valid)["a"]!.data).to.deep.equal(Uint8Array.of(1, 2));
    });
    it("bad magic", () => expectCode(() => decodeTensors(raw(["VTNX", valid.slice(4)])), "BAD_MAGIC", TensorDecodeError));
    it("unsupported version", () => expectCode(() => decodeTensors(raw(["VTNS", [2], valid.slice(5)])), "UNSUPPORTED_VERSION", TensorDecodeError));
    it("every truncation", () => {
      for (let n = 0; n < valid.length; n++) expectCode(() => decodeTensors(valid.subarray(0, n)), "TRUNCATED", TensorDecodeError);
      expectCode(() => decodeTensors(raw([HEADER(0xffffffff)])), "TRUNCATED", TensorDecodeError);
    });
    it("trailing bytes", () => expectCode(() => decodeTensors(raw([valid, [0]])), "TRAILING_BYTES", TensorDecodeError));
    it("unknown dtype codes, including string and quantized-float codes", () => {
      for (const code of [0, 8, 14, 16, 0x81, 0xff]) {
        expectCode(() => decodeTensors(raw([HEADER(1), u8Entry("a", [1, 2], code)])), "UNKNOWN_DTYPE", TensorDecodeError);
      }
    });
    it("data length != product(dims) * size", () => {
      const lie = raw([HEADER(1), u16(1), "a", [6, 1], u64(2n), u64(4n), [0, 0, 0, 0]]); // int32[2] needs 8 bytes
      expectCode(() => decodeTensors(lie), "LENGTH_MISMATCH", TensorDecodeError);
      const overflow = raw([HEADER(1), u16(1), "a", [2, 2], u64(2n ** 32n), u64(2n ** 32n), u64(1n)]);
      expectCode(() => decodeTensors(overflow), "LENGTH_MISMATCH", TensorDecodeError);
      const huge = raw([HEADER(1), u16(1), "a", [2, 1], u64(2n ** 32n), u64(2n ** 32n), [1, 2, 3]]);
      expectCode(() => decodeTensors(huge), "TRUNCATED", TensorDecodeError);
    });
    it("dims beyond 2^53-1", () => {
      const big = raw([HEADER(1), u16(1), "a", [2, 2], u64(2n ** 53n), u64(0n), u64(0n)]);
      expectCode(() => decodeTensors(big), "INVALID_DIMS", TensorDecodeError);
      const zeroWithBig = raw([HEADER(1), u16(1), "a", [2, 2], u64(0n), u64(2n ** 53n - 1n), u64(0n)]);
      expect(decodeTensors(zeroWithBig)["a"]!.dims).to.deep.equal([0, 2 ** 53 - 1]);
    });
    it("duplicate names", () => expectCode(() => decodeTensors(raw([HEADER(2), u8Entry("a", [1]), u8Entry("a", [2])])), "DUPLICATE_NAME", TensorDecodeError));
    it("unsorted names", () => {
      expectCode(() => decodeTensors(raw([HEADER(2), u8Entry("b", [1]), u8Entry("a", [2])])), "UNSORTED_NAMES", TensorDecodeError);
      // JS string order would accept this; UTF-8 byte order does not.
      expectCode(() => decodeTensors(raw([HEADER(2), u8Entry("\u{1F600}", [1]), u8Entry("\uFF61", [2])])), "UNSORTED_NAMES", TensorDecodeError);
    });
    it("invalid names: empty, not UTF-8", () => {
      expectCode(() => decodeTensors(raw([HEADER(1), u16(0), [2, 1], u64(1n), u64(1n), [1]])), "INVALID_NAME", TensorDecodeError);
      expectCode(() => decodeTensors(raw([HEADER(1), u16(1), [0xff], [2, 0], u64(1n), [1]])), "INVALID_NAME", TensorDecodeError);
      expectCode(() => decodeTensors(raw([HEADER(1), u16(2), [0xc0, 0x80], [2, 0], u64(1n), [1]])), "INVALID_NAME", TensorDecodeError);
    });
    it("bool bytes other than 0/1", () => {
      expectCode(() => decodeTensors(raw([HEADER(1), u8Entry("a", [1, 2], 9)])), "INVALID_BOOL", TensorDecodeError);
      expect(decodeTensors(raw([HEADER(1), u8Entry("a", [1, 0], 9)]))["a"]!.type).to.equal("bool");
    });
    it("reports the failing offset", () => {
      try {
        decodeTensors(raw([valid, [0, 0]]));
        expect.fail("should throw");
      } catch (e) {
        expect((e as TensorDecodeError).offset).to.equal(valid.length);
      }
    });
  });

  describe("hashes", () => {
    it("tensorsHash = sha256(encodeTensors) (checked against node:crypto)", () => {
      const m = everyDtype();
      expect(tensorsHash(m)).to.equal(nodeSha(encodeTensors(m)));
      expect(sha256Hex(new Uint8Array(0))).to.equal("0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    });
    it("rawDataSha256 hashes only the little-endian data", () => {
      const t: Tensor = { type: "int32", dims: [2], data: Int32Array.of(1, 256) };
      expect(rawDataSha256(t)).to.equal(nodeSha(Uint8Array.of(1, 0, 0, 0, 0, 1, 0, 0)));
      const view = new Float32Array(new Float32Array([9, 1.5, 2.5]).buffer, 4, 2);
      expect(rawDataSha256({ type: "float32", dims: [2], data: view })).to.equal(rawDataSha256({ type: "float32", dims: [1, 2], data: Float32Array.of(1.5, 2.5) }));
    });
  });

  describe("comparators", () => {
    const y = (vals: number[]): TensorMap => ({ y: { type: "float32", dims: [vals.length], data: Float32Array.from(vals) } });
    const rounded4 = { kind: "rounded", precision: 4 } as const;

    it("exact sees every bit; rounded ignores perturbations below the precision but not above", () => {
      const base = y([0.123456, 1.5, -3.25]);
      const tiny = y([0.123456 + 2e-7, 1.5 - 1e-7, -3.25]);
      const big = y([0.123456 + 1e-3, 1.5, -3.25]);
      expect(resultHash(base, { kind: "exact" })).to.equal(tensorsHash(base));
      expect(resultHash(tiny, { kind: "exact" })).to.not.equal(resultHash(base, { kind: "exact" }));
      expect(resultHash(tiny, rounded4)).to.equal(resultHash(base, rounded4));
      expect(resultHash(big, rounded4)).to.not.equal(resultHash(base, rounded4));
      expect(resultHash(base, { kind: "rounded", precision: 2 })).to.not.equal(resultHash(base, rounded4));
    });

    it("values straddling a rounding boundary still differ (a dispute, not a slash)", () => {
      const below = Math.fround(0.12344999);
      const above = Math.fround(0.12345001);
      expect(above - below).to.be.below(3e-8);
      expect([quantizeFloat(below, 4), quantizeFloat(above, 4)]).to.deep.equal([1234n, 1235n]);
      expect(resultHash(y([below]), rounded4)).to.not.equal(resultHash(y([above]), rounded4));
    });

    it("a quantized float never collides with a genuine int64 (or another float width) holding the same integers", () => {
      const asFloat = y([1.5, -2]);
      const asInt: TensorMap = { y: { type: "int64", dims: [2], data: BigInt64Array.of(15000n, -20000n) } };
      const asF64: TensorMap = { y: { type: "float64", dims: [2], data: Float64Array.of(1.5, -2) } };
      const a = canonicalResultBytes(asFloat, rounded4);
      const b = canonicalResultBytes(asInt, rounded4);
      expect(a.length).to.equal(b.length);
      const diff = [...a.keys()].filter((i) => a[i] !== b[i]);
      expect(diff).to.have.length(1); // only the dtype code
      expect([a[diff[0]!], b[diff[0]!]]).to.deep.equal([0x81, 7]);
      expect(resultHash(asFloat, rounded4)).to.not.equal(resultHash(asInt, rounded4));
      expect(resultHash(asFloat, rounded4)).to.not.equal(resultHash(asF64, rounded4));
      expect(canonicalResultBytes(asF64, rounded4)[diff[0]!]).to.equal(0x8b);
    });

    it("integer and bool tensors are hashed unchanged", () => {
      const m: TensorMap = {
        i: { type: "int64", dims: [2], data: BigInt64Array.of(1n, 2n) },
        b: { type: "bool", dims: [1], data: Uint8Array.of(1) },
      };
      expect(resultHash(m, rounded4)).to.equal(resultHash(m, { kind: "exact" })).and.to.equal(tensorsHash(m));
    });

    it("NaN (any payload), infinities and signed zeros map to fixed values", () => {
      const nanA = new Float32Array(new Uint32Array([0x7fc00000]).buffer);
      const nanB = new Float32Array(new Uint32Array([0xffc00123]).buffer);
      const t = (d: Float32Array): TensorMap => ({ y: { type: "float32", dims: [1], data: d } });
      expect(resultHash(t(nanA), { kind: "exact" })).to.not.equal(resultHash(t(nanB), { kind: "exact" }));
      expect(resultHash(t(nanA), rounded4)).to.equal(resultHash(t(nanB), rounded4));
      expect(resultHash(y([Infinity]), rounded4)).to.not.equal(resultHash(y([-Infinity]), rounded4));
      expect(resultHash(y([Infinity]), rounded4)).to.not.equal(resultHash(t(nanA), rounded4));
      expect(resultHash(y([1e30]), rounded4)).to.not.equal(resultHash(y([Infinity]), rounded4));
      expect(resultHash(y([-0]), rounded4)).to.equal(resultHash(y([0]), rounded4));
      expect(resultHash(y([-0]), { kind: "exact" })).to.not.equal(resultHash(y([0]), { kind: "exact" }));
      expect(quantizeFloat(NaN, 3)).to.equal(QUANTIZED_NAN);
      expect(quantizeFloat(Infinity, 3)).to.equal(QUANTIZED_POS_INF);
      expect(quantizeFloat(-Infinity, 3)).to.equal(QUANTIZED_NEG_INF);
      expect(quantizeFloat(1e300, 0)).to.equal(QUANTIZED_MAX_FINITE);
      expect(quantizeFloat(-Number.MAX_VALUE, 18)).to.equal(QUANTIZED_MIN_FINITE);
      expect(quantizeFloat(9.2e18, 0)).to.equal(9200000000000000000n);
    });

    it("rounds half to even on the float's exact value", () => {
      expect(quantizeFloat(0.125, 2)).to.equal(12n);
      expect(quantizeFloat(0.375, 2)).to.equal(38n);
      expect(quantizeFloat(2.5, 0)).to.equal(2n);
      expect(quantizeFloat(3.5, 0)).to.equal(4n);
      expect(quantizeFloat(-2.5, 0)).to.equal(-2n);
      expect(quantizeFloat(-0.375, 2)).to.equal(-38n);
      // 1.005 is really 1.00499999999999989...: exact rounding gives 100, float arithmetic (1.005 * 100) would not.
      expect(quantizeFloat(1.005, 2)).to.equal(100n);
      expect(quantizeFloat(Number.MIN_VALUE, 18)).to.equal(0n);
      expect(quantizeFloat(2 ** 60, 0)).to.equal(2n ** 60n);
      expect(quantizeFloat(0.1, 18)).to.equal(100000000000000006n); // 0.1000000000000000055511...
    });

    it("the fast path agrees with the exact BigInt reference", () => {
      let s = 0x9e3779b9;
      const next = () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
      const bits = new Uint32Array(2);
      const f64 = new Float64Array(bits.buffer);
      const values: number[] = [0.5, 1.5, 2.5, 1e-300, 2 ** -1074, 2 ** 52 + 1, 4503599627370495.5, 0.05, 0.005, 0.0005];
      for (let i = 0; i < 3000; i++) {
        bits[0] = next();
        bits[1] = next();
        values.push(f64[0]!, Math.fround((next() / 2 ** 32 - 0.5) * 2 ** ((next() % 40) - 20)), (next() % 20001) / 2 ** (next() % 12));
      }
      for (const v of values) {
        for (const p of [0, 1, 3, 6, 9, 12, 18]) {
          expect(quantizeFloat(v, p), `${v} @${p}`).to.equal(quantizeFloatExact(v, p));
          expect(quantizeFloat(-v, p), `${-v} @${p}`).to.equal(quantizeFloatExact(-v, p));
        }
      }
    });

    it("quantizes float16 from its exact value", () => {
      const h: TensorMap = { y: { type: "float16", dims: [2], data: Uint16Array.of(0x3e00, 0x2e66) } }; // 1.5, ~0.0999755859375
      const bytes = canonicalResultBytes(h, { kind: "rounded", precision: 6 });
      const data = new BigInt64Array(bytes.slice(bytes.length - 16).buffer);
      expect([...data]).to.deep.equal([1500000n, 99976n]);
      expect(bytes[bytes.length - 16 - 8 - 8 - 1 - 1]).to.equal(0x8a);
    });

    it("validates comparators", () => {
      for (const c of [{ kind: "rounded", precision: 19 }, { kind: "rounded", precision: -1 }, { kind: "rounded", precision: 1.5 }, { kind: "fuzzy" }]) {
        expectCode(() => resultHash(y([1]), c as never), "INVALID_COMPARATOR");
      }
    });
  });

  describe("invalid-input results", () => {
    it("round-trips codes and is a normal hashable result", () => {
      const code = invalidInputCode.dtype("x", "float32", "int64");
      expect(code).to.equal("invalid_input:dtype:x:float32:int64");
      const r = invalidInputResult(code);
      expect(Object.keys(r)).to.deep.equal(["veil.error"]);
      expect(r["veil.error"]!.type).to.equal("uint8");
      expect(readInvalidInput(r)).to.equal(code);
      expect(readInvalidInput(decodeTensors(encodeTensors(r)))).to.equal(code);
      expect(tensorsHash(r)).to.equal(tensorsHash(invalidInputResult(code)));
      expect(tensorsHash(r)).to.not.equal(tensorsHash(invalidInputResult(invalidInputCode.missing("x"))));
    });
    it("formats every code deterministically", () => {
      expect(invalidInputCode.missing("a")).to.equal("invalid_input:missing:a");
      expect(invalidInputCode.unknown("zz")).to.equal("invalid_input:unknown:zz");
      expect(invalidInputCode.shape("x", ["N", 16], [1, 15])).to.equal("invalid_input:shape:x:[?,16]:[1,15]");
      expect(invalidInputCode.shape("s", [], [2])).to.equal("invalid_input:shape:s:[]:[2]");
    });
    it("is not confused with ordinary outputs", () => {
      expect(readInvalidInput({ y: { type: "uint8", dims: [1], data: Uint8Array.of(1) } })).to.equal(undefined);
      const two = { ...invalidInputResult("invalid_input:missing:x"), y: { type: "uint8", dims: [1], data: Uint8Array.of(1) } as Tensor };
      expect(readInvalidInput(two)).to.equal(undefined);
      expect(readInvalidInput({ "veil.error": { type: "uint8", dims: [2], data: Uint8Array.of(0xff, 0xfe) } })).to.equal(undefined);
      expectCode(() => invalidInputResult("oops"), "INVALID_INPUT_CODE");
      expectCode(() => invalidInputResult("invalid_input:"), "INVALID_INPUT_CODE");
    });
  });

  describe("JSON form", () => {
    it("parses the CLI example", () => {
      const m = tensorsFromJson({ input: { type: "float32", dims: [1, 4], data: [0.1, 0.2, 0.3, 0.4] } });
      expect(m["input"]!.data).to.deep.equal(Float32Array.of(0.1, 0.2, 0.3, 0.4));
      expect(tensorsToJson(m)).to.deep.equal({ input: { type: "float32", dims: [1, 4], data: [0.1, 0.2, 0.3, 0.4] } });
    });
    it("round-trips every dtype through JSON text bit for bit (NaN payloads canonicalised)", () => {
      const m = everyDtype();
      delete m["f32"]; // holds a NaN payload
      m["f16"] = { type: "float16", dims: [2, 4], data: Uint16Array.of(0x0000, 0x8000, 0x3c00, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x7e00) };
      m["f32"] = { type: "float32", dims: [4], data: Float32Array.of(0.1, -0, 3.4028234663852886e38, NaN) };
      const text = JSON.stringify(tensorsToJson(m));
      expect(hex(encodeTensors(tensorsFromJson(text)))).to.equal(hex(encodeTensors(m)));
      const j = JSON.parse(text);
      expect(j.i64.data).to.deep.equal(["-9223372036854775808", "9223372036854775807", "-1", "0"]);
      expect(j.u64.data).to.deep.equal(["0", "18446744073709551615"]);
      expect(j.b.data).to.deep.equal([false, true, true, false]);
      expect(j.f32.data).to.deep.equal([0.1, "-0", 3.4028235e38, "NaN"]);
      expect(j.f16.data).to.deep.equal([0, "-0", 1, 65500, 6e-8, "Infinity", "-Infinity", "NaN"]);
      expect(Object.keys(j)).to.deep.equal(Object.keys(j).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    });
    it("accepts int64 numbers or strings and bools as 0/1", () => {
      const m = tensorsFromJson({
        a: { type: "int64", dims: [3], data: [5, "-9223372036854775808", "12"] },
        b: { type: "bool", dims: [4], data: [true, 0, 1, false] },
        c: { type: "uint64", dims: [1], data: ["18446744073709551615"] },
      });
      expect([...(m["a"]!.data as BigInt64Array)]).to.deep.equal([5n, -(2n ** 63n), 12n]);
      expect([...(m["b"]!.data as Uint8Array)]).to.deep.equal([1, 0, 1, 0]);
      expect((m["c"]!.data as BigUint64Array)[0]).to.equal(2n ** 64n - 1n);
    });
    it("rejects bad shapes with a path", () => {
      const bad: [unknown, string][] = [
        ["{", "$"],
        [[1], "$"],
        [null, "$"],
        [{ x: 1 }, '$["x"]'],
        [{ x: { type: "string", dims: [1], data: ["a"] } }, '$["x"].type'],
        [{ x: { type: "int8", dims: "1", data: [1] } }, '$["x"].dims'],
        [{ x: { type: "int8", dims: [-1], data: [] } }, '$["x"].dims'],
        [{ x: { type: "int8", dims: [2], data: [1] } }, '$["x"].data'],
        [{ x: { type: "int8", dims: [1], data: 1 } }, '$["x"].data'],
        [{ x: { type: "int8", dims: [1], data: [128] } }, '$["x"].data[0]'],
        [{ x: { type: "uint32", dims: [2], data: [1, 1.5] } }, '$["x"].data[1]'],
        [{ x: { type: "int64", dims: [1], data: [2 ** 60] } }, '$["x"].data[0]'],
        [{ x: { type: "int64", dims: [1], data: ["9223372036854775808"] } }, '$["x"].data[0]'],
        [{ x: { type: "int64", dims: [1], data: ["0x10"] } }, '$["x"].data[0]'],
        [{ x: { type: "uint64", dims: [1], data: ["-1"] } }, '$["x"].data[0]'],
        [{ x: { type: "bool", dims: [1], data: [2] } }, '$["x"].data[0]'],
        [{ x: { type: "float32", dims: [1], data: ["1.5"] } }, '$["x"].data[0]'],
        [{ x: { type: "float32", dims: [1], data: [1], extra: 1 } }, '$["x"].extra'],
        [{ "": { type: "float32", dims: [1], data: [1] } }, '$[""]'],
      ];
      for (const [input, path] of bad) {
        try {
          tensorsFromJson(input);
          expect.fail(`accepted ${JSON.stringify(input)}`);
        } catch (e) {
          expect(e, JSON.stringify(input)).to.be.instanceOf(TensorJsonError);
          expect((e as TensorJsonError).path, JSON.stringify(input)).to.equal(path);
          expect((e as TensorJsonError).code).to.equal("INVALID_JSON");
        }
      }
    });
  });

  describe("float16", () => {
    it("converts every bit pattern exactly and rounds midpoints to even", () => {
      for (let b = 0; b < 0x10000; b++) {
        const v = float16BitsToNumber(b);
        if (Number.isNaN(v)) continue;
        expect(numberToFloat16Bits(v)).to.equal(b);
        const next = b & 0x7fff;
        if (next < 0x7bff) {
          // midpoint between b and b+1 (same sign) ties to the even pattern
          const hi = float16BitsToNumber(b + 1);
          const mid = (v + hi) / 2; // exact in float64
          expect(numberToFloat16Bits(mid), `mid ${b}`).to.equal((b & 1) === 0 ? b : b + 1);
        }
      }
      expect(numberToFloat16Bits(65519.99)).to.equal(0x7bff);
      expect(numberToFloat16Bits(65520)).to.equal(0x7c00);
      expect(numberToFloat16Bits(2 ** -25)).to.equal(0); // tie with 0 -> even
      expect(numberToFloat16Bits(NaN)).to.equal(0x7e00);
    });
  });

  it("is browser-safe: no node:* imports, no Buffer", () => {
    const src = readFileSync(new URL("../../packages/sdk/src/tensor.ts", import.meta.url), "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/\/\/.*$/gm, "");
    const imports = [...src.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(imports).to.deep.equal(["@noble/hashes/sha2.js", "@noble/hashes/utils.js"]);
    expect(src).to.not.match(/\bBuffer\b|\bprocess\.|require\(/);
  });
});
