/**
 * Wiring for one worker: viem clients on a transport (HTTP RPCs with failover, or an in-process EIP-1193
 * provider), the SQLite store, the ONNX Runtime engine, logs and metrics. `runWorker` (main.ts) and the demo
 * both build workers here, so the daemon and the embedded network run the same code.
 */
import path from "node:path";
import {
  createPublicClient,
  createWalletClient,
  type Account,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { createInferenceEngine, type InferenceEngine, type InferenceEngineOptions } from "./inference/engine.js";
import { createLogger, type Logger } from "./internal/log.js";
import { createMetrics, type WorkerMetrics } from "./internal/metrics.js";
import { openStore, JOB_STATES, type WorkerStore } from "./store.js";
import { BlobInbox, DEFAULT_MAX_BLOB_BYTES } from "./blobs.js";
import { VeilWorker, type VeilWorkerAddresses, type WorkerModel } from "./worker.js";
import type { PrivateCodec } from "./private.js";

export interface CreateWorkerOptions {
  /** Retries are the transport's (main.ts passes internal/retry.ts `rpcTransport`); the worker adds none. */
  transport: Transport;
  chain?: Chain;
  account: Account;
  addresses: VeilWorkerAddresses;
  /** Directory for the SQLite state (one file per operator and chain), or ":memory:". */
  dataDir: string;
  models: WorkerModel[];
  logger?: Logger;
  metrics?: WorkerMetrics;
  /** JSON-RPC requests sent so far, per method (main.ts counts them in its transport): `veil_worker_rpc_requests_total`. */
  rpcRequests?: () => Record<string, number>;
  engine?: InferenceEngineOptions;
  confirmations?: number;
  /** See VeilWorkerOptions.receiptConfirmations (the daemon passes `--confirmations`). */
  receiptConfirmations?: number;
  pollIntervalMs?: number;
  /** Jobs in inference at once; waiting jobs hold no slot (tasks/scheduler.ts). */
  maxConcurrency?: number;
  /** A job waiting this long for a slot is logged and makes /health "degraded" (default 60 s). */
  slotWaitWarnMs?: number;
  gasBumpPercent?: number;
  txTimeoutMs?: number;
  startBlock?: bigint;
  autoFinalize?: boolean;
  tamperOutputs?: boolean;
  /** Opens private (encrypted) inputs: see worker/src/private.ts. */
  privacy?: PrivateCodec;
  /** Validator mode (needs `addresses.disputeManager`): drive disputes, vote when drawn, claim rewards. */
  validator?: boolean;
  /** Validator mode: share of others' proposed jobs to re-run and challenge when wrong (default 0). */
  spotCheckRate?: number;
  /** Posts per escrow multicall (default 20; 1 = one transaction each). */
  maxPostBatch?: number;
  /** Own jobs per escrow `finalizeMany` once their challenge window passed (default 50; 1 = one transaction each). */
  maxFinalizeBatch?: number;
  /** k > 1 settlement rota: a backup settler waits this long per rank after the job is due (default 15 s). */
  settleBackupDelayMs?: number;
  /** Decline a job whose blob or key has not arrived this long before its commit deadline (default 60). */
  declineMarginSeconds?: number;
  /** Largest input blob uploaded to (PUT /blobs) or fetched by this worker (default 64 MiB). */
  maxBlobBytes?: number;
  /** Total bytes of uploaded blobs no job has claimed yet (default 256 MiB). */
  maxPendingBlobBytes?: number;
  /** How long an unclaimed upload is kept (default 15 min). */
  pendingBlobTtlMs?: number;
}

/** A worker and what it was built from (the HTTP endpoint and `runWorker` wire these up). */
export type CreatedWorker = {
  worker: VeilWorker;
  store: WorkerStore;
  /** Uploaded input blobs (serve it as the HTTP endpoint's `blobs`). */
  blobs: BlobInbox;
  engine: InferenceEngine;
  metrics: WorkerMetrics;
  logger: Logger;
  publicClient: PublicClient<Transport, Chain | undefined>;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  chainId: number;
  /** Stops the worker, then releases the engine and the store. */
  close(): Promise<void>;
};

export async function createWorker(o: CreateWorkerOptions): Promise<CreatedWorker> {
  const publicClient = createPublicClient({ transport: o.transport, chain: o.chain, pollingInterval: 250 });
  const walletClient = createWalletClient({ transport: o.transport, chain: o.chain, account: o.account });
  const chainId = await publicClient.getChainId();
  const logger = (o.logger ?? createLogger()).child({ operator: o.account.address, chainId });
  const storePath =
    o.dataDir === ":memory:" ? ":memory:" : path.join(o.dataDir, `worker-${chainId}-${o.account.address.toLowerCase()}.sqlite`);
  const store = openStore({ path: storePath, maxBlobBytes: Math.max(o.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES, DEFAULT_MAX_BLOB_BYTES) });
  const blobs = new BlobInbox({ store, maxBlobBytes: o.maxBlobBytes, maxPendingBytes: o.maxPendingBlobBytes, pendingTtlMs: o.pendingBlobTtlMs });
  const metrics =
    o.metrics ??
    createMetrics({
      jobStates: JOB_STATES,
      jobsInState: () => store.countByState(chainId),
      sqliteSeconds: () => store.writeMs / 1000,
      stateAges: () => store.oldestByState(chainId),
      queueDepth: () => worker.queueDepth(), // scraped only once the worker exists
      rpcRequests: o.rpcRequests,
      defaultLabels: { operator: o.account.address.toLowerCase(), chain_id: String(chainId) },
    });
  // Every committed transition counts in veil_worker_jobs_total{state} (a rolled-back one never fires).
  store.onTransition((ev) => metrics.jobsTotal.inc({ state: ev.to }));
  const engine = await createInferenceEngine(o.engine);
  const worker: VeilWorker = new VeilWorker(chainId, {
    publicClient: publicClient as never,
    walletClient: walletClient as never,
    addresses: o.addresses,
    store,
    engine,
    logger,
    metrics,
    models: o.models,
    confirmations: o.confirmations,
    receiptConfirmations: o.receiptConfirmations,
    pollIntervalMs: o.pollIntervalMs,
    maxConcurrency: o.maxConcurrency,
    slotWaitWarnMs: o.slotWaitWarnMs,
    gasBumpPercent: o.gasBumpPercent,
    txTimeoutMs: o.txTimeoutMs,
    startBlock: o.startBlock,
    autoFinalize: o.autoFinalize,
    tamperOutputs: o.tamperOutputs,
    privacy: o.privacy,
    validator: o.validator,
    spotCheckRate: o.spotCheckRate,
    maxPostBatch: o.maxPostBatch,
    maxFinalizeBatch: o.maxFinalizeBatch,
    settleBackupDelayMs: o.settleBackupDelayMs,
    declineMarginSeconds: o.declineMarginSeconds,
    maxBlobBytes: o.maxBlobBytes,
    uploads: blobs,
  } as never);
  return {
    worker,
    store,
    /** Uploaded input blobs (serve it as the HTTP endpoint's `blobs`). */
    blobs,
    engine,
    metrics,
    logger,
    publicClient,
    walletClient,
    chainId,
    /** Stops the worker, then releases the engine and the store. */
    async close() {
      await worker.stop();
      await engine.close();
      store.close();
    },
  };
}

