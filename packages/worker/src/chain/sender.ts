/**
 * One transaction queue per signer: simulate, sign locally, persist the intent (with the raw signed bytes) before
 * broadcasting, then wait for the receipt, bumping fees by at least `bumpPercent` when a transaction is stuck.
 * Reverts are never retried; transport errors are retried with backoff. After a crash, `reconcile()` settles every
 * persisted intent against the chain (receipt found -> confirmed/reverted; raw bytes -> re-broadcast, same hash).
 */
import {
  BaseError,
  ContractFunctionRevertedError,
  encodeFunctionData,
  keccak256,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  type WalletClient,
  type Transport,
} from "viem";
import type { Logger } from "../internal/log.js";
import type { WorkerMetrics } from "../internal/metrics.js";
import { classifyRpcError, sleep } from "../internal/retry.js";
import { failpoint } from "../internal/failpoints.js";
import type { JobKey, TxKind, TxRecord, WorkerStore } from "../store.js";

export class TxRevertedError extends Error {
  override name = "TxRevertedError";
  constructor(
    readonly kind: TxKind,
    readonly reason: string,
    readonly errorName?: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind} transaction would revert: ${reason}`, options);
  }
}

export interface SendRequest {
  kind: TxKind;
  job?: JobKey;
  address: Address;
  abi: Abi;
  functionName: string;
  args: readonly unknown[];
}

export interface TxSenderOptions {
  publicClient: PublicClient<Transport, Chain | undefined>;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  store: WorkerStore;
  chainId: number;
  logger: Logger;
  metrics?: WorkerMetrics;
  /** Minimum fee bump for a replacement, in percent (nodes require >= 10, Chainlink uses 20). */
  bumpPercent?: number;
  /** How long to wait for a receipt before bumping. */
  txTimeoutMs?: number;
  maxBumps?: number;
  /**
   * Blocks (its own included) a receipt must have under it before a send resolves and its intent is marked
   * confirmed: the worker's `--confirmations`, so that its own posts are trusted no sooner than others' events.
   * Default 1 (included).
   */
  confirmations?: number;
  signal?: AbortSignal;
}

export class TxSender {
  private queue: Promise<unknown> = Promise.resolve();
  private nextNonce: number | undefined;
  /** The gap-filling pass in progress (`fillGaps`). */
  private filling: Promise<number> | undefined;
  private readonly o: Required<Omit<TxSenderOptions, "metrics" | "signal">> & Pick<TxSenderOptions, "metrics" | "signal">;

  constructor(options: TxSenderOptions) {
    this.o = { bumpPercent: 20, txTimeoutMs: 30_000, maxBumps: 5, confirmations: 1, ...options };
    if (!Number.isInteger(this.o.confirmations) || this.o.confirmations < 1) {
      throw new RangeError(`confirmations must be an integer >= 1 (1 = included), got ${this.o.confirmations}`);
    }
    if (this.o.bumpPercent < 10) throw new Error(`gas bump must be at least 10%, got ${this.o.bumpPercent}`);
  }

  get address(): Address {
    return this.o.walletClient.account.address;
  }

  /** Simulates `req`; throws TxRevertedError (never retried) if it would revert. */
  async simulate(req: SendRequest): Promise<void> {
    try {
      await this.o.publicClient.simulateContract({
        account: this.o.walletClient.account,
        address: req.address,
        abi: req.abi,
        functionName: req.functionName,
        args: req.args,
      } as never);
    } catch (err) {
      if (isRevert(err)) {
        const { reason, errorName } = revertReason(err);
        throw new TxRevertedError(req.kind, reason, errorName, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Queues `req` behind this signer's other transactions; resolves with the mined receipt. Transactions are
   * simulated, given their nonce, signed, recorded and broadcast one at a time, in nonce order; the wait for each
   * receipt (and any fee bump) runs alongside the next ones, so that one block carries many of this signer's
   * transactions instead of one (waiting for each receipt in turn capped a worker at one transaction per block).
   */
  send(req: SendRequest): Promise<TransactionReceipt> {
    let broadcast!: () => void;
    const sent = new Promise<void>((resolve) => (broadcast = resolve));
    const run = this.queue.then(() => this.sendNow(req, broadcast));
    this.queue = Promise.race([sent, run.then(() => undefined, () => undefined)]);
    return run;
  }

  private async sendNow(req: SendRequest, broadcast: () => void = () => {}): Promise<TransactionReceipt> {
    const { publicClient, walletClient, store, chainId, logger } = this.o;
    await this.simulate(req);
    const data = encodeFunctionData({ abi: req.abi, functionName: req.functionName, args: req.args } as never);
    const account = walletClient.account;
    const nonce = await this.takeNonce();
    let fees = await this.fees();
    const gas = await publicClient.estimateGas({ account, to: req.address, data }).catch((err) => {
      this.releaseNonce(nonce);
      if (isRevert(err)) throw new TxRevertedError(req.kind, revertReason(err).reason, revertReason(err).errorName, { cause: err });
      throw err;
    });
    const gasLimit = (gas * 12n) / 10n + 10_000n;

    for (let attempt = 1; ; attempt++) {
      const request = await walletClient.prepareTransactionRequest({
        account,
        to: req.address,
        data,
        nonce,
        gas: gasLimit,
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
        chain: walletClient.chain ?? null,
      } as never);
      const raw = await walletClient.signTransaction(request as never);
      const txHash = keccak256(raw);
      const earlier = store.txByHash(chainId, txHash);
      if (earlier) {
        // The very same signed bytes were sent before (a reorg dropped the block that held them, and the nonce read
        // again from the chain is theirs): broadcast them again. Their intent is already durable; they can land once.
        await publicClient.sendRawTransaction({ serializedTransaction: raw }).catch((e) => {
          if (!isKnownTx(e)) throw e;
        });
        broadcast();
        const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash, timeout: this.o.txTimeoutMs, confirmations: this.o.confirmations });
        if (receipt.status !== "success") throw new TxRevertedError(req.kind, "reverted on chain");
        logger.info("re-broadcast a transaction a reorg had removed", { kind: req.kind, txHash, nonce });
        return receipt;
      }
      // Persist before broadcasting: a crash from here on is reconciled from the stored raw bytes.
      const intent = store.recordTxIntent({
        chainId,
        kind: req.kind,
        job: req.job,
        from: account.address as Hex,
        nonce,
        to: req.address as Hex,
        calldataHash: keccak256(data),
        gasLimit,
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
        txHash,
        rawTx: raw,
      });
      try {
        // A broadcast that timed out but arrived comes back "already known" when the transport retries it: sent.
        await publicClient.sendRawTransaction({ serializedTransaction: raw }).catch((e) => {
          if (!isKnownTx(e)) throw e;
        });
        failpoint(`tx:broadcast:${req.kind}`);
        store.markTxSent(intent.id, txHash);
        broadcast(); // the next transaction may take the next nonce now
      } catch (err) {
        const kind = classifyRpcError(err).kind;
        store.markTxFailed(intent.id, String((err as Error).message ?? err).slice(0, 500));
        this.o.metrics?.txTotal.inc({ kind: req.kind, outcome: "failed" });
        if (kind === "nonce") this.nextNonce = undefined; // resync from the chain next time
        else this.releaseNonce(nonce);
        throw err;
      }
      const wait = () => publicClient.waitForTransactionReceipt({ hash: txHash, timeout: this.o.txTimeoutMs, confirmations: this.o.confirmations });
      let receipt: TransactionReceipt | undefined;
      try {
        receipt = await wait();
      } catch (err) {
        // Not mined in time. If the chain lost one of our lower nonces (a reorg dropped the block that held it; nodes
        // do not put such transactions back in their pools), this one waits in the node's queue behind the hole and
        // a fee bump cannot help: re-broadcasting the stored bytes of the missing nonces does.
        if ((await this.fillGaps().catch(() => 0)) > 0) receipt = await wait().catch(() => undefined);
        // Mined but not yet `confirmations` deep (blocks are slow, or the chain mines on demand): a replacement
        // would only be refused (nonce too low); keep waiting for depth instead.
        while (!receipt && (await publicClient.getTransactionReceipt({ hash: txHash }).catch(() => undefined))) {
          receipt = await wait().catch(() => undefined);
        }
        if (!receipt) {
          if (attempt > this.o.maxBumps) throw err;
          // Stuck: replace with the same nonce and fees raised by at least bumpPercent.
          const bump = (v: bigint) => (v * BigInt(100 + this.o.bumpPercent) + 99n) / 100n;
          const latest = await this.fees();
          fees = {
            maxFeePerGas: max(bump(fees.maxFeePerGas), latest.maxFeePerGas),
            maxPriorityFeePerGas: max(bump(fees.maxPriorityFeePerGas), latest.maxPriorityFeePerGas),
          };
          store.markTxReplaced(intent.id);
          logger.warn("transaction not mined in time, bumping fees", { kind: req.kind, txHash, nonce, attempt });
          continue;
        }
      }
      if (receipt.status === "success") {
        store.markTxConfirmed(intent.id, receipt.blockNumber);
        this.o.metrics?.txTotal.inc({ kind: req.kind, outcome: "confirmed" });
        return receipt;
      }
      store.markTxReverted(intent.id, receipt.blockNumber, "reverted on chain");
      this.o.metrics?.txTotal.inc({ kind: req.kind, outcome: "reverted" });
      throw new TxRevertedError(req.kind, "reverted on chain");
    }
  }

  /**
   * Fills the holes in this signer's nonce sequence: every nonce from the chain's next one (`latest`) up to the
   * highest one we used whose transactions the node no longer knows (a reorg dropped the block that held them, and
   * nodes do not put such transactions back in their pools) gets a 0-value transfer to ourselves, so that the
   * transactions queued behind it can be mined. The lost transaction itself is not re-broadcast: a post that a
   * reorg removed is sent again by its job, after re-checking the job on the new chain (re-sending old bytes could
   * land an old answer on another submission that took the same job id). The listener calls this on a reorg; `send`
   * calls it when a receipt does not come. One pass at a time (callers share it). Returns how many holes it filled.
   */
  fillGaps(): Promise<number> {
    this.filling ??= this.fillGapsNow().finally(() => (this.filling = undefined));
    return this.filling;
  }

  private async fillGapsNow(): Promise<number> {
    const { publicClient, walletClient, store, chainId, logger } = this.o;
    const account = walletClient.account;
    const next = await publicClient.getTransactionCount({ address: this.address, blockTag: "latest" });
    const byNonce = new Map<number, TxRecord[]>();
    for (const tx of store.txsFromNonce(chainId, this.address as Hex, next)) byNonce.set(tx.nonce, [...(byNonce.get(tx.nonce) ?? []), tx]);
    let filled = 0;
    for (const [nonce, attempts] of [...byNonce].sort((a, b) => a[0] - b[0])) {
      if (attempts.some((t) => t.status === "pending")) continue; // being broadcast right now by `send`
      // Known = in the node's pool (no block). A node may still return a transaction of a dropped block by hash,
      // with that block's number: at or above the chain's count, our nonce is not in any canonical block.
      const known = await Promise.all(
        attempts
          .filter((t) => t.txHash && t.status !== "failed")
          .map((t) => publicClient.getTransaction({ hash: t.txHash! }).then((tx) => tx.blockNumber === null, () => false)),
      );
      if (known.includes(true) || known.length === 0) continue; // still in the pool (or never sent: its nonce was released)
      const latest = await this.fees();
      const bump = (v: bigint) => (v * BigInt(100 + this.o.bumpPercent) + 99n) / 100n;
      const fees = {
        maxFeePerGas: attempts.reduce((m, t) => max(m, bump(t.maxFeePerGas)), latest.maxFeePerGas),
        maxPriorityFeePerGas: attempts.reduce((m, t) => max(m, bump(t.maxPriorityFeePerGas ?? 0n)), latest.maxPriorityFeePerGas),
      };
      const request = await walletClient.prepareTransactionRequest({
        account, to: account.address, value: 0n, nonce, gas: 21_000n, ...fees, chain: walletClient.chain ?? null,
      } as never);
      const raw = await walletClient.signTransaction(request as never);
      const txHash = keccak256(raw);
      const intent = store.recordTxIntent({
        chainId, kind: "other", from: account.address as Hex, nonce, to: account.address as Hex, calldataHash: keccak256("0x"),
        gasLimit: 21_000n, maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas, txHash, rawTx: raw,
      });
      try {
        await publicClient.sendRawTransaction({ serializedTransaction: raw });
      } catch (err) {
        if (!isKnownTx(err)) {
          store.markTxFailed(intent.id, String((err as Error)?.message ?? err).slice(0, 500));
          logger.warn("could not fill a nonce gap", { nonce, error: String((err as Error)?.message ?? err).slice(0, 200) });
          continue;
        }
      }
      store.markTxSent(intent.id, txHash);
      for (const t of attempts) if (t.status === "pending" || t.status === "sent") store.markTxReplaced(t.id);
      void publicClient.waitForTransactionReceipt({ hash: txHash, timeout: this.o.txTimeoutMs }).then(
        (r) => store.markTxConfirmed(intent.id, r.blockNumber),
        () => undefined, // settled by the next reconcile
      );
      logger.warn("filled a nonce gap left by a lost transaction (a 0-value transfer to self)", { nonce, lost: attempts.map((t) => t.kind), txHash });
      filled++;
    }
    return filled;
  }

  /**
   * Settles intents left by a crash: a mined one is marked confirmed or reverted; one never seen is re-broadcast
   * from its raw bytes (same hash, so it can never land twice). Returns how many were settled.
   */
  async reconcile(): Promise<number> {
    const { publicClient, store, chainId, logger } = this.o;
    let settled = 0;
    // Re-broadcast first, in nonce order, then wait for every nonce's receipts side by side: a restart waits at most
    // one txTimeoutMs, not one per transaction left in flight (the pipelined sender can leave several).
    const pending = new Map<number, TxRecord[]>();
    for (const tx of store.unfinishedTxs({ chainId, from: this.address as Hex })) {
      if (!tx.txHash) {
        store.markTxFailed(tx.id, "no hash recorded before the crash");
        continue;
      }
      const receipt = await publicClient.getTransactionReceipt({ hash: tx.txHash }).catch(() => undefined);
      if (receipt && this.o.confirmations > 1) {
        // Mined, but trusted only at depth: wait for it below with the others (a reorg may still drop it).
        const head = await publicClient.getBlockNumber({ cacheTime: 0 });
        if (head - receipt.blockNumber + 1n < BigInt(this.o.confirmations)) {
          pending.set(tx.nonce, [...(pending.get(tx.nonce) ?? []), tx]);
          continue;
        }
      }
      if (receipt) {
        if (receipt.status === "success") store.markTxConfirmed(tx.id, receipt.blockNumber);
        else store.markTxReverted(tx.id, receipt.blockNumber, "reverted on chain");
        settled++;
        continue;
      }
      const onChainNonce = await publicClient.getTransactionCount({ address: this.address, blockTag: "latest" });
      if (onChainNonce > tx.nonce) {
        store.markTxReplaced(tx.id); // another transaction consumed the nonce
        settled++;
        continue;
      }
      if (!tx.rawTx) {
        store.markTxFailed(tx.id, "crashed before broadcast");
        continue;
      }
      await publicClient.sendRawTransaction({ serializedTransaction: tx.rawTx }).catch((e) => {
        if (!isKnownTx(e)) logger.warn("re-broadcast failed", { txHash: tx.txHash, error: String(e) });
      });
      pending.set(tx.nonce, [...(pending.get(tx.nonce) ?? []), tx]);
    }
    await Promise.all(
      [...pending.values()].map(async (attempts) => {
        // One attempt per nonce can be mined: the first receipt settles the others as replaced.
        const mined = await Promise.any(
          attempts.map((tx) => publicClient.waitForTransactionReceipt({ hash: tx.txHash!, timeout: this.o.txTimeoutMs, confirmations: this.o.confirmations }).then((r) => ({ tx, r }))),
        ).catch(() => undefined);
        for (const tx of attempts) {
          if (mined?.tx.id === tx.id) {
            if (mined.r.status === "success") store.markTxConfirmed(tx.id, mined.r.blockNumber);
            else store.markTxReverted(tx.id, mined.r.blockNumber, "reverted on chain");
            settled++;
          } else if (mined) store.markTxReplaced(tx.id);
          else store.markTxFailed(tx.id, "not mined after re-broadcast");
        }
      }),
    );
    this.nextNonce = undefined;
    return settled;
  }

  /** Forget the cached nonce: the next send reads it from the chain (after a reorg dropped or reordered ours). */
  resync(): void {
    this.nextNonce = undefined;
  }

  private async takeNonce(): Promise<number> {
    if (this.nextNonce === undefined) {
      this.nextNonce = await this.o.publicClient.getTransactionCount({ address: this.address, blockTag: "pending" });
    }
    return this.nextNonce++;
  }

  private releaseNonce(nonce: number) {
    if (this.nextNonce === nonce + 1) this.nextNonce = nonce;
    else this.nextNonce = undefined;
  }

  private async fees(): Promise<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }> {
    const f = await this.o.publicClient.estimateFeesPerGas();
    return { maxFeePerGas: f.maxFeePerGas!, maxPriorityFeePerGas: f.maxPriorityFeePerGas! };
  }
}

function max(a: bigint, b: bigint) {
  return a > b ? a : b;
}

export function isRevert(err: unknown): boolean {
  if (err instanceof TxRevertedError) return true;
  if (err instanceof BaseError) {
    if (err.walk((e) => e instanceof ContractFunctionRevertedError)) return true;
  }
  return classifyRpcError(err).kind === "revert";
}

function isKnownTx(err: unknown): boolean {
  return /already known|known transaction|already imported/i.test(String((err as Error)?.message ?? err));
}

export function revertReason(err: unknown): { reason: string; errorName?: string } {
  if (err instanceof BaseError) {
    const revert = err.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
    if (revert?.data?.errorName) {
      const args = (revert.data.args ?? []).map((a) => String(a)).join(", ");
      return { reason: `${revert.data.errorName}(${args})`, errorName: revert.data.errorName };
    }
    return { reason: err.shortMessage };
  }
  return { reason: String((err as Error)?.message ?? err) };
}

export { sleep };
