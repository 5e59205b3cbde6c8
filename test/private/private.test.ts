import { expect } from "chai";
import hre, { network } from "hardhat";
import { createPublicClient, createWalletClient, custom, getAddress, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { createWorker, type CreatedWorker } from "../../packages/worker/src/create.js";
import { nullLogger } from "../../packages/worker/src/internal/log.js";
import { buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { PrivateCodec, isPrivateEnvelope, operatorEncryptionKeyPair } from "../../packages/worker/src/private.js";
import { submitPrivateJob, waitForPrivateResult, publishJobKeys, PrivateJobError } from "../../packages/sdk/src/private.js";
import {
  PrivacyError,
  WRAPPED_KEY_LENGTH,
  createJobContext,
  decryptInput,
  decryptResult,
  encryptInput,
  generateContentKey,
  keyedResultHash,
  unwrapContentKey,
  wrapContentKey,
  type KeyRole,
} from "../../packages/sdk/src/privacy.js";
import { canonicalResultBytes, decodeTensors, encodeTensors, resultHash, tensorsEqual, type TensorMap } from "../../packages/sdk/src/tensor.js";
import { deployVeil, modelParams, P, STATUS, type Veil } from "../helpers/fixture.js";
import type { VeilAddresses } from "../../packages/sdk/src/addresses.js";
import type { JobKeys } from "../../types/ethers-contracts/index.js";
import { encodeSignature } from "../../packages/sdk/src/signature.js";
import { inspectOnnxModel } from "../../packages/sdk/src/onnx.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;
const MNEMONIC = "test test test test test test test test test test test junk";
const CHAIN_ID = 31337;

function hdKey(index: number): Hex {
  return `0x${Buffer.from(mnemonicToAccount(MNEMONIC, { addressIndex: index }).getHdKey().privateKey!).toString("hex")}`;
}
const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString("hex")}` as Hex;
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

describe("private inference end to end (JobKeys, SDK requester flow, worker codec, ONNX Runtime)", function () {
  this.timeout(180_000);
  const mlp = buildMlpModel({ seed: 11 });
  let v: Veil;
  let jobKeys: JobKeys;
  let addresses: VeilAddresses & { jobKeys: Address };
  let workers: CreatedWorker[] = [];
  /** Each operator's codec, by its address. */
  const codecs = new Map<Address, PrivateCodec>();
  let requester: ReturnType<typeof createWalletClient>;
  let outsiderKey: { secretKey: Uint8Array; publicKey: Hex };
  const transport = custom(connection.provider);
  const endpointOf = new Map<string, CreatedWorker>();

  /** Routes `<endpoint>/results/<hash>` to the store of the worker registered at that endpoint (as its HTTP server would). */
  const fetchResult = async (url: string) => {
    const m = /^(http:\/\/[^/]+)\/results\/(0x[0-9a-f]{64})$/.exec(url);
    const w = m && endpointOf.get(m[1]!);
    const rec = w && w.store.jobsByState(["revealed", "served", "disputed", "finalized"]).find((r) => r.resultHash === m![2]);
    const blob = rec?.resultBlob;
    const bytes = blob && w!.store.getBlob(blob);
    return bytes ? new Response(Buffer.from(bytes)) : new Response(null, { status: 404 });
  };

  before(async () => {
    v = await deployVeil(connection, 3);
    await v.registry.connect(v.modelOwner).registerModel(mlp.modelId, modelParams({ redundancy: 3, ioSignature: encodeSignature(inspectOnnxModel(mlp.bytes).signature) }));
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
      jobKeys: (await jobKeys.getAddress()) as Address,
    };
    const signers = await ethers.getSigners();
    for (const [i, op] of v.ops.entries()) {
      const index = signers.findIndex((s) => s.address === op.address);
      const account = mnemonicToAccount(MNEMONIC, { addressIndex: index });
      // The key `veil node register` would register: derived from the operator's own Ethereum key.
      const keys = operatorEncryptionKeyPair(hdKey(index), { chainId: CHAIN_ID, nodeStaking, operator: account.address });
      const endpoint = `http://127.0.0.1:${9000 + i}`;
      await v.staking.connect(op).updateNode(endpoint, keys.publicKey);
      const codec = new PrivateCodec({
        publicClient: createPublicClient({ transport }),
        walletClient: createWalletClient({ transport, account }),
        chainId: CHAIN_ID,
        addresses,
        operator: account.address,
        secretKeys: [keys.secretKey],
      });
      const w = await createWorker({ transport, account, addresses, dataDir: ":memory:", models: [{ bytes: mlp.bytes }], logger: nullLogger(), startBlock: 0n, privacy: codec });
      await w.worker.start();
      workers.push(w);
      codecs.set(account.address, codec);
      endpointOf.set(endpoint, w);
    }
    // An outsider with a registered (staked, unassigned) node key of its own.
    const outIndex = signers.findIndex((s) => s.address === v.outsider.address);
    outsiderKey = operatorEncryptionKeyPair(hdKey(outIndex), { chainId: CHAIN_ID, nodeStaking, operator: v.outsider.address as Address });
    await v.staking.connect(v.outsider).register("http://127.0.0.1:9999", outsiderKey.publicKey);
    requester = createWalletClient({ transport, account: mnemonicToAccount(MNEMONIC, { addressIndex: 1 }) });
    expect(requester.account!.address).to.equal(v.requester.address);
  });
  after(async () => {
    for (const w of workers) await w.close();
  });

  async function tickAll(rounds = 4) {
    for (let i = 0; i < rounds; i++) {
      for (const w of workers) {
        await w.worker.tick();
        await w.worker.settle();
      }
    }
  }
  async function tickUntil(jobId: bigint, want: bigint, rounds = 10) {
    for (let i = 0; i < rounds && ((await v.escrow.getJob(jobId)).status) !== want; i++) await tickAll(1);
    expect((await v.escrow.getJob(jobId)).status).to.equal(want);
  }
  const input = (seed: number): TensorMap => ({ x: { type: "float32", dims: [1, 16], data: new Float32Array(16).map((_, i) => Math.sin(seed + i)) } });
  const status = async (id: bigint) => ((await v.escrow.getJob(id)).status) as bigint;

  describe("submit-publishKeys-commit-reveal-decrypt", () => {
    let job: Awaited<ReturnType<typeof submitPrivateJob>>;
    let outputs: TensorMap;

    it("k=3: operators agree on the keyed hash, the requester decrypts the right outputs, the job finalizes", async () => {
      const t0 = performance.now();
      job = await submitPrivateJob(requester, { addresses, jobKeys: addresses.jobKeys, modelId: mlp.modelId, inputs: input(1), redundancy: 3 });
      expect(job.operators).to.have.length(3);
      expect(job.keys.published).to.have.length(3);
      expect(job.keys.missingKeys).to.deep.equal([]);
      await tickAll();
      const result = await waitForPrivateResult(requester, { addresses, jobKeys: addresses.jobKeys, jobId: job.jobId, contentKey: job.contentKey, context: job.context, fetch: fetchResult, timeout: 5_000 });
      const privateMs = performance.now() - t0;
      outputs = result.outputs;

      // Right outputs: what the model gives on the plaintext (ONNX Runtime, same engine as the workers).
      const expected = (await workers[0]!.engine.run(mlp.modelId, input(1))).outputs;
      expect(tensorsEqual(outputs, expected)).to.equal(true);
      // On-chain: the keyed hash over the canonical result bytes, not the plain (guessable) hash.
      const chain = await v.escrow.getJob(job.jobId);
      expect(chain.result).to.equal(keyedResultHash(job.contentKey, job.context, canonicalResultBytes(expected, { kind: "exact" })));
      expect(chain.result).to.not.equal(resultHash(expected, { kind: "exact" }));
      for (const h of chain.slotHashes) expect(h).to.equal(chain.result);

      // Same job, unencrypted, for the latency/gas comparison.
      const t1 = performance.now();
      const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
      const plainId = (await v.escrow.nextJobId(mlp.modelId, ethers.sha256(hex(encodeTensors(input(1)))))) as bigint;
      const plainTx = await v.escrow.connect(v.requester).submitJob({
        modelId: mlp.modelId, redundancy: 3, maxFee: 10n ** 9n, deadline: t + 3600n, input: hex(encodeTensors(input(1))), inputURI: "", inputHash: ethers.ZeroHash,
      });
      const plainReceipt = (await plainTx.wait())!;
      await tickAll();
      expect(await status(plainId)).to.equal(STATUS.Proposed);
      const plainMs = performance.now() - t1;
      console.log(
        `      private k=3: submit ${job.submitGasUsed} gas + publishKeys ${job.keys.gasUsed} gas; plain submit ${plainReceipt.gasUsed} gas; ` +
          `submit->decrypted ${privateMs.toFixed(0)} ms vs plain submit->proposed ${plainMs.toFixed(0)} ms`,
      );
      // Coverage instruments the bytecode (every figure grows): the bound holds for the real contracts.
      if (!(hre.globalOptions as { coverage?: boolean }).coverage) expect(job.keys.gasUsed).to.be.lessThan(100_000n);

      await networkHelpers.time.increase(P.challengeWindow + 1n);
      await tickAll(2);
      expect(await status(job.jobId)).to.equal(STATUS.Finalized);
    });

    it("an outsider holding every log, calldata, stored blob and its own registered key recovers neither input nor result", async () => {
      const latest = await ethers.provider.getBlockNumber();
      const logs = await ethers.provider.getLogs({ fromBlock: 0, toBlock: latest });
      const calldata: string[] = [];
      for (let b = 0; b <= latest; b++) {
        const block = await ethers.provider.getBlock(b, true);
        for (const tx of block!.prefetchedTransactions) calldata.push(tx.data);
      }
      const blobs: Uint8Array[] = [];
      for (const w of workers) {
        // The plain comparison job (same input, in clear on purpose) is not part of what must stay secret.
        for (const rec of w.store.jobsByState(["served", "finalized", "revealed"]).filter((r) => r.jobId === job.jobId)) {
          if (rec.inputBlob) blobs.push(w.store.getBlob(rec.inputBlob)!);
          if (rec.resultBlob) blobs.push(w.store.getBlob(rec.resultBlob)!);
        }
      }
      const everything: Uint8Array[] = [...[...logs.map((l) => l.data), ...logs.flatMap((l) => l.topics), ...calldata].map(bytesOf), ...blobs];
      const inputBytes = encodeTensors(input(1));
      const resultBytes = encodeTensors(outputs);
      const raw = (t: TensorMap) => new Uint8Array(t.x ? (t.x.data as Float32Array).buffer : (t.y!.data as Float32Array).buffer);
      const haystack = Buffer.concat(everything.map((b) => Buffer.from(b)));
      // No plaintext anywhere (canonical bytes nor raw float data)... except in the plain comparison job's calldata,
      // which carried the same input in clear on purpose: drop it from the haystack first.
      const plainCalldata = Buffer.from(inputBytes);
      const withoutPlain = everything.filter((b) => !Buffer.from(b).includes(plainCalldata)).map((b) => Buffer.from(b));
      expect(withoutPlain.length).to.be.lessThan(everything.length); // the plain job is there, and excluded
      expect(Buffer.concat(withoutPlain).includes(Buffer.from(raw(input(1))))).to.equal(false);
      expect(haystack.includes(Buffer.from(resultBytes))).to.equal(false);
      expect(haystack.includes(Buffer.from(raw(outputs)))).to.equal(false);

      // Every wrapped key published for the job, tried with the outsider's secret under every role.
      const published = await jobKeys.queryFilter(jobKeys.filters.KeysPublished(job.jobId));
      expect(published).to.have.length(3);
      for (const ev of published) {
        for (const role of ["operator", "committee", "requester"] as KeyRole[]) {
          expect(() => unwrapContentKey(bytesOf(ev.args.wrappedKey), outsiderKey.secretKey, job.context, role)).to.throw(PrivacyError);
        }
      }
      // Candidate content keys: every 32-byte word of every public byte string, and every 32-byte window (any
      // offset) of the published wrapped keys and of the envelopes, tried on the input and result envelopes.
      const inputEnv = blobs.find((b) => isPrivateEnvelope(b))!;
      const resultEnv = blobs.find((b) => b[5] === 2)!;
      const dense = [...published.map((e) => bytesOf(e.args.wrappedKey)), inputEnv, resultEnv];
      let tried = 0;
      for (const b of [...everything, ...dense]) {
        const step = dense.includes(b) ? 1 : 32;
        for (let i = 0; i + 32 <= b.length; i += step) {
          const k = b.subarray(i, i + 32);
          expect(() => decryptInput(inputEnv, k, job.context)).to.throw(PrivacyError);
          expect(() => decryptResult(resultEnv, k, job.context)).to.throw(PrivacyError);
          tried++;
        }
      }
      expect(tried).to.be.greaterThan(1_000);
      // Even a perfect guess of the outputs cannot be tested against the chain without the content key.
      const chain = await v.escrow.getJob(job.jobId);
      expect(keyedResultHash(outsiderKey.secretKey, job.context, canonicalResultBytes(outputs, { kind: "exact" }))).to.not.equal(chain.result);
    });
  });

  describe("bad keys and envelopes: clear errors, no commit, no slash, refund", () => {
    /** Submits a private envelope directly (bypassing the SDK) so tests can corrupt it. */
    async function submitEnvelope(envelope: Uint8Array) {
      const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
      const jobId = (await v.escrow.nextJobId(mlp.modelId, ethers.sha256(hex(envelope)))) as bigint;
      const tx = await v.escrow.connect(v.requester).submitJob({
        modelId: mlp.modelId, redundancy: 3, maxFee: 10n ** 9n, deadline: t + 3600n, input: hex(envelope), inputURI: "", inputHash: ethers.ZeroHash,
      });
      await tx.wait();
      const job = await v.escrow.getJob(jobId);
      return { jobId, operators: [...job.operators] as Address[] };
    }
    function sealed() {
      const context = createJobContext({ chainId: BigInt(CHAIN_ID), escrow: addresses.jobEscrow, requester: getAddress(v.requester.address) });
      const contentKey = generateContentKey();
      return { context, contentKey, envelope: encryptInput(encodeTensors(input(2)), contentKey, context) };
    }
    async function operatorKeys(ops: readonly Address[]) {
      return Promise.all(ops.map(async (op) => (await v.staking.operator(op)).encryptionKey as Hex));
    }
    /**
     * What the escrow does with a key the requester corrupted or withheld: every assigned worker declines its slot
     * (JobEscrow.decline), nobody is slashed, nobody is paid, and with no operator left to draw the requester gets
     * the whole fee back. `waitForWindowEnd`: a key that never arrives is only declined near the commit deadline.
     */
    async function expectDeclinedThenRefund(jobId: bigint, code: string, waitForWindowEnd = false) {
      const stakes = await Promise.all(v.ops.map(async (o) => (await v.staking.operator(o.address)).stake));
      const earnings = await Promise.all(v.ops.map((o) => v.ledger.earningsOf(o.address)));
      await tickAll();
      if (waitForWindowEnd) {
        expect((await v.escrow.getJob(jobId)).declinedMask, "no decline while the key may still come").to.equal(0n);
        await networkHelpers.time.increase(P.commitWindow - 30n);
        await tickAll(1);
      }
      const chain = await v.escrow.getJob(jobId);
      expect(chain.commitMask).to.equal(0n);
      expect(chain.revealMask).to.equal(0n);
      expect(chain.declinedMask, "every slot declined").to.equal(7n);
      for (const [operator, c] of codecs) {
        if (!chain.operators.includes(operator)) continue;
        const f = c.failures.get(jobId);
        expect([...(f?.codes ?? []), f?.reason]).to.include(code);
      }
      for (const w of workers) {
        const recs = w.store.jobsByState(["failed"]).filter((r) => r.jobId === jobId);
        expect(recs, "each assigned worker gave its slot up").to.have.length(1);
        expect(recs[0]!.failReason).to.match(/^declined: /);
      }
      const fee = (await v.escrow.getJob(jobId)).price * 3n;
      const deposit = await v.ledger.depositOf(v.requester.address);
      const tx = await v.escrow.poke(jobId); // all declined: no need to wait out the window; nobody left to draw
      await expect(tx).to.not.emit(v.staking, "Slashed");
      expect(await status(jobId)).to.equal(STATUS.Refunded);
      expect(await v.ledger.depositOf(v.requester.address)).to.equal(deposit + fee);
      for (const [i, o] of v.ops.entries()) {
        expect((await v.staking.operator(o.address)).stake).to.equal(stakes[i]);
        expect((await v.staking.operator(o.address)).locked).to.equal(0n);
        expect(await v.ledger.earningsOf(o.address)).to.equal(earnings[i]);
      }
    }

    it("an input the model's signature refuses is rejected before anything is sealed or signed", async () => {
      const nonce = await v.requester.getNonce();
      const bad: TensorMap = { x: { type: "float32", dims: [1, 8], data: new Float32Array(8) } };
      let err: unknown;
      try {
        await submitPrivateJob(requester, { addresses, jobKeys: addresses.jobKeys, modelId: mlp.modelId, inputs: bad });
      } catch (e) {
        err = e;
      }
      expect((err as Error)?.name).to.equal("ModelInputError");
      expect((err as { shortMessage: string }).shortMessage).to.contain("x");
      expect(await v.requester.getNonce()).to.equal(nonce);
    });

    it("a tampered envelope is refused (DECRYPT_FAILED) and never committed", async () => {
      const s = sealed();
      s.envelope[s.envelope.length - 20]! ^= 1; // flip one ciphertext bit
      const { jobId, operators } = await submitEnvelope(s.envelope);
      const wrapped = (await operatorKeys(operators)).map((pk) => hex(wrapContentKey(s.contentKey, pk, s.context, "operator")));
      await jobKeys.connect(v.requester).publishKeys(jobId, operators, wrapped);
      await expectDeclinedThenRefund(jobId, "DECRYPT_FAILED");
    });

    it("a key that does not match the envelope's commitment is refused (DECRYPT_FAILED)", async () => {
      const s = sealed();
      const { jobId, operators } = await submitEnvelope(s.envelope);
      const other = generateContentKey();
      const wrapped = (await operatorKeys(operators)).map((pk) => hex(wrapContentKey(other, pk, s.context, "operator")));
      await jobKeys.connect(v.requester).publishKeys(jobId, operators, wrapped);
      await expectDeclinedThenRefund(jobId, "DECRYPT_FAILED");
    });

    it("a wrapped key replayed from another job is refused (WRONG_CONTEXT)", async () => {
      const a = sealed();
      const b = sealed();
      const { jobId, operators } = await submitEnvelope(b.envelope);
      // Wrapped for job A's context (same operators, same requester): replayed into job B.
      const replayed = (await operatorKeys(operators)).map((pk) => hex(wrapContentKey(a.contentKey, pk, a.context, "operator")));
      await jobKeys.connect(v.requester).publishKeys(jobId, operators, replayed);
      await expectDeclinedThenRefund(jobId, "WRONG_CONTEXT");
    });

    it("a job whose key never arrives is not committed (reason: waiting), declined near the deadline, and refunded", async () => {
      const s = sealed();
      const { jobId } = await submitEnvelope(s.envelope);
      await expectDeclinedThenRefund(jobId, "waiting", true);
    });
  });

  describe("JobKeys", () => {
    it("only the requester or an operator of the job may publish; lengths are checked", async () => {
      const s = await submitPrivateJob(requester, { addresses, jobKeys: addresses.jobKeys, modelId: mlp.modelId, inputs: input(3), redundancy: 3 });
      const key = "0x" + "11".repeat(WRAPPED_KEY_LENGTH);
      await expect(jobKeys.connect(v.outsider).publishKeys(s.jobId, [v.outsider.address], [key]))
        .to.be.revertedWithCustomError(jobKeys, "JobKeysUnauthorized").withArgs(s.jobId, v.outsider.address);
      await expect(jobKeys.connect(v.requester).publishKeys(s.jobId, [v.outsider.address], [key, key]))
        .to.be.revertedWithCustomError(jobKeys, "JobKeysLengthMismatch").withArgs(1, 2);
      await expect(jobKeys.connect(v.requester).publishKeys(s.jobId, [], []))
        .to.be.revertedWithCustomError(jobKeys, "JobKeysLengthMismatch").withArgs(0, 0);
      await expect(jobKeys.connect(v.requester).publishKeys(s.jobId, [v.outsider.address], ["0x1234"]))
        .to.be.revertedWithCustomError(jobKeys, "JobKeysBadWrappedKey").withArgs(0, 2);
      await expect(jobKeys.connect(v.requester).publishKeys(s.jobId, [ethers.ZeroAddress], [key]))
        .to.be.revertedWithCustomError(jobKeys, "JobKeysZeroRecipient").withArgs(0);
      await expect(jobKeys.connect(v.requester).publishKeys(999n, [v.outsider.address], [key]))
        .to.be.revertedWithCustomError(v.escrow, "JobEscrowUnknownJob").withArgs(999n);
      const op = v.ops.find((o) => s.operators.includes(o.address as Address))!;
      await expect(jobKeys.connect(op).publishKeys(s.jobId, [v.outsider.address], [key]))
        .to.emit(jobKeys, "KeysPublished").withArgs(s.jobId, v.outsider.address, op.address, key);
      // Finish the job so later tests start clean.
      await tickUntil(s.jobId, STATUS.Proposed);
    });

    it("publishJobKeys skips recipients without a valid registered key and reports them", async () => {
      const s = await submitPrivateJob(requester, { addresses, jobKeys: addresses.jobKeys, modelId: mlp.modelId, inputs: input(4), redundancy: 3 });
      // v.admin never registered a node: its encryptionKey reads as zero.
      const r = await publishJobKeys(requester, { addresses, jobKeys: addresses.jobKeys, jobId: s.jobId, contentKey: s.contentKey, context: s.context, recipients: [v.admin.address as Address] });
      expect(r).to.deep.include({ hash: undefined, published: [], missingKeys: [v.admin.address] });
      await tickUntil(s.jobId, STATUS.Proposed);
      expect(PrivateJobError).to.be.a("function");
    });
  });

  describe("committee re-wrap (dispute key path)", () => {
    it("an assigned operator re-wraps for committee members: members open it, others and operator-role use cannot", async () => {
      const s = await submitPrivateJob(requester, { addresses, jobKeys: addresses.jobKeys, modelId: mlp.modelId, inputs: input(5), redundancy: 3 });
      // Proposed (its `result` is the revealed keyed hash; 0 while Assigned or Revealing): k = 3 takes four worker
      // rounds at least (input, inference, commit, reveal), so wait for the status instead of counting rounds.
      await tickUntil(s.jobId, STATUS.Proposed);
      const envelope = (await v.escrow.queryFilter(v.escrow.filters.JobSubmitted(s.jobId)))[0]!.args.input as Hex;
      const slot0 = codecs.get(s.operators[0]!)!;
      // The outsider's registered node stands in for a drawn member (the committee is drawn by DisputeManager).
      const hash = await slot0.rewrapForDispute(s.jobId, bytesOf(envelope), [v.outsider.address as Address], s.inputHash);
      expect(hash).to.match(/^0x[0-9a-f]{64}$/);
      const memberClient = workers[0]!.publicClient;
      const member = new PrivateCodec({ publicClient: memberClient, chainId: CHAIN_ID, addresses, operator: v.outsider.address as Address, secretKeys: [outsiderKey.secretKey] });
      const opened = await member.openForCommittee(s.jobId, bytesOf(envelope), s.inputHash);
      expect(opened).to.not.equal(undefined);
      expect(tensorsEqual(decodeTensors(opened!.plaintext), input(5))).to.equal(true);
      // The member re-runs the model and reaches the operators' keyed hash: it can vote on it directly.
      const rerun = (await workers[0]!.engine.run(mlp.modelId, decodeTensors(opened!.plaintext))).outputs;
      expect(opened!.resultHash(rerun, { kind: "exact" })).to.equal((await v.escrow.getJob(s.jobId)).result);
      // The committee wrap is not an operator wrap, and a non-member cannot open it.
      expect(await member.openInput(s.jobId, bytesOf(envelope), s.inputHash)).to.equal(undefined);
      expect(member.failures.get(s.jobId)?.codes).to.include("WRONG_CONTEXT");
      const nonMember = new PrivateCodec({ publicClient: memberClient, chainId: CHAIN_ID, addresses, operator: v.outsider.address as Address, secretKeys: [generateContentKey()] });
      expect(await nonMember.openForCommittee(s.jobId, bytesOf(envelope), s.inputHash)).to.equal(undefined);
      expect(nonMember.failures.get(s.jobId)?.codes).to.include("WRONG_RECIPIENT");
    });
  });

  describe("recycled job records", () => {
    it("a settled job whose escrow record a later job reuses still opens (its requester from JobSubmitted)", async () => {
      const s = await submitPrivateJob(requester, { addresses, jobKeys: addresses.jobKeys, modelId: mlp.modelId, inputs: input(6), redundancy: 3 });
      await tickUntil(s.jobId, STATUS.Proposed);
      await networkHelpers.time.increase(P.challengeWindow + 1n);
      await tickUntil(s.jobId, STATUS.Finalized);
      // Later submissions take the free records (the most recently freed first) until one is s.jobId's.
      const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
      const plain = { modelId: mlp.modelId, redundancy: 3, maxFee: 10n ** 9n, deadline: t + 3600n, input: hex(encodeTensors(input(7))), inputURI: "", inputHash: ethers.ZeroHash };
      let reused = false;
      for (let i = 0; i < 10 && !reused; i++) {
        await (await v.escrow.connect(v.requester).submitJob(plain)).wait();
        reused = await v.escrow.getJob(s.jobId).then(() => false, () => true);
      }
      await expect(v.escrow.getJob(s.jobId)).to.be.revertedWithCustomError(v.escrow, "JobEscrowJobRecycled").withArgs(s.jobId);
      const envelope = (await v.escrow.queryFilter(v.escrow.filters.JobSubmitted(s.jobId)))[0]!.args.input as Hex;
      const codec = codecs.get(s.operators[0]!)!;
      codec.forget(s.jobId); // not from the cache: the codec reads the job again
      const opened = await codec.openInput(s.jobId, bytesOf(envelope), s.inputHash);
      expect(opened, JSON.stringify(codec.failures.get(s.jobId))).to.not.equal(undefined);
      expect(opened!.context.requester).to.equal(getAddress(v.requester.address));
      expect(tensorsEqual(decodeTensors(opened!.plaintext), input(6))).to.equal(true);
    });
  });
});
