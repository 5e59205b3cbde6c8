/**
 * The `veil` command line (bin/veil.mjs loads this file through tsx). Usage: docs/cli.md, or `veil --help`.
 * Output: human-readable text on stdout, or one JSON object with `--json`; progress on stderr; errors as
 * `error: <Name>: <message>` with exit code 1 (2 for usage errors). The private key is never printed.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
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
import { readContract } from "viem/actions";
import type { VeilAddresses } from "../addresses.js";
import { veilActions, type VeilActions } from "../decorators.js";
import { VeilContractError, VeilError, decodeVeilError } from "../errors.js";
import type { Job } from "../actions/jobs.js";
import { loadDeployment, loadDeploymentFile } from "../node.js";
import { sha256Hex, tensorsFromJson, tensorsToJson } from "../tensor.js";

export const USAGE = `veil: command line for the Veil inference protocol

Usage: veil <group> <command> [options]

Models
  veil models register --file <model.onnx> --price <fee units> [--royalty-bps <n>] [--redundancy <k>]
                       [--comparator exact|rounded:<decimals>] [--metadata-uri <uri>]
  veil models list
Nodes
  veil node register --endpoint <url> [--encryption-key <0x..32 bytes>]
  veil node stake --amount <VEIL>
  veil node join --model <modelId>
  veil node leave --model <modelId>
  veil node unbond --amount <VEIL>
  veil node withdraw
  veil node status [--address <operator>]
  veil node start [worker options]
Jobs
  veil job submit --model <modelId> --input <file.json> [--redundancy <k>] [--max-fee <fee units>]
                  [--pay transfer|deposit|permit|allowance|auto] [--wait] [--timeout <seconds>] [--output <file.json>]
  veil job status <jobId>
  veil job result <jobId> [--output <file.json>]
  veil job poke <jobId>
  veil job finalize <jobId>
Compute credits
  veil credits mint --amount <credits> [--max-cost <VEIL>]
  veil credits burn --amount <credits>
  veil credits allowance [--address <holder>] [--agent <address>]
  veil credits grant-agent --agent <address> --daily-cap <fee units>
  veil credits revoke-agent --agent <address>
Fees and deposits
  veil fees show [--address <account>]
  veil fees withdraw [--to <address>]
  veil deposit <amount>
  veil deposit withdraw <amount> [--to <address>]
  veil deposit show [--address <account>]

Options (every command)
  --rpc <url>            JSON-RPC endpoint (env VEIL_RPC_URL; default http://127.0.0.1:8545)
  --key <0x..>           private key of the sending account (env VEIL_PRIVATE_KEY; never printed)
  --deployment <file>    address book (env VEIL_DEPLOYMENT; default deployments/<chainId>.json)
  --json                 print one JSON object on stdout
  -h, --help             this text

Amounts are decimal token units (--price 0.05 is 50000 base units of a 6-decimal fee token; --amount 5000 is 5000 VEIL).
Docs: docs/cli.md`;

const OPTIONS = {
  rpc: { type: "string" },
  key: { type: "string" },
  deployment: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  file: { type: "string" },
  id: { type: "string" },
  price: { type: "string" },
  "royalty-bps": { type: "string" },
  redundancy: { type: "string" },
  comparator: { type: "string" },
  "metadata-uri": { type: "string" },
  endpoint: { type: "string" },
  "encryption-key": { type: "string" },
  amount: { type: "string" },
  model: { type: "string" },
  address: { type: "string" },
  input: { type: "string" },
  "max-fee": { type: "string" },
  pay: { type: "string" },
  wait: { type: "boolean" },
  timeout: { type: "string" },
  output: { type: "string" },
  to: { type: "string" },
  agent: { type: "string" },
  "daily-cap": { type: "string" },
  "max-cost": { type: "string" },
} as const satisfies ParseArgsConfig["options"];

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

/** A mistake in the command line (exit code 2). */
export class UsageError extends VeilError {
  override name = "UsageError";
}

type Io = { stdout: (s: string) => void; stderr: (s: string) => void; isTTY: boolean };

type Ctx = {
  values: Values;
  positionals: string[];
  io: Io;
  json: boolean;
};

function need(v: string | undefined, flag: string): string {
  if (v === undefined || v === "") throw new UsageError(`missing --${flag}`);
  return v;
}

function bytes32(v: string, what: string): Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(v)) throw new UsageError(`${what} must be 0x followed by 64 hex digits`);
  return v.toLowerCase() as Hex;
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
    this.rpc = ctx.values.rpc ?? process.env.VEIL_RPC_URL ?? "http://127.0.0.1:8545";
    const key = ctx.values.key ?? process.env.VEIL_PRIVATE_KEY;
    if (key !== undefined && key !== "") {
      // Validate without echoing: the key must never reach a message or a log.
      if (!/^(0x)?[0-9a-fA-F]{64}$/.test(key)) throw new UsageError("the private key (--key / VEIL_PRIVATE_KEY) must be 32 bytes of hex");
      this.#account = privateKeyToAccount((key.startsWith("0x") ? key : `0x${key}`) as Hex);
    }
  }

  get account(): Account {
    if (!this.#account) throw new UsageError("this command sends a transaction: pass --key or set VEIL_PRIVATE_KEY");
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
      throw new VeilError(`cannot reach the RPC endpoint ${this.rpc}`, { cause: e });
    }
    const chain = defineChain({
      id: chainId,
      name: `chain-${chainId}`,
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [this.rpc] } },
    });
    const file = this.ctx.values.deployment ?? process.env.VEIL_DEPLOYMENT;
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
}

function out(ctx: Ctx, json: Record<string, unknown>, human: string) {
  if (ctx.json) ctx.io.stdout(JSON.stringify(json, jsonReplacer) + "\n");
  else ctx.io.stdout(human + "\n");
}

function jobId(ctx: Ctx, i = 0): bigint {
  const v = ctx.positionals[i];
  if (v === undefined) throw new UsageError("missing <jobId>");
  return uint(v, "jobId");
}

function describeJob(job: Job): string {
  const lines = [
    `job ${job.jobId}: ${job.status}`,
    `  model      ${job.modelId}`,
    `  requester  ${job.requester}`,
    `  operators  ${job.operators.join(", ")}`,
    `  k          ${job.redundancy}, price ${job.price} per slot`,
    `  deadline   ${new Date(job.deadline * 1000).toISOString()}`,
    `  phase end  ${job.phaseEnd ? new Date(job.phaseEnd * 1000).toISOString() : "-"}`,
  ];
  if (job.result) lines.push(`  result     ${job.result}`);
  if (job.source === "events") lines.push("  (read from the escrow's events: the job settled and its record now holds a later job)");
  return lines.join("\n");
}

function jobJson(job: Job) {
  return { ...job, result: job.result ?? null };
}

// ---------------------------------------------------------------------------------------------------------------------

async function models(ctx: Ctx, s: Session, cmd: string | undefined) {
  const v = ctx.values;
  if (cmd === "register") {
    let modelId: Hex;
    if (v.file) modelId = sha256Hex(new Uint8Array(readFileSync(v.file)));
    else modelId = bytes32(need(v.id, "file (or --id)"), "--id");
    const veil = await s.veil();
    const fee = await s.token(s.addresses.feeToken);
    const price = amount(need(v.price, "price"), fee.decimals, "--price");
    let comparator: { kind: "exact" } | { kind: "rounded"; precision: number } = { kind: "exact" };
    if (v.comparator && v.comparator !== "exact") {
      const m = /^rounded:([0-9]{1,2})$/.exec(v.comparator);
      if (!m) throw new UsageError(`--comparator must be exact or rounded:<decimals>, got ${JSON.stringify(v.comparator)}`);
      comparator = { kind: "rounded", precision: Number(m[1]) };
    }
    const r = await veil.registerModel({
      account: s.account,
      modelId,
      price,
      royaltyBps: v["royalty-bps"] ? Number(uint(v["royalty-bps"], "--royalty-bps")) : 0,
      redundancy: v.redundancy ? Number(uint(v.redundancy, "--redundancy")) : 1,
      comparator,
      metadataURI: v["metadata-uri"] ?? "",
    });
    out(ctx, { modelId, index: r.index, price, hash: r.hash }, `registered model ${modelId} (index ${r.index}, price ${await s.fmt(s.addresses.feeToken, price)} per slot)\ntx ${r.hash}`);
    return;
  }
  if (cmd === "list") {
    const veil = await s.veil();
    const list = await veil.listModels();
    const rows: string[] = [];
    for (const m of list) {
      const cmp = m.comparator.kind === "exact" ? "exact" : `rounded:${m.comparator.precision}`;
      rows.push(`${m.modelId}  #${m.index}  ${await s.fmt(s.addresses.feeToken, m.price)}  k=${m.redundancy}  ${cmp}  ${m.active ? "active" : "inactive"}  owner ${m.owner}`);
    }
    out(ctx, { models: list }, rows.length ? rows.join("\n") : "no models registered");
    return;
  }
  throw new UsageError(`unknown command: veil models ${cmd ?? ""}`.trim());
}

async function node(ctx: Ctx, s: Session, cmd: string | undefined, argv: string[]) {
  const v = ctx.values;
  if (cmd === "start") {
    let mod: { runWorker?: (argv: string[]) => Promise<void> };
    try {
      mod = await import("../../../worker/src/main.js" as string);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ERR_MODULE_NOT_FOUND" && String((e as Error).message).includes("worker/src/main")) {
        throw new VeilError("the worker is not available: worker/src/main.ts is missing from this checkout", { cause: e });
      }
      throw e;
    }
    if (typeof mod.runWorker !== "function") throw new VeilError("worker/src/main.ts does not export runWorker(argv)");
    await mod.runWorker(argv);
    return;
  }
  const veil = await s.veil();
  const staking = await s.token(s.addresses.stakingToken);
  switch (cmd) {
    case "register": {
      const endpoint = need(v.endpoint, "endpoint");
      const r = await veil.registerNode({ account: s.account, endpoint, encryptionKey: v["encryption-key"] ? bytes32(v["encryption-key"], "--encryption-key") : undefined });
      out(ctx, { operator: s.account.address, endpoint, hash: r.hash }, `registered operator ${s.account.address} at ${endpoint}\ntx ${r.hash}`);
      return;
    }
    case "stake": {
      const value = amount(need(v.amount, "amount"), staking.decimals, "--amount");
      const r = await veil.stake({ account: s.account, amount: value });
      const n = await veil.getNode({ address: s.account.address });
      out(ctx, { operator: s.account.address, amount: value, stake: n.stake, hash: r.hash, approvalHash: r.approvalHash ?? null },
        `staked ${await s.fmt(s.addresses.stakingToken, value)}; stake is now ${await s.fmt(s.addresses.stakingToken, n.stake)}\ntx ${r.hash}`);
      return;
    }
    case "join":
    case "leave": {
      const modelId = bytes32(need(v.model, "model"), "--model");
      const r = cmd === "join" ? await veil.joinModel({ account: s.account, modelId }) : await veil.leaveModel({ account: s.account, modelId });
      out(ctx, { operator: s.account.address, modelId, hash: r.hash }, `${cmd === "join" ? "joined" : "left"} model ${modelId}\ntx ${r.hash}`);
      return;
    }
    case "unbond": {
      const value = amount(need(v.amount, "amount"), staking.decimals, "--amount");
      const r = await veil.requestUnbond({ account: s.account, amount: value });
      out(ctx, { operator: s.account.address, amount: value, unbondEnd: r.unbondEnd, hash: r.hash },
        `unbonding ${await s.fmt(s.addresses.stakingToken, value)}; withdrawable after ${new Date(r.unbondEnd * 1000).toISOString()}\ntx ${r.hash}`);
      return;
    }
    case "withdraw": {
      const r = await veil.withdrawUnbonded({ account: s.account });
      out(ctx, { operator: s.account.address, amount: r.amount, hash: r.hash }, `withdrew ${await s.fmt(s.addresses.stakingToken, r.amount)}\ntx ${r.hash}`);
      return;
    }
    case "status": {
      const who = v.address ? address(v.address, "--address") : s.accountAddress;
      if (!who) throw new UsageError("pass --address or --key");
      const n = await veil.getNode({ address: who });
      const earnings = await veil.getEarnings({ address: who });
      const f = (x: bigint) => s.fmt(s.addresses.stakingToken, x);
      out(ctx, { ...n, earnings },
        [
          `operator ${who}: ${n.registered ? (n.eligible ? "eligible" : "registered, not eligible (stake below minimum)") : "not registered"}`,
          `  endpoint   ${n.endpoint || "-"}`,
          `  stake      ${await f(n.stake)} (${await f(n.locked)} locked, ${await f(n.freeStake)} free)`,
          `  unbonding  ${await f(n.unbonding)}${n.unbondEnd ? ` until ${new Date(n.unbondEnd * 1000).toISOString()}` : ""}`,
          `  models     ${n.models.length ? n.models.join(", ") : "-"}`,
          `  earnings   ${await s.fmt(s.addresses.feeToken, earnings)}; staker rewards ${await s.fmt(s.addresses.feeToken, n.pendingRewards)}`,
        ].join("\n"));
      return;
    }
  }
  throw new UsageError(`unknown command: veil node ${cmd ?? ""}`.trim());
}

function progress(io: Io) {
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  return (job: Job) => {
    const step =
      job.status === "Assigned"
        ? `waiting for ${job.redundancy > 1 ? `commitments (${popcount(job.commitMask)}/${job.redundancy})` : "the operator's result"}`
        : job.status === "Revealing"
          ? `waiting for reveals (${popcount(job.revealMask)}/${job.redundancy})`
          : job.status;
    io.stderr(`[${elapsed()}] job ${job.jobId}: ${job.status}: ${step}\n`);
  };
}

function popcount(x: number) {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

async function printResult(ctx: Ctx, r: { jobId: bigint; resultHash: Hex; operator: Address; outputs: any }) {
  const outputs = tensorsToJson(r.outputs);
  if (ctx.values.output) writeFileSync(ctx.values.output, JSON.stringify(outputs, null, 2) + "\n");
  const human = [`job ${r.jobId}: result ${r.resultHash} (from ${r.operator})`];
  for (const [name, t] of Object.entries(outputs)) {
    const data = t.data.length > 16 ? `${JSON.stringify(t.data.slice(0, 16)).slice(0, -1)}, ... ${t.data.length - 16} more]` : JSON.stringify(t.data);
    human.push(`  ${name}: ${t.type}[${t.dims.join(",")}] ${data}`);
  }
  if (ctx.values.output) human.push(`written to ${ctx.values.output}`);
  out(ctx, { jobId: r.jobId, resultHash: r.resultHash, operator: r.operator, outputs }, human.join("\n"));
}

async function job(ctx: Ctx, s: Session, cmd: string | undefined) {
  const v = ctx.values;
  const veil = await s.veil();
  switch (cmd) {
    case "submit": {
      const modelId = bytes32(need(v.model, "model"), "--model");
      const file = need(v.input, "input");
      const inputs = tensorsFromJson(readFileSync(file, "utf8"));
      const fee = await s.token(s.addresses.feeToken);
      const pay = v.pay ?? "transfer";
      if (!["transfer", "deposit", "permit", "allowance", "auto"].includes(pay)) {
        throw new UsageError(`--pay must be transfer, deposit, permit, allowance or auto`);
      }
      const r = await veil.submitJob({
        account: s.account,
        modelId,
        inputs,
        redundancy: v.redundancy ? Number(uint(v.redundancy, "--redundancy")) : undefined,
        maxFee: v["max-fee"] ? amount(v["max-fee"], fee.decimals, "--max-fee") : undefined,
        payment: pay as "transfer" | "deposit" | "permit" | "allowance" | "auto",
      });
      if (!v.wait) {
        out(ctx, { jobId: r.jobId, operators: r.operators, fee: r.fee, inputHash: r.inputHash, hash: r.hash },
          `submitted job ${r.jobId} (fee ${await s.fmt(s.addresses.feeToken, r.fee)}), operators ${r.operators.join(", ")}\ntx ${r.hash}`);
        return;
      }
      ctx.io.stderr(`submitted job ${r.jobId} (tx ${r.hash}), waiting for the result...\n`);
      const res = await veil.waitForResult({
        jobId: r.jobId,
        timeout: v.timeout ? Number(uint(v.timeout, "--timeout")) * 1000 : undefined,
        onChange: progress(ctx.io),
        fromBlock: r.receipt.blockNumber,
      });
      await printResult(ctx, res);
      return;
    }
    case "status": {
      const j = await veil.getJob({ jobId: jobId(ctx), fromBlock: s.startBlock });
      out(ctx, jobJson(j), describeJob(j));
      return;
    }
    case "result": {
      const id = jobId(ctx);
      await printResult(ctx, await veil.getJobResult({ jobId: id, fromBlock: s.startBlock }));
      return;
    }
    case "poke": {
      const r = await veil.pokeJob({ account: s.account, jobId: jobId(ctx) });
      out(ctx, { jobId: jobId(ctx), status: r.status, hash: r.hash }, `poked job ${jobId(ctx)}: now ${r.status}\ntx ${r.hash}`);
      return;
    }
    case "finalize": {
      const r = await veil.finalizeJob({ account: s.account, jobId: jobId(ctx) });
      out(ctx, { jobId: jobId(ctx), hash: r.hash }, `finalized job ${jobId(ctx)}\ntx ${r.hash}`);
      return;
    }
  }
  throw new UsageError(`unknown command: veil job ${cmd ?? ""}`.trim());
}

async function fees(ctx: Ctx, s: Session, cmd: string | undefined) {
  const veil = await s.veil();
  if (cmd === "withdraw") {
    const to = ctx.values.to ? address(ctx.values.to, "--to") : s.account.address;
    const r = await veil.withdrawEarnings({ account: s.account, to });
    out(ctx, { account: s.account.address, to, amount: r.amount, hash: r.hash }, `withdrew ${await s.fmt(s.addresses.feeToken, r.amount)} of earnings to ${to}\ntx ${r.hash}`);
    return;
  }
  if (cmd === "show") {
    const who = ctx.values.address ? address(ctx.values.address, "--address") : s.accountAddress;
    if (!who) throw new UsageError("pass --address or --key");
    const earnings = await veil.getEarnings({ address: who });
    out(ctx, { account: who, earnings }, `earnings of ${who}: ${await s.fmt(s.addresses.feeToken, earnings)}`);
    return;
  }
  throw new UsageError(`unknown command: veil fees ${cmd ?? ""}`.trim());
}

async function creditsCmd(ctx: Ctx, s: Session, cmd: string | undefined) {
  const v = ctx.values;
  const veil = await s.veil();
  if (!s.addresses.computeCredits) throw new VeilError("this deployment has no ComputeCredits contract");
  const credit = (x: bigint) => `${formatUnits(x, 18)} VCC`;
  const veilAmt = (x: bigint) => s.fmt(s.addresses.stakingToken, x);
  switch (cmd) {
    case "mint": {
      const credits = amount(need(v.amount, "amount"), 18, "--amount");
      const r = await veil.mintCredits({ account: s.account, credits, maxCost: v["max-cost"] ? amount(v["max-cost"], 18, "--max-cost") : undefined });
      out(ctx, { account: s.account.address, credits, cost: r.cost, hash: r.hash }, `minted ${credit(credits)} for ${await veilAmt(r.cost)}\ntx ${r.hash}`);
      return;
    }
    case "burn": {
      const credits = amount(need(v.amount, "amount"), 18, "--amount");
      const r = await veil.burnCredits({ account: s.account, credits });
      out(ctx, { account: s.account.address, credits, stakeReturned: r.stakeReturned, unlockTime: r.unlockTime, hash: r.hash },
        `burned ${credit(credits)}; ${await veilAmt(r.stakeReturned)} unlock at ${new Date(r.unlockTime * 1000).toISOString()}\ntx ${r.hash}`);
      return;
    }
    case "allowance": {
      const who = v.address ? address(v.address, "--address") : s.accountAddress;
      if (!who) throw new UsageError("pass --address or --key");
      const agent = v.agent ? address(v.agent, "--agent") : undefined;
      const a = await veil.getCreditAllowance({ address: who, agent });
      const lines = [
        `credits of ${who}: ${credit(a.credits)}`,
        `  allowance left today  ${await s.fmt(s.addresses.feeToken, a.allowanceLeft)} (resets ${new Date(a.nextReset * 1000).toISOString()})`,
      ];
      if (agent) lines.push(`  agent ${agent} may spend ${await s.fmt(s.addresses.feeToken, a.agentAllowanceLeft ?? 0n)} more today`);
      out(ctx, { account: who, ...a, agent: agent ?? null, agentAllowanceLeft: a.agentAllowanceLeft ?? null }, lines.join("\n"));
      return;
    }
    case "grant-agent": {
      const agent = address(need(v.agent, "agent"), "--agent");
      const fee = await s.token(s.addresses.feeToken);
      const dailyCap = amount(need(v["daily-cap"], "daily-cap"), fee.decimals, "--daily-cap");
      const r = await veil.grantAgent({ account: s.account, agent, dailyCap });
      out(ctx, { holder: s.account.address, agent, dailyCap, hash: r.hash }, `agent ${agent} may spend up to ${await s.fmt(s.addresses.feeToken, dailyCap)} a day\ntx ${r.hash}`);
      return;
    }
    case "revoke-agent": {
      const agent = address(need(v.agent, "agent"), "--agent");
      const r = await veil.revokeAgent({ account: s.account, agent });
      out(ctx, { holder: s.account.address, agent, hash: r.hash }, `revoked agent ${agent}\ntx ${r.hash}`);
      return;
    }
  }
  throw new UsageError(`unknown command: veil credits ${cmd ?? ""}`.trim());
}

async function depositCmd(ctx: Ctx, s: Session, args: string[]) {
  const veil = await s.veil();
  const fee = await s.token(s.addresses.feeToken);
  const [first, second] = args;
  if (first === "show") {
    const who = ctx.values.address ? address(ctx.values.address, "--address") : s.accountAddress;
    if (!who) throw new UsageError("pass --address or --key");
    const balance = await veil.getDeposit({ address: who });
    out(ctx, { account: who, deposit: balance }, `deposit of ${who}: ${await s.fmt(s.addresses.feeToken, balance)}`);
    return;
  }
  if (first === "withdraw") {
    const value = amount(need(second ?? ctx.values.amount, "amount"), fee.decimals, "amount");
    const to = ctx.values.to ? address(ctx.values.to, "--to") : s.account.address;
    const r = await veil.withdrawDeposit({ account: s.account, amount: value, to });
    const balance = await veil.getDeposit({ address: s.account.address });
    out(ctx, { account: s.account.address, amount: value, to, deposit: balance, hash: r.hash },
      `withdrew ${await s.fmt(s.addresses.feeToken, value)} from the deposit; ${await s.fmt(s.addresses.feeToken, balance)} left\ntx ${r.hash}`);
    return;
  }
  const value = amount(need(first ?? ctx.values.amount, "amount"), fee.decimals, "amount");
  const r = await veil.deposit({ account: s.account, amount: value });
  const balance = await veil.getDeposit({ address: s.account.address });
  out(ctx, { account: s.account.address, amount: value, deposit: balance, hash: r.hash },
    `deposited ${await s.fmt(s.addresses.feeToken, value)}; deposit is now ${await s.fmt(s.addresses.feeToken, balance)}\ntx ${r.hash}`);
}

/**
 * Runs the CLI with `argv` (without node and script). Returns the exit code; never throws.
 */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  // `veil node start ...` hands everything after `start` to the worker untouched.
  const startAt = argv[0] === "node" && argv[1] === "start" ? 2 : -1;
  const own = startAt >= 0 ? argv.slice(0, startAt) : argv;
  const rest = startAt >= 0 ? argv.slice(startAt) : [];
  let json = own.includes("--json");
  try {
    const { values, positionals } = parseArgs({ args: own, options: OPTIONS, allowPositionals: true, strict: true });
    json = Boolean(values.json);
    const ctx: Ctx = { values: values as Values, positionals: positionals.slice(2), io, json };
    const [group, cmd] = positionals;
    if (values.help || !group || group === "help") {
      io.stdout(USAGE + "\n");
      return 0;
    }
    if (group === "node" && cmd === "start") {
      await node(ctx, undefined as unknown as Session, cmd, rest);
      return 0;
    }
    const s = new Session(ctx);
    switch (group) {
      case "models":
        await models(ctx, s, cmd);
        break;
      case "node":
        await node(ctx, s, cmd, rest);
        break;
      case "job":
        await job(ctx, s, cmd);
        break;
      case "fees":
        await fees(ctx, s, cmd);
        break;
      case "credits":
        await creditsCmd(ctx, s, cmd);
        break;
      case "deposit":
        await depositCmd(ctx, s, positionals.slice(1));
        break;
      default:
        throw new UsageError(`unknown command group ${JSON.stringify(group)} (see veil --help)`);
    }
    return 0;
  } catch (e) {
    const usage = e instanceof UsageError || (e as NodeJS.ErrnoException)?.code?.startsWith?.("ERR_PARSE_ARGS");
    const err = usage && !(e instanceof VeilError) ? new UsageError((e as Error).message) : decodeVeilError(e);
    const line = err instanceof VeilContractError ? err.shortMessage : `${err.name}: ${err.shortMessage}`;
    if (json) io.stdout(JSON.stringify({ error: { name: err instanceof VeilContractError ? err.errorName : err.name, message: err.shortMessage, ...(err instanceof VeilContractError ? { args: err.args } : {}) } }, jsonReplacer) + "\n");
    io.stderr(`error: ${line}\n`);
    if (usage) io.stderr("run `veil --help` for usage\n");
    if (process.env.VEIL_DEBUG) io.stderr(`${(e as Error)?.stack ?? e}\n`);
    return usage ? 2 : 1;
  }
}

function defaultIo(): Io {
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    isTTY: Boolean(process.stderr.isTTY),
  };
}

export default main;
