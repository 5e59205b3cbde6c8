/**
 * A job's result, computed one way only: decode -> infer -> encode -> hash. The operator (tasks/processor.ts `infer`) commits
 * the hash this returns and serves its bytes; a committee member or spot checker (validator.ts `infer`) votes with,
 * or challenges on, the same hash. Both call this function, so an honest operator and an honest validator can never
 * drift apart (a drift would get honest operators slashed by committees).
 *
 * - No input, or one whose reference did not match the job's hash: `invalid_input:hash_mismatch`.
 * - Bytes that are not a tensor encoding: `invalid_input:encoding:<TensorDecodeError code>`.
 * - Tensors the model does not take: the engine's invalid-input result (`invalid_input:...`).
 * - Otherwise the model's outputs.
 * The outputs are hashed with the model's registered comparator. A private job (an input envelope, docs/privacy.md)
 * is computed over the opened plaintext and hashed with the job's content key (keyedResultHash); its served bytes
 * are the result envelope. An envelope is never computed without its key: that would commit a guess.
 */
import {
  decodeTensors,
  encodeTensors,
  invalidInputResult,
  resultHash as hashResult,
  type Comparator,
  type Hex,
  type TensorMap,
} from "@veil/sdk";
import { isPrivateEnvelope, type PrivateInput } from "../private.js";
import type { InferenceEngine } from "./engine.js";

/** The model a result is computed with: its id in the engine and its registered comparator. */
export interface ComputeModel {
  modelId: Hex;
  comparator: Comparator;
}

export interface ComputeResultParams {
  engine: InferenceEngine;
  model: ComputeModel;
  /** The job's input bytes (inline or fetched), or undefined when there are none. */
  input: Uint8Array | undefined;
  /** The input's reference named other bytes than the job's on-chain hash: the result is `invalid_input:hash_mismatch`. */
  inputMismatch?: boolean;
  /**
   * The opened input of a private job (PrivateCodec `openInput` for an operator, `openForCommittee` for a committee
   * member). Required exactly when {@link privateEnvelope} returns the input, refused otherwise.
   */
  privateInput?: PrivateInput;
  /** Called with the seconds `engine.run` took (the worker's inference histogram). */
  onRun?: (seconds: number) => void;
  /**
   * Adversarial tests only (a dishonest operator): alters the outputs of a run the model accepted, before they are
   * encoded and hashed. Invalid-input results are never altered.
   */
  tamper?: (outputs: TensorMap) => TensorMap;
}

export interface ComputedResult {
  outputs: TensorMap;
  /** `encodeTensors(outputs)`: the canonical result bytes (the plaintext ones for a private job). */
  resultBytes: Uint8Array;
  /**
   * What the operator stores and serves for the result: `resultBytes`, or for a private job the result envelope
   * (`resultBytes` encrypted to the content key under a fresh nonce, so it differs between calls).
   */
  servedBytes: Uint8Array;
  /** The hash committed on chain: the comparator's result hash, or for a private job the keyed result hash. */
  resultHash: Hex;
  /** The invalid-input code (`invalid_input:...`) when `outputs` is an invalid-input result, else undefined. */
  invalid: string | undefined;
  /** Whether the result was computed over an opened private input (keyed hash, sealed bytes). */
  private: boolean;
}

/**
 * The envelope a private job's input must be opened from before {@link computeResult} can run, or undefined for a
 * public job (or one whose reference did not match its hash: that result needs no key).
 */
export function privateEnvelope(input: Uint8Array | undefined, inputMismatch = false): Uint8Array | undefined {
  return !inputMismatch && isPrivateEnvelope(input) ? input : undefined;
}

/** Computes a job's result; see the module comment. Rejects only when the engine does (the job is retried). */
export async function computeResult(p: ComputeResultParams): Promise<ComputedResult> {
  const { engine, model, input, inputMismatch = false, privateInput } = p;
  const envelope = privateEnvelope(input, inputMismatch);
  if (envelope && !privateInput) {
    throw new Error(`computeResult: job input for model ${model.modelId} is a private envelope; open it first (never hash a guess)`);
  }
  if (!envelope && privateInput) {
    const why = inputMismatch ? "its reference did not match the job's hash" : input ? "it is not a private envelope" : "there is none";
    throw new Error(`computeResult: a private input was given but the job input cannot be private: ${why}`);
  }
  const { outputs, invalid } = await outputsOf(p);
  const resultBytes = encodeTensors(outputs);
  return {
    outputs,
    resultBytes,
    servedBytes: privateInput ? privateInput.sealResult(outputs) : resultBytes,
    resultHash: privateInput ? privateInput.resultHash(outputs, model.comparator) : hashResult(outputs, model.comparator),
    invalid,
    private: privateInput !== undefined,
  };
}

/** The outputs of the job (or its invalid-input result) before encoding and hashing. */
async function outputsOf(p: ComputeResultParams): Promise<{ outputs: TensorMap; invalid: string | undefined }> {
  const rejected = (code: string) => ({ outputs: invalidInputResult(code), invalid: code });
  if (!p.input || p.inputMismatch) return rejected("invalid_input:hash_mismatch");
  let inputs: TensorMap;
  try {
    inputs = decodeTensors(p.privateInput?.plaintext ?? p.input);
  } catch (err) {
    return rejected(`invalid_input:encoding:${(err as { code?: string }).code ?? "malformed"}`);
  }
  const started = performance.now();
  const r = await p.engine.run(p.model.modelId, inputs);
  p.onRun?.((performance.now() - started) / 1000);
  if (r.invalid !== undefined) return { outputs: r.outputs, invalid: r.invalid };
  return { outputs: p.tamper ? p.tamper(r.outputs) : r.outputs, invalid: undefined };
}
