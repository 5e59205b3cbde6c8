/**
 * The suite's module for real networks (id `Veil`). Its logic lives in @veil/contracts/ignition
 * (packages/contracts/src/ignition); here it deploys by contract name, from this repository's compiled contracts.
 */
import { veilModule } from "../../packages/contracts/src/ignition/index.js";

export { DEFAULTS, buildVeil } from "../../packages/contracts/src/ignition/index.js";

export default veilModule();
