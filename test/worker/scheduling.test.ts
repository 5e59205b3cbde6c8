/**
 * The worker's scheduling (worker.ts, "scheduling"): jobs that only wait hold no slot, and a job that cannot get a
 * slot for long is logged once and turns /health "degraded" until it gets one. The chain is real (in-process EDR);
 * the only fault injected is a transport that holds the operator's transactions back, as a congested chain would.
 */
import { expect } from "chai";
import { network } from "hardhat";
import { custom, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { createWorker, type CreatedWorker } from "../../packages/worker/src/create.js";
import { createLogger } from "../../packages/worker/src/internal/log.js";
import { buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { encodeTensors } from "../../packages/sdk/src/tensor.js";
import { deployVeil, modelParams, STATUS, type Veil } from "../helpers/fixture.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers } = connection;
const MNEMONIC = "test test test test test test test test test test test junk";

describe("worker scheduling: slots for work, none for waiting", function () {
  this.timeout(60_000);
  const mlp = buildMlpModel({ seed: 31 });
  let v: Veil;
  let w: CreatedWorker;
  const logs: Record<string, any>[] = [];
  let release: () => void = () => undefined;
  let gate: Promise<void> = Promise.resolve();

  before(async () => {
    v = await deployVeil(connection, 1);
    await v.registry.connect(v.modelOwner).registerModel(mlp.modelId, modelParams({ redundancy: 1 }));
    const provider = connection.provider as { request(a: { method: string; params?: unknown }): Promise<unknown> };
    // The operator's transactions wait at the gate (a congested chain); everything else goes straight through.
    const transport = custom({
      async request(args: { method: string; params?: unknown }) {
        if (args.method === "eth_sendRawTransaction") await gate;
        return provider.request(args);
      },
    });
    const signers = await ethers.getSigners();
    const account = mnemonicToAccount(MNEMONIC, { addressIndex: signers.findIndex((s) => s.address === v.ops[0]!.address) });
    const logger = createLogger({ level: "debug", stream: { write: (s: string) => void logs.push(JSON.parse(s)) } });
    w = await createWorker({
      transport,
      account,
      addresses: { jobEscrow: (await v.escrow.getAddress()) as Hex, nodeStaking: (await v.staking.getAddress()) as Hex, modelRegistry: (await v.registry.getAddress()) as Hex },
      dataDir: ":memory:",
      models: [{ bytes: mlp.bytes }],
      logger,
      startBlock: 0n,
      pollIntervalMs: 50,
      maxConcurrency: 1,
      maxPostBatch: 1, // post lane: max(1, 8 x 1) = 8 slots
      slotWaitWarnMs: 300,
    });
    await w.worker.start();
  });
  after(async () => {
    release();
    await w?.close();
  });

  async function submit(i: number): Promise<bigint> {
    const x = new Float32Array(16).map((_, j) => Math.cos(i * 16 + j));
    const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    const receipt = await (
      await v.escrow.connect(v.requester).submitJob({
        modelId: mlp.modelId, redundancy: 1, maxFee: 10n ** 9n, deadline: t + 3600n, input: ethers.hexlify(encodeTensors({ x: { type: "float32", dims: [1, 16], data: x } })), inputURI: "", inputHash: ethers.ZeroHash,
      })
    ).wait();
    return receipt!.logs.map((l) => { try { return v.escrow.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "JobSubmitted")!.args.jobId as bigint;
  }
  const statusOf = async (id: bigint) => Number((await v.escrow.getJob(id)).status);
  async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000) {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`${what} within ${ms} ms; health ${JSON.stringify(w.worker.health(), (_k, x) => (typeof x === "bigint" ? String(x) : x))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it("served jobs waiting out their challenge window take no slot: with one inference slot, job after job is served", async () => {
    for (let i = 0; i < 4; i++) {
      const id = await submit(i);
      await until(`job ${i + 1} served`, async () => (await statusOf(id)) === Number(STATUS.Proposed));
    }
    const h = w.worker.health();
    expect(h.jobs.served).to.equal(4);
    expect(h).to.not.have.property("status");
    expect(h.slots).to.include({ waiting: 0 });
  });

  it("a job that cannot get a slot for long is logged once and makes /health degraded, until it gets one", async () => {
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    release = open;
    // Eight posts hold all post slots while their transactions wait; the next two jobs are inferred and then wait.
    const ids = [];
    for (let i = 10; i < 20; i++) ids.push(await submit(i));
    await until("a starved job reported", () => w.worker.health().status === "degraded");
    // /health sees the wait at once; the warning is logged by the next tick (every 50 ms here).
    const waitedMsg = "job has waited long for a processing slot: raise --max-concurrency or take fewer jobs";
    await until("a starved job logged", () => logs.some((l) => l.msg === waitedMsg));
    const h = w.worker.health();
    expect(h.reasons![0]).to.match(/^\d+ job\(s\) waiting over 300 ms for a processing slot \(longest \d+ (ms|s); max-concurrency 1\)$/);
    expect(h.slots.post).to.deep.equal({ busy: 8, size: 8 });
    const warned = logs.filter((l) => l.msg === "job has waited long for a processing slot: raise --max-concurrency or take fewer jobs");
    expect(warned.length).to.be.at.least(1);
    expect(warned[0]).to.include({ level: "warn", maxConcurrency: 1 });
    expect(warned[0]!.busy).to.deep.equal({ infer: 0, post: 8 });
    open();
    for (const id of ids) await until(`job ${id} served`, async () => (await statusOf(id)) === Number(STATUS.Proposed));
    await until("healthy again", () => w.worker.health().status === undefined);
    // Once each: the warning is not repeated every tick.
    const keys = warned.map((l) => `${l.jobId}:${l.slot}`);
    expect(new Set(keys).size).to.equal(keys.length);
  });
});
