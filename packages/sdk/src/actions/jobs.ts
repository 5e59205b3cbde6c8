import {
  encodeAbiParameters,
  encodeFunctionData,
  formatLog,
  keccak256,
  numberToHex,
  zeroHash,
  type Account,
  type Address,
  type BlockTag,
  type Hex,
  type Log,
  type RpcLog,
} from "viem";
import { getBlock, getContractEvents, readContract } from "viem/actions";
import { computeCreditsAbi, feeLedgerAbi, jobEscrowAbi, modelRegistryAbi, nodeStakingAbi } from "@veil/contracts";
import {
  InputTooLargeError,
  JobDisputedError,
  JobEscrowJobRecycledError,
  JobInvalidInputError,
  JobNotSettledError,
  JobRefundedError,
  JobTimeoutError,
  ResultUnavailableError,
  refundReasonName,
  type VeilError,
} from "../errors.js";
import {
  andWait,
  atOnce,
  confirm,
  decoded,
  feeLedgerAddress,
  pendingCall,
  resolveAccount,
  write,
  drawGasBound,
  submissionGasBound,
  toBytes32,
  type AddressesParameter,
  type ContractCall,
  type PendingWrite,
  type SentReturnType,
  type VeilClient,
  type WriteParameters,
  type WriteReturnType,
} from "../internal.js";
import { decodeTensors, encodeTensors, readInvalidInput, resultHash as hashResult, sha256Hex, type TensorMap } from "../tensor.js";
import { getModel } from "./models.js";
import { checkInputs } from "../signature.js";
import { contentUri, parseContentUri, pushBlob, type BlobPush } from "../blobs.js";
import { signPermit, writePaying, type ApprovalMode, type Payment, type SendPayingReturnType, type WritePayingReturnType } from "./tokens.js";
import { parseEventLogs } from "viem";
import {
  JOB_EVENT_TOPICS,
  JobEventTimestampRequiredError,
  foldJobEvents,
  jobFromState,
  parseJobEvents,
  slotStates,
  type JobSlot,
} from "../jobs/reducer.js";

export const JOB_STATUSES = ["None", "Assigned", "Revealing", "Proposed", "Disputed", "Finalized", "Refunded"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * A job as the escrow reports it. The escrow recycles the storage of jobs settled without a dispute (finalized, or
 * refunded for a missed step): once a later submission reuses the record, the contract's `getJob` reverts with
 * `JobEscrowJobRecycled` and {@link getJob} rebuilds the job from its events instead (`source: "events"`).
 */
export type Job = {
  jobId: bigint;
  /**
   * Where the job was read from: `"chain"`, the escrow's storage (`getJob` of the contract); `"events"`, the job's
   * event history (JobSubmitted ... JobFinalized / JobRefunded), because its record now holds a later job. An
   * `"events"` job is always settled (Finalized or Refunded, `phaseEnd` 0); its `slotHashes` hold the revealed (or
   * posted) result hashes only: a k > 1 commitment that was never revealed shows as zero (the events do not carry
   * commitments), where the chain would show it.
   */
  source: "chain" | "events";
  requester: Address;
  modelId: Hex;
  status: JobStatus;
  /** Who paid: 0, the requester (transfer, permit or deposit); otherwise the FeeLedger's payer module id (compute credits: 1). */
  payerModule: number;
  /**
   * Where refunds go (to its deposit in the FeeLedger): the requester, or the payer module's address. Undefined
   * only in `jobFromState` of a module-paid job whose refund it has not seen (getJob and getJobHistory resolve it).
   */
  payer: Address | undefined;
  /**
   * `"deposit"` when the requester paid (refunds go to the requester's deposit), `"allowance"` when a payer module
   * did (the compute-credit pool; refunds go to its deposit).
   * @deprecated The escrow records `payerModule` now; use `payerModule` and `payer`.
   */
  payMode: "deposit" | "allowance";
  redundancy: number;
  /** Fee per operator slot. */
  price: bigint;
  /** Latest time a result may be proposed (unix seconds). */
  deadline: number;
  /** End of the current phase (commit, reveal, challenge or dispute window); 0 once Finalized or Refunded. */
  phaseEnd: number;
  operators: Address[];
  /** Per slot: the commitment, then the revealed (or posted) result hash; zero for a slot that posted nothing. */
  slotHashes: Hex[];
  /**
   * Every slot's operator and named state (`"pending"`, `"committed"`, `"revealed"`, `"posted"`, `"declined"`,
   * `"missed"`; see `SlotState`), with its result hash once revealed or posted. The same from the chain and
   * from events (both come from `slotStates`).
   */
  slots: readonly JobSlot[];
  /**
   * Slots that committed (k > 1 only; always 0 at k = 1).
   * @deprecated A bit mask of the escrow's; use `slots`.
   */
  commitMask: number;
  /**
   * Slots whose result hash is public: at k = 1 the posted result (bit 0), at k > 1 the revealed slots.
   * @deprecated A bit mask of the escrow's; use `slots`.
   */
  revealMask: number;
  /**
   * Slots that declined in the current commit round and were not replaced yet (`declineJob`).
   * @deprecated A bit mask of the escrow's; use `slots` (state `"declined"`).
   */
  declinedMask: number;
  /**
   * k > 1: slots slashed and dropped for missing their reveal.
   * @deprecated A bit mask of the escrow's; use `slots` (state `"missed"`).
   */
  missedMask: number;
  /** Agreed (or dispute-resolved) result hash; `undefined` while none. */
  result: Hex | undefined;
  /**
   * The governance terms version the job settles under (the escrow's `paramsAt(termsVersion)`: windows, collateral,
   * shares), fixed at submission (JobSubmitted carries it too, so jobs read from events have it).
   */
  termsVersion: number;
  /** The model owner's royalty (basis points of the fee), fixed at submission (also in JobSubmitted). */
  royaltyBps: number;
};

// ---------------------------------------------------------------------------------------------------------------- job ids

/**
 * The parts of a job id (the escrow's JobId): `tag << 64 | generation << 32 | index`. `index` is the storage record
 * that holds the job (records of settled jobs are reused), `generation` how many jobs that record held before, and
 * `tag` 64 bits of `keccak256(abi.encode(modelId, inputHash))` (see {@link jobIdTag}): ids are about 2^127, so keep
 * them as bigint (never `Number(jobId)`).
 *
 * @example
 * const { index, generation } = parseJobId(jobId)
 */
export function parseJobId(jobId: bigint): { tag: bigint; generation: bigint; index: bigint } {
  if (jobId < 0n || jobId >> 128n !== 0n) throw new RangeError(`job id ${jobId} is not a JobId (tag << 64 | generation << 32 | index, below 2^128)`);
  return { tag: jobId >> 64n, generation: (jobId >> 32n) & 0xffffffffn, index: jobId & 0xffffffffn };
}

/**
 * The tag of a submission's job id: the low 64 bits of `keccak256(abi.encode(modelId, inputHash))`, where
 * `inputHash` is the sha256 of the inline input bytes, or the referenced input's hash (JobSubmitted's `inputHash`).
 */
export function jobIdTag(modelId: Hex, inputHash: Hex): bigint {
  return BigInt(keccak256(encodeAbiParameters([{ type: "bytes32" }, { type: "bytes32" }], [modelId, inputHash]))) & 0xffffffffffffffffn;
}

/** Stores inputs too large to go inline, and returns a URI operators can fetch them from. */
export type Uploader = { put(bytes: Uint8Array): Promise<string> };

// ---------------------------------------------------------------------------------------------------------------- submitJob

export type SubmitJobParameters = WriteParameters & {
  modelId: Hex;
  /** Named input tensors; encoded canonically (sdk/src/tensor.ts). */
  inputs: TensorMap;
  /** Operators k (default: the model's redundancy). */
  redundancy?: number | undefined;
  /** The most the sender pays in total (default: the model's current price x k). */
  maxFee?: bigint | undefined;
  /** Latest time a result may be proposed, unix seconds (default: now + min(1 hour, maxJobDuration)). */
  deadline?: bigint | number | undefined;
  /**
   * How the fee is paid: `"transfer"` (the default: the fee pulled from the sender's balance, authorised by an
   * EIP-2612 permit in the same transaction when the fee token supports one, otherwise by an approval of exactly
   * the fee, sent only after the submission simulated successfully; see `approval`), `"deposit"` (from the prepaid
   * deposit), `"permit"` (a permit, required), `"allowance"` (the sender's daily compute-credit allowance, through
   * ComputeCredits), or `"auto"`: the protocol's spend order, allowance first when today's allowance (and the pool)
   * covers the whole fee, otherwise the deposit.
   */
  payment?: "transfer" | "deposit" | "permit" | "allowance" | "auto" | undefined;
  /** With `"transfer"`: `"auto"` (default: a permit when the token has one), `"permit"`, or `"approve"` (an approval transaction). */
  approval?: ApprovalMode | undefined;
  /** With `"allowance"`/`"auto"` for an agent: the holder whose allowance pays (default: the sender). */
  holder?: Address | undefined;
  /** Shortcut for `payment: "permit"`. */
  permit?: boolean | undefined;
  /** Send NaN/±Infinity in float inputs (refused by default: see checkInputs in sdk/src/signature.ts). */
  allowNonFinite?: boolean | undefined;
  /**
   * Where inputs above the escrow's inline limit are stored. Without one they go by content address
   * (`sha256:<hex>`) and are pushed to the drawn operators after the submission is mined (`blobPushes`).
   */
  uploader?: Uploader | undefined;
  /** Per-operator timeout of those pushes (default 30 s). */
  blobPushTimeoutMs?: number | undefined;
};
/** What {@link writeSubmitJob} knows once the submission is sent (before it is mined). */
export type SubmitJobSent = Payment & {
  /** sha256 of the canonical input bytes (the JobSubmitted event's `inputHash`). */
  inputHash: Hex;
  /** Set when the input went by reference. */
  inputURI: string | undefined;
  /** The most the sender pays (the fee is the model's price x k when the submission is mined). */
  maxFee: bigint;
  /** Latest time a result may be proposed (unix seconds). */
  deadline: bigint;
};
/** What {@link submitJob} reads from the mined submission. */
export type SubmitJobOutcome = {
  jobId: bigint;
  /** Operators drawn for the job, by slot. */
  operators: Address[];
  fee: bigint;
  /**
   * A content-addressed input (no `uploader`): the push of its bytes to each drawn operator. A failed push is not
   * fatal (operators fetch from each other; a job none can get is declined and refunded), but worth a retry.
   */
  blobPushes?: BlobPush[] | undefined;
};
export type SubmitJobReturnType = WriteReturnType & SubmitJobSent & SubmitJobOutcome;
export type WriteSubmitJobReturnType = SentReturnType & SubmitJobSent;
export type SubmitJobErrorType = VeilError;

/** Encodes a job's inputs and builds the escrow's SubmitParams (uploading inputs above the inline limit). */
async function prepareSubmission(client: VeilClient, params: Omit<SubmitJobParameters, "account" | "payment" | "permit" | "holder">) {
  const { addresses } = params;
  const escrow = addresses.jobEscrow;
  const modelId = toBytes32(params.modelId);
  const [model, escrowParams, block] = await decoded(
    Promise.all([
      getModel(client, { addresses, modelId }),
      readContract(client, { address: escrow, abi: jobEscrowAbi, functionName: "params" }),
      getBlock(client),
    ]),
  );
  // Inputs the model's registered signature refuses cost nothing: thrown before anything is signed or uploaded.
  if (model.signature !== null) checkInputs(model.signature, params.inputs, { allowNonFinite: params.allowNonFinite, modelId });
  const k = params.redundancy ?? model.redundancy;
  const maxFee = params.maxFee ?? model.price * BigInt(k);
  const deadline =
    params.deadline !== undefined
      ? BigInt(params.deadline)
      : block.timestamp + BigInt(Math.min(3600, escrowParams.maxJobDuration));

  const bytes = encodeTensors(params.inputs);
  const inputHash = sha256Hex(bytes);
  let input: Hex = "0x";
  let inputURI = "";
  if (bytes.length <= escrowParams.maxInputBytes) {
    input = toHex(bytes);
  } else {
    // Without an uploader the input goes by content address (sdk/src/blobs.ts): the chain stores its sha256 and
    // the bytes are pushed to the drawn operators once the submission is mined.
    inputURI = params.uploader ? await params.uploader.put(bytes) : contentUri(inputHash);
  }
  const submit = {
    modelId,
    redundancy: k,
    maxFee,
    deadline: Number(deadline),
    input,
    inputURI,
    inputHash: inputURI ? inputHash : zeroHash,
  };
  return { submit, maxFee, deadline, inputURI, inputHash, escrow };
}

/**
 * Submits an inference job and waits for it to be mined: encodes the inputs canonically, sends them inline (or by
 * content address, or through an `uploader`, when they exceed the escrow's `maxInputBytes`), pays the fee, and
 * returns the job id and the operators drawn for it (from the JobSubmitted and OperatorsAssigned events); a
 * content-addressed input is then pushed to those operators. The call is simulated first, with the payment it
 * needs, so a revert throws a named error before anything is signed. {@link writeSubmitJob} returns at once.
 *
 * @example
 * const { jobId, operators } = await submitJob(wallet, {
 *   addresses,
 *   modelId,
 *   inputs: { x: { type: "float32", dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) } },
 * })
 */
export function submitJob(client: VeilClient, params: SubmitJobParameters): Promise<SubmitJobReturnType> {
  return andWait(client, buildSubmitJob(client, params));
}

/**
 * {@link submitJob} without waiting for the submission to be mined: the same checks, simulation and payment (an
 * approval, when one is needed, is mined first), then returns with the submission's hash. The job id and its
 * operators come with the receipt: `waitForTransactionReceipt`, then `parseEventLogs` with `abis.jobEscrowAbi`
 * (JobSubmitted, OperatorsAssigned). A content-addressed input (above the inline limit, no `uploader`) must then be
 * pushed to the drawn operators (`pushBlob`), which submitJob does.
 *
 * @example
 * const { hash } = await writeSubmitJob(wallet, { addresses, modelId, inputs })
 * const receipt = await waitForTransactionReceipt(wallet, { hash })
 * const [submitted] = parseEventLogs({ abi: abis.jobEscrowAbi, eventName: "JobSubmitted", logs: receipt.logs })
 */
export function writeSubmitJob(client: VeilClient, params: SubmitJobParameters): Promise<WriteSubmitJobReturnType> {
  return atOnce(buildSubmitJob(client, params));
}

async function buildSubmitJob(client: VeilClient, params: SubmitJobParameters): Promise<PendingWrite<SubmitJobSent, SubmitJobOutcome>> {
  const account = resolveAccount(client, params.account, "submitJob");
  const { addresses } = params;
  const { submit, maxFee, deadline, inputURI, inputHash, escrow } = await prepareSubmission(client, params);

  let payment: SubmissionPayment = params.permit ? "permit" : (params.payment ?? "transfer");
  const credits = addresses.computeCredits;
  const holder = params.holder ?? account.address;
  if (payment === "auto") {
    // Spend order: allowance first (only when it covers the whole fee: a job has one payer), then the deposit.
    let allowance = 0n;
    if (credits) {
      const [left, agentLeft, pool] = await decoded(
        Promise.all([
          readContract(client, { address: credits, abi: computeCreditsAbi, functionName: "allowanceLeft", args: [holder] }),
          holder.toLowerCase() === account.address.toLowerCase()
            ? Promise.resolve(undefined)
            : readContract(client, { address: credits, abi: computeCreditsAbi, functionName: "agentAllowanceLeft", args: [holder, account.address] }),
          readContract(client, { address: credits, abi: computeCreditsAbi, functionName: "poolBalance" }),
        ]),
      );
      allowance = [left, agentLeft ?? left, pool].reduce((a, b) => (a < b ? a : b));
    }
    payment = credits && allowance >= maxFee ? "allowance" : "deposit";
  }
  const sent = await writeSubmissions(client, account, { addresses, submits: [submit], payment, holder, approval: params.approval });
  return {
    hash: sent.hash,
    account,
    options: { addresses },
    known: { inputHash, inputURI: inputURI || undefined, maxFee, deadline, approvalHash: sent.approvalHash, paidWith: sent.paidWith },
    outcome: async (receipt) => {
      const logs = parseEventLogs({ abi: jobEscrowAbi, logs: receipt.logs as Log[] }).filter((l) => l.address.toLowerCase() === escrow.toLowerCase());
      const submitted = logs.find((l) => l.eventName === "JobSubmitted");
      const assigned = logs.find((l) => l.eventName === "OperatorsAssigned");
      if (!submitted || submitted.eventName !== "JobSubmitted" || !assigned || assigned.eventName !== "OperatorsAssigned") {
        throw new Error(`submitJob: no JobSubmitted/OperatorsAssigned event in ${sent.hash}`);
      }
      const operators = [...assigned.args.operators];
      return { jobId: submitted.args.jobId, operators, fee: submitted.args.fee, ...(await pushInputBlob(client, params, inputURI, operators)) };
    },
  };
}

/** A content-addressed input (no `uploader`): its bytes go to every operator drawn for the job (sdk/src/blobs.ts). */
async function pushInputBlob(
  client: VeilClient,
  params: Pick<SubmitJobParameters, "addresses" | "inputs" | "uploader" | "blobPushTimeoutMs">,
  inputURI: string,
  operators: Address[],
): Promise<{ blobPushes?: BlobPush[] }> {
  if (params.uploader || !parseContentUri(inputURI)) return {};
  const bytes = encodeTensors(params.inputs);
  return { blobPushes: await pushBlob(client, { addresses: params.addresses, bytes, operators, timeoutMs: params.blobPushTimeoutMs }) };
}

// ---------------------------------------------------------------------------------------------------------------- sendSubmissions

/**
 * How submissions are paid: `"transfer"` (the fee pulled from the sender: by an EIP-2612 permit in the same
 * transaction when the fee token supports one, otherwise by an approval of exactly the fee sent after a successful
 * simulation), `"permit"` (the same, permit required), `"deposit"`, `"allowance"` (compute credits; one job only).
 */
export type SubmissionPayment = "transfer" | "permit" | "deposit" | "allowance" | "auto";

export type SendSubmissionsParameters = AddressesParameter & {
  /** The escrow's SubmitParams of each job (one job: a plain call; several: the escrow's multicall). */
  submits: readonly SubmitArgs[];
  payment: Exclude<SubmissionPayment, "auto">;
  /** With `"allowance"`: the holder whose allowance pays (default: the sender). */
  holder?: Address | undefined;
  /** With `"transfer"`: force a permit or an approval (default `"auto"`: a permit when the token supports it). */
  approval?: ApprovalMode | undefined;
};

/**
 * Pays for and sends submissions, with nothing signed before they have been simulated with the payment they need
 * (sdk/src/actions/tokens.ts `sendPaying`), and a gas limit that holds whatever block they land in: the node's
 * estimate plus the bound of each job's operator draw and record ({@link submissionGasBound}). The exact fee
 * (price x k of each job, read from the registry) is what is permitted or approved. Used by submitJob,
 * submitJobs and the private flow.
 */
export async function sendSubmissions(client: VeilClient, account: Account, p: SendSubmissionsParameters): Promise<SendPayingReturnType> {
  const sent = await writeSubmissions(client, account, p);
  return { ...sent, receipt: await confirm(client, account, sent.hash, { addresses: p.addresses, moves: "feeToken" }) };
}

/**
 * {@link sendSubmissions} without waiting for the submissions to be mined: the same simulation with the payment,
 * permit or exact approval (an approval is mined before the submissions are sent), then returns with their hash.
 */
export async function writeSubmissions(client: VeilClient, account: Account, p: SendSubmissionsParameters): Promise<WritePayingReturnType> {
  const { addresses, submits } = p;
  const escrow = addresses.jobEscrow;
  if (submits.length === 0) throw new Error("sendSubmissions: no jobs");
  // Each job's terms (model index, price, default k) give its exact fee and its draw's gas bound.
  const terms = new Map<string, readonly [number, bigint, number, boolean, number]>();
  await decoded(
    Promise.all(
      [...new Set(submits.map((s) => s.modelId.toLowerCase()))].map(async (id) => {
        terms.set(id, await readContract(client, { address: addresses.modelRegistry, abi: modelRegistryAbi, functionName: "jobTerms", args: [id as Hex] }));
      }),
    ),
  );
  let fee = 0n;
  const bounds = await Promise.all(
    submits.map((s) => {
      const [index, price, defaultK] = terms.get(s.modelId.toLowerCase())!;
      const k = s.redundancy === 0 ? defaultK : s.redundancy;
      fee += price * BigInt(k);
      // An inactive model or an impossible k reverts in simulation; the bound only has to be a number.
      return k >= 1 && k <= 7 ? submissionGasBound(client, addresses, { modelIndex: index, k }).catch(() => 0n) : Promise.resolve(0n);
    }),
  );
  const extraGas = bounds.reduce((a, b) => a + b, 0n);
  const options = { addresses, extraGas, moves: "feeToken" as const };
  const none = { approvalHash: undefined, paidWith: "allowance" as const };

  if (p.payment === "allowance") {
    const credits = addresses.computeCredits;
    if (!credits) throw new Error("submitJob: payment 'allowance' needs addresses.computeCredits");
    if (submits.length !== 1) throw new Error("submitJobs: payment 'allowance' takes one job at a time");
    const sent = await write(client, account, { address: credits, abi: computeCreditsAbi, functionName: "submitJob", args: [p.holder ?? account.address, submits[0]!] }, options);
    return { ...sent, ...none };
  }
  const calls = (fn: "submitJob" | "submitJobFromDeposit") => submits.map((s) => encodeFunctionData({ abi: jobEscrowAbi, functionName: fn, args: [s] }));
  if (p.payment === "deposit") {
    const call =
      submits.length === 1
        ? { address: escrow, abi: jobEscrowAbi, functionName: "submitJobFromDeposit", args: [submits[0]!] }
        : { address: escrow, abi: jobEscrowAbi, functionName: "multicall", args: [calls("submitJobFromDeposit")] };
    return { ...(await write(client, account, call as ContractCall, options)), ...none };
  }
  const call =
    submits.length === 1
      ? { address: escrow, abi: jobEscrowAbi, functionName: "submitJob", args: [submits[0]!] }
      : { address: escrow, abi: jobEscrowAbi, functionName: "multicall", args: [calls("submitJob")] };
  // The FeeLedger collects the fee: it is what the sender approves or permits (the escrow's permitFeeToken
  // permits the ledger).
  const ledger = await feeLedgerAddress(client, addresses);
  return writePaying(client, account, {
    ...options,
    token: addresses.feeToken,
    spender: ledger,
    amount: fee,
    call: call as ContractCall,
    // One transaction: the escrow's multicall of permitFeeToken and the submissions.
    withPermit: (permit) => ({
      address: escrow,
      abi: jobEscrowAbi,
      functionName: "multicall",
      args: [
        [
          encodeFunctionData({ abi: jobEscrowAbi, functionName: "permitFeeToken", args: [permit.value, permit.deadline, permit.v, permit.r, permit.s] }),
          ...calls("submitJob"),
        ],
      ],
    }),
    approval: p.payment === "permit" ? "permit" : (p.approval ?? "auto"),
  });
}

/**
 * The one transaction that pays a submission by EIP-2612 permit: the escrow's `multicall` of `permitFeeToken`
 * (the signed permit for `maxFee` to the FeeLedger, which collects the fee, valid until `deadline`) and
 * `submitJob`. No prior approval is needed.
 */
export async function permitSubmitCall(
  client: VeilClient,
  account: Account,
  addresses: { jobEscrow: Address; feeToken: Address; feeLedger?: Address | undefined },
  submit: SubmitArgs,
  maxFee: bigint,
  deadline: bigint,
) {
  const ledger = await feeLedgerAddress(client, addresses);
  const { v, r, s } = await decoded(signPermit(client, account, addresses.feeToken, ledger, maxFee, deadline));
  const data = [
    encodeFunctionData({ abi: jobEscrowAbi, functionName: "permitFeeToken", args: [maxFee, deadline, v, r, s] }),
    encodeFunctionData({ abi: jobEscrowAbi, functionName: "submitJob", args: [submit] }),
  ];
  return { address: addresses.jobEscrow, abi: jobEscrowAbi, functionName: "multicall", args: [data] } as const;
}

/** The escrow's `SubmitParams`, as viem encodes them. */
export type SubmitArgs = {
  modelId: Hex;
  redundancy: number;
  maxFee: bigint;
  deadline: number;
  input: Hex;
  inputURI: string;
  inputHash: Hex;
};

// ---------------------------------------------------------------------------------------------------------------- submitJobs

export type SubmitJobsParameters = WriteParameters & {
  /** The jobs, each as for submitJob (inputs, model, redundancy, max fee, deadline, uploader). */
  jobs: readonly Omit<SubmitJobParameters, "addresses" | "account" | "payment" | "permit" | "holder">[];
  /**
   * `"deposit"` (default: from the prepaid deposit) or `"transfer"` (the batch's total fee, by one permit in the
   * same multicall when the fee token supports one, otherwise one approval of exactly that total, sent after the
   * batch simulated successfully).
   */
  payment?: "deposit" | "transfer" | undefined;
  /** With `"transfer"`: `"auto"` (default), `"permit"` or `"approve"`. */
  approval?: ApprovalMode | undefined;
};
/** What {@link writeSubmitJobs} knows once the batch is sent: the payment, and each job's input and terms. */
export type SubmitJobsSent = Payment & {
  /** The jobs in submission order, as sent. */
  submissions: { inputHash: Hex; inputURI: string | undefined; maxFee: bigint; deadline: bigint }[];
};
/** What {@link submitJobs} reads from the mined batch. */
export type SubmitJobsOutcome = {
  jobs: { jobId: bigint; operators: Address[]; fee: bigint; inputHash: Hex; blobPushes?: BlobPush[] }[];
};
export type SubmitJobsReturnType = WriteReturnType & SubmitJobsSent & SubmitJobsOutcome;
export type WriteSubmitJobsReturnType = SentReturnType & SubmitJobsSent;
export type SubmitJobsErrorType = VeilError;

/**
 * Submits many jobs in ONE transaction (the escrow's `multicall`) and waits for it: every job pays its own fee and
 * gets its own operators, but the 21,000 gas of a transaction is paid once. This is how a requester reaches the
 * k = 1 gas budget (snapshots/gas.md). All or nothing: one failing job reverts the batch with its own named error.
 * {@link writeSubmitJobs} returns at once.
 *
 * @example
 * const { jobs } = await submitJobs(wallet, { addresses, jobs: inputs.map((x) => ({ modelId, inputs: { x } })) })
 */
export function submitJobs(client: VeilClient, params: SubmitJobsParameters): Promise<SubmitJobsReturnType> {
  return andWait(client, buildSubmitJobs(client, params));
}

/**
 * {@link submitJobs} without waiting for the batch to be mined (see {@link writeSubmitJob}: the job ids come from
 * the receipt's JobSubmitted events, in submission order; content-addressed inputs must then be pushed).
 *
 * @example
 * const { hash } = await writeSubmitJobs(wallet, { addresses, jobs })
 */
export function writeSubmitJobs(client: VeilClient, params: SubmitJobsParameters): Promise<WriteSubmitJobsReturnType> {
  return atOnce(buildSubmitJobs(client, params));
}

async function buildSubmitJobs(client: VeilClient, params: SubmitJobsParameters): Promise<PendingWrite<SubmitJobsSent, SubmitJobsOutcome>> {
  const account = resolveAccount(client, params.account, "submitJobs");
  const { addresses } = params;
  const prepared = await Promise.all(params.jobs.map((job) => prepareSubmission(client, { ...job, addresses })));
  const payment = params.payment ?? "deposit";
  const sent = await writeSubmissions(client, account, { addresses, submits: prepared.map((p) => p.submit), payment, approval: params.approval });
  const submissions = prepared.map((p) => ({ inputHash: p.inputHash, inputURI: p.inputURI || undefined, maxFee: p.maxFee, deadline: p.deadline }));
  return {
    hash: sent.hash,
    account,
    options: { addresses },
    known: { approvalHash: sent.approvalHash, paidWith: sent.paidWith, submissions },
    outcome: async (receipt) => {
      const logs = parseEventLogs({ abi: jobEscrowAbi, logs: receipt.logs as Log[] }).filter(
        (l) => l.address.toLowerCase() === addresses.jobEscrow.toLowerCase(),
      );
      const operators = new Map<bigint, Address[]>();
      for (const l of logs) if (l.eventName === "OperatorsAssigned") operators.set(l.args.jobId, [...l.args.operators]);
      const jobs: SubmitJobsOutcome["jobs"] = [];
      for (const l of logs) {
        if (l.eventName !== "JobSubmitted") continue;
        jobs.push({ jobId: l.args.jobId, operators: operators.get(l.args.jobId) ?? [], fee: l.args.fee, inputHash: l.args.inputHash });
      }
      // Content-addressed inputs go to their jobs' operators (the jobs are in submission order, as the multicall ran them).
      await Promise.all(
        jobs.map(async (job, i) => Object.assign(job, await pushInputBlob(client, { ...params.jobs[i]!, addresses }, prepared[i]!.inputURI, job.operators))),
      );
      return { jobs };
    },
  };
}

function toHex(bytes: Uint8Array): Hex {
  let s = "0x";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s as Hex;
}

// ---------------------------------------------------------------------------------------------------------------- getJob

export type GetJobParameters = AddressesParameter & {
  jobId: bigint;
  /**
   * Where to search the job's events when its record was recycled: a block at or before its submission (default
   * `"earliest"`; pass the deployment's `startBlock` on chains whose nodes limit log ranges).
   */
  fromBlock?: bigint | BlockTag | undefined;
};
export type GetJobReturnType = Job;
export type GetJobErrorType = VeilError;

/**
 * Reads a job: from the escrow's storage (`source: "chain"`) or, when the job settled and a later job reuses its
 * record (the contract reverts with JobEscrowJobRecycled), from its events (`source: "events"`: one `eth_getLogs`
 * over the escrow, filtered by the job id topic). Throws JobEscrowUnknownJobError for an id never issued, and
 * JobEscrowJobRecycledError when no JobSubmitted event of a recycled job is found from `fromBlock`.
 *
 * Job ids are `tag << 64 | generation << 32 | record index` (about 2^127: keep them as bigint, never as a number),
 * as JobSubmitted and `submitJob` return them.
 *
 * @example
 * const { jobId } = await submitJob(wallet, { addresses, modelId, inputs })
 * const job = await getJob(client, { addresses, jobId })
 * console.log(job.status, job.operators, job.source)
 */
export async function getJob(client: VeilClient, params: GetJobParameters): Promise<GetJobReturnType> {
  let v;
  try {
    v = await decoded(
      readContract(client, { address: params.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "getJob", args: [params.jobId] }),
    );
  } catch (e) {
    if (!(e instanceof JobEscrowJobRecycledError)) throw e;
    const job = await getJobHistory(client, params);
    if (!job) throw e;
    return job;
  }
  const fields = {
    status: JOB_STATUSES[v.status] ?? "None",
    redundancy: v.redundancy,
    operators: [...v.operators],
    slotHashes: [...v.slotHashes],
    commitMask: v.commitMask,
    revealMask: v.revealMask,
    declinedMask: v.declinedMask,
    missedMask: v.missedMask,
  };
  return {
    jobId: params.jobId,
    source: "chain",
    requester: v.requester,
    modelId: v.modelId,
    status: fields.status,
    payerModule: v.payerModule,
    payer: v.payer,
    payMode: v.payerModule === 0 ? "deposit" : "allowance",
    redundancy: v.redundancy,
    price: v.price,
    deadline: v.deadline,
    phaseEnd: v.phaseEnd,
    operators: fields.operators,
    slotHashes: fields.slotHashes,
    slots: slotStates(fields),
    commitMask: v.commitMask,
    revealMask: v.revealMask,
    declinedMask: v.declinedMask,
    missedMask: v.missedMask,
    result: v.result === zeroHash ? undefined : v.result,
    termsVersion: v.termsVersion,
    royaltyBps: v.royaltyBps,
  };
}

/**
 * Rebuilds a job from the escrow's events (one `eth_getLogs` for every job event whose jobId topic is the id), folded
 * by the job reducer (sdk/src/jobs/reducer.ts, `foldJobEvents`) in block and log order (`source: "events"`);
 * undefined when there is no JobSubmitted event of the job from `fromBlock`. {@link getJob} falls back to it for a
 * recycled job; call it directly when the job is known to be recycled (the worker does) to skip the contract read.
 * A node that does not return `blockTimestamp` with its logs costs one block read for a log that closes a commit
 * window early (a decline): the reducer needs that block's timestamp.
 *
 * @example
 * const job = await getJobHistory(client, { addresses, jobId, fromBlock: deployment.startBlock })
 * if (job?.status === "Finalized") console.log(job.result)
 */
export async function getJobHistory(client: VeilClient, params: GetJobParameters): Promise<Job | undefined> {
  const { jobId } = params;
  const escrow = params.addresses.jobEscrow;
  const from = params.fromBlock ?? "earliest";
  const raw = (await decoded(
    client.request({
      method: "eth_getLogs",
      params: [
        {
          address: escrow,
          fromBlock: typeof from === "bigint" ? numberToHex(from) : from,
          toBlock: "latest",
          topics: [[...JOB_EVENT_TOPICS], numberToHex(jobId, { size: 32 })],
        },
      ],
    }),
  )) as RpcLog[];
  // Ids are never reissued, so every log with this id is the job's.
  let logs = parseJobEvents(raw.map((l) => formatLog(l)), escrow).filter((l) => l.args.jobId === jobId);
  for (const fetched = new Set<Hex>(); ; ) {
    try {
      const state = foldJobEvents(logs);
      if (!state) return undefined;
      const job = jobFromState(state);
      // A payer module's address is not in the events until its refund: the FeeLedger knows it by id.
      if (job.payer === undefined) {
        const ledger = await feeLedgerAddress(client, params.addresses);
        const [module] = await decoded(readContract(client, { address: ledger, abi: feeLedgerAbi, functionName: "payerModule", args: [job.payerModule] }));
        return { ...job, payer: module };
      }
      return job;
    } catch (e) {
      // A log that closes a commit window early needs its block's timestamp, which this node does not return.
      if (!(e instanceof JobEventTimestampRequiredError) || fetched.has(e.log.blockHash)) throw e;
      const { blockHash } = e.log;
      fetched.add(blockHash);
      const { timestamp } = await decoded(getBlock(client, { blockHash }));
      logs = logs.map((l) => (l.blockHash === blockHash ? { ...l, blockTimestamp: timestamp } : l));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------- watchJob

export type WatchJobParameters = AddressesParameter & {
  jobId: bigint;
  /** Called with the job whenever its status, phase or result changes (and once at the start). */
  onChange: (job: Job) => void;
  onError?: ((error: VeilError) => void) | undefined;
  /** Milliseconds between polls (default: the client's pollingInterval). */
  pollingInterval?: number | undefined;
};
export type WatchJobReturnType = () => void;
export type WatchJobErrorType = VeilError;

/**
 * Follows a job by polling `getJob`; returns a function that stops watching. Stops by itself at a terminal status
 * (Finalized, Refunded), also when the job is read from its events because a later job reuses its record.
 *
 * @example
 * const unwatch = watchJob(client, { addresses, jobId, onChange: (job) => console.log(job.status) })
 */
export function watchJob(client: VeilClient, params: WatchJobParameters): WatchJobReturnType {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last = "";
  const interval = params.pollingInterval ?? client.pollingInterval;
  const tick = async () => {
    try {
      const job = await getJob(client, params);
      const key = `${job.status}:${job.phaseEnd}:${job.result}:${slotsKey(job)}`;
      if (stopped) return;
      if (key !== last) {
        last = key;
        params.onChange(job);
      }
      if (job.status === "Finalized" || job.status === "Refunded") stopped = true;
    } catch (e) {
      params.onError?.(e as VeilError);
    }
    if (!stopped) timer = setTimeout(tick, interval);
  };
  void tick();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

/** What a watcher compares between two reads of a job's slots: their states. */
function slotsKey(job: Job): string {
  return job.slots.map((s) => s.state).join(",");
}

// ---------------------------------------------------------------------------------------------------------------- getJobResult

export type JobResult = {
  jobId: bigint;
  /** The on-chain result hash. */
  resultHash: Hex;
  /** The decoded output tensors. */
  outputs: TensorMap;
  /** The canonical result bytes as served by the operator. */
  bytes: Uint8Array;
  /** The operator whose endpoint served the bytes. */
  operator: Address;
  status: JobStatus;
};

export type GetJobResultParameters = AddressesParameter & {
  jobId: bigint;
  /** `fetch` to use (default: globalThis.fetch). */
  fetch?: typeof globalThis.fetch | undefined;
  /**
   * Block to search the job's events from: its submission block or earlier (default `"earliest"`). Used to rebuild
   * a recycled job ({@link getJob}) and, by waitForResult, to find the JobRefunded event of a refunded one.
   */
  fromBlock?: GetJobParameters["fromBlock"];
};
export type GetJobResultReturnType = JobResult;
export type GetJobResultErrorType = VeilError;

/**
 * Fetches a settled job's result from its operators' endpoints (`<endpoint>/results/<resultHash>`), checks the bytes
 * against the on-chain result hash under the model's comparator, and decodes them. Throws JobInvalidInputError when
 * the operators agreed the input does not fit the model, JobNotSettledError when there is no result yet.
 *
 * @example
 * const { outputs } = await getJobResult(client, { addresses, jobId })
 */
export async function getJobResult(client: VeilClient, params: GetJobResultParameters, job?: Job): Promise<GetJobResultReturnType> {
  const j = job ?? (await getJob(client, params));
  if (!j.result || (j.status !== "Proposed" && j.status !== "Finalized")) throw new JobNotSettledError(j.jobId, j.status);
  const resultHash = j.result;
  const model = await getModel(client, { addresses: params.addresses, modelId: j.modelId });
  const doFetch = params.fetch ?? globalThis.fetch;
  // Operators whose posted/revealed hash is the agreed result first.
  const ordered = [
    ...j.operators.filter((_, i) => j.slotHashes[i] === resultHash),
    ...j.operators.filter((_, i) => j.slotHashes[i] !== resultHash),
  ].filter((op, i, all) => all.indexOf(op) === i);
  const attempts: string[] = [];
  for (const op of ordered) {
    let url = "";
    try {
      const node = await readContract(client, { address: params.addresses.nodeStaking, abi: nodeStakingAbi, functionName: "operator", args: [op] });
      if (!node.endpoint) throw new Error("no endpoint");
      url = `${node.endpoint.replace(/\/+$/, "")}/results/${resultHash}`;
      const res = await doFetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const outputs = decodeTensors(bytes);
      const got = model.comparator.kind === "exact" ? sha256Hex(bytes) : hashResult(outputs, model.comparator);
      if (got !== resultHash) throw new Error(`hash mismatch: got ${got}`);
      const invalid = readInvalidInput(outputs);
      if (invalid !== undefined) throw new JobInvalidInputError(j.jobId, invalid);
      return { jobId: j.jobId, resultHash, outputs, bytes, operator: op, status: j.status };
    } catch (e) {
      if (e instanceof JobInvalidInputError) throw e;
      attempts.push(`${op}${url ? ` (${url})` : ""}: ${(e as Error).message}`);
    }
  }
  throw new ResultUnavailableError(j.jobId, resultHash, attempts);
}

// ---------------------------------------------------------------------------------------------------------------- waitForResult

export type WaitForResultParameters = GetJobResultParameters & {
  /**
   * `"proposed"` (default): return as soon as the operators agree (the challenge window may still be open); a dispute
   * throws JobDisputedError. `"finalized"`: wait until the job is paid out (a dispute may still end in a result).
   */
  until?: "proposed" | "finalized" | undefined;
  /** Milliseconds (default: 10 minutes). */
  timeout?: number | undefined;
  /** Milliseconds between polls (default: the client's pollingInterval). */
  pollingInterval?: number | undefined;
  /** Called whenever the job changes. */
  onChange?: ((job: Job) => void) | undefined;
};
export type WaitForResultReturnType = JobResult;
export type WaitForResultErrorType = VeilError;

/**
 * Waits for a job to reach a result, then fetches, verifies and decodes it (see {@link getJobResult}).
 * Throws JobRefundedError (with the refund reason), JobDisputedError (when waiting `until: "proposed"`),
 * JobInvalidInputError, or JobTimeoutError. A job that settled and whose record a later job took (even between
 * two polls) is read from its events ({@link getJob}): it still resolves as Finalized, or throws JobRefundedError.
 *
 * @example
 * const { jobId } = await submitJob(wallet, { addresses, modelId, inputs })
 * const { outputs } = await waitForResult(wallet, { addresses, jobId, timeout: 120_000 })
 */
export async function waitForResult(client: VeilClient, params: WaitForResultParameters): Promise<WaitForResultReturnType> {
  const job = await waitForJobOutcome(client, params);
  return getJobResult(client, params, job);
}

/**
 * Polls a job until it has a result (Proposed, or Finalized with `until: "finalized"`) and returns it; throws
 * JobRefundedError (with the reason from the JobRefunded event), JobDisputedError (until "proposed") or
 * JobTimeoutError. `onPoll` runs after every read that did not settle (e.g. to re-key replacement operators).
 * Shared by waitForResult and the private flow's waitForPrivateResult.
 */
export type WaitForJobOutcomeParameters = AddressesParameter &
  Pick<WaitForResultParameters, "jobId" | "until" | "timeout" | "pollingInterval" | "onChange" | "fromBlock">;

export async function waitForJobOutcome(
  client: VeilClient,
  params: WaitForJobOutcomeParameters,
  onPoll?: (job: Job) => Promise<void>,
): Promise<Job> {
  const until = params.until ?? "proposed";
  const timeout = params.timeout ?? 600_000;
  const interval = params.pollingInterval ?? client.pollingInterval;
  const started = Date.now();
  let last = "";
  for (;;) {
    const job = await getJob(client, params);
    const key = `${job.status}:${job.phaseEnd}:${slotsKey(job)}`;
    if (key !== last) {
      last = key;
      params.onChange?.(job);
    }
    if (job.status === "Refunded") {
      const logs = await decoded(
        getContractEvents(client, {
          address: params.addresses.jobEscrow,
          abi: jobEscrowAbi,
          eventName: "JobRefunded",
          args: { jobId: job.jobId },
          fromBlock: params.fromBlock ?? "earliest",
          strict: true,
        }),
      );
      const ev = logs.at(-1);
      throw new JobRefundedError(job.jobId, ev ? refundReasonName(ev.args.reason) : "unknown", ev?.args.amount);
    }
    if (job.status === "Disputed" && until === "proposed") throw new JobDisputedError(job.jobId, job.phaseEnd);
    if (job.status === "Finalized" || (job.status === "Proposed" && until === "proposed")) return job;
    await onPoll?.(job);
    const elapsed = Date.now() - started;
    if (elapsed >= timeout) throw new JobTimeoutError(job.jobId, timeout, job.status);
    await new Promise((r) => setTimeout(r, Math.min(interval, timeout - elapsed)));
  }
}

// ---------------------------------------------------------------------------------------------------------------- pokeJob / finalizeJob

export type PokeJobParameters = WriteParameters & { jobId: bigint };
export type PokeJobReturnType = WriteReturnType & { status: JobStatus };
export type WritePokeJobReturnType = SentReturnType;
export type PokeJobErrorType = VeilError;

/**
 * Moves a stale job on (anyone may call): slashes and replaces operators that missed a step, refunds when the
 * deadline no longer allows a retry, finalizes past the challenge window, refunds an expired dispute. Waits for the
 * transaction and returns the job's new status; {@link writePokeJob} returns at once.
 *
 * @example
 * const { status } = await pokeJob(wallet, { addresses, jobId })
 */
export function pokeJob(client: VeilClient, params: PokeJobParameters): Promise<PokeJobReturnType> {
  return andWait(client, buildPokeJob(client, params));
}

/** {@link pokeJob}, returning at once with the hash. */
export function writePokeJob(client: VeilClient, params: PokeJobParameters): Promise<WritePokeJobReturnType> {
  return atOnce(buildPokeJob(client, params));
}

async function buildPokeJob(client: VeilClient, params: PokeJobParameters): Promise<PendingWrite<{}, { status: JobStatus }>> {
  const account = resolveAccount(client, params.account, "pokeJob");
  // A poke may draw replacement operators for missed slots: the gas limit covers the draw's worst case, whatever
  // block it lands in (as for submissions), not just the node's estimate.
  const before = await getJob(client, params);
  let extraGas = 0n;
  if (before.status === "Assigned" || before.status === "Revealing") {
    const [modelIndex] = await decoded(
      readContract(client, { address: params.addresses.modelRegistry, abi: modelRegistryAbi, functionName: "jobTerms", args: [before.modelId] }),
    );
    extraGas = await drawGasBound(client, params.addresses, { modelIndex, k: before.redundancy, exclude: before.redundancy }).catch(() => 0n);
  }
  const call = { address: params.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "poke", args: [params.jobId] } as const;
  return pendingCall(client, account, call, { addresses: params.addresses, extraGas }, async () => ({ status: (await getJob(client, params)).status }));
}

export type FinalizeJobParameters = WriteParameters & { jobId: bigint };
export type FinalizeJobReturnType = WriteReturnType;
export type WriteFinalizeJobReturnType = SentReturnType;
export type FinalizeJobErrorType = VeilError;

/**
 * Pays out a job whose challenge window has passed (anyone may call), and waits for it; {@link writeFinalizeJob}
 * returns at once.
 *
 * @example
 * await finalizeJob(wallet, { addresses, jobId })
 */
export function finalizeJob(client: VeilClient, params: FinalizeJobParameters): Promise<FinalizeJobReturnType> {
  return andWait(client, buildFinalizeJob(client, params));
}

/** {@link finalizeJob}, returning at once with the hash. */
export function writeFinalizeJob(client: VeilClient, params: FinalizeJobParameters): Promise<WriteFinalizeJobReturnType> {
  return atOnce(buildFinalizeJob(client, params));
}

async function buildFinalizeJob(client: VeilClient, params: FinalizeJobParameters) {
  const account = resolveAccount(client, params.account, "finalizeJob");
  return pendingCall(client, account, { address: params.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "finalize", args: [params.jobId] }, { addresses: params.addresses });
}

// ---------------------------------------------------------------------------------------------------------------- submitResult (operators)

export type SubmitResultParameters = WriteParameters & { jobId: bigint; resultHash: Hex };
export type SubmitResultReturnType = WriteReturnType;
export type WriteSubmitResultReturnType = SentReturnType;
export type SubmitResultErrorType = VeilError;

/**
 * k = 1: the assigned operator posts the result hash directly, and waits for it (the worker does this; exposed for
 * tools and tests). {@link writeSubmitResult} returns at once.
 *
 * @example
 * await submitResult(operatorWallet, { addresses, jobId, resultHash: resultHash(outputs, { kind: "exact" }) })
 */
export function submitResult(client: VeilClient, params: SubmitResultParameters): Promise<SubmitResultReturnType> {
  return andWait(client, buildSubmitResult(client, params));
}

/** {@link submitResult}, returning at once with the hash. */
export function writeSubmitResult(client: VeilClient, params: SubmitResultParameters): Promise<WriteSubmitResultReturnType> {
  return atOnce(buildSubmitResult(client, params));
}

async function buildSubmitResult(client: VeilClient, params: SubmitResultParameters) {
  const account = resolveAccount(client, params.account, "submitResult");
  const call = { address: params.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "submitResult", args: [params.jobId, toBytes32(params.resultHash)] } as const;
  return pendingCall(client, account, call, { addresses: params.addresses });
}

// ---------------------------------------------------------------------------------------------------------------- commit-reveal (operators)

export type ResultCommitmentParameters = {
  /** The JobEscrow the commitment is for. */
  escrow: Address;
  chainId: number | bigint;
  jobId: bigint;
  /** The committing operator (the escrow recomputes it with msg.sender at reveal). */
  operator: Address;
  resultHash: Hex;
  /** 32 random bytes, kept secret until the reveal. */
  salt: Hex;
};

/**
 * The commitment a k > 1 operator posts with `commit`:
 * `keccak256(abi.encode(escrow, chainId, jobId, operator, resultHash, salt))`. Binding escrow, chain, job and
 * operator means nobody can copy another operator's commitment, or replay one from another job or chain.
 *
 * @example
 * const commitment = resultCommitment({ escrow, chainId: 31337, jobId, operator, resultHash, salt })
 */
export function resultCommitment(p: ResultCommitmentParameters): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "address" }, { type: "uint256" }, { type: "uint256" }, { type: "address" }, { type: "bytes32" }, { type: "bytes32" }],
      [p.escrow, BigInt(p.chainId), p.jobId, p.operator, toBytes32(p.resultHash), toBytes32(p.salt)],
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------------- declineJob (operators)

export type DeclineJobParameters = WriteParameters & { jobId: bigint; slot: number };
export type DeclineJobReturnType = WriteReturnType;
export type WriteDeclineJobReturnType = SentReturnType;
export type DeclineJobErrorType = VeilError;

/**
 * An assigned operator gives up its slot without penalty before taking it up, when it cannot obtain or open the
 * job's input: an input by reference whose blob is unavailable, or a private job whose wrapped key is missing or
 * does not open (the worker does this; see docs/privacy.md). Only such jobs can be declined
 * (`JobEscrowNotDeclinable` otherwise); the slot is replaced, or the requester refunded, by `pokeJob`. Waits for the
 * transaction; {@link writeDeclineJob} returns at once.
 *
 * @example
 * await declineJob(operatorWallet, { addresses, jobId, slot: 0 })
 */
export function declineJob(client: VeilClient, params: DeclineJobParameters): Promise<DeclineJobReturnType> {
  return andWait(client, buildDeclineJob(client, params));
}

/** {@link declineJob}, returning at once with the hash. */
export function writeDeclineJob(client: VeilClient, params: DeclineJobParameters): Promise<WriteDeclineJobReturnType> {
  return atOnce(buildDeclineJob(client, params));
}

async function buildDeclineJob(client: VeilClient, params: DeclineJobParameters) {
  const account = resolveAccount(client, params.account, "declineJob");
  return pendingCall(client, account, { address: params.addresses.jobEscrow, abi: jobEscrowAbi, functionName: "decline", args: [params.jobId, params.slot] }, { addresses: params.addresses });
}
