/**
 * Soak with faults: anvil (interval mining, a block a second), the protocol deployed over HTTP with the Ignition
 * module deployments use (challenge window 30 s, so jobs finalize within the run), three `veil node start` workers
 * on defaults, each behind its own TCP proxy, and a requester submitting k = 1 jobs at a steady rate. During the
 * run: one worker killed -9 (and restarted on the same data dir) --kills times at random moments, worker-1's RPC
 * gone for --outage s (its TCP proxy resets every connection), and --reorgs reorgs of depth 1 to 3 (anvil_reorg,
 * re-including the requester's submissions in the same blocks so their ids stay theirs; the workers' own posts are
 * dropped and must be re-sent), the last of them replacing one submission with another input in the same record.
 * Afterwards every job is checked on chain: finalized exactly once or refunded, no slot committed/revealed/proposed
 * twice, no honest operator slashed. A job id carries a tag of its model and input (`tag << 64 | generation << 32 |
 * record`), so the replacing submission gets a new id (the replaced id never existed on the final chain, and a post
 * for it reverts): the check asserts both, and holds the replacement's operator to the same honest-slash check.
 *
 *   npx tsx --conditions=veil-source bench/soak.ts [--duration 600] [--rate 2] [--kills 5] [--outage 30] [--reorgs 6]
 *
 * A summary goes to stdout, the last line one JSON object; progress to stderr. Exit code 1 when a check failed.
 * test/e2e/soak.test.ts runs the short version (runSoak with small figures).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { network } from "hardhat";
import { createPublicClient, encodeFunctionData, http, keccak256, toHex, type AbiEvent, type Address, type Hex, type PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";
import { jobEscrowAbi, nodeStakingAbi } from "@veil/contracts";
import VeilLocal from "../ignition/modules/VeilLocal.js";
import { writeDeployment } from "../scripts/write-deployment.js";
import { freePort, nodeKey, startWorkerProcess, type LocalNode, type WorkerProcess } from "../test/worker/fixtures/local-node.js";
import { startLocalChain } from "../test/e2e/chains.js";
import { buildMlpModel } from "../packages/worker/src/models/generate.js";
import { localRuntimeProfile, readOnnxModelHeader } from "../packages/worker/src/inference/profile.js";
import { inspectOnnxModel } from "../packages/sdk/src/onnx.js";
import { encodeSignature } from "../packages/sdk/src/signature.js";
import { encodeTensors } from "../packages/sdk/src/tensor.js";

/** A job id as `veil` prints it: 0x and 32 hex digits (tag, generation, record). */
const hexId = (id: bigint) => `0x${id.toString(16).padStart(32, "0")}`;

export interface SoakOptions {
  durationS: number;
  /** Jobs per second (k = 1). */
  rate: number;
  kills: number;
  outageS: number;
  /** Reorgs of depth 1-3; the last one replaces a submission (0: none). */
  reorgs: number;
  challengeWindowS?: number;
  log?: (s: string) => void;
}

export interface SoakResult {
  jobs: number;
  finalized: number;
  refunded: number;
  finalizedByWorkers: number;
  settledByBench: { finalized: number; poked: number };
  /** The submission the replacing reorg swapped out (its id), and the replacement's id, operator and final status. */
  replacedJobs: { id: string; replacementId: string | null; operator: string | null; status: string }[];
  faults: { kills: { worker: string; atS: number }[]; outages: { worker: string; atS: number; seconds: number }[]; reorgs: { depth: number; atS: number; replacing: boolean; reincluded: number }[] };
  violations: string[];
  statusCounts: Record<string, number>;
  seconds: number;
}

const STATUS = ["None", "Assigned", "Revealing", "Proposed", "Disputed", "Finalized", "Refunded", "Recycled"] as const;
const PRICE = 50_000n;
const E18 = 10n ** 18n;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP proxy that can "go away": while down it resets every connection, open or new. */
async function tcpProxy(upstreamPort: number): Promise<{ url: string; down(on: boolean): void; close(): Promise<void> }> {
  let isDown = false;
  const open = new Set<Socket>();
  const server: Server = createServer((c) => {
    if (isDown) return void c.resetAndDestroy();
    const u = createConnection(upstreamPort, "127.0.0.1");
    open.add(c);
    open.add(u);
    const drop = () => {
      open.delete(c);
      open.delete(u);
      c.destroy();
      u.destroy();
    };
    c.on("error", drop).on("close", drop);
    u.on("error", drop).on("close", drop);
    c.pipe(u).pipe(c);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    down(on) {
      isDown = on;
      if (on) for (const s of open) s.resetAndDestroy();
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function rpc(url: string, method: string, params: unknown[] = []): Promise<any> {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const j = (await r.json()) as { result?: unknown; error?: { message: string } };
  if (j.error) throw new Error(`${method}: ${j.error.message}`);
  return j.result;
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const t0 = Date.now();
  const at = () => Math.round((Date.now() - t0) / 1000);
  const log = o.log ?? ((s: string) => process.stderr.write(`[soak ${String(at()).padStart(4)} s] ${s}\n`));
  const dir = mkdtempSync(path.join(tmpdir(), "veil-soak-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const children: ChildProcess[] = [];
  const proxies: Awaited<ReturnType<typeof tcpProxy>>[] = [];
  let connection: Awaited<ReturnType<typeof network.create>> | undefined;
  let saveLogs = () => {};
  let keep = false;
  try {
    log("starting anvil and deploying VeilLocal over HTTP");
    children.push(await startLocalChain("anvil", port));
    connection = await network.create({ network: "localhost", chainType: "l1", override: { url } });
    const { ethers, ignition } = connection;
    const signers = await ethers.getSigners();
    const [admin, , owner] = signers;
    const startBlock = await ethers.provider.getBlockNumber();
    const deploymentId = `soak-${path.basename(dir)}`;
    const challengeWindow = BigInt(o.challengeWindowS ?? 30);
    const d = await ignition.deploy(VeilLocal, { deploymentId, parameters: { VeilLocal: { treasury: signers[3]!.address, challengeWindow } } });
    rmSync(path.resolve(import.meta.dirname, "../ignition/deployments", deploymentId), { recursive: true, force: true });
    const a = async (c: { getAddress(): Promise<string> } | undefined) => (c ? ((await c.getAddress()) as Address) : undefined);
    const deployment = {
      chainId: 31337,
      startBlock,
      addresses: {
        jobEscrow: (await a(d.escrow))!, feeLedger: await a(d.ledger), nodeStaking: (await a(d.staking))!, modelRegistry: (await a(d.registry))!, feeToken: (await a(d.feeToken))!,
        stakingToken: (await a(d.veil))!, accessManager: (await a(d.manager))!, disputeManager: await a(d.disputeManager), computeCredits: await a(d.credits), jobKeys: await a(d.jobKeys),
      },
    };
    const book = writeDeployment(deployment, path.join(dir, "deployments"));
    // The escrow's core and views at one address, and its FeeLedger (deposits: requesters approve the ledger).
    const escrow = await ethers.getContractAt("IVeilEscrow", deployment.addresses.jobEscrow);
    const ledger = await ethers.getContractAt("FeeLedger", await escrow.ledger());
    const staking = await ethers.getContractAt("NodeStaking", deployment.addresses.nodeStaking);
    const registry = await ethers.getContractAt("ModelRegistry", deployment.addresses.modelRegistry);
    const veil = await ethers.getContractAt("VeilToken", deployment.addresses.stakingToken);
    const usdc = await ethers.getContractAt("MockUSDC", deployment.addresses.feeToken);
    const escrowAddress = deployment.addresses.jobEscrow;
    const pub = createPublicClient({ chain: hardhat, transport: http(url) }) as PublicClient;
    const params = await escrow.params();

    const model = buildMlpModel({ seed: 41 });
    const local = await localRuntimeProfile();
    await (await registry.connect(owner).registerModel(model.modelId, {
      price: PRICE, royaltyBps: 0, redundancy: 1, comparator: 0, precision: 0, metadataURI: "bench://soak",
      profile: { opset: readOnnxModelHeader(model.bytes).defaultOpset ?? 17, ortVersion: local.ortVersion, executionProvider: "cpu", graphOptimizationLevel: 3, sequential: true },
      ioSignature: encodeSignature(inspectOnnxModel(model.bytes).signature),
    })).wait();
    const modelFile = path.join(dir, "model.onnx");
    writeFileSync(modelFile, model.bytes);

    const STAKE = 1_000_000n * E18;
    const workers: { name: string; operator: Address; key: Hex; httpPort: number; proxy: Awaited<ReturnType<typeof tcpProxy>>; flags: string[]; proc?: WorkerProcess }[] = [];
    for (const [i, index] of [5, 6, 7].entries()) {
      const op = signers[index]!;
      const httpPort = await freePort();
      await (await veil.connect(admin).transfer(op.address, STAKE)).wait();
      await (await veil.connect(op).approve(await staking.getAddress(), STAKE)).wait();
      await (await staking.connect(op).register(`http://127.0.0.1:${httpPort}`, ethers.ZeroHash)).wait();
      await (await staking.connect(op).stake(STAKE)).wait();
      const proxy = await tcpProxy(port);
      proxies.push(proxy);
      const wdir = path.join(dir, `worker-${i + 1}`);
      mkdirSync(wdir, { recursive: true });
      const flags = ["--rpc-url", proxy.url, "--model", modelFile, "--deployment", book, "--data-dir", path.join(wdir, "data"), "--http-port", String(httpPort)];
      workers.push({ name: `worker-${i + 1}`, operator: op.address as Address, key: nodeKey(index), httpPort, proxy, flags });
    }
    // Requester 8 sends the load; 9 only the submission the replacing reorg swaps out.
    for (const index of [8, 9]) {
      const r = signers[index]!;
      await (await usdc.mint(r.address, 10n ** 13n)).wait();
      await (await usdc.connect(r).approve(await ledger.getAddress(), ethers.MaxUint256)).wait();
      await (await ledger.connect(r).deposit(10n ** 13n)).wait();
    }
    const fakeNode = { children } as unknown as LocalNode;
    // Every incarnation's output is kept: a failed soak leaves its directory (worker logs, SQLite stores) behind.
    const incarnations: { name: string; proc: WorkerProcess }[] = [];
    const start = async (w: (typeof workers)[number]) => {
      w.proc = startWorkerProcess(fakeNode, w.flags, { VEIL_PRIVATE_KEY: w.key }, w.httpPort);
      incarnations.push({ name: w.name, proc: w.proc });
      await w.proc.ready;
    };
    saveLogs = () => incarnations.forEach((x, i) => writeFileSync(path.join(dir, `${x.name}.${i}.log`), x.proc.logs()));
    await rpc(url, "evm_setAutomine", [false]);
    await rpc(url, "evm_setIntervalMining", [1]);
    log("starting 3 workers (veil node start, defaults)");
    await Promise.all(workers.map(start));

    // The requester: one multicall of submitJobFromDeposit a second, signed locally.
    const requester = privateKeyToAccount(nodeKey(8));
    const replacer = privateKeyToAccount(nodeKey(9));
    let seq = 0;
    const deadline = Number((await pub.getBlock()).timestamp) + 7_200 + o.durationS * 2;
    const calldata = (n: number, salt = 0): Hex =>
      encodeFunctionData({
        abi: jobEscrowAbi,
        functionName: "multicall",
        args: [Array.from({ length: n }, () => {
          const s = seq++ + salt;
          const x = new Float32Array(16).map((_, j) => Math.sin(s * 16 + j + 0.5));
          const input = toHex(encodeTensors({ x: { type: "float32", dims: [1, 16], data: x } }));
          return encodeFunctionData({ abi: jobEscrowAbi, functionName: "submitJobFromDeposit", args: [{ modelId: model.modelId as Hex, redundancy: 1, maxFee: PRICE, deadline, input, inputURI: "", inputHash: `0x${"0".repeat(64)}` }] });
        })],
      });
    const sign = (acct: typeof requester, data: Hex, nonce: number) =>
      acct.signTransaction({ chainId: hardhat.id, type: "eip1559", to: escrowAddress, data, gas: 400_000n + 250_000n * 10n, nonce, maxFeePerGas: 50n * 10n ** 9n, maxPriorityFeePerGas: 10n ** 9n });
    const rawOf = new Map<Hex, Hex>(); // tx hash -> raw, for re-inclusion in a reorg
    let nonce = await pub.getTransactionCount({ address: requester.address, blockTag: "pending" });
    let stopSubmitting = false;
    let holdSubmitting = false;
    let owed = 0;
    const submitting = (async () => {
      const began = Date.now();
      let sent = 0;
      while (!stopSubmitting) {
        owed = Math.floor((o.rate * (Date.now() - began)) / 1000) - sent;
        if (owed > 0 && !holdSubmitting) {
          const n = Math.min(owed, 10);
          try {
            const raw = await sign(requester, calldata(n), nonce);
            rawOf.set(keccak256(raw), raw);
            await rpc(url, "eth_sendRawTransaction", [raw]);
            nonce++;
            sent += n;
          } catch (e) {
            log(`submission failed: ${(e as Error).message}`);
            nonce = await pub.getTransactionCount({ address: requester.address, blockTag: "pending" });
          }
        }
        await sleep(1000);
      }
    })();

    // Faults at random moments in the middle 80 % of the run.
    const faults: SoakResult["faults"] = { kills: [], outages: [], reorgs: [] };
    const ms = o.durationS * 1000;
    const moment = () => Math.round(ms * (0.1 + 0.7 * Math.random()));
    const plan: { t: number; run: () => Promise<void> }[] = [];
    for (let i = 0; i < o.kills; i++)
      plan.push({ t: moment(), run: async () => {
        const w = workers[Math.floor(Math.random() * workers.length)]!;
        if (!w.proc || w.proc.child.exitCode !== null || w.proc.child.signalCode !== null) return;
        log(`kill -9 ${w.name}; restarting it on the same data dir`);
        faults.kills.push({ worker: w.name, atS: at() });
        w.proc.child.kill("SIGKILL");
        await new Promise((r) => w.proc!.child.once("exit", r));
        await start(w);
      } });
    if (o.outageS > 0)
      plan.push({ t: moment(), run: async () => {
        const w = workers[0]!;
        log(`RPC outage for ${w.name}: ${o.outageS} s`);
        faults.outages.push({ worker: w.name, atS: at(), seconds: o.outageS });
        w.proxy.down(true);
        await sleep(o.outageS * 1000);
        w.proxy.down(false);
      } });
    const seenBeforeReorg = new Map<string, Hex>(); // job id (hex) -> submitting tx hash, for ids inside reorged blocks
    let replacement: { oldTx: Hex; newTx: Hex } | undefined;
    for (let i = 0; i < o.reorgs; i++) {
      const replacing = i === o.reorgs - 1;
      plan.push({ t: replacing ? Math.round(ms * 0.75) : moment(), run: async () => {
        const depth = 1 + Math.floor(Math.random() * 3);
        holdSubmitting = true;
        try {
          let replaced: Hex | undefined;
          if (replacing) {
            // A submission of requester 9, mined, then swapped for another of the same id.
            const rn = await pub.getTransactionCount({ address: replacer.address, blockTag: "pending" });
            const first = await sign(replacer, calldata(1, 1_000_000), rn);
            replaced = keccak256(first);
            await rpc(url, "eth_sendRawTransaction", [first]);
            await pub.waitForTransactionReceipt({ hash: replaced, pollingInterval: 200 });
            await sleep(600); // let the workers see it (and possibly answer it)
          }
          const head = await pub.getBlockNumber();
          const from = head - BigInt(depth) + 1n;
          const pairs: [Hex, number][] = [];
          for (let b = from; b <= head; b++) {
            const blk = await pub.getBlock({ blockNumber: b });
            for (const h of blk.transactions) {
              if (h === replaced) {
                const raw = await sign(replacer, calldata(1, 2_000_000), (await pub.getTransaction({ hash: h })).nonce);
                replacement = { oldTx: h, newTx: keccak256(raw) };
                pairs.push([raw, Number(b - from)]);
              }
              else if (rawOf.has(h)) pairs.push([rawOf.get(h)!, Number(b - from)]);
            }
          }
          const logs = await pub.getLogs({ address: escrowAddress, event: jobEscrowAbi.find((x) => x.type === "event" && x.name === "JobSubmitted") as AbiEvent, fromBlock: from, toBlock: head });
          for (const l of logs) seenBeforeReorg.set(hexId((l as any).args.jobId), l.transactionHash!);
          log(`anvil_reorg depth ${depth}${replacing ? " (replacing a submission with another input in its record)" : ""}, ${pairs.length} submission tx(s) re-included`);
          faults.reorgs.push({ depth, atS: at(), replacing, reincluded: pairs.length });
          await rpc(url, "anvil_reorg", [depth, pairs]);
          nonce = await pub.getTransactionCount({ address: requester.address, blockTag: "pending" });
        } finally {
          holdSubmitting = false;
        }
      } });
    }
    plan.sort((x, y) => x.t - y.t);
    const t0Run = Date.now();
    // Faults run one after the other (a kill during an outage is fine; two reorgs at once are not).
    const faulting = (async () => {
      for (const f of plan) {
        const wait = t0Run + f.t - Date.now();
        if (wait > 0) await sleep(wait);
        await f.run().catch((e) => log(`fault failed: ${(e as Error).message}`));
      }
    })();
    log(`load: ${o.rate} jobs/s for ${o.durationS} s; ${o.kills} kill(s), ${o.outageS ? 1 : 0} outage of ${o.outageS} s, ${o.reorgs} reorg(s)`);
    await sleep(ms);
    stopSubmitting = true;
    await submitting;
    await faulting;

    // Settle: jobs posted, then the clock moved past every window, the workers finalize.
    const escrowEvents = jobEscrowAbi.filter((x) => x.type === "event") as unknown as AbiEvent[];
    const readJobs = async () => {
      // Ids come from JobSubmitted (records are recycled: ids are not a count).
      const sub = await pub.getLogs({ address: escrowAddress, event: jobEscrowAbi.find((x) => x.type === "event" && x.name === "JobSubmitted") as AbiEvent, fromBlock: BigInt(startBlock), toBlock: "latest" });
      const ids = [...new Set(sub.map((l) => (l as any).args.jobId as bigint))];
      const status = new Map<bigint, number>();
      // A settled job's record may be recycled: getJob then reverts; its events say how it settled (checked below).
      for (const id of ids) status.set(id, await escrow.getJob(id).then((j) => Number(j.status), () => 7));
      return status;
    };
    const unposted = async () => [...(await readJobs()).values()].filter((s) => s === 1 || s === 2).length;
    const postBy = Date.now() + 30_000;
    while (Date.now() < postBy && (await unposted()) > 0) await sleep(1000);
    log(`moving the chain's clock past the commit (${params.commitWindow} s) and challenge (${challengeWindow} s) windows`);
    await rpc(url, "evm_increaseTime", [Number(params.commitWindow) + Number(challengeWindow) + 5]);
    await rpc(url, "evm_mine", []);
    const finBy = Date.now() + 30_000;
    let st = await readJobs();
    while (Date.now() < finBy && [...st.values()].some((s) => s === 3)) {
      await sleep(2000);
      st = await readJobs();
    }
    // What the workers left: the bench settles it (anyone may), and counts it apart.
    const settledByBench = { finalized: 0, poked: 0 };
    const benchSigner = signers[4]!;
    for (const [id, s] of st) {
      if (s === 3) {
        await (await escrow.connect(benchSigner).finalize(id)).wait();
        settledByBench.finalized++;
      } else if (s === 1 || s === 2) {
        await (await escrow.connect(benchSigner).poke(id)).wait().catch(() => undefined);
        settledByBench.poked++;
      }
    }
    await rpc(url, "evm_mine", []);
    for (const w of workers) await w.proc?.stop();
    st = await readJobs();

    // ---------------------------------------------------------------- the checks, from the final chain
    const logs = (await pub.getLogs({ address: escrowAddress, events: escrowEvents, fromBlock: BigInt(startBlock), toBlock: "latest" })) as unknown as { eventName: string; args: Record<string, any>; transactionHash: Hex }[];
    const slashLogs = (await pub.getLogs({ address: deployment.addresses.nodeStaking, events: nodeStakingAbi.filter((x) => x.type === "event" && x.name === "Slashed") as unknown as AbiEvent[], fromBlock: BigInt(startBlock), toBlock: "latest" })) as unknown as { args: Record<string, any>; transactionHash: Hex }[];
    const violations: string[] = [];
    const per = new Map<string, { submitTx?: Hex; operator?: string; finalized: number; refunded: number; proposed: number; slot: Map<string, number>; missed: { operator: string; penalty: bigint; tx: Hex }[]; finalizer?: string }>();
    const get = (id: bigint) => {
      const k = hexId(id);
      if (!per.has(k)) per.set(k, { finalized: 0, refunded: 0, proposed: 0, slot: new Map(), missed: [] });
      return per.get(k)!;
    };
    for (const l of logs) {
      if (l.args?.jobId === undefined) continue;
      const j = get(l.args.jobId as bigint);
      switch (l.eventName) {
        case "JobSubmitted": j.submitTx = l.transactionHash; break;
        case "OperatorsAssigned": j.operator = (l.args.operators as string[])[0]; break;
        case "JobFinalized": j.finalized++; break;
        case "JobRefunded": j.refunded++; break;
        case "ResultProposed": j.proposed++; break;
        case "ResultCommitted": case "ResultRevealed": { const k = `${l.eventName}:${l.args.slot}`; j.slot.set(k, (j.slot.get(k) ?? 0) + 1); break; }
        case "SlotMissed": j.missed.push({ operator: l.args.operator, penalty: l.args.penalty as bigint, tx: l.transactionHash }); break;
      }
    }
    // The replaced submission's id must be gone from the final chain, and its replacement (same record, another
    // input) must have a new id: the tag in the id keeps a post for one from landing on the other.
    const replacedJobs: SoakResult["replacedJobs"] = [];
    if (replacement) {
      const oldIds = [...seenBeforeReorg].filter(([, tx]) => tx === replacement!.oldTx).map(([id]) => id);
      const newId = [...per].find(([, j]) => j.submitTx === replacement!.newTx)?.[0];
      if (newId === undefined) violations.push(`the replacing submission ${replacement.newTx} has no JobSubmitted on the final chain`);
      for (const id of oldIds) {
        if (per.get(id)?.submitTx !== undefined) violations.push(`job ${id}: replaced by a reorg, yet a submission of that id is on the final chain (${per.get(id)!.submitTx})`);
        if (id === newId) violations.push(`job ${id}: the replacing submission (another input) got the replaced job's id`);
        replacedJobs.push({ id, replacementId: newId ?? null, operator: newId ? (per.get(newId)?.operator ?? null) : null, status: newId ? STATUS[st.get(BigInt(newId)) ?? 0]! : "-" });
      }
    }
    const honest = new Set(workers.map((w) => w.operator.toLowerCase()));
    for (const [id, j] of per) {
      if (j.submitTx === undefined) continue;
      if (j.finalized + j.refunded !== 1) violations.push(`job ${id}: finalized ${j.finalized}x, refunded ${j.refunded}x (status ${STATUS[st.get(BigInt(id)) ?? 0]})`);
      if (j.proposed > 1) violations.push(`job ${id}: ResultProposed ${j.proposed}x`);
      for (const [k, n] of j.slot) if (n > 1) violations.push(`job ${id}: ${k} ${n}x (double commit)`);
      for (const m of j.missed) {
        if (m.penalty === 0n || !honest.has(m.operator.toLowerCase())) continue;
        violations.push(`job ${id}: honest operator ${m.operator} slashed ${m.penalty} for a missed slot`);
      }
    }
    for (const s of slashLogs) if (honest.has(String(s.args.operator).toLowerCase()) && !logs.some((l) => l.transactionHash === s.transactionHash && l.eventName === "SlotMissed")) violations.push(`Slashed ${s.args.operator} ${s.args.amount} (tx ${s.transactionHash}) outside a missed slot`);
    for (const [id, s] of st) if (s !== 5 && s !== 6 && s !== 7) violations.push(`job ${hexId(id)}: ends ${STATUS[s]}`);
    const statusCounts: Record<string, number> = {};
    for (const s of st.values()) statusCounts[STATUS[s]!] = (statusCounts[STATUS[s]!] ?? 0) + 1;
    const jobs = [...per.values()].filter((j) => j.submitTx !== undefined);
    if (violations.length > 0) {
      keep = true;
      saveLogs();
      log(`checks failed: worker logs and stores kept in ${dir}`);
    }
    return {
      jobs: jobs.length,
      finalized: jobs.filter((j) => j.finalized === 1).length,
      refunded: jobs.filter((j) => j.refunded === 1).length,
      finalizedByWorkers: jobs.filter((j) => j.finalized === 1).length - settledByBench.finalized,
      settledByBench,
      replacedJobs,
      faults,
      violations,
      statusCounts,
      seconds: at(),
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await Promise.all(proxies.map((p) => p.close().catch(() => undefined)));
    await connection?.close().catch(() => undefined);
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const { values } = parseArgs({ options: { duration: { type: "string", default: "600" }, rate: { type: "string", default: "2" }, kills: { type: "string", default: "5" }, outage: { type: "string", default: "30" }, reorgs: { type: "string", default: "6" } } });
  const n = (k: keyof typeof values, min: number) => {
    const v = Number(values[k]);
    if (!Number.isFinite(v) || v < min) {
      process.stderr.write(`bench:soak: --${k} must be a number >= ${min}, got ${JSON.stringify(values[k])}\n`);
      process.exit(2);
    }
    return v;
  };
  const r = await runSoak({ durationS: n("duration", 10), rate: n("rate", 0.1), kills: n("kills", 0), outageS: n("outage", 0), reorgs: n("reorgs", 0) });
  console.log(`soak: ${r.jobs} jobs in ${r.seconds} s: ${r.finalized} finalized (${r.finalizedByWorkers} by the workers, ${r.settledByBench.finalized} by the bench), ${r.refunded} refunded; statuses ${JSON.stringify(r.statusCounts)}`);
  console.log(`faults: ${r.faults.kills.length} kill(s) ${JSON.stringify(r.faults.kills)}; outages ${JSON.stringify(r.faults.outages)}; reorgs ${JSON.stringify(r.faults.reorgs)}`);
  console.log(`replaced by a reorg (the replacement has a new id): ${JSON.stringify(r.replacedJobs)}`);
  console.log(r.violations.length === 0 ? "checks: every job finalized exactly once or refunded, no double commit, no honest operator slashed" : `VIOLATIONS (${r.violations.length}):\n  ${r.violations.join("\n  ")}`);
  console.log(JSON.stringify(r));
  process.exit(r.violations.length === 0 ? 0 : 1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
