/**
 * Worker configuration: one zod schema (`WorkerConfigSchema`), each setting registered with its env var, CLI flag,
 * aliases, description and secret flag, drives parsing, validation, `--help` output and redaction.
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
import { scrypt as scryptNode } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { scryptAsync as scryptNoble } from "@noble/hashes/scrypt.js";
import { z } from "zod";
import { LOG_LEVELS, REDACTED, redactUrl } from "./internal/log.js";

export type Hex = `0x${string}`;

// ---------------------------------------------------------------------------------------------------------------
// Schema

/** What a setting shows outside its value schema: where it is read from and how --help describes it. */
export interface SettingMeta {
  env: string;
  flag: string;
  /** Older or alternative flags (the `veil` CLI's names), accepted as this one. */
  flagAliases?: readonly string[];
  /** Older or alternative environment variables, read when `env` is unset. */
  envAliases?: readonly string[];
  /** Displayed type. */
  type: string;
  description: string;
  /** Shown instead of the default value in --help. */
  defaultText?: string;
  /** Said when a required setting is absent (default "required"). */
  requiredText?: string;
  secret?: boolean;
  /** Boolean flags take no value (`--flag`, `--no-flag`, `--flag=false`). */
  boolean?: boolean;
  /** List flags may be repeated and comma-separated. */
  list?: boolean;
  /** A file path, resolved against the directory of the source that gave it. */
  path?: boolean;
}

/** The registry that holds each setting's SettingMeta. */
export const settingMeta = z.registry<SettingMeta>();
const setting = <T extends z.ZodType>(schema: T, meta: SettingMeta): T => (settingMeta.add(schema as z.ZodType, meta), schema);

const show = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};
const trimmed = (v: unknown) => (typeof v === "string" ? v.trim() : v);

const text = z.string({ error: (i) => `expected a string, got ${show(i.input)}` }).trim();
/** For secrets: the error never shows the value. */
const secretText = z.string({ error: "expected a string" });

function int(min: number, max: number) {
  const range = { error: (i: { input?: unknown }) => `must be between ${min} and ${max}, got ${String(i.input)}` };
  return z.preprocess(
    (v) => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v.trim()) : v),
    z.int({ error: (i) => `expected an integer, got ${show(i.input)}` }).min(min, range).max(max, range),
  );
}

function num(min: number, max: number) {
  const range = { error: (i: { input?: unknown }) => `must be between ${min} and ${max}, got ${String(i.input)}` };
  return z.preprocess(
    (v) => (typeof v === "string" && v.trim() !== "" && !Number.isNaN(Number(v)) ? Number(v) : v),
    z.number({ error: (i) => `expected a number, got ${show(i.input)}` }).min(min, range).max(max, range),
  );
}

const bool = z.preprocess(
  trimmed,
  z.union([z.boolean(), z.stringbool({ truthy: ["1", "true", "yes", "on"], falsy: ["0", "false", "no", "off"] })], {
    error: (i) => `expected a boolean (true/false/1/0/yes/no/on/off), got ${show(i.input)}`,
  }),
);

const filePath = text.min(1, "must not be empty");

function url(protocols: readonly string[]) {
  const names = protocols.join(", ");
  return text.pipe(
    z.url({
      protocol: new RegExp(`^(${protocols.join("|")})$`),
      error: (i) => `must be a URL using ${names}, got ${show(redactUrl(String(i.input)))}`,
    }),
  );
}

/** A list: an array (JSON), or comma-separated strings (env, flags; a repeated flag arrives comma-joined). */
function list<T extends z.ZodType>(item: T, emptyMessage?: string) {
  const items = z.array(item);
  return z.preprocess(
    (v) => (Array.isArray(v) ? v : typeof v === "string" ? v.split(",") : [v]).map(trimmed).filter((i) => i !== ""),
    emptyMessage ? items.min(1, emptyMessage) : items,
  );
}

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const hex32 = (message: string) =>
  z
    .string({ error: message })
    .regex(HEX32, message)
    .transform((s) => s.toLowerCase() as Hex);

const modelSpec = z.preprocess(
  (v) => {
    if (typeof v !== "string") return v;
    const eq = v.lastIndexOf("=");
    return eq > 0 && v.slice(eq + 1).startsWith("0x") ? { path: v.slice(0, eq), modelId: v.slice(eq + 1) } : { path: v };
  },
  z.strictObject(
    { path: filePath, modelId: hex32("modelId must be 0x followed by 64 hex digits").optional() },
    {
      error: (i) =>
        i.code === "unrecognized_keys"
          ? `unknown model key(s) ${i.keys.join(", ")} (expected path, modelId)`
          : `expected "path[=0xmodelId]" or {path, modelId?}, got ${show(i.input)}`,
    },
  ),
);

const autoStake = z.preprocess(
  (v) => (typeof v === "number" ? (Number.isFinite(v) && v >= 0 ? String(v) : "x") : v),
  text.transform((s, ctx) => {
    const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
    const fail = (message: string) => (ctx.issues.push({ code: "custom", message, input: s }), z.NEVER);
    if (!m) return fail(`expected an amount of VEIL tokens such as 5000 or 0.5, got ${show(s)}`);
    // Before this flag took tokens it took base units (10^18 per VEIL): refuse what looks like the old form.
    if (m[1]!.replace(/^0+/, "").length > 12) return fail(`${s} VEIL is more than 10^12 tokens: --auto-stake takes VEIL tokens (e.g. 5000), not base units`);
    if ((m[2]?.length ?? 0) > 18) return fail(`at most 18 decimals, got ${show(s)}`);
    const whole = m[1]!.replace(/^0+(?=\d)/, "");
    const frac = (m[2] ?? "").replace(/0+$/, "");
    return frac ? `${whole}.${frac}` : whole;
  }),
);

const privateKey = secretText
  .trim()
  .transform((s) => (s.startsWith("0x") ? s : `0x${s}`))
  .pipe(hex32("must be 32 bytes of hex (0x + 64 hex digits)"));

/** Published on chain: no credentials, no query; a trailing slash is dropped. */
const publicUrl = url(["http", "https"]).transform((s, ctx) => {
  const u = new URL(s);
  const fail = (message: string) => (ctx.issues.push({ code: "custom", message, input: s }), z.NEVER);
  if (u.username || u.password) return fail("must not contain credentials (it is published on chain)");
  if (u.search || u.hash) return fail("must not contain a query or fragment");
  return s.replace(/\/+$/, "");
});

const confirmations = z.preprocess(
  trimmed,
  z.union([z.literal("auto"), int(1, 1000)], { error: (i) => `expected "auto" or an integer between 1 and 1000, got ${show(i.input)}` }),
);

const logLevel = z.preprocess(
  (v) => (typeof v === "string" ? v.trim().toLowerCase() : v),
  z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }),
);

const host = text.regex(/^[A-Za-z0-9.\-:[\]]+$/, { error: (i) => `not a host name or IP: ${show(i.input)}` });

/** The configuration schema: the single source of truth for parsing, --help and redaction. */
export const WorkerConfigSchema = z.object({
  rpcUrls: setting(list(url(["http", "https", "ws", "wss"]), "at least one RPC URL is required"), {
    env: "VEIL_RPC_URL", flag: "--rpc-url", flagAliases: ["--rpc"], type: "url[]", list: true,
    description: "JSON-RPC endpoint(s), comma-separated or repeated; later ones are failovers (http, https, ws, wss)",
  }),
  chainId: setting(int(1, Number.MAX_SAFE_INTEGER).optional(), {
    env: "VEIL_CHAIN_ID", flag: "--chain-id", type: "int",
    description: "Expected chain id; the worker refuses to start if the RPC reports another one (default: trust the RPC)",
  }),
  privateKey: setting(privateKey.optional(), {
    env: "VEIL_PRIVATE_KEY", flag: "--private-key", flagAliases: ["--key"], type: "hex32", secret: true,
    description: "Operator private key (0x + 64 hex). Prefer a keystore; exactly one of privateKey / keystore is required",
  }),
  keystorePath: setting(filePath.optional(), {
    env: "VEIL_KEYSTORE", flag: "--keystore", type: "path", path: true,
    description: "Web3 Secret Storage v3 JSON keystore (scrypt or pbkdf2, aes-128-ctr) holding the operator key",
  }),
  // Not trimmed: whitespace may be part of a password.
  keystorePassword: setting(secretText.min(1, "must be a non-empty string").optional(), {
    env: "VEIL_KEYSTORE_PASSWORD", flag: "--keystore-password", type: "string", secret: true,
    description: "Keystore password (prefer keystorePasswordFile)",
  }),
  keystorePasswordFile: setting(filePath.optional(), {
    env: "VEIL_KEYSTORE_PASSWORD_FILE", flag: "--keystore-password-file", type: "path", path: true,
    description: "File containing the keystore password (one trailing newline is ignored); e.g. a container secret",
  }),
  deploymentsDir: setting(filePath.default("deployments"), {
    env: "VEIL_DEPLOYMENTS_DIR", flag: "--deployments-dir", type: "path", path: true,
    description: "Directory of per-chain deployment files (<chainId>.json) with the protocol contract addresses",
  }),
  addressesFile: setting(filePath.optional(), {
    env: "VEIL_DEPLOYMENT", envAliases: ["VEIL_ADDRESSES_FILE"], flag: "--deployment", flagAliases: ["--addresses-file"], type: "path", path: true,
    description: "Address book (deployments/<chainId>.json format, as the veil CLI's --deployment); overrides deploymentsDir",
  }),
  dataDir: setting(filePath.default(".veil/worker"), {
    env: "VEIL_DATA_DIR", flag: "--data-dir", type: "path", path: true,
    description: "Directory for the worker's SQLite state (one file per worker) and cached inputs",
  }),
  models: setting(list(modelSpec, "at least one model is required"), {
    env: "VEIL_MODELS", flag: "--model", type: "model[]", list: true, requiredText: "at least one model is required",
    description: 'ONNX models to serve: "path[=0xmodelId]", comma-separated or repeated; in JSON also {path, modelId?}',
  }),
  httpHost: setting(host.default("127.0.0.1"), {
    env: "VEIL_HTTP_HOST", flag: "--http-host", type: "host",
    description: "Interface for the results/health/metrics endpoint (use 0.0.0.0 to expose it, or a reverse proxy)",
  }),
  httpPort: setting(int(0, 65535).default(7420), {
    env: "VEIL_HTTP_PORT", flag: "--http-port", type: "int",
    description: "Port of the HTTP endpoint (0 = ephemeral)",
  }),
  publicUrl: setting(publicUrl.optional(), {
    env: "VEIL_PUBLIC_URL", flag: "--public-url", type: "url",
    description: "Public base URL of this worker's HTTP endpoint, registered on chain (required with autoRegister)",
  }),
  confirmations: setting(confirmations.default("auto"), {
    env: "VEIL_CONFIRMATIONS", flag: "--confirmations", type: "int|auto",
    description: 'Blocks (including the inclusion block) before acting on an event or tx; "auto" = 1 on 31337/1337, else 3',
  }),
  maxHeadLagBlocks: setting(int(1, 1_000_000).default(50), {
    env: "VEIL_MAX_HEAD_LAG_BLOCKS", flag: "--max-head-lag-blocks", type: "int",
    description: "/health is unhealthy (503) when the events processed lag the best head of any RPC endpoint by more than this",
  }),
  pollIntervalMs: setting(int(50, 600_000).default(2000), {
    env: "VEIL_POLL_INTERVAL_MS", flag: "--poll-interval-ms", type: "int",
    description: "How often to poll the chain for new blocks/events",
  }),
  maxConcurrency: setting(int(1, 1024).default(2), {
    env: "VEIL_MAX_CONCURRENCY", flag: "--max-concurrency", type: "int",
    description: "Jobs processed concurrently (inference batches in flight)",
  }),
  batchWindowMs: setting(int(0, 60_000).default(25), {
    env: "VEIL_BATCH_WINDOW_MS", flag: "--batch-window-ms", type: "int",
    description: "How long to wait to fill an inference batch (0 = no batching delay)",
  }),
  maxBatch: setting(int(1, 4096).default(8), {
    env: "VEIL_MAX_BATCH", flag: "--max-batch", type: "int",
    description: "Largest inference batch",
  }),
  intraOpThreads: setting(int(0, 1024).default(0), {
    env: "VEIL_INTRA_OP_THREADS", flag: "--intra-op-threads", type: "int",
    description: "ONNX Runtime intra-op threads per session (0 = runtime default)",
  }),
  gasBumpPercent: setting(int(20, 1000).default(25), {
    env: "VEIL_GAS_BUMP_PERCENT", flag: "--gas-bump-percent", type: "int",
    description: "Fee increase for a replacement tx (>= 20: clients reject replacements below a 10% bump; margin for rounding)",
  }),
  txTimeoutMs: setting(int(1000, 3_600_000).default(60_000), {
    env: "VEIL_TX_TIMEOUT_MS", flag: "--tx-timeout-ms", type: "int",
    description: "How long a sent tx may stay unmined before it is replaced with bumped fees",
  }),
  maxPostBatch: setting(int(1, 100).default(20), {
    env: "VEIL_MAX_POST_BATCH", flag: "--max-post-batch", type: "int",
    description: "Results, commits and reveals ready together go out in one escrow multicall of at most this many (1 = one tx each)",
  }),
  maxFinalizeBatch: setting(int(1, 200).default(50), {
    env: "VEIL_MAX_FINALIZE_BATCH", flag: "--max-finalize-batch", type: "int",
    description: "Own jobs past their challenge window are settled together, one escrow finalizeMany of at most this many per tx (1 = one tx each)",
  }),
  settleBackupDelayMs: setting(int(0, 3_600_000).default(15_000), {
    env: "VEIL_SETTLE_BACKUP_DELAY_MS", flag: "--settle-backup-delay-ms", type: "int",
    description: "k > 1 jobs are settled by the operator in slot jobId mod k; the next one in the rota settles a job still unsettled this long later (ms per rank)",
  }),
  declineMarginSeconds: setting(int(0, 86_400).default(60), {
    env: "VEIL_DECLINE_MARGIN_SECONDS", flag: "--decline-margin-seconds", type: "int",
    description: "Decline (no penalty) a job whose input blob or private key has not arrived this long before its commit deadline",
  }),
  maxBlobBytes: setting(int(1024, 2 ** 31).default(64 * 1024 * 1024), {
    env: "VEIL_MAX_BLOB_BYTES", flag: "--max-blob-bytes", type: "int", defaultText: "67108864 (64 MiB)",
    description: "Largest input blob accepted at PUT /blobs/<sha256> or fetched from another operator",
  }),
  maxPendingBlobBytes: setting(int(0, Number.MAX_SAFE_INTEGER).default(256 * 1024 * 1024), {
    env: "VEIL_MAX_PENDING_BLOB_BYTES", flag: "--max-pending-blob-bytes", type: "int", defaultText: "268435456 (256 MiB)",
    description: "Total bytes of uploaded blobs no job of this worker has claimed yet; further unclaimed uploads get HTTP 507",
  }),
  pendingBlobTtlSeconds: setting(int(10, 86_400 * 7).default(900), {
    env: "VEIL_PENDING_BLOB_TTL_SECONDS", flag: "--pending-blob-ttl-seconds", type: "int",
    description: "An uploaded blob no job claims within this time is deleted",
  }),
  logLevel: setting(logLevel.default("info"), {
    env: "VEIL_LOG_LEVEL", flag: "--log-level", type: LOG_LEVELS.join("|"),
    description: "Minimum log level (JSON lines on stdout)",
  }),
  metrics: setting(bool.default(true), {
    env: "VEIL_METRICS", flag: "--metrics", type: "bool", boolean: true,
    description: "Serve Prometheus metrics at GET /metrics",
  }),
  validator: setting(bool.default(false), {
    env: "VEIL_VALIDATOR", flag: "--validator", type: "bool", boolean: true,
    description: "Validator mode: re-run a sample of other operators' jobs and dispute mismatching results",
  }),
  spotCheckRate: setting(num(0, 1).default(0.05), {
    env: "VEIL_SPOT_CHECK_RATE", flag: "--spot-check-rate", type: "0..1",
    description: "Fraction of finished jobs a validator re-checks",
  }),
  autoRegister: setting(bool.default(false), {
    env: "VEIL_AUTO_REGISTER", flag: "--auto-register", type: "bool", boolean: true,
    description: "Register the node (publicUrl) on chain at start-up if it is not registered, or update a changed URL",
  }),
  /** Stake to top up to at start-up, in staking tokens (a decimal string, e.g. "5000"); "0" = never. */
  autoStake: setting(autoStake.default("0"), {
    env: "VEIL_AUTO_STAKE", flag: "--auto-stake", type: "VEIL", defaultText: "0 (off)",
    description: "Top the operator's stake up to this many VEIL tokens at start-up, e.g. 5000 or 2500.5, as `veil node stake --amount` (0 = never)",
  }),
  shutdownGraceMs: setting(int(0, 600_000).default(15_000), {
    env: "VEIL_SHUTDOWN_GRACE_MS", flag: "--shutdown-grace-ms", type: "int",
    description: "Time allowed for a graceful shutdown before the process is forced to exit",
  }),
});

type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export type WorkerConfig = DeepReadonly<z.output<typeof WorkerConfigSchema>>;
export type ModelSpec = WorkerConfig["models"][number];
export type ConfigKey = keyof WorkerConfig;
export type ConfigSource = "default" | "file" | "env" | "flag";

/** One setting: its key, its value schema and its metadata. */
export interface Setting extends SettingMeta {
  key: ConfigKey;
  schema: z.ZodType;
}

/** Every setting in schema order (what --help lists). */
export const CONFIG_SCHEMA: readonly Setting[] = Object.entries(WorkerConfigSchema.shape).map(([key, schema]) => ({
  key: key as ConfigKey,
  schema,
  ...settingMeta.get(schema)!,
}));

const BY_KEY = new Map(CONFIG_SCHEMA.map((s) => [s.key as string, s]));
const BY_FLAG = new Map(CONFIG_SCHEMA.flatMap((s) => [s.flag, ...(s.flagAliases ?? [])].map((flag) => [flag, s] as const)));
export const CONFIG_FILE_ENV = "VEIL_CONFIG";
export const CONFIG_FILE_FLAG = "--config";
const PATH_FIELDS: readonly ConfigKey[] = ["keystorePath", "keystorePasswordFile", "addressesFile"];

/** The default of a setting (undefined when it has none), as --help shows it. */
function defaultOf(s: Setting): unknown {
  const r = s.schema.safeParse(undefined);
  return r.success ? r.data : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Loading

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

function parseArgv(argv: readonly string[], cwd: string, issues: ConfigIssue[]): { values: Map<string, RawValue>; configFile?: string } {
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
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (name === CONFIG_FILE_FLAG) {
      configFile = value ?? argv[++i];
      if (configFile === undefined) issues.push({ field: "config", source: "flag", origin: name, message: "missing value" });
      continue;
    }
    let spec = BY_FLAG.get(name);
    const negated = !spec && name.startsWith("--no-") ? BY_FLAG.get(`--${name.slice(5)}`) : undefined;
    if (negated?.boolean && value === undefined) [spec, value] = [negated, "false"];
    if (!spec) {
      issues.push({ field: name, source: "flag", message: "unknown flag (see --help)" });
      continue;
    }
    if (value === undefined && spec.boolean) value = "true";
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2)) {
        issues.push({ field: spec.key, source: "flag", origin: name, message: "missing value" });
        continue;
      }
      value = next;
      i++;
    }
    // A repeated list flag accumulates (the list schema splits on commas); any other repeated flag: the last wins.
    const prev = values.get(spec.key);
    if (spec.list && prev) value = `${prev.value as string},${value}`;
    values.set(spec.key, { value, source: "flag", origin: name, baseDir: cwd });
  }
  return { values, ...(configFile !== undefined ? { configFile } : {}) };
}

function readConfigFile(file: string | Record<string, unknown>, cwd: string, issues: ConfigIssue[], warnings: string[]): Map<string, RawValue> {
  const values = new Map<string, RawValue>();
  let obj: unknown = file;
  let baseDir = cwd;
  let name = "config object";
  if (typeof file === "string") {
    name = path.resolve(cwd, file);
    baseDir = path.dirname(name);
    try {
      obj = JSON.parse(readFileSync(name, "utf8"));
    } catch (err) {
      const msg = (err as NodeJS.ErrnoException).code === "ENOENT" ? "file not found" : `cannot read JSON: ${(err as Error).message}`;
      issues.push({ field: "config", source: "file", origin: name, message: msg });
      return values;
    }
    const hasSecret = obj !== null && typeof obj === "object" && ("privateKey" in obj || "keystorePassword" in obj);
    if (hasSecret && process.platform !== "win32" && (statSync(name).mode & 0o077) !== 0) {
      warnings.push(`${name} contains a secret but is readable by group/others; chmod 600 it`);
    }
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    issues.push({ field: "config", source: "file", origin: name, message: "must be a JSON object" });
    return values;
  }
  for (const [k, v] of Object.entries(obj)) {
    if (k === "$schema" || k === "//") continue;
    if (!BY_KEY.has(k)) issues.push({ field: k, source: "file", origin: name, message: "unknown configuration key" });
    else if (v !== null && v !== undefined) values.set(k, { value: v, source: "file", origin: name, baseDir });
  }
  return values;
}

/** Resolves a path setting (or the models' paths) against the directory of the source that gave it. */
function resolvePaths(s: Setting, value: unknown, baseDir: string): unknown {
  if (s.path) return path.resolve(baseDir, value as string);
  if (s.key === "models") return (value as ModelSpec[]).map((m) => ({ ...m, path: path.resolve(baseDir, m.path) }));
  return value;
}

/** A zod issue in the user's terms: list items are numbered from 1, and secret fields never show a quoted value. */
function toIssue(s: Setting, raw: RawValue, issue: z.core.$ZodIssue): ConfigIssue {
  const item = issue.path.find((p) => typeof p === "number");
  let message = item === undefined ? issue.message : `item ${item + 1}: ${issue.message}`;
  if (s.secret) message = message.replace(/"[^"]*"/g, `"${REDACTED}"`);
  return { field: s.key, source: raw.source, origin: raw.origin, message };
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
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];

  const flags = parseArgv(options.argv ?? [], cwd, issues);
  const fileRef = options.file ?? flags.configFile ?? env[CONFIG_FILE_ENV];
  const file = fileRef !== undefined && fileRef !== "" ? readConfigFile(fileRef, cwd, issues, warnings) : new Map<string, RawValue>();

  const out: Record<string, unknown> = {};
  const sources: Partial<Record<ConfigKey, ConfigSource>> = {};
  const failed = new Set<string>(issues.map((i) => i.field));
  for (const s of CONFIG_SCHEMA) {
    const envName = [s.env, ...(s.envAliases ?? [])].find((name) => env[name] !== undefined && env[name] !== "");
    const raw: RawValue | undefined =
      flags.values.get(s.key) ??
      (envName !== undefined ? { value: env[envName], source: "env", origin: envName, baseDir: cwd } : undefined) ??
      file.get(s.key);
    if (!raw) {
      if (!s.schema.safeParse(undefined).success) {
        failed.add(s.key);
        issues.push({ field: s.key, source: "config", message: `${s.requiredText ?? "required"} (${s.env} or ${s.flag})` });
      } else if (defaultOf(s) !== undefined) {
        out[s.key] = resolvePaths(s, defaultOf(s), cwd);
        sources[s.key] = "default";
      }
      continue;
    }
    const result = s.schema.safeParse(raw.value);
    if (!result.success) {
      failed.add(s.key);
      issues.push(...result.error.issues.map((i) => toIssue(s, raw, i)));
      continue;
    }
    out[s.key] = resolvePaths(s, result.data, raw.baseDir);
    sources[s.key] = raw.source;
    if (s.secret && raw.source === "flag") {
      warnings.push(`${s.flag} exposes a secret in the process list and shell history; use ${s.env} or a keystore`);
    }
  }

  // Cross-field rules.
  const add = (field: string, message: string) => issues.push({ field, source: "config", message });
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
  const models = (out.models as ModelSpec[] | undefined) ?? [];
  const ids = models.map((m) => m.modelId).filter((x) => x !== undefined);
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
      if (p !== undefined && !existsSync(p)) issues.push({ field: key, source: sources[key] ?? "config", message: `file not found: ${p}` });
    }
    models.forEach((m, i) => {
      if (!existsSync(m.path)) issues.push({ field: "models", source: sources.models ?? "config", message: `model ${i + 1}: file not found: ${m.path}` });
    });
  }

  if (issues.length > 0) throw new ConfigError(issues);
  return { config: deepFreeze(out as WorkerConfig), sources, warnings };
}

/** Parses and validates the configuration; throws ConfigError listing every invalid field. */
export function loadConfig(options: LoadConfigOptions = {}): WorkerConfig {
  return loadConfigWithSources(options).config;
}

/** A copy that is safe to log or print: secrets replaced, credentials stripped from RPC URLs. */
export function redactedConfig(config: WorkerConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of CONFIG_SCHEMA) {
    const v = config[s.key];
    if (v === undefined) continue;
    if (s.secret) out[s.key] = REDACTED;
    else if (s.key === "rpcUrls") out[s.key] = (v as readonly string[]).map(redactUrl);
    else out[s.key] = v;
  }
  return out;
}

/** The --help table: name, env var, flag, default, description (secrets marked). */
export function describeConfig(): string {
  const rows = CONFIG_SCHEMA.map((s) => {
    const aliases = s.flagAliases?.length ? ` (alias ${s.flagAliases.join(", ")})` : "";
    const flag = (s.boolean ? `${s.flag}, --no-${s.flag.slice(2)}` : `${s.flag} <${s.type}>`) + aliases;
    const d = defaultOf(s);
    const def = s.defaultText ?? (d === undefined ? "-" : String(d));
    const env = s.envAliases?.length ? `${s.env} (or ${s.envAliases.join(", ")})` : s.env;
    return [s.key + (s.secret ? " (secret)" : ""), env, flag, def, s.description];
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
// Keystore (Web3 Secret Storage Definition v3), decrypted by ethers

export class KeystoreError extends Error {
  override name = "KeystoreError";
}

/** Refuses KDF parameters that would pin the CPU or memory (geth writes n=2^18, r=8, p=1; eth-keyfile c=10^6). */
function checkKdfCost(crypto: Record<string, unknown>) {
  const params = (crypto.kdfparams ?? {}) as Record<string, unknown>;
  const bound = (name: string, max: number) => {
    const v = params[name];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1 || v > max) throw new KeystoreError(`keystore kdfparams.${name} must be an integer in [1, ${max}]`);
  };
  const kdf = String(crypto.kdf).toLowerCase();
  if (kdf === "scrypt") {
    [["n", 2 ** 22], ["r", 32], ["p", 16]].forEach(([n, max]) => bound(n as string, max as number));
    if (128 * (params.n as number) * (params.r as number) > 2 ** 30) throw new KeystoreError("keystore scrypt parameters need more than 1 GiB of memory (128 * n * r)");
  } else if (kdf === "pbkdf2") bound("c", 10_000_000);
  else throw new KeystoreError(`unsupported keystore kdf ${String(crypto.kdf)}`);
}

/**
 * scrypt for ethers' `scrypt.register` hook: Node's (OpenSSL, off the event loop; 1.4 s instead of 4.3 s for ethers'
 * JS one at geth's n=2^18 on a 2-core machine). ethers' own (@noble/hashes 1.3) and OpenSSL both refuse N >= 2^(16r),
 * which valid keystores use (the spec's own vector, eth-keyfile's and nim-eth's scrypt defaults: n=2^18, r=1, p=8);
 * those go to @noble/hashes 2's scrypt.
 */
async function scrypt(password: Uint8Array, salt: Uint8Array, N: number, r: number, p: number, dkLen: number): Promise<Uint8Array> {
  const maxmem = 128 * N * r + 128 * r * p + 64 * 1024 * 1024;
  try {
    return await new Promise<Uint8Array>((resolve, reject) =>
      scryptNode(password, salt, dkLen, { N, r, p, maxmem }, (err, key) => (err ? reject(err) : resolve(key))),
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ERR_CRYPTO_INVALID_SCRYPT_PARAMS") throw err;
    return scryptNoble(password, salt, { N, r, p, dkLen, maxmem });
  }
}

let ethers: Promise<typeof import("ethers")> | undefined;
/** ethers, loaded on first use (a keystore is configured), with the scrypt above unless an application locked it. */
function loadEthers() {
  return (ethers ??= import("ethers").then((lib) => {
    try {
      lib.scrypt.register(scrypt);
    } catch {
      // ethers.lock() was called: keep its scrypt.
    }
    return lib;
  }));
}

/**
 * Decrypts a Web3 Secret Storage v3 keystore (scrypt or pbkdf2 KDF, aes-128-ctr cipher, keccak-256 MAC) with ethers'
 * `decryptKeystoreJson`, which checks the MAC, the key and the keystore's `address` field, and returns the private
 * key. Errors never contain the key or the password.
 */
export async function decryptKeystore(keystore: string | Record<string, unknown>, password: string): Promise<Hex> {
  let ks: Record<string, unknown>;
  try {
    ks = typeof keystore === "string" ? (JSON.parse(keystore) as Record<string, unknown>) : keystore;
  } catch {
    throw new KeystoreError("keystore is not valid JSON");
  }
  if (ks === null || typeof ks !== "object" || Array.isArray(ks)) throw new KeystoreError("keystore must be a JSON object");
  if (ks.version !== 3) throw new KeystoreError(`unsupported keystore version ${String(ks.version)} (expected 3)`);
  const crypto = (ks.crypto ?? ks.Crypto) as Record<string, unknown> | undefined; // geth writes "crypto"; ethers and old tools "Crypto"
  if (!crypto || typeof crypto !== "object") throw new KeystoreError("keystore crypto section missing");
  checkKdfCost(crypto);

  const { decryptKeystoreJson } = await loadEthers();
  const json = JSON.stringify(ks);
  // The spec and geth take the password's UTF-8 bytes as they are; ethers NFKC-normalises a string first. Try both.
  const raw = new TextEncoder().encode(password);
  const candidates = password === password.normalize("NFKC") ? [raw] : [raw, password];
  for (const candidate of candidates) {
    try {
      return (await decryptKeystoreJson(json, candidate)).privateKey as Hex;
    } catch (err) {
      const e = err as { code?: string; argument?: string; shortMessage?: string };
      if (e.code === "INVALID_ARGUMENT" && e.argument === "password") continue;
      if (e.argument === "address") throw new KeystoreError("keystore address does not match the decrypted key");
      if (e.argument === "privateKey") throw new KeystoreError("keystore holds an invalid secp256k1 private key");
      // ethers' shortMessage leaves the offending value out (its message does not).
      throw new KeystoreError(`keystore cannot be decrypted: ${e.shortMessage ?? (err as Error).message}`, { cause: e.shortMessage ? undefined : err });
    }
  }
  throw new KeystoreError("wrong keystore password (MAC mismatch)");
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
