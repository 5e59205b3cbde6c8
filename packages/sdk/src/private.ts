/**
 * Private inference, requester side: submit a job whose input only the requester and the job's operators can read,
 * deliver the content key to the drawn operators through JobKeys, and read back the encrypted result.
 *
 * Flow (docs/privacy.md, "Integration"):
 *   1. `submitPrivateJob`: canonical input bytes -> input envelope under a fresh content key bound to the job context
 *      (chainId, escrow, requester, random nonce); the envelope goes inline (or by URI through an uploader) and its
 *      sha256 is the on-chain input hash. The escrow draws the operators inside the submission, so the content key is
 *      wrapped to their registered X25519 keys (NodeStaking `encryptionKey`) afterwards and published with
 *      `JobKeys.publishKeys`.
 *   2. Operators unwrap, decrypt, run the model, commit/reveal the keyed result hash, and serve the result envelope at
 *      `<endpoint>/results/<keyedResultHash>`.
 *   3. `waitForPrivateResult`: waits for the agreed keyed hash (re-publishing keys to operators drawn as
 *      replacements meanwhile), fetches a result envelope, decrypts it, and checks it against the on-chain value.
 *
 * The caller keeps `contentKey` (and `context`) secret and alive until the result is read; losing them loses the
 * result (wrap to a requester key with `requesterPublicKey` to recover it elsewhere).
 */
import { parseEventLogs, zeroHash, type Address, type Hex, type Log } from "viem";
import { getBlock, getChainId, getContractEvents, readContract } from "viem/actions";
import { jobEscrowAbi, jobKeysAbi, nodeStakingAbi } from "@veil/contracts";
import {
  InputTooLargeError,
  JobInvalidInputError,
  JobNotSettledError,
  ResultUnavailableError,
  VeilError,
} from "./errors.js";
import { decoded, resolveAccount, send, toBytes32, type AddressesParameter, type VeilClient, type WriteParameters } from "./internal.js";
import { contentUri, parseContentUri, pushBlob, type BlobPush } from "./blobs.js";
import { getJob, sendSubmissions, waitForJobOutcome, type Job, type Uploader } from "./actions/jobs.js";
import { getModel } from "./actions/models.js";
import { checkInputs } from "./signature.js";
import {
  PrivacyError,
  createJobContext,
  decryptResult,
  encryptInput,
  envelopeHash,
  generateContentKey,
  isValidEncryptionPublicKey,
  verifyKeyedResultHash,
  wrapContentKey,
  type BytesLike,
  type JobContext,
  type KeyRole,
} from "./privacy.js";
import { canonicalResultBytes, decodeTensors, encodeTensors, readInvalidInput, type TensorMap } from "./tensor.js";

/** A private-job step failed (no usable operator key, undecryptable or mismatching result). */
export class PrivateJobError extends VeilError {
  override name = "PrivateJobError";
  constructor(readonly jobId: bigint | undefined, shortMessage: string, args: { cause?: unknown; metaMessages?: string[] } = {}) {
    super(shortMessage, { ...args, docsPath: "privacy.md" });
  }
}

/** The JobKeys channel of the deployment (not yet part of VeilAddresses). */
export type JobKeysParameter = { jobKeys: Address };

// ---------------------------------------------------------------------------------------------------------------- publishJobKeys

export type PublishJobKeysParameters = WriteParameters &
  JobKeysParameter & {
    jobId: bigint;
    contentKey: BytesLike;
    context: JobContext;
    /** Addresses to wrap for: each one's registered NodeStaking `encryptionKey` is read and validated. */
    recipients: readonly Address[];
    /** "operator" (default) for assigned operators, "committee" for dispute committee members. */
    role?: KeyRole | undefined;
  };
export type PublishJobKeysReturnType = {
  hash: Hex | undefined;
  gasUsed: bigint;
  /** Recipients a key was published for. */
  published: Address[];
  /** Recipients without a valid registered encryption key (zero, non-canonical or low-order): nothing sent. */
  missingKeys: Address[];
};

/**
 * Wraps a job's content key to each recipient's registered X25519 key and publishes the wrapped keys in one
 * `JobKeys.publishKeys` transaction. Callable by the job's requester, or by one of its operators (committee re-wraps).
 *
 * @example
 * await publishJobKeys(wallet, { addresses, jobKeys, jobId, contentKey, context, recipients: members, role: "committee" })
 */
export async function publishJobKeys(client: VeilClient, params: PublishJobKeysParameters): Promise<PublishJobKeysReturnType> {
  const account = resolveAccount(client, params.account, "publishJobKeys");
  const role = params.role ?? "operator";
  const unique = params.recipients.filter((a, i, all) => all.findIndex((b) => b.toLowerCase() === a.toLowerCase()) === i);
  const nodes = await decoded(
    Promise.all(
      unique.map((op) =>
        readContract(client, { address: params.addresses.nodeStaking, abi: nodeStakingAbi, functionName: "operator", args: [op] }),
      ),
    ),
  );
  const recipients: Address[] = [];
  const wrapped: Hex[] = [];
  const missingKeys: Address[] = [];
  unique.forEach((op, i) => {
    const key = nodes[i]!.encryptionKey;
    if (!isValidEncryptionPublicKey(key)) return void missingKeys.push(op);
    recipients.push(op);
    wrapped.push(bytesToHex(wrapContentKey(params.contentKey, key, params.context, role)));
  });
  if (recipients.length === 0) return { hash: undefined, gasUsed: 0n, published: [], missingKeys };
  const sent = await send(client, account, {
    address: params.jobKeys,
    abi: jobKeysAbi,
    functionName: "publishKeys",
    args: [params.jobId, recipients, wrapped],
  });
  return { hash: sent.hash, gasUsed: sent.receipt.gasUsed, published: recipients, missingKeys };
}

// ---------------------------------------------------------------------------------------------------------------- submitPrivateJob

export type SubmitPrivateJobParameters = WriteParameters &
  JobKeysParameter & {
    modelId: Hex;
    /** Named input tensors; encoded canonically, then encrypted. */
    inputs: TensorMap;
    redundancy?: number | undefined;
    maxFee?: bigint | undefined;
    deadline?: bigint | number | undefined;
    payment?: "transfer" | "deposit" | "permit" | undefined;
    /** Send NaN/±Infinity in float inputs (refused by default: see checkInputs in sdk/src/signature.ts). */
    allowNonFinite?: boolean | undefined;
    /**
     * Where envelopes above the escrow's inline limit are stored (the blob host sees ciphertext only). Without one
     * they go by content address (`sha256:<hex>`) and are pushed to the drawn operators (`blobPushes`).
     */
    uploader?: Uploader | undefined;
    /** How long each push of a content-addressed envelope may take (default: pushBlob's). */
    blobPushTimeoutMs?: number | undefined;
  };
export type SubmitPrivateJobReturnType = {
  jobId: bigint;
  operators: Address[];
  fee: bigint;
  /** sha256 of the input envelope: the on-chain input hash. */
  inputHash: Hex;
  inputURI: string | undefined;
  /** Secret: the job's content key. Keep it until the result is read, then zero it. */
  contentKey: Uint8Array;
  /** The job context every ciphertext and keyed hash of this job is bound to. */
  context: JobContext;
  submitHash: Hex;
  submitGasUsed: bigint;
  keys: PublishJobKeysReturnType;
  /** Set when the envelope went by content address: how each operator's push went. */
  blobPushes: BlobPush[] | undefined;
};
export type SubmitPrivateJobErrorType = VeilError;

/**
 * Submits a private job: seals the canonical input under a fresh content key, submits the envelope, then wraps the
 * key for the operators the escrow drew and publishes the wrapped keys through JobKeys. Operators without a valid
 * registered encryption key are listed in `keys.missingKeys` (they cannot take part; the escrow replaces them after
 * their commit window, and `waitForPrivateResult` sends keys to replacements).
 *
 * @example
 * const job = await submitPrivateJob(wallet, { addresses, jobKeys, modelId, inputs })
 * const { outputs } = await waitForPrivateResult(wallet, { addresses, jobKeys, ...job })
 */
export async function submitPrivateJob(client: VeilClient, params: SubmitPrivateJobParameters): Promise<SubmitPrivateJobReturnType> {
  const account = resolveAccount(client, params.account, "submitPrivateJob");
  const { addresses } = params;
  const escrow = addresses.jobEscrow;
  const modelId = toBytes32(params.modelId);
  const [model, escrowParams, block, chainId] = await decoded(
    Promise.all([
      getModel(client, { addresses, modelId }),
      readContract(client, { address: escrow, abi: jobEscrowAbi, functionName: "params" }),
      getBlock(client),
      client.chain?.id !== undefined ? Promise.resolve(client.chain.id) : getChainId(client),
    ]),
  );
  // Inputs the model's registered signature refuses cost nothing: thrown before anything is sealed or signed.
  if (model.signature !== null) checkInputs(model.signature, params.inputs, { allowNonFinite: params.allowNonFinite, modelId });
  const k = params.redundancy ?? model.redundancy;
  const maxFee = params.maxFee ?? model.price * BigInt(k);
  const deadline =
    params.deadline !== undefined ? BigInt(params.deadline) : block.timestamp + BigInt(Math.min(3600, escrowParams.maxJobDuration));

  // The job is recorded under the sender: that is the requester bound into the context.
  const context = createJobContext({ chainId: BigInt(chainId), escrow, requester: account.address });
  const contentKey = generateContentKey();
  const envelope = encryptInput(encodeTensors(params.inputs), contentKey, context);
  let input: Hex = "0x";
  let inputURI = "";
  if (envelope.length <= escrowParams.maxInputBytes) {
    input = bytesToHex(envelope);
  } else {
    // Without an uploader the envelope goes by content address and is pushed to the drawn operators once they are
    // known (ciphertext only, like any blob host would see).
    inputURI = params.uploader ? await params.uploader.put(envelope) : contentUri(envelopeHash(envelope));
  }
  const submit = { modelId, redundancy: k, maxFee, deadline: Number(deadline), input, inputURI, inputHash: inputURI ? envelopeHash(envelope) : zeroHash };

  // Simulated with the payment it needs before anything is signed; a permit in the same transaction where the fee
  // token has one, else an exact approval sent only after the simulation passed (as submitJob does).
  const sent = await sendSubmissions(client, account, {
    addresses,
    submits: [submit],
    payment: params.payment === "deposit" ? "deposit" : params.payment === "permit" ? "permit" : "transfer",
  });
  const logs = parseEventLogs({ abi: jobEscrowAbi, logs: sent.receipt.logs as Log[] }).filter((l) => l.address.toLowerCase() === escrow.toLowerCase());
  const submitted = logs.find((l) => l.eventName === "JobSubmitted");
  const assigned = logs.find((l) => l.eventName === "OperatorsAssigned");
  if (submitted?.eventName !== "JobSubmitted" || assigned?.eventName !== "OperatorsAssigned") {
    throw new PrivateJobError(undefined, `submitPrivateJob: no JobSubmitted/OperatorsAssigned event in ${sent.hash}`);
  }
  const jobId = submitted.args.jobId;
  const operators = [...assigned.args.operators];
  const blobPushes = parseContentUri(inputURI) ? await pushBlob(client, { addresses, bytes: envelope, operators, timeoutMs: params.blobPushTimeoutMs }) : undefined;
  const keys = await publishJobKeys(client, {
    addresses,
    account,
    jobKeys: params.jobKeys,
    jobId,
    contentKey,
    context,
    recipients: operators,
  });
  return {
    jobId,
    operators,
    fee: submitted.args.fee,
    inputHash: submitted.args.inputHash,
    inputURI: inputURI || undefined,
    contentKey,
    context,
    submitHash: sent.hash,
    submitGasUsed: sent.receipt.gasUsed,
    keys,
    blobPushes,
  };
}

// ---------------------------------------------------------------------------------------------------------------- keys to replacements

export type EnsureOperatorKeysParameters = WriteParameters &
  JobKeysParameter & { jobId: bigint; contentKey: BytesLike; context: JobContext; fromBlock?: bigint | undefined };

/**
 * Publishes keys for the job's current operators that have none from this account yet (the escrow replaces operators
 * that miss their commit window with fresh draws, which need the key too). Returns the publication, or undefined when
 * every current operator already has a key.
 */
export async function ensureOperatorKeys(client: VeilClient, params: EnsureOperatorKeysParameters, job?: Job): Promise<PublishJobKeysReturnType | undefined> {
  const account = resolveAccount(client, params.account, "ensureOperatorKeys");
  const j = job ?? (await getJob(client, params));
  const events = await decoded(
    getContractEvents(client, {
      address: params.jobKeys,
      abi: jobKeysAbi,
      eventName: "KeysPublished",
      args: { jobId: params.jobId, publisher: account.address },
      fromBlock: params.fromBlock ?? 0n,
      strict: true,
    }),
  );
  const have = new Set(events.map((e) => e.args.recipient.toLowerCase()));
  const missing = j.operators.filter((op) => !have.has(op.toLowerCase()));
  if (missing.length === 0) return undefined;
  return publishJobKeys(client, { ...params, account, recipients: missing, role: "operator" });
}

// ---------------------------------------------------------------------------------------------------------------- results

export type PrivateJobResult = {
  jobId: bigint;
  /** The agreed keyed result hash (on-chain). */
  resultHash: Hex;
  outputs: TensorMap;
  /** The decrypted canonical tensor bytes the operator served. */
  bytes: Uint8Array;
  operator: Address;
  status: Job["status"];
};

export type GetPrivateJobResultParameters = AddressesParameter & {
  jobId: bigint;
  contentKey: BytesLike;
  context: JobContext;
  /** Fetch used for `<endpoint>/results/<keyedResultHash>` (default: global fetch). */
  fetch?: ((url: string) => Promise<Response>) | undefined;
  /** Block to search the job's events from when its record was recycled (see `getJob`; default `"earliest"`). */
  fromBlock?: bigint | undefined;
};

/**
 * Fetches a settled private job's result envelope from its operators, decrypts it with the content key, and checks
 * that the keyed hash of its canonical result bytes (under the model's comparator) is the on-chain result.
 */
export async function getPrivateJobResult(client: VeilClient, params: GetPrivateJobResultParameters, job?: Job): Promise<PrivateJobResult> {
  const j = job ?? (await getJob(client, params));
  if (!j.result || (j.status !== "Proposed" && j.status !== "Finalized")) throw new JobNotSettledError(j.jobId, j.status);
  const resultHash = j.result;
  const model = await getModel(client, { addresses: params.addresses, modelId: j.modelId });
  const doFetch = params.fetch ?? globalThis.fetch;
  const ordered = [...j.operators.filter((_, i) => j.slotHashes[i] === resultHash), ...j.operators.filter((_, i) => j.slotHashes[i] !== resultHash)]
    .filter((op, i, all) => all.indexOf(op) === i);
  const attempts: string[] = [];
  for (const op of ordered) {
    let url = "";
    try {
      const node = await readContract(client, { address: params.addresses.nodeStaking, abi: nodeStakingAbi, functionName: "operator", args: [op] });
      if (!node.endpoint) throw new Error("no endpoint");
      url = `${node.endpoint.replace(/\/+$/, "")}/results/${resultHash}`;
      const res = await doFetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const bytes = decryptResult(new Uint8Array(await res.arrayBuffer()), params.contentKey, params.context);
      const outputs = decodeTensors(bytes);
      if (!verifyKeyedResultHash(params.contentKey, params.context, canonicalResultBytes(outputs, model.comparator), resultHash)) {
        throw new Error("decrypted result does not match the on-chain keyed result hash");
      }
      const invalid = readInvalidInput(outputs);
      if (invalid !== undefined) throw new JobInvalidInputError(j.jobId, invalid);
      return { jobId: j.jobId, resultHash, outputs, bytes, operator: op, status: j.status };
    } catch (e) {
      if (e instanceof JobInvalidInputError) throw e;
      attempts.push(`${op}${url ? ` (${url})` : ""}: ${e instanceof PrivacyError ? e.message : (e as Error).message}`);
    }
  }
  throw new ResultUnavailableError(j.jobId, resultHash, attempts);
}

export type WaitForPrivateResultParameters = GetPrivateJobResultParameters &
  JobKeysParameter &
  Pick<WriteParameters, "account"> & {
    until?: "proposed" | "finalized" | undefined;
    /** Milliseconds (default 10 minutes). */
    timeout?: number | undefined;
    pollingInterval?: number | undefined;
    /** Send keys to replacement operators while waiting (default true; needs a wallet client). */
    rekeyReplacements?: boolean | undefined;
    fromBlock?: bigint | undefined;
  };

/**
 * Waits for a private job's agreed result, publishing the content key to operators drawn as replacements, then
 * returns the decrypted, verified outputs. Throws JobRefundedError, JobDisputedError (until "proposed"),
 * JobTimeoutError or ResultUnavailableError.
 */
export async function waitForPrivateResult(client: VeilClient, params: WaitForPrivateResultParameters): Promise<PrivateJobResult> {
  const rekey = params.rekeyReplacements ?? client.account !== undefined;
  let operatorsSeen = "";
  const job = await waitForJobOutcome(client, params, async (job) => {
    const ops = job.operators.join();
    if (rekey && job.status === "Assigned" && ops !== operatorsSeen) {
      await ensureOperatorKeys(client, { ...params, jobId: job.jobId }, job);
      operatorsSeen = ops;
    }
  });
  return getPrivateJobResult(client, params, job);
}

function bytesToHex(bytes: Uint8Array): Hex {
  let s = "0x";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s as Hex;
}
