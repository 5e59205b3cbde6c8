/**
 * eth_getLogs over a block range in chunks whose size adapts to what the node will answer.
 *
 * A chunk whose answer is too large (viem's ResponseBodyTooLargeError at its 10 MiB, HTTP 413, "query returned more
 * than 10000 results", "Log response size exceeded", "block range too large", ...: internal/retry.ts
 * `responseTooLarge`) is asked again at half its span, down to a single block; a single block still too large is a
 * `LogRangeTooLargeError` naming the block. After `growAfter` full chunks in a row the span doubles again, up to
 * `maxRange` (waiting longer each time a doubled span is refused again: see LogRangeSizer). A chunk that timed out
 * halves the span for the next call (the error is rethrown: the transport has already spent its retries on it). So
 * no range is asked twice at the same span, and reaching `toBlock` costs the chunks plus log2(maxRange) + 1
 * refusals for the first, plus one refusal per failed regrowth.
 *
 * Keep one `LogRangeSizer` per stream across calls (pass it as `sizer`) so that each call starts at the span the
 * node last accepted instead of halving down again from `maxRange`.
 */
import type { Address, Chain, Log, PublicClient, Transport } from "viem";
import { classifyRpcError, errorChain, responseTooLarge } from "../internal/retry.js";

/** A single block whose logs the node will not return in one answer. */
export class LogRangeTooLargeError extends Error {
  override readonly name = "LogRangeTooLargeError";
  constructor(
    readonly block: bigint,
    readonly address: Address | readonly Address[],
    /** What the node (or viem) said: see internal/retry.ts `responseTooLarge`. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `eth_getLogs for block ${block} alone is too large to read (${reason}) for ${Array.isArray(address) ? address.join(", ") : address}: ` +
        `use an RPC endpoint with a larger log/response limit`,
      options,
    );
  }
}

/**
 * The adaptive span, in blocks. Keep one per log stream across `readLogs` / `logChunks` calls.
 * Halves on a refusal; doubles (up to `maxRange`) after `growAfter` full-span answers in a row. When a doubled span
 * is refused in turn, the next doubling waits twice as many answers (up to 64 x), so a steady limit costs a refusal
 * per 3, 6, 12, 24, ... chunks, not one per 3; a doubled span that is answered resets the wait.
 */
export class LogRangeSizer {
  #range: bigint;
  #fullInARow = 0;
  #wait: number;
  /** The span was just doubled and has not been answered yet. */
  #grown = false;
  readonly maxRange: bigint;
  readonly growAfter: number;

  constructor(maxRange: bigint, options: { growAfter?: number; initialRange?: bigint } = {}) {
    if (typeof maxRange !== "bigint" || maxRange < 1n) throw new RangeError(`maxRange must be a bigint of at least 1 block, got ${String(maxRange)}`);
    const growAfter = options.growAfter ?? 3;
    if (!Number.isInteger(growAfter) || growAfter < 1) throw new RangeError(`growAfter must be a positive integer, got ${growAfter}`);
    const initial = options.initialRange ?? maxRange;
    if (typeof initial !== "bigint" || initial < 1n || initial > maxRange) throw new RangeError(`initialRange must be within [1, ${maxRange}], got ${initial}`);
    this.maxRange = maxRange;
    this.growAfter = growAfter;
    this.#wait = growAfter;
    this.#range = initial;
  }

  /** Blocks per chunk now. */
  get range(): bigint {
    return this.#range;
  }

  /** A chunk of `span` blocks was too large (or timed out): next time ask half of it. */
  shrink(span: bigint): void {
    const half = span / 2n;
    this.#range = half < 1n ? 1n : half < this.#range ? half : this.#range;
    this.#fullInARow = 0;
    if (this.#grown) this.#wait = Math.min(this.#wait * 2, this.growAfter * 64);
    this.#grown = false;
  }

  /** A chunk of `span` blocks was answered; only full-span chunks count towards growing back. */
  answered(span: bigint): void {
    if (span < this.#range) return;
    if (this.#grown) {
      this.#grown = false;
      this.#wait = this.growAfter;
    }
    if (++this.#fullInARow < this.#wait || this.#range >= this.maxRange) return;
    const doubled = this.#range * 2n;
    this.#range = doubled > this.maxRange ? this.maxRange : doubled;
    this.#fullInARow = 0;
    this.#grown = true;
  }
}

export interface LogChunk {
  from: bigint;
  to: bigint;
  logs: Log[];
}

export interface ReadLogsOptions {
  address: Address | Address[];
  fromBlock: bigint;
  toBlock: bigint;
  /** Largest span asked in one request (the worker's `maxLogRange`). Ignored when `sizer` is given (it has its own). */
  maxRange?: bigint;
  /** The adaptive span to use and update; keep one per stream. Default: a new one at `maxRange`. */
  sizer?: LogRangeSizer;
  /** Called after each chunk, in order, before the next is asked (e.g. to commit it and move a cursor). */
  onRange?: (chunk: LogChunk) => void | Promise<void>;
  /** Stops between chunks (rejects with its reason). */
  signal?: AbortSignal;
  /** Called when a chunk was too large and is asked again at `nextRange` blocks. */
  onSplit?: (event: { from: bigint; to: bigint; nextRange: bigint; reason: string }) => void;
}

export interface ReadLogsStats {
  /** eth_getLogs calls made (each may be several HTTP requests when the transport retried a transient failure). */
  requests: number;
  /** Chunks answered. */
  chunks: number;
  /** Chunks that were too large and were split. */
  splits: number;
}

type LogsClient = Pick<PublicClient<Transport, Chain | undefined>, "getLogs">;

function checkOptions(o: ReadLogsOptions): LogRangeSizer {
  if (typeof o.fromBlock !== "bigint" || typeof o.toBlock !== "bigint") throw new TypeError("fromBlock and toBlock must be bigints");
  if (o.fromBlock < 0n) throw new RangeError(`fromBlock must not be negative, got ${o.fromBlock}`);
  const addresses = Array.isArray(o.address) ? o.address : [o.address];
  if (addresses.length === 0 || addresses.some((a) => typeof a !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(a))) {
    throw new TypeError(`address must be one or more 20-byte hex addresses, got ${JSON.stringify(o.address)}`);
  }
  if (o.sizer) return o.sizer;
  if (o.maxRange === undefined) throw new TypeError("readLogs: give maxRange or sizer");
  return new LogRangeSizer(o.maxRange);
}

function isTimeout(err: unknown): boolean {
  return errorChain(err).some((e) => (e as { name?: unknown })?.name === "TimeoutError");
}

/**
 * The logs of `address` in [fromBlock, toBlock], one chunk at a time, in block order. Nothing is yielded when
 * fromBlock > toBlock. Rejects with `LogRangeTooLargeError` for a single block the node will not answer, and with
 * the transport's error for anything else (after halving the span for next time when it was a timeout).
 */
export async function* logChunks(client: LogsClient, options: ReadLogsOptions, stats?: ReadLogsStats): AsyncGenerator<LogChunk> {
  const sizer = checkOptions(options);
  const { address, toBlock, signal } = options;
  let from = options.fromBlock;
  while (from <= toBlock) {
    signal?.throwIfAborted();
    const last = from + sizer.range - 1n;
    const to = last < toBlock ? last : toBlock;
    const span = to - from + 1n;
    let logs: Log[];
    try {
      if (stats) stats.requests++;
      logs = (await client.getLogs({ address, fromBlock: from, toBlock: to })) as Log[];
    } catch (err) {
      const reason = responseTooLarge(err);
      if (reason !== undefined) {
        if (span === 1n) throw new LogRangeTooLargeError(from, address, reason, { cause: err });
        sizer.shrink(span);
        if (stats) stats.splits++;
        options.onSplit?.({ from, to, nextRange: sizer.range, reason });
        continue;
      }
      if (isTimeout(err) && span > 1n) sizer.shrink(span);
      throw err;
    }
    sizer.answered(span);
    if (stats) stats.chunks++;
    yield { from, to, logs };
    from = to + 1n;
  }
}

/**
 * Reads [fromBlock, toBlock] with `logChunks`, handing each chunk to `onRange` before asking the next, and returns
 * the request counts, with every log when there is no `onRange` (with one, the chunks are the caller's).
 */
export async function readLogs(client: LogsClient, options: ReadLogsOptions): Promise<ReadLogsStats & { logs: Log[] }> {
  const stats: ReadLogsStats = { requests: 0, chunks: 0, splits: 0 };
  const logs: Log[] = [];
  for await (const chunk of logChunks(client, options, stats)) {
    await options.onRange?.(chunk);
    if (!options.onRange) logs.push(...chunk.logs);
  }
  return { ...stats, logs };
}

/** Whether `err` says an eth_getLogs answer was over a limit (for callers that read logs themselves). */
export function isLogsTooLarge(err: unknown): boolean {
  return err instanceof LogRangeTooLargeError || classifyRpcError(err).kind === "too_large";
}
