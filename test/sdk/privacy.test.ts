import { expect } from "chai";
import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, randomBytes } from "node:crypto";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { encodePacked, getAddress, keccak256, toHex, type Address, type Hex } from "viem";

import {
  CONTENT_KEY_LENGTH,
  DOMAIN,
  ENVELOPE_OVERHEAD,
  MAGIC,
  PrivacyError,
  WRAPPED_KEY_LENGTH,
  assertEnvelopeHash,
  createJobContext,
  decodeEnvelope,
  decodeWrappedKey,
  decryptInput,
  decryptResult,
  deriveEncryptionKeyPair,
  encodeEnvelope,
  encodeJobContext,
  encodeWrappedKey,
  encryptInput,
  encryptResult,
  encryptionPublicKey,
  envelopeHash,
  generateContentKey,
  generateEncryptionKeyPair,
  isValidEncryptionPublicKey,
  jobContextFromEnvelope,
  jobContextId,
  keyedResultHash,
  openJobInput,
  rewrapForCommittee,
  sealJobInput,
  unwrapContentKey,
  validateEncryptionPublicKey,
  verifyKeyedResultHash,
  wrapContentKey,
  type EncryptionKeyPair,
  type JobContext,
  type KeyRole,
  type PrivacyErrorCode,
} from "../../packages/sdk/src/privacy.js";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const ROLES: KeyRole[] = ["operator", "committee", "requester"];
const enc = new TextEncoder();

function randomAddress(): Address {
  return getAddress(toHex(randomBytes(20)));
}

function newContext(overrides: Partial<JobContext> = {}): JobContext {
  return createJobContext({ chainId: 8453n, escrow: randomAddress(), requester: randomAddress(), ...overrides });
}

function expectCode(fn: () => unknown, code: PrivacyErrorCode): PrivacyError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected PrivacyError ${code}, nothing was thrown`).to.be.instanceOf(PrivacyError);
  const err = thrown as PrivacyError;
  expect(err.code, err.message).to.equal(code);
  expect(err.message.startsWith(`${code}: `)).to.equal(true);
  return err;
}

function flip(bytes: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = copy[index]! ^ mask;
  return copy;
}

function hexBody(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

/** Independent re-implementation of the length-prefixed tuple encoding from docs/privacy.md. */
function lp(...parts: Array<Uint8Array | string>): Uint8Array {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const b = typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    chunks.push(len, b);
  }
  return Buffer.concat(chunks);
}

// node:crypto X25519 (OpenSSL), independent of @noble/curves.
const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
function nodePrivateKey(secret: Uint8Array) {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, secret]), format: "der", type: "pkcs8" });
}
function nodePublicKey(secret: Uint8Array): Buffer {
  const jwk = createPublicKey(nodePrivateKey(secret)).export({ format: "jwk" });
  return Buffer.from(jwk.x!, "base64url");
}
function nodeSharedSecret(secret: Uint8Array, publicKey: Uint8Array): Buffer {
  const pub = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(publicKey).toString("base64url") }, format: "jwk" });
  return diffieHellman({ privateKey: nodePrivateKey(secret), publicKey: pub });
}
function nodeHkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", ikm, salt, info, 32));
}

interface Job {
  context: JobContext;
  input: Uint8Array;
  operators: EncryptionKeyPair[];
  requester: EncryptionKeyPair;
  sealed: ReturnType<typeof sealJobInput>;
}

function newJob(input = enc.encode(JSON.stringify({ model: "resnet50", pixels: [1, 2, 3, 4, 5] }))): Job {
  const context = newContext();
  const operators = [generateEncryptionKeyPair(), generateEncryptionKeyPair(), generateEncryptionKeyPair()];
  const requester = generateEncryptionKeyPair();
  const sealed = sealJobInput({
    plaintext: input,
    context,
    operatorPublicKeys: operators.map((o) => o.publicKey),
    requesterPublicKey: requester.publicKey,
  });
  return { context, input, operators, requester, sealed };
}

// ---------------------------------------------------------------------------------------------

describe("sdk/privacy", () => {
  describe("encryption keys", () => {
    it("generates distinct X25519 key pairs whose public key matches OpenSSL's", () => {
      const a = generateEncryptionKeyPair();
      const b = generateEncryptionKeyPair();
      expect(a.secretKey).to.have.length(32);
      expect(a.publicKey).to.match(/^0x[0-9a-f]{64}$/);
      expect(a.publicKey).to.not.equal(b.publicKey);
      expect(encryptionPublicKey(a.secretKey)).to.equal(a.publicKey);
      expect(encryptionPublicKey(toHex(a.secretKey))).to.equal(a.publicKey);
      expect(a.publicKey).to.equal(toHex(nodePublicKey(a.secretKey)));
      expect(isValidEncryptionPublicKey(a.publicKey)).to.equal(true);
    });

    it("derives key pairs deterministically from a seed and label, per the documented HKDF", () => {
      const ethPrivateKey = toHex(randomBytes(32));
      const k1 = deriveEncryptionKeyPair(ethPrivateKey, "node/key/1");
      const again = deriveEncryptionKeyPair(ethPrivateKey, "node/key/1");
      const rotated = deriveEncryptionKeyPair(ethPrivateKey, "node/key/2");
      const otherSeed = deriveEncryptionKeyPair(toHex(randomBytes(32)), "node/key/1");
      expect(again.publicKey).to.equal(k1.publicKey);
      expect(hexBody(again.secretKey)).to.equal(hexBody(k1.secretKey));
      expect(rotated.publicKey).to.not.equal(k1.publicKey);
      expect(otherSeed.publicKey).to.not.equal(k1.publicKey);
      // Independent computation with node:crypto (HKDF + X25519 from OpenSSL).
      const expectedSecret = nodeHkdf(
        Buffer.from(ethPrivateKey.slice(2), "hex"),
        Buffer.from(DOMAIN.DERIVE_SALT),
        lp(DOMAIN.DERIVE, "node/key/1"),
      );
      expect(hexBody(k1.secretKey)).to.equal(hexBody(expectedSecret));
      expect(k1.publicKey).to.equal(toHex(nodePublicKey(expectedSecret)));
    });

    it("rejects short seeds, empty labels and malformed secret keys", () => {
      expectCode(() => deriveEncryptionKeyPair(randomBytes(31), "x"), "BAD_KEY");
      expectCode(() => deriveEncryptionKeyPair(randomBytes(32), ""), "BAD_ARGUMENT");
      expectCode(() => encryptionPublicKey(randomBytes(31)), "BAD_KEY");
      expectCode(() => encryptionPublicKey("0xzz" as Hex), "BAD_KEY");
    });

    it("rejects low-order, non-canonical and wrongly sized public keys", () => {
      const p = (1n << 255n) - 19n;
      const le = (n: bigint) => {
        const out = new Uint8Array(32);
        for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
        return out;
      };
      const lowOrder = [
        0n,
        1n,
        p - 1n,
        325606250916557431795983626356110631294008115727848805560023387167927233504n,
        39382357235489614581723060781553021112529911719440698176882885853963445705823n,
      ];
      const valid = generateEncryptionKeyPair().publicKey;
      const validBytes = Buffer.from(valid.slice(2), "hex");
      const topBitSet = Uint8Array.from(validBytes);
      topBitSet[31]! |= 0x80;
      const bad: Uint8Array[] = [...lowOrder.map(le), le(p), le(p + 1n), le((1n << 255n) - 1n), topBitSet, validBytes.subarray(0, 31)];
      for (const pk of bad) {
        expect(isValidEncryptionPublicKey(pk), hexBody(pk)).to.equal(false);
        expectCode(() => validateEncryptionPublicKey(pk), "BAD_KEY");
        expectCode(() => wrapContentKey(generateContentKey(), pk, newContext(), "operator"), "BAD_KEY");
      }
      expect(validateEncryptionPublicKey(valid.toUpperCase().replace("0X", "0x") as Hex)).to.equal(valid);
    });
  });

  describe("job context", () => {
    it("encodes like abi.encodePacked(uint256,address,address,bytes32) and has a documented id", () => {
      const ctx = newContext({ chainId: 42161n });
      const packed = encodePacked(["uint256", "address", "address", "bytes32"], [ctx.chainId, ctx.escrow, ctx.requester, ctx.nonce]);
      expect(toHex(encodeJobContext(ctx))).to.equal(packed);
      const id = createHash("sha256").update(lp(DOMAIN.CONTEXT, Buffer.from(packed.slice(2), "hex"))).digest();
      expect(jobContextId(ctx)).to.equal(toHex(id));
      expect(newContext().nonce).to.not.equal(newContext().nonce);
      // Lowercase and checksummed spellings of the same address are the same context.
      expect(jobContextId({ ...ctx, escrow: ctx.escrow.toLowerCase() as Address })).to.equal(jobContextId(ctx));
    });

    it("rejects invalid contexts with BAD_CONTEXT", () => {
      const ctx = newContext();
      // EIP-55 test vector with one letter's case changed: mixed-case with a wrong checksum.
      const badChecksum = "0x52908400098527886e0F7030069857D2E4169EE7" as Address;
      expect(getAddress("0x52908400098527886E0F7030069857D2E4169EE7")).to.equal("0x52908400098527886E0F7030069857D2E4169EE7");
      const bad: JobContext[] = [
        { ...ctx, chainId: 0n },
        { ...ctx, chainId: -1n },
        { ...ctx, chainId: 1n << 256n },
        { ...ctx, chainId: 1 as unknown as bigint },
        { ...ctx, escrow: "0x1234" as Address },
        { ...ctx, requester: "alice" as Address },
        { ...ctx, nonce: "0x1234" as Hex },
        { ...ctx, nonce: ctx.nonce.slice(2) as Hex },
        { ...ctx, escrow: badChecksum },
      ];
      for (const b of bad) expectCode(() => encodeJobContext(b), "BAD_CONTEXT");
      expectCode(() => encryptInput(new Uint8Array(1), generateContentKey(), bad[0]!), "BAD_CONTEXT");
    });
  });

  describe("round trips", () => {
    it("requester -> assigned operators -> requester: input, result and keyed hash", () => {
      const job = newJob();
      const { context, sealed } = job;
      expect(sealed.envelopeHash).to.equal(envelopeHash(sealed.envelope));
      expect(sealed.operatorKeys.map((k) => k.publicKey)).to.deep.equal(job.operators.map((o) => o.publicKey));

      const results: Uint8Array[] = [];
      const hashes: Hex[] = [];
      const resultBytes = enc.encode(JSON.stringify({ label: "tabby cat", score: 0.91 }));
      job.operators.forEach((op, i) => {
        const opened = openJobInput({
          envelope: sealed.envelope,
          wrappedKey: sealed.operatorKeys[i]!.wrappedKey,
          recipientSecretKey: op.secretKey,
          context,
          role: "operator",
          expectedEnvelopeHash: sealed.envelopeHash,
        });
        expect(hexBody(opened.plaintext)).to.equal(hexBody(job.input));
        expect(hexBody(opened.contentKey)).to.equal(hexBody(sealed.contentKey));
        results.push(encryptResult(resultBytes, opened.contentKey, context));
        hashes.push(keyedResultHash(opened.contentKey, context, resultBytes));
      });
      // Determinism: every operator holding the content key computes the same keyed hash...
      expect(new Set(hashes).size).to.equal(1);
      expect(hashes[0]).to.match(/^0x[0-9a-f]{64}$/);
      // ...while the result ciphertexts themselves are randomized.
      expect(new Set(results.map(hexBody)).size).to.equal(results.length);
      // The requester decrypts any operator's result and checks it against the agreed hash.
      for (const r of results) {
        const plain = decryptResult(r, sealed.contentKey, context);
        expect(hexBody(plain)).to.equal(hexBody(resultBytes));
        expect(verifyKeyedResultHash(sealed.contentKey, context, plain, hashes[0]!)).to.equal(true);
      }
      expect(verifyKeyedResultHash(sealed.contentKey, context, enc.encode("other"), hashes[0]!)).to.equal(false);
    });

    it("the requester can recover the content key from its own 'requester' wrapped key", () => {
      const job = newJob();
      const ck = unwrapContentKey(job.sealed.requesterKey!, job.requester.secretKey, job.context, "requester");
      expect(hexBody(ck)).to.equal(hexBody(job.sealed.contentKey));
      expect(hexBody(decryptInput(job.sealed.envelope, ck, job.context))).to.equal(hexBody(job.input));
    });

    it("a worker rebuilds the context from chain data + the envelope; a copied envelope is refused", () => {
      const job = newJob();
      const { chainId, escrow, requester } = job.context;
      const rebuilt = jobContextFromEnvelope({ chainId, escrow, requester }, job.sealed.envelope);
      expect(rebuilt).to.deep.equal({ ...job.context, nonce: job.context.nonce.toLowerCase() });
      const opened = openJobInput({
        envelope: job.sealed.envelope,
        wrappedKey: job.sealed.operatorKeys[2]!.wrappedKey,
        recipientSecretKey: job.operators[2]!.secretKey,
        context: rebuilt,
        role: "operator",
      });
      expect(hexBody(opened.plaintext)).to.equal(hexBody(job.input));
      // Eve submits Alice's envelope (and replays Alice's wrapped key) in her own job.
      const eveJob = jobContextFromEnvelope({ chainId, escrow, requester: randomAddress() }, job.sealed.envelope);
      expectCode(() => decryptInput(job.sealed.envelope, opened.contentKey, eveJob), "WRONG_CONTEXT");
      expectCode(
        () => unwrapContentKey(job.sealed.operatorKeys[2]!.wrappedKey, job.operators[2]!.secretKey, eveJob, "operator"),
        "WRONG_CONTEXT",
      );
      expectCode(() => jobContextFromEnvelope({ chainId, escrow, requester }, job.sealed.envelope.subarray(0, 10)), "BAD_ENVELOPE");
    });

    it("handles empty and 1 MiB inputs and hex-encoded arguments", () => {
      for (const size of [0, 1, 1024 * 1024]) {
        const ctx = newContext();
        const ck = generateContentKey();
        const input = new Uint8Array(randomBytes(size));
        const env = encryptInput(input, ck, ctx);
        expect(env.length).to.equal(size + ENVELOPE_OVERHEAD);
        expect(hexBody(decryptInput(toHex(env), toHex(ck), ctx))).to.equal(hexBody(input));
        const res = encryptResult(input, ck, ctx);
        expect(hexBody(decryptResult(res, ck, ctx))).to.equal(hexBody(input));
      }
    });

    it("never encrypts the same plaintext to the same envelope", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const input = enc.encode("same input");
      const a = encryptInput(input, ck, ctx);
      const b = encryptInput(input, ck, ctx);
      expect(hexBody(a)).to.not.equal(hexBody(b));
      expect(envelopeHash(a)).to.not.equal(envelopeHash(b));
    });
  });

  describe("formats and conformance to docs/privacy.md", () => {
    it("envelope layout, encode/decode round trip and envelope hash", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const input = enc.encode("layout check");
      const bytes = encryptInput(input, ck, ctx);
      const env = decodeEnvelope(bytes);
      expect(env.version).to.equal(1);
      expect(env.kind).to.equal("input");
      expect(env.jobNonce).to.equal(ctx.nonce.toLowerCase());
      expect(env.contextId).to.equal(jobContextId(ctx));
      expect(env.aeadNonce).to.have.length(24);
      expect(ENVELOPE_OVERHEAD).to.equal(142);
      expect(env.ciphertext).to.have.length(input.length + 16);
      expect(hexBody(bytes.subarray(0, 6))).to.equal("5645494c0101");
      expect(hexBody(encodeEnvelope(env))).to.equal(hexBody(bytes));
      expect(envelopeHash(env)).to.equal(envelopeHash(bytes));
      expect(envelopeHash(bytes)).to.equal(toHex(createHash("sha256").update(bytes).digest()));
      assertEnvelopeHash(bytes, envelopeHash(bytes));
      expectCode(() => assertEnvelopeHash(bytes, keccak256(bytes)), "HASH_MISMATCH");
      expectCode(() => encodeEnvelope({ ...env, version: 2 }), "BAD_ENVELOPE");
      expectCode(() => encodeEnvelope({ ...env, aeadNonce: new Uint8Array(12) }), "BAD_ENVELOPE");
      expect(decodeEnvelope(encryptResult(input, ck, ctx)).kind).to.equal("result");
    });

    it("input envelope opens with an independent implementation of the documented construction", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const input = enc.encode("conformance");
      const bytes = encryptInput(input, ck, ctx);
      const ctxBytes = encodeJobContext(ctx);
      const inputKey = nodeHkdf(ck, new Uint8Array(0), lp(DOMAIN.INPUT_KEY, ctxBytes));
      const commitment = nodeHkdf(ck, new Uint8Array(0), lp(DOMAIN.KEY_COMMITMENT, ctxBytes));
      expect(toHex(bytes.subarray(6, 38))).to.equal(ctx.nonce.toLowerCase());
      expect(toHex(bytes.subarray(38, 70))).to.equal(jobContextId(ctx));
      expect(hexBody(bytes.subarray(70, 102))).to.equal(hexBody(commitment));
      const ad = lp(DOMAIN.INPUT_AD, bytes.subarray(0, 102), ctxBytes);
      const plain = xchacha20poly1305(inputKey, bytes.subarray(102, 126), ad).decrypt(bytes.subarray(126));
      expect(hexBody(plain)).to.equal(hexBody(input));
      // The result key is a different key from the input key.
      const resultKey = nodeHkdf(ck, new Uint8Array(0), lp(DOMAIN.RESULT_KEY, ctxBytes));
      const res = encryptResult(input, ck, ctx);
      const resAd = lp(DOMAIN.RESULT_AD, res.subarray(0, 102), ctxBytes);
      expect(hexBody(xchacha20poly1305(resultKey, res.subarray(102, 126), resAd).decrypt(res.subarray(126)))).to.equal(hexBody(input));
      expect(hexBody(resultKey)).to.not.equal(hexBody(inputKey));
    });

    it("wrapped key layout and unwrapping with OpenSSL X25519 + node HKDF", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const op = generateEncryptionKeyPair();
      const wrapped = wrapContentKey(ck, op.publicKey, ctx, "operator");
      expect(wrapped).to.have.length(WRAPPED_KEY_LENGTH);
      expect(WRAPPED_KEY_LENGTH).to.equal(175);
      const wk = decodeWrappedKey(wrapped);
      expect(wk.role).to.equal("operator");
      expect(wk.contextId).to.equal(jobContextId(ctx));
      expect(wk.recipient).to.equal(op.publicKey);
      expect(hexBody(encodeWrappedKey(wk))).to.equal(hexBody(wrapped));
      expect(hexBody(wrapped.subarray(0, 7))).to.equal(hexBody(MAGIC) + "010301");

      const eph = wrapped.subarray(71, 103);
      const recipient = wrapped.subarray(39, 71);
      const shared = nodeSharedSecret(op.secretKey, eph);
      const ctxBytes = encodeJobContext(ctx);
      const wrapKey = nodeHkdf(shared, Buffer.concat([eph, recipient]), lp(DOMAIN.WRAP, ctxBytes, "operator", recipient));
      const ad = lp(DOMAIN.WRAP, wrapped.subarray(0, 103), ctxBytes);
      const recovered = xchacha20poly1305(wrapKey, wrapped.subarray(103, 127), ad).decrypt(wrapped.subarray(127));
      expect(hexBody(recovered)).to.equal(hexBody(ck));
      // Two wraps of the same key for the same recipient share nothing but the public header.
      const again = wrapContentKey(ck, op.publicKey, ctx, "operator");
      expect(hexBody(again.subarray(71))).to.not.equal(hexBody(wrapped.subarray(71)));
    });

    it("keyed result hash equals HMAC-SHA256 under the documented HKDF key (node:crypto)", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const result = enc.encode('{"label":"dog"}');
      const k = nodeHkdf(ck, new Uint8Array(0), lp(DOMAIN.RESULT_COMMIT, encodeJobContext(ctx)));
      const expected = toHex(createHmac("sha256", k).update(result).digest());
      expect(keyedResultHash(ck, ctx, result)).to.equal(expected);
      expect(keyedResultHash(ck, ctx, toHex(result))).to.equal(expected);
    });
  });

  describe("outsiders", () => {
    it("an outsider holding all public material and every other key it could have cannot decrypt", () => {
      const job = newJob();
      const { context, sealed } = job;
      const resultBytes = enc.encode(JSON.stringify({ label: "secret diagnosis", score: 0.99 }));
      const opCk = unwrapContentKey(sealed.operatorKeys[0]!.wrappedKey, job.operators[0]!.secretKey, context, "operator");
      const resultEnvelope = encryptResult(resultBytes, opCk, context);
      const keyed = keyedResultHash(opCk, context, resultBytes);

      // What the outsider has: its own fresh key pair, unassigned operators' key pairs (e.g. a
      // colluding set of other nodes), a key pair derived from a guessable seed, and a content
      // key it legitimately holds for another job.
      const outsiderKeys: EncryptionKeyPair[] = [
        generateEncryptionKeyPair(),
        generateEncryptionKeyPair(),
        generateEncryptionKeyPair(),
        deriveEncryptionKeyPair(new Uint8Array(32), "node/key/1"),
      ];
      const otherJob = newJob();
      const wrappedKeys = [...sealed.operatorKeys.map((k) => k.wrappedKey), sealed.requesterKey!];
      const registered = [...job.operators, job.requester, ...outsiderKeys].map((k) => k.publicKey);

      // 1. Unwrapping every wrapped key with every secret it holds, under every role.
      let attempts = 0;
      for (const wrapped of wrappedKeys) {
        const wk = decodeWrappedKey(wrapped);
        for (const kp of outsiderKeys) {
          for (const role of ROLES) {
            attempts++;
            expect(() => unwrapContentKey(wrapped, kp.secretKey, context, role)).to.throw(PrivacyError);
          }
          // Even with the recipient field rewritten to its own key, the AEAD rejects it.
          const forged = encodeWrappedKey({ ...wk, recipient: kp.publicKey });
          expectCode(() => unwrapContentKey(forged, kp.secretKey, context, wk.role), "DECRYPT_FAILED");
          attempts++;
        }
      }

      // 2. Every 32-byte public value (and hashes of them) used as the content key.
      const publicValues: Uint8Array[] = [
        ...registered,
        context.nonce,
        jobContextId(context),
        sealed.envelopeHash,
        envelopeHash(resultEnvelope),
        keyed,
        keccak256(sealed.envelope),
        decodeEnvelope(sealed.envelope).keyCommitment,
        decodeEnvelope(resultEnvelope).keyCommitment,
        ...wrappedKeys.map((w) => decodeWrappedKey(w).ephemeralPublicKey),
      ].map((v) => (typeof v === "string" ? Buffer.from(v.slice(2), "hex") : v));
      const candidates: Uint8Array[] = [
        ...publicValues,
        ...publicValues.map((v) => createHash("sha256").update(v).digest()),
        ...outsiderKeys.map((k) => k.secretKey),
        // ECDH of the outsider's secrets with every ephemeral key (what a wrong recipient would compute).
        ...wrappedKeys.flatMap((w) => {
          const eph = Buffer.from(decodeWrappedKey(w).ephemeralPublicKey.slice(2), "hex");
          return outsiderKeys.map((k) => nodeSharedSecret(k.secretKey, eph));
        }),
        otherJob.sealed.contentKey,
        new Uint8Array(32),
      ];
      expect(candidates.every((c) => c.length === CONTENT_KEY_LENGTH)).to.equal(true);
      for (const key of candidates) {
        expectCode(() => decryptInput(sealed.envelope, key, context), "DECRYPT_FAILED");
        expectCode(() => decryptResult(resultEnvelope, key, context), "DECRYPT_FAILED");
        // 3. The keyed hash cannot be reproduced: even guessing the exact output, a wrong key
        //    gives a different hash, so guesses of the output cannot be tested.
        expect(keyedResultHash(key, context, resultBytes)).to.not.equal(keyed);
        attempts += 3;
      }
      expect(attempts).to.be.greaterThan(100);
      // Unkeyed hashes of the true output are not the on-chain value either.
      expect(keccak256(resultBytes)).to.not.equal(keyed);
      expect(toHex(createHash("sha256").update(resultBytes).digest())).to.not.equal(keyed);
    });

    it("the keyed hash is bound to the content key, the context and the result", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const r = enc.encode("42");
      const h = keyedResultHash(ck, ctx, r);
      expect(keyedResultHash(ck, ctx, r)).to.equal(h);
      expect(keyedResultHash(generateContentKey(), ctx, r)).to.not.equal(h);
      expect(keyedResultHash(ck, { ...ctx, nonce: newContext().nonce }, r)).to.not.equal(h);
      expect(keyedResultHash(ck, ctx, enc.encode("43"))).to.not.equal(h);
      expectCode(() => keyedResultHash(ck.subarray(0, 16), ctx, r), "BAD_KEY");
      expectCode(() => keyedResultHash(ck, ctx, "0x123" as Hex), "BAD_ARGUMENT");
    });
  });

  describe("tampering and misuse", () => {
    const envelopeRegion = (i: number, length: number): PrivacyErrorCode => {
      if (i < 6) return "BAD_ENVELOPE"; // magic, version, kind
      if (i < 38) return "WRONG_CONTEXT"; // job nonce
      if (i < 70) return "WRONG_CONTEXT"; // context id
      if (i < 102) return "DECRYPT_FAILED"; // key commitment
      if (i < 126) return "DECRYPT_FAILED"; // AEAD nonce
      if (i < length - 16) return "DECRYPT_FAILED"; // body
      return "DECRYPT_FAILED"; // tag
    };

    for (const kind of ["input", "result"] as const) {
      it(`${kind} envelope: flipping any byte (header, context, commitment, nonce, body, tag) is rejected with the right code`, () => {
        const ctx = newContext();
        const ck = generateContentKey();
        const plaintext = enc.encode(`a ${kind} of moderate length`);
        const seal = kind === "input" ? encryptInput : encryptResult;
        const open = kind === "input" ? decryptInput : decryptResult;
        const env = seal(plaintext, ck, ctx);
        expect(hexBody(open(env, ck, ctx))).to.equal(hexBody(plaintext));
        const seen = new Set<PrivacyErrorCode>();
        for (let i = 0; i < env.length; i++) {
          const code = envelopeRegion(i, env.length);
          expectCode(() => open(flip(env, i), ck, ctx), code);
          seen.add(code);
        }
        expect([...seen].sort()).to.deep.equal(["BAD_ENVELOPE", "DECRYPT_FAILED", "WRONG_CONTEXT"]);
        // Truncation and extension.
        expectCode(() => open(env.subarray(0, ENVELOPE_OVERHEAD - 1), ck, ctx), "BAD_ENVELOPE");
        expectCode(() => open(env.subarray(0, env.length - 1), ck, ctx), "DECRYPT_FAILED");
        expectCode(() => open(new Uint8Array([...env, 0]), ck, ctx), "DECRYPT_FAILED");
        // Wrong content key.
        expectCode(() => open(env, generateContentKey(), ctx), "DECRYPT_FAILED");
        expectCode(() => open(env, ck.subarray(0, 31), ctx), "BAD_KEY");
      });
    }

    it("envelopes are key-committing: a valid AEAD under another key with this key's commitment is refused", () => {
      // A malicious requester builds an envelope whose AEAD verifies under content key B but whose
      // header commits to content key A (a first step of a "two keys, two plaintexts" attack).
      const ctx = newContext();
      const ctxBytes = encodeJobContext(ctx);
      const keyA = generateContentKey();
      const keyB = generateContentKey();
      const commitA = nodeHkdf(keyA, new Uint8Array(0), lp(DOMAIN.KEY_COMMITMENT, ctxBytes));
      const header = Buffer.concat([
        MAGIC,
        Uint8Array.of(1, 1),
        Buffer.from(ctx.nonce.slice(2), "hex"),
        Buffer.from(jobContextId(ctx).slice(2), "hex"),
        commitA,
      ]);
      const nonce = new Uint8Array(randomBytes(24));
      const inputKeyB = nodeHkdf(keyB, new Uint8Array(0), lp(DOMAIN.INPUT_KEY, ctxBytes));
      const body = xchacha20poly1305(inputKeyB, nonce, lp(DOMAIN.INPUT_AD, header, ctxBytes)).encrypt(enc.encode("for B"));
      const forged = Buffer.concat([header, nonce, body]);
      // The AEAD itself would accept key B...
      expect(hexBody(xchacha20poly1305(inputKeyB, nonce, lp(DOMAIN.INPUT_AD, header, ctxBytes)).decrypt(body))).to.equal(
        hexBody(enc.encode("for B")),
      );
      // ...but decryptInput checks the commitment first, and key A fails the AEAD.
      const err = expectCode(() => decryptInput(forged, keyB, ctx), "DECRYPT_FAILED");
      expect(err.message).to.contain("key commitment");
      expectCode(() => decryptInput(forged, keyA, ctx), "DECRYPT_FAILED");
    });

    it("input and result envelopes cannot be swapped", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const data = enc.encode("x");
      expectCode(() => decryptResult(encryptInput(data, ck, ctx), ck, ctx), "BAD_ENVELOPE");
      expectCode(() => decryptInput(encryptResult(data, ck, ctx), ck, ctx), "BAD_ENVELOPE");
      // Relabelling the kind byte does not help: the kind is authenticated and keys differ.
      const relabelled = encryptInput(data, ck, ctx);
      relabelled[5] = 2;
      expectCode(() => decryptResult(relabelled, ck, ctx), "DECRYPT_FAILED");
    });

    it("an envelope replayed into another job context is rejected, even with a forged header", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const env = encryptInput(enc.encode("job A"), ck, ctx);
      const variants: JobContext[] = [
        { ...ctx, nonce: newContext().nonce },
        { ...ctx, requester: randomAddress() },
        { ...ctx, escrow: randomAddress() },
        { ...ctx, chainId: 1n },
      ];
      for (const other of variants) {
        expectCode(() => decryptInput(env, ck, other), "WRONG_CONTEXT");
        const forged = encodeEnvelope({ ...decodeEnvelope(env), jobNonce: other.nonce, contextId: jobContextId(other) });
        expectCode(() => decryptInput(forged, ck, other), "DECRYPT_FAILED");
      }
    });

    it("wrapped key: flipping any byte is rejected with the right code", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const op = generateEncryptionKeyPair();
      const wrapped = wrapContentKey(ck, op.publicKey, ctx, "operator");
      expect(hexBody(unwrapContentKey(wrapped, op.secretKey, ctx, "operator"))).to.equal(hexBody(ck));
      const region = (i: number): PrivacyErrorCode => {
        if (i < 7) return "BAD_WRAPPED_KEY"; // magic, version, kind, role (1 -> 0 is not a role)
        if (i < 39) return "WRONG_CONTEXT"; // context id
        if (i < 71) return "WRONG_RECIPIENT"; // recipient public key
        return "DECRYPT_FAILED"; // ephemeral key, nonce, encrypted key, tag
      };
      for (let i = 0; i < wrapped.length; i++) {
        expectCode(() => unwrapContentKey(flip(wrapped, i), op.secretKey, ctx, "operator"), region(i));
      }
      expectCode(() => unwrapContentKey(wrapped.subarray(0, 174), op.secretKey, ctx, "operator"), "BAD_WRAPPED_KEY");
      expectCode(() => unwrapContentKey(new Uint8Array([...wrapped, 0]), op.secretKey, ctx, "operator"), "BAD_WRAPPED_KEY");
      // The top bit of the ephemeral key is ignored by X25519, so flipping it would not change the
      // shared secret: it is rejected as a non-canonical key rather than silently accepted.
      expectCode(() => unwrapContentKey(flip(wrapped, 102, 0x80), op.secretKey, ctx, "operator"), "BAD_KEY");
      // A low-order ephemeral key.
      const lowOrder = encodeWrappedKey({ ...decodeWrappedKey(wrapped), ephemeralPublicKey: toHex(new Uint8Array(32)) });
      expectCode(() => unwrapContentKey(lowOrder, op.secretKey, ctx, "operator"), "BAD_KEY");
    });

    it("wrong recipient key is rejected", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const alice = generateEncryptionKeyPair();
      const bob = generateEncryptionKeyPair();
      const wrapped = wrapContentKey(ck, alice.publicKey, ctx, "operator");
      const err = expectCode(() => unwrapContentKey(wrapped, bob.secretKey, ctx, "operator"), "WRONG_RECIPIENT");
      expect(err.message).to.contain(alice.publicKey);
      expectCode(() => unwrapContentKey(wrapped, bob.secretKey.subarray(0, 16), ctx, "operator"), "BAD_KEY");
    });

    it("a wrapped key replayed into another job context or role is rejected, even with a forged header", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const op = generateEncryptionKeyPair();
      const wrapped = wrapContentKey(ck, op.publicKey, ctx, "operator");
      const wk = decodeWrappedKey(wrapped);
      const variants: Array<[string, JobContext]> = [
        ["nonce", { ...ctx, nonce: newContext().nonce }],
        ["requester", { ...ctx, requester: randomAddress() }],
        ["chainId", { ...ctx, chainId: ctx.chainId + 1n }],
        ["escrow", { ...ctx, escrow: randomAddress() }],
      ];
      for (const [field, other] of variants) {
        const err = expectCode(() => unwrapContentKey(wrapped, op.secretKey, other, "operator"), "WRONG_CONTEXT");
        expect(err.message, field).to.contain(jobContextId(ctx));
        // Rewriting the public context id to match: the KDF and AEAD still bind the real context.
        const forged = encodeWrappedKey({ ...wk, contextId: jobContextId(other) });
        expectCode(() => unwrapContentKey(forged, op.secretKey, other, "operator"), "DECRYPT_FAILED");
      }
      for (const role of ["committee", "requester"] as const) {
        expectCode(() => unwrapContentKey(wrapped, op.secretKey, ctx, role), "WRONG_CONTEXT");
        const forged = encodeWrappedKey({ ...wk, role });
        expectCode(() => unwrapContentKey(forged, op.secretKey, ctx, role), "DECRYPT_FAILED");
      }
      expectCode(() => unwrapContentKey(wrapped, op.secretKey, ctx, "admin" as KeyRole), "BAD_ARGUMENT");
      expectCode(() => wrapContentKey(ck, op.publicKey, ctx, "toString" as KeyRole), "BAD_ARGUMENT");
    });

    it("error messages never contain secret key material", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      const op = generateEncryptionKeyPair();
      const other = generateEncryptionKeyPair();
      const wrapped = wrapContentKey(ck, op.publicKey, ctx, "operator");
      const env = encryptInput(enc.encode("secret input"), ck, ctx);
      const secrets = [ck, op.secretKey, other.secretKey].map(hexBody);
      const errors = [
        expectCode(() => unwrapContentKey(wrapped, other.secretKey, ctx, "operator"), "WRONG_RECIPIENT"),
        expectCode(() => unwrapContentKey(flip(wrapped, 150), op.secretKey, ctx, "operator"), "DECRYPT_FAILED"),
        expectCode(() => decryptInput(env, other.secretKey, ctx), "DECRYPT_FAILED"),
        expectCode(() => decryptInput(flip(env, 100), ck, ctx), "DECRYPT_FAILED"),
        expectCode(() => decryptInput(env, ck, newContext()), "WRONG_CONTEXT"),
        expectCode(() => encryptionPublicKey(ck.subarray(0, 31)), "BAD_KEY"),
        expectCode(() => deriveEncryptionKeyPair(ck.subarray(0, 20), "l"), "BAD_KEY"),
      ];
      for (const e of errors) {
        for (const s of secrets) {
          expect(e.message.toLowerCase()).to.not.contain(s);
          expect(e.message.toLowerCase()).to.not.contain(s.slice(0, 16));
        }
        expect(e.message).to.not.contain("secret input");
      }
    });
  });

  describe("committee re-wrap", () => {
    it("a drawn member decrypts the input and agrees on the keyed hash; a non-member cannot", () => {
      const job = newJob();
      const { context, sealed } = job;
      const resultBytes = enc.encode('{"label":"benign"}');
      // An assigned operator, asked by the dispute, re-wraps the key it unwrapped.
      const opCk = unwrapContentKey(sealed.operatorKeys[1]!.wrappedKey, job.operators[1]!.secretKey, context, "operator");
      const operatorHash = keyedResultHash(opCk, context, resultBytes);
      const members = [generateEncryptionKeyPair(), generateEncryptionKeyPair(), generateEncryptionKeyPair()];
      const committeeKeys = rewrapForCommittee(opCk, members.map((m) => m.publicKey), context);
      expect(committeeKeys.map((k) => k.publicKey)).to.deep.equal(members.map((m) => m.publicKey));

      members.forEach((m, i) => {
        const opened = openJobInput({
          envelope: sealed.envelope,
          wrappedKey: committeeKeys[i]!.wrappedKey,
          recipientSecretKey: m.secretKey,
          context,
          role: "committee",
          expectedEnvelopeHash: sealed.envelopeHash,
        });
        expect(hexBody(opened.plaintext)).to.equal(hexBody(job.input));
        expect(keyedResultHash(opened.contentKey, context, resultBytes)).to.equal(operatorHash);
        // A committee wrap is not an operator wrap.
        expectCode(() => unwrapContentKey(committeeKeys[i]!.wrappedKey, m.secretKey, context, "operator"), "WRONG_CONTEXT");
      });

      // The requester can re-wrap too (it holds the content key from the start).
      const byRequester = rewrapForCommittee(sealed.contentKey, [members[0]!.publicKey], context);
      expect(hexBody(unwrapContentKey(byRequester[0]!.wrappedKey, members[0]!.secretKey, context, "committee"))).to.equal(
        hexBody(sealed.contentKey),
      );

      // Non-members: an operator not drawn, and an assigned operator who is not a member.
      const nonMembers = [generateEncryptionKeyPair(), job.operators[0]!];
      for (const nm of nonMembers) {
        for (const ck of committeeKeys) {
          expectCode(() => unwrapContentKey(ck.wrappedKey, nm.secretKey, context, "committee"), "WRONG_RECIPIENT");
          const forged = encodeWrappedKey({ ...decodeWrappedKey(ck.wrappedKey), recipient: nm.publicKey });
          expectCode(() => unwrapContentKey(forged, nm.secretKey, context, "committee"), "DECRYPT_FAILED");
        }
      }
      // A committee key from this dispute does not open another job.
      expectCode(() => unwrapContentKey(committeeKeys[0]!.wrappedKey, members[0]!.secretKey, newContext(), "committee"), "WRONG_CONTEXT");
    });

    it("a member detects a re-wrapper that hands out the wrong content key", () => {
      const job = newJob();
      const member = generateEncryptionKeyPair();
      const [bogus] = rewrapForCommittee(generateContentKey(), [member.publicKey], job.context);
      expectCode(
        () =>
          openJobInput({
            envelope: job.sealed.envelope,
            wrappedKey: bogus!.wrappedKey,
            recipientSecretKey: member.secretKey,
            context: job.context,
            role: "committee",
          }),
        "DECRYPT_FAILED",
      );
    });

    it("rejects an empty committee and invalid member keys", () => {
      const ctx = newContext();
      const ck = generateContentKey();
      expectCode(() => rewrapForCommittee(ck, [], ctx), "BAD_ARGUMENT");
      expectCode(() => rewrapForCommittee(ck, [generateEncryptionKeyPair().publicKey, toHex(new Uint8Array(32))], ctx), "BAD_KEY");
      expectCode(() => sealJobInput({ plaintext: new Uint8Array(1), context: ctx, operatorPublicKeys: [] }), "BAD_ARGUMENT");
    });

    it("openJobInput refuses an envelope that does not match the on-chain hash", () => {
      const job = newJob();
      const other = newJob();
      expectCode(
        () =>
          openJobInput({
            envelope: other.sealed.envelope,
            wrappedKey: job.sealed.operatorKeys[0]!.wrappedKey,
            recipientSecretKey: job.operators[0]!.secretKey,
            context: job.context,
            role: "operator",
            expectedEnvelopeHash: job.sealed.envelopeHash,
          }),
        "HASH_MISMATCH",
      );
    });
  });
});
