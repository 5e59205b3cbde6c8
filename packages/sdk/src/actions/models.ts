import type { Address, Hex } from "viem";
import { readContract } from "viem/actions";
import { modelRegistryAbi } from "@veil/contracts";
import {
  andWait,
  atOnce,
  decoded,
  eventArgs,
  pendingCall,
  resolveAccount,
  toBytes32,
  type AddressesParameter,
  type SentReturnType,
  type VeilClient,
  type WriteParameters,
  type WriteReturnType,
} from "../internal.js";
import { VeilError } from "../errors.js";
import { inspectOnnxModel } from "../onnx.js";
import { encodeSignature, MAX_IO_SIGNATURE_BYTES, parseSignature, utf8Length, type ModelSignature } from "../signature.js";
import type { Comparator } from "../tensor.js";

/** Settings that decide whether two operators produce the same bits (see IModelRegistry.RuntimeProfile). */
export type RuntimeProfile = {
  opset: number;
  ortVersion: string;
  executionProvider: string;
  graphOptimizationLevel: number;
  sequential: boolean;
};

/** A registered model, as returned by {@link getModel}. */
export type Model = {
  modelId: Hex;
  owner: Address;
  /** Fee-token base units per job and per operator slot. */
  price: bigint;
  royaltyBps: number;
  index: number;
  /** Default redundancy k. */
  redundancy: number;
  comparator: Comparator;
  active: boolean;
  registeredAt: number;
  metadataURI: string;
  profile: RuntimeProfile;
  /**
   * The model's registered input/output signature (entries in canonical order); `null` when it registered none
   * (an empty `ioSignature`) or registered one that does not parse (then `signatureError` says why). Without one,
   * the SDK cannot check a job's inputs before it is paid for.
   */
  signature: ModelSignature | null;
  /** The registered `ioSignature` as stored on-chain (canonical JSON, or ""). */
  ioSignature: string;
  /** Why a non-empty `ioSignature` does not parse; `undefined` otherwise. */
  signatureError?: string | undefined;
};

/**
 * Defaults for the runtime fields of a profile: onnxruntime 1.30.0 (the version this package's worker installs), the
 * CPU execution provider, all graph optimisations, sequential execution. There is no default opset: it comes from
 * the model file ({@link modelRegistrationFromFile}).
 */
export const DEFAULT_PROFILE: Readonly<Omit<RuntimeProfile, "opset">> = Object.freeze({
  ortVersion: "1.30.0",
  executionProvider: "cpu",
  graphOptimizationLevel: 3,
  sequential: true,
});

/** Graph optimisation levels by name (onnxruntime's), as the registry stores them. */
export const GRAPH_OPTIMIZATION_LEVELS = { disabled: 0, basic: 1, extended: 2, all: 3 } as const;

/** A registration's runtime profile: the opset, plus any runtime fields that differ from {@link DEFAULT_PROFILE}. */
export type RuntimeProfileInput = { opset: number } & Partial<Omit<RuntimeProfile, "opset">>;

/** A profile or signature handed to {@link registerModel} is invalid (rejected before anything is signed). */
export class InvalidModelRegistrationError extends VeilError {
  override name = "InvalidModelRegistrationError";
  constructor(message: string) {
    super(`Invalid model registration: ${message}`, { docsPath: "models.md" });
  }
}

/** The full profile, with {@link DEFAULT_PROFILE} filling the runtime fields; throws {@link InvalidModelRegistrationError}. */
export function resolveRuntimeProfile(input: RuntimeProfileInput): RuntimeProfile {
  if (input === null || typeof input !== "object" || input.opset === undefined) {
    throw new InvalidModelRegistrationError(
      "profile.opset is required: the model's default-domain opset (modelRegistrationFromFile(bytes) reads it from the file)",
    );
  }
  const p = { ...DEFAULT_PROFILE, ...input };
  if (!Number.isInteger(p.opset) || p.opset < 1 || p.opset > 0xffff) throw new InvalidModelRegistrationError(`opset must be an integer in 1..65535, got ${String(p.opset)}`);
  if (typeof p.ortVersion !== "string" || !/^\d+\.\d+\.\d+\S*$/.test(p.ortVersion)) {
    throw new InvalidModelRegistrationError(`ortVersion must be an exact onnxruntime version such as "1.30.0", got ${JSON.stringify(p.ortVersion)}`);
  }
  if (typeof p.executionProvider !== "string" || !/^[a-z0-9_]+$/.test(p.executionProvider)) {
    throw new InvalidModelRegistrationError(`executionProvider must be an onnxruntime provider name such as "cpu" or "cuda", got ${JSON.stringify(p.executionProvider)}`);
  }
  if (!Number.isInteger(p.graphOptimizationLevel) || p.graphOptimizationLevel < 0 || p.graphOptimizationLevel > 3) {
    throw new InvalidModelRegistrationError(`graphOptimizationLevel must be 0 (disabled), 1 (basic), 2 (extended) or 3 (all), got ${String(p.graphOptimizationLevel)}`);
  }
  if (p.sequential !== true) throw new InvalidModelRegistrationError("sequential must be true: workers only run models sequentially (bit-exact)");
  return { opset: p.opset, ortVersion: p.ortVersion, executionProvider: p.executionProvider, graphOptimizationLevel: p.graphOptimizationLevel, sequential: true };
}

export type ModelRegistrationOptions = {
  /** Exact onnxruntime version operators must run (default {@link DEFAULT_PROFILE}.ortVersion). */
  ortVersion?: string | undefined;
  /** Default "cpu". */
  executionProvider?: string | undefined;
  /** 0..3 or a name (default 3, "all"). */
  graphOptimizationLevel?: number | keyof typeof GRAPH_OPTIMIZATION_LEVELS | undefined;
};

/** What a model file contributes to its registration: spread it into {@link registerModel}'s parameters. */
export type ModelRegistration = {
  modelId: Hex;
  profile: RuntimeProfile;
  signature: ModelSignature;
};

/**
 * Derives a registration from a model file: the id (sha256 of the bytes), the profile's opset from the file's
 * `opset_import` (the runtime fields from `options`, else {@link DEFAULT_PROFILE}), and the I/O signature. Throws
 * OnnxModelError for a file that is not a servable ONNX model, {@link InvalidModelRegistrationError} for bad options.
 *
 * @example
 * const reg = modelRegistrationFromFile(new Uint8Array(readFileSync("model.onnx")), { ortVersion: "1.30.0" })
 * await registerModel(wallet, { addresses, price: 50_000n, ...reg })
 */
export function modelRegistrationFromFile(bytes: Uint8Array, options: ModelRegistrationOptions = {}): ModelRegistration {
  const info = inspectOnnxModel(bytes);
  let level = options.graphOptimizationLevel;
  if (typeof level === "string") {
    const n = (GRAPH_OPTIMIZATION_LEVELS as Record<string, number>)[level];
    if (n === undefined) {
      throw new InvalidModelRegistrationError(`graphOptimizationLevel must be one of ${Object.keys(GRAPH_OPTIMIZATION_LEVELS).join(", ")} or 0..3, got ${JSON.stringify(level)}`);
    }
    level = n;
  }
  const profile = resolveRuntimeProfile({
    opset: info.opset,
    ...(options.ortVersion !== undefined && { ortVersion: options.ortVersion }),
    ...(options.executionProvider !== undefined && { executionProvider: options.executionProvider }),
    ...(level !== undefined && { graphOptimizationLevel: level }),
  });
  return { modelId: info.modelId, profile, signature: info.signature };
}

function comparatorFrom(kind: number, precision: number): Comparator {
  return kind === 1 ? { kind: "rounded", precision } : { kind: "exact" };
}

// ---------------------------------------------------------------------------------------------------------------- registerModel

export type RegisterModelParameters = WriteParameters & {
  /** sha256 of the ONNX file. */
  modelId: Hex;
  price: bigint;
  royaltyBps?: number | undefined;
  redundancy?: number | undefined;
  comparator?: Comparator | undefined;
  metadataURI?: string | undefined;
  /**
   * The runtime profile. `opset` is required: the model's default-domain opset, which operators check against the
   * file. Runtime fields default to {@link DEFAULT_PROFILE}. {@link modelRegistrationFromFile} derives it.
   */
  profile: RuntimeProfileInput;
  /**
   * The model's input/output signature (from {@link modelRegistrationFromFile} or `inspectOnnxModel`), stored on-chain
   * and fixed for good. `null` registers none (e.g. by id without the file): the SDK then cannot check a job's inputs,
   * and a wrong input is paid for in full.
   */
  signature: ModelSignature | null;
};
export type RegisterModelReturnType = WriteReturnType & { index: number };
export type WriteRegisterModelReturnType = SentReturnType;
export type RegisterModelErrorType = VeilError;

/**
 * Registers a model; the sender becomes its owner. The id, profile and signature cannot change afterwards. The profile
 * and signature are checked before anything is signed ({@link InvalidModelRegistrationError}). Waits for the
 * registration and returns the model's index (ModelRegistered event); {@link writeRegisterModel} returns at once.
 *
 * @example
 * const { index } = await registerModel(wallet, {
 *   addresses, price: 50_000n, comparator: { kind: "exact" }, ...modelRegistrationFromFile(onnxBytes),
 * })
 */
export function registerModel(client: VeilClient, params: RegisterModelParameters): Promise<RegisterModelReturnType> {
  return andWait(client, buildRegisterModel(client, params));
}

/** {@link registerModel}, returning at once with the hash. */
export function writeRegisterModel(client: VeilClient, params: RegisterModelParameters): Promise<WriteRegisterModelReturnType> {
  return atOnce(buildRegisterModel(client, params));
}

async function buildRegisterModel(client: VeilClient, params: RegisterModelParameters) {
  const account = resolveAccount(client, params.account, "registerModel");
  const comparator = params.comparator ?? { kind: "exact" };
  const profile = resolveRuntimeProfile(params.profile);
  if (params.signature === undefined) {
    throw new InvalidModelRegistrationError("signature is required (modelRegistrationFromFile(bytes) reads it from the file); pass null to register none");
  }
  const ioSignature = params.signature === null ? "" : encodeSignature(params.signature);
  if (utf8Length(ioSignature) > MAX_IO_SIGNATURE_BYTES) {
    throw new InvalidModelRegistrationError(`the signature is ${utf8Length(ioSignature)} bytes of JSON, the registry takes at most ${MAX_IO_SIGNATURE_BYTES}`);
  }
  const registry = params.addresses.modelRegistry;
  const call = {
    address: registry,
    abi: modelRegistryAbi,
    functionName: "registerModel",
    args: [
      toBytes32(params.modelId),
      {
        price: params.price,
        royaltyBps: params.royaltyBps ?? 0,
        redundancy: params.redundancy ?? 1,
        comparator: comparator.kind === "rounded" ? 1 : 0,
        precision: comparator.kind === "rounded" ? comparator.precision : 0,
        metadataURI: params.metadataURI ?? "",
        profile,
        ioSignature,
      },
    ],
  } as const;
  return pendingCall(client, account, call, { addresses: params.addresses }, (receipt) => ({
    index: Number(eventArgs(modelRegistryAbi, receipt, registry, "ModelRegistered").index),
  }));
}

// ---------------------------------------------------------------------------------------------------------------- getModel

export type GetModelParameters = AddressesParameter & { modelId: Hex };
export type GetModelReturnType = Model;
export type GetModelErrorType = VeilError;

/**
 * Reads a registered model.
 *
 * @example
 * const model = await getModel(client, { addresses, modelId })
 * console.log(model.price, model.comparator)
 */
export async function getModel(client: VeilClient, params: GetModelParameters): Promise<GetModelReturnType> {
  const modelId = toBytes32(params.modelId);
  const m = await decoded(
    readContract(client, { address: params.addresses.modelRegistry, abi: modelRegistryAbi, functionName: "getModel", args: [modelId] }),
  );
  return {
    modelId,
    owner: m.owner,
    price: m.price,
    royaltyBps: m.royaltyBps,
    index: m.index,
    redundancy: m.redundancy,
    comparator: comparatorFrom(m.comparator, m.precision),
    active: m.active,
    registeredAt: m.registeredAt,
    metadataURI: m.metadataURI,
    profile: { ...m.profile },
    ...signatureOf(m.ioSignature),
  };
}

function signatureOf(ioSignature: string): Pick<Model, "signature" | "ioSignature" | "signatureError"> {
  try {
    return { signature: parseSignature(ioSignature), ioSignature };
  } catch (e) {
    // Anyone can register a model with any string: one malformed signature must not make getModel/listModels throw.
    return { signature: null, ioSignature, signatureError: (e as VeilError).shortMessage };
  }
}

// ---------------------------------------------------------------------------------------------------------------- listModels

export type ListModelsParameters = AddressesParameter & {
  /** Models to skip (default 0). */
  offset?: number | undefined;
  /** Most models to return (default: all). */
  limit?: number | undefined;
};
export type ListModelsReturnType = Model[];
export type ListModelsErrorType = VeilError;

/**
 * Lists registered models in registration order (modelCount / modelIdAt / getModel).
 *
 * @example
 * for (const m of await listModels(client, { addresses })) console.log(m.modelId, m.price)
 */
export async function listModels(client: VeilClient, params: ListModelsParameters): Promise<ListModelsReturnType> {
  const address = params.addresses.modelRegistry;
  const count = Number(await decoded(readContract(client, { address, abi: modelRegistryAbi, functionName: "modelCount" })));
  // Model indices are 1-based (0 means "no model" in the contracts).
  const start = params.offset ?? 0;
  const end = Math.min(count, params.limit === undefined ? count : start + params.limit);
  const indices = Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i + 1);
  return Promise.all(
    indices.map(async (i) => {
      const modelId = await decoded(readContract(client, { address, abi: modelRegistryAbi, functionName: "modelIdAt", args: [BigInt(i)] }));
      return getModel(client, { addresses: params.addresses, modelId });
    }),
  );
}
