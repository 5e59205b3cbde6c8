/**
 * Veil worker inference engine: deterministic onnxruntime sessions over canonical tensors.
 * @module
 */
export {
  createInferenceEngine,
  InferenceEngine,
  type BatchingState,
  type BatchVerification,
  type EngineStats,
  type InferenceEngineOptions,
  type LoadedModelInfo,
  type LoadModelOptions,
  type RunResult,
} from "./engine.js";
export * from "./errors.js";
export {
  availableExecutionProviders,
  DEFAULT_EXECUTION_PROVIDERS,
  GRAPH_OPTIMIZATION_LEVELS,
  isExecutionProviderAvailable,
  localRuntimeProfile,
  maxSupportedOpset,
  ORT_VERSION,
  profileMismatches,
  readOnnxModelHeader,
  type GraphOptimizationLevel,
  type LocalRuntime,
  type OnnxModelHeader,
  type RuntimeProfile,
} from "./profile.js";
export { validateInputs, shapeMatches, hasDynamicDim0, type ModelValueInfo } from "./validate.js";
export { toOrtTensor, fromOrtTensor, concatDim0, splitDim0 } from "./convert.js";
export {
  computeResult,
  privateEnvelope,
  type ComputedResult,
  type ComputeModel,
  type ComputeResultParams,
} from "./compute.js";
