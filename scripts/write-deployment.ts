/**
 * Writes deployments/<chainId>.json, the address book the SDK and the CLI read, from an Ignition deployment.
 *
 *   npx hardhat ignition deploy ignition/modules/VeilLocal.ts --network localhost
 *   npx tsx scripts/write-deployment.ts ignition/deployments/chain-31337
 *
 * Options: `--out <dir>` (default deployments). The chain id comes from the deployment's journal.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseDeployment, type VeilAddresses, type VeilDeployment } from "../packages/sdk/src/addresses.js";

/** Ignition contract names (the part after `<Module>#`) and the address-book key each fills. */
const KEYS: Record<string, keyof VeilAddresses> = {
  JobEscrow: "jobEscrow",
  // The escrow deploys its FeeLedger in its constructor; Ignition records it as a contractAt of `escrow.ledger()`.
  FeeLedger: "feeLedger",
  NodeStaking: "nodeStaking",
  ModelRegistry: "modelRegistry",
  MockUSDC: "feeToken",
  IERC20: "feeToken",
  VeilToken: "stakingToken",
  AccessManager: "accessManager",
  DisputeManager: "disputeManager",
  ComputeCredits: "computeCredits",
  JobKeys: "jobKeys",
};

/** Maps Ignition's `deployed_addresses.json` (`{"VeilLocal#JobEscrow": "0x.."}`) to a validated deployment. */
export function deploymentFromIgnition(deployed: Record<string, string>, chainId: number): VeilDeployment {
  const addresses: Partial<VeilAddresses> = {};
  for (const [futureId, address] of Object.entries(deployed)) {
    const name = futureId.split("#").pop()!;
    const key = KEYS[name];
    if (key) addresses[key] = address as `0x${string}`;
  }
  return parseDeployment({ chainId, addresses }, "ignition deployment");
}

/**
 * Reads an Ignition deployment folder: deployed_addresses.json, the journal's chain id, and the first block any of
 * its transactions was confirmed in (`startBlock`: where the SDK starts event scans, e.g. for recycled jobs).
 */
export function readIgnitionDeployment(dir: string): VeilDeployment {
  const deployed = JSON.parse(readFileSync(path.join(dir, "deployed_addresses.json"), "utf8")) as Record<string, string>;
  let chainId: number | undefined;
  let startBlock: number | undefined;
  for (const line of readFileSync(path.join(dir, "journal.jsonl"), "utf8").split("\n")) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line);
    if (chainId === undefined && typeof entry.chainId === "number") chainId = entry.chainId;
    const block = entry.type === "TRANSACTION_CONFIRM" ? entry.receipt?.blockNumber : undefined;
    if (typeof block === "number" && (startBlock === undefined || block < startBlock)) startBlock = block;
  }
  if (chainId === undefined) throw new Error(`${dir}: no chain id in journal.jsonl`);
  return { ...deploymentFromIgnition(deployed, chainId), startBlock };
}

/** Writes `<outDir>/<chainId>.json` and returns its path. */
export function writeDeployment(deployment: VeilDeployment, outDir = "deployments"): string {
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${deployment.chainId}.json`);
  writeFileSync(file, JSON.stringify(deployment, null, 2) + "\n");
  return file;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const outAt = args.indexOf("--out");
  const out = outAt >= 0 ? args.splice(outAt, 2)[1]! : "deployments";
  const dir = args[0];
  if (!dir) {
    console.error("usage: npx tsx scripts/write-deployment.ts <ignition/deployments/chain-N> [--out deployments]");
    process.exit(2);
  }
  const file = writeDeployment(readIgnitionDeployment(dir), out);
  console.log(`wrote ${file}`);
}
