import { createWalletClient, http, publicActions, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";
import { veilActions } from "../sdk/src/index.js";
import { loadDeploymentFile } from "../sdk/src/node.js";

// The address book written by `npm run deploy`, a funded account, and a registered model id.
const { addresses } = loadDeploymentFile(process.env.VEIL_DEPLOYMENT ?? "deployments/31337.json");
const veil = createWalletClient({
  account: privateKeyToAccount(process.env.VEIL_PRIVATE_KEY as Hex),
  chain: hardhat,
  transport: http(process.env.VEIL_RPC_URL ?? "http://127.0.0.1:8545"),
})
  .extend(publicActions)
  .extend(veilActions({ addresses }));

// Submit named tensors: they are encoded canonically, sent inline, and the fee is approved and escrowed.
const { jobId, operators, fee } = await veil.submitJob({
  modelId: process.env.VEIL_MODEL as Hex,
  inputs: { x: { type: "float32", dims: [1, 16], data: new Float32Array(16).fill(0.5) } },
});
console.log(`job ${jobId}: fee ${fee} escrowed, operators ${operators.join(", ")}`);

// Wait for the operators' result, fetch it from an operator, check it against the on-chain hash, decode it.
const { outputs, resultHash } = await veil.waitForResult({ jobId });
const y = outputs.y!;
console.log(`verified result ${resultHash}: y ${y.type}[${y.dims.join(",")}] = ${Array.from(y.data as Float32Array).join(", ")}`);
