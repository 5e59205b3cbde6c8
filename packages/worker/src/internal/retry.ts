/**
 * Retry with exponential backoff, an RPC error classifier, and per-endpoint health tracking.
 *
 * The classifier is deliberately conservative about what a *blind* retry may repeat:
 *  - `transient` / `rate_limited` (timeouts, refused/reset connections, HTTP 408/429/5xx, JSON-RPC -32603/-32005/
 *    -32002, "header not found") → retryable.
 *  - `revert` (execution reverted, viem ContractFunctionRevertedError, CallExecutionError/EstimateGas with revert
 *    data, mined-but-reverted receipts) → NEVER retried: the same call reverts again and burns gas or time.
 *  - `nonce` (nonce too low/high) → not retryable as-is: the nonce was consumed (maybe by our own earlier attempt)
 *    and the sender must reconcile against the chain and its pending-tx records first.
 *  - `already_known` → the very same signed tx is already in the mempool: treat as sent, not as a failure.
 *  - `underpriced` (replacement underpriced, fee cap below base fee) → resubmit with bumped fees, not a blind retry.
 *  - `insufficient_funds` → operator action needed.
 *  - `aborted` → our own cancellation.  `fatal` → everything else (bad params, 4xx, unknown).
 * Revert detection wins over everything else anywhere in the cause chain, because viem wraps a node's revert in
 * errors whose outer layers can look like generic RPC failures (e.g. -32603 "execution reverted").
 */

export type RpcErrorKind =
  | "transient"
  | "rate_limited"
  | "revert"
  | "nonce"
  | "already_known"
  | "underpriced"
  | "insufficient_funds"
  | "aborted"
  | "fatal";

export interface RpcErrorClassification {
  kind: RpcErrorKind;
  retryable: boolean;
  /** Short human-readable reason (which rule matched). */
  reason: string;
  /** Server-requested delay (HTTP Retry-After), when present. */
  retryAfterMs?: number;
}

const MAX_CHAIN = 24;

/** Every error in the cause chain (`cause`, AggregateError `errors`), outermost first, cycle-safe. */
export function errorChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0 && out.length < MAX_CHAIN) {
    const e = queue.shift();
    if (e === undefined || e === null || seen.has(e)) continue;
    seen.add(e);
    out.push(e);
    if (typeof e === "object") {
      const o = e as { cause?: unknown; errors?: unknown };
      if (o.cause !== undefined) queue.push(o.cause);
      if (Array.isArray(o.errors)) queue.push(...o.errors);
    }
  }
  return out;
}

function field<T = unknown>(e: unknown, name: string): T | undefined {
  return e !== null && typeof e === "object" ? ((e as Record<string, unknown>)[name] as T | undefined) : undefined;
}

function textOf(e: unknown): string {
  if (typeof e === "string") return e;
  const parts = [field(e, "message"), field(e, "details"), field(e, "shortMessage"), field(e, "reason")];
  return parts.filter((p): p is string => typeof p === "string").join(" | ");
}

const REVERT_NAMES = new Set([
  "ContractFunctionRevertedError",
  "ExecutionRevertedError",
  "TransactionReceiptRevertedError",
  "RawContractError",
  "CounterfactualDeploymentFailedError",
]);
const REVERT_TEXT =
  /execution reverted|vm exception while processing transaction|reverted with (?:reason string|custom error|panic code)|transaction reverted|\binvalid opcode\b|revert(?:ed)? without a reason/i;
const ALREADY_KNOWN_TEXT = /already known|transaction already imported|known transaction|already in (?:the )?(?:mempool|txpool)/i;
const NONCE_TEXT = /nonce too (?:low|high)|nonce has max value|invalid nonce|nonce (?:is )?(?:lower|higher) than/i;
const UNDERPRICED_TEXT =
  /replacement transaction underpriced|transaction underpriced|replacement fee too low|max fee per gas less than block base fee|fee cap less than block base fee|underpriced/i;
const FUNDS_TEXT = /insufficient funds|exceeds transaction sender account balance|outoffunds/i;
const RATE_TEXT = /rate limit|too many requests|request limit|exceeded .*capacity|\bthrottl|compute units|quota/i;
const TRANSIENT_TEXT =
  /timed? ?out|timeout|socket hang up|other side closed|connection (?:refused|reset|closed)|network error|fetch failed|econnrefused|econnreset|etimedout|header not found|service unavailable|bad gateway|gateway timeout|temporarily unavailable|try again later|upstream/i;
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);
const TRANSIENT_NAMES = new Set(["TimeoutError", "SocketClosedError", "WebSocketRequestError"]);
/** JSON-RPC error codes that signal a temporary server-side condition. */
const TRANSIENT_RPC_CODES = new Set([-32603, -32002]);
const RATE_RPC_CODES = new Set([-32005, 429]);

function hasRevertData(e: unknown): boolean {
  const data = field(e, "data");
  // Solidity revert payloads: Error(string), Panic(uint256) or a custom error selector; raw "0x" alone proves nothing.
  return typeof data === "string" && /^0x[0-9a-fA-F]{8}/.test(data);
}

/** Parses an HTTP Retry-After header (seconds or HTTP-date) found anywhere in the chain. */
export function retryAfterMs(err: unknown, now: number = Date.now()): number | undefined {
  for (const e of errorChain(err)) {
    const headers = field<{ get?: (n: string) => string | null } | Record<string, string>>(e, "headers");
    let value: string | null | undefined;
    if (headers && typeof (headers as { get?: unknown }).get === "function") {
      value = (headers as { get: (n: string) => string | null }).get("retry-after");
    } else if (headers && typeof headers === "object") {
      value = (headers as Record<string, string>)["retry-after"];
    }
    if (!value) continue;
    const secs = Number(value);
    if (Number.isFinite(secs) && secs >= 0) return Math.round(secs * 1000);
    const at = Date.parse(value);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  return undefined;
}

function result(kind: RpcErrorKind, reason: string, err: unknown): RpcErrorClassification {
  const retryable = kind === "transient" || kind === "rate_limited";
  const c: RpcErrorClassification = { kind, retryable, reason };
  if (retryable) {
    const ra = retryAfterMs(err);
    if (ra !== undefined) c.retryAfterMs = ra;
  }
  return c;
}

export function classifyRpcError(err: unknown): RpcErrorClassification {
  const chain = errorChain(err);

  // 1. Reverts, anywhere in the chain, win.
  for (const e of chain) {
    const name = field<string>(e, "name");
    if (name && REVERT_NAMES.has(name)) return result("revert", name, err);
    if (field(e, "code") === 3 && (hasRevertData(e) || REVERT_TEXT.test(textOf(e)))) return result("revert", "rpc code 3", err);
    if (REVERT_TEXT.test(textOf(e))) return result("revert", "revert message", err);
    if (
      (name === "CallExecutionError" || name === "EstimateGasExecutionError" || name === "ContractFunctionExecutionError") &&
      chain.some(hasRevertData)
    ) {
      return result("revert", `${name} with revert data`, err);
    }
  }

  // 2. Our own cancellation.
  for (const e of chain) {
    const name = field<string>(e, "name");
    if (name === "AbortError" || field(e, "code") === "ABORT_ERR") return result("aborted", "aborted", err);
  }

  // 3. Transaction-submission outcomes that need specific handling (not blind retries).
  for (const e of chain) {
    const name = field<string>(e, "name");
    const text = textOf(e);
    if (ALREADY_KNOWN_TEXT.test(text)) return result("already_known", "already known", err);
    if (name === "NonceTooLowError" || name === "NonceTooHighError" || name === "NonceMaxValueError" || NONCE_TEXT.test(text)) {
      return result("nonce", name && name.startsWith("Nonce") ? name : "nonce message", err);
    }
    if (name === "FeeCapTooLowError" || UNDERPRICED_TEXT.test(text)) return result("underpriced", name ?? "underpriced", err);
    if (name === "InsufficientFundsError" || FUNDS_TEXT.test(text)) return result("insufficient_funds", "insufficient funds", err);
  }

  // 4. Rate limits and transient transport/server failures.
  for (const e of chain) {
    const name = field<string>(e, "name");
    const code = field(e, "code");
    const status = field<number>(e, "status");
    if (status === 429 || (typeof code === "number" && RATE_RPC_CODES.has(code)) || name === "LimitExceededRpcError") {
      return result("rate_limited", status === 429 ? "http 429" : `rpc ${String(code ?? name)}`, err);
    }
    if (RATE_TEXT.test(textOf(e))) return result("rate_limited", "rate limit message", err);
  }
  for (const e of chain) {
    const name = field<string>(e, "name");
    const code = field(e, "code");
    const status = field<number>(e, "status");
    if (name && TRANSIENT_NAMES.has(name)) return result("transient", name, err);
    if (typeof code === "string" && TRANSIENT_CODES.has(code)) return result("transient", code, err);
    if (typeof status === "number" && (status >= 500 || status === 408)) return result("transient", `http ${status}`, err);
    if (typeof code === "number" && TRANSIENT_RPC_CODES.has(code)) return result("transient", `rpc ${code}`, err);
    if (name === "InternalRpcError" || name === "ResourceUnavailableRpcError") return result("transient", name, err);
  }
  for (const e of chain) {
    if (TRANSIENT_TEXT.test(textOf(e))) return result("transient", "transient message", err);
  }
  // viem's HttpRequestError without a status is a transport failure (DNS, TLS, connection) before any response.
  for (const e of chain) {
    if (field(e, "name") === "HttpRequestError" && field(e, "status") === undefined) {
      return result("transient", "http transport failure", err);
    }
  }
  return result("fatal", "unclassified", err);
}

/** True for errors a blind retry may fix (timeouts, connection failures, 429/5xx, rate limits, -32603/-32005). */
export function isRetryableRpcError(err: unknown): boolean {
  return classifyRpcError(err).retryable;
}

// ---------------------------------------------------------------------------------------------------------------

export interface RetryOptions {
  /** Additional attempts after the first (total attempts = retries + 1). Default 5. */
  retries?: number;
  /** Delay before the first retry, doubled each time. Default 200 ms. */
  baseMs?: number;
  /** Cap for a single delay. Default 10 s. */
  maxMs?: number;
  /**
   * Fraction of each delay that is randomised away (0 = none, 1 = "full jitter": uniform in [0, delay]).
   * `true` = 1, `false` = 0. Default 0.5 ("equal jitter").
   */
  jitter?: number | boolean;
  /** Decides whether `err` (thrown by attempt number `attempt`, 1-based) is retried. Default: isRetryableRpcError. */
  shouldRetry?: (err: unknown, attempt: number) => boolean;
  /** Called before each wait. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Aborts waiting and further attempts; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Honour a server's Retry-After (capped at maxMs). Default true. */
  respectRetryAfter?: boolean;
  /** Injectable randomness in [0, 1) for deterministic tests. */
  random?: () => number;
}

export function backoffDelay(
  attempt: number,
  opts: Pick<RetryOptions, "baseMs" | "maxMs" | "jitter" | "random"> = {},
): number {
  const base = opts.baseMs ?? 200;
  const max = opts.maxMs ?? 10_000;
  const jitter = opts.jitter === true ? 1 : opts.jitter === false ? 0 : (opts.jitter ?? 0.5);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError("jitter must be within [0, 1]");
  const exp = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  const rnd = (opts.random ?? Math.random)();
  return Math.max(0, Math.round(exp * (1 - jitter * rnd)));
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it resolves, a non-retryable error is thrown, retries are exhausted, or `signal` aborts.
 * The final error is rethrown unchanged (so callers can classify it again).
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 5;
  if (!Number.isInteger(retries) || retries < 0) throw new RangeError("retries must be a non-negative integer");
  const shouldRetry = options.shouldRetry ?? ((err: unknown) => isRetryableRpcError(err));
  const maxMs = options.maxMs ?? 10_000;
  const signal = options.signal;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw abortReason(signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal);
      if (attempt > retries || !shouldRetry(err, attempt)) throw err;
      let delay = backoffDelay(attempt, options);
      if (options.respectRetryAfter !== false) {
        const ra = retryAfterMs(err);
        if (ra !== undefined) delay = Math.min(maxMs, Math.max(delay, ra));
      }
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, signal);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface EndpointHealth {
  url: string;
  healthy: boolean;
  successes: number;
  failures: number;
  consecutiveFailures: number;
  /** Exponentially weighted moving average of successful request latency. */
  latencyMs?: number;
  lastSuccessAt?: number;
  lastFailureAt?: number;
  lastError?: string;
  lastErrorKind?: RpcErrorKind;
}

/**
 * Per-RPC-endpoint health: consecutive failures and latency. An endpoint is unhealthy after `unhealthyAfter`
 * consecutive retryable failures (reverts and other deterministic errors say nothing about the endpoint and are
 * counted as successes of the transport). Feed it from viem's transport hooks or around calls with `track`.
 */
export class RpcHealth {
  readonly #endpoints = new Map<string, EndpointHealth>();
  readonly #unhealthyAfter: number;
  readonly #clock: () => number;

  constructor(options: { unhealthyAfter?: number; clock?: () => number } = {}) {
    this.#unhealthyAfter = options.unhealthyAfter ?? 3;
    this.#clock = options.clock ?? Date.now;
  }

  #get(url: string): EndpointHealth {
    let h = this.#endpoints.get(url);
    if (!h) {
      h = { url, healthy: true, successes: 0, failures: 0, consecutiveFailures: 0 };
      this.#endpoints.set(url, h);
    }
    return h;
  }

  recordSuccess(url: string, latencyMs?: number): void {
    const h = this.#get(url);
    h.successes++;
    h.consecutiveFailures = 0;
    h.healthy = true;
    h.lastSuccessAt = this.#clock();
    if (latencyMs !== undefined) h.latencyMs = h.latencyMs === undefined ? latencyMs : h.latencyMs * 0.8 + latencyMs * 0.2;
  }

  recordFailure(url: string, err: unknown): RpcErrorClassification {
    const c = classifyRpcError(err);
    if (!c.retryable) {
      // The endpoint answered; the request itself was bad or reverted.
      this.recordSuccess(url);
      return c;
    }
    const h = this.#get(url);
    h.failures++;
    h.consecutiveFailures++;
    h.lastFailureAt = this.#clock();
    h.lastError = err instanceof Error ? err.message.split("\n")[0] : String(err);
    h.lastErrorKind = c.kind;
    if (h.consecutiveFailures >= this.#unhealthyAfter) h.healthy = false;
    return c;
  }

  /** Runs `fn`, recording its outcome for `url`. */
  async track<T>(url: string, fn: () => Promise<T>): Promise<T> {
    const start = this.#clock();
    try {
      const v = await fn();
      this.recordSuccess(url, this.#clock() - start);
      return v;
    } catch (err) {
      this.recordFailure(url, err);
      throw err;
    }
  }

  isHealthy(url: string): boolean {
    return this.#endpoints.get(url)?.healthy ?? true;
  }

  /** True when at least one known endpoint is healthy (or none has been used yet). */
  anyHealthy(): boolean {
    if (this.#endpoints.size === 0) return true;
    for (const h of this.#endpoints.values()) if (h.healthy) return true;
    return false;
  }

  snapshot(): EndpointHealth[] {
    return [...this.#endpoints.values()].map((h) => ({ ...h }));
  }
}
