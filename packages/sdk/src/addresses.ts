import type { Address } from "viem";

/** Addresses of one Veil deployment (deployments/<chainId>.json holds them). */
export type VeilAddresses = {
  /** JobEscrow: the job lifecycle, and every view (served at its address). */
  jobEscrow: Address;
  /**
   * FeeLedger: every fee-token balance (deposits, earnings, accruals); payments for jobs are approved or permitted
   * to it. Optional: the escrow names it (`ledger()`), and the SDK reads it from there once per client when absent.
   */
  feeLedger?: Address | undefined;
  nodeStaking: Address;
  modelRegistry: Address;
  /** ERC-20 that pays for jobs (a stablecoin). */
  feeToken: Address;
  /** ERC-20 that operators stake (VEIL). */
  stakingToken: Address;
  accessManager: Address;
  disputeManager?: Address | undefined;
  computeCredits?: Address | undefined;
  /** JobKeys: the channel for wrapped content keys of private jobs (docs/privacy.md). */
  jobKeys?: Address | undefined;
};

/** The JSON document in deployments/<chainId>.json. */
export type VeilDeployment = {
  chainId: number;
  addresses: VeilAddresses;
  /** Block the escrow was deployed at: where event scans start. */
  startBlock?: number | undefined;
};

const KEYS = ["jobEscrow", "nodeStaking", "modelRegistry", "feeToken", "stakingToken", "accessManager"] as const;
const OPTIONAL = ["feeLedger", "disputeManager", "computeCredits", "jobKeys"] as const;

/** Validates a parsed deployment document and returns it typed. Throws on a missing or malformed address. */
export function parseDeployment(doc: unknown, source = "deployment"): VeilDeployment {
  if (!doc || typeof doc !== "object") throw new Error(`${source}: not a JSON object`);
  const d = doc as Record<string, any>;
  const a = d.addresses;
  if (!a || typeof a !== "object") throw new Error(`${source}: missing "addresses"`);
  const isAddr = (v: unknown) => typeof v === "string" && /^0x[0-9a-fA-F]{40}$/.test(v);
  for (const k of KEYS) if (!isAddr(a[k])) throw new Error(`${source}: addresses.${k} is missing or not an address`);
  for (const k of OPTIONAL) if (a[k] !== undefined && !isAddr(a[k])) throw new Error(`${source}: addresses.${k} is not an address`);
  if (typeof d.chainId !== "number") throw new Error(`${source}: missing numeric "chainId"`);
  return { chainId: d.chainId, addresses: a as VeilAddresses, startBlock: typeof d.startBlock === "number" ? d.startBlock : undefined };
}
