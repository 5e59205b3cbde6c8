import type { CallableContractFuture, IgnitionModuleBuilder } from "@nomicfoundation/ignition-core";
import { contractsOf, type VeilArtifacts } from "../artifacts.js";

/** What buildKeys needs from the core suite. */
export interface KeysCore {
  escrow: CallableContractFuture<string>;
}

/**
 * Deploys JobKeys, the event channel for wrapped content keys of private jobs (docs/privacy.md). It has no
 * restricted functions and no roles: callers are checked against the escrow's job (requester or operators).
 * `artifacts`: deploy from these compiled artifacts instead of by contract name.
 */
export function buildKeys(m: IgnitionModuleBuilder, core: KeysCore, artifacts?: VeilArtifacts) {
  const jobKeys = contractsOf(m, artifacts).deploy("JobKeys", [core.escrow]);
  return { jobKeys };
}
