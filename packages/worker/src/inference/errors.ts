/**
 * Errors thrown by the inference engine. Each has a stable `code`.
 *
 * Note the split between *errors* and *invalid-input results*: inputs that don't fit the model (missing, unknown, wrong
 * dtype or shape) are not errors; they produce the deterministic `veil.error` result every honest operator commits.
 * The errors below are operational: the operator refuses or fails the job, and commits nothing.
 */
import type { Hex } from "@veil/sdk";

export type InferenceErrorCode =
  | "INVALID_MODEL_ID"
  | "MODEL_HASH_MISMATCH"
  | "MODEL_NOT_LOADED"
  | "UNSUPPORTED_MODEL"
  | "PROFILE_MISMATCH"
  | "EXECUTION_PROVIDER_UNAVAILABLE"
  | "INPUT_TOO_LARGE"
  | "RUN_FAILED"
  | "ENGINE_CLOSED"
  | "INVALID_OPTION";

export class InferenceError extends Error {
  override name = "InferenceError";
  readonly code: InferenceErrorCode;
  constructor(code: InferenceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export class InvalidModelIdError extends InferenceError {
  override name = "InvalidModelIdError";
  constructor(readonly modelId: unknown) {
    super("INVALID_MODEL_ID", `model id must be 0x + 64 hex digits (sha256 of the model file), got ${JSON.stringify(modelId)}`);
  }
}

/** The model file's sha256 differs from the id it was registered (and requested) under. */
export class ModelHashMismatchError extends InferenceError {
  override name = "ModelHashMismatchError";
  constructor(
    readonly expected: Hex,
    readonly actual: Hex,
  ) {
    super("MODEL_HASH_MISMATCH", `model file hash mismatch: expected ${expected}, got ${actual}`);
  }
}

export class ModelNotLoadedError extends InferenceError {
  override name = "ModelNotLoadedError";
  constructor(readonly modelId: string) {
    super("MODEL_NOT_LOADED", `model ${modelId} is not loaded`);
  }
}

/** The model cannot be served (non-tensor or string I/O, reserved output names, unparsable file, ...). */
export class UnsupportedModelError extends InferenceError {
  override name = "UnsupportedModelError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("UNSUPPORTED_MODEL", message, options);
  }
}

/** The model's registered runtime profile cannot be reproduced by this runtime. */
export class RuntimeProfileMismatchError extends InferenceError {
  override name = "RuntimeProfileMismatchError";
  constructor(readonly reasons: readonly string[]) {
    super("PROFILE_MISMATCH", `runtime profile mismatch: ${reasons.join("; ")}`);
  }
}

export class ExecutionProviderUnavailableError extends InferenceError {
  override name = "ExecutionProviderUnavailableError";
  constructor(
    readonly executionProvider: string,
    options?: { cause?: unknown },
  ) {
    super("EXECUTION_PROVIDER_UNAVAILABLE", `execution provider ${JSON.stringify(executionProvider)} is not available`, options);
  }
}

/**
 * The job's inputs exceed this operator's `maxInputElements`. This is a local resource policy, not a property of the
 * model, so it is a refusal rather than a committed result: operators with different limits must not disagree on a
 * result hash.
 */
export class InputTooLargeError extends InferenceError {
  override name = "InputTooLargeError";
  constructor(
    readonly elements: number,
    readonly maxElements: number,
  ) {
    super("INPUT_TOO_LARGE", `inputs hold ${elements} elements, this engine accepts at most ${maxElements}`);
  }
}

/** onnxruntime failed while running a job whose inputs passed validation. */
export class InferenceRunError extends InferenceError {
  override name = "InferenceRunError";
  constructor(
    readonly modelId: string,
    options: { cause: unknown },
  ) {
    super("RUN_FAILED", `inference failed for model ${modelId}: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
  }
}

export class EngineClosedError extends InferenceError {
  override name = "EngineClosedError";
  constructor() {
    super("ENGINE_CLOSED", "the inference engine is closed");
  }
}
