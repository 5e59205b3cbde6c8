import type {
  AccountRuntimeValue,
  CallableContractFuture,
  ContractCallFuture,
  IgnitionModuleBuilder,
  ModuleParameterRuntimeValue,
} from "@nomicfoundation/ignition-core";
import { ROLES, selectorsByRole } from "../roles.js";
import { contractsOf, type VeilArtifacts } from "../artifacts.js";

const HOUR = 3600n;
const E18 = 10n ** 18n;

/**
 * Default dispute parameters (docs/verification.md explains each). The three voting windows plus the draw window
 * (6 h + 12 h + 12 h = 30 h) fit inside the escrow's 3-day dispute window with more than the contract's 1-hour
 * resolve grace, so a disagreement can still be taken up to 42 h after the escrow disputed it.
 */
export const DISPUTE_DEFAULTS = {
  challengeBond: 100n * E18,
  operatorSlash: 1_000n * E18,
  drawDelayBlocks: 64n,
  drawWindow: 6n * HOUR,
  memberCollateral: 100n * E18,
  nonVoterSlash: 10n * E18,
  commitWindow: 12n * HOUR,
  revealWindow: 12n * HOUR,
  committeeSize: 5n,
  quorum: 3n,
  boundaryVotes: 2n,
  challengerBps: 5_000n,
  votersBps: 2_000n,
  bondToOperatorsBps: 5_000n,
};

export interface DisputeCore {
  manager: CallableContractFuture<string>;
  veil: CallableContractFuture<string>;
  registry: CallableContractFuture<string>;
  staking: CallableContractFuture<string>;
  escrow: CallableContractFuture<string>;
  treasury: AccountRuntimeValue | ModuleParameterRuntimeValue<AccountRuntimeValue> | ModuleParameterRuntimeValue<string>;
  /** The deployer's GOVERNOR grant: the allowlisting call below needs it. */
  governorGrant: ContractCallFuture<string, string>;
}

/**
 * Deploys the DisputeManager next to the core suite and wires it: its setters to GOVERNOR, and the roles it needs
 * itself: DISPUTER on the escrow (openDispute, resolveDispute) and a place on NodeStaking's protocol allowlist
 * (assign, release, slash). `artifacts`: deploy from these compiled artifacts instead of by contract name.
 */
export function buildDisputes(m: IgnitionModuleBuilder, core: DisputeCore, artifacts?: VeilArtifacts) {
  const d = DISPUTE_DEFAULTS;
  const param = (name: keyof typeof d) => m.getParameter(`dispute_${name}`, d[name]);
  const disputeManager = contractsOf(m, artifacts).deploy("DisputeManager", [
    core.manager,
    core.escrow,
    core.staking,
    core.registry,
    core.veil,
    {
      challengeBond: param("challengeBond"),
      operatorSlash: param("operatorSlash"),
      drawDelayBlocks: param("drawDelayBlocks"),
      drawWindow: param("drawWindow"),
      memberCollateral: param("memberCollateral"),
      nonVoterSlash: param("nonVoterSlash"),
      commitWindow: param("commitWindow"),
      revealWindow: param("revealWindow"),
      committeeSize: param("committeeSize"),
      quorum: param("quorum"),
      boundaryVotes: param("boundaryVotes"),
      challengerBps: param("challengerBps"),
      votersBps: param("votersBps"),
      bondToOperatorsBps: param("bondToOperatorsBps"),
      treasury: core.treasury,
    },
  ]);
  const wiring = [];
  for (const [role, selectors] of selectorsByRole("DisputeManager")) {
    wiring.push(m.call(core.manager, "setTargetFunctionRole", [disputeManager, selectors, role], { id: `role_DisputeManager_${role}` }));
  }
  wiring.push(m.call(core.manager, "grantRole", [ROLES.DISPUTER, disputeManager, 0n], { id: "grant_disputer_disputes" }));
  wiring.push(m.call(core.staking, "setProtocolContract", [disputeManager, true], { id: "protocol_disputes", after: [core.governorGrant] }));
  /** `wiring`: the calls made with the deployer's roles (a real-network deployment renounces them after). */
  return { disputeManager, wiring };
}
