/**
 * The suite's module for local chains (id `VeilLocal`, with a mock stablecoin as fee token). Its logic lives in
 * @veil/contracts/ignition; here it deploys by contract name, from this repository's compiled contracts.
 */
import { veilLocalModule } from "../../packages/contracts/src/ignition/index.js";

export default veilLocalModule();
