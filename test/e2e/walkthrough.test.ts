/**
 * The README's multi-process walkthrough, run as a user would: `npx hardhat node`, `npm run deploy -- --network
 * localhost`, `npx veil models register`, `npx veil node register|stake`, `npx veil node start` (a real worker
 * process with its HTTP endpoint), `npx veil job submit --wait`: real processes and ports on loopback.
 */
import { expect } from "chai";
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { buildMlpModel } from "../../worker/src/models/generate.js";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "node_modules/.bin");
// Hardhat node's default accounts (public test keys): #2 model owner, #5 operator, #1 requester.
const KEYS = {
  owner: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  operator: "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  requester: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
};

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, body: string, ms = 30_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not come up`);
}

describe("multi-process local network walkthrough (README)", function () {
  this.timeout(240_000);
  const children: ChildProcess[] = [];
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let rpc: string;
  const mlp = buildMlpModel({ seed: 11 });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "veil-walkthrough-"));
    const port = await freePort();
    rpc = `http://127.0.0.1:${port}`;
    env = { ...process.env, PATH: `${BIN}:${process.env.PATH}`, VEIL_LOCALHOST_RPC: rpc, VEIL_RPC_URL: rpc, VEIL_DEPLOYMENTS_DIR: path.join(dir, "deployments"), VEIL_DEPLOYMENT: path.join(dir, "deployments/31337.json") };
    const node = spawn(path.join(BIN, "hardhat"), ["node", "--port", String(port)], { cwd: ROOT, env, stdio: "ignore" });
    children.push(node);
    await waitFor(rpc, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }));
    writeFileSync(path.join(dir, "mlp.onnx"), mlp.bytes);
    writeFileSync(path.join(dir, "input.json"), JSON.stringify({ x: { type: "float32", dims: [1, 16], data: Array.from({ length: 16 }, (_, i) => i / 16) } }));
  });
  after(() => {
    for (const c of children) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  const veil = async (args: string[], key?: string) => {
    const { stdout } = await run(path.join(ROOT, "bin/veil.mjs"), args, { cwd: ROOT, env: { ...env, ...(key ? { VEIL_PRIVATE_KEY: key } : {}) } });
    return stdout;
  };

  it("deploys, registers, stakes, starts a worker and gets a verified result", async () => {
    const deploy = await run("npm", ["run", "deploy", "--", "--network", "localhost"], { cwd: ROOT, env });
    expect(deploy.stdout).to.match(/deployed Veil to chain 31337/);
    expect(await veil(["models", "register", "--file", path.join(dir, "mlp.onnx"), "--price", "0.05"], KEYS.owner)).to.contain(`registered model ${mlp.modelId}`);
    const httpPort = await freePort();
    expect(await veil(["node", "register", "--endpoint", `http://127.0.0.1:${httpPort}`], KEYS.operator)).to.match(/registered operator/);
    await veil(["node", "stake", "--amount", "5000"], KEYS.operator);

    const worker = spawn(path.join(ROOT, "bin/veil.mjs"), ["node", "start", "--data-dir", path.join(dir, "data"), "--model", path.join(dir, "mlp.onnx"), "--http-port", String(httpPort), "--poll-interval-ms", "250"], {
      cwd: ROOT,
      env: { ...env, VEIL_PRIVATE_KEY: KEYS.operator },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(worker);
    let logs = "";
    worker.stdout!.on("data", (d) => (logs += d));
    worker.stderr!.on("data", (d) => (logs += d));
    const started = Date.now();
    while (!logs.includes("worker running")) {
      if (Date.now() - started > 60_000 || worker.exitCode !== null) throw new Error(`worker did not start:\n${logs}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(logs).not.to.contain(KEYS.operator.slice(2)); // the key is never logged

    const out = await veil(["job", "submit", "--model", mlp.modelId, "--input", path.join(dir, "input.json"), "--wait", "--timeout", "60", "--json"], KEYS.requester);
    const result = JSON.parse(out.trim().split("\n").pop()!);
    expect(result.outputs.y.dims).to.deep.equal([1, 4]);
    expect(result.outputs.y.data).to.have.length(4);
    // The README's SDK main flow (examples/sdk-main-flow.ts, embedded verbatim in README.md) against the same network.
    const { stdout: sdkOut } = await run(path.join(BIN, "tsx"), ["examples/sdk-main-flow.ts"], {
      cwd: ROOT,
      env: { ...env, VEIL_PRIVATE_KEY: KEYS.requester, VEIL_MODEL: mlp.modelId },
    });
    expect(sdkOut).to.match(/job 2: fee 50000 escrowed, operators 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc/);
    expect(sdkOut).to.match(/verified result 0x[0-9a-f]{64}: y float32\[1,4\] = /);
    // Health and metrics of the running worker.
    const health = await (await fetch(`http://127.0.0.1:${httpPort}/health`)).json();
    expect(health.operator).to.equal("0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc");
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).to.contain("veil_worker_jobs_total");
    worker.kill("SIGTERM");
    await new Promise((r) => worker.once("exit", r));
    expect(worker.exitCode).to.equal(0);
  });
});
