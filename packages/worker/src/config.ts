/**
 * Worker configuration: one schema table (name, env var, CLI flag, default, description, secret flag, parser) drives
 * parsing, validation, `--help` output and redaction.
 *
 * Sources, in increasing priority: defaults < JSON file < environment (VEIL_*) < CLI flags. A list given by a
 * higher source replaces the lower one (it is not merged); a repeated list flag (`--rpc-url a --rpc-url b`)
 * accumulates. Relative paths in the JSON file are resolved against the file's directory; relative paths from the
 * environment, flags and defaults against `cwd`.
 *
 * `loadConfig` validates everything and throws one ConfigError listing every problem (secret values are never
 * echoed). The result is deeply frozen. The signing key is resolved separately and asynchronously
 * (`resolvePrivateKey`), because a keystore takes a deliberate, expensive KDF to decrypt.
 *
 * Confirmations: a block/tx is acted on once `confirmations` blocks including its own exist (1 = included).
 * The default "auto" means 1 on local development chains (31337, 1337: automine, no reorgs) and 3 elsewhere
 * (well past the reorg depth seen in practice on Ethereum post-merge and on sequencer-based L2s, at a cost of a
 * few seconds). See `effectiveConfirmations`.
 */
import { createDecipheriv, pbkdf2, scrypt, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { scryptAsync as nobleScrypt } from "@noble/hashes/scrypt.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { privateKeyToAddress } from "viem/accounts";
import { LOG_LEVELS, REDACTED, redactUrl, type LogLevel } from "./internal/log.js";

export type Hex = `0x${string}`;

export interface ModelSpec {
  /** Path to the .onnx file. */
  readonly path: string;
  /** On-chain model id (bytes32). When absent the worker derives it from the model file. */
  readonly modelId?: Hex;
}

export interface WorkerConfig {
  readonly rpcUrls: readonly string[];
  readonly chainId?: number;
  readonly privateKey?: Hex;
  readonly keystorePath?: string;
  readonly keystorePassword?: string;
  readonly keystorePasswordFile?: string;
  readonly deploymentsDir: string;
  readonly addressesFile?: string;
  readonly dataDir: string;
  readonly models: readonly ModelSpec[];
  readonly httpHost: string;
  readonly httpPort: number;
  readonly publicUrl?: string;
  readonly confirmations: number | "auto";
  readonly pollIntervalMs: number;
  readonly maxConcurrency: number;
  readonly batchWindowMs: number;
  readonly maxBatch: number;
  readonly intraOpThreads: number;
  readonly gasBumpPercent: number;
  readonly txTimeoutMs: number;
  readonly maxPostBatch: number;
  readonly maxFinalizeBatch: number;
  readonly declineMarginSeconds: number;
  readonly maxBlobBytes: number;
  readonly maxPendingBlobBytes: number;
  readonly pendingBlobTtlSeconds: number;
  readonly logLevel: LogLevel;
  readonly metrics: boolean;
  readonly validator: boolean;
  readonly spotCheckRate: number;
  readonly autoRegister: boolean;
  /** Stake to top up to at start-up, in staking tokens (a decimal string, e.g. "5000"); "0" = never. */
  readonly autoStake: string;
  readonly shutdownGraceMs: number;
}

export type ConfigKey = keyof WorkerConfig;
export type ConfigSource = "default" | "file" | "env" | "flag";

export interface ConfigIssue {
  field: string;
  source: ConfigSource | "config";
  /** Where the value came from: the env var, flag or file name. */
  origin?: string;
  message: string;
}

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(
      `invalid worker configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
        issues.map((i) => `  - ${i.field}${i.origin ? ` (${i.origin})` : ""}: ${i.message}`).join("\n"),
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Schema

class Invalid extends Error {}

interface ParseContext {
  /** Directory that relative paths are resolved against. */
  baseDir: string;
  /** True for string-only sources (env, flags). */
  fromString: boolean;
}

interface FieldSpec<K extends ConfigKey = ConfigKey> {
  key: K;
  env: string;
  flag: string;
  /** Older or alternative flags (the `veil` CLI's names), accepted as this one. */
  flagAliases?: readonly string[];
  /** Older or alternative environment variables, read when `env` is unset. */
  envAliases?: readonly string[];
  /** Displayed type. */
  type: string;
  description: string;
  default?: WorkerConfig[K];
  /** Shown instead of the default value in --help. */
  defaultText?: string;
  secret?: boolean;
  /** Boolean flags take no value (`--flag`, `--no-flag`, `--flag=false`). */
  boolean?: boolean;
  /** List flags may be repeated and comma-separated. */
  list?: boolean;
  parse(raw: unknown, ctx: ParseContext): WorkerConfig[K];
}

const show = (v: unknown) => {
  const s = typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

function asString(raw: unknown): string {
  if (typeof raw !== "string") throw new Invalid(`expected a string, got ${show(raw)}`);
  return raw.trim();
}

function int(min: number, max: number) {
  return (raw: unknown): number => {
    const n = typeof raw === "number" ? raw : typeof raw === "string" && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!Number.isSafeInteger(n)) throw new Invalid(`expected an integer, got ${show(raw)}`);
    if (n < min || n > max) throw new Invalid(`must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function num(min: number, max: number) {
  return (raw: unknown): number => {
    const n = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw.trim()) : NaN;
    if (!Number.isFinite(n)) throw new Invalid(`expected a number, got ${show(raw)}`);
    if (n < min || n > max) throw new Invalid(`must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function bool(raw: unknown): boolean {
  if (typeof raw === "boolean") return raw;
  if (typeof raw === "string") {
    const v = raw.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(v)) return true;
    if (["0", "false", "no", "off"].includes(v)) return false;
  }
  throw new Invalid(`expected a boolean (true/false/1/0/yes/no/on/off), got ${show(raw)}`);
}

function filePath(raw: unknown, ctx: ParseContext): string {
  const s = asString(raw);
  if (s === "") throw new Invalid("must not be empty");
  return path.resolve(ctx.baseDir, s);
}

function list<T>(item: (raw: unknown, ctx: ParseContext) => T) {
  return (raw: unknown, ctx: ParseContext): readonly T[] => {
    const items: unknown[] = Array.isArray(raw)
      ? raw.flatMap((r) => (typeof r === "string" && ctx.fromString ? r.split(",") : [r]))
      : typeof raw === "string"
        ? raw.split(",")
        : [raw];
    const cleaned = items.map((i) => (typeof i === "string" ? i.trim() : i)).filter((i) => i !== "");
    return cleaned.map((i, idx) => {
      try {
        return item(i, ctx);
      } catch (err) {
        if (err instanceof Invalid) throw new Invalid(`item ${idx + 1}: ${err.message}`);
        throw err;
      }
    });
  };
}

function url(protocols: readonly string[]) {
  return (raw: unknown): string => {
    const s = asString(raw);
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new Invalid(`not a valid URL: ${show(redactUrl(s))}`);
    }
    if (!protocols.includes(u.protocol)) throw new Invalid(`must use ${protocols.join(" or ")} (got ${u.protocol})`);
    return s;
  };
}

const HEX32 = /^0x[0-9a-fA-F]{64}$/;

function modelSpec(raw: unknown, ctx: ParseContext): ModelSpec {
  if (typeof raw === "string") {
    const s = raw.trim();
    const eq = s.lastIndexOf("=");
    if (eq > 0 && s.slice(eq + 1).startsWith("0x")) {
      const id = s.slice(eq + 1);
      if (!HEX32.test(id)) throw new Invalid(`modelId must be 0x followed by 64 hex digits (in ${show(s)})`);
      return { path: filePath(s.slice(0, eq), ctx), modelId: id.toLowerCase() as Hex };
    }
    return { path: filePath(s, ctx) };
  }
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => k !== "path" && k !== "modelId");
    if (extra.length) throw new Invalid(`unknown model key(s) ${extra.join(", ")} (expected path, modelId)`);
    const spec: { path: string; modelId?: Hex } = { path: filePath(o.path, ctx) };
    if (o.modelId !== undefined) {
      if (typeof o.modelId !== "string" || !HEX32.test(o.modelId)) throw new Invalid("modelId must be 0x followed by 64 hex digits");
      spec.modelId = o.modelId.toLowerCase() as Hex;
    }
    return spec;
  }
  throw new Invalid(`expected "path[=0xmodelId]" or {path, modelId?}, got ${show(raw)}`);
}

function field<K extends ConfigKey>(spec: FieldSpec<K>): FieldSpec<K> {
  return spec;
}

/** The configuration schema: the single source of truth for parsing, --help and redaction. */
export const CONFIG_SCHEMA: readonly FieldSpec[] = [
  field({
    key: "rpcUrls",
    env: "VEIL_RPC_URL",
    flag: "--rpc-url",
    flagAliases: ["--rpc"],
    type: "url[]",
    list: true,
    description: "JSON-RPC endpoint(s), comma-separated or repeated; later ones are failovers (http, https, ws, wss)",
    parse: (raw, ctx) => {
      const urls = list(url(["http:", "https:", "ws:", "wss:"]))(raw, ctx);
      if (urls.length === 0) throw new Invalid("at least one RPC URL is required");
      return urls;
    },
  }),
  field({
    key: "chainId",
    env: "VEIL_CHAIN_ID",
    flag: "--chain-id",
    type: "int",
    description: "Expected chain id; the worker refuses to start if the RPC reports another one (default: trust the RPC)",
    parse: int(1, Number.MAX_SAFE_INTEGER),
  }),
  field({
    key: "privateKey",
    env: "VEIL_PRIVATE_KEY",
    flag: "--private-key",
    flagAliases: ["--key"],
    type: "hex32",
    secret: true,
    description: "Operator private key (0x + 64 hex). Prefer a keystore; exactly one of privateKey / keystore is required",
    parse: (raw) => {
      const s = asString(raw);
      const v = s.startsWith("0x") ? s : `0x${s}`;
      if (!HEX32.test(v)) throw new Invalid("must be 32 bytes of hex (0x + 64 hex digits)");
      return v.toLowerCase() as Hex;
    },
  }),
  field({
    key: "keystorePath",
    env: "VEIL_KEYSTORE",
    flag: "--keystore",
    type: "path",
    description: "Web3 Secret Storage v3 JSON keystore (scrypt or pbkdf2, aes-128-ctr) holding the operator key",
    parse: filePath,
  }),
  field({
    key: "keystorePassword",
    env: "VEIL_KEYSTORE_PASSWORD",
    flag: "--keystore-password",
    type: "string",
    secret: true,
    description: "Keystore password (prefer keystorePasswordFile)",
    parse: (raw) => {
      if (typeof raw !== "string" || raw.length === 0) throw new Invalid("must be a non-empty string");
      return raw; // not trimmed: whitespace may be part of a password
    },
  }),
  field({
    key: "keystorePasswordFile",
    env: "VEIL_KEYSTORE_PASSWORD_FILE",
    flag: "--keystore-password-file",
    type: "path",
    description: "File containing the keystore password (one trailing newline is ignored); e.g. a container secret",
    parse: filePath,
  }),
  field({
    key: "deploymentsDir",
    env: "VEIL_DEPLOYMENTS_DIR",
    flag: "--deployments-dir",
    type: "path",
    default: "deployments",
    description: "Directory of per-chain deployment files (<chainId>.json) with the protocol contract addresses",
    parse: filePath,
  }),
  field({
    key: "addressesFile",
    env: "VEIL_DEPLOYMENT",
    envAliases: ["VEIL_ADDRESSES_FILE"],
    flag: "--deployment",
    flagAliases: ["--addresses-file"],
    type: "path",
    description: "Address book (deployments/<chainId>.json format, as the veil CLI's --deployment); overrides deploymentsDir",
    parse: filePath,
  }),
  field({
    key: "dataDir",
    env: "VEIL_DATA_DIR",
    flag: "--data-dir",
    type: "path",
    default: ".veil/worker",
    description: "Directory for the worker's SQLite state (one file per worker) and cached inputs",
    parse: filePath,
  }),
  field({
    key: "models",
    env: "VEIL_MODELS",
    flag: "--model",
    type: "model[]",
    list: true,
    description: 'ONNX models to serve: "path[=0xmodelId]", comma-separated or repeated; in JSON also {path, modelId?}',
    parse: (raw, ctx) => list(modelSpec)(raw, ctx),
  }),
  field({
    key: "httpHost",
    env: "VEIL_HTTP_HOST",
    flag: "--http-host",
    type: "host",
    default: "127.0.0.1",
    description: "Interface for the results/health/metrics endpoint (use 0.0.0.0 to expose it, or a reverse proxy)",
    parse: (raw) => {
      const s = asString(raw);
      if (!/^[A-Za-z0-9.\-:\[\]]+$/.test(s)) throw new Invalid(`not a host name or IP: ${show(s)}`);
      return s;
    },
  }),
  field({
    key: "httpPort",
    env: "VEIL_HTTP_PORT",
    flag: "--http-port",
    type: "int",
    default: 7420,
    description: "Port of the HTTP endpoint (0 = ephemeral)",
    parse: int(0, 65535),
  }),
  field({
    key: "publicUrl",
    env: "VEIL_PUBLIC_URL",
    flag: "--public-url",
    type: "url",
    description: "Public base URL of this worker's HTTP endpoint, registered on chain (required with autoRegister)",
    parse: (raw) => {
      const s = url(["http:", "https:"])(raw);
      const u = new URL(s);
      if (u.username || u.password) throw new Invalid("must not contain credentials (it is published on chain)");
      if (u.search || u.hash) throw new Invalid("must not contain a query or fragment");
      return s.replace(/\/+$/, "");
    },
  }),
  field({
    key: "confirmations",
    env: "VEIL_CONFIRMATIONS",
    flag: "--confirmations",
    type: "int|auto",
    default: "auto",
    description: 'Blocks (including the inclusion block) before acting on an event or tx; "auto" = 1 on 31337/1337, else 3',
    parse: (raw) => (raw === "auto" || (typeof raw === "string" && raw.trim() === "auto") ? "auto" : int(1, 1000)(raw)),
  }),
  field({
    key: "pollIntervalMs",
    env: "VEIL_POLL_INTERVAL_MS",
    flag: "--poll-interval-ms",
    type: "int",
    default: 2000,
    description: "How often to poll the chain for new blocks/events",
    parse: int(50, 600_000),
  }),
  field({
    key: "maxConcurrency",
    env: "VEIL_MAX_CONCURRENCY",
    flag: "--max-concurrency",
    type: "int",
    default: 2,
    description: "Jobs processed concurrently (inference batches in flight)",
    parse: int(1, 1024),
  }),
  field({
    key: "batchWindowMs",
    env: "VEIL_BATCH_WINDOW_MS",
    flag: "--batch-window-ms",
    type: "int",
    default: 25,
    description: "How long to wait to fill an inference batch (0 = no batching delay)",
    parse: int(0, 60_000),
  }),
  field({
    key: "maxBatch",
    env: "VEIL_MAX_BATCH",
    flag: "--max-batch",
    type: "int",
    default: 8,
    description: "Largest inference batch",
    parse: int(1, 4096),
  }),
  field({
    key: "intraOpThreads",
    env: "VEIL_INTRA_OP_THREADS",
    flag: "--intra-op-threads",
    type: "int",
    default: 0,
    description: "ONNX Runtime intra-op threads per session (0 = runtime default)",
    parse: int(0, 1024),
  }),
  field({
    key: "gasBumpPercent",
    env: "VEIL_GAS_BUMP_PERCENT",
    flag: "--gas-bump-percent",
    type: "int",
    default: 25,
    description: "Fee increase for a replacement tx (>= 20: clients reject replacements below a 10% bump; margin for rounding)",
    parse: int(20, 1000),
  }),
  field({
    key: "txTimeoutMs",
    env: "VEIL_TX_TIMEOUT_MS",
    flag: "--tx-timeout-ms",
    type: "int",
    default: 60_000,
    description: "How long a sent tx may stay unmined before it is replaced with bumped fees",
    parse: int(1000, 3_600_000),
  }),
  field({
    key: "maxPostBatch",
    env: "VEIL_MAX_POST_BATCH",
    flag: "--max-post-batch",
    type: "int",
    default: 20,
    description: "Results, commits and reveals ready together go out in one escrow multicall of at most this many (1 = one tx each)",
    parse: int(1, 100),
  }),
  field({
    key: "maxFinalizeBatch",
    env: "VEIL_MAX_FINALIZE_BATCH",
    flag: "--max-finalize-batch",
    type: "int",
    default: 50,
    description: "Own jobs past their challenge window are settled together, one escrow finalizeMany of at most this many per tx (1 = one tx each)",
    parse: int(1, 200),
  }),
  field({
    key: "declineMarginSeconds",
    env: "VEIL_DECLINE_MARGIN_SECONDS",
    flag: "--decline-margin-seconds",
    type: "int",
    default: 60,
    description: "Decline (no penalty) a job whose input blob or private key has not arrived this long before its commit deadline",
    parse: int(0, 86_400),
  }),
  field({
    key: "maxBlobBytes",
    env: "VEIL_MAX_BLOB_BYTES",
    flag: "--max-blob-bytes",
    type: "int",
    default: 64 * 1024 * 1024,
    defaultText: "67108864 (64 MiB)",
    description: "Largest input blob accepted at PUT /blobs/<sha256> or fetched from another operator",
    parse: int(1024, 2 ** 31),
  }),
  field({
    key: "maxPendingBlobBytes",
    env: "VEIL_MAX_PENDING_BLOB_BYTES",
    flag: "--max-pending-blob-bytes",
    type: "int",
    default: 256 * 1024 * 1024,
    defaultText: "268435456 (256 MiB)",
    description: "Total bytes of uploaded blobs no job of this worker has claimed yet; further unclaimed uploads get HTTP 507",
    parse: int(0, Number.MAX_SAFE_INTEGER),
  }),
  field({
    key: "pendingBlobTtlSeconds",
    env: "VEIL_PENDING_BLOB_TTL_SECONDS",
    flag: "--pending-blob-ttl-seconds",
    type: "int",
    default: 900,
    description: "An uploaded blob no job claims within this time is deleted",
    parse: int(10, 86_400 * 7),
  }),
  field({
    key: "logLevel",
    env: "VEIL_LOG_LEVEL",
    flag: "--log-level",
    type: LOG_LEVELS.join("|"),
    default: "info",
    description: "Minimum log level (JSON lines on stdout)",
    parse: (raw) => {
      const s = asString(raw).toLowerCase();
      if (!(LOG_LEVELS as readonly string[]).includes(s)) throw new Invalid(`must be one of ${LOG_LEVELS.join(", ")}`);
      return s as LogLevel;
    },
  }),
  field({
    key: "metrics",
    env: "VEIL_METRICS",
    flag: "--metrics",
    type: "bool",
    boolean: true,
    default: true,
    description: "Serve Prometheus metrics at GET /metrics",
    parse: bool,
  }),
  field({
    key: "validator",
    env: "VEIL_VALIDATOR",
    flag: "--validator",
    type: "bool",
    boolean: true,
    default: false,
    description: "Validator mode: re-run a sample of other operators' jobs and dispute mismatching results",
    parse: bool,
  }),
  field({
    key: "spotCheckRate",
    env: "VEIL_SPOT_CHECK_RATE",
    flag: "--spot-check-rate",
    type: "0..1",
    default: 0.05,
    description: "Fraction of finished jobs a validator re-checks",
    parse: num(0, 1),
  }),
  field({
    key: "autoRegister",
    env: "VEIL_AUTO_REGISTER",
    flag: "--auto-register",
    type: "bool",
    boolean: true,
    default: false,
    description: "Register the node (publicUrl) on chain at start-up if it is not registered, or update a changed URL",
    parse: bool,
  }),
  field({
    key: "autoStake",
    env: "VEIL_AUTO_STAKE",
    flag: "--auto-stake",
    type: "VEIL",
    default: "0",
    defaultText: "0 (off)",
    description: "Top the operator's stake up to this many VEIL tokens at start-up, e.g. 5000 or 2500.5, as `veil node stake --amount` (0 = never)",
    parse: (raw) => {
      const s = typeof raw === "number" ? (Number.isFinite(raw) && raw >= 0 ? String(raw) : "x") : asString(raw);
      const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
      if (!m) throw new Invalid(`expected an amount of VEIL tokens such as 5000 or 0.5, got ${show(raw)}`);
      if (m[1]!.replace(/^0+/, "").length > 12) {
        // Before this flag took tokens it took base units (10^18 per VEIL): refuse what looks like the old form.
        throw new Invalid(`${s} VEIL is more than 10^12 tokens: --auto-stake takes VEIL tokens (e.g. 5000), not base units`);
      }
      if ((m[2]?.length ?? 0) > 18) throw new Invalid(`at most 18 decimals, got ${show(raw)}`);
      const whole = m[1]!.replace(/^0+(?=\d)/, "");
      const frac = (m[2] ?? "").replace(/0+$/, "");
      return frac ? `${whole}.${frac}` : whole;
    },
  }),
  field({
    key: "shutdownGraceMs",
    env: "VEIL_SHUTDOWN_GRACE_MS",
    flag: "--shutdown-grace-ms",
    type: "int",
    default: 15_000,
    description: "Time allowed for a graceful shutdown before the process is forced to exit",
    parse: int(0, 600_000),
  }),
];

const BY_KEY = new Map(CONFIG_SCHEMA.map((f) => [f.key as string, f]));
const BY_FLAG = new Map(CONFIG_SCHEMA.flatMap((f) => [f.flag, ...(f.flagAliases ?? [])].map((flag) => [flag, f] as const)));
export const CONFIG_FILE_ENV = "VEIL_CONFIG";
export const CONFIG_FILE_FLAG = "--config";
const PATH_FIELDS: readonly ConfigKey[] = ["keystorePath", "keystorePasswordFile", "addressesFile"];

// ---------------------------------------------------------------------------------------------------------------
// Loading

export interface LoadConfigOptions {
  /** CLI arguments (without node and script), e.g. process.argv.slice(2). */
  argv?: readonly string[];
  /** Environment; only VEIL_* variables are read. Default: none (pass process.env explicitly). */
  env?: Readonly<Record<string, string | undefined>>;
  /** JSON config: a path, or an already parsed object. Default: --config <path> or VEIL_CONFIG. */
  file?: string | Record<string, unknown>;
  /** Base for relative paths from env/flags/defaults. Default process.cwd(). */
  cwd?: string;
  /** Check that referenced files (models, keystore, password file, addresses file) exist. Default true. */
  checkFiles?: boolean;
}

export interface LoadedConfig {
  config: WorkerConfig;
  /** Which source each field's value came from (fields that are unset are absent). */
  sources: Partial<Record<ConfigKey, ConfigSource>>;
  /** Non-fatal advice (e.g. a secret passed on the command line). */
  warnings: string[];
}

/** True when argv asks for help (`-h` / `--help`). */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes("--help") || argv.includes("-h");
}

interface RawValue {
  value: unknown;
  source: ConfigSource;
  origin: string;
  baseDir: string;
}

function parseArgv(argv: readonly string[], issues: ConfigIssue[]): { values: Map<string, RawValue>; configFile?: string } {
  const values = new Map<string, RawValue>();
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") continue;
    if (!arg.startsWith("--")) {
      issues.push({ field: arg, source: "flag", message: "unexpected positional argument" });
      continue;
    }
    const eq = arg.indexOf("=");
    let name = eq >= 0 ? arg.slice(0, eq) : arg;
    let inline: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (name === CONFIG_FILE_FLAG) {
      configFile = inline ?? argv[++i];
      if (configFile === undefined) issues.push({ field: "config", source: "flag", origin: name, message: "missing value" });
      continue;
    }
    let spec = BY_FLAG.get(name);
    if (!spec && name.startsWith("--no-")) {
      const positive = BY_FLAG.get(`--${name.slice(5)}`);
      if (positive?.boolean && inline === undefined) {
        spec = positive;
        inline = "false";
        name = positive.flag;
      }
    }
    if (!spec) {
      issues.push({ field: name, source: "flag", message: "unknown flag (see --help)" });
      continue;
    }
    let value: string | undefined = inline;
    if (value === undefined) {
      if (spec.boolean) value = "true";
      else {
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith("--") && next.length > 2)) {
          issues.push({ field: spec.key, source: "flag", origin: name, message: "missing value" });
          continue;
        }
        value = next;
        i++;
      }
    }
    const prev = values.get(spec.key);
    const merged = spec.list && prev ? [...(prev.value as string[]), value] : spec.list ? [value] : value;
    values.set(spec.key, { value: merged, source: "flag", origin: name, baseDir: "" });
  }
  return { values, ...(configFile !== undefined ? { configFile } : {}) };
}

function readConfigFile(
  file: string | Record<string, unknown>,
  cwd: string,
  issues: ConfigIssue[],
  warnings: string[],
): { values: Map<string, RawValue>; name: string } {
  const values = new Map<string, RawValue>();
  let obj: unknown;
  let baseDir = cwd;
  let name = "config object";
  if (typeof file === "string") {
    const abs = path.resolve(cwd, file);
    name = abs;
    baseDir = path.dirname(abs);
    try {
      obj = JSON.parse(readFileSync(abs, "utf8"));
    } catch (err) {
      const msg = (err as NodeJS.ErrnoException).code === "ENOENT" ? "file not found" : `cannot read JSON: ${(err as Error).message}`;
      issues.push({ field: "config", source: "file", origin: abs, message: msg });
      return { values, name };
    }
    const hasSecret = obj !== null && typeof obj === "object" && ("privateKey" in obj || "keystorePassword" in obj);
    if (hasSecret && process.platform !== "win32" && (statSync(abs).mode & 0o077) !== 0) {
      warnings.push(`${abs} contains a secret but is readable by group/others; chmod 600 it`);
    }
  } else {
    obj = file;
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    issues.push({ field: "config", source: "file", origin: name, message: "must be a JSON object" });
    return { values, name };
  }
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (k === "$schema" || k === "//") continue;
    if (!BY_KEY.has(k)) {
      issues.push({ field: k, source: "file", origin: name, message: "unknown configuration key" });
      continue;
    }
    if (v === null || v === undefined) continue;
    values.set(k, { value: v, source: "file", origin: name, baseDir });
  }
  return { values, name };
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Like loadConfig, but also says where each value came from and returns warnings. */
export function loadConfigWithSources(options: LoadConfigOptions = {}): LoadedConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? {};
  const argv = options.argv ?? [];
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];

  const flags = parseArgv(argv, issues);
  const fileRef = options.file ?? flags.configFile ?? env[CONFIG_FILE_ENV];
  const file = fileRef !== undefined && fileRef !== "" ? readConfigFile(fileRef, cwd, issues, warnings).values : new Map<string, RawValue>();

  const out: Record<string, unknown> = {};
  const sources: Partial<Record<ConfigKey, ConfigSource>> = {};
  for (const spec of CONFIG_SCHEMA) {
    let raw: RawValue | undefined = flags.values.get(spec.key);
    if (raw) raw.baseDir = cwd;
    const envName = [spec.env, ...(spec.envAliases ?? [])].find((name) => env[name] !== undefined && env[name] !== "");
    if (!raw && envName !== undefined) raw = { value: env[envName], source: "env", origin: envName, baseDir: cwd };
    raw ??= file.get(spec.key);
    if (!raw) {
      if (spec.default !== undefined) {
        out[spec.key] = spec.parse(spec.default, { baseDir: cwd, fromString: false });
        sources[spec.key] = "default";
      }
      continue;
    }
    try {
      out[spec.key] = spec.parse(raw.value, { baseDir: raw.baseDir, fromString: raw.source !== "file" });
      sources[spec.key] = raw.source;
      if (spec.secret && raw.source === "flag") {
        warnings.push(`${spec.flag} exposes a secret in the process list and shell history; use ${spec.env} or a keystore`);
      }
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      issues.push({ field: spec.key, source: raw.source, origin: raw.origin, message: spec.secret ? redactSecretMessage(err.message) : err.message });
    }
  }

  // Cross-field rules.
  const add = (fieldName: string, message: string) => issues.push({ field: fieldName, source: "config", message });
  const failed = new Set(issues.map((i) => i.field));
  if (out.rpcUrls === undefined && !failed.has("rpcUrls")) add("rpcUrls", `required (${BY_KEY.get("rpcUrls")!.env} or --rpc-url)`);
  if (!failed.has("privateKey") && !failed.has("keystorePath")) {
    if (out.privateKey !== undefined && out.keystorePath !== undefined) add("privateKey", "set either privateKey or keystorePath, not both");
    if (out.privateKey === undefined && out.keystorePath === undefined) add("privateKey", "an operator key is required: privateKey or keystorePath");
  }
  if (out.keystorePath !== undefined) {
    if (out.keystorePassword === undefined && out.keystorePasswordFile === undefined && !failed.has("keystorePassword")) {
      add("keystorePassword", "keystorePath needs keystorePassword or keystorePasswordFile");
    }
    if (out.keystorePassword !== undefined && out.keystorePasswordFile !== undefined) {
      add("keystorePassword", "set either keystorePassword or keystorePasswordFile, not both");
    }
  } else if (out.keystorePassword !== undefined || out.keystorePasswordFile !== undefined) {
    add("keystorePassword", "a keystore password was given without keystorePath");
  }
  if (!failed.has("models") && ((out.models as ModelSpec[] | undefined)?.length ?? 0) === 0) {
    add("models", `at least one model is required (${BY_KEY.get("models")!.env} or --model)`);
  }
  const models = (out.models as ModelSpec[] | undefined) ?? [];
  const ids = models.map((m) => m.modelId).filter((x): x is Hex => x !== undefined);
  if (new Set(ids).size !== ids.length) add("models", "the same modelId is listed twice");
  if (new Set(models.map((m) => m.path)).size !== models.length) add("models", "the same model file is listed twice");
  if (out.autoRegister === true && out.publicUrl === undefined && !failed.has("publicUrl")) {
    add("publicUrl", "required when autoRegister is on (it is the endpoint registered on chain)");
  }
  if (out.autoStake !== undefined && out.autoStake !== "0" && out.autoRegister !== true) {
    warnings.push("autoStake is set but autoRegister is off: staking requires a registered node");
  }
  if (out.validator !== true && sources.spotCheckRate !== undefined && sources.spotCheckRate !== "default") {
    warnings.push("spotCheckRate has no effect unless validator mode is on");
  }
  if (out.publicUrl !== undefined) {
    const host = new URL(out.publicUrl as string).hostname;
    if (["localhost", "127.0.0.1", "0.0.0.0", "[::1]", "::1"].includes(host)) {
      warnings.push(`publicUrl ${out.publicUrl as string} is not reachable by requesters on another machine`);
    }
  }
  if (options.checkFiles ?? true) {
    for (const key of PATH_FIELDS) {
      const p = out[key] as string | undefined;
      if (p !== undefined && !failed.has(key) && !existsSync(p)) {
        issues.push({ field: key, source: sources[key] ?? "config", message: `file not found: ${p}` });
      }
    }
    models.forEach((m, i) => {
      if (!existsSync(m.path)) issues.push({ field: "models", source: sources.models ?? "config", message: `model ${i + 1}: file not found: ${m.path}` });
    });
  }

  if (issues.length > 0) throw new ConfigError(issues);
  return { config: deepFreeze(out as unknown as WorkerConfig), sources, warnings };
}

function redactSecretMessage(message: string): string {
  // Parsers of secret fields never echo values, but be defensive about anything quoted.
  return message.replace(/"[^"]*"/g, `"${REDACTED}"`);
}

/** Parses and validates the configuration; throws ConfigError listing every invalid field. */
export function loadConfig(options: LoadConfigOptions = {}): WorkerConfig {
  return loadConfigWithSources(options).config;
}

/** A copy that is safe to log or print: secrets replaced, credentials stripped from RPC URLs. */
export function redactedConfig(config: WorkerConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of CONFIG_SCHEMA) {
    const v = config[spec.key];
    if (v === undefined) continue;
    if (spec.secret) out[spec.key] = REDACTED;
    else if (spec.key === "rpcUrls") out[spec.key] = (v as readonly string[]).map(redactUrl);
    else out[spec.key] = v;
  }
  return out;
}

/** The --help table: name, env var, flag, default, description (secrets marked). */
export function describeConfig(): string {
  const rows = CONFIG_SCHEMA.map((f) => {
    const aliases = f.flagAliases?.length ? ` (alias ${f.flagAliases.join(", ")})` : "";
    const flag = (f.boolean ? `${f.flag}, --no-${f.flag.slice(2)}` : `${f.flag} <${f.type}>`) + aliases;
    const def =
      f.defaultText ??
      (f.default === undefined ? "-" : Array.isArray(f.default) ? f.default.join(",") : String(f.default));
    const env = f.envAliases?.length ? `${f.env} (or ${f.envAliases.join(", ")})` : f.env;
    return [f.key + (f.secret ? " (secret)" : ""), env, flag, def, f.description];
  });
  const header = ["NAME", "ENV", "FLAG", "DEFAULT", "DESCRIPTION"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cols: string[]) =>
    cols
      .map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [
    "Configuration (priority: flags > environment > JSON file (--config / VEIL_CONFIG) > defaults):",
    "",
    line(header),
    ...rows.map(line),
    "",
    "Secrets are never logged. Relative paths in the JSON file are resolved against the file's directory.",
  ].join("\n");
}

/** Confirmations to wait for on `chainId`, resolving "auto" (1 on local dev chains, 3 elsewhere). */
export function effectiveConfirmations(config: Pick<WorkerConfig, "confirmations">, chainId: number): number {
  if (config.confirmations !== "auto") return config.confirmations;
  return chainId === 31337 || chainId === 1337 ? 1 : 3;
}

// ---------------------------------------------------------------------------------------------------------------
// Keystore (Web3 Secret Storage Definition v3)

export class KeystoreError extends Error {
  override name = "KeystoreError";
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const scryptNode = promisify(scrypt) as (
  password: Buffer,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;
const pbkdf2Node = promisify(pbkdf2);

function hexBytes(v: unknown, what: string, len?: number): Buffer {
  if (typeof v !== "string") throw new KeystoreError(`keystore ${what} is missing`);
  const s = v.startsWith("0x") ? v.slice(2) : v;
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(s) || (len !== undefined && s.length !== len * 2)) {
    throw new KeystoreError(`keystore ${what} is not valid hex${len ? ` of ${len} bytes` : ""}`);
  }
  return Buffer.from(s, "hex");
}

function posInt(v: unknown, what: string, max: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1 || v > max) {
    throw new KeystoreError(`keystore kdfparams.${what} must be an integer in [1, ${max}]`);
  }
  return v;
}

async function deriveKey(crypto: Record<string, unknown>, password: Buffer): Promise<Buffer> {
  const params = crypto.kdfparams as Record<string, unknown> | undefined;
  if (!params || typeof params !== "object") throw new KeystoreError("keystore kdfparams missing");
  const salt = hexBytes(params.salt, "kdfparams.salt");
  const dklen = posInt(params.dklen, "dklen", 64);
  if (dklen < 32) throw new KeystoreError("keystore kdfparams.dklen must be >= 32");
  if (crypto.kdf === "scrypt") {
    // Bounds keep a hostile keystore from pinning CPU/memory (geth's standard is n=2^18, r=8, p=1).
    const n = posInt(params.n, "n", 2 ** 22);
    if ((n & (n - 1)) !== 0 || n < 2) throw new KeystoreError("keystore kdfparams.n must be a power of two");
    const r = posInt(params.r, "r", 32);
    const p = posInt(params.p, "p", 16);
    const maxmem = 128 * n * r + 128 * r * p + 64 * 1024 * 1024;
    try {
      return await scryptNode(password, salt, dklen, { N: n, r, p, maxmem });
    } catch (err) {
      // OpenSSL enforces RFC 7914's N < 2^(16r), which some valid keystores (incl. the spec's own test vector,
      // n=2^18 with r=1) violate. Fall back to a pure-JS scrypt for those parameters only.
      if ((err as NodeJS.ErrnoException).code !== "ERR_CRYPTO_INVALID_SCRYPT_PARAMS") throw err;
      return Buffer.from(await nobleScrypt(password, salt, { N: n, r, p, dkLen: dklen, maxmem }));
    }
  }
  if (crypto.kdf === "pbkdf2") {
    if (params.prf !== "hmac-sha256") throw new KeystoreError(`unsupported pbkdf2 prf ${String(params.prf)}`);
    const c = posInt(params.c, "c", 10_000_000);
    return pbkdf2Node(password, salt, c, dklen, "sha256");
  }
  throw new KeystoreError(`unsupported keystore kdf ${String(crypto.kdf)}`);
}

/**
 * Decrypts a Web3 Secret Storage v3 keystore (scrypt or pbkdf2-hmac-sha256 KDF, aes-128-ctr cipher, keccak-256
 * MAC) and returns the private key. Verifies the MAC in constant time before decrypting, the key's range, and the
 * keystore's `address` field when present.
 */
export async function decryptKeystore(keystore: string | Record<string, unknown>, password: string): Promise<Hex> {
  let ks: Record<string, unknown>;
  try {
    ks = typeof keystore === "string" ? (JSON.parse(keystore) as Record<string, unknown>) : keystore;
  } catch {
    throw new KeystoreError("keystore is not valid JSON");
  }
  if (ks === null || typeof ks !== "object") throw new KeystoreError("keystore must be a JSON object");
  if (ks.version !== 3) throw new KeystoreError(`unsupported keystore version ${String(ks.version)} (expected 3)`);
  const crypto = (ks.crypto ?? ks.Crypto) as Record<string, unknown> | undefined; // geth writes "crypto", old tools "Crypto"
  if (!crypto || typeof crypto !== "object") throw new KeystoreError("keystore crypto section missing");
  if (crypto.cipher !== "aes-128-ctr") throw new KeystoreError(`unsupported keystore cipher ${String(crypto.cipher)}`);
  const iv = hexBytes((crypto.cipherparams as Record<string, unknown> | undefined)?.iv, "cipherparams.iv", 16);
  const ciphertext = hexBytes(crypto.ciphertext, "ciphertext");
  const mac = hexBytes(crypto.mac, "mac", 32);

  // The spec treats the password as raw UTF-8; some tools (ethers) NFKC-normalise it first. Try both.
  const candidates = [password, password.normalize("NFKC")].filter((p, i, a) => a.indexOf(p) === i);
  let derived: Buffer | undefined;
  for (const candidate of candidates) {
    const dk = await deriveKey(crypto, Buffer.from(candidate, "utf8"));
    const actual = Buffer.from(keccak_256(Buffer.concat([dk.subarray(16, 32), ciphertext])));
    if (timingSafeEqual(actual, mac)) {
      derived = dk;
      break;
    }
  }
  if (!derived) throw new KeystoreError("wrong keystore password (MAC mismatch)");
  const decipher = createDecipheriv("aes-128-ctr", derived.subarray(0, 16), iv);
  const key = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  if (key.length !== 32) throw new KeystoreError(`keystore holds ${key.length} bytes, expected a 32-byte private key`);
  const scalar = BigInt(`0x${key.toString("hex")}`);
  if (scalar === 0n || scalar >= SECP256K1_N) throw new KeystoreError("keystore holds an invalid secp256k1 private key");
  const privateKey = `0x${key.toString("hex")}` as Hex;
  if (typeof ks.address === "string" && ks.address !== "") {
    const expected = ks.address.toLowerCase().replace(/^0x/, "");
    if (privateKeyToAddress(privateKey).toLowerCase().slice(2) !== expected) {
      throw new KeystoreError("keystore address does not match the decrypted key");
    }
  }
  return privateKey;
}

/** The operator's private key: from `privateKey`, or by decrypting the keystore with its password (file). */
export async function resolvePrivateKey(
  config: Pick<WorkerConfig, "privateKey" | "keystorePath" | "keystorePassword" | "keystorePasswordFile">,
): Promise<Hex> {
  if (config.privateKey) return config.privateKey;
  if (!config.keystorePath) throw new KeystoreError("no privateKey or keystorePath configured");
  let password = config.keystorePassword;
  if (password === undefined) {
    if (!config.keystorePasswordFile) throw new KeystoreError("no keystore password configured");
    password = (await readFile(config.keystorePasswordFile, "utf8")).replace(/\r?\n$/, "");
  }
  return decryptKeystore(await readFile(config.keystorePath, "utf8"), password);
}
