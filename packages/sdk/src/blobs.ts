/**
 * Content-addressed input blobs: inputs of any size without a storage service.
 *
 * An input above the escrow's inline limit (`maxInputBytes`, 16 KiB by default) is submitted by reference: the
 * chain stores its sha256 (`inputHash`) and the URI `sha256:<64 hex>`, which names the bytes by that same hash and
 * nothing else. After the submission is mined, the requester pushes the bytes to every operator drawn for the job
 * (`PUT <endpoint>/blobs/0x<sha256>`, in parallel). An operator verifies the bytes against the on-chain
 * `inputHash`; one that did not receive them asks the job's other operators (`GET <endpoint>/blobs/0x<sha256>`),
 * and declines the job without penalty if nobody has them before its commit window closes.
 *
 * Why a bare hash rather than an http(s) URL: the bytes are valid from anywhere that serves them, the chain
 * already pins them, and no endpoint is trusted for their content (worker/src/blobs.ts checks every byte).
 */
import type { Address, Hex } from "viem";
import { readContract } from "viem/actions";
import { nodeStakingAbi } from "@veil/contracts";
import type { AddressesParameter, VeilClient } from "./internal.js";
import { sha256Hex } from "./tensor.js";

/** The scheme of content-addressed input URIs: `sha256:<64 lowercase hex>`. */
export const CONTENT_URI_SCHEME = "sha256:";

/** `sha256:<hex>` for the sha256 `hash` (0x-prefixed or bare hex). */
export function contentUri(hash: Hex | string): string {
  const hex = hash.toLowerCase().replace(/^0x/, "");
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new TypeError(`contentUri: expected a sha256 (64 hex digits), got ${JSON.stringify(hash)}`);
  return `${CONTENT_URI_SCHEME}${hex}`;
}

/** The 0x sha256 a `sha256:<hex>` URI names, or undefined for any other URI. */
export function parseContentUri(uri: string): Hex | undefined {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(uri.trim());
  return m ? (`0x${m[1]!.toLowerCase()}` as Hex) : undefined;
}

/** What happened to one operator's copy of a pushed blob. */
export type BlobPush = {
  operator: Address;
  /** The operator's registered endpoint (undefined when it has none). */
  endpoint: string | undefined;
  ok: boolean;
  /** HTTP status of the PUT, when one came back. */
  status?: number | undefined;
  /** Why it failed (HTTP error body, network error, timeout). */
  error?: string | undefined;
  /** Wall time of the push. */
  ms: number;
};

export type PushBlobParameters = AddressesParameter & {
  /** The blob; its sha256 is the address it is pushed under. */
  bytes: Uint8Array;
  /** Operators to push to (duplicates are pushed once). */
  operators: readonly Address[];
  /** Per-operator timeout (default 30 s). */
  timeoutMs?: number | undefined;
  /** Fetch implementation (default: the global fetch). */
  fetch?: typeof fetch | undefined;
};
export type PushBlobReturnType = BlobPush[];

/**
 * Pushes `bytes` to every operator's endpoint (`PUT <endpoint>/blobs/0x<sha256>`) in parallel, each with its own
 * timeout. Never throws for an operator that fails: each result says what happened, so the caller can retry or
 * warn. An operator without the bytes asks the job's other operators for them, so one successful push is usually
 * enough; a job none of them can get is declined without penalty (and refunded).
 *
 * @example
 * const pushes = await pushBlob(client, { addresses, bytes, operators })
 */
export async function pushBlob(client: VeilClient, params: PushBlobParameters): Promise<PushBlobReturnType> {
  const { bytes, addresses } = params;
  const hash = sha256Hex(bytes);
  const doFetch = params.fetch ?? fetch;
  const timeoutMs = params.timeoutMs ?? 30_000;
  const operators = [...new Map(params.operators.map((o) => [o.toLowerCase(), o])).values()];
  return Promise.all(
    operators.map(async (operator): Promise<BlobPush> => {
      const started = Date.now();
      let endpoint: string | undefined;
      try {
        const op = await readContract(client, { address: addresses.nodeStaking, abi: nodeStakingAbi, functionName: "operator", args: [operator] });
        endpoint = op.endpoint ? op.endpoint.replace(/\/+$/, "") : undefined;
        if (!endpoint) return { operator, endpoint, ok: false, error: "the operator has no registered endpoint", ms: Date.now() - started };
        const res = await doFetch(`${endpoint}/blobs/${hash}`, {
          method: "PUT",
          headers: { "content-type": "application/octet-stream" },
          body: bytes as BodyInit,
          signal: AbortSignal.timeout(timeoutMs),
        });
        const ok = res.status === 200 || res.status === 201;
        const error = ok ? undefined : `HTTP ${res.status}: ${(await res.text().catch(() => "")).slice(0, 200).trim()}`;
        if (ok) await res.body?.cancel().catch(() => undefined);
        return { operator, endpoint, ok, status: res.status, error, ms: Date.now() - started };
      } catch (err) {
        const e = err as Error;
        const error = e?.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : String(e?.message ?? err);
        return { operator, endpoint, ok: false, error, ms: Date.now() - started };
      }
    }),
  );
}
