import { AbiCoder, Result, keccak256, sha256 } from "ethers";
import type { NetworkConnection } from "hardhat/types/network";
import { randomBytes } from "node:crypto";
import VeilLocal from "../../ignition/modules/VeilLocal.js";
import { DEFAULTS } from "../../ignition/modules/Veil.js";
import { resultCommitment } from "../../packages/sdk/src/actions/jobs.js";

export const E18 = 10n ** 18n;
export const USDC = 10n ** 6n;
export const PRICE = 50_000n; // 0.05 mUSDC per slot
export const STAKE = 5_000n * E18;
export const P = DEFAULTS.escrowParams;

/** The connection tests open with `network.create({ network: "hardhat", chainType: "l1" })` (hardhat.config.ts's chain type). */
export type Connection = NetworkConnection<"l1">;

/** The named fields of a struct a contract returned (typechain's `...StructOutput`: a tuple with named members). */
export type StructFields<T> = { [K in Exclude<keyof T, keyof unknown[] | `${number}`>]: T[K] };

/**
 * A struct read from a contract as a plain object of its named fields, ready to be modified and passed back (e.g.
 * `setParams({ ...fieldsOf(await escrow.params()), treasury })`). At runtime typechain's struct outputs are ethers
 * `Result`s, whose `toObject()` the generated types do not show.
 */
export function fieldsOf<T extends object>(struct: T): StructFields<T> {
  if (!(struct instanceof Result)) throw new TypeError("fieldsOf: expected a struct returned by a contract call (an ethers Result)");
  return struct.toObject() as StructFields<T>;
}

export const STATUS = { None: 0n, Assigned: 1n, Revealing: 2n, Proposed: 3n, Disputed: 4n, Finalized: 5n, Refunded: 6n };

export function modelParams(overrides: Record<string, unknown> = {}) {
  return {
    price: PRICE,
    royaltyBps: 1_000,
    redundancy: 1,
    comparator: 0,
    precision: 0,
    metadataURI: "ipfs://model",
    profile: { opset: 17, ortVersion: "1.30.0", executionProvider: "cpu", graphOptimizationLevel: 3, sequential: true },
    ioSignature: "",
    ...overrides,
  };
}

export function randomId(): string {
  return "0x" + randomBytes(32).toString("hex");
}

/**
 * Deploys the whole suite through the Ignition module that deployments use, with `operators` staked on one model.
 * `modelId` fixes the model's id (random otherwise): the id is in the chain's state, so a fixed one keeps every
 * later block hash, and with them the sortition draws, the same from run to run (bench/gas.ts).
 */
export async function deployVeil(connection: Connection, operators = 5, opts: { modelId?: string } = {}) {
  const { ethers, ignition } = connection;
  const signers = await ethers.getSigners();
  const [admin, requester, modelOwner, treasury, outsider] = signers;
  const ops = signers.slice(5, 5 + operators);
  const d = await ignition.deploy(VeilLocal, { parameters: { VeilLocal: { treasury: treasury.address } } });
  const usdc = await ethers.getContractAt("MockUSDC", await d.feeToken.getAddress());
  const veil = await ethers.getContractAt("VeilToken", await d.veil.getAddress());
  const registry = await ethers.getContractAt("ModelRegistry", await d.registry.getAddress());
  const staking = await ethers.getContractAt("NodeStaking", await d.staking.getAddress());
  // The escrow's core and its forwarded views at one address (IVeilEscrow), and its fee ledger.
  const escrow = await ethers.getContractAt("IVeilEscrow", await d.escrow.getAddress());
  const ledger = await ethers.getContractAt("FeeLedger", await escrow.ledger());
  const manager = await ethers.getContractAt("AccessManager", await d.manager.getAddress());

  const modelId = opts.modelId ?? randomId();
  await registry.connect(modelOwner).registerModel(modelId, modelParams());
  for (const [i, op] of ops.entries()) {
    await veil.transfer(op.address, STAKE * 2n);
    await veil.connect(op).approve(await staking.getAddress(), ethers.MaxUint256);
    await staking.connect(op).register(`http://127.0.0.1:${9000 + i}`, ethers.ZeroHash);
    await staking.connect(op).stake(STAKE);
    await staking.connect(op).joinModel(modelId);
  }
  await usdc.mint(requester.address, 1_000n * USDC);
  await usdc.connect(requester).approve(await ledger.getAddress(), ethers.MaxUint256);
  const { chainId } = await ethers.provider.getNetwork();
  return { admin, requester, modelOwner, treasury, outsider, ops, signers, usdc, veil, registry, staking, escrow, ledger, manager, modelId, chainId };
}

/** An operator's commitment for `commit` (the SDK's `resultCommitment`: the escrow recomputes it at reveal). */
export async function commitmentOf(v: Veil, jobId: bigint, operator: string, resultHash: string, salt: string): Promise<string> {
  return resultCommitment({
    escrow: (await v.escrow.getAddress()) as `0x${string}`,
    chainId: v.chainId,
    jobId,
    operator: operator as `0x${string}`,
    resultHash: resultHash as `0x${string}`,
    salt: salt as `0x${string}`,
  });
}

export type Veil = Awaited<ReturnType<typeof deployVeil>>;

export async function now(connection: Connection): Promise<bigint> {
  const block = await connection.ethers.provider.getBlock("latest");
  return BigInt(block!.timestamp);
}

/** The inline input `jobParams` submits unless told otherwise. */
export const INPUT = "0x" + "ab".repeat(64);

/** What a submission's id commits to: sha256 of its inline input, else the hash of the input it references. */
export function inputHashOf(p: { input?: string; inputHash?: string }): string {
  return p.input && p.input !== "0x" ? sha256(p.input) : p.inputHash!;
}

/** A job id's tag (bits 64..127): the low 64 bits of keccak256(abi.encode(modelId, inputHash)) (JobIdLib.tagOf). */
export function jobTag(modelId: string, inputHash: string): bigint {
  return BigInt.asUintN(64, BigInt(keccak256(AbiCoder.defaultAbiCoder().encode(["bytes32", "bytes32"], [modelId, inputHash]))));
}

/** The id of the job in record `index`, `generation`, submitted for `inputHash` to `modelId`: tag << 64 | generation << 32 | index. */
export function jobIdOf(index: bigint | number, generation: bigint | number, modelId: string, inputHash: string): bigint {
  return (jobTag(modelId, inputHash) << 64n) | (BigInt(generation) << 32n) | BigInt(index);
}

/** A job id's record index and generation. */
export const indexOf = (id: bigint) => id & 0xffffffffn;
export const generationOf = (id: bigint) => (id >> 32n) & 0xffffffffn;

/** The id the escrow gives the next submission of `p` (the default job's input and model unless `p` says otherwise). */
export async function nextJobId(v: Veil, p: { modelId?: string; input?: string; inputHash?: string } = {}): Promise<bigint> {
  return v.escrow.nextJobId(p.modelId ?? v.modelId, inputHashOf({ input: INPUT, ...p }));
}

export async function jobParams(connection: Connection, v: Veil, overrides: Record<string, unknown> = {}) {
  const t = await now(connection);
  return {
    modelId: v.modelId,
    redundancy: 1,
    maxFee: PRICE * 7n,
    deadline: t + 3_600n,
    input: INPUT,
    inputURI: "",
    inputHash: connection.ethers.ZeroHash,
    ...overrides,
  };
}

/** Submits a job and returns its id and assigned operators (as signers). */
export async function submit(connection: Connection, v: Veil, overrides: Record<string, unknown> = {}, mode: "transfer" | "deposit" = "transfer") {
  const p = await jobParams(connection, v, overrides);
  const tx = mode === "transfer" ? await v.escrow.connect(v.requester).submitJob(p) : await v.escrow.connect(v.requester).submitJobFromDeposit(p);
  const receipt = await tx.wait();
  const ev = receipt!.logs.map((l) => { try { return v.escrow.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "OperatorsAssigned");
  const jobId = ev!.args.jobId as bigint;
  const addrs = ev!.args.operators as string[];
  const signers = addrs.map((a) => v.ops.find((o) => o.address === a)!);
  return { jobId, operators: signers, receipt: receipt! };
}

export function salt(): string {
  return randomId();
}
