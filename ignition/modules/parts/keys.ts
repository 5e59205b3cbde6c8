import type { CallableContractFuture, IgnitionModuleBuilder } from "@nomicfoundation/ignition-core";

/** What buildKeys needs from the core suite. */
export interface KeysCore {
  escrow: CallableContractFuture<string>;
}

/**
 * Deploys JobKeys, the event channel for wrapped content keys of private jobs (docs/privacy.md). It has no
 * restricted functions and no roles: callers are checked against the escrow's job (requester or operators).
 */
export function buildKeys(m: IgnitionModuleBuilder, core: KeysCore) {
  const jobKeys = m.contract("JobKeys", [core.escrow]);
  return { jobKeys };
}
