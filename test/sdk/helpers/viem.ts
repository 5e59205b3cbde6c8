/** viem clients on an in-process Hardhat network, and a tiny HTTP server standing in for operators' result endpoints. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createPublicClient, createWalletClient, custom, type Address, type Hex } from "viem";
import type { VeilAddresses } from "../../../packages/sdk/src/addresses.js";
import type { Connection, Veil } from "../../helpers/fixture.js";

export function viemClients(connection: Connection) {
  // No retries: a revert is final (EDR reports it as an unknown RPC error, which viem would retry).
  const transport = custom(connection.provider, { retryCount: 0 });
  const publicClient = createPublicClient({ transport, pollingInterval: 20 });
  const wallet = (account: Address) => createWalletClient({ account, transport, pollingInterval: 20 });
  return { publicClient, wallet };
}

export async function addressesOf(v: Veil): Promise<VeilAddresses> {
  return {
    jobEscrow: (await v.escrow.getAddress()) as Address,
    nodeStaking: (await v.staking.getAddress()) as Address,
    modelRegistry: (await v.registry.getAddress()) as Address,
    feeToken: (await v.usdc.getAddress()) as Address,
    stakingToken: (await v.veil.getAddress()) as Address,
    accessManager: (await v.manager.getAddress()) as Address,
  };
}

/** Serves `GET /results/<hash>` from a map, like a worker's result endpoint. */
export async function resultServer() {
  const results = new Map<string, Uint8Array>();
  const server: Server = createServer((req, res) => {
    const m = /^\/results\/(0x[0-9a-f]{64})$/.exec(req.url ?? "");
    const body = m ? results.get(m[1]!) : undefined;
    if (!body) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    results,
    put: (hash: Hex, bytes: Uint8Array) => results.set(hash.toLowerCase(), bytes),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
