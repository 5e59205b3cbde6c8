/**
 * The processor task: a job's input (inline, from this worker's blob store, from the job's other operators, or
 * fetched by URI) and its inference with ONNX Runtime. Its steps run in the scheduler's fetch and infer lanes
 * (scheduler.ts), `maxConcurrency` inferences at once; a finished inference hands the job straight on to its post,
 * with no wait for the next poll. Stopping it waits for the steps in flight.
 */
import { sha256Hex, type TensorMap } from "@veil/sdk";
import type { Hex } from "viem";
import { parseContentUri } from "../blobs.js";
import { computeResult, privateEnvelope } from "../inference/compute.js";
import { failpoint } from "../internal/failpoints.js";
import type { PrivateInput } from "../private.js";
import type { JobRecord } from "../store.js";
import { errorMessage, type ChainJob, type WorkerContext } from "./context.js";
import type { Poster } from "./poster.js";
import { LaneTask } from "./task.js";

/** Input fetch and inference; its steps run in the scheduler's infer and fetch lanes. */
export class Processor extends LaneTask {
  readonly name = "processor";
  constructor(
    private readonly ctx: WorkerContext,
    /** Declines a slot whose input or key never arrives. */
    private readonly poster: Poster,
  ) {
    super(ctx);
  }

  /**
   * The job's input: inline (stored at assignment), or by reference. A `sha256:<hex>` reference comes from this
   * worker's blob store (the requester pushed it) or from the job's other operators (blobs.ts); any other URI is
   * fetched. Bytes that do not hash to the on-chain inputHash give the deterministic invalid-input result; bytes
   * that never arrive are retried (backing off) and the slot is declined, without penalty, near its deadline.
   */
  async fetchInput(job: JobRecord, chain: ChainJob) {
    const { store } = this.ctx;
    let blob = job.meta.inputBlob as Hex | undefined;
    if (!blob && job.inputUri) {
      const content = parseContentUri(job.inputUri);
      if (content && content !== job.inputHash?.toLowerCase()) {
        // The reference names other bytes than the chain's hash: no bytes can satisfy both.
        store.transition(job, "assigned", "input_ready", { meta: { inputMismatch: true } });
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = await this.ctx.inputs.fetch(job.inputUri, chain.operators);
      } catch (err) {
        // Retried (with backoff); a blob still unavailable near the end of the commit window is declined, not missed.
        if (await this.poster.declineIfDue(job, chain, `input unavailable: ${errorMessage(err)}`, false)) return;
        throw err;
      }
      if (sha256Hex(bytes) !== job.inputHash) {
        // The requester's reference does not match its on-chain hash: deterministic invalid-input result.
        store.transition(job, "assigned", "input_ready", { meta: { inputMismatch: true } });
        return;
      }
      blob = store.putBlob(bytes);
      store.claimBlob(blob);
    }
    store.transition(job, "assigned", "input_ready", { inputBlob: blob });
  }

  async infer(job: JobRecord, chain: ChainJob) {
    const { ctx } = this;
    const { store, engine } = ctx.o;
    const model = ctx.models.get(job.modelId!);
    if (!model) {
      store.transition(job, job.state, "failed", { failReason: `model ${job.modelId} is not served by this worker` });
      return;
    }
    const input = job.inputBlob ? store.getBlob(job.inputBlob) : undefined;
    const envelope = privateEnvelope(input, !!job.meta.inputMismatch);
    let privateInput: PrivateInput | undefined;
    if (envelope) {
      // Private job: no key yet, or none that opens it -> no result at all (never commit a guess; docs/privacy.md).
      // A key that was published but does not open (corrupt, replayed, wrong recipient) is declined at once; a key
      // that never arrives is declined near the end of the commit window. Either way no penalty (JobEscrow.decline).
      privateInput = await ctx.o.privacy?.openInput(job.jobId, envelope, job.inputHash);
      if (!privateInput) {
        const failure = ctx.o.privacy?.failures.get(job.jobId);
        const reason = failure ? `${failure.reason}: ${failure.message}` : "no encryption key configured for private jobs";
        await this.poster.declineIfDue(job, chain, reason, failure?.reason !== "waiting");
        return;
      }
    }
    const { servedBytes, resultHash } = await computeResult({
      engine,
      model,
      input,
      inputMismatch: !!job.meta.inputMismatch,
      privateInput,
      onRun: (seconds) => ctx.metrics?.inferenceSeconds.observe({ model: model.modelId.slice(0, 10) }, seconds),
      tamper: ctx.o.tamperOutputs ? tamper : undefined,
    });
    const resultBlob = store.putBlob(servedBytes);
    failpoint("infer:stored");
    store.transition(job, "input_ready", "inferred", { resultBlob, resultHash });
    ctx.resultBlobs.set(resultHash.toLowerCase(), resultBlob);
    ctx.log.debug("inferred", { jobId: job.jobId, slot: job.slot, resultHash });
  }
}

/** A dishonest operator's output: every float nudged, so the hash differs under any comparator. */
function tamper(outputs: TensorMap): TensorMap {
  const out: TensorMap = {};
  for (const [name, t] of Object.entries(outputs)) {
    if (t.type === "float32" || t.type === "float64") {
      const data = t.data.slice() as Float32Array;
      for (let i = 0; i < data.length; i++) data[i] = data[i]! + 0.5;
      out[name] = { ...t, data } as typeof t;
    } else out[name] = t;
  }
  return out;
}
