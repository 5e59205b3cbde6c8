import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import type {
  AccountRuntimeValue,
  AddressResolvableFuture,
  CallableContractFuture,
  IgnitionModuleBuilder,
  ModuleParameterRuntimeValue,
} from "@nomicfoundation/ignition-core";
import { ROLES, selectorsByRole } from "./roles.js";
import { buildDisputes } from "./parts/disputes.js";
import { buildCredits } from "./parts/credits.js";
import { buildKeys } from "./parts/keys.js";

const DAY = 24n * 3600n;

/** Default parameters: every one can be overridden per network with an Ignition parameters file. */
export const DEFAULTS = {
  stakingSupply: 1_000_000_000n * 10n ** 18n,
  minStake: 1_000n * 10n ** 18n,
  unbondingPeriod: 21n * DAY,
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
 * NodeStaking, JobEscrow, and wires every restricted function to its role.
 */
export function buildVeil<FeeTokenT extends CallableContractFuture<string>>(m: IgnitionModuleBuilder, feeToken: FeeTokenT) {
  const deployer = m.getAccount(0);
  const admin = m.getParameter("admin", deployer);
  const treasury = m.getParameter("treasury", deployer);
  const tokenRecipient = m.getParameter("stakingTokenRecipient", deployer);
  const stakingSupply = m.getParameter("stakingSupply", DEFAULTS.stakingSupply);
  const minStake = m.getParameter("minStake", DEFAULTS.minStake);
  const unbondingPeriod = m.getParameter("unbondingPeriod", DEFAULTS.unbondingPeriod);
  const p = DEFAULTS.escrowParams;
  const param = (name: keyof typeof p) => m.getParameter(name, p[name]);

  const manager = m.contract("AccessManager", [deployer]);
  const veil = m.contract("VeilToken", [tokenRecipient, stakingSupply]);
  const registry = m.contract("ModelRegistry", [manager]);
  const staking = m.contract("NodeStaking", [manager, veil, feeToken, registry, minStake, unbondingPeriod]);
  const escrow = m.contract("JobEscrow", [
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

  const targets = { ModelRegistry: registry, NodeStaking: staking, JobEscrow: escrow } as const;
  for (const [name, target] of Object.entries(targets)) {
    for (const [role, selectors] of selectorsByRole(name)) {
      m.call(manager, "setTargetFunctionRole", [target, selectors, role], { id: `role_${name}_${role}` });
    }
  }
  const grant = (role: bigint, account: AccountRuntimeValue | ModuleParameterRuntimeValue<AccountRuntimeValue> | AddressResolvableFuture, id: string) =>
    m.call(manager, "grantRole", [role, account, 0n], { id: `grant_${id}` });
  const governorGrant = grant(ROLES.GOVERNOR, deployer, "governor_deployer");
  // The escrow locks, releases and slashes collateral and notifies staker rewards (NodeStaking's allowlist).
  m.call(staking, "setProtocolContract", [escrow, true], { id: "protocol_escrow", after: [governorGrant] });
  m.call(staking, "setSlashWindowSource", [escrow], { after: [governorGrant] });
  const { credits } = buildCredits(m, { manager, veil, registry, escrow, feeToken, governorGrant });
  const { disputeManager } = buildDisputes(m, { manager, veil, registry, staking, escrow, treasury, governorGrant });
  const { jobKeys } = buildKeys(m, { escrow });
  // Hand governance to `admin` (a timelock or multisig on real networks) when it differs from the deployer.
  grant(ROLES.GOVERNOR, admin, "governor_admin");
  grant(0n, admin, "admin");

  return { manager, veil, registry, staking, escrow, feeToken, credits, disputeManager, jobKeys };
}

/** Real networks: the fee token is an existing ERC-20 given as the `feeToken` parameter. */
export default buildModule("Veil", (m) => {
  const feeToken = m.contractAt("IERC20", m.getParameter<string>("feeToken"));
  return buildVeil(m, feeToken);
});
