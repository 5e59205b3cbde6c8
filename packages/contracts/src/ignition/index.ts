/**
 * @veil/contracts/ignition: the Hardhat Ignition modules that deploy the Veil suite (AccessManager, VEIL staking
 * token, ModelRegistry, NodeStaking, JobEscrow, ComputeCredits, DisputeManager, JobKeys) and wire every restricted
 * function to its role.
 *
 * From a Hardhat 3 project (hardhat-ignition) or from ignition-core's `deploy()`:
 *
 *     import { veilModule, loadVeilArtifacts } from "@veil/contracts/ignition";
 *     export default veilModule({ artifacts: loadVeilArtifacts() });   // deploys the bytecode this release ships
 *
 * Without `artifacts` the modules deploy by contract name, from the artifacts of the Hardhat project that runs them
 * (the Veil repository's own ignition/modules do this). Needs `@nomicfoundation/ignition-core` (a peer dependency).
 * @module
 */
import {
  buildModule,
  type AccountRuntimeValue,
  type AddressResolvableFuture,
  type CallableContractFuture,
  type IgnitionModuleBuilder,
  type ModuleParameterRuntimeValue,
} from "@nomicfoundation/ignition-core";
import { contractsOf, type VeilArtifacts } from "./artifacts.js";
import { buildCredits } from "./parts/credits.js";
import { buildDisputes } from "./parts/disputes.js";
import { buildKeys } from "./parts/keys.js";
import { ROLES, selectorsByRole } from "./roles.js";

export { ROLES, RESTRICTED, selectorsByRole, functionSelector } from "./roles.js";
export { CREDITS_DEFAULTS, buildCredits, type CreditsCore } from "./parts/credits.js";
export { DISPUTE_DEFAULTS, buildDisputes, type DisputeCore } from "./parts/disputes.js";
export { buildKeys, type KeysCore } from "./parts/keys.js";
export { VEIL_CONTRACTS, loadVeilArtifacts, checkVeilArtifacts, contractsOf, type VeilArtifacts, type VeilContractName } from "./artifacts.js";

const DAY = 24n * 3600n;

/** Default parameters: every one can be overridden per network with an Ignition parameters file. */
export const DEFAULTS = {
  stakingSupply: 1_000_000_000n * 10n ** 18n,
  minStake: 1_000n * 10n ** 18n,
  unbondingPeriod: 21n * DAY,
  /**
   * The real-network module's execution delay on `admin`'s GOVERNOR and ADMIN roles: every governance action is
   * scheduled in the AccessManager and runs this long after, longer than the longest exit (the 21-day unbonding, the
   * credits' 7-day unlock), so anyone who disagrees with a change can leave before it applies (issue 17, L-2). The
   * local module keeps 0.
   */
  governanceDelay: 22n * DAY,
  escrowParams: {
    commitWindow: 600n,
    revealWindow: 600n,
    challengeWindow: 3600n,
    disputeWindow: 3n * DAY,
    maxJobDuration: 2n * DAY,
    maxInputBytes: 16_384n,
    treasuryBps: 500n,
    stakersBps: 500n,
    maxRoyaltyBps: 2_000n,
    missSlashTo: 0n, // treasury
    minPrice: 1_000n, // 0.001 of a 6-decimal token per operator slot
    collateral: 100n * 10n ** 18n,
    missPenalty: 10n * 10n ** 18n,
  },
};

/**
 * Deploys the suite around a given fee token future: AccessManager, VEIL staking token, ModelRegistry,
 * NodeStaking, JobEscrow, and wires every restricted function to its role. `artifacts`: deploy from these compiled
 * artifacts (loadVeilArtifacts() reads the ones this package ships) instead of by contract name.
 */
export function buildVeil<FeeTokenT extends CallableContractFuture<string>>(
  m: IgnitionModuleBuilder,
  feeToken: FeeTokenT,
  artifacts?: VeilArtifacts,
  governance: { delay: bigint; adminRequired: boolean } = { delay: 0n, adminRequired: false },
) {
  const c = contractsOf(m, artifacts);
  const deployer = m.getAccount(0);
  // On real networks `admin` (a timelock or multisig) is required: the deployer gives its roles up at the end.
  const admin = governance.adminRequired ? m.getParameter<string>("admin") : m.getParameter("admin", deployer);
  const governanceDelay = m.getParameter("governanceDelay", governance.delay);
  const treasury = m.getParameter("treasury", deployer);
  const tokenRecipient = m.getParameter("stakingTokenRecipient", deployer);
  const stakingSupply = m.getParameter("stakingSupply", DEFAULTS.stakingSupply);
  const minStake = m.getParameter("minStake", DEFAULTS.minStake);
  const unbondingPeriod = m.getParameter("unbondingPeriod", DEFAULTS.unbondingPeriod);
  const p = DEFAULTS.escrowParams;
  const param = (name: keyof typeof p) => m.getParameter(name, p[name]);

  const manager = c.deploy("AccessManager", [deployer]);
  const veil = c.deploy("VeilToken", [tokenRecipient, stakingSupply]);
  const registry = c.deploy("ModelRegistry", [manager]);
  const staking = c.deploy("NodeStaking", [manager, veil, feeToken, registry, minStake, unbondingPeriod]);
  const escrow = c.deploy("JobEscrow", [
    manager,
    feeToken,
    registry,
    staking,
    {
      commitWindow: param("commitWindow"),
      revealWindow: param("revealWindow"),
      challengeWindow: param("challengeWindow"),
      disputeWindow: param("disputeWindow"),
      maxJobDuration: param("maxJobDuration"),
      maxInputBytes: param("maxInputBytes"),
      treasuryBps: param("treasuryBps"),
      stakersBps: param("stakersBps"),
      maxRoyaltyBps: param("maxRoyaltyBps"),
      missSlashTo: param("missSlashTo"),
      minPrice: param("minPrice"),
      collateral: param("collateral"),
      missPenalty: param("missPenalty"),
      treasury,
    },
  ]);

  // The escrow deploys its fee ledger (every balance of the job market) in its constructor.
  const ledgerAddress = m.staticCall(escrow, "ledger", [], 0, { id: "ledger_address" });
  const ledger = c.at("FeeLedger", ledgerAddress);

  // Every call made with the deployer's zero-delay roles: a real-network deployment renounces them after all of these.
  const wiring = [];
  const targets = { ModelRegistry: registry, NodeStaking: staking, JobEscrow: escrow, FeeLedger: ledger } as const;
  for (const [name, target] of Object.entries(targets)) {
    for (const [role, selectors] of selectorsByRole(name)) {
      wiring.push(m.call(manager, "setTargetFunctionRole", [target, selectors, role], { id: `role_${name}_${role}` }));
    }
  }
  const grant = (
    role: bigint,
    account: AccountRuntimeValue | ModuleParameterRuntimeValue<AccountRuntimeValue> | ModuleParameterRuntimeValue<string> | AddressResolvableFuture,
    id: string,
    delay: bigint | ModuleParameterRuntimeValue<bigint> = 0n,
  ) => m.call(manager, "grantRole", [role, account, delay], { id: `grant_${id}` });
  const governorGrant = grant(ROLES.GOVERNOR, deployer, "governor_deployer");
  // The escrow locks, releases and slashes collateral and notifies staker rewards (NodeStaking's allowlist).
  wiring.push(governorGrant);
  wiring.push(m.call(staking, "setProtocolContract", [escrow, true], { id: "protocol_escrow", after: [governorGrant] }));
  // The ledger pays the stakers' accrual into NodeStaking's reward pool (notifyRewards).
  wiring.push(m.call(staking, "setProtocolContract", [ledger, true], { id: "protocol_ledger", after: [governorGrant] }));
  wiring.push(m.call(staking, "setSlashWindowSource", [escrow], { after: [governorGrant] }));
  const credits = buildCredits(m, { manager, veil, registry, escrow, ledger, feeToken, governorGrant }, artifacts);
  const disputes = buildDisputes(m, { manager, veil, registry, staking, escrow, treasury, governorGrant }, artifacts);
  const { jobKeys } = buildKeys(m, { escrow }, artifacts);
  wiring.push(...credits.wiring, ...disputes.wiring);
  // Hand governance to `admin` (a timelock or multisig on real networks) with the execution delay: its GOVERNOR and
  // ADMIN actions must be scheduled in the AccessManager and wait `governanceDelay` (0 on local chains).
  wiring.push(grant(ROLES.GOVERNOR, admin, "governor_admin", governanceDelay));
  wiring.push(grant(0n, admin, "admin", governanceDelay));
  if (governance.adminRequired) {
    // Real networks: once everything is wired, the deployer renounces its zero-delay GOVERNOR and ADMIN roles; only
    // `admin`, through the execution delay, governs from then on (issue 17, L-2).
    m.call(manager, "renounceRole", [ROLES.GOVERNOR, deployer], { id: "renounce_deployer_governor", after: wiring });
    m.call(manager, "renounceRole", [0n, deployer], { id: "renounce_deployer_admin", after: wiring });
  }
  const { credits: creditsContract } = credits;
  const { disputeManager } = disputes;

  return { manager, veil, registry, staking, escrow, ledger, feeToken, credits: creditsContract, disputeManager, jobKeys };
}

/** Options of the module factories. */
export interface VeilModuleOptions {
  /** Deploy from these artifacts (e.g. `loadVeilArtifacts()`); omitted: by contract name, from the running project. */
  artifacts?: VeilArtifacts;
}

/** Real networks (module id `Veil`): the fee token is an existing ERC-20 given as the `feeToken` parameter. */
export function veilModule(options: VeilModuleOptions = {}) {
  return buildModule("Veil", (m) => {
    const feeToken = contractsOf(m, options.artifacts).at("IERC20", m.getParameter<string>("feeToken"));
    return buildVeil(m, feeToken, options.artifacts, { delay: DEFAULTS.governanceDelay, adminRequired: true });
  });
}

/** Local chains (module id `VeilLocal`): deploys a 6-decimal mock stablecoin as the fee token, then the whole suite. */
export function veilLocalModule(options: VeilModuleOptions = {}) {
  return buildModule("VeilLocal", (m) => {
    const feeToken = contractsOf(m, options.artifacts).deploy("MockUSDC", []);
    return buildVeil(m, feeToken, options.artifacts);
  });
}
