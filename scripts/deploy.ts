/**
 * Deploys the whole Veil suite with Ignition and writes deployments/<chainId>.json for the SDK, CLI and workers.
 *
 *   npx hardhat node                                   # terminal 1: a local multi-process network
 *   npm run deploy -- --network localhost              # terminal 2: deploys VeilLocal (with a mock stablecoin)
 *   npm run deploy -- --network base                   # a real chain: deploys Veil with ignition/parameters/base.json
 *
 * On chain 31337 the VeilLocal module also deploys MockUSDC as the fee token, and this script funds test accounts 1-9
 * (VEIL and mUSDC) and the compute-credit pool (100,000 mUSDC from the deployer, so `--pay allowance` works);
 * elsewhere the `feeToken` parameter (an existing stablecoin) is required. Ignition keeps its journal in
 * ignition/deployments/chain-<id>, so a deployment interrupted half-way resumes where it stopped when run again.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import hre from "hardhat";
import Veil from "../ignition/modules/Veil.js";
import VeilLocal from "../ignition/modules/VeilLocal.js";
import { writeDeployment } from "./write-deployment.js";
import type { VeilAddresses } from "../packages/sdk/src/addresses.js";

/** Local chains only: mock USDC the deployer puts in the compute-credit pool (100,000 mUSDC, 6 decimals). */
const LOCAL_POOL_FUNDING = 100_000n * 10n ** 6n;

const connection = await hre.network.getOrCreate();
const { ethers, ignition } = connection;
const chainId = Number((await ethers.provider.getNetwork()).chainId);
const local = chainId === 31337;
const paramsFile = `ignition/parameters/${connection.networkName}.json`;
const parameters = existsSync(paramsFile) ? JSON.parse(readFileSync(paramsFile, "utf8")) : {};
if (!local && !parameters.Veil?.feeToken) {
  throw new Error(`${paramsFile} must set Veil.feeToken (the stablecoin jobs are paid in) for chain ${chainId}`);
}
if (!local && !parameters.Veil?.admin) {
  throw new Error(
    `${paramsFile} must set Veil.admin (a timelock or multisig: it governs through an execution delay of Veil.governanceDelay seconds, 22 days by default, and the deployer renounces its roles) for chain ${chainId}`,
  );
}
const deploymentId = `chain-${chainId}`;
// A local node starts empty every time: an Ignition journal left by an earlier node would make Ignition "resume"
// into addresses that do not exist on this one, so local deployments always start from scratch.
if (local) rmSync(`ignition/deployments/${deploymentId}`, { recursive: true, force: true });
const startBlock = await ethers.provider.getBlockNumber();
const options = { parameters, deploymentId };
const d = local ? await ignition.deploy(VeilLocal, options) : await ignition.deploy(Veil, options);
const addr = async (c: { getAddress(): Promise<string> }) => (await c.getAddress()) as `0x${string}`;
const addresses: VeilAddresses = {
  jobEscrow: await addr(d.escrow),
  feeLedger: await addr(d.ledger),
  nodeStaking: await addr(d.staking),
  modelRegistry: await addr(d.registry),
  feeToken: await addr(d.feeToken),
  stakingToken: await addr(d.veil),
  accessManager: await addr(d.manager),
  disputeManager: await addr(d.disputeManager),
  computeCredits: await addr(d.credits),
  jobKeys: await addr(d.jobKeys),
};
if (local) {
  // A local network's test accounts 1-9 get VEIL to stake and mock USDC to pay with, so the walkthrough in the
  // README works without any other step. (Never on a real chain: MockUSDC is not deployed there.)
  const signers = await ethers.getSigners();
  const veil = await ethers.getContractAt("VeilToken", addresses.stakingToken);
  const usdc = await ethers.getContractAt("MockUSDC", addresses.feeToken);
  for (const s of signers.slice(1, 10)) {
    await (await veil.connect(signers[0]).transfer(s.address, 100_000n * 10n ** 18n)).wait();
    await (await usdc.mint(s.address, 10_000n * 10n ** 6n)).wait();
  }
  console.log(`funded ${Math.min(9, signers.length - 1)} local test accounts with 100,000 VEIL and 10,000 mUSDC each`);
  // The compute-credit pool pays the fees of allowance-paid jobs (`veil job submit --pay allowance`); it starts
  // empty, so the deployer funds it here (ComputeCredits.fundPool) and every `--pay` mode works in the walkthrough.
  if (addresses.computeCredits) {
    const credits = await ethers.getContractAt("ComputeCredits", addresses.computeCredits);
    await (await usdc.mint(signers[0]!.address, LOCAL_POOL_FUNDING)).wait();
    await (await usdc.connect(signers[0]).approve(addresses.computeCredits, LOCAL_POOL_FUNDING)).wait();
    await (await credits.connect(signers[0]).fundPool(LOCAL_POOL_FUNDING)).wait();
    const mUsdc = (v: bigint) => Number(ethers.formatUnits(v, 6)).toLocaleString("en-US");
    console.log(
      `funded the compute-credit pool with ${mUsdc(LOCAL_POOL_FUNDING)} mUSDC from the deployer (pool now ` +
        `${mUsdc(await credits.poolBalance())} mUSDC): it pays the fees of \`veil job submit --pay allowance\``,
    );
  }
}
const file = writeDeployment({ chainId, addresses, startBlock }, process.env.VEIL_DEPLOYMENTS_DIR ?? "deployments");
console.log(`deployed Veil to chain ${chainId} (${connection.networkName}); address book: ${file}`);
for (const [k, v] of Object.entries(addresses)) if (v) console.log(`  ${k.padEnd(15)} ${v}`);
