/**
 * Per-job cost of Veil's private-inference crypto (sdk/src/privacy.ts), for 1 KiB and 1 MiB
 * inputs. Run: `npx tsx bench/privacy.ts [iterations]`. Prints median and p90 milliseconds.
 *
 * A job here is: the requester seals the input for 3 assigned operators (content key, envelope,
 * envelope hash, 3 wraps); one operator unwraps and decrypts it, encrypts a result of the same
 * size and computes the keyed result hash; the requester decrypts the result.
 */
import { randomBytes } from "@noble/hashes/utils.js";
import { getAddress, toHex } from "viem";

import {
  createJobContext,
  decryptInput,
  decryptResult,
  encryptInput,
  encryptResult,
  envelopeHash,
  generateContentKey,
  generateEncryptionKeyPair,
  keyedResultHash,
  unwrapContentKey,
  wrapContentKey,
} from "../packages/sdk/src/privacy.js";

const OPERATORS = 3;
const iterationsArg = Number(process.argv[2] ?? "");

type Step =
  | "encryptInput"
  | "envelopeHash"
  | `wrap x${typeof OPERATORS}`
  | "unwrap"
  | "decryptInput"
  | "encryptResult"
  | "keyedResultHash"
  | "decryptResult";

function stats(samples: number[]): { median: number; p90: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p90: at(0.9) };
}

function runSize(size: number, iterations: number): void {
  const operators = Array.from({ length: OPERATORS }, () => generateEncryptionKeyPair());
  const input = new Uint8Array(size);
  for (let off = 0; off < size; off += 65536) input.set(randomBytes(Math.min(65536, size - off)), off);
  const samples = new Map<Step, number[]>();
  const totals: number[] = [];
  const time = <T>(step: Step, fn: () => T): T => {
    const t0 = performance.now();
    const out = fn();
    const dt = performance.now() - t0;
    if (!samples.has(step)) samples.set(step, []);
    samples.get(step)!.push(dt);
    return out;
  };
  const warmup = Math.max(2, Math.floor(iterations / 10));
  for (let i = 0; i < warmup + iterations; i++) {
    if (i === warmup) samples.clear();
    const context = createJobContext({
      chainId: 8453n,
      escrow: getAddress(toHex(randomBytes(20))),
      requester: getAddress(toHex(randomBytes(20))),
    });
    const t0 = performance.now();
    const contentKey = generateContentKey();
    const envelope = time("encryptInput", () => encryptInput(input, contentKey, context));
    time("envelopeHash", () => envelopeHash(envelope));
    const wrapped = time(`wrap x${OPERATORS}`, () => operators.map((o) => wrapContentKey(contentKey, o.publicKey, context, "operator")));
    const ck = time("unwrap", () => unwrapContentKey(wrapped[0]!, operators[0]!.secretKey, context, "operator"));
    const plain = time("decryptInput", () => decryptInput(envelope, ck, context));
    const result = time("encryptResult", () => encryptResult(plain, ck, context));
    time("keyedResultHash", () => keyedResultHash(ck, context, plain));
    time("decryptResult", () => decryptResult(result, contentKey, context));
    if (i >= warmup) totals.push(performance.now() - t0);
  }
  const label = size >= 1024 * 1024 ? `${size / (1024 * 1024)} MiB` : `${size / 1024} KiB`;
  console.log(`\n${label} input, ${OPERATORS} operators, ${iterations} jobs (median / p90 ms)`);
  for (const [step, s] of samples) {
    const { median, p90 } = stats(s);
    console.log(`  ${step.padEnd(16)} ${median.toFixed(3).padStart(9)} ${p90.toFixed(3).padStart(9)}`);
  }
  const { median, p90 } = stats(totals);
  console.log(`  ${"total per job".padEnd(16)} ${median.toFixed(3).padStart(9)} ${p90.toFixed(3).padStart(9)}`);
}

console.log(`Veil privacy bench — node ${process.version}, ${process.platform}/${process.arch}`);
runSize(1024, Number.isFinite(iterationsArg) && iterationsArg > 0 ? iterationsArg : 200);
runSize(1024 * 1024, Number.isFinite(iterationsArg) && iterationsArg > 0 ? Math.max(3, Math.floor(iterationsArg / 10)) : 20);
