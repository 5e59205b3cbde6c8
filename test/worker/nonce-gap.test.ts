/**
 * A reorg that drops a block holding one of the operator's transactions leaves a hole in its nonce sequence: anvil
 * (like geth) does not put the dropped transaction back in its pool, and every later transaction of the operator
 * waits in the node's queue behind the hole. Fee bumps cannot help. A 10-minute soak (bench/soak.ts) showed all three
 * workers stuck this way after reorgs, their jobs unposted and slashed. The sender now fills such holes with a
 * 0-value transfer to itself (never with the lost post's old bytes: the job re-sends its post after re-checking it).
 * Real anvil, real reorg (`anvil_reorg`).
 */
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { createPublicClient, createWalletClient, http, parseAbi, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { TxSender } from "../../packages/worker/src/chain/sender.js";
import { nullLogger } from "../../packages/worker/src/internal/log.js";
import { openStore } from "../../packages/worker/src/store.js";
import { startLocalChain } from "../e2e/chains.js";
import { freePort } from "./fixtures/local-node.js";

const MNEMONIC = "test test test test test test test test test test test junk";
const pingAbi = parseAbi(["function ping()"]);

describe("worker/chain/sender: a nonce gap left by a reorg (anvil)", function () {
  this.timeout(90_000);
  let anvil: ChildProcess | undefined;
  after(() => anvil?.kill("SIGKILL"));

  it("a transaction queued behind a lost nonce is mined once the hole is filled with a self-transfer", async () => {
    const port = await freePort();
    anvil = await startLocalChain("anvil", port);
    const url = `http://127.0.0.1:${port}`;
    const rpc = (method: string, params: unknown[] = []) =>
      fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) }).then((r) => r.json() as Promise<{ result: any }>);
    const account = mnemonicToAccount(MNEMONIC, { addressIndex: 5 });
    const pub = createPublicClient({ chain: foundry, transport: http(url), pollingInterval: 50 });
    const store = openStore({ path: ":memory:" });
    const sender = new TxSender({
      publicClient: pub as never,
      walletClient: createWalletClient({ chain: foundry, transport: http(url), account }) as never,
      store,
      chainId: 31337,
      logger: nullLogger(),
      txTimeoutMs: 1_500,
    });
    const target = "0x00000000000000000000000000000000000c0ffe" as Address; // no code: ping() succeeds and does nothing
    const ping = () => sender.send({ kind: "reveal", address: target, abi: pingAbi, functionName: "ping", args: [] });

    const first = await ping(); // nonce 0, mined (automine)
    expect(await pub.getTransactionCount({ address: account.address })).to.equal(1);
    await rpc("anvil_reorg", [1, []]); // its block replaced by an empty one: nonce 0 is free again, the tx is gone
    expect(await pub.getTransactionCount({ address: account.address })).to.equal(0);
    await pub.getTransaction({ hash: first.transactionHash }).then(
      () => expect.fail("the reorged transaction should be gone from the node"),
      () => undefined,
    );

    // The sender still counts nonce 0 as used: the next send takes nonce 1 and waits behind the hole.
    const second = await ping();
    expect(second.status).to.equal("success");
    expect(await pub.getTransactionCount({ address: account.address })).to.equal(2);
    const filler = await pub.getBlock({ blockNumber: second.blockNumber, includeTransactions: true }).then(async (b) => {
      for (let n = b.number; n >= 1n; n--) {
        const blk = await pub.getBlock({ blockNumber: n, includeTransactions: true });
        const t = blk.transactions.find((x) => x.from.toLowerCase() === account.address.toLowerCase() && x.nonce === 0);
        if (t) return t;
      }
      return undefined;
    });
    expect(filler, "nonce 0 was filled").to.not.equal(undefined);
    expect(filler!.to?.toLowerCase(), "by a transfer to itself, not the lost post").to.equal(account.address.toLowerCase());
    expect(filler!.value).to.equal(0n);
    const lost = store.txsForNonce(31337, account.address as Hex, 0);
    expect(lost.map((t) => t.kind)).to.deep.equal(["reveal", "other"]);
    expect(second.transactionHash).to.not.equal(first.transactionHash);
  });
});
