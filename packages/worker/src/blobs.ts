/**
 * Content-addressed input blobs on the operator's side (the requester's side is sdk/src/blobs.ts).
 *
 * A job whose input is above the escrow's inline limit carries `inputURI = sha256:<hex>` and `inputHash` on chain.
 * The requester PUTs the bytes to each drawn operator's `/blobs/0x<sha256>`; `BlobInbox` checks them against the
 * path and stores them. `InputResolver` turns a job's input URI into bytes: a `sha256:` URI from this worker's
 * store, else from the job's other operators (`GET <endpoint>/blobs/0x<sha256>`, their endpoints from NodeStaking),
 * any other URI with a plain fetch. Whatever the source, the caller checks the bytes against the on-chain
 * `inputHash` before using them, and a job whose bytes never arrive is declined without penalty (tasks/poster.ts `declineIfDue`).
 *
 * Bounds. An upload is at most `maxBlobBytes`. Uploads that no job of this worker has claimed yet (the requester
 * pushes right after its submission is mined, usually before this worker has seen the job) are "pending": at most
 * `maxPendingBytes` in total, each dropped after `pendingTtlMs` unless a job claimed it. An upload for an input that
 * an assigned job is waiting for is claimed at once and never counts as pending, so a flood of unrelated uploads
 * can delay no job whose input is already known.
 */
import { createHash } from "node:crypto";
import type { Address, Chain, Hex, PublicClient, Transport } from "viem";
import { nodeStakingAbi } from "@veil/contracts";
import { parseContentUri } from "@veil/sdk";
import type { WorkerStore } from "./store.js";
import { defaultFetch, sameAddress } from "./internal/util.js";

export { parseContentUri };

export const DEFAULT_MAX_BLOB_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_PENDING_BLOB_BYTES = 256 * 1024 * 1024;
export const DEFAULT_PENDING_BLOB_TTL_MS = 15 * 60_000;

function sha256(bytes: Uint8Array): Hex {
  return `0x${createHash("sha256").update(bytes).digest("hex")}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Uploads

export type BlobPutResult =
  | { status: 200 | 201; hash: Hex; pending: boolean }
  | { status: 400 | 413 | 507; error: string };

export interface BlobInboxOptions {
  store: WorkerStore;
  /** Largest blob accepted (default 64 MiB). */
  maxBlobBytes?: number;
  /** Total bytes of unclaimed uploads (default 256 MiB). */
  maxPendingBytes?: number;
  /** Unclaimed uploads older than this (by the store's clock) are dropped (default 15 min). */
  pendingTtlMs?: number;
}

/** Receives uploaded blobs (PUT /blobs/<sha256>) into the worker's store, within its bounds. */
export class BlobInbox {
  readonly maxBlobBytes: number;
  readonly maxPendingBytes: number;
  readonly pendingTtlMs: number;
  private readonly store: WorkerStore;

  constructor(o: BlobInboxOptions) {
    this.store = o.store;
    this.maxBlobBytes = o.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
    this.maxPendingBytes = o.maxPendingBytes ?? DEFAULT_MAX_PENDING_BLOB_BYTES;
    this.pendingTtlMs = o.pendingTtlMs ?? DEFAULT_PENDING_BLOB_TTL_MS;
  }

  /** Stores `bytes` uploaded under `hash` if they hash to it and fit the bounds. */
  put(hash: Hex, bytes: Uint8Array): BlobPutResult {
    const want = hash.toLowerCase() as Hex;
    if (bytes.byteLength > this.maxBlobBytes) {
      return { status: 413, error: `blob of ${bytes.byteLength} bytes exceeds this worker's limit of ${this.maxBlobBytes} bytes` };
    }
    const actual = sha256(bytes);
    if (actual !== want) return { status: 400, error: `the body's sha256 is ${actual}, not ${want} (the path must be the sha256 of the bytes)` };
    if (this.store.hasBlob(want)) {
      if (this.store.isInputAwaited(want)) this.store.claimBlob(want);
      return { status: 200, hash: want, pending: false };
    }
    if (this.store.isInputAwaited(want)) {
      this.store.putBlob(bytes); // an assigned job waits for exactly these bytes: not pending
      return { status: 201, hash: want, pending: false };
    }
    this.gc();
    const { bytes: pending } = this.store.uploadedBlobStats();
    if (pending + bytes.byteLength > this.maxPendingBytes) {
      return {
        status: 507,
        error: `this worker holds ${pending} bytes of uploads no job has claimed yet (limit ${this.maxPendingBytes}); retry once the job is assigned here`,
      };
    }
    this.store.putUploadedBlob(bytes);
    return { status: 201, hash: want, pending: true };
  }

  /** Drops unclaimed uploads older than the TTL; returns how many. */
  gc(): number {
    return this.store.pruneUploadedBlobs(this.pendingTtlMs);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Resolving a job's input

export interface InputResolverOptions {
  store: WorkerStore;
  publicClient: PublicClient<Transport, Chain | undefined>;
  nodeStaking: Address;
  /** This operator (never asked for its own blobs). */
  self: Address;
  /** Fetches any other URI (default: HTTP GET with a 15 s timeout). */
  fetchUri?: (uri: string) => Promise<Uint8Array>;
  /** Largest blob read from a peer (default 64 MiB). */
  maxBlobBytes?: number;
  /** Per-peer timeout (default 15 s). */
  peerTimeoutMs?: number;
  /** Fetch implementation for peers (default: the global fetch). */
  fetch?: typeof fetch;
}

/** Why a content-addressed input could not be had (yet): retried, and declined near the commit deadline. */
export class BlobUnavailableError extends Error {
  override name = "BlobUnavailableError";
}

/** Turns a job's input URI into bytes (see the module comment). */
export class InputResolver {
  private readonly endpoints = new Map<string, { url: string | undefined; at: number }>();
  constructor(private readonly o: InputResolverOptions) {}

  /**
   * The bytes behind `uri`. For `sha256:<hex>`: this worker's copy, else the first of `peers` (the job's operators)
   * that serves bytes with that hash; throws BlobUnavailableError naming who was asked. The caller still checks
   * the bytes against the job's on-chain inputHash.
   */
  async fetch(uri: string, peers: readonly Address[] = []): Promise<Uint8Array> {
    const hash = parseContentUri(uri);
    if (!hash) return (this.o.fetchUri ?? defaultFetch)(uri);
    const local = this.o.store.getBlob(hash);
    if (local) return local;
    const asked: string[] = [];
    for (const peer of peers) {
      if (sameAddress(peer, this.o.self) || asked.includes(peer)) continue;
      const url = await this.endpointOf(peer).catch(() => undefined);
      if (!url) {
        asked.push(`${peer} (no endpoint)`);
        continue;
      }
      try {
        const bytes = await this.get(`${url}/blobs/${hash}`);
        if (sha256(bytes) === hash) return bytes;
        asked.push(`${peer} (served other bytes)`);
      } catch (err) {
        asked.push(`${peer} (${(err as Error).message})`);
      }
    }
    throw new BlobUnavailableError(
      `input blob ${uri} has not been uploaded to this worker` + (asked.length ? `, and no other operator has it: ${asked.join("; ")}` : " (no other operator to ask)"),
    );
  }

  private async endpointOf(operator: Address): Promise<string | undefined> {
    const cached = this.endpoints.get(operator.toLowerCase());
    if (cached && Date.now() - cached.at < 5 * 60_000) return cached.url;
    const op = await this.o.publicClient.readContract({ address: this.o.nodeStaking, abi: nodeStakingAbi, functionName: "operator", args: [operator] });
    const url = op.endpoint ? op.endpoint.replace(/\/+$/, "") : undefined;
    this.endpoints.set(operator.toLowerCase(), { url, at: Date.now() });
    return url;
  }

  /** GET with a timeout and a size limit (a peer cannot make this worker read more than maxBlobBytes). */
  private async get(url: string): Promise<Uint8Array> {
    const max = this.o.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
    const res = await (this.o.fetch ?? fetch)(url, { signal: AbortSignal.timeout(this.o.peerTimeoutMs ?? 15_000) });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new Error(res.status === 404 ? "does not have it" : `HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get("content-length") ?? NaN);
    if (declared > max) {
      await res.body?.cancel().catch(() => undefined);
      throw new Error(`${declared} bytes exceeds the ${max}-byte limit`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of (res.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > max) throw new Error(`more than the ${max}-byte limit`);
      chunks.push(chunk);
    }
    return new Uint8Array(Buffer.concat(chunks));
  }
}
