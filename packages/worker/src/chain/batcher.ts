/**
 * Batches an operator's escrow posts (k = 1 results, commits, reveals) into one `JobEscrow.multicall`
 * transaction: the 21,000 intrinsic gas is paid once per batch instead of once per job (snapshots/gas.md: a result
 * costs ~37.5k inside a multicall of 10 against 56.3k alone).
 *
 * Posts that arrive within `windowMs` of each other (the jobs one tick advances) go out together, at most
 * `maxBatch` per transaction. Nothing here weakens crash safety: every caller moves its job to a `*_pending` state
 * (with its salt/commitment persisted) before posting, and re-checks the chain before posting again, so a batch
 * lost in a crash is re-posted and a batch that was mined is only marked. The multicall is all or nothing, so a
 * batch whose simulation reverts (one post's window closed, or the job moved on) is retried post by post: the
 * others still land and the bad one fails on its own with its own error.
 */
import { encodeFunctionData, type Abi, type Address, type TransactionReceipt } from "viem";
import { jobEscrowAbi } from "@veil/contracts";
import { TxRevertedError, type SendRequest, type TxSender } from "./sender.js";

export interface PostBatcherOptions {
  /** The JobEscrow every batched post goes to. */
  escrow: Address;
  /** Posts per multicall (1 disables batching). */
  maxBatch: number;
  /** How long the first post of a batch waits for others. */
  windowMs: number;
  /** Called with each multicall's size (metrics). */
  onBatch?: (size: number) => void;
}

interface Pending {
  req: SendRequest;
  resolve: (r: TransactionReceipt) => void;
  reject: (e: unknown) => void;
}

export class PostBatcher {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sender: TxSender,
    private readonly o: PostBatcherOptions,
  ) {
    if (!Number.isInteger(o.maxBatch) || o.maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${o.maxBatch}`);
  }

  /** Posts `req` (a call on the escrow), alone or in a batch; resolves with the receipt of the transaction that carried it. */
  send(req: SendRequest): Promise<TransactionReceipt> {
    if (this.o.maxBatch === 1 || req.address.toLowerCase() !== this.o.escrow.toLowerCase()) return this.sender.send(req);
    return new Promise((resolve, reject) => {
      this.pending.push({ req, resolve, reject });
      if (this.pending.length >= this.o.maxBatch) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.o.windowMs);
    });
  }

  /** Sends whatever is queued now. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0, this.o.maxBatch);
    if (this.pending.length > 0) this.timer = setTimeout(() => void this.flush(), 0);
    if (batch.length === 0) return;
    if (batch.length === 1) return this.one(batch[0]!);
    const kinds = new Set(batch.map((p) => p.req.kind));
    const data = batch.map(({ req }) => encodeFunctionData({ abi: req.abi as Abi, functionName: req.functionName, args: req.args } as never));
    try {
      const receipt = await this.sender.send({
        kind: kinds.size === 1 ? batch[0]!.req.kind : "other",
        job: batch[0]!.req.job,
        address: this.o.escrow,
        abi: jobEscrowAbi,
        functionName: "multicall",
        args: [data],
      });
      this.o.onBatch?.(batch.length);
      for (const p of batch) p.resolve(receipt);
    } catch (err) {
      if (!(err instanceof TxRevertedError)) {
        for (const p of batch) p.reject(err);
        return;
      }
      // One entry would revert and takes the batch with it: post each on its own.
      await Promise.all(batch.map((p) => this.one(p)));
    }
  }

  private async one(p: Pending): Promise<void> {
    try {
      p.resolve(await this.sender.send(p.req));
    } catch (err) {
      p.reject(err);
    }
  }
}
