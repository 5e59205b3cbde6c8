/**
 * A private (encrypted) job whose input envelope is above the escrow's 16 KiB inline limit, by default: the SDK
 * submits `sha256:<hex>` of the envelope, pushes the envelope to each drawn operator's `PUT /blobs/<sha256>`, and
 * publishes the content key through JobKeys; real workers (their own HTTP servers, X25519 keys, privacy codec, ONNX
 * Runtime) open it, agree on the keyed result, and serve the result envelope the requester decrypts.
 */
import { expect } from "chai";
import { network } from "hardhat";
import ort from "onnxruntime-node";
import { createPublicClient, createWalletClient, custom, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { createWorker, type CreatedWorker } from "../../packages/worker/src/create.js";
import { nullLogger } from "../../packages/worker/src/internal/log.js";
import { buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { PrivateCodec, isPrivateEnvelope, operatorEncryptionKeyPair } from "../../packages/worker/src/private.js";
import { createWorkerServer, type WorkerServer } from "../../packages/worker/src/server.js";
import { submitPrivateJob, waitForPrivateResult } from "../../packages/sdk/src/private.js";
import { contentUri } from "../../packages/sdk/src/blobs.js";
import { registerModel, modelRegistrationFromFile } from "../../packages/sdk/src/actions/models.js";
import { encodeTensors, sha256Hex, type TensorMap } from "../../packages/sdk/src/tensor.js";
import { deployVeil, P, PRICE, STATUS, type Connection, type Veil } from "../helpers/fixture.js";
import { addressesOf } from "../sdk/helpers/viem.js";

const MNEMONIC = "test test test test test test test test test test test junk";
const CHAIN_ID = 31337;
const ROWS = 300;

function hdKey(index: number): Hex {
  return `0x${Buffer.from(mnemonicToAccount(MNEMONIC, { addressIndex: index }).getHdKey().privateKey!).toString("hex")}`;
}

describe("private job with an input envelope above the inline limit: sha256: URI, pushed to real workers (k=3)", function () {
  this.timeout(60_000);
  const mlp = buildMlpModel({ seed: 23 });
  let connection: Connection;
  let v: Veil;
  let addresses: Awaited<ReturnType<typeof addressesOf>> & { jobKeys: Address };
  const workers: { w: CreatedWorker; server: WorkerServer; url: string }[] = [];

  /** The JobKeys deployed by the Ignition module (deployVeil does not return it): the creation whose escrow() is ours. */
  async function findJobKeys(escrow: string): Promise<Address> {
    const { ethers } = connection;
    for (let b = 0; b <= (await ethers.provider.getBlockNumber()); b++) {
      for (const tx of (await ethers.provider.getBlock(b, true))!.prefetchedTransactions) {
        if (tx.to !== null) continue;
        const at = (await ethers.provider.getTransactionReceipt(tx.hash))!.contractAddress!;
        try {
          const c = await ethers.getContractAt("JobKeys", at);
          if ((await c.escrow()) === escrow && (await c.WRAPPED_KEY_LENGTH()) === 175n) return at as Address;
        } catch {
          /* another contract */
        }
      }
    }
    throw new Error("JobKeys not deployed");
  }

  before(async () => {
    connection = await network.create({ network: "hardhat", chainType: "l1" });
    const { ethers } = connection;
    v = await deployVeil(connection, 3);
    const base = await addressesOf(v);
    addresses = { ...base, jobKeys: await findJobKeys(base.jobEscrow) };
    const transport = custom(connection.provider, { retryCount: 0 });
    const signers = await ethers.getSigners();
    const ownerAccount = mnemonicToAccount(MNEMONIC, { addressIndex: signers.findIndex((s) => s.address === v.modelOwner.address) });
    await registerModel(createWalletClient({ transport, account: ownerAccount }), {
      addresses,
      price: PRICE,
      redundancy: 3,
      ...modelRegistrationFromFile(mlp.bytes),
    });
    for (const op of v.ops) {
      const index = signers.findIndex((s) => s.address === op.address);
      const account = mnemonicToAccount(MNEMONIC, { addressIndex: index });
      // The key `veil node register` would register: derived from the operator's own Ethereum key.
      const keys = operatorEncryptionKeyPair(hdKey(index), { chainId: CHAIN_ID, nodeStaking: addresses.nodeStaking, operator: account.address });
      const privacy = new PrivateCodec({
        publicClient: createPublicClient({ transport }),
        walletClient: createWalletClient({ transport, account }),
        chainId: CHAIN_ID,
        addresses,
        operator: account.address,
        secretKeys: [keys.secretKey],
      });
      const w = await createWorker({
        transport, account, addresses, dataDir: ":memory:", models: [{ bytes: mlp.bytes }], logger: nullLogger(), startBlock: 0n, pollIntervalMs: 100, privacy,
      });
      const server = createWorkerServer({ store: w.store, blobs: w.blobs, resolveResult: (h) => w.worker.resultBlobFor(h) });
      const { url } = await server.start();
      await (await v.staking.connect(op).updateNode(url, keys.publicKey)).wait();
      await w.worker.start();
      workers.push({ w, server, url });
    }
  });
  after(async () => {
    for (const { w, server } of workers) {
      await server.stop();
      await w.close();
    }
    await connection?.close();
  });

  it("blobs pushed to all 3, served, decrypted to ONNX Runtime's outputs; operators hold only ciphertext; nobody slashed", async () => {
    const x = new Float32Array(ROWS * 16).map((_, i) => Math.sin(i * 0.37) * 3);
    const inputs: TensorMap = { x: { type: "float32", dims: [ROWS, 16], data: x } };
    const plaintext = encodeTensors(inputs);
    const { maxInputBytes } = await v.escrow.params();
    expect(plaintext.byteLength, "the plaintext alone is above the inline limit").to.be.greaterThan(Number(maxInputBytes));
    const stakes = await Promise.all(v.ops.map(async (o) => (await v.staking.operator(o.address)).stake));
    const requester = createWalletClient({
      transport: custom(connection.provider, { retryCount: 0 }),
      account: mnemonicToAccount(MNEMONIC, { addressIndex: 1 }),
      pollingInterval: 50,
    });
    expect(requester.account.address).to.equal(v.requester.address);

    const t0 = performance.now();
    const job = await submitPrivateJob(requester, { addresses, jobKeys: addresses.jobKeys, modelId: mlp.modelId, inputs, redundancy: 3 });
    const submitMs = performance.now() - t0;
    // By content address: the chain holds the envelope's hash and its sha256: URI, no input bytes.
    expect(job.inputURI).to.equal(contentUri(job.inputHash));
    const [submitted] = await v.escrow.queryFilter(v.escrow.filters.JobSubmitted(job.jobId));
    expect(submitted!.args.input).to.equal("0x");
    expect(submitted!.args.inputURI).to.equal(job.inputURI);
    expect(submitted!.args.inputHash).to.equal(job.inputHash);
    expect(job.operators).to.have.length(3);
    expect(job.keys.published).to.have.length(3);
    expect(job.keys.missingKeys).to.deep.equal([]);
    // One push per drawn operator, each to its registered endpoint, all accepted.
    expect(job.blobPushes).to.have.length(3);
    for (const push of job.blobPushes!) {
      const mine = workers.find(({ w }) => w.worker.address.toLowerCase() === push.operator.toLowerCase())!;
      expect(push, `push to ${push.operator}: ${push.error}`).to.include({ ok: true, endpoint: mine.url });
      expect([200, 201]).to.include(push.status);
    }

    // The result comes back over the operators' real HTTP endpoints (default fetch), decrypted and checked.
    const result = await waitForPrivateResult(requester, {
      addresses, jobKeys: addresses.jobKeys, jobId: job.jobId, contentKey: job.contentKey, context: job.context, timeout: 30_000, pollingInterval: 50,
    });
    const servedMs = performance.now() - t0;
    const chain = await v.escrow.getJob(job.jobId);
    expect(chain.status).to.equal(STATUS.Proposed);
    for (const h of chain.slotHashes) expect(h, "all three operators agree").to.equal(chain.result);
    expect(result.resultHash).to.equal(chain.result);

    // Same outputs as a local ONNX Runtime session run on the plaintext.
    const session = await ort.InferenceSession.create(mlp.bytes);
    const local = await session.run({ x: new ort.Tensor("float32", x, [ROWS, 16]) });
    const y = result.outputs.y!;
    expect(y.type).to.equal("float32");
    expect(y.dims).to.deep.equal([ROWS, 4]);
    expect(Array.from(y.data as Float32Array)).to.deep.equal(Array.from(local.y!.data as Float32Array));

    // Every operator stored the pushed envelope itself (claimed by the job): ciphertext, no plaintext inside.
    let envelopeBytes = 0;
    const rawFloats = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    for (const op of job.operators) {
      const { w } = workers.find(({ w }) => w.worker.address.toLowerCase() === op.toLowerCase())!;
      const rec = w.store.jobsByState(["revealed", "served", "finalized"]).find((r) => r.jobId === job.jobId)!;
      expect(rec, `${op} served the job`).to.not.equal(undefined);
      expect(rec.inputBlob).to.equal(job.inputHash);
      const stored = w.store.getBlob(rec.inputBlob!)!;
      expect(sha256Hex(stored)).to.equal(job.inputHash);
      expect(isPrivateEnvelope(stored)).to.equal(true);
      expect(stored.byteLength).to.be.greaterThan(Number(maxInputBytes));
      envelopeBytes = stored.byteLength;
      const buf = Buffer.from(stored);
      expect(buf.includes(Buffer.from(plaintext)), "no canonical plaintext").to.equal(false);
      expect(buf.includes(rawFloats.subarray(0, 64)), "no raw input floats").to.equal(false);
      expect(buf.includes(rawFloats.subarray(rawFloats.length - 64)), "no raw input floats").to.equal(false);
      expect(w.store.uploadedBlobStats().count, "claimed by its job").to.equal(0);
    }

    // Past the challenge window the job finalizes; no operator lost stake.
    await connection.networkHelpers.time.increase(P.challengeWindow + 1n);
    const end = Date.now() + 15_000;
    while ((await v.escrow.getJob(job.jobId)).status !== STATUS.Finalized) {
      if (Date.now() > end) throw new Error(`not finalized: status ${(await v.escrow.getJob(job.jobId)).status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await v.staking.queryFilter(v.staking.filters.Slashed())).to.deep.equal([]);
    for (const [i, op] of v.ops.entries()) expect((await v.staking.operator(op.address)).stake).to.equal(stakes[i]);
    console.log(
      `      private blob k=3: envelope ${envelopeBytes} B (plaintext ${plaintext.byteLength} B); submit+push+keys ${submitMs.toFixed(0)} ms ` +
        `(pushes ${job.blobPushes!.map((p) => p.ms).join("/")} ms); submit->decrypted ${servedMs.toFixed(0)} ms`,
    );
  });
});
