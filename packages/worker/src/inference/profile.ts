/**
 * Runtime profiles: what a model's registry entry pins about the runtime, and what this machine can reproduce.
 *
 * Operators only agree bit-for-bit if they run the same model on the same runtime with the same graph transformations
 * on the same kind of execution provider. The registry therefore records a {@link RuntimeProfile} per model and a
 * worker refuses to serve a model whose profile it cannot reproduce ({@link profileMismatches}).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

import ort from "onnxruntime-node";

import { buildIdentityModel } from "../models/generate.js";

export type GraphOptimizationLevel = "disabled" | "basic" | "extended" | "all";

export const GRAPH_OPTIMIZATION_LEVELS: readonly GraphOptimizationLevel[] = ["disabled", "basic", "extended", "all"];

export interface RuntimeProfile {
  /**
   * Default-domain (ai.onnx) opset. In a model's registered profile: the opset the model declares. In
   * {@link localRuntimeProfile}: the highest opset this runtime loads.
   */
  opset: number;
  /** Exact onnxruntime version, e.g. "1.30.0". */
  ortVersion: string;
  /** onnxruntime execution provider name: "cpu", "cuda", ... */
  executionProvider: string;
  graphOptimizationLevel: GraphOptimizationLevel;
  /** Sequential (not parallel) node execution. The engine only runs sequentially. */
  sequential: boolean;
}

/** Version of the installed onnxruntime-node package (read from the package, not assumed). */
export const ORT_VERSION: string = (ort.env.versions as Record<string, string>)["node"] ?? ort.env.versions.common;

/** Execution providers the engine considers by default, best first. */
export const DEFAULT_EXECUTION_PROVIDERS: readonly string[] = ["cuda", "cpu"];

/** Shared libraries an execution provider needs next to the binding (the npm package doesn't always ship them). */
const PROVIDER_LIBRARIES: Record<string, Partial<Record<NodeJS.Platform, string>>> = {
  cuda: { linux: "libonnxruntime_providers_cuda.so", win32: "onnxruntime_providers_cuda.dll" },
  tensorrt: { linux: "libonnxruntime_providers_tensorrt.so", win32: "onnxruntime_providers_tensorrt.dll" },
};

function bindingDir(): string {
  const require = createRequire(import.meta.url);
  // .../onnxruntime-node/dist/index.js -> .../onnxruntime-node/bin/napi-v6/<platform>/<arch>
  return join(dirname(require.resolve("onnxruntime-node")), "..", "bin", "napi-v6", process.platform, process.arch);
}

const epProbeCache = new Map<string, Promise<boolean>>();

/**
 * Whether an execution provider can actually run here: it must be compiled into the binding
 * (`listSupportedBackends`), its provider library must be installed, and a probe session must create and run.
 * "cpu" is always available. Results are cached per process.
 */
export function isExecutionProviderAvailable(name: string): Promise<boolean> {
  let cached = epProbeCache.get(name);
  if (cached === undefined) {
    cached = probeExecutionProvider(name);
    epProbeCache.set(name, cached);
  }
  return cached;
}

async function probeExecutionProvider(name: string): Promise<boolean> {
  if (name === "cpu") return true;
  if (!ort.listSupportedBackends().some((b) => b.name === name)) return false;
  const lib = PROVIDER_LIBRARIES[name]?.[process.platform];
  // Without its library, creating a session fails anyway, after onnxruntime logs an error to stderr: skip that.
  if (lib !== undefined && !existsSync(join(bindingDir(), lib))) return false;
  let session: ort.InferenceSession | undefined;
  try {
    session = await ort.InferenceSession.create(buildIdentityModel().bytes, { executionProviders: [name], logSeverityLevel: 4 });
    const out = await session.run({ x: new ort.Tensor("float32", Float32Array.of(1, 2), [2]) });
    const y = out["y"]?.data as Float32Array | undefined;
    return y !== undefined && y[0] === 1 && y[1] === 2;
  } catch {
    return false;
  } finally {
    await session?.release();
  }
}

/** The available execution providers among `candidates`, in the given preference order. */
export async function availableExecutionProviders(candidates: readonly string[] = DEFAULT_EXECUTION_PROVIDERS): Promise<string[]> {
  const ok = await Promise.all(candidates.map((c) => isExecutionProviderAvailable(c)));
  return candidates.filter((_, i) => ok[i]);
}

let maxOpsetCache: Promise<number> | undefined;

/**
 * Highest default-domain opset the installed onnxruntime accepts, found by binary search over tiny Identity models
 * (ORT rejects opsets newer than it knows at load time). 26 for onnxruntime 1.30. Cached per process.
 */
export function maxSupportedOpset(): Promise<number> {
  maxOpsetCache ??= (async () => {
    const loads = async (opset: number): Promise<boolean> => {
      try {
        const s = await ort.InferenceSession.create(buildIdentityModel({ opset }).bytes, { logSeverityLevel: 4 });
        await s.release();
        return true;
      } catch {
        return false;
      }
    };
    let lo = 7; // every supported runtime loads opset 7
    let hi = 128;
    if (!(await loads(lo))) throw new Error("onnxruntime failed to load an opset-7 Identity model");
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (await loads(mid)) lo = mid;
      else hi = mid;
    }
    return lo;
  })();
  return maxOpsetCache;
}

export interface LocalRuntime {
  ortVersion: string;
  /** Usable execution providers, best first. */
  executionProviders: readonly string[];
  maxOpset: number;
}

/**
 * The profile this machine serves by default: installed ORT version, best available execution provider, highest
 * loadable opset, `graphOptimizationLevel: "all"`, sequential execution.
 */
export async function localRuntimeProfile(candidates: readonly string[] = DEFAULT_EXECUTION_PROVIDERS): Promise<RuntimeProfile> {
  const [eps, maxOpset] = await Promise.all([availableExecutionProviders(candidates), maxSupportedOpset()]);
  return toLocalProfile({ ortVersion: ORT_VERSION, executionProviders: eps, maxOpset });
}

export function toLocalProfile(local: LocalRuntime): RuntimeProfile {
  return {
    opset: local.maxOpset,
    ortVersion: local.ortVersion,
    executionProvider: local.executionProviders[0] ?? "cpu",
    graphOptimizationLevel: "all",
    sequential: true,
  };
}

/**
 * Why `registered` (a model's profile from the registry) cannot be reproduced here; empty if it can. Requires the
 * exact ORT version, an available execution provider of that name, sequential execution, a known optimization level
 * and an opset this runtime loads.
 */
export function profileMismatches(registered: RuntimeProfile, local: LocalRuntime): string[] {
  const reasons: string[] = [];
  if (registered === null || typeof registered !== "object") return ["profile is not an object"];
  if (registered.ortVersion !== local.ortVersion) {
    reasons.push(`ortVersion ${JSON.stringify(registered.ortVersion)} != local ${JSON.stringify(local.ortVersion)}`);
  }
  if (!local.executionProviders.includes(registered.executionProvider)) {
    reasons.push(
      `executionProvider ${JSON.stringify(registered.executionProvider)} unavailable (local: ${local.executionProviders.join(", ") || "none"})`,
    );
  }
  if (!GRAPH_OPTIMIZATION_LEVELS.includes(registered.graphOptimizationLevel)) {
    reasons.push(`unknown graphOptimizationLevel ${JSON.stringify(registered.graphOptimizationLevel)}`);
  }
  if (registered.sequential !== true) reasons.push("only sequential execution is supported");
  if (!Number.isInteger(registered.opset) || registered.opset < 1) {
    reasons.push(`invalid opset ${String(registered.opset)}`);
  } else if (registered.opset > local.maxOpset) {
    reasons.push(`opset ${registered.opset} > highest supported ${local.maxOpset}`);
  }
  return reasons;
}

// ---------------------------------------------------------------------------------------------------------------------
// Reading a model's header fields without decoding the graph
// ---------------------------------------------------------------------------------------------------------------------

// One protobuf reader for the SDK (registration) and the worker (loading): the SDK's.
export { readOnnxModelHeader, type OnnxModelHeader } from "@veil/sdk";
