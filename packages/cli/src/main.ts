/**
 * The `veil` command line (bin/veil.mjs loads this file through tsx). Usage: docs/cli.md, `veil --help`, or
 * `veil <group> <command> --help`; every command and option is declared once in ./commands.ts.
 * Output: human-readable text on stdout, or one JSON object with `--json`; progress on stderr; errors as
 * `error: <Name>: <message>` with exit code 1 (2 for usage errors). The private key is never printed.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { CommanderError } from "commander";
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  erc20Abi,
  formatUnits,
  getAddress,
  http,
  isAddress,
  parseUnits,
  type Account,
  type Address,
  type Hex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { getBlock, readContract } from "viem/actions";
import type { VeilAddresses } from "@veil/sdk";
import { abis, formatJobId } from "@veil/sdk";
import { veilActions, type VeilActions } from "@veil/sdk";
import { JobRefundedError, VeilContractError, VeilError, decodeVeilError } from "@veil/sdk";
import type { Job, SlotState } from "@veil/sdk";
import { loadDeployment, loadDeploymentFile } from "@veil/sdk/node";
import { tensorsFromJson, tensorsToJson } from "@veil/sdk";
import { inspectOnnxModel } from "@veil/sdk";
import { formatTensorSignature, type ModelSignature } from "@veil/sdk";
import { buildProgram, GRAPH_LEVELS, UsageError, type CommandSpec, type Values } from "./commands.js";
import { formatDuration, formatWhen, parseDuration } from "./time.js";

export { UsageError };

/** `veil --help`. */
export const USAGE = buildProgram({ stdout: () => {}, stderr: () => {} }, async () => {}).helpInformation();

type Io = { stdout: (s: string) => void; stderr: (s: string) => void; isTTY: boolean };

type Ctx = {
  values: Values & Record<string, any>;
  /** Positional arguments after the command's name. */
  positionals: string[];
  io: Io;
  json: boolean;
  spec: CommandSpec;
};

function need(v: string | undefined, flag: string): string {
  if (v === undefined || v === "") throw new UsageError(`missing --${flag}`);
  return v;
}

function bytes32(v: string, what: string): Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(v)) throw new UsageError(`${what} must be 0x followed by 64 hex digits`);
  return v.toLowerCase() as Hex;
}

/**
 * A job id: `tag << 64 | generation << 32 | record index` (tag: 64 bits of keccak256(modelId, inputHash)), so about
 * 2^127. Printed as 0x and 32 hex digits (tag, generation, record: `0x<16><8><8>`); read as that or as decimal.
 */
/** Job ids print as the SDK prints them (`0x` and 32 hex digits: tag, generation, record). */
export { formatJobId };

const UINT256_MAX = (1n << 256n) - 1n;

/** Parses a job id given as 0x hex (as `veil` prints them) or decimal (as JSON-RPC tools and explorers show uint256). */
export function readJobId(v: string, what = "<jobId>"): bigint {
  let id: bigint;
  if (/^0x[0-9a-fA-F]{1,64}$/.test(v)) id = BigInt(v);
  else if (/^[0-9]{1,78}$/.test(v)) id = BigInt(v);
  else throw new UsageError(`${what} must be a job id: 0x followed by hex digits (as \`veil job submit\` prints it) or a decimal number, got ${JSON.stringify(v)}`);
  if (id > UINT256_MAX) throw new UsageError(`${what} is larger than a uint256: ${JSON.stringify(v)}`);
  return id;
}

function uint(v: string, what: string): bigint {
  if (!/^[0-9]+$/.test(v)) throw new UsageError(`${what} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return BigInt(v);
}

function amount(v: string, decimals: number, what: string): bigint {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(v)) throw new UsageError(`${what} must be a decimal amount, got ${JSON.stringify(v)}`);
  const frac = v.split(".")[1];
  if (frac && frac.length > decimals) throw new UsageError(`${what} has more than ${decimals} decimals`);
  return parseUnits(v, decimals);
}

function address(v: string, what: string): Address {
  if (!isAddress(v, { strict: false })) throw new UsageError(`${what} is not an address`);
  return getAddress(v);
}

/** Replacer for JSON output: bigints as decimal strings. */
function jsonReplacer(_k: string, v: unknown) {
  return typeof v === "bigint" ? v.toString() : v;
}

class Session {
  #account: Account | undefined;
  #veil: (ReturnType<typeof createWalletClient> & VeilActions) | undefined;
  #addresses: VeilAddresses | undefined;
  #startBlock: bigint | undefined;
  #decimals = new Map<string, { decimals: number; symbol: string }>();
  readonly rpc: string;

  constructor(private ctx: Ctx) {
    this.rpc = ctx.values["rpc-url"] || "http://127.0.0.1:8545";
    const key = ctx.values["private-key"];
    if (key !== undefined && key !== "") {
      // Validate without echoing: the key must never reach a message or a log.
      if (!/^(0x)?[0-9a-fA-F]{64}$/.test(key)) throw new UsageError("the private key (--private-key / VEIL_PRIVATE_KEY) must be 32 bytes of hex");
      this.#account = privateKeyToAccount((key.startsWith("0x") ? key : `0x${key}`) as Hex);
    }
  }

  get account(): Account {
    if (!this.#account) throw new UsageError("this command sends a transaction: pass --private-key (or --key) or set VEIL_PRIVATE_KEY");
    return this.#account;
  }

  get accountAddress(): Address | undefined {
    return this.#account?.address;
  }

  async veil() {
    if (this.#veil) return this.#veil;
    const probe = createPublicClient({ transport: http(this.rpc, { retryCount: 0 }) });
    let chainId: number;
    try {
      chainId = await probe.getChainId();
    } catch (e) {
      const why = String((e as { shortMessage?: string })?.shortMessage ?? (e as Error)?.message ?? e).split("\n")[0];
      throw new VeilError(`cannot reach the RPC endpoint ${this.rpc} (${why}); start a local chain with \`npx hardhat node\` or pass --rpc-url`, { cause: e });
    }
    const chain = defineChain({
      id: chainId,
      name: `chain-${chainId}`,
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [this.rpc] } },
    });
    const file = this.ctx.values.deployment;
    const deployment = file ? loadDeploymentFile(file) : loadDeployment(chainId);
    if (deployment.chainId !== chainId) {
      throw new VeilError(`the deployment is for chain ${deployment.chainId}, the RPC endpoint is chain ${chainId}`);
    }
    this.#addresses = deployment.addresses;
    this.#startBlock = deployment.startBlock === undefined ? undefined : BigInt(deployment.startBlock);
    const client = createWalletClient({ account: this.#account, chain, transport: http(this.rpc), pollingInterval: 250 });
    this.#veil = client.extend(veilActions({ addresses: deployment.addresses })) as any;
    return this.#veil!;
  }

  get addresses(): VeilAddresses {
    return this.#addresses!;
  }

  #ledger: Address | undefined;

  /**
   * The FeeLedger: every fee-token balance (deposits, earnings, treasury and staker accruals) lives there, and fee
   * approvals go to it. The address book's `feeLedger`, or the escrow's `ledger()` for a book without one.
   */
  async ledger(): Promise<Address> {
    if (this.#ledger) return this.#ledger;
    const client = await this.veil();
    this.#ledger = this.addresses.feeLedger ?? (await readContract(client, { address: this.addresses.jobEscrow, abi: abis.jobEscrowAbi, functionName: "ledger" }));
    return this.#ledger;
  }

  /** The deployment's first block (where event scans start), when the address book records it. */
  get startBlock(): bigint | undefined {
    return this.#startBlock;
  }

  async token(address: Address) {
    const cached = this.#decimals.get(address);
    if (cached) return cached;
    const client = await this.veil();
    const [decimals, symbol] = await Promise.all([
      readContract(client, { address, abi: erc20Abi, functionName: "decimals" }),
      readContract(client, { address, abi: erc20Abi, functionName: "symbol" }),
    ]);
    const info = { decimals, symbol };
    this.#decimals.set(address, info);
    return info;
  }

  async fmt(tokenAddress: Address, value: bigint): Promise<string> {
    const { decimals, symbol } = await this.token(tokenAddress);
    return `${formatUnits(value, decimals)} ${symbol}`;
  }

  #now: bigint | undefined;

  /** The latest block's timestamp: "now" for protocol windows (on a local chain it may run ahead of the clock). */
  async chainNow(): Promise<number> {
    this.#now ??= (await getBlock(await this.veil(), { blockTag: "latest" })).timestamp;
    return Number(this.#now);
  }

  /** `2026-12-03T09:00:00Z (in 59 min)`, relative to the chain's time. */
  async when(unix: number): Promise<string> {
    return formatWhen(unix, await this.chainNow());
  }
}

function out(ctx: Ctx, json: Record<string, unknown>, human: string) {
  if (ctx.json) ctx.io.stdout(JSON.stringify(json, jsonReplacer) + "\n");
  else ctx.io.stdout(human + "\n");
}

function jobId(ctx: Ctx, i = 0): bigint {
  const v = ctx.positionals[i];
  if (v === undefined) throw new UsageError(`missing <jobId> (usage: veil ${ctx.spec.name} <jobId>)`);
  return readJobId(v);
}

/** Who paid a job, in words: the requester, or a FeeLedger payer module (compute credits are module 1). */
function payerWords(s: Session, job: Job): string {
  if (job.payerModule === 0) return "the requester's payment";
  const credits = s.addresses.computeCredits && job.payer?.toLowerCase() === s.addresses.computeCredits.toLowerCase();
  return credits ? "a compute-credit allowance" : `payer module ${job.payerModule}${job.payer ? ` (${job.payer})` : ""}`;
}

/** Where a refunded job's fee went (the payer's deposit in the FeeLedger), in words, with the command that takes it out. */
async function refundNote(s: Session, job: Job, amount: bigint): Promise<string> {
  const fee = await s.fmt(s.addresses.feeToken, amount);
  if (job.payerModule !== 0) {
    const credits = s.addresses.computeCredits && job.payer?.toLowerCase() === s.addresses.computeCredits.toLowerCase();
    return credits
      ? `${fee} returned to the compute-credit pool (the job was paid from a daily allowance; the pool reclaims its FeeLedger deposit)`
      : `${fee} returned to the FeeLedger deposit of payer module ${job.payerModule}${job.payer ? ` (${job.payer})` : ""}`;
  }
  const { decimals } = await s.token(s.addresses.feeToken);
  return `${fee} returned to the FeeLedger deposit of ${job.payer ?? job.requester}: \`veil deposit withdraw ${formatUnits(amount, decimals)}\` takes it out, or it pays later jobs with --pay deposit`;
}

async function describeJob(s: Session, job: Job): Promise<string> {
  const terms = job.termsVersion === undefined ? "" : `; terms version ${job.termsVersion}, royalty ${job.royaltyBps} bps`;
  const lines = [
    `job ${formatJobId(job.jobId)}: ${job.status}`,
    `  model      ${job.modelId}`,
    `  requester  ${job.requester}`,
    `  operators  ${job.operators.join(", ")}`,
    `  k          ${job.redundancy}, price ${await s.fmt(s.addresses.feeToken, job.price)} per slot, paid from ${payerWords(s, job)}${terms}`,
    `  deadline   ${await s.when(job.deadline)}`,
    `  phase end  ${job.phaseEnd ? await s.when(job.phaseEnd) : "-"}`,
  ];
  if (job.result) lines.push(`  result     ${job.result}`);
  if (job.status === "Refunded") lines.push(`  refund     ${await refundNote(s, job, job.price * BigInt(job.redundancy))}`);
  if (job.source === "events") lines.push("  (read from the escrow's events: the job settled and its record now holds a later job)");
  return lines.join("\n");
}

function jobJson(job: Job) {
  return { ...job, jobId: formatJobId(job.jobId), result: job.result ?? null };
}

/** `x: float32[batch,3,48,192]` lines for a model's signature. */
function describeSignature(sig: ModelSignature | null): string[] {
  if (!sig) return ["  signature  none registered (inputs cannot be checked before signing)"];
  return [
    `  inputs     ${sig.inputs.map(formatTensorSignature).join(", ") || "-"}`,
    `  outputs    ${sig.outputs.map(formatTensorSignature).join(", ") || "-"}`,
  ];
}

/** The onnxruntime-node version installed beside this CLI (what `veil node start` would run), if any. */
function installedOrtVersion(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const entry = require.resolve("onnxruntime-node");
    const dir = entry.slice(0, entry.lastIndexOf("/onnxruntime-node/") + "/onnxruntime-node/".length);
    return JSON.parse(readFileSync(`${dir}package.json`, "utf8")).version;
  } catch {
    return undefined;
  }
}

function describeProfile(p: { opset: number; ortVersion: string; executionProvider: string; graphOptimizationLevel: number; sequential: boolean }): string {
  return `  profile    opset ${p.opset}, onnxruntime ${p.ortVersion}, ${p.executionProvider}, graph optimisation ${GRAPH_LEVELS[p.graphOptimizationLevel] ?? p.graphOptimizationLevel}${p.sequential ? ", sequential" : ""}`;
}

// ---------------------------------------------------------------------------------------------------------------------

type Handler = (ctx: Ctx, s: Session) => Promise<void>;

const HANDLERS: Record<string, Handler> = {
  async "models register"(ctx, s) {
    const v = ctx.values;
    const file = need(v.file, "file");
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(file));
    } catch (e) {
      throw new UsageError(`cannot read --file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let inspected;
    try {
      inspected = inspectOnnxModel(bytes);
    } catch (e) {
      throw new UsageError(`${file}: ${(e as { shortMessage?: string }).shortMessage ?? (e as Error).message}`);
    }
    const ortVersion = v["ort-version"] ?? installedOrtVersion();
    if (!ortVersion) throw new UsageError("onnxruntime-node is not installed here: pass --ort-version <x.y.z> (the version operators will run)");
    if (!/^[0-9]+\.[0-9]+\.[0-9]+$/.test(ortVersion)) throw new UsageError(`--ort-version must look like 1.30.0, got ${JSON.stringify(ortVersion)}`);
    const levelIndex = GRAPH_LEVELS.indexOf(v["graph-optimization"] ?? "all");
    const ep = v["execution-provider"] ?? "cpu";
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(ep)) throw new UsageError(`--execution-provider must be a provider name like cpu or cuda, got ${JSON.stringify(ep)}`);
    const profile = { opset: inspected.opset, ortVersion, executionProvider: ep, graphOptimizationLevel: levelIndex, sequential: true };
    let comparator: { kind: "exact" } | { kind: "rounded"; precision: number } = { kind: "exact" };
    if (v.comparator && v.comparator !== "exact") {
      const m = /^rounded:([0-9]{1,2})$/.exec(v.comparator);
      if (!m) throw new UsageError(`--comparator must be exact or rounded:<decimals>, got ${JSON.stringify(v.comparator)}`);
      comparator = { kind: "rounded", precision: Number(m[1]) };
    }
    const veil = await s.veil();
    const fee = await s.token(s.addresses.feeToken);
    const price = amount(need(v.price, "price"), fee.decimals, "--price");
    const royaltyBps = v["royalty-bps"] ? Number(uint(v["royalty-bps"], "--royalty-bps")) : 0;
    const redundancy = v.redundancy ? Number(uint(v.redundancy, "--redundancy")) : 1;
    const modelId = inspected.modelId;
    const summary = [
      `  file       ${file} (${(bytes.length / 1024).toFixed(1)} KiB)`,
      describeProfile(profile),
      ...describeSignature(inspected.signature),
      `  terms      ${await s.fmt(s.addresses.feeToken, price)} per slot, k=${redundancy}, royalty ${royaltyBps} bps, ${comparator.kind === "exact" ? "exact" : `rounded:${comparator.precision}`}`,
    ];
    const json = { modelId, price, royaltyBps, redundancy, profile, signature: inspected.signature };
    if (v["dry-run"]) {
      out(ctx, { ...json, dryRun: true }, [`would register model ${modelId}`, ...summary].join("\n"));
      return;
    }
    const r = await veil.registerModel({
      account: s.account,
      modelId,
      price,
      royaltyBps,
      redundancy,
      comparator,
      metadataURI: v["metadata-uri"] ?? "",
      profile,
      signature: inspected.signature,
    });
    out(ctx, { ...json, index: r.index, hash: r.hash },
      [`registered model ${modelId} (index ${r.index}, price ${await s.fmt(s.addresses.feeToken, price)} per slot)`, ...summary, `tx ${r.hash}`].join("\n"));
  },

  async "models list"(ctx, s) {
    const veil = await s.veil();
    const list = await veil.listModels();
    const rows: string[] = [];
    for (const m of list) {
      const cmp = m.comparator.kind === "exact" ? "exact" : `rounded:${m.comparator.precision}`;
      rows.push(`${m.modelId}  #${m.index}  ${await s.fmt(s.addresses.feeToken, m.price)}  k=${m.redundancy}  ${cmp}  ${m.active ? "active" : "inactive"}  owner ${m.owner}`);
    }
    out(ctx, { models: list }, rows.length ? rows.join("\n") : "no models registered");
  },

  async "models show"(ctx, s) {
    const id = ctx.positionals[0];
    if (!id) throw new UsageError("missing <modelId> (usage: veil models show <modelId>)");
    const veil = await s.veil();
    const m = await veil.getModel({ modelId: bytes32(id, "<modelId>") });
    const cmp = m.comparator.kind === "exact" ? "exact" : `rounded:${m.comparator.precision}`;
    out(ctx, { model: m }, [
      `model ${m.modelId}: ${m.active ? "active" : "inactive"} (index ${m.index})`,
      `  owner      ${m.owner}`,
      `  terms      ${await s.fmt(s.addresses.feeToken, m.price)} per slot, k=${m.redundancy}, royalty ${m.royaltyBps} bps, ${cmp}`,
      describeProfile(m.profile),
      ...describeSignature(m.signature),
      `  registered ${await s.when(m.registeredAt)}`,
      ...(m.metadataURI ? [`  metadata   ${m.metadataURI}`] : []),
    ].join("\n"));
  },

  async "node register"(ctx, s) {
    const v = ctx.values;
    const veil = await s.veil();
    const endpoint = need(v.endpoint, "endpoint");
    if (!/^https?:\/\/[^\s/]+/.test(endpoint)) throw new UsageError(`--endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`);
    const r = await veil.registerNode({ account: s.account, endpoint, encryptionKey: v["encryption-key"] ? bytes32(v["encryption-key"], "--encryption-key") : undefined });
    out(ctx, { operator: s.account.address, endpoint, hash: r.hash }, `registered operator ${s.account.address} at ${endpoint}\ntx ${r.hash}`);
  },

  async "node stake"(ctx, s) {
    const veil = await s.veil();
    const staking = await s.token(s.addresses.stakingToken);
    const value = amount(need(ctx.values.amount, "amount"), staking.decimals, "--amount");
    const r = await veil.stake({ account: s.account, amount: value });
    const n = await veil.getNode({ address: s.account.address });
    out(ctx, { operator: s.account.address, amount: value, stake: n.stake, hash: r.hash, approvalHash: r.approvalHash ?? null },
      `staked ${await s.fmt(s.addresses.stakingToken, value)}; stake is now ${await s.fmt(s.addresses.stakingToken, n.stake)}\ntx ${r.hash}`);
  },

  async "node join"(ctx, s) {
    const veil = await s.veil();
    const modelId = bytes32(need(ctx.values.model, "model"), "--model");
    const r = await veil.joinModel({ account: s.account, modelId });
    out(ctx, { operator: s.account.address, modelId, hash: r.hash }, `joined model ${modelId}\ntx ${r.hash}`);
  },

  async "node leave"(ctx, s) {
    const veil = await s.veil();
    const modelId = bytes32(need(ctx.values.model, "model"), "--model");
    const r = await veil.leaveModel({ account: s.account, modelId });
    out(ctx, { operator: s.account.address, modelId, hash: r.hash }, `left model ${modelId}\ntx ${r.hash}`);
  },

  async "node unbond"(ctx, s) {
    const veil = await s.veil();
    const staking = await s.token(s.addresses.stakingToken);
    const value = amount(need(ctx.values.amount, "amount"), staking.decimals, "--amount");
    const r = await veil.requestUnbond({ account: s.account, amount: value });
    out(ctx, { operator: s.account.address, amount: value, unbondEnd: r.unbondEnd, hash: r.hash },
      `unbonding ${await s.fmt(s.addresses.stakingToken, value)}; withdrawable after ${await s.when(r.unbondEnd)}\ntx ${r.hash}`);
  },

  async "node withdraw"(ctx, s) {
    const veil = await s.veil();
    const r = await veil.withdrawUnbonded({ account: s.account });
    out(ctx, { operator: s.account.address, amount: r.amount, hash: r.hash }, `withdrew ${await s.fmt(s.addresses.stakingToken, r.amount)}\ntx ${r.hash}`);
  },

  async "node status"(ctx, s) {
    const v = ctx.values;
    const veil = await s.veil();
    const who = v.address ? address(v.address, "--address") : s.accountAddress;
    if (!who) throw new UsageError("pass --address or --private-key");
    const n = await veil.getNode({ address: who });
    const earnings = await veil.getEarnings({ address: who });
    const ledger = await s.ledger();
    const f = (x: bigint) => s.fmt(s.addresses.stakingToken, x);
    out(ctx, { ...n, earnings, ledger },
      [
        `operator ${who}: ${n.registered ? (n.eligible ? "eligible" : "registered, not eligible (stake below minimum)") : "not registered"}`,
        `  endpoint   ${n.endpoint || "-"}`,
        `  stake      ${await f(n.stake)} (${await f(n.locked)} locked, ${await f(n.freeStake)} free)`,
        `  unbonding  ${await f(n.unbonding)}${n.unbondEnd ? `, withdrawable ${await s.when(n.unbondEnd)}` : ""}`,
        `  models     ${n.models.length ? n.models.join(", ") : "-"}`,
        `  earnings   ${await s.fmt(s.addresses.feeToken, earnings)} in FeeLedger ${ledger} (\`veil fees withdraw\`); staker rewards ${await s.fmt(s.addresses.feeToken, n.pendingRewards)}`,
      ].join("\n"));
  },

  async "job submit"(ctx, s) {
    const v = ctx.values;
    const modelId = bytes32(need(v.model, "model"), "--model");
    const file = need(v.input, "input");
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new UsageError(`cannot read --input ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const inputs = tensorsFromJson(text);
    const pay = v.pay; // one of the table's choices (checked by the parser)
    const timeout = v.timeout ? Number(uint(v.timeout, "--timeout")) * 1000 : undefined;
    const veil = await s.veil();
    const fee = await s.token(s.addresses.feeToken);
    const r = await veil.submitJob({
      account: s.account,
      modelId,
      inputs,
      redundancy: v.redundancy ? Number(uint(v.redundancy, "--redundancy")) : undefined,
      maxFee: v["max-fee"] ? amount(v["max-fee"], fee.decimals, "--max-fee") : undefined,
      payment: pay as "transfer" | "deposit" | "permit" | "allowance" | "auto" | undefined,
      allowNonFinite: v["allow-non-finite"] === true,
    });
    const pushes = (r as { blobPushes?: { operator: Address; ok: boolean; error?: string }[] }).blobPushes;
    const byRef = r.inputURI
      ? `\ninput sent by content address ${r.inputURI}${pushes ? `, pushed to ${pushes.filter((p) => p.ok).length}/${pushes.length} operators` : ""}`
      : "";
    if (!v.wait) {
      out(ctx, { jobId: formatJobId(r.jobId), operators: r.operators, fee: r.fee, inputHash: r.inputHash, inputURI: r.inputURI ?? null, hash: r.hash, ...(pushes ? { blobPushes: pushes } : {}) },
        `submitted job ${formatJobId(r.jobId)} (fee ${await s.fmt(s.addresses.feeToken, r.fee)}), operators ${r.operators.join(", ")}${byRef}\ntx ${r.hash}`);
      return;
    }
    ctx.io.stderr(`submitted job ${formatJobId(r.jobId)} (tx ${r.hash}), waiting for the result...${byRef}\n`);
    try {
      const res = await veil.waitForResult({ jobId: r.jobId, timeout, onChange: progress(ctx.io), fromBlock: r.receipt.blockNumber });
      await printResult(ctx, res);
    } catch (e) {
      if (e instanceof JobRefundedError) {
        const job = await veil.getJob({ jobId: r.jobId, fromBlock: r.receipt.blockNumber });
        throw new VeilError(`job ${formatJobId(r.jobId)} was refunded (${e.reason}): ${await refundNote(s, job, e.amount ?? job.price * BigInt(job.redundancy))}`, { cause: e });
      }
      throw e;
    }
  },

  async "job status"(ctx, s) {
    const id = jobId(ctx);
    const veil = await s.veil();
    const j = await veil.getJob({ jobId: id, fromBlock: s.startBlock });
    out(ctx, jobJson(j), await describeJob(s, j));
  },

  async "job result"(ctx, s) {
    const id = jobId(ctx);
    const veil = await s.veil();
    await printResult(ctx, await veil.getJobResult({ jobId: id, fromBlock: s.startBlock }));
  },

  async "job poke"(ctx, s) {
    const id = jobId(ctx);
    const veil = await s.veil();
    const r = await veil.pokeJob({ account: s.account, jobId: id });
    let note = "";
    if (r.status === "Refunded") {
      const j = await veil.getJob({ jobId: id, fromBlock: s.startBlock });
      note = `\nrefund: ${await refundNote(s, j, j.price * BigInt(j.redundancy))}`;
    }
    out(ctx, { jobId: formatJobId(id), status: r.status, hash: r.hash }, `poked job ${formatJobId(id)}: now ${r.status}${note}\ntx ${r.hash}`);
  },

  async "job finalize"(ctx, s) {
    const id = jobId(ctx);
    const veil = await s.veil();
    const r = await veil.finalizeJob({ account: s.account, jobId: id });
    out(ctx, { jobId: formatJobId(id), hash: r.hash }, `finalized job ${formatJobId(id)}\ntx ${r.hash}`);
  },

  async "fees withdraw"(ctx, s) {
    const veil = await s.veil();
    const to = ctx.values.to ? address(ctx.values.to, "--to") : s.account.address;
    const r = await veil.withdrawEarnings({ account: s.account, to });
    const ledger = await s.ledger();
    out(ctx, { account: s.account.address, to, amount: r.amount, ledger, hash: r.hash },
      `withdrew ${await s.fmt(s.addresses.feeToken, r.amount)} of earnings to ${to} (from FeeLedger ${ledger})\ntx ${r.hash}`);
  },

  async "fees show"(ctx, s) {
    const veil = await s.veil();
    const who = ctx.values.address ? address(ctx.values.address, "--address") : s.accountAddress;
    if (!who) throw new UsageError("pass --address or --private-key");
    const earnings = await veil.getEarnings({ address: who });
    const ledger = await s.ledger();
    out(ctx, { account: who, earnings, ledger, escrow: s.addresses.jobEscrow },
      `earnings of ${who}: ${await s.fmt(s.addresses.feeToken, earnings)} (\`veil fees withdraw\` takes them out)\n  held by    FeeLedger ${ledger} (of JobEscrow ${s.addresses.jobEscrow})`);
  },

  async "credits mint"(ctx, s) {
    const v = ctx.values;
    const veil = await credits(s);
    const n = amount(need(v.amount, "amount"), 18, "--amount");
    const r = await veil.mintCredits({ account: s.account, credits: n, maxCost: v["max-cost"] ? amount(v["max-cost"], 18, "--max-cost") : undefined });
    out(ctx, { account: s.account.address, credits: n, cost: r.cost, hash: r.hash }, `minted ${credit(n)} for ${await s.fmt(s.addresses.stakingToken, r.cost)}\ntx ${r.hash}`);
  },

  async "credits burn"(ctx, s) {
    const veil = await credits(s);
    const n = amount(need(ctx.values.amount, "amount"), 18, "--amount");
    const r = await veil.burnCredits({ account: s.account, credits: n });
    out(ctx, { account: s.account.address, credits: n, stakeReturned: r.stakeReturned, unlockTime: r.unlockTime, hash: r.hash },
      `burned ${credit(n)}; ${await s.fmt(s.addresses.stakingToken, r.stakeReturned)} unlock at ${await s.when(r.unlockTime)}\ntx ${r.hash}`);
  },

  async "credits allowance"(ctx, s) {
    const v = ctx.values;
    const veil = await credits(s);
    const who = v.address ? address(v.address, "--address") : s.accountAddress;
    if (!who) throw new UsageError("pass --address or --private-key");
    const agent = v.agent ? address(v.agent, "--agent") : undefined;
    const a = await veil.getCreditAllowance({ address: who, agent });
    const lines = [
      `credits of ${who}: ${credit(a.credits)}`,
      `  allowance left today  ${await s.fmt(s.addresses.feeToken, a.allowanceLeft)} (resets ${await s.when(a.nextReset)})`,
    ];
    if (agent) lines.push(`  agent ${agent} may spend ${await s.fmt(s.addresses.feeToken, a.agentAllowanceLeft ?? 0n)} more today`);
    out(ctx, { account: who, ...a, agent: agent ?? null, agentAllowanceLeft: a.agentAllowanceLeft ?? null }, lines.join("\n"));
  },

  async "credits grant-agent"(ctx, s) {
    const v = ctx.values;
    const veil = await credits(s);
    const agent = address(need(v.agent, "agent"), "--agent");
    const fee = await s.token(s.addresses.feeToken);
    const dailyCap = amount(need(v["daily-cap"], "daily-cap"), fee.decimals, "--daily-cap");
    const r = await veil.grantAgent({ account: s.account, agent, dailyCap });
    out(ctx, { holder: s.account.address, agent, dailyCap, hash: r.hash }, `agent ${agent} may spend up to ${await s.fmt(s.addresses.feeToken, dailyCap)} a day\ntx ${r.hash}`);
  },

  async "credits revoke-agent"(ctx, s) {
    const veil = await credits(s);
    const agent = address(need(ctx.values.agent, "agent"), "--agent");
    const r = await veil.revokeAgent({ account: s.account, agent });
    out(ctx, { holder: s.account.address, agent, hash: r.hash }, `revoked agent ${agent}\ntx ${r.hash}`);
  },

  async "deposit show"(ctx, s) {
    const veil = await s.veil();
    const who = ctx.values.address ? address(ctx.values.address, "--address") : s.accountAddress;
    if (!who) throw new UsageError("pass --address or --private-key");
    const balance = await veil.getDeposit({ address: who });
    const ledger = await s.ledger();
    out(ctx, { account: who, deposit: balance, ledger, escrow: s.addresses.jobEscrow },
      `deposit of ${who}: ${await s.fmt(s.addresses.feeToken, balance)} (refunds land here; \`veil deposit withdraw <amount>\` takes it out)\n  held by    FeeLedger ${ledger} (of JobEscrow ${s.addresses.jobEscrow})`);
  },

  async "deposit withdraw"(ctx, s) {
    const veil = await s.veil();
    const fee = await s.token(s.addresses.feeToken);
    const value = amount(need(ctx.positionals[0], "<amount>"), fee.decimals, "<amount>");
    const to = ctx.values.to ? address(ctx.values.to, "--to") : s.account.address;
    const r = await veil.withdrawDeposit({ account: s.account, amount: value, to });
    const balance = await veil.getDeposit({ address: s.account.address });
    const ledger = await s.ledger();
    out(ctx, { account: s.account.address, amount: value, to, deposit: balance, ledger, hash: r.hash },
      `withdrew ${await s.fmt(s.addresses.feeToken, value)} from the deposit in FeeLedger ${ledger}; ${await s.fmt(s.addresses.feeToken, balance)} left\ntx ${r.hash}`);
  },

  async deposit(ctx, s) {
    const veil = await s.veil();
    const fee = await s.token(s.addresses.feeToken);
    const value = amount(need(ctx.positionals[0], "<amount>"), fee.decimals, "<amount>");
    const r = await veil.deposit({ account: s.account, amount: value });
    const balance = await veil.getDeposit({ address: s.account.address });
    const ledger = await s.ledger();
    out(ctx, { account: s.account.address, amount: value, deposit: balance, ledger, hash: r.hash, approvalHash: r.approvalHash ?? null },
      `deposited ${await s.fmt(s.addresses.feeToken, value)} into FeeLedger ${ledger}; deposit is now ${await s.fmt(s.addresses.feeToken, balance)}\ntx ${r.hash}`);
  },

  async "dev time"(ctx, s) {
    let seconds: number | undefined;
    try {
      seconds = ctx.values.advance === undefined ? undefined : parseDuration(ctx.values.advance);
    } catch (e) {
      throw new UsageError(`--advance: ${(e as Error).message}`);
    }
    const client = await localChain(s);
    const before = Number((await getBlock(client, { blockTag: "latest" })).timestamp);
    if (seconds === undefined) {
      out(ctx, { timestamp: before }, `chain time ${new Date(before * 1000).toISOString().replace(".000Z", "Z")} (${formatDuration(before - Math.floor(Date.now() / 1000))} ${before >= Date.now() / 1000 ? "ahead of" : "behind"} this machine's clock)`);
      return;
    }
    await client.request({ method: "evm_increaseTime" as any, params: [seconds] as any });
    await client.request({ method: "evm_mine" as any, params: [] as any });
    const block = await getBlock(client, { blockTag: "latest" });
    const after = Number(block.timestamp);
    out(ctx, { advanced: seconds, timestamp: after, block: block.number },
      `advanced the chain ${formatDuration(seconds)}: time is now ${new Date(after * 1000).toISOString().replace(".000Z", "Z")} (block ${block.number})`);
  },

  async "dev mine"(ctx, s) {
    const client = await localChain(s);
    const n = ctx.values.blocks ? Number(uint(ctx.values.blocks, "--blocks")) : 1;
    if (n < 1 || n > 100_000) throw new UsageError(`--blocks must be 1 to 100000, got ${n}`);
    for (let i = 0; i < n; i++) await client.request({ method: "evm_mine" as any, params: [] as any });
    const block = await getBlock(client, { blockTag: "latest" });
    out(ctx, { mined: n, block: block.number }, `mined ${n} block${n === 1 ? "" : "s"}; head is block ${block.number}`);
  },
};

const credit = (x: bigint) => `${formatUnits(x, 18)} VCC`;

async function credits(s: Session) {
  const veil = await s.veil();
  if (!s.addresses.computeCredits) throw new VeilError("this deployment has no ComputeCredits contract");
  return veil;
}

/** A client for the chain, after checking that it is a local development chain (Hardhat, anvil). */
async function localChain(s: Session) {
  const probe = createPublicClient({ transport: http(s.rpc, { retryCount: 0 }) });
  let chainId: number;
  let client = "";
  try {
    chainId = await probe.getChainId();
    client = String(await probe.request({ method: "web3_clientVersion" as any }).catch(() => ""));
  } catch (e) {
    throw new VeilError(`cannot reach the RPC endpoint ${s.rpc}`, { cause: e });
  }
  const local = (chainId === 31337 || chainId === 1337) && /hardhat|anvil|edr|ganache/i.test(client);
  if (!local) throw new VeilError(`veil dev works on local development chains only; ${s.rpc} is chain ${chainId}${client ? ` (${client})` : ""}`);
  return probe;
}

function progress(io: Io) {
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  return (job: Job) => {
    const step =
      job.status === "Assigned"
        ? `waiting for ${job.redundancy > 1 ? `commitments (${slotsIn(job, "committed")}/${job.redundancy})` : "the operator's result"}`
        : job.status === "Revealing"
          ? `waiting for reveals (${slotsIn(job, "revealed")}/${job.redundancy})`
          : job.status === "Proposed"
            ? "result posted on-chain; fetching it from the operator and checking its hash"
            : job.status;
    io.stderr(`[${elapsed()}] job ${formatJobId(job.jobId)}: ${job.status}: ${step}\n`);
  };
}

function slotsIn(job: Job, state: SlotState) {
  return job.slots.filter((s) => s.state === state).length;
}

async function printResult(ctx: Ctx, r: { jobId: bigint; resultHash: Hex; operator: Address; outputs: any }) {
  const outputs = tensorsToJson(r.outputs);
  if (ctx.values.output) writeFileSync(ctx.values.output, JSON.stringify(outputs, null, 2) + "\n");
  const human = [`job ${formatJobId(r.jobId)}: result ${r.resultHash} (from ${r.operator})`];
  for (const [name, t] of Object.entries(outputs)) {
    const data = t.data.length > 16 ? `${JSON.stringify(t.data.slice(0, 16)).slice(0, -1)}, ... ${t.data.length - 16} more]` : JSON.stringify(t.data);
    human.push(`  ${name}: ${t.type}[${t.dims.join(",")}] ${data}`);
  }
  if (ctx.values.output) human.push(`written to ${ctx.values.output}`);
  out(ctx, { jobId: formatJobId(r.jobId), resultHash: r.resultHash, operator: r.operator, outputs }, human.join("\n"));
}

// ---------------------------------------------------------------------------------------------------------------------

/**
 * Runs the CLI with `argv` (without node and script). Returns the exit code; never throws.
 */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  let json = argv.includes("--json");
  let spec: CommandSpec | undefined;
  const program = buildProgram(io, async (inv) => {
    spec = inv.spec;
    json = Boolean(inv.values.json);
    const ctx: Ctx = { values: inv.values, positionals: inv.positionals, io, json, spec: inv.spec };
    if (spec.name === "node start") {
      // The worker gets the command line without the words `node start`, everything else untouched (it has its own --help).
      const at = argv.indexOf("node");
      return (await loadWorker()).runWorker([...argv.slice(0, at), ...argv.slice(argv.indexOf("start", at) + 1)]);
    }
    await HANDLERS[spec.name]!(ctx, new Session(ctx));
  });
  try {
    if (argv.length === 0) {
      io.stdout(program.helpInformation());
      return 0;
    }
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // help, printed by commander
    return report(e, io, json, spec);
  }
}

async function loadWorker(): Promise<{ runWorker: (argv: string[]) => Promise<void> }> {
  let mod: { runWorker?: (argv: string[]) => Promise<void> };
  try {
    mod = await import("@veil/worker" as string);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ERR_MODULE_NOT_FOUND" && String((e as Error).message).includes("worker/src/main")) {
      throw new VeilError("the worker is not available: worker/src/main.ts is missing from this checkout", { cause: e });
    }
    throw e;
  }
  if (typeof mod.runWorker !== "function") throw new VeilError("worker/src/main.ts does not export runWorker(argv)");
  return mod as { runWorker: (argv: string[]) => Promise<void> };
}

function report(e: unknown, io: Io, json: boolean, spec?: CommandSpec): number {
  const usage = e instanceof UsageError;
  const err = decodeVeilError(e);
  const line = err instanceof VeilContractError ? err.shortMessage : `${err.name}: ${err.shortMessage}`;
  if (json) io.stdout(JSON.stringify({ error: { name: err instanceof VeilContractError ? err.errorName : err.name, message: err.shortMessage, ...(err instanceof VeilContractError ? { args: err.args } : {}) } }, jsonReplacer) + "\n");
  io.stderr(`error: ${line}\n`);
  const command = usage ? (e.command ?? spec?.name) : undefined;
  if (usage) io.stderr(`run \`veil ${command ? `${command} ` : ""}--help\` for usage\n`);
  if (process.env.VEIL_DEBUG) io.stderr(`${(e as Error)?.stack ?? e}\n`);
  return usage ? 2 : 1;
}

function defaultIo(): Io {
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    isTTY: Boolean(process.stderr.isTTY),
  };
}

export default main;
