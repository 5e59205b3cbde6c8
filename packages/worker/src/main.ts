/**
 * `veil node start`: the operator daemon's entry point. Wiring only: configuration (flags > env > file), the
 * operator key (private key or encrypted keystore), RPC transports with failover, the address book, optional
 * registration and staking, the worker, its HTTP endpoint (results, health, metrics), and one shutdown path on
 * SIGINT/SIGTERM that stops taking jobs, lets in-flight steps finish or persist, and exits.
 */
import path from "node:path";
import {
  createPublicClient,
  createWalletClient,
  erc20Abi,
  formatUnits,
  parseUnits,
  type Address,
  type Hex,
  type Transport,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { nodeStakingAbi } from "@veil/contracts";
import { loadDeployment, loadDeploymentFile } from "@veil/sdk/node";
import { signPermit } from "@veil/sdk";
import {
  ConfigError,
  describeConfig,
  effectiveConfirmations,
  loadConfigWithSources,
  redactedConfig,
  resolvePrivateKey,
  wantsHelp,
  type WorkerConfig,
} from "./config.js";
import { createWorker } from "./create.js";
import { createLogger, redactUrl, type Logger } from "./internal/log.js";
import { rpcTransport } from "./internal/retry.js";
import { createShutdown } from "./internal/shutdown.js";
import { HeadWatcher } from "./chain/heads.js";
import type { HealthInput } from "./server.js";

export async function runWorker(argv: string[], env: Record<string, string | undefined> = process.env): Promise<void> {
  if (wantsHelp(argv)) {
    process.stdout.write(`veil node start: run an inference worker\n\n${describeConfig()}\n`);
    return;
  }
  let config: WorkerConfig;
  let warnings: string[];
  try {
    ({ config, warnings } = loadConfigWithSources({ argv, env }));
  } catch (err) {
    if (err instanceof ConfigError) {
      // A configuration mistake is a usage error: exit 2 with every invalid field listed.
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, bindings: { service: "veil-worker" } });
  for (const warning of warnings) logger.warn(warning);
  const shutdown = createShutdown({ graceMs: config.shutdownGraceMs, logger, catchFatal: true });
  try {
    await start(config, logger, shutdown);
  } catch (err) {
    logger.fatal("worker failed to start", { error: (err as Error)?.message ?? String(err) });
    process.stderr.write(`error: ${(err as Error)?.message ?? err}\n`);
    await shutdown.run("start-up failed", 1);
    return;
  }
  await shutdown.done;
}

async function start(config: WorkerConfig, logger: Logger, shutdown: ReturnType<typeof createShutdown>) {
  logger.info("starting", { config: redactedConfig(config) });
  const account = privateKeyToAccount(await resolvePrivateKey(config));
  // Every RPC request goes through the one retry layer: at most RPC_RETRY.attempts tries (4 x 10 s timeout, capped
  // backoff; 41.75 s worst case), moving to the next URL on a failure that another node may not have.
  const rpcRequests: Record<string, number> = {};
  const transport: Transport = rpcTransport(config.rpcUrls, {
    stopRetrying: shutdown.signal,
    onRequest: (method) => void (rpcRequests[method] = (rpcRequests[method] ?? 0) + 1),
    onRetry: (e) =>
      logger.warn("rpc request failed; retrying", {
        method: e.method,
        attempt: e.attempt,
        of: e.attempts,
        retryInMs: e.delayMs,
        rpc: redactUrl(e.url),
        kind: e.classification.kind,
        error: (e.error as { shortMessage?: string })?.shortMessage ?? String((e.error as Error)?.message ?? e.error),
      }),
  });
  const probe = createPublicClient({ transport });
  const chainId = await probe.getChainId();
  if (config.chainId !== undefined && config.chainId !== chainId) {
    throw new Error(`the RPC serves chain ${chainId}, but the configuration expects chain ${config.chainId}`);
  }
  const deployment = config.addressesFile
    ? loadDeploymentFile(config.addressesFile)
    : loadDeployment(chainId, config.deploymentsDir);
  const a = deployment.addresses;

  // Nothing below sends a transaction until the HTTP port is bound and every model is verified: a port in use, a
  // model file whose sha256 is not the id it was given, or an unregistered model fails here at no cost.
  const created = await createWorker({
    transport,
    rpcRequests: () => rpcRequests,
    account,
    addresses: { jobEscrow: a.jobEscrow, nodeStaking: a.nodeStaking, modelRegistry: a.modelRegistry, disputeManager: a.disputeManager },
    validator: config.validator && a.disputeManager !== undefined,
    spotCheckRate: config.spotCheckRate,
    maxPostBatch: config.maxPostBatch,
    maxFinalizeBatch: config.maxFinalizeBatch,
    settleBackupDelayMs: config.settleBackupDelayMs,
    declineMarginSeconds: config.declineMarginSeconds,
    dataDir: path.resolve(config.dataDir),
    models: config.models.map((m) => ({ path: m.path, modelId: m.modelId })),
    logger,
    engine: { intraOpNumThreads: config.intraOpThreads || 1, batchWindowMs: config.batchWindowMs, maxBatchRows: config.maxBatch },
    // The config counts the inclusion block as the first confirmation; the worker counts blocks on top of it.
    confirmations: Math.max(0, effectiveConfirmations(config, chainId) - 1),
    receiptConfirmations: effectiveConfirmations(config, chainId),
    pollIntervalMs: config.pollIntervalMs,
    maxConcurrency: config.maxConcurrency,
    gasBumpPercent: config.gasBumpPercent,
    txTimeoutMs: config.txTimeoutMs,
    startBlock: deployment.startBlock !== undefined ? BigInt(deployment.startBlock) : undefined,
    maxBlobBytes: config.maxBlobBytes,
    maxPendingBlobBytes: config.maxPendingBlobBytes,
    pendingBlobTtlMs: config.pendingBlobTtlSeconds * 1000,
  });
  shutdown.register({ name: "worker", stop: () => created.close() });
  // The head every endpoint reports, each on its own timer: /health compares the events processed with the best of
  // them, so an outage that freezes the worker's own view cannot read as "no lag" (chain/heads.ts).
  const heads = new HeadWatcher(config.rpcUrls, { chainId, redact: redactUrl }).start();
  shutdown.register({ name: "heads", stop: () => heads.stop() });
  const confirmations = Math.max(0, effectiveConfirmations(config, chainId) - 1);
  const server = await startHttp(config, created, logger, () => {
    const h = created.worker.health();
    const lag = heads.lag(h.headBlock, { maxLagBlocks: config.maxHeadLagBlocks, confirmations });
    return {
      ...h,
      // The watcher polls every 2 s; the worker's own head may be newer (never report a head behind what was processed).
      chainHead: lag.bestHead !== undefined && lag.bestHead > h.chainHead ? lag.bestHead : h.chainHead,
      endpoints: heads.endpoints().map((e) => ({ url: e.url, head: e.head, stale: e.stale, error: e.error })),
      ...(lag.healthy ? {} : { status: "unhealthy" as const, reasons: [...(h.reasons ?? []), ...lag.reasons] }),
    };
  });
  shutdown.register({ name: "http", stop: () => server.stop() });
  await created.worker.prepare();
  await ensureOperator(config, transport, account, a.nodeStaking, a.stakingToken, logger);
  await created.worker.start();
  logger.info("worker running", { operator: account.address, chainId, models: created.worker.servedModels() });
}

/** Registers the node and tops its stake up when the configuration asks for it. */
async function ensureOperator(
  config: WorkerConfig,
  transport: Transport,
  account: ReturnType<typeof privateKeyToAccount>,
  staking: Address,
  stakingToken: Address,
  logger: Logger,
) {
  const pub = createPublicClient({ transport });
  const wallet = createWalletClient({ transport, account });
  let op = await pub.readContract({ address: staking, abi: nodeStakingAbi, functionName: "operator", args: [account.address] });
  const send = async (address: Address, abi: any, functionName: string, args: unknown[]) => {
    const { request } = await pub.simulateContract({ account, address, abi, functionName, args } as never);
    const hash = await wallet.writeContract(request as never);
    await pub.waitForTransactionReceipt({ hash });
  };
  if (!op.registered && config.autoRegister) {
    const endpoint = config.publicUrl ?? `http://${config.httpHost}:${config.httpPort}`;
    await send(staking, nodeStakingAbi, "register", [endpoint, `0x${"0".repeat(64)}` as Hex]);
    logger.info("registered node", { endpoint });
    op = await pub.readContract({ address: staking, abi: nodeStakingAbi, functionName: "operator", args: [account.address] });
  }
  if (config.autoStake === "0") return;
  const [decimals, symbol, balance] = await Promise.all([
    pub.readContract({ address: stakingToken, abi: erc20Abi, functionName: "decimals" }),
    pub.readContract({ address: stakingToken, abi: erc20Abi, functionName: "symbol" }),
    pub.readContract({ address: stakingToken, abi: erc20Abi, functionName: "balanceOf", args: [account.address] }),
  ]);
  const target = parseUnits(config.autoStake, decimals);
  if (target <= op.stake) return;
  const missing = target - op.stake;
  const tokens = (v: bigint) => `${formatUnits(v, decimals)} ${symbol} (${v} base units)`;
  if (!op.registered) throw new Error(`--auto-stake ${config.autoStake}: ${account.address} is not a registered operator (use --auto-register or \`veil node register\`)`);
  if (balance < missing) {
    throw new Error(`--auto-stake ${config.autoStake}: staking ${tokens(missing)} more needs that much, but ${account.address} holds ${tokens(balance)}`);
  }
  // One transaction, no approval left behind: the staking token's EIP-2612 permit rides along with the stake, and
  // the call is simulated (permit included) before it is signed and sent.
  const deadline = (await pub.getBlock({ blockTag: "latest" })).timestamp + 3600n; // chain time, not this machine's
  const { v, r, s } = await signPermit(wallet as never, account, stakingToken, staking, missing, deadline);
  await send(staking, nodeStakingAbi, "stakeWithPermit", [missing, deadline, v, r, s]);
  logger.info("staked", { amount: formatUnits(missing, decimals), symbol, stake: formatUnits(target, decimals) });
}

async function startHttp(config: WorkerConfig, created: Awaited<ReturnType<typeof createWorker>>, logger: Logger, health: () => HealthInput) {
  const { createWorkerServer } = await import("./server.js");
  const server = createWorkerServer({
    host: config.httpHost,
    port: config.httpPort,
    store: created.store,
    blobs: created.blobs,
    metrics: config.metrics ? created.metrics : undefined,
    logger,
    health,
    resolveResult: (hash: Hex) => created.worker.resultBlobFor(hash),
  });
  try {
    await server.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE") throw new Error(`cannot listen on ${config.httpHost}:${config.httpPort}: the port is in use (choose another with --http-port); nothing was sent on chain`, { cause: err });
    throw err;
  }
  return server;
}
