import type { Address, Hex } from "viem";
import { readContract } from "viem/actions";
import { modelRegistryAbi } from "../generated/abis.js";
import { decoded, eventArgs, resolveAccount, send, toBytes32, type AddressesParameter, type VeilClient, type WriteParameters, type WriteReturnType } from "../internal.js";
import type { VeilError } from "../errors.js";
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
};

export const DEFAULT_PROFILE: RuntimeProfile = {
  opset: 17,
  ortVersion: "1.30.0",
  executionProvider: "cpu",
  graphOptimizationLevel: 3,
  sequential: true,
};

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
  profile?: RuntimeProfile | undefined;
};
export type RegisterModelReturnType = WriteReturnType & { index: number };
export type RegisterModelErrorType = VeilError;

/**
 * Registers a model; the sender becomes its owner.
 *
 * @example
 * const { index } = await registerModel(wallet, {
 *   addresses, modelId: sha256(onnxBytes), price: 50_000n, comparator: { kind: "exact" },
 * })
 */
export async function registerModel(client: VeilClient, params: RegisterModelParameters): Promise<RegisterModelReturnType> {
  const account = resolveAccount(client, params.account, "registerModel");
  const comparator = params.comparator ?? { kind: "exact" };
  const { hash, receipt } = await send(client, account, {
    address: params.addresses.modelRegistry,
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
        profile: params.profile ?? DEFAULT_PROFILE,
      },
    ],
  });
  return { hash, receipt, index: Number(eventArgs(modelRegistryAbi, receipt, params.addresses.modelRegistry, "ModelRegistered").index) };
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
  };
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
