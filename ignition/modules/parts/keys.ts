/** JobKeys deployment: defined in @veil/contracts/ignition (packages/contracts/src/ignition/parts/keys.ts). */
export { buildKeys, type KeysCore } from "../../../packages/contracts/src/ignition/parts/keys.js";
