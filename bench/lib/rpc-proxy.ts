/**
 * A counting JSON-RPC proxy (node:http): one per client under test, between it and the node. Every request body is
 * parsed and its JSON-RPC calls counted by method (a batch request counts each call in it); the bytes are forwarded
 * unchanged over a keep-alive connection and the node's answer is piped back unchanged. Nothing is cached, retried
 * or rewritten: the client sees the node exactly as it would without the proxy, one loopback hop later.
 */
import { createServer, request, Agent, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type MethodCounts = Record<string, number>;

export interface CountingProxy {
  /** The URL to give the client instead of the node's. */
  url: string;
  /** JSON-RPC calls so far, by method (a copy). */
  counts(): MethodCounts;
  /** eth_call and eth_estimateGas so far, by `<method> <to> <4-byte selector>` (a copy). */
  contractCalls(): MethodCounts;
  /** HTTP requests so far (a batch of n calls is one request, n calls). A body that is not JSON counts one call
   * under "<unparsed>" and is forwarded as it was. */
  httpRequests(): number;
  close(): Promise<void>;
}

/** Calls by method between two {@link CountingProxy.counts} snapshots. */
export function diffCounts(after: MethodCounts, before: MethodCounts): MethodCounts {
  const out: MethodCounts = {};
  for (const [m, n] of Object.entries(after)) {
    const d = n - (before[m] ?? 0);
    if (d > 0) out[m] = d;
  }
  return out;
}

export function sumCounts(...all: MethodCounts[]): MethodCounts {
  const out: MethodCounts = {};
  for (const c of all) for (const [m, n] of Object.entries(c)) out[m] = (out[m] ?? 0) + n;
  return out;
}

export const totalOf = (c: MethodCounts) => Object.values(c).reduce((a, b) => a + b, 0);

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const target = new URL(upstream);
  if (target.protocol !== "http:") throw new Error(`counting proxy: upstream must be http://, got ${upstream}`);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const counts = new Map<string, number>();
  const contract = new Map<string, number>();
  let requests = 0;
  const count = (call: { method?: unknown; params?: unknown } | undefined) => {
    const m = typeof call?.method === "string" ? call.method : "<no method>";
    counts.set(m, (counts.get(m) ?? 0) + 1);
    if (m === "eth_call" || m === "eth_estimateGas") {
      const tx = (Array.isArray(call?.params) ? call.params[0] : undefined) as { to?: string; data?: string; input?: string } | undefined;
      const key = `${m} ${String(tx?.to ?? "").toLowerCase()} ${String(tx?.data ?? tx?.input ?? "").slice(0, 10)}`;
      contract.set(key, (contract.get(key) ?? 0) + 1);
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      requests++;
      try {
        const parsed = JSON.parse(body.toString("utf8"));
        if (Array.isArray(parsed)) for (const call of parsed) count(call);
        else count(parsed);
      } catch {
        count({ method: "<unparsed>" });
      }
      const up = request(
        {
          protocol: target.protocol,
          hostname: target.hostname,
          port: target.port,
          path: target.pathname + target.search,
          method: req.method,
          agent,
          headers: { "content-type": req.headers["content-type"] ?? "application/json", "content-length": body.length },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      up.on("error", (e) => {
        if (res.headersSent) return void res.destroy(e);
        res.writeHead(502, { "content-type": "application/json" }).end(
          JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32603, message: `counting proxy: upstream ${upstream} failed: ${e.message}` } }),
        );
      });
      up.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => Object.fromEntries(counts),
    contractCalls: () => Object.fromEntries(contract),
    httpRequests: () => requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      agent.destroy();
    },
  };
}
