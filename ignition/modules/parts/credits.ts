/** Compute-credit deployment: defined in @veil/contracts/ignition (packages/contracts/src/ignition/parts/credits.ts). */
export { CREDITS_DEFAULTS, buildCredits, type CreditsCore } from "../../../packages/contracts/src/ignition/parts/credits.js";
