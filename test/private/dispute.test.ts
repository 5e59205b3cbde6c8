import { expect } from "chai";
import { network } from "hardhat";
import { createPublicClient, createWalletClient, custom, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { createWorker, type CreatedWorker } from "../../packages/worker/src/create.js";
import { nullLogger } from "../../packages/worker/src/internal/log.js";
import { buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { PrivateCodec, operatorEncryptionKeyPair } from "../../packages/worker/src/private.js";
import { createWorkerServer, type WorkerServer } from "../../packages/worker/src/server.js";
import { BALLOT_SLOT } from "../../packages/worker/src/validator.js";
import { publishJobKeys, submitPrivateJob, waitForPrivateResult } from "../../packages/sdk/src/private.js";
import { PrivacyError, keyedResultHash, unwrapContentKey, type KeyRole } from "../../packages/sdk/src/privacy.js";
import { canonicalResultBytes, resultHash, tensorsEqual, type TensorMap } from "../../packages/sdk/src/tensor.js";
import { DISPUTE_DEFAULTS as D } from "../../ignition/modules/parts/disputes.js";
import { ROLES } from "../../ignition/modules/roles.js";
import { deployVeil, modelParams, STATUS, type Veil } from "../helpers/fixture.js";
import type { VeilAddresses } from "../../packages/sdk/src/addresses.js";
import type { DisputeManager, JobKeys } from "../../types/ethers-contracts/index.js";

/**
 * A private (encrypted) k = 3 job through a dispute, with real workers (validator mode + privacy codec, ONNX Runtime,
 * HTTP result servers), the SDK requester flow and the DisputeManager committee: docs/privacy.md "Disputes".
 */
const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;
const MNEMONIC = "test test test test test test test test test test test junk";
const CHAIN_ID = 31337;
const OPERATORS = 10;
const DSTATUS = { None: 0n, Drawing: 1n, Voting: 2n, Resolved: 3n };
const ROLES_TRIED: KeyRole[] = ["operator", "committee", "requester"];

function hdKey(index: number): Hex {
  return `0x${Buffer.from(mnemonicToAccount(MNEMONIC, { addressIndex: index }).getHdKey().privateKey!).toString("hex")}`;
}
const bytesOf = (h: string) => Uint8Array.from(Buffer.from(h.slice(2), "hex"));

/** The JobKeys deployed by buildVeil (the shared fixture does not return it): the creation whose escrow() is ours. */
async function findJobKeys(escrow: string): Promise<string> {
  const latest = await ethers.provider.getBlockNumber();
  for (let b = 0; b <= latest; b++) {
    const block = await ethers.provider.getBlock(b, true);
    for (const tx of block!.prefetchedTransactions) {
      if (tx.to !== null) continue;
      const r = await ethers.provider.getTransactionReceipt(tx.hash);
      const c = await ethers.getContractAt("JobKeys", r!.contractAddress!);
      try {
        if ((await c.escrow()) === escrow && (await c.WRAPPED_KEY_LENGTH()) === 175n) return r!.contractAddress!;
      } catch {
        /* another contract */
      }
    }
  }
  throw new Error("JobKeys not deployed by buildVeil");
}

describe("private inference through a dispute (10 validator workers with the privacy codec, one liar, committee re-wrap)", function () {
  this.timeout(120_000);
  const mlp = buildMlpModel({ seed: 13 });
  let v: Veil;
  let dm: DisputeManager;
  let jobKeys: JobKeys;
  let addresses: VeilAddresses & { disputeManager: Address; jobKeys: Address };
  const workers: CreatedWorker[] = [];
  const servers: WorkerServer[] = [];
  const codecs = new Map<Address, PrivateCodec>();
  const secrets = new Map<Address, Uint8Array>();
  let liar: CreatedWorker;
  let requester: ReturnType<typeof createWalletClient>;
  const INPUT: TensorMap = { x: { type: "float32", dims: [1, 16], data: new Float32Array(16).map((_, i) => Math.cos(3 * i) / 3) } };

  before(async () => {
    v = await deployVeil(connection, OPERATORS);
    await v.registry.connect(v.modelOwner).registerModel(mlp.modelId, modelParams({ redundancy: 3 }));
    const granted = await v.manager.queryFilter(v.manager.filters.RoleGranted(ROLES.DISPUTER));
    dm = await ethers.getContractAt("DisputeManager", granted[0]!.args.account);
    const escrow = (await v.escrow.getAddress()) as Address;
    const nodeStaking = (await v.staking.getAddress()) as Address;
    jobKeys = await ethers.getContractAt("JobKeys", await findJobKeys(escrow));
    addresses = {
      jobEscrow: escrow,
      nodeStaking,
      modelRegistry: (await v.registry.getAddress()) as Address,
      feeToken: (await v.usdc.getAddress()) as Address,
      stakingToken: (await v.veil.getAddress()) as Address,
      accessManager: (await v.manager.getAddress()) as Address,
      disputeManager: (await dm.getAddress()) as Address,
      jobKeys: (await jobKeys.getAddress()) as Address,
    };
    const transport = custom(connection.provider);
    const signers = await ethers.getSigners();
    for (const [i, op] of v.ops.entries()) {
      const index = signers.findIndex((s) => s.address === op.address);
      const account = mnemonicToAccount(MNEMONIC, { addressIndex: index });
      expect(account.address).to.equal(op.address);
      // The key `veil node register` registers: derived from the operator's own Ethereum key (worker/src/private.ts).
      const keys = operatorEncryptionKeyPair(hdKey(index), { chainId: CHAIN_ID, nodeStaking, operator: account.address });
      const codec = new PrivateCodec({
        publicClient: createPublicClient({ transport }),
        walletClient: createWalletClient({ transport, account }),
        chainId: CHAIN_ID,
        addresses,
        operator: account.address,
        secretKeys: [keys.secretKey],
      });
      const worker = await createWorker({
        transport,
        account,
        addresses,
        dataDir: ":memory:",
        models: [{ bytes: mlp.bytes }],
        logger: nullLogger(),
        startBlock: 0n,
        validator: true,
        tamperOutputs: i === 0,
        privacy: codec,
      });
      await worker.worker.start();
      // The worker's real HTTP endpoint (as `veil node start` runs it), registered on chain with the encryption key.
      const server = createWorkerServer({ store: worker.store, resolveResult: (h) => worker.worker.resultBlobFor(h) });
      const { url } = await server.start();
      await v.staking.connect(op).updateNode(url, keys.publicKey);
      workers.push(worker);
      servers.push(server);
      codecs.set(account.address, codec);
      secrets.set(account.address, keys.secretKey);
    }
    liar = workers[0]!;
    requester = createWalletClient({ transport, account: mnemonicToAccount(MNEMONIC, { addressIndex: 1 }) });
    expect(requester.account!.address).to.equal(v.requester.address);
  });

  after(async () => {
    for (const s of servers) await s.stop();
    for (const w of workers) await w.close();
  });

  async function tickAll() {
    for (const w of workers) {
      await w.worker.tick();
      await w.worker.settle();
    }
  }
  async function tickUntil(done: () => Promise<boolean>, maxRounds = 8) {
    for (let i = 0; i < maxRounds; i++) {
      if (await done()) return;
      await tickAll();
    }
    expect(await done(), "condition not reached").to.equal(true);
  }
  const workerOf = (a: string) => workers.find((w) => w.worker.address === a)!;

  it("operators disagree on the keyed hash, the job's operators re-wrap to the drawn committee (requester offline), members vote the honest hash, the liar is slashed, the requester decrypts the result", async () => {
    const t0 = performance.now();
    // Submit private jobs until the liar is drawn (stake-weighted, ~30% per job; 40 misses in a row: < 1e-6).
    let job: Awaited<ReturnType<typeof submitPrivateJob>> | undefined;
    for (let attempt = 0; attempt < 40 && !job; attempt++) {
      const j = await submitPrivateJob(requester, { addresses, jobKeys: addresses.jobKeys, modelId: mlp.modelId, inputs: INPUT, redundancy: 3 });
      expect(j.keys.missingKeys).to.deep.equal([]);
      if (j.operators.includes(liar.worker.address)) job = j;
    }
    expect(job, "the liar was never drawn").to.not.equal(undefined);
    const { jobId, operators, contentKey, context } = job!;
    const fromBlock = await ethers.provider.getBlockNumber();
    const envelope = bytesOf((await v.escrow.queryFilter(v.escrow.filters.JobSubmitted(jobId)))[0]!.args.input);
    const liarStake = (await v.staking.operator(liar.worker.address)).stake;

    const expected = (await workers[1]!.engine.run(mlp.modelId, INPUT)).outputs;
    const honest = keyedResultHash(contentKey, context, canonicalResultBytes(expected, { kind: "exact" }));
    expect(honest).to.not.equal(resultHash(expected, { kind: "exact" }));

    // Operators open their keys, commit and reveal keyed hashes; the liar's differs -> Disputed; a validator starts it.
    await tickUntil(async () => (await dm.getDispute(jobId)).status === DSTATUS.Drawing);
    const chainJob = await v.escrow.getJob(jobId);
    expect(chainJob.status).to.equal(STATUS.Disputed);
    const liarSlot = operators.indexOf(liar.worker.address);
    for (const [i, h] of chainJob.slotHashes.entries()) {
      if (i === liarSlot) expect(h).to.not.equal(honest);
      else expect(h).to.equal(honest);
    }

    await networkHelpers.mine(Number(D.drawDelayBlocks) + 1);
    await tickUntil(async () => (await dm.getDispute(jobId)).status === DSTATUS.Voting);
    const members = [...(await dm.getDispute(jobId)).members] as Address[];
    expect(members).to.have.length(Number(D.committeeSize));
    for (const m of members) expect(operators).to.not.include(m);

    // Nobody waits for the requester: the job's assigned operators opened the input themselves, so their validators
    // re-wrap the content key to the drawn members (role "committee") and publish it through JobKeys.
    // Members open the input with the committee wrap, re-run the model and commit the honest keyed hash.
    await tickUntil(async () => {
      for (const i of members.keys()) if ((await dm.ballot(jobId, i)).commitment === ethers.ZeroHash) return false;
      return true;
    });
    for (const [i, m] of members.entries()) {
      const rec = workerOf(m).store.getJob({ chainId: CHAIN_ID, jobId, slot: BALLOT_SLOT })!;
      expect(rec.state).to.equal("committed");
      expect(rec.meta.index).to.equal(i);
      expect(rec.meta.vote).to.equal(honest);
      // The member's validator opened it with a committee wrap published by one of the job's operators.
      const opened = await codecs.get(m)!.openForCommittee(jobId, envelope, job!.inputHash);
      expect(operators.map((o: string) => o.toLowerCase())).to.include(opened!.publisher.toLowerCase());
    }

    let d = await dm.getDispute(jobId);
    await networkHelpers.time.increaseTo(d.commitEnd + 1n);
    await tickUntil(async () => (await dm.getDispute(jobId)).revealed === BigInt(members.length));
    expect(await dm.votesFor(jobId, honest)).to.equal(BigInt(members.length));
    d = await dm.getDispute(jobId);
    await networkHelpers.time.increaseTo(d.revealEnd + 1n);
    await tickUntil(async () => (await dm.getDispute(jobId)).status === DSTATUS.Resolved);

    // Resolved for the honest keyed hash: the job finalizes with it, and only the liar is slashed.
    d = await dm.getDispute(jobId);
    expect(d.decided).to.equal(true);
    expect(d.winner).to.equal(honest);
    const settled = await v.escrow.getJob(jobId);
    expect(settled.status).to.equal(STATUS.Finalized);
    expect(settled.result).to.equal(honest);
    const slashed = (await v.staking.queryFilter(v.staking.filters.Slashed(), fromBlock)).map((e) => ({ account: e.args.operator, amount: e.args.amount }));
    expect(slashed).to.deep.equal([{ account: liar.worker.address, amount: D.operatorSlash }]);
    expect((await v.staking.operator(liar.worker.address)).stake).to.equal(liarStake - D.operatorSlash);
    expect(await dm.queryFilter(dm.filters.MemberSlashed(jobId))).to.have.length(0);

    // The requester reads the result over HTTP from an honest operator's endpoint, decrypts and verifies it.
    const result = await waitForPrivateResult(requester, {
      addresses, jobKeys: addresses.jobKeys, jobId, contentKey, context, until: "finalized", timeout: 5_000,
    });
    expect(result.status).to.equal("Finalized");
    expect(result.resultHash).to.equal(honest);
    expect(result.operator).to.not.equal(liar.worker.address);
    expect(tensorsEqual(result.outputs, expected)).to.equal(true);

    // An operator that is neither assigned nor drawn got no key: it cannot open the input under any role, nor
    // unwrap any of the job's published keys (operator wraps and committee wraps) with its own secret.
    const outsiders = v.ops.map((o) => o.address as Address).filter((a) => !operators.includes(a) && !members.includes(a));
    expect(outsiders.length).to.be.greaterThan(0);
    const published = await jobKeys.queryFilter(jobKeys.filters.KeysPublished(jobId));
    // Each assigned operator re-wraps on its own (a liar's garbage wraps cannot block the honest ones): the job's 3
    // operator wraps plus one committee wrap per member from each operator that re-wrapped.
    const committeeWraps = published.length - operators.length;
    expect(committeeWraps % members.length).to.equal(0);
    expect(committeeWraps / members.length).to.be.within(1, operators.length);
    for (const o of outsiders) {
      const codec = codecs.get(o)!;
      expect(await codec.openForCommittee(jobId, envelope, job!.inputHash)).to.equal(undefined);
      expect(await codec.openInput(jobId, envelope, job!.inputHash)).to.equal(undefined);
      expect(codec.failures.get(jobId)?.reason).to.equal("waiting");
      for (const ev of published) {
        for (const role of ROLES_TRIED) {
          expect(() => unwrapContentKey(bytesOf(ev.args.wrappedKey), secrets.get(o)!, context, role)).to.throw(PrivacyError);
        }
      }
    }
    console.log(`      private dispute: submit -> resolved -> decrypted in ${(performance.now() - t0).toFixed(0)} ms`);
  });
});
