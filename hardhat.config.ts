import "./scripts/source-conditions.mjs";
import { createRequire } from "node:module";
import hardhatToolboxMochaEthersPlugin from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import { configVariable, defineConfig } from "hardhat/config";

const require = createRequire(import.meta.url);
// Compilers cannot be downloaded here: Hardhat uses the solc-js build that the `solc` package ships.
const soljson = require.resolve("solc/soljson.js");

export default defineConfig({
  plugins: [hardhatToolboxMochaEthersPlugin],
  solidity: {
    // Deployments use these OpenZeppelin contracts directly, so they need artifacts too.
    npmFilesToBuild: [
      "@openzeppelin/contracts/access/manager/AccessManager.sol",
      "@openzeppelin/contracts/token/ERC20/IERC20.sol",
    ],
    profiles: {
      default: {
        version: "0.8.30",
        path: soljson,
        settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun", viaIR: false },
      },
      production: {
        version: "0.8.30",
        path: soljson,
        settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun", viaIR: false },
      },
    },
  },
  paths: {
    tests: { mocha: "test", solidity: "test" },
  },
  test: {
    mocha: { timeout: 120_000 },
  },
  networks: {
    hardhat: {
      type: "edr-simulated",
      chainType: "l1",
      // Coverage instruments the bytecode, which pushes JobEscrow and NodeStaking past 24,576 bytes: lift the
      // limit for `--coverage` runs only. Every other run enforces it (a test checks JobEscrow's size).
      allowUnlimitedContractSize: process.argv.includes("--coverage"),
    },
    localhost: {
      type: "http",
      chainType: "l1",
      // `npx hardhat node` listens here; VEIL_LOCALHOST_RPC points elsewhere (tests use free ports).
      url: process.env.VEIL_LOCALHOST_RPC ?? "http://127.0.0.1:8545",
    },
    // Any EVM chain by RPC: secrets come from Hardhat configuration variables (`npx hardhat keystore set VEIL_DEPLOYER_KEY`)
    // or the environment, never from this file.
    base: {
      type: "http",
      chainType: "op",
      url: configVariable("BASE_RPC_URL"),
      accounts: [configVariable("VEIL_DEPLOYER_KEY")],
    },
    arbitrum: {
      type: "http",
      chainType: "generic",
      url: configVariable("ARBITRUM_RPC_URL"),
      accounts: [configVariable("VEIL_DEPLOYER_KEY")],
    },
  },
});
