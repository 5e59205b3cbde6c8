/**
 * Conversions between canonical tensors (sdk/src/tensor.ts) and onnxruntime tensors, and the dim-0 concatenation /
 * splitting used by micro-batching.
 */
import ort from "onnxruntime-node";

import { dtypeInfo, isTensorDType, type Tensor, type TensorData, type TensorMap } from "@veil/sdk";
import { UnsupportedModelError } from "./errors.js";

/** A canonical tensor as an onnxruntime input (no copy: ORT reads the typed array in place). */
export function toOrtTensor(t: Tensor): ort.Tensor {
  return new ort.Tensor(t.type, t.data as never, [...t.dims]);
}

export function toOrtFeeds(inputs: TensorMap): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of Object.keys(inputs)) feeds[name] = toOrtTensor(inputs[name]!);
  return feeds;
}

/**
 * An onnxruntime output as a canonical tensor. float16 arrives as Uint16Array bits (or a Float16Array where the JS
 * runtime has one: its bits are reinterpreted, not converted). The data is copied unless it already exactly owns its
 * buffer, so results never alias ORT memory.
 */
export function fromOrtTensor(name: string, value: ort.OnnxValue): Tensor {
  const t = value as ort.Tensor;
  if (!(t instanceof ort.Tensor) || !isTensorDType(t.type)) {
    throw new UnsupportedModelError(`output ${JSON.stringify(name)} has unsupported type ${String((t as { type?: unknown }).type)}`);
  }
  const info = dtypeInfo(t.type);
  const raw = t.data as ArrayBufferView;
  let data: TensorData;
  if (raw instanceof info.ctor) {
    const owns = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && raw.buffer instanceof ArrayBuffer;
    data = owns ? raw : (raw as TensorData).slice();
  } else if (raw.byteLength === t.size * info.size) {
    const view = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength).slice();
    data = new info.ctor(view.buffer, 0, t.size) as TensorData;
  } else {
    throw new UnsupportedModelError(`output ${JSON.stringify(name)}: ${t.type} data arrived as ${raw.constructor.name}`);
  }
  return { type: t.type, dims: [...t.dims], data } as Tensor;
}

/** Concatenates same-dtype tensors along dim 0 (all other dims equal; checked by the caller). */
export function concatDim0(parts: readonly Tensor[]): Tensor {
  const first = parts[0]!;
  const info = dtypeInfo(first.type);
  let rows = 0;
  let length = 0;
  for (const p of parts) {
    rows += p.dims[0]!;
    length += p.data.length;
  }
  const data = new info.ctor(length) as TensorData;
  let offset = 0;
  for (const p of parts) {
    (data as Float32Array).set(p.data as Float32Array, offset);
    offset += p.data.length;
  }
  return { type: first.type, dims: [rows, ...first.dims.slice(1)], data } as Tensor;
}

/** Splits a tensor along dim 0 into consecutive pieces of `rows[i]` rows (each piece owns its data). */
export function splitDim0(t: Tensor, rows: readonly number[]): Tensor[] {
  const rest = t.dims.slice(1);
  const rowSize = rest.reduce((a, b) => a * b, 1);
  const out: Tensor[] = [];
  let offset = 0;
  for (const r of rows) {
    const data = (t.data as Float32Array).slice(offset, offset + r * rowSize);
    out.push({ type: t.type, dims: [r, ...rest], data } as unknown as Tensor);
    offset += r * rowSize;
  }
  return out;
}
