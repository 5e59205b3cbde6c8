/**
 * Worker throughput on an in-process chain: jobs per second through one worker's whole path (events -> input ->
 * ONNX Runtime -> result hash -> submitResult transaction), with micro-batching off and on, next to raw
 * onnxruntime-node session.run on the same model and inputs in the same run.
 *
 *   npx tsx bench/worker.ts [--jobs 64]
 */
import { parseArgs } from "node:util";
import hre from "hardhat";
import * as ort from "onnxruntime-node";
import { custom, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import VeilLocal from "../ignition/modules/VeilLocal.js";
import { createWorker } from "../packages/worker/src/create.js";
import { nullLogger } from "../packages/worker/src/internal/log.js";
import { buildMlpModel } from "../packages/worker/src/models/generate.js";
import { encodeTensors } from "../packages/sdk/src/tensor.js";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "64" } } });
const N = Number(values.jobs);
const MNEMONIC = "test test test test test test test test test test test junk";
const mlp = buildMlpModel({ seed: 3 });
const inputs = Array.from({ length: N }, (_, i) => new Float32Array(16).map((_, j) => Math.cos(i * 16 + j)));

async function raw(): Promise<number> {
  const session = await ort.InferenceSession.create(mlp.bytes, { executionMode: "sequential", intraOpNumThreads: 1, graphOptimizationLevel: "all" });
  const t0 = performance.now();
  for (const x of inputs) await session.run({ x: new ort.Tensor("float32", x, [1, 16]) });
  const ms = performance.now() - t0;
  await session.release();
  return N / (ms / 1000);
}

async function throughWorker(batching: boolean): Promise<{ jobsPerSec: number; inferOnlyPerSec: number }> {
  await hre.tasks.getTask("build").run({ quiet: true });
  const connection = await hre.network.create();
  const { ethers, ignition } = connection;
  const signers = await ethers.getSigners();
  const [, requester, owner] = signers;
  const op = signers[5]!;
  const d = await ignition.deploy(VeilLocal, {});
  const [usdc, veil, registry, staking, escrow] = await Promise.all([
    ethers.getContractAt("MockUSDC", d.feeToken),
    ethers.getContractAt("VeilToken", d.veil),
    ethers.getContractAt("ModelRegistry", d.registry),
    ethers.getContractAt("NodeStaking", d.staking),
    ethers.getContractAt("IVeilEscrow", d.escrow),
  ]);
  // Fees are collected by the escrow's FeeLedger: the requester approves it and prepays a deposit there.
  const ledger = await ethers.getContractAt("FeeLedger", await escrow.ledger());
  await (await registry.connect(owner).registerModel(mlp.modelId, { price: 50_000n, royaltyBps: 0, redundancy: 1, comparator: 0, precision: 0, metadataURI: "", profile: { opset: 17, ortVersion: "1.30.0", executionProvider: "cpu", graphOptimizationLevel: 3, sequential: true }, ioSignature: "" })).wait();
  await (await veil.transfer(op.address, 10n ** 24n)).wait();
  await (await veil.connect(op).approve(await staking.getAddress(), ethers.MaxUint256)).wait();
  await (await staking.connect(op).register("http://127.0.0.1:1", ethers.ZeroHash)).wait();
  // Enough stake to back every job's collateral at once.
  await (await staking.connect(op).stake(10n ** 24n)).wait();
  await (await usdc.mint(requester.address, 10n ** 12n)).wait();
  await (await usdc.connect(requester).approve(await ledger.getAddress(), ethers.MaxUint256)).wait();
  await (await ledger.connect(requester).deposit(10n ** 11n)).wait();
  const w = await createWorker({
    transport: custom(connection.provider),
    account: mnemonicToAccount(MNEMONIC, { addressIndex: 5 }),
    addresses: { jobEscrow: (await escrow.getAddress()) as Hex, nodeStaking: (await staking.getAddress()) as Hex, modelRegistry: (await registry.getAddress()) as Hex },
    dataDir: ":memory:",
    models: [{ bytes: mlp.bytes, batching }],
    logger: nullLogger(),
    startBlock: 0n,
    maxConcurrency: 64,
    engine: { maxConcurrency: 4, batchWindowMs: 2, maxBatchRows: 64 },
  });
  await w.worker.start();
  const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 3_000n;
  for (const x of inputs) {
    await (await escrow.connect(requester).submitJobFromDeposit({ modelId: mlp.modelId, redundancy: 1, maxFee: 50_000n, deadline, input: ethers.hexlify(encodeTensors({ x: { type: "float32", dims: [1, 16], data: x } })), inputURI: "", inputHash: ethers.ZeroHash })).wait();
  }
  // Inference alone through the engine (the batching under test), then the whole worker path.
  const t0 = performance.now();
  await Promise.all(inputs.map((x) => w.engine.run(mlp.modelId, { x: { type: "float32", dims: [1, 16], data: x } })));
  const inferOnlyPerSec = N / ((performance.now() - t0) / 1000);
  const t1 = performance.now();
  for (let round = 0; round < 50; round++) {
    await w.worker.tick();
    await w.worker.settle();
    if (w.store.countByState(w.chainId).revealed + w.store.countByState(w.chainId).served >= N) break;
  }
  const jobsPerSec = N / ((performance.now() - t1) / 1000);
  await w.close();
  return { jobsPerSec, inferOnlyPerSec };
}

const rawPerSec = await raw();
const off = await throughWorker(false);
const on = await throughWorker(true);
const rss = process.memoryUsage().rss / 2 ** 20;
const fmt = (n: number) => n.toFixed(0).padStart(8);
console.log(`\nWorker benchmark: ${N} single-row jobs of a 16-32-4 MLP, one worker, in-process chain (2 cores)`);
console.log("path                                    jobs/s");
console.log(`raw onnxruntime session.run (sequential) ${fmt(rawPerSec)}`);
console.log(`engine only, batching off               ${fmt(off.inferOnlyPerSec)}`);
console.log(`engine only, batching on                ${fmt(on.inferOnlyPerSec)}`);
console.log(`whole worker path, batching off         ${fmt(off.jobsPerSec)}`);
console.log(`whole worker path, batching on          ${fmt(on.jobsPerSec)}`);
console.log(`RSS ${rss.toFixed(0)} MiB`);
