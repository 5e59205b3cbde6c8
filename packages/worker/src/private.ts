/**
 * Private inference, operator side (docs/privacy.md, "Integration"): recognise an encrypted input, find the content
 * key the requester (or, in a dispute, an operator) published for this node in JobKeys, unwrap it with the node's
 * X25519 secret, decrypt the input, and turn the outputs into what the chain and the requester get: the keyed result
 * hash (commit/reveal) and the result envelope (served at `/results/<keyedResultHash>`).
 *
 * No-commit rule: a private job whose key has not arrived, or whose every published key fails to open, yields no
 * input (`openInput` resolves undefined and records why): the worker then never commits a result for it. A guess
 * (e.g. an invalid-input result) would be a garbage commitment; see docs/privacy.md for what the escrow does next.
 */
import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import { jobEscrowAbi, jobKeysAbi, nodeStakingAbi } from "@veil/contracts";
import {
  MAGIC,
  PRIVACY_VERSION,
  PrivacyError,
  assertEnvelopeHash,
  decryptInput,
  deriveEncryptionKeyPair,
  encryptResult,
  isValidEncryptionPublicKey,
  jobContextFromEnvelope,
  keyedResultHash,
  rewrapForCommittee,
  unwrapContentKey,
  type EncryptionKeyPair,
  type JobContext,
  type KeyRole,
} from "@veil/sdk/privacy";
import { canonicalResultBytes, encodeTensors, type Comparator, type TensorMap } from "@veil/sdk";
import type { Logger } from "./internal/log.js";
import { isJobRecycled } from "./chain/settled.js";

/** Whether `bytes` is a private job's input envelope (magic "VEIL", version 1, kind input). */
export function isPrivateEnvelope(bytes: Uint8Array | undefined): bytes is Uint8Array {
  return !!bytes && bytes.length > 6 && MAGIC.every((b, i) => bytes[i] === b) && bytes[4] === PRIVACY_VERSION && bytes[5] === 1;
}

/** The derivation label of an operator's encryption key: `veil/node/<chainId>/<staking>/<operator>/<epoch>`. */
export function operatorKeyLabel(p: { chainId: number | bigint; nodeStaking: Address; operator: Address; epoch?: number }): string {
  return `veil/node/${p.chainId}/${p.nodeStaking.toLowerCase()}/${p.operator.toLowerCase()}/${p.epoch ?? 0}`;
}

/**
 * The operator's X25519 key pair, derived from its Ethereum private key (docs/privacy.md, "Keys"). `veil node
 * register` registers `publicKey` as the node's `encryptionKey`; the worker re-derives `secretKey` at start.
 */
export function operatorEncryptionKeyPair(
  privateKey: Hex,
  p: { chainId: number | bigint; nodeStaking: Address; operator: Address; epoch?: number },
): EncryptionKeyPair {
  return deriveEncryptionKeyPair(privateKey, operatorKeyLabel(p));
}

/** An opened private input: plaintext plus what the worker needs to answer the job. Holds the content key. */
export interface PrivateInput {
  context: JobContext;
  contentKey: Uint8Array;
  plaintext: Uint8Array;
  /** Who published the key that opened it. */
  publisher: Address;
  /** keyedResultHash over the canonical result bytes of the outputs under the model's comparator. */
  resultHash(outputs: TensorMap, comparator: Comparator): Hex;
  /** The result envelope: encodeTensors(outputs) encrypted to the content key. */
  sealResult(outputs: TensorMap): Uint8Array;
}

/** Why an input did not open: no key yet ("waiting") or every key failed (the PrivacyError codes seen). */
export interface PrivateFailure {
  reason: "waiting" | "undecryptable" | "bad_envelope";
  codes: string[];
  message: string;
}

export interface PrivateCodecOptions {
  publicClient: PublicClient<Transport, Chain | undefined>;
  /** Needed only to publish committee re-wraps. */
  walletClient?: WalletClient<Transport, Chain | undefined, Account>;
  chainId: number;
  addresses: { jobEscrow: Address; jobKeys: Address; nodeStaking: Address };
  /** The operator (or committee member) address keys are published to. */
  operator: Address;
  /** Encryption secret keys, current first, then previous ones still needed after a rotation. */
  secretKeys: Uint8Array[];
  /** First block to scan for KeysPublished (default 0). */
  fromBlock?: bigint;
  logger?: Logger;
}

export class PrivateCodec {
  /** Last failure per job id (diagnostics; tests). */
  readonly failures = new Map<bigint, PrivateFailure>();
  private readonly opened = new Map<string, PrivateInput>();

  constructor(private readonly o: PrivateCodecOptions) {
    if (o.secretKeys.length === 0) throw new Error("PrivateCodec needs at least one encryption secret key");
  }

  /** Operator side: opens a job's input with a key published for role "operator". Undefined while it cannot. */
  openInput(jobId: bigint, envelope: Uint8Array, inputHash?: Hex): Promise<PrivateInput | undefined> {
    return this.open(jobId, envelope, inputHash, "operator");
  }

  /** Committee side (validators): opens a disputed job's input with a key re-wrapped for role "committee". */
  openForCommittee(jobId: bigint, envelope: Uint8Array, inputHash?: Hex): Promise<PrivateInput | undefined> {
    return this.open(jobId, envelope, inputHash, "committee");
  }

  /**
   * Dispute: re-wraps the content key of a job this node opened as an operator for the drawn committee members
   * (their registered keys) and publishes the wrapped keys through JobKeys. Returns the transaction hash, or
   * undefined when the input cannot be opened or no member has a valid key.
   */
  async rewrapForDispute(jobId: bigint, envelope: Uint8Array, members: readonly Address[], inputHash?: Hex): Promise<Hex | undefined> {
    const wallet = this.o.walletClient;
    if (!wallet) throw new Error("rewrapForDispute needs a walletClient");
    const input = await this.openInput(jobId, envelope, inputHash);
    if (!input) return undefined;
    const nodes = await Promise.all(
      members.map((m) => this.o.publicClient.readContract({ address: this.o.addresses.nodeStaking, abi: nodeStakingAbi, functionName: "operator", args: [m] })),
    );
    const withKeys = members.filter((_, i) => isValidEncryptionPublicKey(nodes[i]!.encryptionKey));
    if (withKeys.length === 0) return undefined;
    const wrapped = rewrapForCommittee(
      input.contentKey,
      withKeys.map((m) => nodes[members.indexOf(m)]!.encryptionKey),
      input.context,
    );
    const { request } = await this.o.publicClient.simulateContract({
      address: this.o.addresses.jobKeys,
      abi: jobKeysAbi,
      functionName: "publishKeys",
      args: [jobId, withKeys, wrapped.map((w) => toHex(w.wrappedKey))],
      account: wallet.account,
    });
    const hash = await wallet.writeContract(request as never);
    await this.o.publicClient.waitForTransactionReceipt({ hash });
    return hash;
  }

  private async open(jobId: bigint, envelope: Uint8Array, inputHash: Hex | undefined, role: KeyRole): Promise<PrivateInput | undefined> {
    const cacheKey = `${role}:${jobId}`;
    const cached = this.opened.get(cacheKey);
    if (cached) return cached;
    const { publicClient, addresses } = this.o;
    let context: JobContext;
    try {
      if (inputHash) assertEnvelopeHash(envelope, inputHash);
      context = jobContextFromEnvelope({ chainId: BigInt(this.o.chainId), escrow: addresses.jobEscrow, requester: await this.requesterOf(jobId) }, envelope);
    } catch (err) {
      if (!(err instanceof PrivacyError)) throw err;
      return this.fail(jobId, { reason: "bad_envelope", codes: [err.code], message: err.message });
    }
    const events = await publicClient.getContractEvents({
      address: addresses.jobKeys,
      abi: jobKeysAbi,
      eventName: "KeysPublished",
      args: { jobId, recipient: this.o.operator },
      fromBlock: this.o.fromBlock ?? 0n,
      strict: true,
    });
    if (events.length === 0) return this.fail(jobId, { reason: "waiting", codes: [], message: `no ${role} key published for ${this.o.operator} yet` });
    // The requester's keys first (it generated the content key), newest first within each publisher.
    const requester = context.requester.toLowerCase();
    const ordered = [...events].reverse().sort((a, b) => Number(b.args.publisher.toLowerCase() === requester) - Number(a.args.publisher.toLowerCase() === requester));
    const codes: string[] = [];
    const messages: string[] = [];
    for (const ev of ordered) {
      for (const sk of this.o.secretKeys) {
        let contentKey: Uint8Array | undefined;
        try {
          contentKey = unwrapContentKey(ev.args.wrappedKey, sk, context, role);
          const plaintext = decryptInput(envelope, contentKey, context);
          const input = privateInput(context, contentKey, plaintext, ev.args.publisher);
          this.opened.set(cacheKey, input);
          this.failures.delete(jobId);
          return input;
        } catch (err) {
          contentKey?.fill(0);
          if (!(err instanceof PrivacyError)) throw err;
          // A wrap addressed to another of our keys is not a failure of this one: try the next secret.
          codes.push(err.code);
          messages.push(`key from ${ev.args.publisher} (tx ${ev.transactionHash}): ${err.message}`);
        }
      }
    }
    return this.fail(jobId, { reason: "undecryptable", codes: [...new Set(codes)], message: messages.join("; ") });
  }

  /**
   * The job's requester (bound into the envelope's context). A job that settled without a dispute may have had its
   * escrow record reused (getJob reverts JobEscrowJobRecycled): its JobSubmitted event still names the requester.
   */
  private async requesterOf(jobId: bigint): Promise<Address> {
    const { publicClient, addresses } = this.o;
    try {
      return (await publicClient.readContract({ address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "getJob", args: [jobId] })).requester;
    } catch (err) {
      if (!isJobRecycled(err)) throw err;
      const logs = await publicClient.getContractEvents({
        address: addresses.jobEscrow,
        abi: jobEscrowAbi,
        eventName: "JobSubmitted",
        args: { jobId },
        fromBlock: this.o.fromBlock ?? 0n,
        strict: true,
      });
      const requester = logs[0]?.args.requester;
      if (!requester) throw err;
      return requester;
    }
  }

  /** Drops the cached content key of a job (call once the job is terminal and past its dispute windows). */
  forget(jobId: bigint): void {
    for (const role of ["operator", "committee"]) {
      const k = `${role}:${jobId}`;
      this.opened.get(k)?.contentKey.fill(0);
      this.opened.delete(k);
    }
  }

  private fail(jobId: bigint, f: PrivateFailure): undefined {
    const prev = this.failures.get(jobId);
    this.failures.set(jobId, f);
    if (f.reason !== "waiting" && prev?.message !== f.message) {
      this.o.logger?.warn("private input cannot be opened: not committing", { jobId, reason: f.reason, codes: f.codes.join(","), error: f.message });
    }
    return undefined;
  }
}

function privateInput(context: JobContext, contentKey: Uint8Array, plaintext: Uint8Array, publisher: Address): PrivateInput {
  return {
    context,
    contentKey,
    plaintext,
    publisher,
    resultHash: (outputs, comparator) => keyedResultHash(contentKey, context, canonicalResultBytes(outputs, comparator)),
    sealResult: (outputs) => encryptResult(encodeTensors(outputs), contentKey, context),
  };
}

function toHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes).toString("hex")}` as Hex;
}
