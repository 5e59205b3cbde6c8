/**
 * Structured JSON-lines logger for the Veil worker.
 *
 * One line per record: `{"time":"…","level":"info","msg":"…",...bindings,...fields}`. Child loggers carry bound
 * fields (`{chainId, jobId, slot}`) so every line about a job can be grepped/joined. Values are made JSON-safe
 * (bigint → decimal string, bytes → 0x hex, Error → {type,message,code,stack,cause}), cycles and depth are bounded,
 * and any field whose *name* looks like a secret (privateKey, password, secret, mnemonic, apiKey, authorization, …)
 * is replaced by "[REDACTED]" at every nesting level. Logging never throws.
 */

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const LEVEL_VALUE: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};

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
  /** Defaults to process.stdout. */
  stream?: LogStream;
  /** Milliseconds since the epoch; injectable for tests. */
  clock?: () => number;
  bindings?: LogFields;
}

export const REDACTED = "[REDACTED]";

// Compared against the field name lower-cased with every non-alphanumeric removed.
const SECRET_EXACT = new Set(["key", "pk", "secret", "password", "passwd", "pwd", "passphrase", "mnemonic", "cookie"]);
const SECRET_SUFFIXES = [
  "privatekey",
  "secretkey",
  "signingkey",
  "apikey",
  "accesskey",
  "secret",
  "password",
  "passwd",
  "passphrase",
  "mnemonic",
  "seedphrase",
  "authorization",
  "accesstoken",
  "authtoken",
  "bearertoken",
  "refreshtoken",
];
const SECRET_PREFIXES = ["privatekey", "password", "secret", "mnemonic", "passphrase"];

/** True when a field with this name must never be written out (`privateKey`, `keystore_password`, `API-KEY`, …). */
export function isSecretFieldName(name: string): boolean {
  const n = name.toLowerCase().replace(/[^a-z0-9]/g, "");
  if (n.length === 0) return false;
  if (SECRET_EXACT.has(n)) return true;
  return SECRET_SUFFIXES.some((s) => n.endsWith(s)) || SECRET_PREFIXES.some((p) => n.startsWith(p));
}

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
  if (u.search) {
    const keys = [...new URLSearchParams(u.search).keys()];
    u.search = keys.map((k) => `${encodeURIComponent(k)}=***`).join("&");
  }
  return u.toString();
}

const MAX_DEPTH = 8;
const MAX_BYTES_SHOWN = 64;
const MAX_STRING = 16_384;
const MAX_ARRAY = 200;

function hex(bytes: Uint8Array): string {
  let s = "0x";
  const n = Math.min(bytes.length, MAX_BYTES_SHOWN);
  for (let i = 0; i < n; i++) s += bytes[i]!.toString(16).padStart(2, "0");
  return bytes.length > n ? `${s}…(${bytes.length} bytes)` : s;
}

function serializeError(err: Error, seen: WeakSet<object>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: err.message };
  const e = err as Error & Record<string, unknown>;
  // Well-known extra fields (node system errors, viem BaseError, our typed errors).
  for (const k of ["code", "errno", "syscall", "status", "shortMessage", "details", "reason", "field", "issues"]) {
    if (e[k] !== undefined && !isSecretFieldName(k)) out[k] = sanitize(e[k], seen, depth + 1);
  }
  if (err.stack) out.stack = err.stack;
  if (err.cause !== undefined && depth < MAX_DEPTH) out.cause = sanitize(err.cause, seen, depth + 1);
  return out;
}

/** Makes an arbitrary value JSON-safe and redacts secret-named fields. Exported for reuse (e.g. error bodies). */
export function sanitize(value: unknown, seen: WeakSet<object> = new WeakSet(), depth = 0): unknown {
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "string":
      return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…(${value.length} chars)` : value;
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "boolean":
      return value;
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
  }
  if (value === null) return null;
  const obj = value as object;
  if (seen.has(obj)) return "[Circular]";
  if (depth >= MAX_DEPTH) return "[Truncated]";
  if (obj instanceof Uint8Array) return hex(obj);
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? "Invalid Date" : obj.toISOString();
  if (obj instanceof URL) return redactUrl(obj.href);
  seen.add(obj);
  try {
    if (obj instanceof Error) return serializeError(obj, seen, depth);
    if (Array.isArray(obj)) {
      const arr = obj.slice(0, MAX_ARRAY).map((v) => sanitize(v, seen, depth + 1) ?? null);
      if (obj.length > MAX_ARRAY) arr.push(`…(${obj.length} items)`);
      return arr;
    }
    if (obj instanceof Map) return sanitize(Object.fromEntries(obj), seen, depth);
    if (obj instanceof Set) return sanitize([...obj], seen, depth);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      if (isSecretFieldName(k)) {
        out[k] = v === undefined || v === null || v === "" ? v : REDACTED;
        continue;
      }
      const s = sanitize(v, seen, depth + 1);
      if (s !== undefined) out[k] = s;
    }
    return out;
  } finally {
    seen.delete(obj);
  }
}

interface Core {
  level: LogLevel;
  stream: LogStream;
  clock: () => number;
}

class JsonLogger implements Logger {
  readonly #core: Core;
  readonly #bindings: LogFields;

  constructor(core: Core, bindings: LogFields) {
    this.#core = core;
    this.#bindings = bindings;
  }

  get level(): LogLevel {
    return this.#core.level;
  }
  set level(level: LogLevel) {
    if (!(level in LEVEL_VALUE)) throw new TypeError(`unknown log level ${String(level)}`);
    this.#core.level = level;
  }
  get bindings(): Readonly<LogFields> {
    return this.#bindings;
  }

  isLevelEnabled(level: LogLevel): boolean {
    return level !== "silent" && LEVEL_VALUE[level] >= LEVEL_VALUE[this.#core.level];
  }

  child(bindings: LogFields): Logger {
    return new JsonLogger(this.#core, { ...this.#bindings, ...bindings });
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

  #write(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (!this.isLevelEnabled(level)) return;
    let line: string;
    try {
      let time: string;
      try {
        time = new Date(this.#core.clock()).toISOString();
      } catch {
        time = String(this.#core.clock());
      }
      const record = sanitize({ ...this.#bindings, ...fields }) as Record<string, unknown>;
      // time/level/msg come first and cannot be overridden by bound fields or call fields.
      const out: Record<string, unknown> = { time, level, msg: String(msg) };
      for (const [k, v] of Object.entries(record)) if (!(k in out)) out[k] = v;
      line = JSON.stringify(out);
    } catch (err) {
      line = JSON.stringify({ time: new Date().toISOString(), level, msg: String(msg), logError: String(err) });
    }
    try {
      this.#core.stream.write(`${line}\n`);
    } catch {
      /* a broken log stream must not take the worker down */
    }
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  if (!(level in LEVEL_VALUE)) throw new TypeError(`unknown log level ${String(level)}`);
  return new JsonLogger(
    { level, stream: options.stream ?? process.stdout, clock: options.clock ?? Date.now },
    { ...options.bindings },
  );
}

/** A logger that drops everything (handy default for library components). */
export function nullLogger(): Logger {
  return createLogger({ level: "silent", stream: { write: () => true } });
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === "string" && (LOG_LEVELS as readonly string[]).includes(value);
}
