/**
 * Veil private inference — cryptographic core (SDK and worker).
 *
 * Only the requester and the operators assigned to a job (and, during a dispute, the committee
 * members drawn for it) may read the job's input and result. This module provides:
 *
 *   - X25519 operator / requester encryption keys (random or HKDF-derived from a seed),
 *   - job-context binding (chainId, escrow, requester, per-job nonce) of every KDF and AEAD,
 *   - input / result encryption with XChaCha20-Poly1305 in a versioned, key-committing envelope,
 *   - content-key wrapping to a recipient public key (ephemeral X25519 + HKDF-SHA256 + AEAD),
 *   - a keyed result hash (HMAC-SHA256) that assigned operators can agree on on-chain without
 *     letting outsiders test guesses of the output,
 *   - committee re-wrapping for disputes.
 *
 * All primitives come from the audited @noble libraries; nothing here is a hand-rolled primitive.
 * Browser-safe: no `node:*` imports, byte strings are `Uint8Array`, hex strings are 0x-prefixed.
 * The exact constructions, byte layouts and domain strings are specified in docs/privacy.md.
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { equalBytes } from "@noble/ciphers/utils.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, concatBytes, hexToBytes, randomBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { isAddress, type Address, type Hex } from "viem";

export type { Address, Hex };

/** Bytes given either as a `Uint8Array` or as a 0x-prefixed, even-length hex string. */
export type BytesLike = Uint8Array | Hex;

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

/** Version of the envelope / wrapped-key formats and of every domain string ("veil/v1/..."). */
export const PRIVACY_VERSION = 1;

/** Domain-separation strings. Each one is used for exactly one purpose (see docs/privacy.md). */
export const DOMAIN = {
  /** Job-context identifier: sha256(lp(CONTEXT, contextBytes)). */
  CONTEXT: "veil/v1/context",
  /** HKDF salt for deriving an X25519 secret from a seed (e.g. an operator's Ethereum key). */
  DERIVE_SALT: "veil/v1/encryption-key",
  /** HKDF info for deriving an X25519 secret from a seed; the caller's label follows. */
  DERIVE: "veil/v1/derive-x25519",
  /** HKDF info of the input-encryption key derived from the content key. */
  INPUT_KEY: "veil/v1/input-key",
  /** HKDF info of the result-encryption key derived from the content key. */
  RESULT_KEY: "veil/v1/result-key",
  /** HKDF info of the key commitment stored in every envelope. */
  KEY_COMMITMENT: "veil/v1/key-commitment",
  /** HKDF info of the HMAC key behind keyedResultHash. */
  RESULT_COMMIT: "veil/v1/result-commit",
  /** AEAD associated data of input envelopes. */
  INPUT_AD: "veil/v1/input",
  /** AEAD associated data of result envelopes. */
  RESULT_AD: "veil/v1/result",
  /** HKDF info and AEAD associated data of wrapped content keys. */
  WRAP: "veil/v1/wrap",
} as const;

/** "VEIL" — first four bytes of every serialized envelope and wrapped key. */
export const MAGIC = Uint8Array.of(0x56, 0x45, 0x49, 0x4c);

export const CONTENT_KEY_LENGTH = 32;
export const PUBLIC_KEY_LENGTH = 32;
export const SECRET_KEY_LENGTH = 32;
export const NONCE_LENGTH = 24; // XChaCha20-Poly1305
export const TAG_LENGTH = 16; // Poly1305
export const CONTEXT_BYTES_LENGTH = 104; // uint256 chainId || address escrow || address requester || bytes32 nonce

const KIND_INPUT = 1;
const KIND_RESULT = 2;
const KIND_WRAPPED_KEY = 3;

// Envelope layout: magic(4) version(1) kind(1) jobNonce(32) contextId(32) keyCommitment(32) aeadNonce(24) ciphertext(>=16)
const ENV_JOB_NONCE_OFFSET = 6;
const ENV_CONTEXT_OFFSET = ENV_JOB_NONCE_OFFSET + 32;
const ENV_COMMIT_OFFSET = ENV_CONTEXT_OFFSET + 32;
const ENV_NONCE_OFFSET = ENV_COMMIT_OFFSET + 32;
const ENV_BODY_OFFSET = ENV_NONCE_OFFSET + NONCE_LENGTH;
/** Bytes an envelope adds to its plaintext (header + nonce + Poly1305 tag). */
export const ENVELOPE_OVERHEAD = ENV_BODY_OFFSET + TAG_LENGTH;

// Wrapped-key layout: magic(4) version(1) kind(1) role(1) contextId(32) recipient(32) ephemeral(32) aeadNonce(24) ciphertext(48)
const WK_CONTEXT_OFFSET = 7;
const WK_RECIPIENT_OFFSET = WK_CONTEXT_OFFSET + 32;
const WK_EPHEMERAL_OFFSET = WK_RECIPIENT_OFFSET + PUBLIC_KEY_LENGTH;
const WK_NONCE_OFFSET = WK_EPHEMERAL_OFFSET + PUBLIC_KEY_LENGTH;
const WK_BODY_OFFSET = WK_NONCE_OFFSET + NONCE_LENGTH;
/** Exact size of a serialized wrapped content key. */
export const WRAPPED_KEY_LENGTH = WK_BODY_OFFSET + CONTENT_KEY_LENGTH + TAG_LENGTH;

/** Who a content key is wrapped for; bound into the wrap KDF and AEAD. */
export type KeyRole = "operator" | "committee" | "requester";
const ROLE_CODES: Record<KeyRole, number> = { operator: 1, committee: 2, requester: 3 };

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export type PrivacyErrorCode =
  /** AEAD authentication failed or the content key does not match the envelope's commitment. */
  | "DECRYPT_FAILED"
  /** The object was made for another job context (chainId/escrow/requester/nonce) or role. */
  | "WRONG_CONTEXT"
  /** The wrapped key is addressed to a different public key than the one of the given secret. */
  | "WRONG_RECIPIENT"
  /** Malformed envelope: length, magic, version or kind. */
  | "BAD_ENVELOPE"
  /** Malformed wrapped key: length, magic, version, kind or role byte. */
  | "BAD_WRAPPED_KEY"
  /** Invalid key material: wrong length, non-canonical or low-order X25519 public key. */
  | "BAD_KEY"
  /** Invalid job context: chainId, address or nonce format. */
  | "BAD_CONTEXT"
  /** Envelope bytes do not hash to the expected (on-chain) envelope hash. */
  | "HASH_MISMATCH"
  /** Any other invalid argument (bad hex, empty recipient list, unknown role...). */
  | "BAD_ARGUMENT";

/** The only error type thrown by this module. Messages never contain secret key material. */
export class PrivacyError extends Error {
  readonly code: PrivacyErrorCode;
  constructor(code: PrivacyErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = "PrivacyError";
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Byte helpers (parsing only — no cryptography)
// ---------------------------------------------------------------------------------------------

const HEX_RE = /^0x(?:[0-9a-fA-F]{2})*$/;

function toHex(bytes: Uint8Array): Hex {
  return `0x${bytesToHex(bytes)}`;
}

/** Parses BytesLike into a fresh copy (never aliases the caller's buffer). */
function toBytes(value: BytesLike, what: string, code: PrivacyErrorCode, length?: number): Uint8Array {
  let out: Uint8Array;
  if (value instanceof Uint8Array) {
    out = Uint8Array.from(value);
  } else if (typeof value === "string" && HEX_RE.test(value)) {
    out = hexToBytes(value.slice(2));
  } else {
    throw new PrivacyError(code, `${what} must be a Uint8Array or a 0x-prefixed even-length hex string`);
  }
  if (length !== undefined && out.length !== length) {
    throw new PrivacyError(code, `${what} must be ${length} bytes, got ${out.length}`);
  }
  return out;
}

function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

/**
 * Injective encoding of a list of byte strings: each part is prefixed with its length as a
 * 4-byte big-endian integer. Used for every KDF info, AEAD associated data and hash input, so
 * that no two different tuples (e.g. a domain string followed by data) can encode the same.
 */
function lp(...parts: Array<Uint8Array | string>): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    const b = typeof p === "string" ? utf8ToBytes(p) : p;
    chunks.push(u32be(b.length), b);
  }
  return concatBytes(...chunks);
}

function wipe(...arrays: Uint8Array[]): void {
  for (const a of arrays) a.fill(0);
}

function hkdf32(ikm: Uint8Array, salt: Uint8Array | undefined, info: Uint8Array): Uint8Array {
  return hkdf(sha256, ikm, salt, info, 32);
}

// ---------------------------------------------------------------------------------------------
// Encryption keys (X25519)
// ---------------------------------------------------------------------------------------------

/** An X25519 key pair. `publicKey` is the bytes32 registered on-chain with the node. */
export interface EncryptionKeyPair {
  secretKey: Uint8Array;
  publicKey: Hex;
}

const CURVE25519_P = (1n << 255n) - 19n;
/** Fixed public scalar used only to probe public keys for low order (see parsePublicKey). */
const LOW_ORDER_PROBE_SCALAR = sha256(utf8ToBytes("veil/v1/low-order-probe"));

function bytesToBigIntLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/**
 * Parses and validates an X25519 public key: 32 bytes, canonical encoding (u < 2^255 - 19,
 * top bit clear) and not of low order (checked by noble's X25519, which rejects the low-order
 * u-coordinates). Throws PrivacyError('BAD_KEY').
 */
function parsePublicKey(value: BytesLike, what = "public key", probeLowOrder = true): Uint8Array {
  const pk = toBytes(value, what, "BAD_KEY", PUBLIC_KEY_LENGTH);
  if (bytesToBigIntLE(pk) >= CURVE25519_P) {
    throw new PrivacyError("BAD_KEY", `${what} is not a canonical X25519 u-coordinate`);
  }
  // Callers that immediately run X25519 on the key skip the probe: noble's getSharedSecret
  // performs the same low-order rejection (before its ladder) and they map its error to BAD_KEY.
  if (!probeLowOrder) return pk;
  try {
    // Any valid scalar works: a clamped scalar is a multiple of the cofactor, so a low-order
    // point always yields the identity, which noble rejects. The key is public: timing is moot.
    x25519.getSharedSecret(LOW_ORDER_PROBE_SCALAR, pk);
  } catch {
    throw new PrivacyError("BAD_KEY", `${what} is a low-order X25519 point`);
  }
  return pk;
}

function parseSecretKey(value: BytesLike, what = "secret key"): Uint8Array {
  return toBytes(value, what, "BAD_KEY", SECRET_KEY_LENGTH);
}

function parseContentKey(value: BytesLike): Uint8Array {
  return toBytes(value, "content key", "BAD_KEY", CONTENT_KEY_LENGTH);
}

/** Generates a random X25519 key pair (CSPRNG: crypto.getRandomValues). */
export function generateEncryptionKeyPair(): EncryptionKeyPair {
  const { secretKey, publicKey } = x25519.keygen();
  return { secretKey, publicKey: toHex(publicKey) };
}

/** The bytes32 X25519 public key of a secret key. */
export function encryptionPublicKey(secretKey: BytesLike): Hex {
  const sk = parseSecretKey(secretKey);
  try {
    return toHex(x25519.getPublicKey(sk));
  } finally {
    wipe(sk);
  }
}

/**
 * Deterministically derives an X25519 key pair from a high-entropy seed (for an operator: its
 * Ethereum private key) and a label (for key rotation: bump the label, e.g. "node/0xabc…/key/2").
 *
 *   secret = HKDF-SHA256(ikm = seed, salt = "veil/v1/encryption-key",
 *                        info = lp("veil/v1/derive-x25519", label), L = 32)
 *
 * The seed must be at least 32 bytes. HKDF output is independent of any other use of the seed.
 */
export function deriveEncryptionKeyPair(seed: BytesLike, label: string): EncryptionKeyPair {
  const ikm = toBytes(seed, "seed", "BAD_KEY");
  if (ikm.length < 32) {
    wipe(ikm);
    throw new PrivacyError("BAD_KEY", `seed must be at least 32 bytes, got ${ikm.length}`);
  }
  if (typeof label !== "string" || label.length === 0) {
    wipe(ikm);
    throw new PrivacyError("BAD_ARGUMENT", "label must be a non-empty string");
  }
  const secretKey = hkdf32(ikm, utf8ToBytes(DOMAIN.DERIVE_SALT), lp(DOMAIN.DERIVE, label));
  wipe(ikm);
  return { secretKey, publicKey: toHex(x25519.getPublicKey(secretKey)) };
}

/** Whether a value is a valid registrable X25519 public key (32 bytes, canonical, not low-order). */
export function isValidEncryptionPublicKey(publicKey: BytesLike): boolean {
  try {
    parsePublicKey(publicKey);
    return true;
  } catch {
    return false;
  }
}

/** Validates an X25519 public key and returns it as lowercase bytes32 hex; throws BAD_KEY. */
export function validateEncryptionPublicKey(publicKey: BytesLike): Hex {
  return toHex(parsePublicKey(publicKey));
}

// ---------------------------------------------------------------------------------------------
// Job context
// ---------------------------------------------------------------------------------------------

/**
 * What every ciphertext, wrapped key and keyed hash of a job is bound to. `nonce` is random per
 * job, chosen by the SDK and included in the job's input reference (hence its on-chain input hash).
 */
export interface JobContext {
  chainId: bigint;
  escrow: Address;
  requester: Address;
  nonce: Hex;
}

/** A fresh random 32-byte job nonce. */
export function randomJobNonce(): Hex {
  return toHex(randomBytes(32));
}

/** Builds (and validates) a job context, drawing a random nonce unless one is given. */
export function createJobContext(params: {
  chainId: bigint;
  escrow: Address;
  requester: Address;
  nonce?: Hex;
}): JobContext {
  const context: JobContext = {
    chainId: params.chainId,
    escrow: params.escrow,
    requester: params.requester,
    nonce: params.nonce ?? randomJobNonce(),
  };
  encodeJobContext(context);
  return context;
}

function addressBytes(value: unknown, what: string): Uint8Array {
  if (typeof value !== "string" || !isAddress(value, { strict: true })) {
    throw new PrivacyError("BAD_CONTEXT", `${what} must be a 0x-prefixed 20-byte address (EIP-55 checksum if mixed-case)`);
  }
  return hexToBytes(value.slice(2));
}

/**
 * Canonical 104-byte encoding of a job context, equal to Solidity's
 * `abi.encodePacked(uint256 chainId, address escrow, address requester, bytes32 nonce)`.
 */
export function encodeJobContext(context: JobContext): Uint8Array {
  if (context === null || typeof context !== "object") {
    throw new PrivacyError("BAD_CONTEXT", "context must be an object");
  }
  const { chainId } = context;
  if (typeof chainId !== "bigint" || chainId <= 0n || chainId >= 1n << 256n) {
    throw new PrivacyError("BAD_CONTEXT", "chainId must be a bigint in [1, 2^256)");
  }
  const chain = hexToBytes(chainId.toString(16).padStart(64, "0"));
  const escrow = addressBytes(context.escrow, "escrow");
  const requester = addressBytes(context.requester, "requester");
  if (typeof context.nonce !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(context.nonce)) {
    throw new PrivacyError("BAD_CONTEXT", "nonce must be a 0x-prefixed bytes32 hex string");
  }
  const nonce = hexToBytes(context.nonce.slice(2));
  return concatBytes(chain, escrow, requester, nonce);
}

function contextIdBytes(contextBytes: Uint8Array): Uint8Array {
  return sha256(lp(DOMAIN.CONTEXT, contextBytes));
}

/** Public identifier of a job context: sha256(lp("veil/v1/context", encodeJobContext(ctx))). */
export function jobContextId(context: JobContext): Hex {
  return toHex(contextIdBytes(encodeJobContext(context)));
}

// ---------------------------------------------------------------------------------------------
// Content keys and derived keys
// ---------------------------------------------------------------------------------------------

/** A fresh random 32-byte content key. Use one per job; never reuse across jobs. */
export function generateContentKey(): Uint8Array {
  return randomBytes(CONTENT_KEY_LENGTH);
}

/** HKDF-SHA256(ikm = contentKey, salt = none, info = lp(label, contextBytes)). */
function deriveFromContentKey(contentKey: Uint8Array, label: string, contextBytes: Uint8Array): Uint8Array {
  return hkdf32(contentKey, undefined, lp(label, contextBytes));
}

// ---------------------------------------------------------------------------------------------
// Envelopes (input and result ciphertexts)
// ---------------------------------------------------------------------------------------------

export type EnvelopeKind = "input" | "result";

/** Decoded envelope. Serialized by encodeEnvelope; its sha256 is the on-chain envelope hash. */
export interface Envelope {
  version: number;
  kind: EnvelopeKind;
  /**
   * The job context's nonce, in clear: a worker rebuilds the context from the chain (chainId,
   * escrow, the job's requester) plus this value. Since the envelope's sha256 is the job's
   * on-chain input hash, the nonce is committed on-chain with it.
   */
  jobNonce: Hex;
  /** jobContextId of the context the envelope was sealed for (public; for diagnostics). */
  contextId: Hex;
  /** Commitment to the content key (makes the envelope key-committing). */
  keyCommitment: Hex;
  /** 24-byte XChaCha20 nonce. */
  aeadNonce: Uint8Array;
  /** XChaCha20-Poly1305 ciphertext, tag included (last 16 bytes). */
  ciphertext: Uint8Array;
}

function kindCode(kind: EnvelopeKind): number {
  if (kind === "input") return KIND_INPUT;
  if (kind === "result") return KIND_RESULT;
  throw new PrivacyError("BAD_ENVELOPE", "envelope kind must be 'input' or 'result'");
}

/** Serializes an envelope: "VEIL" | version | kind | jobNonce | contextId | keyCommitment | aeadNonce | ciphertext. */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  if (envelope.version !== PRIVACY_VERSION) {
    throw new PrivacyError("BAD_ENVELOPE", `unsupported envelope version ${String(envelope.version)}`);
  }
  const jobNonce = toBytes(envelope.jobNonce, "envelope jobNonce", "BAD_ENVELOPE", 32);
  const contextId = toBytes(envelope.contextId, "envelope contextId", "BAD_ENVELOPE", 32);
  const commitment = toBytes(envelope.keyCommitment, "envelope keyCommitment", "BAD_ENVELOPE", 32);
  const nonce = toBytes(envelope.aeadNonce, "envelope aeadNonce", "BAD_ENVELOPE", NONCE_LENGTH);
  const ciphertext = toBytes(envelope.ciphertext, "envelope ciphertext", "BAD_ENVELOPE");
  if (ciphertext.length < TAG_LENGTH) {
    throw new PrivacyError("BAD_ENVELOPE", `envelope ciphertext must be at least ${TAG_LENGTH} bytes`);
  }
  return concatBytes(MAGIC, Uint8Array.of(PRIVACY_VERSION, kindCode(envelope.kind)), jobNonce, contextId, commitment, nonce, ciphertext);
}

/** Parses a serialized envelope; throws BAD_ENVELOPE on any format error. */
export function decodeEnvelope(bytes: BytesLike): Envelope {
  const b = toBytes(bytes, "envelope", "BAD_ENVELOPE");
  if (b.length < ENVELOPE_OVERHEAD) {
    throw new PrivacyError("BAD_ENVELOPE", `envelope too short: ${b.length} bytes, minimum ${ENVELOPE_OVERHEAD}`);
  }
  if (!equalBytes(b.subarray(0, 4), MAGIC)) {
    throw new PrivacyError("BAD_ENVELOPE", "not a Veil envelope (bad magic)");
  }
  if (b[4] !== PRIVACY_VERSION) {
    throw new PrivacyError("BAD_ENVELOPE", `unsupported envelope version ${b[4]}`);
  }
  let kind: EnvelopeKind;
  if (b[5] === KIND_INPUT) kind = "input";
  else if (b[5] === KIND_RESULT) kind = "result";
  else throw new PrivacyError("BAD_ENVELOPE", `unknown envelope kind ${b[5]}`);
  return {
    version: PRIVACY_VERSION,
    kind,
    jobNonce: toHex(b.slice(ENV_JOB_NONCE_OFFSET, ENV_CONTEXT_OFFSET)),
    contextId: toHex(b.slice(ENV_CONTEXT_OFFSET, ENV_COMMIT_OFFSET)),
    keyCommitment: toHex(b.slice(ENV_COMMIT_OFFSET, ENV_NONCE_OFFSET)),
    aeadNonce: b.slice(ENV_NONCE_OFFSET, ENV_BODY_OFFSET),
    ciphertext: b.slice(ENV_BODY_OFFSET),
  };
}

/**
 * Worker side: rebuilds a job's context from what the chain says about the job (chain id, escrow
 * address, the job's requester) and the job nonce carried in clear by its input envelope. The
 * envelope's own context id is then checked by decryptInput/openJobInput, so an envelope copied
 * into another requester's (or escrow's, or chain's) job is refused with WRONG_CONTEXT.
 */
export function jobContextFromEnvelope(
  onChain: { chainId: bigint; escrow: Address; requester: Address },
  envelope: BytesLike,
): JobContext {
  return createJobContext({ ...onChain, nonce: decodeEnvelope(envelope).jobNonce });
}

/** sha256 of the serialized envelope, 0x bytes32: what goes on-chain and into blob URIs. */
export function envelopeHash(envelope: BytesLike | Envelope): Hex {
  const bytes =
    envelope instanceof Uint8Array || typeof envelope === "string"
      ? toBytes(envelope, "envelope", "BAD_ENVELOPE")
      : encodeEnvelope(envelope);
  return toHex(sha256(bytes));
}

/** Throws HASH_MISMATCH unless the envelope bytes hash to `expected` (e.g. the on-chain hash). */
export function assertEnvelopeHash(envelope: BytesLike, expected: Hex): void {
  const want = toBytes(expected, "expected envelope hash", "BAD_ARGUMENT", 32);
  const got = sha256(toBytes(envelope, "envelope", "BAD_ENVELOPE"));
  if (!equalBytes(got, want)) {
    throw new PrivacyError("HASH_MISMATCH", `envelope hashes to ${toHex(got)}, expected ${toHex(want)}`);
  }
}

function sealEnvelope(kind: EnvelopeKind, plaintext: Uint8Array, contentKey: BytesLike, context: JobContext): Uint8Array {
  if (!(plaintext instanceof Uint8Array)) {
    throw new PrivacyError("BAD_ARGUMENT", `${kind} plaintext must be a Uint8Array`);
  }
  const ck = parseContentKey(contentKey);
  const ctx = encodeJobContext(context);
  const aeadKey = deriveFromContentKey(ck, kind === "input" ? DOMAIN.INPUT_KEY : DOMAIN.RESULT_KEY, ctx);
  const commitment = deriveFromContentKey(ck, DOMAIN.KEY_COMMITMENT, ctx);
  const nonce = randomBytes(NONCE_LENGTH);
  const header = concatBytes(
    MAGIC,
    Uint8Array.of(PRIVACY_VERSION, kindCode(kind)),
    ctx.subarray(CONTEXT_BYTES_LENGTH - 32),
    contextIdBytes(ctx),
    commitment,
  );
  const ad = lp(kind === "input" ? DOMAIN.INPUT_AD : DOMAIN.RESULT_AD, header, ctx);
  try {
    const ciphertext = xchacha20poly1305(aeadKey, nonce, ad).encrypt(plaintext);
    return concatBytes(header, nonce, ciphertext);
  } finally {
    wipe(ck, aeadKey);
  }
}

function openEnvelope(kind: EnvelopeKind, envelope: BytesLike, contentKey: BytesLike, context: JobContext): Uint8Array {
  const b = toBytes(envelope, "envelope", "BAD_ENVELOPE");
  const env = decodeEnvelope(b);
  if (env.kind !== kind) {
    throw new PrivacyError("BAD_ENVELOPE", `expected a ${kind} envelope, got a ${env.kind} envelope`);
  }
  const ctx = encodeJobContext(context);
  if (!equalBytes(b.subarray(ENV_JOB_NONCE_OFFSET, ENV_CONTEXT_OFFSET), ctx.subarray(CONTEXT_BYTES_LENGTH - 32))) {
    throw new PrivacyError("WRONG_CONTEXT", `${kind} envelope was sealed for job nonce ${env.jobNonce}, not ${context.nonce.toLowerCase()}`);
  }
  const expectedId = contextIdBytes(ctx);
  if (!equalBytes(b.subarray(ENV_CONTEXT_OFFSET, ENV_COMMIT_OFFSET), expectedId)) {
    throw new PrivacyError(
      "WRONG_CONTEXT",
      `${kind} envelope was sealed for job context ${env.contextId}, not ${toHex(expectedId)}`,
    );
  }
  const ck = parseContentKey(contentKey);
  const commitment = deriveFromContentKey(ck, DOMAIN.KEY_COMMITMENT, ctx);
  if (!equalBytes(b.subarray(ENV_COMMIT_OFFSET, ENV_NONCE_OFFSET), commitment)) {
    wipe(ck);
    throw new PrivacyError("DECRYPT_FAILED", `content key does not match the ${kind} envelope's key commitment`);
  }
  const aeadKey = deriveFromContentKey(ck, kind === "input" ? DOMAIN.INPUT_KEY : DOMAIN.RESULT_KEY, ctx);
  const ad = lp(kind === "input" ? DOMAIN.INPUT_AD : DOMAIN.RESULT_AD, b.subarray(0, ENV_NONCE_OFFSET), ctx);
  try {
    return xchacha20poly1305(aeadKey, env.aeadNonce, ad).decrypt(env.ciphertext);
  } catch {
    throw new PrivacyError("DECRYPT_FAILED", `${kind} envelope failed authentication (tampered nonce, ciphertext or tag)`);
  } finally {
    wipe(ck, aeadKey);
  }
}

/**
 * Encrypts the canonical input bytes of a job under its content key. Returns the serialized
 * envelope (upload it to a blob host; put envelopeHash(envelope) in the input reference).
 */
export function encryptInput(plaintext: Uint8Array, contentKey: BytesLike, context: JobContext): Uint8Array {
  return sealEnvelope("input", plaintext, contentKey, context);
}

/** Decrypts an input envelope. Throws BAD_ENVELOPE, WRONG_CONTEXT, BAD_KEY or DECRYPT_FAILED. */
export function decryptInput(envelope: BytesLike, contentKey: BytesLike, context: JobContext): Uint8Array {
  return openEnvelope("input", envelope, contentKey, context);
}

/**
 * Encrypts the canonical result bytes to the requester (and anyone else holding the job's
 * content key) under the result key HKDF(contentKey, "veil/v1/result-key" ‖ context).
 */
export function encryptResult(resultBytes: Uint8Array, contentKey: BytesLike, context: JobContext): Uint8Array {
  return sealEnvelope("result", resultBytes, contentKey, context);
}

/** Decrypts a result envelope. Throws BAD_ENVELOPE, WRONG_CONTEXT, BAD_KEY or DECRYPT_FAILED. */
export function decryptResult(envelope: BytesLike, contentKey: BytesLike, context: JobContext): Uint8Array {
  return openEnvelope("result", envelope, contentKey, context);
}

// ---------------------------------------------------------------------------------------------
// Keyed result hash
// ---------------------------------------------------------------------------------------------

/**
 * Keyed commitment to a job's result, for on-chain agreement between operators:
 *
 *   k = HKDF-SHA256(ikm = contentKey, salt = none, info = lp("veil/v1/result-commit", context))
 *   keyedResultHash = HMAC-SHA256(k, result)
 *
 * `result` is the canonical result bytes (or, if the integration prefers, a hash of them; a hex
 * string is decoded to its bytes). Operators holding the content key compute the same value;
 * outsiders cannot test guesses of the output without the key.
 */
export function keyedResultHash(contentKey: BytesLike, context: JobContext, result: BytesLike): Hex {
  const ck = parseContentKey(contentKey);
  const data = toBytes(result, "result", "BAD_ARGUMENT");
  const k = deriveFromContentKey(ck, DOMAIN.RESULT_COMMIT, encodeJobContext(context));
  try {
    return toHex(hmac(sha256, k, data));
  } finally {
    wipe(ck, k);
  }
}

/** Constant-time check that `expected` (e.g. the agreed on-chain value) is the keyed hash of `result`. */
export function verifyKeyedResultHash(contentKey: BytesLike, context: JobContext, result: BytesLike, expected: Hex): boolean {
  const want = toBytes(expected, "expected keyed result hash", "BAD_ARGUMENT", 32);
  return equalBytes(toBytes(keyedResultHash(contentKey, context, result), "hash", "BAD_ARGUMENT"), want);
}

// ---------------------------------------------------------------------------------------------
// Content-key wrapping
// ---------------------------------------------------------------------------------------------

/** Decoded wrapped content key (serialized size: WRAPPED_KEY_LENGTH = 175 bytes). */
export interface WrappedKey {
  version: number;
  role: KeyRole;
  /** jobContextId of the context the key was wrapped for (public; for diagnostics). */
  contextId: Hex;
  /** X25519 public key of the recipient (lets a worker with rotated keys pick the right secret). */
  recipient: Hex;
  /** Sender's ephemeral X25519 public key. */
  ephemeralPublicKey: Hex;
  /** 24-byte XChaCha20 nonce. */
  aeadNonce: Uint8Array;
  /** Encrypted 32-byte content key + 16-byte tag. */
  ciphertext: Uint8Array;
}

/** A content key wrapped for one recipient. */
export interface RecipientWrappedKey {
  publicKey: Hex;
  wrappedKey: Uint8Array;
}

function roleCode(role: KeyRole): number {
  const code = typeof role === "string" ? ROLE_CODES[role] : undefined;
  if (code === undefined || !Object.prototype.hasOwnProperty.call(ROLE_CODES, role)) {
    throw new PrivacyError("BAD_ARGUMENT", "role must be 'operator', 'committee' or 'requester'");
  }
  return code;
}

function roleFromCode(code: number | undefined): KeyRole | undefined {
  return (Object.keys(ROLE_CODES) as KeyRole[]).find((r) => ROLE_CODES[r] === code);
}

/** Serializes a wrapped key: "VEIL" | version | kind=3 | role | contextId | recipient | ephemeral | aeadNonce | ciphertext. */
export function encodeWrappedKey(wrapped: WrappedKey): Uint8Array {
  if (wrapped.version !== PRIVACY_VERSION) {
    throw new PrivacyError("BAD_WRAPPED_KEY", `unsupported wrapped-key version ${String(wrapped.version)}`);
  }
  return concatBytes(
    MAGIC,
    Uint8Array.of(PRIVACY_VERSION, KIND_WRAPPED_KEY, roleCode(wrapped.role)),
    toBytes(wrapped.contextId, "wrapped-key contextId", "BAD_WRAPPED_KEY", 32),
    toBytes(wrapped.recipient, "wrapped-key recipient", "BAD_WRAPPED_KEY", PUBLIC_KEY_LENGTH),
    toBytes(wrapped.ephemeralPublicKey, "wrapped-key ephemeral key", "BAD_WRAPPED_KEY", PUBLIC_KEY_LENGTH),
    toBytes(wrapped.aeadNonce, "wrapped-key aeadNonce", "BAD_WRAPPED_KEY", NONCE_LENGTH),
    toBytes(wrapped.ciphertext, "wrapped-key ciphertext", "BAD_WRAPPED_KEY", CONTENT_KEY_LENGTH + TAG_LENGTH),
  );
}

/** Parses a serialized wrapped key; throws BAD_WRAPPED_KEY on any format error. */
export function decodeWrappedKey(bytes: BytesLike): WrappedKey {
  const b = toBytes(bytes, "wrapped key", "BAD_WRAPPED_KEY");
  if (b.length !== WRAPPED_KEY_LENGTH) {
    throw new PrivacyError("BAD_WRAPPED_KEY", `wrapped key must be ${WRAPPED_KEY_LENGTH} bytes, got ${b.length}`);
  }
  if (!equalBytes(b.subarray(0, 4), MAGIC)) {
    throw new PrivacyError("BAD_WRAPPED_KEY", "not a Veil wrapped key (bad magic)");
  }
  if (b[4] !== PRIVACY_VERSION) {
    throw new PrivacyError("BAD_WRAPPED_KEY", `unsupported wrapped-key version ${b[4]}`);
  }
  if (b[5] !== KIND_WRAPPED_KEY) {
    throw new PrivacyError("BAD_WRAPPED_KEY", `not a wrapped key (kind ${b[5]})`);
  }
  const role = roleFromCode(b[6]);
  if (role === undefined) {
    throw new PrivacyError("BAD_WRAPPED_KEY", `unknown wrapped-key role ${b[6]}`);
  }
  return {
    version: PRIVACY_VERSION,
    role,
    contextId: toHex(b.slice(WK_CONTEXT_OFFSET, WK_RECIPIENT_OFFSET)),
    recipient: toHex(b.slice(WK_RECIPIENT_OFFSET, WK_EPHEMERAL_OFFSET)),
    ephemeralPublicKey: toHex(b.slice(WK_EPHEMERAL_OFFSET, WK_NONCE_OFFSET)),
    aeadNonce: b.slice(WK_NONCE_OFFSET, WK_BODY_OFFSET),
    ciphertext: b.slice(WK_BODY_OFFSET),
  };
}

/**
 * wrapKey = HKDF-SHA256(ikm = X25519(eph, recipient), salt = ephemeralPub ‖ recipientPub,
 *                       info = lp("veil/v1/wrap", context, role, recipientPub))
 */
function deriveWrapKey(shared: Uint8Array, ephemeralPub: Uint8Array, recipientPub: Uint8Array, ctx: Uint8Array, role: KeyRole): Uint8Array {
  return hkdf32(shared, concatBytes(ephemeralPub, recipientPub), lp(DOMAIN.WRAP, ctx, role, recipientPub));
}

/**
 * Wraps a content key for one recipient public key (an assigned operator, a committee member or
 * the requester itself). Fresh ephemeral X25519 key per call; the output is WRAPPED_KEY_LENGTH bytes.
 */
export function wrapContentKey(contentKey: BytesLike, recipientPublicKey: BytesLike, context: JobContext, role: KeyRole): Uint8Array {
  const rc = roleCode(role);
  const recipient = parsePublicKey(recipientPublicKey, "recipient public key", false);
  const ctx = encodeJobContext(context);
  const ck = parseContentKey(contentKey);
  const eph = x25519.keygen();
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(eph.secretKey, recipient);
  } catch {
    wipe(ck, eph.secretKey);
    throw new PrivacyError("BAD_KEY", "recipient public key is invalid");
  }
  const wrapKey = deriveWrapKey(shared, eph.publicKey, recipient, ctx, role);
  const nonce = randomBytes(NONCE_LENGTH);
  const header = concatBytes(MAGIC, Uint8Array.of(PRIVACY_VERSION, KIND_WRAPPED_KEY, rc), contextIdBytes(ctx), recipient, eph.publicKey);
  try {
    const ciphertext = xchacha20poly1305(wrapKey, nonce, lp(DOMAIN.WRAP, header, ctx)).encrypt(ck);
    return concatBytes(header, nonce, ciphertext);
  } finally {
    wipe(ck, eph.secretKey, shared, wrapKey);
  }
}

/**
 * Unwraps a content key with the recipient's X25519 secret key. Checks, in order: format
 * (BAD_WRAPPED_KEY), role and job context (WRONG_CONTEXT), recipient (WRONG_RECIPIENT), ephemeral
 * key validity (BAD_KEY), AEAD authentication (DECRYPT_FAILED).
 */
export function unwrapContentKey(wrapped: BytesLike, recipientSecretKey: BytesLike, context: JobContext, role: KeyRole): Uint8Array {
  roleCode(role);
  const b = toBytes(wrapped, "wrapped key", "BAD_WRAPPED_KEY");
  const wk = decodeWrappedKey(b);
  if (wk.role !== role) {
    throw new PrivacyError("WRONG_CONTEXT", `content key was wrapped for role '${wk.role}', not '${role}'`);
  }
  const ctx = encodeJobContext(context);
  const expectedId = contextIdBytes(ctx);
  if (!equalBytes(b.subarray(WK_CONTEXT_OFFSET, WK_RECIPIENT_OFFSET), expectedId)) {
    throw new PrivacyError("WRONG_CONTEXT", `content key was wrapped for job context ${wk.contextId}, not ${toHex(expectedId)}`);
  }
  const sk = parseSecretKey(recipientSecretKey, "recipient secret key");
  const ownPub = x25519.getPublicKey(sk);
  const recipient = b.slice(WK_RECIPIENT_OFFSET, WK_EPHEMERAL_OFFSET);
  if (!equalBytes(recipient, ownPub)) {
    wipe(sk);
    throw new PrivacyError("WRONG_RECIPIENT", `content key was wrapped for public key ${wk.recipient}, not ${toHex(ownPub)}`);
  }
  let ephemeral: Uint8Array;
  let shared: Uint8Array;
  try {
    ephemeral = parsePublicKey(wk.ephemeralPublicKey, "ephemeral public key", false);
    shared = x25519.getSharedSecret(sk, ephemeral);
  } catch {
    throw new PrivacyError("BAD_KEY", "wrapped key carries an invalid ephemeral public key");
  } finally {
    wipe(sk);
  }
  const wrapKey = deriveWrapKey(shared, ephemeral, recipient, ctx, role);
  try {
    return xchacha20poly1305(wrapKey, wk.aeadNonce, lp(DOMAIN.WRAP, b.subarray(0, WK_NONCE_OFFSET), ctx)).decrypt(wk.ciphertext);
  } catch {
    throw new PrivacyError("DECRYPT_FAILED", "wrapped content key failed authentication (tampered, or wrong key)");
  } finally {
    wipe(shared, wrapKey);
  }
}

/** Wraps one content key for each public key, in order. Throws BAD_ARGUMENT on an empty list. */
export function wrapContentKeyForRecipients(
  contentKey: BytesLike,
  recipientPublicKeys: readonly BytesLike[],
  context: JobContext,
  role: KeyRole,
): RecipientWrappedKey[] {
  if (!Array.isArray(recipientPublicKeys) || recipientPublicKeys.length === 0) {
    throw new PrivacyError("BAD_ARGUMENT", "at least one recipient public key is required");
  }
  return recipientPublicKeys.map((pk, i) => {
    const publicKey = toHex(parsePublicKey(pk, `recipient public key #${i}`, false));
    return { publicKey, wrappedKey: wrapContentKey(contentKey, publicKey, context, role) };
  });
}

/**
 * Re-wraps a job's content key for the committee members drawn in a dispute (role 'committee').
 * Done by whoever holds the content key and is asked to: an assigned operator (who unwrapped it)
 * or the requester. Members verify they got the right key: the envelope's key commitment and
 * AEAD tag only open with the original content key.
 */
export function rewrapForCommittee(contentKey: BytesLike, memberPublicKeys: readonly BytesLike[], context: JobContext): RecipientWrappedKey[] {
  return wrapContentKeyForRecipients(contentKey, memberPublicKeys, context, "committee");
}

// ---------------------------------------------------------------------------------------------
// Convenience flows
// ---------------------------------------------------------------------------------------------

/** Everything the requester needs to publish an encrypted job. Keep `contentKey` secret. */
export interface SealedJobInput {
  contentKey: Uint8Array;
  envelope: Uint8Array;
  envelopeHash: Hex;
  operatorKeys: RecipientWrappedKey[];
  /** Content key wrapped to the requester's own key (role 'requester'), if one was given. */
  requesterKey?: Uint8Array;
}

/**
 * Requester side: fresh content key, encrypted input envelope, and the content key wrapped for
 * each assigned operator (and optionally for the requester's own encryption key, for recovery).
 */
export function sealJobInput(params: {
  plaintext: Uint8Array;
  context: JobContext;
  operatorPublicKeys: readonly BytesLike[];
  requesterPublicKey?: BytesLike;
}): SealedJobInput {
  const contentKey = generateContentKey();
  const envelope = encryptInput(params.plaintext, contentKey, params.context);
  const operatorKeys = wrapContentKeyForRecipients(contentKey, params.operatorPublicKeys, params.context, "operator");
  const sealed: SealedJobInput = { contentKey, envelope, envelopeHash: envelopeHash(envelope), operatorKeys };
  if (params.requesterPublicKey !== undefined) {
    sealed.requesterKey = wrapContentKey(contentKey, params.requesterPublicKey, params.context, "requester");
  }
  return sealed;
}

/**
 * Recipient side (worker, committee member, requester): optionally checks the envelope against
 * its on-chain hash, unwraps the content key and decrypts the input.
 */
export function openJobInput(params: {
  envelope: BytesLike;
  wrappedKey: BytesLike;
  recipientSecretKey: BytesLike;
  context: JobContext;
  role: KeyRole;
  expectedEnvelopeHash?: Hex;
}): { contentKey: Uint8Array; plaintext: Uint8Array } {
  if (params.expectedEnvelopeHash !== undefined) assertEnvelopeHash(params.envelope, params.expectedEnvelopeHash);
  const contentKey = unwrapContentKey(params.wrappedKey, params.recipientSecretKey, params.context, params.role);
  const plaintext = decryptInput(params.envelope, contentKey, params.context);
  return { contentKey, plaintext };
}
