/** Addresses of one deployment of the suite (the `addresses` of a deployments/<chainId>.json address book). */
export type ContractAddresses = {
  jobEscrow: `0x${string}`;
  nodeStaking: `0x${string}`;
  modelRegistry: `0x${string}`;
  feeToken: `0x${string}`;
  stakingToken: `0x${string}`;
  accessManager?: `0x${string}`;
  disputeManager?: `0x${string}`;
  computeCredits?: `0x${string}`;
  jobKeys?: `0x${string}`;
};

/**
 * Address books of public deployments, by chain id. None is published yet: a deployment to a public chain
 * (`npm run deploy -- --network base`) writes deployments/<chainId>.json in the repository, and its addresses are
 * added here for the release that ships them. Local chains use the file `npm run deploy` writes instead
 * (`loadDeployment` from `@veil/sdk/node`).
 */
export const deployments: Readonly<Record<number, { startBlock?: number; addresses: ContractAddresses }>> = {};
