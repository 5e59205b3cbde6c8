import {
  computeCreditsAbi,
  disputeManagerAbi,
  feeLedgerAbi,
  jobEscrowAbi,
  modelRegistryAbi,
  nodeStakingAbi,
} from "../abis.js";
import { selectorOf } from "./keccak.js";

/**
 * AccessManager roles of the Veil protocol. ADMIN_ROLE (0) is OpenZeppelin's; it should sit behind a timelock
 * or multisig on a real network (see README, "Deploying to an EVM chain").
 */
export const ROLES = {
  GOVERNOR: 1n, // parameters and pauses
  // 2 was PROTOCOL (staking's assign, release, slash, notifyRewards): those now check NodeStaking's own
  // allowlist (setProtocolContract, GOVERNOR), one storage read instead of a call into the AccessManager.
  DISPUTER: 3n, // escrow: openDispute, resolveDispute (the dispute manager)
  // 4 was CREDITS (escrow: submitJobFor): payer modules are now allowlisted in the fee ledger (setPayerModule).
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
    setPaused: ROLES.GOVERNOR,
    openDispute: ROLES.DISPUTER,
    resolveDispute: ROLES.DISPUTER,
  },
  FeeLedger: { setPayerModule: ROLES.GOVERNOR, setPaused: ROLES.GOVERNOR },
  DisputeManager: { setParams: ROLES.GOVERNOR },
  ComputeCredits: {
    setCurve: ROLES.GOVERNOR,
    setAllowancePerCredit: ROLES.GOVERNOR,
    setUnlockDelay: ROLES.GOVERNOR,
    setPaused: ROLES.GOVERNOR,
  },
};

type AbiParam = { readonly type: string; readonly components?: readonly AbiParam[] };
type AbiItem = { readonly type: string; readonly name?: string; readonly inputs?: readonly AbiParam[] };

/**
 * The ABIs the selectors come from: this package's generated ABIs (src/abis.ts), which are committed and checked
 * against a fresh compile by test/sdk/abis.test.ts. Reading them, not compiled artifacts, lets the modules load on a
 * fresh clone before anything has been compiled.
 */
const ABIS: Record<string, readonly AbiItem[]> = {
  ModelRegistry: modelRegistryAbi,
  NodeStaking: nodeStakingAbi,
  JobEscrow: jobEscrowAbi,
  FeeLedger: feeLedgerAbi,
  DisputeManager: disputeManagerAbi,
  ComputeCredits: computeCreditsAbi,
};

/** The canonical ABI type of a parameter: tuples spelled out as `(t1,t2)`, array suffixes kept. */
function canonicalType(p: AbiParam): string {
  if (!p.type.startsWith("tuple")) return p.type;
  return `(${(p.components ?? []).map(canonicalType).join(",")})${p.type.slice("tuple".length)}`;
}

/** The 4-byte selector of an ABI function, e.g. `setParams((uint32,...,address))`. */
export function functionSelector(fn: { name: string; inputs?: readonly AbiParam[] }): `0x${string}` {
  return selectorOf(`${fn.name}(${(fn.inputs ?? []).map(canonicalType).join(",")})`);
}

/** Selectors grouped by role for one contract, computed from its ABI (never typed by hand). */
export function selectorsByRole(contract: string): Map<bigint, string[]> {
  const abi = ABIS[contract];
  if (!abi) throw new Error(`@veil/contracts/ignition: no ABI for ${contract} (known: ${Object.keys(ABIS).join(", ")})`);
  const byRole = new Map<bigint, string[]>();
  for (const [fn, role] of Object.entries(RESTRICTED[contract] ?? {})) {
    const matches = abi.filter((item) => item.type === "function" && item.name === fn);
    if (matches.length !== 1) {
      throw new Error(
        `${contract}.${fn}: ${matches.length ? "overloaded" : "not"} in packages/contracts/src/abis.ts (regenerate it: npx hardhat build && npx tsx scripts/generate-abis.ts)`,
      );
    }
    const match = matches[0]!;
    byRole.set(role, [...(byRole.get(role) ?? []), functionSelector({ name: fn, inputs: match.inputs })]);
  }
  return byRole;
}
