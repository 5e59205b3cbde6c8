// Writes the compiled artifacts that @veil/contracts/ignition deploys (loadVeilArtifacts) into
// packages/contracts/artifacts/<Name>.json, from the repository's Hardhat build (artifacts/ at the root).
// npm runs it as the package's `prepack` (npm pack, npm publish); `--out <dir>` writes elsewhere and `--from <dir>`
// reads another Hardhat artifacts directory (tests).
// Only what Ignition needs is kept: no build info, no source maps. The output is git-ignored.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const root = path.resolve(pkg, "../..");

/** The contracts of VEIL_CONTRACTS (src/ignition/artifacts.ts), by the path of their Hardhat artifact. */
const SOURCES = {
  AccessManager: "@openzeppelin/contracts/access/manager/AccessManager.sol/AccessManager.json",
  VeilToken: "contracts/VeilToken.sol/VeilToken.json",
  ModelRegistry: "contracts/ModelRegistry.sol/ModelRegistry.json",
  NodeStaking: "contracts/NodeStaking.sol/NodeStaking.json",
  JobEscrow: "contracts/JobEscrow.sol/JobEscrow.json",
  FeeLedger: "contracts/FeeLedger.sol/FeeLedger.json",
  ComputeCredits: "contracts/ComputeCredits.sol/ComputeCredits.json",
  DisputeManager: "contracts/DisputeManager.sol/DisputeManager.json",
  JobKeys: "contracts/JobKeys.sol/JobKeys.json",
  MockUSDC: "contracts/mocks/MockUSDC.sol/MockUSDC.json",
  IERC20: "@openzeppelin/contracts/token/ERC20/IERC20.sol/IERC20.json",
};
const FIELDS = ["_format", "contractName", "sourceName", "abi", "bytecode", "deployedBytecode", "linkReferences", "deployedLinkReferences", "immutableReferences", "inputSourceName", "buildInfoId"];

function fail(message) {
  console.error(`@veil/contracts prepack: ${message}`);
  process.exit(1);
}

function option(flag, fallback) {
  const i = process.argv.indexOf(flag);
  if (i === -1) return fallback;
  if (!process.argv[i + 1] || process.argv[i + 1].startsWith("--")) fail(`${flag} needs a directory`);
  return path.resolve(process.argv[i + 1]);
}
const unknown = process.argv.slice(2).filter((a, i, all) => a.startsWith("--") ? !["--out", "--from"].includes(a) : !["--out", "--from"].includes(all[i - 1]));
if (unknown.length) fail(`unknown argument ${unknown[0]} (usage: pack-artifacts.mjs [--out <dir>] [--from <hardhat artifacts dir>])`);
const out = option("--out", path.join(pkg, "artifacts"));
const built = option("--from", path.join(root, "artifacts"));
if (!existsSync(built)) fail(`${built} does not exist: compile the contracts first (npx hardhat build at ${root}); the package ships their artifacts for @veil/contracts/ignition.`);

let total = 0;
const files = {};
for (const [name, rel] of Object.entries(SOURCES)) {
  const file = path.join(built, rel);
  let artifact;
  try {
    artifact = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    fail(
      e.code === "ENOENT"
        ? `${file} is missing: compile the contracts first (npx hardhat build at ${root}); the package ships their artifacts for @veil/contracts/ignition.`
        : `cannot read ${file}: ${e.message}`,
    );
  }
  if (artifact.contractName !== name || typeof artifact.bytecode !== "string" || !Array.isArray(artifact.abi)) fail(`${file} is not the artifact of ${name}`);
  if (name !== "IERC20" && artifact.bytecode.length <= 2) fail(`${file} has no bytecode`);
  const kept = {};
  for (const f of FIELDS) if (artifact[f] !== undefined) kept[f] = artifact[f];
  files[name] = JSON.stringify(kept);
  total += files[name].length;
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const [name, text] of Object.entries(files)) writeFileSync(path.join(out, `${name}.json`), text + "\n");
console.error(`@veil/contracts prepack: ${Object.keys(files).length} artifacts, ${(total / 1024).toFixed(0)} KiB, in ${out}`);
