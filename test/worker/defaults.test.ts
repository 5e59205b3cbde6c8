/**
 * An honest operator on default settings: `veil node start` with only the flags it needs (RPC, key, model, address
 * book; a data directory and port of its own), against `hardhat node` over HTTP. Jobs that wait out their
 * challenge window must not keep the worker from taking new ones: every job is served and nobody is slashed.
 */
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { expect } from "chai";
import path from "node:path";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { decodeTensors, encodeTensors, resultHash } from "../../packages/sdk/src/tensor.js";
import { modelParams, P, STATUS } from "../helpers/fixture.js";
import { freePort, nodeKey, startLocalNode, startWorkerProcess, type LocalNode, type WorkerProcess } from "./fixtures/local-node.js";

const JOBS = 10;
const E18 = 10n ** 18n;

describe("an honest worker on default settings (hardhat node over HTTP)", function () {
  this.timeout(180_000);
  let node: LocalNode;
  let worker: WorkerProcess;
  let operator: HardhatEthersSigner;
  let requester: HardhatEthersSigner;
  let stakeBefore: bigint;
  let fromBlock: number;
  const mlp = buildMlpModel({ seed: 21 });

  before(async () => {
    node = await startLocalNode();
    const { ethers } = node.connection;
    const { ledger, staking, registry, veil, usdc } = node.contracts;
    const signers = await ethers.getSigners();
    const [admin, req, owner] = signers;
    requester = req;
    operator = signers[5];
    await (await registry.connect(owner).registerModel(mlp.modelId, modelParams({ redundancy: 1 }))).wait();
    const httpPort = await freePort();
    await (await veil.connect(admin).transfer(operator.address, 10_000n * E18)).wait();
    await (await veil.connect(operator).approve(await staking.getAddress(), 5_000n * E18)).wait();
    await (await staking.connect(operator).register(`http://127.0.0.1:${httpPort}`, ethers.ZeroHash)).wait();
    await (await staking.connect(operator).stake(5_000n * E18)).wait();
    await (await usdc.mint(requester.address, 1_000n * 10n ** 6n)).wait();
    await (await usdc.connect(requester).approve(await ledger.getAddress(), ethers.MaxUint256)).wait();
    stakeBefore = (await staking.operator(operator.address)).stake;
    fromBlock = await ethers.provider.getBlockNumber();

    const modelFile = path.join(node.dir, "mlp.onnx");
    writeFileSync(modelFile, mlp.bytes);
    worker = startWorkerProcess(
      node,
      ["--rpc-url", node.rpc, "--model", modelFile, "--deployment", node.deploymentFile, "--data-dir", path.join(node.dir, "data"), "--http-port", String(httpPort)],
      { VEIL_PRIVATE_KEY: nodeKey(5) },
      httpPort,
    );
    await worker.ready;
  });
  after(async () => {
    await worker?.stop();
    await node?.close();
  });

  async function submit(i: number): Promise<bigint> {
    const { ethers } = node.connection;
    const x = new Float32Array(16).map((_, j) => Math.sin(i * 16 + j));
    const input = encodeTensors({ x: { type: "float32", dims: [1, 16], data: x } });
    const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    const receipt = await (
      await node.contracts.escrow.connect(requester).submitJob({
        modelId: mlp.modelId, redundancy: 1, maxFee: 10n ** 9n, deadline: t + 3600n, input: ethers.hexlify(input), inputURI: "", inputHash: ethers.ZeroHash,
      })
    ).wait();
    const ev = receipt!.logs.map((l) => { try { return node.contracts.escrow.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "JobSubmitted");
    if (!ev) throw new Error(`job ${i}: no JobSubmitted event in its receipt`);
    return ev.args.jobId as bigint;
  }

  async function until(what: string, ms: number, check: () => Promise<boolean>) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 150));
    }
    const health = await fetch(`${worker.url}/health`).then((r) => r.text()).catch((e) => String(e));
    throw new Error(`${what} within ${ms} ms\n/health: ${health}\nworker log tail:\n${worker.logs().split("\n").slice(-15).join("\n")}`);
  }

  it(`serves ${JOBS} sequential jobs while earlier ones wait out their challenge window, then settles them all; no slash`, async () => {
    const { escrow, staking } = node.contracts;
    const ids: bigint[] = [];
    const started = Date.now();
    let mostWaiting = 0;
    for (let i = 0; i < JOBS; i++) {
      const id = await submit(i);
      ids.push(id);
      // Well inside the commit window (600 s): a job that is not served by then never will be on its own.
      await until(`job ${i + 1} (${id}) was not served`, 20_000, async () => Number((await escrow.getJob(id)).status) === Number(STATUS.Proposed));
      const statuses = await Promise.all(ids.map(async (j) => Number((await escrow.getJob(j)).status)));
      mostWaiting = Math.max(mostWaiting, statuses.filter((s) => s === Number(STATUS.Proposed)).length);
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(`      default settings: ${JOBS} sequential jobs served in ${seconds.toFixed(1)} s (${(JOBS / seconds).toFixed(2)} jobs/s)`);
    expect(mostWaiting, "jobs in their challenge window at once").to.be.at.least(3);

    // The served result is the one on chain.
    const last = await escrow.getJob(ids.at(-1)!);
    const bytes = new Uint8Array(await (await fetch(`${worker.url}/results/${last.result}`)).arrayBuffer());
    expect(resultHash(decodeTensors(bytes), { kind: "exact" })).to.equal(last.result);
    const health = await (await fetch(`${worker.url}/health`)).json();
    expect(health.status).to.equal("ok");
    expect(health.jobs.served).to.equal(JOBS);
    // Metrics an operator alerts on: queue depth per lane, age of the oldest job per state, RPC requests per job.
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    const sample = (prefix: string) => Number(metrics.split("\n").find((l) => l.startsWith(prefix))?.split(" ").at(-1));
    expect(sample("veil_worker_rpc_calls_per_job{"), metrics).to.be.greaterThan(0);
    expect(sample('veil_worker_rpc_requests_total{method="eth_getLogs"'), metrics).to.be.greaterThan(0);
    expect(sample('veil_worker_queue_depth{lane="infer"'), metrics).to.equal(0);
    expect(sample('veil_worker_jobs_total{state="served"'), metrics).to.equal(JOBS);
    expect(sample('veil_worker_job_state_age_seconds{state="served"'), metrics).to.be.greaterThan(0);
    expect(sample('veil_worker_job_state_age_seconds{state="assigned"'), metrics).to.equal(0);

    // The challenge window passes: the worker settles every job itself (auto-finalize is on by default).
    const { ethers } = node.connection;
    await ethers.provider.send("evm_increaseTime", [Number(P.challengeWindow) + 1]);
    await ethers.provider.send("evm_mine", []);
    await until("every job finalized", 30_000, async () =>
      (await Promise.all(ids.map(async (j) => { try { return Number((await escrow.getJob(j)).status) === Number(STATUS.Finalized); } catch { return true; /* settled and its record reused */ } }))).every(Boolean),
    );

    const slashes = await staking.queryFilter(staking.filters.Slashed(operator.address), fromBlock);
    expect(slashes, "slashes of the honest operator").to.have.length(0);
    expect((await staking.operator(operator.address)).stake).to.equal(stakeBefore);
    const refunds = await escrow.queryFilter(escrow.filters.JobRefunded(), fromBlock);
    expect(refunds).to.have.length(0);
    expect(worker.logs()).not.to.match(/"level":"(error|fatal)"/);
  });

  describe("start-up mistakes cost nothing: refused before any transaction", () => {
    let op: HardhatEthersSigner;
    let modelFile: string;
    before(async () => {
      const { ethers } = node.connection;
      const { staking, veil } = node.contracts;
      op = (await ethers.getSigners())[6];
      await (await veil.transfer(op.address, 10_000n * E18)).wait();
      await (await veil.connect(op).approve(await staking.getAddress(), 5_000n * E18)).wait();
      await (await staking.connect(op).register("http://127.0.0.1:1", ethers.ZeroHash)).wait();
      await (await staking.connect(op).stake(5_000n * E18)).wait();
      modelFile = path.join(node.dir, "mlp.onnx");
    });

    async function refused(args: string[], key: `0x${string}`): Promise<string> {
      const { ethers } = node.connection;
      const address = new ethers.Wallet(key).address;
      const nonce = await ethers.provider.getTransactionCount(address);
      const w = startWorkerProcess(node, ["--rpc-url", node.rpc, "--deployment", node.deploymentFile, "--data-dir", path.join(node.dir, `data-${nonce}-${Date.now()}`), ...args], { VEIL_PRIVATE_KEY: key });
      const code = await new Promise<number | null>((r) => w.child.once("exit", (c) => r(c)));
      expect(code, w.logs()).to.equal(1);
      expect(await ethers.provider.getTransactionCount(address), "transactions sent").to.equal(nonce);
      expect(await node.contracts.staking.isServing(address, mlp.modelId)).to.equal(false);
      return w.logs();
    }

    it("--model file=0x<id> whose file has another sha256: refused, naming both ids", async () => {
      const other = `0x${"ab".repeat(32)}`;
      const logs = await refused(["--model", `${modelFile}=${other}`, "--http-port", String(await freePort())], nodeKey(6));
      expect(logs).to.contain(`error: model file ${modelFile} has sha256 ${mlp.modelId}, but it was given as model ${other}`);
    });

    it("an HTTP port in use: refused before joining the model on chain", async () => {
      const port = await freePort();
      const blocker = createServer().listen(port, "127.0.0.1");
      await new Promise((r) => blocker.once("listening", r));
      try {
        const logs = await refused(["--model", `${modelFile}=${mlp.modelId}`, "--http-port", String(port)], nodeKey(6));
        expect(logs).to.contain(`error: cannot listen on 127.0.0.1:${port}: the port is in use (choose another with --http-port); nothing was sent on chain`);
      } finally {
        blocker.close();
      }
    });

    it("--auto-stake in VEIL tokens: more than the balance is refused with both amounts; a payable one stakes with a permit, no approval left", async () => {
      const { ethers } = node.connection;
      const { staking, veil } = node.contracts;
      const fresh = (await ethers.getSigners())[7];
      await (await veil.transfer(fresh.address, 6_000n * E18)).wait();
      const port = await freePort();
      await (await staking.connect(fresh).register(`http://127.0.0.1:${port}`, ethers.ZeroHash)).wait();
      const common = ["--model", modelFile, "--http-port", String(port)];
      const logs = await refused([...common, "--auto-stake", "7000"], nodeKey(7));
      expect(logs).to.contain(`--auto-stake 7000: staking 7000 VEIL (7000000000000000000000 base units) more needs that much, but ${fresh.address} holds 6000 VEIL (6000000000000000000000 base units)`);
      expect(await veil.allowance(fresh.address, await staking.getAddress())).to.equal(0n);
      const w = startWorkerProcess(node, ["--rpc-url", node.rpc, "--deployment", node.deploymentFile, "--data-dir", path.join(node.dir, "data-7"), ...common, "--auto-stake", "5000.5"], { VEIL_PRIVATE_KEY: nodeKey(7) }, port);
      await w.ready;
      expect((await staking.operator(fresh.address)).stake).to.equal(5_000_500_000_000_000_000_000n);
      expect(await veil.allowance(fresh.address, await staking.getAddress())).to.equal(0n);
      expect(w.logs()).to.match(/"msg":"staked".*"amount":"5000.5"/);
      expect(await w.stop()).to.equal(0);
    });
  });
});
