/** Small helpers shared by the worker's components (the tasks under tasks/, validator.ts). */
import type { Hex } from "viem";

export function sameAddress(a: string | undefined, b: string | undefined): boolean {
  return !!a && !!b && a.toLowerCase() === b.toLowerCase();
}

/** Drops keys whose value is undefined, so option defaults are not overwritten by explicit undefineds. */
export function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function hexBytes(hex: Hex): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.slice(2), "hex"));
}

/** 32 random bytes (commit-reveal salts). */
export function randomBytes32(): Hex {
  return `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex")}` as Hex;
}

/** Fetches an input given by URI (its hash is checked by the caller). */
export async function defaultFetch(uri: string): Promise<Uint8Array> {
  const res = await fetch(uri, { signal: AbortSignal.timeout(15_000) });
  if (!res.ok) throw new Error(`input fetch ${uri} failed with HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
