import { expect } from "chai";
import { network } from "hardhat";
import { createPublicClient, createWalletClient, custom, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { createWorker, type CreatedWorker } from "../../packages/worker/src/create.js";
import { computeResult } from "../../packages/worker/src/inference/index.js";
import { nullLogger } from "../../packages/worker/src/internal/log.js";
import * as generated from "../../packages/worker/src/models/generate.js";
import * as pretrained from "../../packages/worker/src/models/pretrained.js";
import { PrivateCodec, operatorEncryptionKeyPair } from "../../packages/worker/src/private.js";
import type { JobRecord } from "../../packages/worker/src/store.js";
import { BALLOT_SLOT, SPOT_CHECK_SLOT } from "../../packages/worker/src/validator.js";
import { publishJobKeys } from "../../packages/sdk/src/private.js";
import { contentUri } from "../../packages/sdk/src/blobs.js";
import { createJobContext, decryptResult, encryptInput, envelopeHash, generateContentKey, type JobContext } from "../../packages/sdk/src/privacy.js";
import { decodeTensors, encodeTensors, readInvalidInput, sha256Hex, type Comparator, type TensorMap } from "../../packages/sdk/src/tensor.js";
import { encodeSignature } from "../../packages/sdk/src/signature.js";
import { inspectOnnxModel } from "../../packages/sdk/src/onnx.js";
import type { VeilAddresses } from "../../packages/sdk/src/addresses.js";
import { ROLES } from "../../ignition/modules/roles.js";
import { deployVeil, jobParams, modelParams, type Veil } from "../helpers/fixture.js";

/**
 * Issue 15: the operator (worker.ts `infer`) and the validator (validator.ts `infer`) compute a job's result through
 * one function (inference/compute.ts `computeResult`), so an honest operator is never outvoted by an honest committee.
 * For every model the repository ships (each `build*Model` of models/generate.ts and each pretrained spec of
 * models/pretrained.ts, enumerated from the modules, so a new one without a case here fails) and every kind of input,
 * the real worker's inference step and the real validator's re-execution run on real ONNX Runtime sessions of two
 * workers, and their result hashes and result bytes must be identical. Private jobs go through real JobKeys: the
 * operator opens the requester's key, then re-wraps it to the committee member, who opens that.
 */
const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers } = connection;
const MNEMONIC = "test test test test test test test test test test test junk";
const CHAIN_ID = 31337;

type Registered = { comparator: 0 | 1; precision: number };
interface Variant extends Registered {
  label: string;
  bytes: Uint8Array;
  /** Tensors the model takes. */
  valid: TensorMap;
  /** Well-encoded tensors the model refuses (the engine's invalid-input result). */
  wrong: TensorMap;
}

const f32 = (dims: number[], f: (i: number) => number): TensorMap[string] => ({
  type: "float32",
  dims,
  data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => f(i)),
});
const i64 = (dims: number[], f: (i: number) => bigint): TensorMap[string] => ({
  type: "int64",
  dims,
  data: BigInt64Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => f(i)),
});

/**
 * One entry per shipped model source, keyed by its export name. Variants cover both comparators and the opsets the
 * repository generates (identity models probe runtimes at 9..17).
 */
const CASES: Record<string, () => Variant[]> = {
  buildMlpModel: () => [
    { label: "mlp seed 7, exact", bytes: generated.buildMlpModel({ seed: 7 }).bytes, comparator: 0, precision: 0, valid: { x: f32([2, 16], (i) => Math.sin(i) / 2) }, wrong: { x: f32([2, 8], (i) => i) } },
    { label: "mlp seed 13, rounded(4)", bytes: generated.buildMlpModel({ seed: 13 }).bytes, comparator: 1, precision: 4, valid: { x: f32([1, 16], (i) => Math.cos(3 * i) / 3) }, wrong: { x: f32([16], (i) => i) } },
  ],
  buildIntModel: () => [
    {
      label: "int seed 1, exact",
      bytes: generated.buildIntModel({ seed: 1 }).bytes,
      comparator: 0,
      precision: 0,
      valid: { a: i64([2, 3], (i) => BigInt(7 * i - 9)), b: i64([2, 3], (i) => BigInt(100 - i)) },
      wrong: { a: i64([2, 3], BigInt), b: f32([2, 3], (i) => i) },
    },
  ],
  buildColumnSumModel: () => [
    { label: "column sum, rounded(3)", bytes: generated.buildColumnSumModel().bytes, comparator: 1, precision: 3, valid: { x: f32([3, 4], (i) => i / 7) }, wrong: { x: f32([3, 5], (i) => i) } },
  ],
  buildIdentityModel: (): Variant[] => [
    { label: "identity opset 17, exact", bytes: generated.buildIdentityModel().bytes, comparator: 0, precision: 0, valid: { x: f32([5], (i) => i - 2.5) }, wrong: { x: f32([2, 3], (i) => i) } },
    { label: "identity opset 9, rounded(2)", bytes: generated.buildIdentityModel({ opset: 9 }).bytes, comparator: 1, precision: 2, valid: { x: f32([3], (i) => 1 / (i + 3)) }, wrong: { y: f32([3], (i) => i) } },
  ],
  PRETRAINED_CLS: () => [
    {
      label: "PaddleOCR text-direction classifier (README), exact",
      bytes: pretrained.loadPretrainedClsModel().bytes,
      comparator: 0,
      precision: 0,
      valid: pretrained.clsSampleInput(1, 5),
      wrong: { x: f32([1, 1, 48, 192], (i) => (i % 3) - 1) },
    },
  ],
};

/** The shipped model sources, read from the modules: builders of models/generate.ts, specs of models/pretrained.ts. */
function shippedModels(): string[] {
  const builders = Object.entries(generated).filter(([name, v]) => typeof v === "function" && /^build\w*Model$/.test(name));
  const specs = Object.entries(pretrained).filter(([, v]) => typeof v === "object" && v !== null && "modelId" in v && "file" in v);
  return [...builders, ...specs].map(([name]) => name).sort();
}

const BAD_MAGIC = new TextEncoder().encode("not a tensor encoding");
const decodeCode = (bytes: Uint8Array): string => {
  try {
    decodeTensors(bytes);
  } catch (err) {
    return `invalid_input:encoding:${(err as { code: string }).code}`;
  }
  throw new Error("expected malformed bytes");
};

interface InputCase {
  name: string;
  /** The job input: public bytes, or the plaintext sealed into a private envelope. */
  bytes?: Uint8Array;
  mismatch?: boolean;
  private?: boolean;
  /** The expected invalid-input code; "engine" for the model's own refusal; undefined for real outputs. */
  invalid?: string;
}

function inputCases(v: Variant): InputCase[] {
  const valid = encodeTensors(v.valid);
  const truncated = valid.subarray(0, valid.length - 1);
  const wrong = encodeTensors(v.wrong);
  return [
    { name: "valid", bytes: valid },
    { name: "malformed encoding (bad magic)", bytes: BAD_MAGIC, invalid: "invalid_input:encoding:BAD_MAGIC" },
    { name: "malformed encoding (truncated)", bytes: truncated, invalid: decodeCode(truncated) },
    { name: "input reference does not match the hash", mismatch: true, invalid: "invalid_input:hash_mismatch" },
    { name: "tensors the model refuses", bytes: wrong, invalid: "engine" },
    { name: "private, valid", bytes: valid, private: true },
    { name: "private, malformed plaintext", bytes: BAD_MAGIC, private: true, invalid: "invalid_input:encoding:BAD_MAGIC" },
    { name: "private, tensors the model refuses", bytes: wrong, private: true, invalid: "engine" },
  ];
}

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected a rejection");
}

function hdKey(index: number): Hex {
  return `0x${Buffer.from(mnemonicToAccount(MNEMONIC, { addressIndex: index }).getHdKey().privateKey!).toString("hex")}`;
}

describe("computeResult: operator and validator produce the same result bytes and hash on every shipped model (issue 15)", function () {
  this.timeout(240_000);
  const variants = new Map<string, Variant[]>(Object.entries(CASES).map(([name, make]) => [name, make()]));
  let v: Veil;
  let escrow: Address;
  let jobKeys: Address;
  let nodeStaking: Address;
  /** The assigned operator, the committee member (validator mode) and a dishonest operator (tamperOutputs). */
  let operator: CreatedWorker;
  let member: CreatedWorker;
  let liar: CreatedWorker;
  const codecs = new Map<CreatedWorker, PrivateCodec>();
  let requester: ReturnType<typeof createWalletClient>;
  let syntheticJobId = 1_000_000n;
  let addresses: VeilAddresses & { disputeManager: Address };

  before(async () => {
    v = await deployVeil(connection, 3);
    const granted = await v.manager.queryFilter(v.manager.filters.RoleGranted(ROLES.DISPUTER));
    escrow = (await v.escrow.getAddress()) as Address;
    nodeStaking = (await v.staking.getAddress()) as Address;
    jobKeys = (await (await ethers.deployContract("JobKeys", [escrow])).getAddress()) as Address;
    addresses = {
      jobEscrow: escrow,
      nodeStaking,
      modelRegistry: (await v.registry.getAddress()) as Address,
      feeToken: (await v.usdc.getAddress()) as Address,
      stakingToken: (await v.veil.getAddress()) as Address,
      accessManager: (await v.manager.getAddress()) as Address,
      disputeManager: granted[0]!.args.account as Address,
      jobKeys,
    };
    // Every model registered as `veil models register` does it (opset and signature from the file); only the
    // assigned operator joins the pools, so every k = 1 job is its own.
    const models: Uint8Array[] = [];
    for (const list of variants.values()) {
      for (const m of list) {
        const info = inspectOnnxModel(m.bytes);
        const profile = { ...modelParams().profile, opset: info.opset };
        await v.registry.connect(v.modelOwner).registerModel(info.modelId, modelParams({ comparator: m.comparator, precision: m.precision, profile, ioSignature: encodeSignature(info.signature) }));
        await v.staking.connect(v.ops[0]!).joinModel(info.modelId);
        models.push(m.bytes);
      }
    }
    const transport = custom(connection.provider);
    const signers = await ethers.getSigners();
    const workers: CreatedWorker[] = [];
    for (const [i, op] of v.ops.entries()) {
      const index = signers.findIndex((s) => s.address === op.address);
      const account = mnemonicToAccount(MNEMONIC, { addressIndex: index });
      const keys = operatorEncryptionKeyPair(hdKey(index), { chainId: CHAIN_ID, nodeStaking, operator: account.address });
      await v.staking.connect(op).updateNode(`http://127.0.0.1:${9100 + i}`, keys.publicKey);
      const codec = new PrivateCodec({
        publicClient: createPublicClient({ transport }),
        walletClient: createWalletClient({ transport, account }),
        chainId: CHAIN_ID,
        addresses: { jobEscrow: escrow, jobKeys, nodeStaking },
        operator: account.address,
        secretKeys: [keys.secretKey],
      });
      const w = await createWorker({
        transport,
        account,
        addresses,
        dataDir: ":memory:",
        models: models.map((bytes) => ({ bytes })),
        logger: nullLogger(),
        startBlock: 0n,
        validator: i === 1,
        tamperOutputs: i === 2,
        privacy: codec,
      });
      // Models verified against the registry and loaded; the loop is not started: the test drives each step itself.
      await w.worker.prepare();
      workers.push(w);
      codecs.set(w, codec);
    }
    [operator, member, liar] = workers as [CreatedWorker, CreatedWorker, CreatedWorker];
    requester = createWalletClient({ transport, account: mnemonicToAccount(MNEMONIC, { addressIndex: 1 }) });
    expect(requester.account!.address).to.equal(v.requester.address);
  });

  after(async () => {
    for (const w of [operator, member, liar]) await w?.close();
  });

  /** A private job on chain, assigned to the operator, its key published to it by the requester (SDK). */
  async function submitPrivate(modelId: Hex, plaintext: Uint8Array) {
    const context: JobContext = createJobContext({ chainId: BigInt(CHAIN_ID), escrow, requester: requester.account!.address });
    const contentKey = generateContentKey();
    const envelope = encryptInput(plaintext, contentKey, context);
    const inputHash = envelopeHash(envelope);
    const tx = await v.escrow.connect(v.requester).submitJob(await jobParams(connection, v, { modelId, input: "0x", inputURI: contentUri(inputHash), inputHash }), { gasLimit: 3_000_000 });
    const receipt = await tx.wait();
    const assigned = receipt!.logs.map((l) => v.escrow.interface.parseLog(l)).find((e) => e?.name === "OperatorsAssigned");
    const jobId = assigned!.args.jobId as bigint;
    expect([...assigned!.args.operators]).to.deep.equal([operator.worker.address]);
    const keys = await publishJobKeys(requester, { addresses, jobKeys, jobId, contentKey, context, recipients: [operator.worker.address] });
    expect(keys.published).to.deep.equal([operator.worker.address]);
    return { jobId, envelope, inputHash, contentKey, context };
  }

  /** Puts the job in `w`'s store at input_ready, as the fetch step leaves it. */
  function ready(w: CreatedWorker, jobId: bigint, slot: number, modelId: Hex, input: Uint8Array | undefined, mismatch: boolean, inputHash: Hex): JobRecord {
    const key = { chainId: CHAIN_ID, jobId, slot };
    w.store.upsertAssigned({ ...key, redundancy: slot === 0 ? 1 : 2, modelId, inputHash, meta: slot === BALLOT_SLOT ? { kind: "ballot", index: 0 } : { kind: "spot_check" } });
    return w.store.transition(key, "assigned", "input_ready", mismatch ? { meta: { inputMismatch: true } } : { inputBlob: w.store.putBlob(input!) });
  }

  /** The operator path: tasks/processor.ts `infer` on the job; returns what it stored (hash and served bytes). */
  async function operatorResult(w: CreatedWorker, rec: JobRecord, onChain: boolean) {
    // The chain view is read only to decline a private job that cannot be opened; synthetic public jobs have none.
    const chain = onChain ? await w.worker["ctx"].chainJob(rec.jobId) : undefined;
    await w.worker["processor"].infer(rec, chain as never);
    const done = w.store.getJob(rec)!;
    expect(done.state, done.failReason).to.equal("inferred");
    return { resultHash: done.resultHash!, served: w.store.getBlob(done.resultBlob!)! };
  }

  /** The validator path: validator.ts `infer` (a committee ballot, or a spot check) on the job. */
  async function validatorResult(rec: JobRecord): Promise<Hex> {
    const done = await member.worker["validator"]!["infer"](rec);
    expect(done.state, done.failReason).to.equal("inferred");
    return done.resultHash!;
  }

  it("covers every model the repository ships (models/generate.ts builders, models/pretrained.ts specs)", function () {
    const shipped = shippedModels();
    expect(shipped.length).to.be.greaterThan(4);
    const missing = shipped.filter((name) => !(name in CASES));
    expect(missing, `shipped models without a compute-result case in this test: ${missing.join(", ")}`).to.deep.equal([]);
    const stale = Object.keys(CASES).filter((name) => !shipped.includes(name));
    expect(stale, `cases for models no longer shipped: ${stale.join(", ")}`).to.deep.equal([]);
  });

  for (const name of Object.keys(CASES)) {
    it(`${name}: same bytes and hash from operator and validator, for valid, malformed, mismatched, refused and private inputs`, async function () {
      for (const variant of variants.get(name)!) {
        const modelId = sha256Hex(variant.bytes) as Hex;
        const comparator: Comparator = variant.comparator === 0 ? { kind: "exact" } : { kind: "rounded", precision: variant.precision };
        for (const c of inputCases(variant)) {
          const what = `${variant.label}: ${c.name}`;
          let jobId: bigint;
          let input = c.bytes;
          let inputHash = c.bytes ? sha256Hex(c.bytes) : sha256Hex(BAD_MAGIC);
          let opened;
          let sealed: { contentKey: Uint8Array; context: JobContext } | undefined;
          if (c.private) {
            const job = await submitPrivate(modelId, c.bytes!);
            ({ jobId, inputHash } = job);
            input = job.envelope;
            sealed = job;
          } else jobId = syntheticJobId++;

          const op = await operatorResult(operator, ready(operator, jobId, 0, modelId, input, !!c.mismatch, inputHash), !!c.private);
          if (c.private) {
            // The dispute re-wrap (validator.ts rewrapIfAssigned): the operator publishes the key to the member.
            expect(await codecs.get(operator)!.rewrapForDispute(jobId, input!, [member.worker.address], inputHash), what).to.match(/^0x/);
            opened = await codecs.get(member)!.openForCommittee(jobId, input!, inputHash);
            expect(opened, `${what}: the committee key opens the input`).to.not.equal(undefined);
          }
          const validatorHash = await validatorResult(ready(member, jobId, BALLOT_SLOT, modelId, input, !!c.mismatch, inputHash));
          // The validator's bytes: the same function over the member's own engine session and its committee key.
          const ref = await computeResult({ engine: member.engine, model: { modelId, comparator }, input, inputMismatch: !!c.mismatch, privateInput: opened });

          expect(op.resultHash, `${what}: operator vs validator hash`).to.equal(validatorHash);
          expect(ref.resultHash, `${what}: computeResult vs validator hash`).to.equal(validatorHash);
          if (sealed) {
            expect(Buffer.from(op.served).equals(Buffer.from(ref.resultBytes)), `${what}: served bytes are sealed`).to.equal(false);
            const plain = decryptResult(op.served, sealed.contentKey, sealed.context);
            expect(Buffer.from(plain).equals(Buffer.from(ref.resultBytes)), `${what}: operator vs validator result bytes`).to.equal(true);
          } else {
            expect(Buffer.from(op.served).equals(Buffer.from(ref.resultBytes)), `${what}: operator vs validator result bytes`).to.equal(true);
          }
          expect(ref.private, what).to.equal(!!c.private);
          const invalid = readInvalidInput(decodeTensors(ref.resultBytes));
          expect(ref.invalid, what).to.equal(invalid);
          if (c.invalid === undefined) expect(invalid, what).to.equal(undefined);
          else if (c.invalid === "engine") expect(invalid, what).to.match(/^invalid_input:(?!encoding:|hash_mismatch)/);
          else expect(invalid, what).to.equal(c.invalid);

          if (!c.private) {
            // The adversarial hook still makes a liar: any float output of a model run moves; invalid results never do.
            const lie = await operatorResult(liar, ready(liar, jobId, 0, modelId, input, !!c.mismatch, inputHash), false);
            const floats = Object.values(ref.outputs).some((t) => t.type.startsWith("float"));
            expect(lie.resultHash === validatorHash, `${what}: the liar ${floats && !invalid ? "differs" : "agrees"}`).to.equal(!(floats && !invalid));
          }
        }
      }
    });
  }

  it("a private input is never computed without its key, and a key is refused for a public input", async function () {
    const variant = variants.get("buildMlpModel")![0]!;
    const modelId = sha256Hex(variant.bytes) as Hex;
    const model = { modelId, comparator: { kind: "exact" } as Comparator };
    const job = await submitPrivate(modelId, encodeTensors(variant.valid));
    expect(await rejection(computeResult({ engine: operator.engine, model, input: job.envelope }))).to.match(/is a private envelope; open it first/);
    const opened = await codecs.get(operator)!.openInput(job.jobId, job.envelope, job.inputHash);
    expect(opened).to.not.equal(undefined);
    const plain = encodeTensors(variant.valid);
    expect(await rejection(computeResult({ engine: operator.engine, model, input: plain, privateInput: opened }))).to.match(/it is not a private envelope/);
    expect(await rejection(computeResult({ engine: operator.engine, model, input: job.envelope, inputMismatch: true, privateInput: opened }))).to.match(/did not match/);
    // A spot checker holds no committee key: it leaves private jobs alone instead of voting on a guess.
    const rec = ready(member, job.jobId, SPOT_CHECK_SLOT, modelId, job.envelope, false, job.inputHash);
    const done = await member.worker["validator"]!["infer"](rec);
    expect(done.state).to.equal("finalized");
    expect(done.meta.outcome).to.equal("private");
    expect(done.resultHash).to.equal(undefined);
  });
});
