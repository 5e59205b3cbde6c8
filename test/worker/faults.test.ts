/**
 * Faults, with real processes: `npx hardhat node` on a free loopback port, the suite deployed by Ignition, three
 * worker OS processes (test/worker/fixtures/worker-process.ts) with SQLite state on disk, talking HTTP JSON-RPC.
 *
 * - kill -9 at each dangerous moment of a k = 3 job (failpoints, worker/src/internal/failpoints.ts): the restarted
 *   worker finishes the job, which finalizes, and the crashed operator sent exactly one commit and one reveal for it
 *   (counted on chain, block by block, by function selector, reverted ones included).
 * - The RPC disappears (a TCP proxy between one worker and the node stops listening and drops its connections)
 *   while a job is submitted, then comes back on the same port: the worker recovers by itself.
 * - A model file that is not a registered model id, or whose registered runtime profile this machine cannot
 *   reproduce: the worker refuses to start (non-zero exit, a message naming the problem).
 * - Input bytes that are not a canonical tensor encoding: every operator answers the same deterministic
 *   invalid-input result, the job finalizes and the operators are paid.
 */
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { network } from "hardhat";
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  decodeFunctionData,
  http,
  maxUint256,
  parseEther,
  parseEventLogs,
  toHex,
  zeroHash,
  type Address,
  type Hex,
} from "viem";
import { mnemonicToAccount } from "viem/accounts";
import VeilLocal from "../../ignition/modules/VeilLocal.js";
import { readIgnitionDeployment } from "../../scripts/write-deployment.js";
import { feeLedgerAbi, jobEscrowAbi, mockUsdcAbi, veilTokenAbi } from "../../packages/contracts/src/abis.js";
import { joinModel, modelRegistrationFromFile, registerModel, registerNode, stake } from "../../packages/sdk/src/index.js";
import {
  decodeTensors,
  encodeTensors,
  invalidInputResult,
  resultHash,
  sha256Hex,
  type TensorEncodingError,
} from "../../packages/sdk/src/tensor.js";
import { openStore } from "../../packages/worker/src/store.js";
import { createInferenceEngine } from "../../packages/worker/src/inference/engine.js";
import { ORT_VERSION } from "../../packages/worker/src/inference/profile.js";
import { buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { DEFAULTS } from "../../ignition/modules/Veil.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const WORKER = path.join(root, "test/worker/fixtures/worker-process.ts");
const TSX = import.meta.resolve("tsx/esm");
const MNEMONIC = "test test test test test test test test test test test junk";
const account = (i: number) => mnemonicToAccount(MNEMONIC, { addressIndex: i });
const keyOf = (i: number) => toHex(account(i).getHdKey().privateKey!);
const PRICE = 50_000n;
const CHALLENGE = DEFAULTS.escrowParams.challengeWindow;
const STATUS = { Assigned: 1, Revealing: 2, Proposed: 3, Finalized: 5 } as const;

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

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A TCP proxy in front of the node that can go away (connections dropped, port closed) and come back on the same port. */
class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

interface WorkerProc {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

describe("worker faults (hardhat node + worker processes)", function () {
  this.timeout(180_000);
  let dir: string;
  let node: ChildProcess;
  let rpc: string;
  let ignitionDir: string | undefined;
  let addresses: ReturnType<typeof readIgnitionDeployment>["addresses"];
  /** The escrow's fee ledger (`escrow.ledger()`). */
  let ledger: Address;
  let proxy: TcpProxy;
  const children = new Set<ChildProcess>();
  const workers: Record<string, WorkerProc> = {};
  const mlp = buildMlpModel({ seed: 7 });
  let modelFile: string;
  // Accounts: 0 admin (holds VEIL), 1 requester, 2 model owner, 5 A (the one we crash), 6 B, 7 C (behind the proxy), 8 an unstaked operator.
  const A = 5, B = 6, C = 7, SPARE = 8, REQUESTER = 1, OWNER = 2;

  const pub = () => createPublicClient({ transport: http(rpc, { retryCount: 0 }), pollingInterval: 50 });
  const testClient = () => createTestClient({ mode: "hardhat", transport: http(rpc, { retryCount: 0 }) });
  const wallet = (i: number) => createWalletClient({ account: account(i), transport: http(rpc, { retryCount: 0 }), pollingInterval: 50 });

  function spawnWorker(name: string, i: number, opts: { rpcUrl?: string; failpoint?: string; model?: string; dataDir?: string } = {}): WorkerProc {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      VEIL_RPC_URLS: opts.rpcUrl ?? rpc,
      VEIL_PRIVATE_KEY: keyOf(i),
      VEIL_ADDRESSES: JSON.stringify({ jobEscrow: addresses.jobEscrow, nodeStaking: addresses.nodeStaking, modelRegistry: addresses.modelRegistry }),
      VEIL_DATA_DIR: opts.dataDir ?? path.join(dir, `data-${name}`),
      VEIL_MODEL: opts.model ?? modelFile,
      VEIL_POLL_MS: "100",
      VEIL_LOG_LEVEL: "info",
    };
    delete env.VEIL_FAILPOINT;
    if (opts.failpoint) env.VEIL_FAILPOINT = opts.failpoint;
    mkdirSync(env.VEIL_DATA_DIR!, { recursive: true });
    // The in-repo sources, not packages/*/dist (which may be older than the sources it is tested with).
    const child = spawn(process.execPath, ["--conditions=veil-source", "--import", TSX, WORKER], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
      }),
    );
    const ready = new Promise<void>((resolve, reject) => {
      const onData = () => {
        if (/^ready 0x/m.test(out)) resolve();
      };
      child.stdout!.on("data", onData);
      void exited.then(({ code, signal }) => reject(new Error(`worker ${name} exited (${code ?? signal}) before it was ready:\n${out}`)));
    });
    ready.catch(() => undefined);
    return { child, ready, exited, output: () => out };
  }

  async function stopWorker(w: WorkerProc | undefined) {
    if (!w || w.child.exitCode !== null || w.child.signalCode !== null) return;
    w.child.kill("SIGTERM");
    await w.exited;
  }

  async function submit(input: Uint8Array, k = 3): Promise<{ jobId: bigint; block: bigint }> {
    const now = (await pub().getBlock()).timestamp;
    const hash = await wallet(REQUESTER).writeContract({
      address: addresses.jobEscrow,
      abi: jobEscrowAbi,
      functionName: "submitJob",
      args: [{ modelId: mlp.modelId, redundancy: k, maxFee: PRICE * BigInt(k), deadline: Number(now + 3_600n), input: toHex(input), inputURI: "", inputHash: zeroHash }],
      chain: null,
    });
    const receipt = await pub().waitForTransactionReceipt({ hash });
    const ev = parseEventLogs({ abi: jobEscrowAbi, logs: receipt.logs, eventName: "JobSubmitted" })[0]!;
    return { jobId: ev.args.jobId, block: receipt.blockNumber };
  }

  const job = (jobId: bigint) => pub().readContract({ address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "getJob", args: [jobId] });
  const status = async (jobId: bigint) => Number((await job(jobId)).status);

  async function waitStatus(jobId: bigint, want: number, timeoutMs = 30_000) {
    await waitFor(`job ${jobId} status ${want}`, async () => (await status(jobId)) === want, timeoutMs);
  }

  /** Proposed -> past the challenge window -> Finalized (the workers finalize it themselves). */
  async function finalizeByWorkers(jobId: bigint) {
    await waitStatus(jobId, STATUS.Proposed);
    await testClient().increaseTime({ seconds: Number(CHALLENGE) + 1 });
    await testClient().mine({ blocks: 1 });
    await waitStatus(jobId, STATUS.Finalized);
  }

  /** Every transaction `from` sent to the escrow since `fromBlock`, decoded, with its receipt status. */
  async function escrowTxsOf(from: number, fromBlock: bigint) {
    const who = account(from).address.toLowerCase();
    const head = await pub().getBlockNumber();
    const out: { fn: string; jobId: bigint | undefined; ok: boolean }[] = [];
    for (let b = fromBlock; b <= head; b++) {
      const block = await pub().getBlock({ blockNumber: b, includeTransactions: true });
      for (const tx of block.transactions) {
        if (tx.from.toLowerCase() !== who || tx.to?.toLowerCase() !== addresses.jobEscrow.toLowerCase()) continue;
        const { functionName, args } = decodeFunctionData({ abi: jobEscrowAbi, data: tx.input });
        const r = await pub().getTransactionReceipt({ hash: tx.hash });
        out.push({ fn: functionName, jobId: typeof args?.[0] === "bigint" ? args[0] : undefined, ok: r.status === "success" });
      }
    }
    return out;
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "veil-faults-"));
    const port = await freePort();
    rpc = `http://127.0.0.1:${port}`;
    node = spawn(process.execPath, [path.join(root, "node_modules/hardhat/dist/src/cli.js"), "node", "--port", String(port)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    children.add(node);
    let log = "";
    node.stdout!.on("data", (d) => (log += d));
    node.stderr!.on("data", (d) => (log += d));
    await waitFor("hardhat node", async () => (node.exitCode === null ? pub().getChainId() : Promise.reject(new Error(log))), 60_000);

    const conn = await network.create({ network: "localhost", override: { url: rpc } });
    const deploymentId = `faults-test-${port}-${Date.now()}`;
    ignitionDir = path.join(root, "ignition/deployments", deploymentId);
    await conn.ignition.deploy(VeilLocal, { deploymentId, displayUi: false });
    addresses = readIgnitionDeployment(ignitionDir).addresses;
    await conn.close();

    // The result the operators must agree on, computed here with ONNX Runtime under the registered profile.
    const engine = await createInferenceEngine();
    await engine.loadModel(mlp.modelId, mlp.bytes, { opset: 17, ortVersion: ORT_VERSION, executionProvider: "cpu", graphOptimizationLevel: "all", sequential: true });
    expectedGood = resultHash((await engine.run(mlp.modelId, goodInputs)).outputs, { kind: "exact" }) as Hex;
    await engine.close();

    modelFile = path.join(dir, "mlp-7.onnx");
    writeFileSync(modelFile, mlp.bytes);
    await registerModel(wallet(OWNER), { addresses, price: PRICE, royaltyBps: 1_000, redundancy: 3, ...modelRegistrationFromFile(mlp.bytes, { ortVersion: ORT_VERSION }) });
    for (const i of [A, B, C, SPARE]) {
      await registerNode(wallet(i), { addresses, endpoint: `http://127.0.0.1:${9000 + i}` });
      if (i === SPARE) continue;
      const h = await wallet(0).writeContract({ address: addresses.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [account(i).address, parseEther("10000")], chain: null });
      await pub().waitForTransactionReceipt({ hash: h });
      await stake(wallet(i), { addresses, amount: parseEther("5000") });
      await joinModel(wallet(i), { addresses, modelId: mlp.modelId });
    }
    const requester = wallet(REQUESTER);
    const minted = await requester.writeContract({ address: addresses.feeToken, abi: mockUsdcAbi, functionName: "mint", args: [account(REQUESTER).address, 10n ** 12n], chain: null });
    await pub().waitForTransactionReceipt({ hash: minted });
    // The escrow's fee ledger holds every balance: the requester approves it, and operators' earnings are read there.
    ledger = await pub().readContract({ address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "ledger" });
    const approved = await requester.writeContract({ address: addresses.feeToken, abi: mockUsdcAbi, functionName: "approve", args: [ledger, maxUint256], chain: null });
    await pub().waitForTransactionReceipt({ hash: approved });

    proxy = new TcpProxy(port);
    await proxy.start();
    workers.A = spawnWorker("A", A);
    workers.B = spawnWorker("B", B);
    workers.C = spawnWorker("C", C, { rpcUrl: `http://127.0.0.1:${proxy.port}` });
    await Promise.all(Object.values(workers).map((w) => w.ready));
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") for (const [n, w] of Object.entries(workers)) console.error(`--- worker ${n}\n${w.output().slice(-4_000)}`);
  });

  after(async () => {
    await Promise.all(Object.values(workers).map((w) => stopWorker(w).catch(() => undefined)));
    for (const c of children) c.kill("SIGKILL");
    await proxy?.stop();
    if (ignitionDir) rmSync(ignitionDir, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const goodInputs = { x: { type: "float32", dims: [1, 16], data: new Float32Array(16).map((_, i) => i / 8 - 1) } } as const;
  const goodInput = encodeTensors(goodInputs);
  let expectedGood: Hex;

  /** Where each failpoint leaves A's persisted state: the job's state and its transaction intents' statuses. */
  const CRASH_STATE: Record<string, { job: string; txs: Record<string, string> }> = {
    "infer:stored": { job: "input_ready", txs: {} },
    "commit:before-send": { job: "commit_pending", txs: {} },
    "tx:broadcast:commit": { job: "commit_pending", txs: { commit: "pending" } },
    "commit:confirmed": { job: "commit_pending", txs: { commit: "confirmed" } },
    "tx:broadcast:reveal": { job: "reveal_pending", txs: { commit: "confirmed", reveal: "pending" } },
    "reveal:confirmed": { job: "reveal_pending", txs: { commit: "confirmed", reveal: "confirmed" } },
  };

  // Each chain crashes A at every point in turn on ONE job: each restart must carry the job from where the last kill
  // left it to the next point. Two chains because recovery settles some steps without re-running the code a later
  // failpoint sits in (a commit found mined by reconcile() is never sent again, so "commit:confirmed" cannot follow
  // "tx:broadcast:commit"); together they kill A once at every failpoint.
  const CHAINS = [
    ["infer:stored", "commit:before-send", "commit:confirmed", "tx:broadcast:reveal"],
    ["tx:broadcast:commit", "reveal:confirmed"],
  ];
  for (const points of CHAINS) {
    it(`kill -9 at ${points.join(", then ")}: each restart resumes, the job finalizes, one commit and one reveal on chain`, async () => {
      await stopWorker(workers.A);
      workers.A = spawnWorker("A", A, { failpoint: points[0] });
      await workers.A.ready;
      const { jobId, block } = await submit(goodInput);
      const slot = (await job(jobId)).operators.findIndex((o: Address) => o === account(A).address);
      const key = { chainId: 31337, jobId, slot };
      for (const [i, fp] of points.entries()) {
        const crash = await Promise.race([
          workers.A.exited,
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`A did not hit ${fp}:\n${workers.A!.output()}`)), 30_000)),
        ]);
        expect(crash.signal, `${fp}\n${workers.A.output()}`).to.equal("SIGKILL");
        expect(workers.A.output()).to.contain(`failpoint ${fp}: SIGKILL`);
        // What the kill left on disk is exactly the moment the failpoint names.
        const store = openStore({ path: path.join(dir, "data-A", `worker-31337-${account(A).address.toLowerCase()}.sqlite`) });
        try {
          const want = CRASH_STATE[fp]!;
          expect(store.getJob(key)?.state, fp).to.equal(want.job);
          expect(Object.fromEntries(store.txsForJob(key).map((t) => [t.kind, t.status])), fp).to.deep.equal(want.txs);
          if (want.job !== "input_ready") expect(store.getJob(key)?.salt, fp).to.match(/^0x[0-9a-f]{64}$/);
        } finally {
          store.close();
        }
        workers.A = spawnWorker("A", A, { failpoint: points[i + 1] });
        await workers.A.ready;
      }
      await finalizeByWorkers(jobId);

      const txs = (await escrowTxsOf(A, block)).filter((t) => t.jobId === jobId);
      const shown = JSON.stringify(txs, (_, v) => (typeof v === "bigint" ? String(v) : v));
      expect(txs.filter((t) => t.fn === "commit"), shown).to.have.length(1);
      expect(txs.filter((t) => t.fn === "reveal"), shown).to.have.length(1);
      expect(txs.every((t) => t.ok || t.fn === "finalize"), `no reverted commit/reveal: ${shown}`).to.equal(true);
      expect((await job(jobId)).result).to.equal(expectedGood);
    });
  }

  it("the RPC goes away while a job is submitted and comes back: the worker behind it recovers by itself", async () => {
    const before = await pub().getBlockNumber();
    await proxy.stop();
    const { jobId } = await submit(goodInput);
    const slotC = (await job(jobId)).operators.findIndex((o: Address) => o === account(C).address);
    expect(slotC).to.be.at.least(0);
    await new Promise((r) => setTimeout(r, 3_000));
    // A and B committed; C could not reach the node.
    const mid = await job(jobId);
    expect(Number(mid.status)).to.equal(STATUS.Assigned);
    expect((Number(mid.commitMask) >> slotC) & 1).to.equal(0);
    expect(workers.C!.child.exitCode).to.equal(null);

    await proxy.start(); // same port
    await finalizeByWorkers(jobId);
    const txs = (await escrowTxsOf(C, before)).filter((t) => t.jobId === jobId);
    expect(txs.filter((t) => t.fn === "commit")).to.have.length(1);
    expect(txs.filter((t) => t.fn === "reveal")).to.have.length(1);
    expect(workers.C!.child.exitCode).to.equal(null);
  });

  it("input bytes that are not a canonical tensor encoding: the same invalid-input result from all, finalized, operators paid", async () => {
    const bad = new Uint8Array(Buffer.from("not a tensor encoding at all, just text"));
    let code: string | undefined;
    try {
      decodeTensors(bad);
    } catch (err) {
      code = (err as TensorEncodingError).code;
    }
    expect(code, "the bytes must not decode").to.be.a("string");
    const expected = resultHash(invalidInputResult(`invalid_input:encoding:${code}`), { kind: "exact" });

    const earnings = () =>
      Promise.all([A, B, C].map((i) => pub().readContract({ address: ledger, abi: feeLedgerAbi, functionName: "earningsOf", args: [account(i).address] })));
    const before = await earnings();
    const { jobId } = await submit(bad);
    await waitStatus(jobId, STATUS.Proposed);
    const j = await job(jobId);
    expect(j.result).to.equal(expected);
    expect(j.slotHashes).to.deep.equal([expected, expected, expected]);
    await finalizeByWorkers(jobId);
    const after = await earnings();
    const paid = after.map((e, i) => e - before[i]!);
    expect(paid[0]).to.be.greaterThan(0n);
    expect(paid).to.deep.equal([paid[0], paid[0], paid[0]]);
    expect(paid[0]! * 3n).to.be.at.most(PRICE * 3n);
  });

  it("refuses a model file that is not a registered model id: non-zero exit naming the file's sha256", async () => {
    const other = buildMlpModel({ seed: 99 });
    const file = path.join(dir, "mlp-99.onnx");
    writeFileSync(file, other.bytes);
    const w = spawnWorker("wrong-model", SPARE, { model: file });
    const { code } = await w.exited;
    expect(code).to.equal(1);
    expect(w.output()).to.contain(`error: model file ${file} has sha256 ${sha256Hex(other.bytes)}, which is not a registered model id`);
    expect(w.output()).not.to.match(/^ready/m);
  });

  it("refuses a registered model whose runtime profile this machine cannot reproduce", async () => {
    const other = buildMlpModel({ seed: 11 });
    const file = path.join(dir, "mlp-11.onnx");
    writeFileSync(file, other.bytes);
    await registerModel(wallet(OWNER), {
      addresses,
      modelId: other.modelId,
      price: PRICE,
      profile: { opset: 17, ortVersion: "0.0.1", executionProvider: "cpu", graphOptimizationLevel: 3, sequential: true },
      signature: null,
    });
    const w = spawnWorker("wrong-profile", SPARE, { model: file });
    const { code } = await w.exited;
    expect(code).to.equal(1);
    expect(w.output()).to.match(/error: .*runtime profile mismatch: ortVersion "0\.0\.1" != local "\d+\.\d+\.\d+"/);
  });
});
