import { readFileSync } from "node:fs";
import { Interface } from "ethers";

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

function artifactAbi(contract: string): Interface {
  const url = new URL(`../../artifacts/contracts/${contract}.sol/${contract}.json`, import.meta.url);
  return new Interface(JSON.parse(readFileSync(url, "utf8")).abi);
}

/** Selectors grouped by role for one contract, read from its compiled ABI (never typed by hand). */
export function selectorsByRole(contract: string): Map<bigint, string[]> {
  const iface = artifactAbi(contract);
  const byRole = new Map<bigint, string[]>();
  for (const [fn, role] of Object.entries(RESTRICTED[contract] ?? {})) {
    const fragment = iface.getFunction(fn);
    if (!fragment) throw new Error(`${contract}.${fn} is not in the compiled ABI`);
    byRole.set(role, [...(byRole.get(role) ?? []), fragment.selector]);
  }
  return byRole;
}
