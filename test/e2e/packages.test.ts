/**
 * The packages installed as users install them: `npm pack` of each workspace, the tarballs installed into empty
 * projects outside the repository (no workspace links), then
 * - an operator project with only @veil/worker (and what it depends on) runs `veil-worker` against a
 *   `hardhat node` and serves the pretrained PaddleOCR classifier;
 * - a dApp project with @veil/sdk runs the README's SDK flow (examples/sdk-main-flow.ts, verbatim), as ESM, after
 *   `tsc` has type-checked it against the installed declarations, and gets the verified result;
 * - `veil --help` runs from the installed @veil/cli;
 * - a Hardhat 3 project with @veil/contracts, hardhat, hardhat-ignition and ignition-core (the versions this
 *   repository uses) and no contracts of its own deploys the suite with `@veil/contracts/ignition` from the artifacts
 *   the tarball ships, on a `hardhat node`: with `hardhat ignition deploy` (the README's form), and with ignition-core's
 *   `deploy()` (type-checked first), which deploys again from its journal (nothing sent) and reads the suite back.
 * It prints the installed size of @veil/sdk with its dependencies and its minified browser bundle.
 * It takes about two minutes, so `npm test` leaves it out: `npm run test:e2e` (VEIL_E2E_FULL=1) runs it with every other
 * end-to-end test, `npm run test:packages` alone.
 */
import { expect } from "chai";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
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

const skip = process.env.VEIL_E2E_FULL !== "1";

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

  /** `hardhat node` on `port`, from the repository, until it answers eth_chainId. */
  async function startNode(port: number, env: NodeJS.ProcessEnv): Promise<void> {
    const node = spawn(path.join(BIN, "hardhat"), ["node", "--port", String(port)], { cwd: ROOT, env, stdio: "ignore" });
    children.push(node);
    for (let i = 0; ; i++) {
      const r = await fetch(`http://127.0.0.1:${port}`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' }).catch(() => undefined);
      if (r?.ok) break;
      if (i > 200 || node.exitCode !== null) throw new Error("hardhat node did not start");
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async function project(name: string, packages: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
    const p = path.join(dir, name);
    mkdirSync(p);
    writeFileSync(path.join(p, "package.json"), JSON.stringify({ name, private: true, type: "module" }, null, 2));
    // onnxruntime-node's install script would download CUDA libraries (no network here); its CPU runtime ships in
    // the package. An operator on CPU installs the same way (README).
    const r = await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", ...packages], { cwd: p, env: userEnv({ ONNXRUNTIME_NODE_INSTALL: "skip", ...env }) });
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
    await startNode(port, repoEnv);
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
    const first = /^job (0x[0-9a-f]+|[0-9]+): fee 50000 escrowed, operators 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc; input pushed to 1 of them/m.exec(flow.stdout);
    expect(first, flow.stdout).to.not.equal(null);
    // The first job: record 1, generation 0 (the id's low 64 bits; its high 64 are the tag of the model and input).
    expect(BigInt(first![1]!) & 0xffffffffffffffffn).to.equal(1n);
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

  it("a Hardhat 3 user deploys the suite with @veil/contracts/ignition from the artifacts the tarball ships", async () => {
    const port = await freePort();
    const rpc = `http://127.0.0.1:${port}`;
    await startNode(port, { ...process.env });
    const version = (pkg: string) => (JSON.parse(readFileSync(path.join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
    const hh = ["hardhat", "@nomicfoundation/hardhat-ignition", "@nomicfoundation/ignition-core"].map((pkg) => `${pkg}@${version(pkg)}`);
    // Hardhat 3 needs Node 22 (its EDR binding is an optional package npm skips on an older Node): the user's Node
    // is the one this test runs on, with the machine's own npm.
    const node22 = path.join(dir, "node22-bin");
    mkdirSync(node22);
    symlinkSync(process.execPath, path.join(node22, "node"));
    const withNode22 = (extra: NodeJS.ProcessEnv = {}) => userEnv({ ...extra, PATH: `${node22}:${userEnv().PATH}` });
    const started = Date.now();
    const p = await project("deployer", [tarballs["@veil/contracts"]!, ...hh, "viem@^2.57.0", "@types/node@^22"], { PATH: withNode22().PATH });
    const installS = (Date.now() - started) / 1000;
    const shipped = readdirSync(path.join(p, "node_modules/@veil/contracts/artifacts")).sort();
    expect(shipped).to.deep.equal(["AccessManager", "ComputeCredits", "DisputeManager", "FeeLedger", "IERC20", "JobEscrow", "JobKeys", "MockUSDC", "ModelRegistry", "NodeStaking", "VeilToken"].map((n) => `${n}.json`));
    const shippedEscrow = JSON.parse(readFileSync(path.join(p, "node_modules/@veil/contracts/artifacts/JobEscrow.json"), "utf8")) as { bytecode: string };

    // 1. The README's form: a module file in the project, `hardhat ignition deploy`; the project compiles no contracts.
    mkdirSync(path.join(p, "ignition/modules"), { recursive: true });
    writeFileSync(path.join(p, "ignition/modules/VeilLocal.ts"), 'import { loadVeilArtifacts, veilLocalModule } from "@veil/contracts/ignition";\nexport default veilLocalModule({ artifacts: loadVeilArtifacts() });\n');
    writeFileSync(
      path.join(p, "hardhat.config.ts"),
      'import { defineConfig } from "hardhat/config";\nimport hardhatIgnition from "@nomicfoundation/hardhat-ignition";\n' +
        `export default defineConfig({ plugins: [hardhatIgnition], networks: { localhost: { type: "http", url: ${JSON.stringify(rpc)} } } });\n`,
    );
    const cli = await run(path.join(p, "node_modules/.bin/hardhat"), ["ignition", "deploy", "ignition/modules/VeilLocal.ts", "--network", "localhost"], { cwd: p, env: withNode22() });
    expect(cli.code, cli.stdout + cli.stderr).to.equal(0);
    expect(cli.stdout).to.contain("[ VeilLocal ] successfully deployed");
    const addresses = JSON.parse(readFileSync(path.join(p, "ignition/deployments/chain-31337/deployed_addresses.json"), "utf8")) as Record<string, string>;
    expect(Object.keys(addresses)).to.have.length(10); // the nine deployed, and the FeeLedger the escrow deployed
    // The journal stored the shipped artifacts (user-provided), not names for the project to resolve.
    const stored = JSON.parse(readFileSync(path.join(p, "ignition/deployments/chain-31337/artifacts/VeilLocal#JobEscrow.json"), "utf8")) as { bytecode: string };
    expect(stored.bytecode).to.equal(shippedEscrow.bytecode);

    // 2. Programmatic: ignition-core's deploy() over plain JSON-RPC, type-checked against the installed declarations;
    // then the suite read back and used (see DEPLOY_SCRIPT).
    writeFileSync(path.join(p, "deploy.ts"), DEPLOY_SCRIPT);
    writeFileSync(
      path.join(p, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, noEmit: true, types: ["node"], allowImportingTsExtensions: true } }),
    );
    const tsc = await run(path.join(BIN, "tsc"), ["-p", "tsconfig.json"], { cwd: p });
    expect(tsc.code, tsc.stdout + tsc.stderr).to.equal(0);
    const deployed = await run(process.execPath, ["deploy.ts"], { cwd: p, env: userEnv({ RPC_URL: rpc }) });
    expect(deployed.code, deployed.stdout + deployed.stderr).to.equal(0);
    const out = JSON.parse(deployed.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    expect(out).to.deep.equal({
      contracts: 10,
      redeployIdle: true,
      commitWindow: "600",
      treasury: "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
      feeTokenIsMockUsdc: true,
      ledgerIsTheEscrows: true,
      creditsPayerModule: 1,
      creditsAllowed: true,
      governorCanPause: true,
    });
    const journal = JSON.parse(readFileSync(path.join(p, "ignition/deployments/local/artifacts/VeilLocal#JobEscrow.json"), "utf8")) as { bytecode: string };
    expect(journal.bytecode).to.equal(shippedEscrow.bytecode);
    console.log(`      deployer project (@veil/contracts, ${hh.join(", ")}, viem) installed in ${installS.toFixed(1)} s, ${(duKiB(path.join(p, "node_modules")) / 1024).toFixed(0)} MiB`);
  });
});

/** What a Hardhat 3 user writes to deploy Veil from the published package (run with Node's type stripping). */
const DEPLOY_SCRIPT = `import { deploy, type EIP1193Provider } from "@nomicfoundation/ignition-core";
import { loadVeilArtifacts, veilLocalModule } from "@veil/contracts/ignition";
import { feeLedgerAbi, jobEscrowAbi, modelRegistryAbi } from "@veil/contracts/abis";
import { createPublicClient, createWalletClient, getAddress, http, type Address } from "viem";

const rpc = process.env.RPC_URL;
if (!rpc) throw new Error("RPC_URL is not set");
let id = 0;
const provider: EIP1193Provider = {
  async request({ method, params }) {
    const res = await fetch(rpc, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params: params ?? [] }) });
    const body = (await res.json()) as { result?: unknown; error?: { code: number; message: string; data?: unknown } };
    if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code, data: body.error.data });
    return body.result;
  },
};
const accounts = (await provider.request({ method: "eth_accounts" })) as Address[];
const run = () =>
  deploy({
    config: { requiredConfirmations: 1 },
    provider,
    // Everything comes from the shipped artifacts: a lookup by name would be a bug.
    artifactResolver: {
      loadArtifact: async (name) => { throw new Error(\`\${name} requested by name\`); },
      getBuildInfo: async () => undefined,
    },
    deploymentDir: "ignition/deployments/local",
    ignitionModule: veilLocalModule({ artifacts: loadVeilArtifacts() }),
    deploymentParameters: { VeilLocal: { treasury: accounts[3]! } },
    accounts,
  });
const client = createPublicClient({ transport: http(rpc) });
const first = await run();
if (first.type !== "SUCCESSFUL_DEPLOYMENT") throw new Error(JSON.stringify(first, null, 2));
const block = await client.getBlockNumber({ cacheTime: 0 });
const again = await run(); // reconciled from the journal: nothing to send
if (again.type !== "SUCCESSFUL_DEPLOYMENT") throw new Error(JSON.stringify(again, null, 2));
const redeployIdle = block === (await client.getBlockNumber({ cacheTime: 0 })) && Object.entries(first.contracts).every(([k, c]) => again.contracts[k]?.address === c.address);

const at = (name: string) => getAddress(first.contracts[\`VeilLocal#\${name}\`]!.address);
const params = await client.readContract({ address: at("JobEscrow"), abi: jobEscrowAbi, functionName: "params" });
const ledger = await client.readContract({ address: at("JobEscrow"), abi: jobEscrowAbi, functionName: "ledger" });
const creditsModule = await client.readContract({ address: ledger, abi: feeLedgerAbi, functionName: "payerModuleId", args: [at("ComputeCredits")] });
const [, creditsAllowed] = await client.readContract({ address: ledger, abi: feeLedgerAbi, functionName: "payerModule", args: [creditsModule] });
const feeToken = await client.readContract({ address: at("JobEscrow"), abi: jobEscrowAbi, functionName: "feeToken" });
const wallet = createWalletClient({ account: accounts[0]!, transport: http(rpc) });
const hash = await wallet.writeContract({ address: at("ModelRegistry"), abi: modelRegistryAbi, functionName: "setPaused", args: [0, true], chain: null });
await client.waitForTransactionReceipt({ hash });
console.log(JSON.stringify({
  contracts: Object.keys(first.contracts).length,
  redeployIdle,
  commitWindow: String(params.commitWindow),
  treasury: params.treasury,
  feeTokenIsMockUsdc: feeToken === at("MockUSDC"),
  ledgerIsTheEscrows: ledger === at("FeeLedger"),
  creditsPayerModule: creditsModule,
  creditsAllowed,
  governorCanPause: await client.readContract({ address: at("ModelRegistry"), abi: modelRegistryAbi, functionName: "isPaused", args: [0] }),
}));
`;
