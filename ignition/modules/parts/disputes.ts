/** Dispute deployment: defined in @veil/contracts/ignition (packages/contracts/src/ignition/parts/disputes.ts). */
export { DISPUTE_DEFAULTS, buildDisputes, type DisputeCore } from "../../../packages/contracts/src/ignition/parts/disputes.js";
