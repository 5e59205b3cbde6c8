import { createWalletClient, http, publicActions, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";
import { formatJobId, veilActions } from "@veil/sdk";
import { loadDeploymentFile } from "@veil/sdk/node";

// The address book written by `npm run deploy`, a funded account, and a registered model id.
const { addresses } = loadDeploymentFile(process.env.VEIL_DEPLOYMENT ?? "deployments/31337.json");
const veil = createWalletClient({
  account: privateKeyToAccount(process.env.VEIL_PRIVATE_KEY as Hex),
  chain: hardhat,
  transport: http(process.env.VEIL_RPC_URL ?? "http://127.0.0.1:8545"),
})
  .extend(publicActions)
  .extend(veilActions({ addresses }));

// Submit named tensors: they are checked against the model's registered signature and encoded canonically before
// anything is signed; the fee is paid by permit (or an exact approval) and escrowed. This input (a 3 x 48 x 192
// image for the PaddleOCR classifier, 110 KB) is above the 16 KiB inline limit, so it goes by content address:
// the chain stores its sha256 and the bytes are pushed to the drawn operators.
const { jobId, operators, fee, blobPushes } = await veil.submitJob({
  modelId: process.env.VEIL_MODEL as Hex,
  inputs: { x: { type: "float32", dims: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192).fill(0.5) } },
});
console.log(`job ${formatJobId(jobId)}: fee ${fee} escrowed, operators ${operators.join(", ")}; input pushed to ${blobPushes?.filter((p) => p.ok).length ?? 0} of them`);

// Wait for the operators' result, fetch it from an operator, check it against the on-chain hash, decode it.
const { outputs, resultHash } = await veil.waitForResult({ jobId });
for (const [name, t] of Object.entries(outputs)) {
  console.log(`verified result ${resultHash}: ${name} ${t.type}[${t.dims.join(",")}] = ${Array.from(t.data as Float32Array).join(", ")}`);
}
