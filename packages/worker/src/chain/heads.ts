/**
 * The chain head as every configured RPC endpoint sees it, for /health.
 *
 * The worker's own head comes through its RPC transport, which freezes with the transport: through an outage the
 * worker compared its cursor with a head that stopped with it and reported `headLagBlocks 0`. A `HeadWatcher` asks
 * each URL for `eth_blockNumber` on its own (own transport, no retries, short timeout, its own timer, so one hung
 * endpoint never delays another's poll) and keeps, per endpoint, the last head, when it last answered, when its
 * head last moved and the last error. `bestHead` is the highest head among the endpoints heard from within
 * `staleAfterMs`; `lag(cursor)` compares the worker's processed block with it and says why it is unhealthy: no
 * endpoint answering for longer than `staleAfterMs`, or the cursor too far behind.
 */
import { http, webSocket, type Transport } from "viem";

export interface EndpointHead {
  /** As configured, passed through the `redact` option (give it the config's redactUrl before serving this). */
  url: string;
  /** Last head it answered; undefined until it answers. */
  head?: bigint;
  /** Since it last answered (ms); undefined if it never did. */
  ageMs?: number;
  /** Since its head last moved (ms); undefined if it never answered. */
  headAgeMs?: number;
  /** Round trip of its last answer (ms). */
  latencyMs?: number;
  /** The last poll's error, cleared by an answer. */
  error?: string;
  /** Not heard from within `staleAfterMs` (never answered counts as stale once `staleAfterMs` has passed since start). */
  stale: boolean;
  /** How far its head is behind the best head (fresh endpoints only). */
  behindBlocks?: number;
  polls: number;
  failures: number;
}

export interface HeadLag {
  /** Highest head among fresh endpoints; when none is fresh, the last one known (see `stale`). */
  bestHead?: bigint;
  /** bestHead - confirmations - processed (never below 0); undefined without a head or a cursor. */
  lagBlocks?: number;
  /** No endpoint answered within `staleAfterMs` (or none ever answered): `bestHead`, if any, is old. */
  stale: boolean;
  freshEndpoints: number;
  healthy: boolean;
  reasons: string[];
}

export interface HeadWatcherOptions {
  /** Between the end of one poll of an endpoint and the next. Default 2 s. */
  intervalMs?: number;
  /** Per poll. Default 2 s. */
  timeoutMs?: number;
  /** An endpoint not heard from for longer is stale. Default 30 s. */
  staleAfterMs?: number;
  /** When set, an endpoint serving another chain id is an error, not a head. */
  chainId?: number;
  /** Applied to every URL this reports (endpoints() and reasons): e.g. the config's redactUrl. */
  redact?: (url: string) => string;
  /** Injectable clock (ms). */
  now?: () => number;
}

interface Endpoint {
  url: string;
  transport: ReturnType<Transport>;
  head?: bigint;
  okAt?: number;
  headAt?: number;
  latencyMs?: number;
  error?: string;
  chainChecked: boolean;
  polls: number;
  failures: number;
  inFlight?: Promise<void>;
  timer?: NodeJS.Timeout;
}

function shortError(err: unknown): string {
  const e = err as { shortMessage?: unknown; message?: unknown; name?: unknown };
  const text = typeof e?.shortMessage === "string" ? e.shortMessage : typeof e?.message === "string" ? e.message : String(err);
  const name = typeof e?.name === "string" && e.name !== "Error" ? `${e.name}: ` : "";
  return (name + text.split("\n")[0]).slice(0, 200);
}

export class HeadWatcher {
  readonly #eps: Endpoint[];
  readonly #o: Required<Omit<HeadWatcherOptions, "chainId">> & { chainId?: number };
  #startedAt: number;
  #stop = new AbortController();
  #running = false;
  #lastBest?: bigint;

  constructor(urls: readonly string[], options: HeadWatcherOptions = {}) {
    if (urls.length === 0) throw new Error("HeadWatcher: at least one RPC URL is needed");
    const o = { intervalMs: 2_000, timeoutMs: 2_000, staleAfterMs: 30_000, redact: (u: string) => u, now: Date.now, ...options };
    for (const k of ["intervalMs", "timeoutMs", "staleAfterMs"] as const) {
      if (!(Number.isFinite(o[k]) && o[k] > 0)) throw new RangeError(`HeadWatcher: ${k} must be a positive number of ms, got ${o[k]}`);
    }
    this.#o = o;
    this.#startedAt = o.now();
    this.#eps = urls.map((url) => {
      if (!/^(https?|wss?):\/\//i.test(url)) throw new TypeError(`HeadWatcher: not an http(s) or ws(s) URL: ${o.redact(url)}`);
      const make = /^wss?:/i.test(url) ? webSocket(url, { retryCount: 0, timeout: o.timeoutMs }) : http(url, { retryCount: 0, timeout: o.timeoutMs });
      return { url, transport: make({ retryCount: 0, timeout: o.timeoutMs }), chainChecked: options.chainId === undefined, polls: 0, failures: 0 };
    });
  }

  /** Starts polling every endpoint (the first polls at once). Idempotent. */
  start(): this {
    if (this.#running) return this;
    this.#running = true;
    this.#startedAt = this.#o.now();
    if (this.#stop.signal.aborted) this.#stop = new AbortController();
    for (const ep of this.#eps) void this.#loop(ep);
    return this;
  }

  /** Stops the timers and waits for the polls in flight (each ends within `timeoutMs`). */
  async stop(): Promise<void> {
    this.#running = false;
    this.#stop.abort(new Error("HeadWatcher stopped"));
    for (const ep of this.#eps) clearTimeout(ep.timer);
    await Promise.all(this.#eps.map((ep) => ep.inFlight));
    for (const ep of this.#eps) {
      const rpc = (ep.transport.value as { getRpcClient?: () => Promise<{ close: () => void }> } | undefined)?.getRpcClient;
      if (rpc) await rpc().then((c) => c.close(), () => undefined);
    }
  }

  /** Polls every endpoint once, together (a poll already in flight is joined, not repeated). */
  async pollOnce(): Promise<void> {
    await Promise.all(this.#eps.map((ep) => this.#poll(ep)));
  }

  async #loop(ep: Endpoint): Promise<void> {
    if (!this.#running) return;
    await this.#poll(ep);
    if (!this.#running) return;
    ep.timer = setTimeout(() => void this.#loop(ep), this.#o.intervalMs);
    ep.timer.unref();
  }

  #poll(ep: Endpoint): Promise<void> {
    ep.inFlight ??= this.#ask(ep).finally(() => {
      ep.inFlight = undefined;
    });
    return ep.inFlight;
  }

  async #ask(ep: Endpoint): Promise<void> {
    const { now, timeoutMs } = this.#o;
    const t0 = now();
    ep.polls++;
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(timeoutMs)]);
    const request = (method: string) =>
      ep.transport.request({ method, params: [] } as never, { signal } as never) as Promise<unknown>;
    try {
      if (!ep.chainChecked) {
        const id = await request("eth_chainId");
        const chainId = typeof id === "string" && /^0x[0-9a-f]+$/i.test(id) ? Number(BigInt(id)) : NaN;
        if (chainId !== this.#o.chainId) throw new Error(`serves chain ${Number.isNaN(chainId) ? JSON.stringify(id) : chainId}, not ${this.#o.chainId}`);
        ep.chainChecked = true;
      }
      const hex = await request("eth_blockNumber");
      if (typeof hex !== "string" || !/^0x[0-9a-f]+$/i.test(hex)) throw new Error(`eth_blockNumber answered ${JSON.stringify(hex)}, not a hex quantity`);
      const head = BigInt(hex);
      const at = now();
      if (ep.head !== head) ep.headAt = at;
      ep.head = head;
      ep.okAt = at;
      ep.latencyMs = at - t0;
      ep.error = undefined;
    } catch (err) {
      if (this.#stop.signal.aborted) return;
      ep.failures++;
      ep.error = signal.aborted ? `no answer within ${timeoutMs} ms` : shortError(err);
    }
  }

  #fresh(ep: Endpoint, at: number): boolean {
    return ep.okAt !== undefined && at - ep.okAt <= this.#o.staleAfterMs;
  }

  /** Highest head among endpoints heard from within `staleAfterMs`; undefined when none is. */
  bestHead(): bigint | undefined {
    const at = this.#o.now();
    let best: bigint | undefined;
    for (const ep of this.#eps) if (this.#fresh(ep, at) && ep.head !== undefined && (best === undefined || ep.head > best)) best = ep.head;
    if (best !== undefined && (this.#lastBest === undefined || best > this.#lastBest)) this.#lastBest = best;
    return best;
  }

  /** What each endpoint last said, in configuration order. */
  endpoints(): EndpointHead[] {
    const at = this.#o.now();
    const best = this.bestHead();
    return this.#eps.map((ep) => {
      const fresh = this.#fresh(ep, at);
      const out: EndpointHead = {
        url: this.#o.redact(ep.url),
        stale: ep.okAt === undefined ? at - this.#startedAt > this.#o.staleAfterMs || ep.error !== undefined : !fresh,
        polls: ep.polls,
        failures: ep.failures,
      };
      if (ep.head !== undefined) out.head = ep.head;
      if (ep.okAt !== undefined) out.ageMs = at - ep.okAt;
      if (ep.headAt !== undefined) out.headAgeMs = at - ep.headAt;
      if (ep.latencyMs !== undefined) out.latencyMs = ep.latencyMs;
      if (ep.error !== undefined) out.error = ep.error;
      if (fresh && best !== undefined && ep.head !== undefined) out.behindBlocks = Number(best - ep.head);
      return out;
    });
  }

  /**
   * The worker's processed block (`processed`: its cursor) against the best head, for /health: unhealthy when no
   * endpoint answered within `staleAfterMs`, or when the lag (less `confirmations`, which the worker waits for on
   * purpose) exceeds `maxLagBlocks`.
   */
  lag(processed: bigint | undefined, options: { maxLagBlocks?: number; confirmations?: number } = {}): HeadLag {
    const at = this.#o.now();
    const fresh = this.#eps.filter((ep) => this.#fresh(ep, at));
    const live = this.bestHead();
    const bestHead = live ?? this.#lastBest;
    const reasons: string[] = [];
    const stale = live === undefined;
    if (stale) {
      const last = Math.max(...this.#eps.map((ep) => ep.okAt ?? -Infinity));
      const silentFor = Math.round((at - (Number.isFinite(last) ? last : this.#startedAt)) / 1000);
      const why = this.#eps.map((ep) => `${this.#o.redact(ep.url)}: ${ep.error ?? "no answer yet"}`).join("; ");
      reasons.push(
        Number.isFinite(last)
          ? `no RPC endpoint has answered eth_blockNumber for ${silentFor} s (${why})`
          : `no RPC endpoint has answered eth_blockNumber yet (${why})`,
      );
    }
    let lagBlocks: number | undefined;
    if (bestHead !== undefined && processed !== undefined) {
      const target = bestHead - BigInt(options.confirmations ?? 0);
      lagBlocks = target > processed ? Number(target - processed) : 0;
      if (options.maxLagBlocks !== undefined && lagBlocks > options.maxLagBlocks) {
        reasons.push(`processing lags the chain head (${bestHead}) by ${lagBlocks} blocks`);
      }
    }
    const out: HeadLag = { stale, freshEndpoints: fresh.length, healthy: reasons.length === 0, reasons };
    if (bestHead !== undefined) out.bestHead = bestHead;
    if (lagBlocks !== undefined) out.lagBlocks = lagBlocks;
    return out;
  }
}
