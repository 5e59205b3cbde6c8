import { toFunctionSelector, type Abi, type AbiFunction } from "viem";
import {
  computeCreditsAbi,
  disputeManagerAbi,
  jobEscrowAbi,
  modelRegistryAbi,
  nodeStakingAbi,
} from "../../packages/contracts/src/abis.js";

/**
 * AccessManager roles of the Veil protocol. ADMIN_ROLE (0) is OpenZeppelin's; it should sit behind a timelock
 * or multisig on a real network (see README, "Deploying to an EVM chain").
 */
export const ROLES = {
  GOVERNOR: 1n, // parameters and pauses
  // 2 was PROTOCOL (staking's assign, release, slash, notifyRewards): those now check NodeStaking's own
  // allowlist (setProtocolContract, GOVERNOR), one storage read instead of a call into the AccessManager.
  DISPUTER: 3n, // escrow: openDispute, resolveDispute (the dispute manager)
  CREDITS: 4n, // escrow: submitJobFor (the compute-credit pool)
} as const;

/** Which restricted functions each role may call, per contract name. */
export const RESTRICTED: Record<string, Record<string, bigint>> = {
  ModelRegistry: { setPaused: ROLES.GOVERNOR },
  NodeStaking: {
    setPaused: ROLES.GOVERNOR,
    setMinStake: ROLES.GOVERNOR,
    setUnbondingPeriod: ROLES.GOVERNOR,
    setSlashWindowSource: ROLES.GOVERNOR,
    setProtocolContract: ROLES.GOVERNOR,
  },
  JobEscrow: {
    setParams: ROLES.GOVERNOR,
    setCreditsPool: ROLES.GOVERNOR,
    setPaused: ROLES.GOVERNOR,
    openDispute: ROLES.DISPUTER,
    resolveDispute: ROLES.DISPUTER,
    submitJobFor: ROLES.CREDITS,
  },
  DisputeManager: { setParams: ROLES.GOVERNOR },
  ComputeCredits: {
    setCurve: ROLES.GOVERNOR,
    setAllowancePerCredit: ROLES.GOVERNOR,
    setUnlockDelay: ROLES.GOVERNOR,
    setPaused: ROLES.GOVERNOR,
  },
};

/**
 * The ABIs the selectors come from: the SDK's generated ABIs (sdk/src/generated/abis.ts), which are committed and
 * checked against a fresh compile by test/sdk/abis.test.ts. Reading them, not artifacts/, lets this module (and the
 * Ignition modules that import it) load on a fresh clone before anything has been compiled.
 */
const ABIS: Record<string, Abi> = {
  ModelRegistry: modelRegistryAbi,
  NodeStaking: nodeStakingAbi,
  JobEscrow: jobEscrowAbi,
  DisputeManager: disputeManagerAbi,
  ComputeCredits: computeCreditsAbi,
};

/** Selectors grouped by role for one contract, computed from its ABI (never typed by hand). */
export function selectorsByRole(contract: string): Map<bigint, string[]> {
  const abi = ABIS[contract];
  if (!abi) throw new Error(`no ABI for ${contract} in sdk/src/generated/abis.ts`);
  const byRole = new Map<bigint, string[]>();
  for (const [fn, role] of Object.entries(RESTRICTED[contract] ?? {})) {
    const matches = abi.filter((item): item is AbiFunction => item.type === "function" && item.name === fn);
    if (matches.length !== 1) {
      throw new Error(`${contract}.${fn}: ${matches.length ? "overloaded" : "not"} in sdk/src/generated/abis.ts (regenerate it: npx hardhat build && npx tsx scripts/generate-abis.ts)`);
    }
    byRole.set(role, [...(byRole.get(role) ?? []), toFunctionSelector(matches[0]!)]);
  }
  return byRole;
}
