/**
 * Keccak-256 (the pre-standard padding Ethereum uses), small and dependency-free, for the 4-byte selectors the
 * Ignition modules map to roles: the ignition entry needs no hashing library. Constants are derived (FIPS 202's
 * round-constant LFSR and rho offsets), not typed in. test/contracts/ignition-package.test.ts checks it against viem.
 */
const MASK = (1n << 64n) - 1n;
const RATE = 136; // bytes: 1600 - 2 * 256 bits

const ROUND_CONSTANTS: bigint[] = [];
{
  let r = 1; // rc(t), FIPS 202 algorithm 5, one bit per step
  for (let round = 0; round < 24; round++) {
    let rc = 0n;
    for (let j = 0; j < 7; j++) {
      if (r & 1) rc |= 1n << BigInt((1 << j) - 1);
      r <<= 1;
      if (r & 0x100) r ^= 0x171;
    }
    ROUND_CONSTANTS.push(rc);
  }
}

const ROTATIONS: number[] = new Array(25).fill(0);
for (let t = 0, x = 1, y = 0; t < 24; t++) {
  ROTATIONS[x + 5 * y] = (((t + 1) * (t + 2)) / 2) % 64;
  [x, y] = [y, (2 * x + 3 * y) % 5];
}

const rotl = (v: bigint, n: number) => (n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & MASK);

function permute(s: bigint[]): void {
  const c = new Array<bigint>(5);
  const b = new Array<bigint>(25);
  for (const rc of ROUND_CONSTANTS) {
    for (let x = 0; x < 5; x++) c[x] = s[x]! ^ s[x + 5]! ^ s[x + 10]! ^ s[x + 15]! ^ s[x + 20]!;
    for (let x = 0; x < 5; x++) {
      const d = c[(x + 4) % 5]! ^ rotl(c[(x + 1) % 5]!, 1);
      for (let y = 0; y < 25; y += 5) s[x + y] ^= d;
    }
    for (let x = 0; x < 5; x++) for (let y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(s[x + 5 * y]!, ROTATIONS[x + 5 * y]!);
    for (let y = 0; y < 25; y += 5) for (let x = 0; x < 5; x++) s[x + y] = b[x + y]! ^ (~b[((x + 1) % 5) + y]! & MASK & b[((x + 2) % 5) + y]!);
    s[0] = s[0]! ^ rc;
  }
}

/** Keccak-256 of `data`, as 32 bytes. */
export function keccak256(data: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.floor(data.length / RATE) * RATE + RATE);
  padded.set(data);
  padded[data.length]! ^= 0x01;
  padded[padded.length - 1]! ^= 0x80;
  const s = new Array<bigint>(25).fill(0n);
  for (let off = 0; off < padded.length; off += RATE) {
    for (let i = 0; i < RATE / 8; i++) {
      let lane = 0n;
      for (let k = 7; k >= 0; k--) lane = (lane << 8n) | BigInt(padded[off + 8 * i + k]!);
      s[i] ^= lane;
    }
    permute(s);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((s[i >> 3]! >> BigInt(8 * (i & 7))) & 0xffn);
  return out;
}

/** The 4-byte selector of a function signature such as `transfer(address,uint256)`, as 0x-prefixed hex. */
export function selectorOf(signature: string): `0x${string}` {
  const hash = keccak256(new TextEncoder().encode(signature));
  return `0x${[...hash.subarray(0, 4)].map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}
