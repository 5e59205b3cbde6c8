/** The protocol's AccessManager roles and restricted functions: defined in @veil/contracts/ignition. */
export { ROLES, RESTRICTED, selectorsByRole } from "../../packages/contracts/src/ignition/roles.js";
