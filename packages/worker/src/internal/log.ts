/**
 * Structured JSON-lines logs for the Veil worker, written by pino.
 *
 * One line per record: `{"level":"info","time":"<ISO>",...bindings,"msg":"…",...fields}` (`msg` comes before the
 * call's fields, so `"msg":"shutdown complete".*"exitCode":0` matches). Child loggers carry bound fields
 * (`{chainId, jobId, slot}`). What this file adds to pino: the worker's `Logger` interface (message first, fields
 * second), a level shared by a root logger and all of its children, and values made JSON-safe (bigint → decimal
 * string, bytes → 0x hex, Error → {type, message, code, …, stack, cause}, URL → credentials stripped).
 *
 * Secrets are removed by pino's `redact` configuration (REDACT_PATHS): a field named in SECRET_FIELDS at the top
 * level (call fields or bindings), or in NESTED_SECRET_FIELDS up to three objects or arrays down, is written as
 * "[REDACTED]" (an unset one stays unset).
 * The default destination writes synchronously to stdout, so nothing is lost when the process exits right after
 * a line (shutdown.ts calls process.exit straight after "shutdown complete"). Logging never throws.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from "pino";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

export interface LogStream {
  write(chunk: string): unknown;
}

export interface Logger {
  trace(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  fatal(msg: string, fields?: LogFields): void;
  /** A logger that adds `bindings` to every record (later bindings/fields win on name clashes). */
  child(bindings: LogFields): Logger;
  isLevelEnabled(level: LogLevel): boolean;
  /** Shared by the root logger and all of its children. */
  level: LogLevel;
  readonly bindings: Readonly<LogFields>;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Defaults to stdout, written synchronously. */
  stream?: LogStream;
  /** Milliseconds since the epoch; injectable for tests. */
  clock?: () => number;
  bindings?: LogFields;
}

export const REDACTED = "[REDACTED]";

/** Field names whose values are never written (exact, case-sensitive names: pino matches paths literally). */
export const SECRET_FIELDS = [
  "privateKey", "private_key", "PRIVATE_KEY", "VEIL_PRIVATE_KEY", "key", "pk", "signingKey", "secretKey",
  "keystorePassword", "keystore_password", "KEYSTORE_PASSWORD", "VEIL_KEYSTORE_PASSWORD", "password", "passphrase",
  "mnemonic", "seedPhrase", "secret", "clientSecret", "apiKey", "api_key", "x-api-key", "accessToken",
  "refreshToken", "authorization", "Authorization", "cookie",
] as const;
/** The ones also looked for inside objects and arrays, down to REDACT_DEPTH levels below the top. */
export const NESTED_SECRET_FIELDS = [
  "privateKey", "private_key", "key", "pk", "keystorePassword", "keystore_password", "password", "passphrase",
  "mnemonic", "secret", "apiKey", "x-api-key", "accessToken", "authorization",
] as const;
/**
 * A top-level path costs nothing for other fields, but each nested path is tried on every field of every line
 * (about 70 µs for a five-field line here, against 3 µs with top-level paths only): that bounds the depth and
 * the nested list.
 */
export const REDACT_DEPTH = 3;
const redactPath = (parents: number, name: string) => {
  const up = Array<string>(parents).fill("*");
  return /^[A-Za-z_$][\w$]*$/.test(name) ? [...up, name].join(".") : `${up.join(".")}["${name}"]`;
};
/** pino `redact` paths: every SECRET_FIELDS name at the top level, NESTED_SECRET_FIELDS as `*.name` … `*.*.*.name`. */
export const REDACT_PATHS: readonly string[] = [
  ...SECRET_FIELDS.map((name) => redactPath(0, name)),
  ...NESTED_SECRET_FIELDS.flatMap((name) => Array.from({ length: REDACT_DEPTH }, (_, i) => redactPath(i + 1, name))),
];

/**
 * Strips credentials from an RPC/HTTP URL: userinfo, query values and path segments that look like API tokens
 * (Infura `/v3/<key>`, Alchemy `/v2/<key>`, …). Scheme, host, port and short path segments are kept.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return REDACTED;
  }
  if (u.username) u.username = "***";
  if (u.password) u.password = "***";
  u.pathname = u.pathname
    .split("/")
    .map((seg) => (/^[A-Za-z0-9_\-]{16,}$/.test(seg) ? "***" : seg))
    .join("/");
  if (u.search) u.search = [...new URLSearchParams(u.search).keys()].map((k) => `${encodeURIComponent(k)}=***`).join("&");
  return u.toString();
}

const MAX_DEPTH = 8;
const MAX_BYTES_SHOWN = 64;
const MAX_STRING = 16_384;
const MAX_ARRAY = 200;
/** Error properties worth a line (node system errors, viem BaseError, our typed errors); others may hold URLs or request bodies. */
const ERROR_FIELDS = ["code", "errno", "syscall", "status", "shortMessage", "details", "reason", "field", "issues"];
const RESERVED = new Set(["level", "time", "msg"]);

/** A JSON-safe copy of `value` (bigint, bytes, errors, maps, sets, dates, URLs, cycles, depth and size bounds). */
function jsonSafe(value: unknown, seen: WeakSet<object>, depth: number): unknown {
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "string":
      return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…(${value.length} chars)` : value;
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "function":
    case "symbol":
      return undefined;
  }
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return "[Circular]";
  if (depth >= MAX_DEPTH) return "[Truncated]";
  if (value instanceof Uint8Array) {
    const shown = Buffer.from(value.subarray(0, MAX_BYTES_SHOWN)).toString("hex");
    return value.length > MAX_BYTES_SHOWN ? `0x${shown}…(${value.length} bytes)` : `0x${shown}`;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  if (value instanceof URL) return redactUrl(value.href);
  seen.add(value);
  try {
    let entries: [string, unknown][];
    if (value instanceof Error) {
      const e = value as Error & Record<string, unknown>;
      entries = [["type", e.name], ["message", e.message], ...ERROR_FIELDS.map((k): [string, unknown] => [k, e[k]]), ["stack", e.stack], ["cause", e.cause]];
    } else if (Array.isArray(value) || value instanceof Set) {
      const all = [...value];
      const out = all.slice(0, MAX_ARRAY).map((v) => jsonSafe(v, seen, depth + 1) ?? null);
      if (all.length > MAX_ARRAY) out.push(`…(${all.length} items)`);
      return out;
    } else {
      entries = value instanceof Map ? [...value].map(([k, v]) => [String(k), v]) : Object.entries(value);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      const safe = jsonSafe(v, seen, depth + 1);
      if (safe !== undefined) out[k] = safe;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Fields as written: JSON-safe, without the keys the record itself owns (level, time, msg). */
function fieldsOf(fields: LogFields | undefined): LogFields {
  const out = jsonSafe(fields ?? {}, new WeakSet(), 0) as LogFields;
  for (const k of RESERVED) delete out[k];
  return out;
}

const LEVEL_VALUE: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

function checkLevel(level: unknown): asserts level is LogLevel {
  if (!isLogLevel(level)) throw new TypeError(`unknown log level ${String(level)} (one of ${LOG_LEVELS.join(", ")})`);
}

class PinoBackedLogger implements Logger {
  readonly #core: { level: LogLevel };
  readonly #pino: PinoLogger;
  readonly bindings: Readonly<LogFields>;

  constructor(core: { level: LogLevel }, logger: PinoLogger, bindings: LogFields) {
    this.#core = core;
    this.#pino = logger;
    this.bindings = bindings;
  }

  get level(): LogLevel {
    return this.#core.level;
  }
  set level(level: LogLevel) {
    checkLevel(level);
    this.#core.level = level;
  }

  isLevelEnabled(level: LogLevel): boolean {
    return level !== "silent" && LEVEL_VALUE[level] >= LEVEL_VALUE[this.#core.level];
  }

  child(bindings: LogFields): Logger {
    return new PinoBackedLogger(this.#core, this.#pino.child(fieldsOf(bindings)), { ...this.bindings, ...bindings });
  }

  trace(msg: string, fields?: LogFields): void {
    this.#write("trace", msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.#write("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#write("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#write("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#write("error", msg, fields);
  }
  fatal(msg: string, fields?: LogFields): void {
    this.#write("fatal", msg, fields);
  }

  #write(level: Exclude<LogLevel, "silent">, msg: string, fields: LogFields | undefined): void {
    if (!this.isLevelEnabled(level)) return;
    try {
      // `msg` inside the object (not pino's second argument) so that it is written before the fields.
      this.#pino[level]({ msg: String(msg), ...fieldsOf(fields) });
    } catch (err) {
      try {
        this.#pino[level]({ msg: String(msg), logError: String(err) });
      } catch {
        /* a broken log stream must not take the worker down */
      }
    }
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  checkLevel(level);
  const clock = options.clock;
  const root = pino(
    {
      level: "trace", // filtering is done by the shared level above, so that changing it reaches every child
      base: null, // no pid/hostname: a record is the message, its bindings and its fields
      // Errors are made JSON-safe above, wherever they sit; pino's `err` serializer would copy every property.
      serializers: { err: (v: unknown) => v },
      timestamp: clock ? () => `,"time":"${new Date(clock()).toISOString()}"` : pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: (v: unknown) => (v === undefined || v === null || v === "" ? v : REDACTED) },
    },
    (options.stream as DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: true }),
  );
  const bindings = { ...options.bindings };
  return new PinoBackedLogger({ level }, Object.keys(bindings).length > 0 ? root.child(fieldsOf(bindings)) : root, bindings);
}

/** A logger that drops everything (handy default for library components). */
export function nullLogger(): Logger {
  return createLogger({ level: "silent", stream: { write: () => true } });
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === "string" && (LOG_LEVELS as readonly string[]).includes(value);
}
