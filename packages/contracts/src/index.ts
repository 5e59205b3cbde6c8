/**
 * @veil/contracts: the protocol's contract ABIs as `as const` modules (typed end to end with viem), and the
 * address books of public deployments by chain id.
 * @module
 */
export * from "./abis.js";
export { deployments, type ContractAddresses } from "./deployments.js";
