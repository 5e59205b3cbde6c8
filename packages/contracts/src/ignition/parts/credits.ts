import type { CallableContractFuture, ContractCallFuture, IgnitionModuleBuilder } from "@nomicfoundation/ignition-core";
import { ROLES, selectorsByRole } from "../roles.js";
import { contractsOf, type VeilArtifacts } from "../artifacts.js";

const DAY = 24n * 3600n;
const E18 = 10n ** 18n;

/** Compute-credit defaults; each can be overridden per network with an Ignition parameters file. */
export const CREDITS_DEFAULTS = {
  // price(s) = base * (1 + s / scale) VEIL per credit: 100 VEIL per credit at launch, doubling at 100k credits.
  creditBasePrice: 100n * E18,
  creditCurveScale: 100_000n * E18,
  // Fee-token base units per credit per day: $1 with a 6-decimal stablecoin.
  allowancePerCredit: 1_000_000n,
  creditUnlockDelay: 7n * DAY,
};

/** What buildCredits needs from the core suite. */
export interface CreditsCore {
  manager: CallableContractFuture<string>;
  veil: CallableContractFuture<string>;
  registry: CallableContractFuture<string>;
  escrow: CallableContractFuture<string>;
  /** The escrow's fee ledger (deployed by the escrow), where the pool is allowlisted as a payer module. */
  ledger: CallableContractFuture<string>;
  feeToken: CallableContractFuture<string>;
  /** The GOVERNOR grant of the deployer, which `ledger.setPayerModule` must follow. */
  governorGrant: ContractCallFuture<string, string>;
}

/**
 * Deploys ComputeCredits, maps its GOVERNOR setters in the AccessManager and allowlists it in the fee ledger as a
 * payer module (it pays for the jobs it submits through `JobEscrow.submitJobFor`). `artifacts`: deploy from these compiled
 * artifacts (loadVeilArtifacts()) instead of by contract name.
 */
export function buildCredits(m: IgnitionModuleBuilder, core: CreditsCore, artifacts?: VeilArtifacts) {
  const { manager, veil, registry, escrow, ledger, feeToken, governorGrant } = core;
  const d = CREDITS_DEFAULTS;
  const credits = contractsOf(m, artifacts).deploy("ComputeCredits", [
    manager,
    escrow,
    veil,
    feeToken,
    registry,
    { base: m.getParameter("creditBasePrice", d.creditBasePrice), scale: m.getParameter("creditCurveScale", d.creditCurveScale) },
    m.getParameter("allowancePerCredit", d.allowancePerCredit),
    m.getParameter("creditUnlockDelay", d.creditUnlockDelay),
  ]);
  const wiring = [];
  for (const [role, selectors] of selectorsByRole("ComputeCredits")) {
    wiring.push(m.call(manager, "setTargetFunctionRole", [credits, selectors, role], { id: `role_ComputeCredits_${role}` }));
  }
  wiring.push(m.call(ledger, "setPayerModule", [credits, true], { id: "payer_module_credits", after: [governorGrant] }));
  /** `wiring`: the calls made with the deployer's roles (a real-network deployment renounces them after). */
  return { credits, wiring };
}
