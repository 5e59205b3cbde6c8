/**
 * The packages installed as users install them: `npm pack` of each workspace, the tarballs installed into empty
 * projects outside the repository (no workspace links), then
 * - an operator project with only @veil/worker (and what it depends on) runs `veil-worker` against a
 *   `hardhat node` and serves the pretrained PaddleOCR classifier;
 * - a dApp project with @veil/sdk runs the README's SDK flow (examples/sdk-main-flow.ts, verbatim), as ESM, after
 *   `tsc` has type-checked it against the installed declarations, and gets the verified result;
 * - `veil --help` runs from the installed @veil/cli.
 * It prints the installed size of @veil/sdk with its dependencies and its minified browser bundle.
 * VEIL_SKIP_PACKAGES=1 skips it.
 */
import { expect } from "chai";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { PRETRAINED_CLS, pretrainedClsModelPath } from "../../packages/worker/src/models/pretrained.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "node_modules/.bin");
const KEYS = {
  owner: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  operator: "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  requester: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
} as const;

type Run = { code: number; stdout: string; stderr: string };

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve) =>
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function duKiB(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += statSync(p).size;
    }
  };
  walk(dir);
  return Math.round(total / 1024);
}

/**
 * A user's environment: no npm lifecycle variables, no repo settings, and the machine's own npm (npm 11, which
 * runs no dependency install script unless allowed; the repo's pinned Node 22 comes with npm 10).
 */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm_|HARDHAT_|HH_|VEIL_|NODE_OPTIONS)/.test(k)) env[k] = v;
  env.PATH = (env.PATH ?? "").split(":").filter((d) => !d.startsWith(ROOT)).join(":");
  return { ...env, ...extra };
}

const skip = process.env.VEIL_SKIP_PACKAGES === "1";

(skip ? describe.skip : describe)("packages installed from their tarballs (no workspace links)", function () {
  this.timeout(600_000);
  const children: ChildProcess[] = [];
  let dir: string;
  const tarballs: Record<string, string> = {};

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "veil-packages-"));
    const build = await run(path.join(BIN, "tsc"), ["-b", "tsconfig.packages.json"], { cwd: ROOT });
    expect(build.code, build.stdout + build.stderr).to.equal(0);
    const pack = await run("npm", ["pack", "--workspaces", "--json", "--pack-destination", dir], { cwd: ROOT, env: userEnv() });
    expect(pack.code, pack.stderr).to.equal(0);
    for (const p of JSON.parse(pack.stdout) as { name: string; filename: string; size: number; unpackedSize: number; entryCount: number }[]) {
      tarballs[p.name] = path.join(dir, p.filename);
      console.log(`      ${p.name}: ${p.filename}, ${(p.size / 1024).toFixed(0)} KiB packed, ${(p.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${p.entryCount} files`);
    }
    expect(Object.keys(tarballs).sort()).to.deep.equal(["@veil/cli", "@veil/contracts", "@veil/sdk", "@veil/worker"]);
  });
  after(() => {
    for (const c of children) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  async function project(name: string, packages: string[]): Promise<string> {
    const p = path.join(dir, name);
    mkdirSync(p);
    writeFileSync(path.join(p, "package.json"), JSON.stringify({ name, private: true, type: "module" }, null, 2));
    // onnxruntime-node's install script would download CUDA libraries (no network here); its CPU runtime ships in
    // the package. An operator on CPU installs the same way (README).
    const r = await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", ...packages], { cwd: p, env: userEnv({ ONNXRUNTIME_NODE_INSTALL: "skip" }) });
    expect(r.code, `${name}: npm install\n${r.stdout}\n${r.stderr}`).to.equal(0);
    return p;
  }

  it("an operator runs veil-worker from @veil/worker alone; a dApp runs the README's SDK flow from @veil/sdk", async () => {
    // The chain, the suite and a model, as in the README walkthrough (with the repository's own CLI).
    const port = await freePort();
    const httpPort = await freePort();
    const rpc = `http://127.0.0.1:${port}`;
    const deployment = path.join(dir, "deployments/31337.json");
    const repoEnv = { ...process.env, VEIL_LOCALHOST_RPC: rpc, VEIL_RPC_URL: rpc, VEIL_DEPLOYMENTS_DIR: path.join(dir, "deployments"), VEIL_DEPLOYMENT: deployment };
    const node = spawn(path.join(BIN, "hardhat"), ["node", "--port", String(port)], { cwd: ROOT, env: repoEnv, stdio: "ignore" });
    children.push(node);
    for (let i = 0; ; i++) {
      const r = await fetch(rpc, { method: "POST", headers: { "content-type": "application/json" }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' }).catch(() => undefined);
      if (r?.ok) break;
      if (i > 200) throw new Error("hardhat node did not start");
      await new Promise((r) => setTimeout(r, 250));
    }
    const deploy = await run("npm", ["run", "deploy", "--", "--network", "localhost"], { cwd: ROOT, env: repoEnv });
    expect(deploy.code, deploy.stderr).to.equal(0);
    const model = pretrainedClsModelPath();
    const veil = (args: string[], key: string) => run(process.execPath, [path.join(ROOT, "bin/veil.mjs"), ...args], { cwd: ROOT, env: { ...repoEnv, VEIL_PRIVATE_KEY: key } });
    expect((await veil(["models", "register", "--file", model, "--price", "0.05"], KEYS.owner)).code).to.equal(0);
    expect((await veil(["node", "register", "--endpoint", `http://127.0.0.1:${httpPort}`], KEYS.operator)).code).to.equal(0);
    expect((await veil(["node", "stake", "--amount", "5000"], KEYS.operator)).code).to.equal(0);

    // The operator: @veil/worker and its dependencies only.
    const op = await project("operator", [tarballs["@veil/contracts"]!, tarballs["@veil/sdk"]!, tarballs["@veil/worker"]!]);
    // The worker needs Node >= 22.5 (node:sqlite): run its bin with the repo's pinned Node 22.
    const workerBin = path.join(op, "node_modules/@veil/worker/dist/bin.js");
    const help = await run(process.execPath, [workerBin, "--help"], { cwd: op, env: userEnv() });
    expect(help.code, help.stderr).to.equal(0);
    for (const flag of ["--rpc-url", "--deployment", "--model", "--http-port"]) expect(help.stdout).to.contain(flag);
    copyFileSync(model, path.join(op, "cls.onnx"));
    const worker = spawn(process.execPath, [workerBin, "--model", "cls.onnx", "--rpc-url", rpc, "--deployment", deployment, "--data-dir", "data", "--http-port", String(httpPort)], {
      cwd: op,
      env: userEnv({ VEIL_PRIVATE_KEY: KEYS.operator }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(worker);
    let logs = "";
    worker.stdout!.on("data", (d) => (logs += d));
    worker.stderr!.on("data", (d) => (logs += d));
    for (const started = Date.now(); !logs.includes("worker running"); ) {
      if (Date.now() - started > 90_000 || worker.exitCode !== null) throw new Error(`veil-worker did not start:\n${logs}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // The dApp: @veil/sdk (+ viem, its peer), the README's SDK flow verbatim, type-checked, then run as ESM.
    const dapp = await project("dapp", [tarballs["@veil/contracts"]!, tarballs["@veil/sdk"]!, tarballs["@veil/cli"]!, "viem@^2.57.0", "@types/node@^22"]);
    copyFileSync(path.join(ROOT, "examples/sdk-main-flow.ts"), path.join(dapp, "main.ts"));
    writeFileSync(
      path.join(dapp, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, noEmit: true, types: ["node"], allowImportingTsExtensions: true } }),
    );
    const tsc = await run(path.join(BIN, "tsc"), ["-p", "tsconfig.json"], { cwd: dapp });
    expect(tsc.code, tsc.stdout + tsc.stderr).to.equal(0);
    const flow = await run(process.execPath, ["main.ts"], { cwd: dapp, env: userEnv({ VEIL_PRIVATE_KEY: KEYS.requester, VEIL_MODEL: PRETRAINED_CLS.modelId, VEIL_RPC_URL: rpc, VEIL_DEPLOYMENT: deployment }) });
    expect(flow.code, `${flow.stderr}\n--- worker ---\n${logs.slice(-3000)}`).to.equal(0);
    expect(flow.stdout).to.match(/^job 1: fee 50000 escrowed, operators 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc; input pushed to 1 of them/m);
    expect(flow.stdout).to.match(/verified result 0x[0-9a-f]{64}: softmax_0\.tmp_0 float32\[1,2\] = /);

    // The CLI's bin runs from the installed package (no tsx at run time).
    const cli = await run(path.join(dapp, "node_modules/.bin/veil"), ["job", "submit", "--help"], { cwd: dapp, env: userEnv() });
    expect(cli.code, cli.stderr).to.equal(0);
    expect(cli.stdout).to.match(/^Usage: veil job submit --model <modelId> --input <file\.json>/);
    expect(readFileSync(path.join(dapp, "node_modules/@veil/cli/package.json"), "utf8")).to.not.contain('"tsx"');

    // Figures: what a dApp installs for the SDK, and what a browser downloads.
    const nm = path.join(dapp, "node_modules");
    const sdkDeps = ["@veil/sdk", "@veil/contracts", "viem", "@noble", "abitype", "ox", "isows", "ws", "@scure", "@adraffy", "eventemitter3"];
    const installed = sdkDeps.map((d) => { try { return duKiB(path.join(nm, d)); } catch { return 0; } }).reduce((a, b) => a + b, 0);
    const entry = path.join(dapp, "browser-entry.mjs");
    writeFileSync(entry, 'export { veilActions, submitJob, waitForResult, getJob } from "@veil/sdk";\n');
    const bundle = await run(path.join(ROOT, "node_modules/esbuild/bin/esbuild"), [entry, "--bundle", "--minify", "--platform=browser", "--format=esm", `--outfile=${path.join(dapp, "bundle.js")}`], { cwd: dapp });
    expect(bundle.code, bundle.stderr).to.equal(0);
    const js = readFileSync(path.join(dapp, "bundle.js"));
    console.log(`      @veil/sdk installed with its dependencies: ${installed} KiB; browser bundle (veilActions, submitJob, waitForResult, getJob): ${(js.length / 1024).toFixed(0)} KiB minified, ${(gzipSync(js).length / 1024).toFixed(0)} KiB gzipped`);

    worker.kill("SIGTERM");
    await new Promise((r) => (worker.exitCode !== null ? r(null) : worker.once("exit", r)));
  });
});
