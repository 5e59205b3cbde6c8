/**
 * The worker's one RPC retry layer: an error classifier, capped exponential backoff with jitter, and `rpcTransport`,
 * the viem transport every daemon request goes through.
 *
 * Budget, per JSON-RPC request (RPC_RETRY; rpcWorstCaseMs computes it):
 *   4 attempts (the first + 3 retries), each with a 10 s timeout, on the next endpoint when several are configured;
 *   250 ms, 500 ms, 1 s before retries 1-3 (equal jitter: each uniform in [d/2, d]); a server's Retry-After is
 *   honoured up to 5 s. Worst case: 4 x 10 s + 1.75 s = 41.75 s, or 4 x 10 s + 3 x 5 s = 55 s when every reply
 *   asks for the longest Retry-After. Shutdown ends the retries at once (not the attempts in flight: a step that
 *   is finishing during the shutdown grace still gets its one try).
 * With several URLs (all clients of one transport share this): an endpoint that failed retryably is passed over for
 * 30 s while another is up, and one not heard from yet (or since it failed) must answer eth_chainId within 2 s,
 * inside its attempt's 10 s, before it gets a request while another is up or has answered: a URL that accepts TCP
 * and never answers costs 2 s once (it cost 10 s per client, and again whenever the live one failed once), one that
 * refuses connections one failed connect per 30 s at most, and only when the endpoint in use fails.
 * Nothing else retries: the endpoint transports are built with retryCount 0 and nothing calls viem's `fallback`, so
 * that no layer multiplies another (the previous stack, http retryCount 3 inside fallback retryCount 3 inside
 * withRetry with 3 retries, sent 64 requests for one call against an endpoint answering 503).
 * Why not viem's own retry: it retries -32603 (how some nodes report a revert), 403 and 413 (which cannot
 * succeed), not "header not found" (node lag, which can), and waits out any Retry-After, an hour included.
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
 *  - `too_large` (the answer or the range is over a limit: viem's ResponseBodyTooLargeError at its 10 MiB, HTTP 413,
 *    "query returned more than 10000 results" even as -32005, "Log response size exceeded", "block range too
 *    large", ...) → not retried: the same request gets the same answer; chain/logs.ts splits the range instead.
 *  - `aborted` → our own cancellation.  `fatal` → everything else (invalid params, unknown method, 4xx, unknown).
 * Revert detection wins over everything else anywhere in the cause chain, because viem wraps a node's revert in
 * errors whose outer layers can look like generic RPC failures (e.g. -32603 "execution reverted").
 */
import { TimeoutError, createTransport, http, webSocket, type EIP1193RequestFn, type Transport } from "viem";

export type RpcErrorKind =
  | "transient"
  | "rate_limited"
  | "revert"
  | "nonce"
  | "already_known"
  | "underpriced"
  | "insufficient_funds"
  | "aborted"
  | "too_large"
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
/**
 * What nodes and providers answer when an eth_getLogs range or its answer is over their limit (geth/op-geth/Infura
 * "query returned more than 10000 results", Alchemy "Log response size exceeded ... up to a 2K block range",
 * QuickNode "limited to a 10,000 range", Reth "query exceeds max block range 100000" / "max results 20000", geth
 * "exceed maximum block range: 50000", Besu "Requested range exceeds maximum range limit", Ankr "block range is too
 * wide", dRPC "ranges over 10000 blocks are not supported", Chainstack "Block range limit exceeded", 413 bodies).
 * Deliberately not matched: "block range extends beyond current head block" (node lag) and bare rate limits.
 */
const TOO_LARGE_TEXT =
  /returned more than [\d,]+|response size (?:exceeded|limit|is too (?:large|big))|response (?:is )?too (?:large|big)|exceeded the size limit|(?:payload|entity|result set|results?) too large|block range (?:is )?too (?:large|wide|big)|range (?:is )?too (?:large|wide|big)|exceeds? (?:the )?max(?:imum)? (?:block )?(?:range|results)|exceeds maximum range limit|range limit exceeded|exceeded max(?:imum)? (?:block )?range|limited to (?:a |an )?[\d,]+k? (?:blocks? )?range|up to an? [\d,]+k? block range|ranges over [\d,]+ blocks|too many (?:logs|results|blocks)|max(?:imum)? allowed number of requested blocks/i;

/**
 * Why `err` says the request's answer (or its block range) is over a node's or viem's limit, or undefined. Found
 * anywhere in the cause chain; never a revert.
 */
export function responseTooLarge(err: unknown): string | undefined {
  for (const e of errorChain(err)) {
    const name = field<string>(e, "name");
    if (name === "ResponseBodyTooLargeError") {
      const max = field<number>(e, "maxSize");
      const size = field<number>(e, "size");
      return `response body of ${size ?? "?"} bytes over viem's limit of ${max ?? "?"} bytes`;
    }
    if (field(e, "status") === 413) return "http 413";
    const text = textOf(e);
    const m = TOO_LARGE_TEXT.exec(text);
    if (m && !REVERT_TEXT.test(text)) {
      const said = [field(e, "details"), field(e, "shortMessage"), field(e, "message")].find((t): t is string => typeof t === "string" && TOO_LARGE_TEXT.test(t));
      return `node: ${(said ?? m[0]).split("\n")[0]!.slice(0, 200)}`;
    }
  }
  return undefined;
}
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

  // 4. Over a size or range limit: the same request gets the same answer (checked before rate limits: Infura and
  // op-geth send "query returned more than 10000 results" as -32005, the rate-limit code).
  const tooLarge = responseTooLarge(err);
  if (tooLarge) return result("too_large", tooLarge, err);

  // 5. Rate limits and transient transport/server failures.
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
  /** Ends retrying but not the attempt in flight: once aborted, the next failure (or the wait after it) throws that error. */
  stopRetrying?: AbortSignal;
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
      if (attempt > retries || options.stopRetrying?.aborted || !shouldRetry(err, attempt)) throw err;
      let delay = backoffDelay(attempt, options);
      if (options.respectRetryAfter !== false) {
        const ra = retryAfterMs(err);
        if (ra !== undefined) delay = Math.min(maxMs, Math.max(delay, ra));
      }
      options.onRetry?.(err, attempt, delay);
      const waitSignal = signal && options.stopRetrying ? AbortSignal.any([signal, options.stopRetrying]) : (signal ?? options.stopRetrying);
      await sleep(delay, waitSignal).catch((abort: unknown) => {
        throw signal?.aborted ? abort : err;
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface RpcRetryBudget {
  /** Requests per call, the first included. */
  attempts: number;
  /** Timeout of each attempt. */
  timeoutMs: number;
  /** Delay before the first retry, doubled for each further one. */
  baseMs: number;
  /** Cap for one delay, a server's Retry-After included. */
  maxMs: number;
  /** Share of each delay that is randomised away (0.5: uniform in [d/2, d]). */
  jitter: number;
}

/** The daemon's budget (see the top of this file). */
export const RPC_RETRY: Readonly<RpcRetryBudget> = Object.freeze({ attempts: 4, timeoutMs: 10_000, baseMs: 250, maxMs: 5_000, jitter: 0.5 });

/**
 * Longest one request can take under `budget`: every attempt times out, every wait is its longest (`retryAfter`:
 * each reply asked for Retry-After at or above the cap).
 */
export function rpcWorstCaseMs(budget: RpcRetryBudget = RPC_RETRY, retryAfter = false): number {
  let waits = 0;
  for (let retry = 1; retry < budget.attempts; retry++) waits += retryAfter ? budget.maxMs : backoffDelay(retry, { ...budget, jitter: 0 });
  return budget.attempts * budget.timeoutMs + waits;
}

/** Never repeated: the node signs and picks the nonce, so an attempt that timed out may still have sent it. */
const NOT_REPEATABLE = new Set(["eth_sendTransaction"]);

export interface RpcRetryEvent {
  method: string;
  /** The attempt that failed (1-based). */
  attempt: number;
  attempts: number;
  delayMs: number;
  /** Where the failed attempt went (as configured: redact it before logging). */
  url: string;
  error: unknown;
  classification: RpcErrorClassification;
}

export interface RpcTransportOptions extends Partial<RpcRetryBudget> {
  /** Ends retrying (waits and further attempts; never a first attempt): the daemon passes its shutdown signal. */
  stopRetrying?: AbortSignal;
  onRetry?: (event: RpcRetryEvent) => void;
  /** Called before every attempt sent to a node (a retried request counts each attempt; a probe counts too): metrics. */
  onRequest?: (method: string) => void;
  /** Injectable randomness in [0, 1) for the jitter. */
  random?: () => number;
  /**
   * With several URLs: an endpoint that has not answered since it was configured or since it last failed must
   * answer `eth_chainId` within this before it gets a request, while another endpoint is up or has answered (cheap methods, such
   * as eth_chainId and eth_blockNumber, are sent straight away under this deadline). A node that accepts TCP and
   * never answers costs this, not `timeoutMs`. Default 2 s (at most `timeoutMs`).
   */
  probeTimeoutMs?: number;
  /** With several URLs: how long an endpoint whose attempt failed retryably is passed over while another is up. Default 30 s. */
  downForMs?: number;
}

/** Answered at once by any live node: sent under the probe deadline instead of after a separate probe. */
const CHEAP_METHODS = new Set(["eth_chainId", "eth_blockNumber", "net_version", "web3_clientVersion"]);

/** Runs `run` with a signal that aborts after `ms`; rejects with viem's TimeoutError then (retryable), or with `outer`'s abort. */
async function withDeadline<T>(ms: number, outer: AbortSignal | undefined, url: string, method: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const own = new AbortController();
  const signal = outer ? AbortSignal.any([outer, own.signal]) : own.signal;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new TimeoutError({ body: { method }, url });
      reject(err);
      own.abort(err);
    }, Math.max(0, ms));
  });
  try {
    return await Promise.race([run(signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

interface EndpointState {
  /** Answered since it was configured or since its last retryable failure. */
  alive: boolean;
  /** When it last answered (epoch ms; -Infinity: never). */
  okAt: number;
  /** Passed over until then (epoch ms) while another endpoint is up. */
  downUntil: number;
  /** The liveness probe in flight, shared by every request waiting on it; resolves to its error, if any. */
  probing?: Promise<unknown>;
}

/**
 * A viem transport over one or more RPC URLs (http(s) or ws(s)) with the worker's one retry layer. Each request
 * is tried at most `attempts` times, retried only when classifyRpcError says it can succeed, with capped
 * exponential backoff and jitter. Endpoints are used in order and the choice sticks: a retryable failure moves
 * this and later requests to the next URL, so a dead endpoint costs one attempt, not one per request.
 * With several URLs, every client built on this transport shares what is known of each endpoint:
 *  - which one is in use (a dead first URL is paid for once, not once per client);
 *  - an endpoint that failed retryably is passed over for `downForMs` while another is up;
 *  - an endpoint not yet heard from (at start, or since it failed) must first answer `eth_chainId` within
 *    `probeTimeoutMs` while another is up or has answered before, so a node that accepts TCP and never answers
 *    costs one short probe instead of a 10 s attempt. The probe counts within the attempt's `timeoutMs`, so the
 *    worst case is unchanged;
 *  - when every endpoint is down they are still tried: the one that answered last first (a transient failure of
 *    the one in use is retried there, not on a URL that never answered), in turn when none ever answered (with
 *    the full timeout then: nothing is known to be faster).
 */
export function rpcTransport(urls: readonly string[], options: RpcTransportOptions = {}): Transport<"veilRpc"> {
  if (urls.length === 0) throw new Error("rpcTransport: at least one RPC URL is needed");
  const budget: RpcRetryBudget = { ...RPC_RETRY, ...options };
  if (!Number.isInteger(budget.attempts) || budget.attempts < 1) throw new RangeError("attempts must be a positive integer");
  const { timeoutMs: timeout } = budget;
  const probeTimeoutMs = Math.min(options.probeTimeoutMs ?? 2_000, timeout);
  const downForMs = options.downForMs ?? 30_000;
  if (!(probeTimeoutMs > 0)) throw new RangeError("probeTimeoutMs must be positive");
  if (!(downForMs >= 0)) throw new RangeError("downForMs must be non-negative");
  const factories = urls.map((url) =>
    /^wss?:/i.test(url) ? webSocket(url, { retryCount: 0, timeout }) : http(url, { retryCount: 0, timeout }),
  );
  // Shared by every client made from this transport.
  const state: EndpointState[] = urls.map(() => ({ alive: false, okAt: -Infinity, downUntil: 0 }));
  const n = urls.length;
  let current = 0;
  const isDown = (i: number, now: number) => state[i]!.downUntil > now;
  /**
   * The endpoint for the next attempt: the current one, or the first after it that is up (sticking to it). When
   * every one is down: the one that answered last (one that never answered comes last), then the one down longest.
   */
  const pick = (): number => {
    const now = Date.now();
    for (let k = 0; k < n; k++) {
      const i = (current + k) % n;
      if (!isDown(i, now)) return (current = i);
    }
    let best = 0;
    for (let i = 1; i < n; i++) {
      const a = state[i]!;
      const b = state[best]!;
      if (a.okAt > b.okAt || (a.okAt === b.okAt && a.downUntil < b.downUntil)) best = i;
    }
    return (current = best);
  };
  /** Probe endpoint `i` first: it has not answered since it was configured or last failed, and another one is up or has answered. */
  const needsProbe = (i: number) => {
    if (n === 1 || state[i]!.alive) return false;
    const now = Date.now();
    return state.some((s, j) => j !== i && (!isDown(j, now) || s.okAt > -Infinity));
  };
  const markDown = (i: number) => {
    const s = state[i]!;
    s.alive = false;
    s.downUntil = Date.now() + downForMs;
    if (current === i) current = (i + 1) % n; // pick() goes on from there
  };
  return ({ chain }) => {
    const endpoints = factories.map((f) => f({ chain, retryCount: 0, timeout }));
    type Send = (method: string, params: unknown, signal?: AbortSignal) => Promise<unknown>;
    const send = (i: number): Send => (method, params, signal) => {
      options.onRequest?.(method);
      return endpoints[i]!.request({ method, params } as never, signal ? ({ signal } as never) : undefined) as Promise<unknown>;
    };
    const probe = (i: number): Promise<unknown> => {
      const s = state[i]!;
      s.probing ??= withDeadline(probeTimeoutMs, undefined, urls[i]!, "eth_chainId", (sig) => send(i)("eth_chainId", undefined, sig))
        .then(
          () => {
            s.alive = true;
            s.okAt = Date.now();
            return undefined;
          },
          (err: unknown) => err,
        )
        .finally(() => {
          s.probing = undefined;
        });
      return s.probing;
    };
    return createTransport({
      key: "veilRpc",
      name: "Veil RPC (one retry layer)",
      type: "veilRpc",
      retryCount: 0,
      timeout,
      request: (async ({ method, params }: { method: string; params?: unknown }, requestOptions?: { signal?: AbortSignal }) => {
        const signal = requestOptions?.signal;
        let used = current;
        return withRetry(
          async () => {
            used = pick();
            const i = used;
            const url = urls[i]!;
            const started = Date.now();
            try {
              let result: unknown;
              if (needsProbe(i)) {
                if (CHEAP_METHODS.has(method)) {
                  result = await withDeadline(probeTimeoutMs, signal, url, method, (sig) => send(i)(method, params, sig));
                } else {
                  const probeError = await probe(i);
                  // A retryable probe failure fails the attempt here; any other (say eth_chainId refused by policy) proves nothing.
                  if (probeError !== undefined && isRetryableRpcError(probeError)) throw probeError;
                  if (signal?.aborted) throw abortReason(signal);
                  result = await withDeadline(timeout - (Date.now() - started), signal, url, method, (sig) => send(i)(method, params, sig));
                }
              } else {
                result = await send(i)(method, params, signal);
              }
              state[i]!.alive = true;
              state[i]!.okAt = Date.now();
              return result;
            } catch (err) {
              if (n > 1 && isRetryableRpcError(err) && !signal?.aborted) markDown(i);
              throw err;
            }
          },
          {
            retries: NOT_REPEATABLE.has(method) ? 0 : budget.attempts - 1,
            baseMs: budget.baseMs,
            maxMs: budget.maxMs,
            jitter: budget.jitter,
            random: options.random,
            signal,
            stopRetrying: options.stopRetrying,
            onRetry: (error, attempt, delayMs) =>
              options.onRetry?.({ method, attempt, attempts: budget.attempts, delayMs, url: urls[used]!, error, classification: classifyRpcError(error) }),
          },
        );
      }) as EIP1193RequestFn,
    });
  };
}
