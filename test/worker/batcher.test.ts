import { expect } from "chai";
import { network } from "hardhat";
import { createPublicClient, createWalletClient, custom, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { jobEscrowAbi } from "../../packages/contracts/src/abis.js";
import { PostBatcher } from "../../packages/worker/src/chain/batcher.js";
import { TxRevertedError, TxSender } from "../../packages/worker/src/chain/sender.js";
import { nullLogger } from "../../packages/worker/src/internal/log.js";
import { openStore } from "../../packages/worker/src/store.js";
import { deployVeil, randomId, submit, type Veil } from "../helpers/fixture.js";

// The worker's post batcher against a real chain: posts ready together share one JobEscrow.multicall; a batch
// that would revert (one post is stale) falls back to one transaction per post, so the good ones still land.

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers } = connection;
const MNEMONIC = "test test test test test test test test test test test junk";

describe("worker/chain/batcher (PostBatcher on a real chain)", () => {
  let v: Veil;
  let batcher: PostBatcher;
  let escrow: Address;
  const sizes: number[] = [];

  before(async () => {
    v = await deployVeil(connection, 1); // one operator: every k = 1 job is its own
    escrow = (await v.escrow.getAddress()) as Address;
    const index = (await ethers.getSigners()).findIndex((s) => s.address === v.ops[0]!.address);
    const account = mnemonicToAccount(MNEMONIC, { addressIndex: index });
    const transport = custom(connection.provider);
    const sender = new TxSender({
      publicClient: createPublicClient({ transport }),
      walletClient: createWalletClient({ transport, account }),
      store: openStore({ path: ":memory:" }),
      chainId: 31337,
      logger: nullLogger(),
    });
    batcher = new PostBatcher(sender, { escrow, maxBatch: 4, windowMs: 20, onBatch: (n) => sizes.push(n) });
  });

  const post = (jobId: bigint, hash: Hex) =>
    batcher.send({ kind: "reveal", address: escrow, abi: jobEscrowAbi, functionName: "submitResult", args: [jobId, hash] });

  it("posts sent within the window share one multicall; more than maxBatch split into several", async () => {
    const jobs = [];
    for (let i = 0; i < 6; i++) jobs.push((await submit(connection, v)).jobId);
    const receipts = await Promise.all(jobs.map((id) => post(id, randomId() as Hex)));
    const hashes = new Set(receipts.map((r) => r.transactionHash));
    expect(hashes.size).to.equal(2); // 4 + 2
    expect(sizes).to.deep.equal([4, 2]);
    for (const id of jobs) expect((await v.escrow.getJob(id)).slotHashes[0]).to.not.equal(ethers.ZeroHash);
    const tx = await ethers.provider.getTransaction(receipts[0]!.transactionHash);
    expect(tx!.data.slice(0, 10)).to.equal("0xac9650d8"); // multicall(bytes[])
  });

  it("a batch with a stale post falls back to one transaction each: the good posts land, the stale one fails alone", async () => {
    const a = (await submit(connection, v)).jobId;
    const b = (await submit(connection, v)).jobId;
    const c = (await submit(connection, v)).jobId;
    await post(b, randomId() as Hex); // b already posted (same signer, same nonce sequence): a second post reverts
    const results = await Promise.allSettled([post(a, randomId() as Hex), post(b, randomId() as Hex), post(c, randomId() as Hex)]);
    expect(results[0]!.status, String((results[0] as PromiseRejectedResult).reason)).to.equal("fulfilled");
    expect(results[2]!.status).to.equal("fulfilled");
    expect(results[1]!.status).to.equal("rejected");
    const err = (results[1] as PromiseRejectedResult).reason;
    expect(err).to.be.instanceOf(TxRevertedError);
    expect(err.errorName).to.equal("JobEscrowWrongStatus");
    const [ra, rc] = [results[0], results[2]].map((r) => (r as PromiseFulfilledResult<{ transactionHash: Hex }>).value.transactionHash);
    expect(ra).to.not.equal(rc); // sent one by one
    for (const id of [a, c]) expect((await v.escrow.getJob(id)).slotHashes[0]).to.not.equal(ethers.ZeroHash);
  });

  it("the key also sends from elsewhere (stale cached nonce): that post fails, the retry resyncs and lands", async () => {
    const a = (await submit(connection, v)).jobId;
    const b = (await submit(connection, v)).jobId;
    await post(a, randomId() as Hex); // the sender now caches the operator's next nonce
    await (await v.ops[0]!.sendTransaction({ to: v.ops[0]!.address, value: 0n })).wait(); // ...which this spends
    const stale = await post(b, randomId() as Hex).then(() => undefined, (e: Error) => e);
    expect(stale, "signed with the spent nonce").to.be.instanceOf(Error);
    expect(stale).to.not.be.instanceOf(TxRevertedError);
    // The worker retries a failed step on its next tick: the sender must not reuse the spent nonce.
    await post(b, randomId() as Hex);
    expect((await v.escrow.getJob(b)).slotHashes[0]).to.not.equal(ethers.ZeroHash);
  });

  it("with confirmations: 3 a send resolves, and its intent is confirmed, only once two blocks stand on its receipt", async () => {
    const index = (await ethers.getSigners()).findIndex((s) => s.address === v.ops[0]!.address);
    const transport = custom(connection.provider);
    const store = openStore({ path: ":memory:" });
    const deep = new TxSender({
      publicClient: createPublicClient({ transport, pollingInterval: 20 }),
      walletClient: createWalletClient({ transport, account: mnemonicToAccount(MNEMONIC, { addressIndex: index }) }),
      store,
      chainId: 31337,
      logger: nullLogger(),
      confirmations: 3,
    });
    const job = (await submit(connection, v)).jobId;
    let done = false;
    const sent = deep.send({ kind: "reveal", address: escrow, abi: jobEscrowAbi, functionName: "submitResult", args: [job, randomId() as Hex] }).finally(() => (done = true));
    const statusOf = () => store.unfinishedTxs({ chainId: 31337 }).length;
    // Automining: the post is in a block at once; nothing else mines until we do.
    while ((await v.escrow.getJob(job)).slotHashes[0] === ethers.ZeroHash) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    expect(done, "resolved at one confirmation").to.equal(false);
    expect(statusOf(), "intent still unfinished").to.equal(1);
    await connection.provider.request({ method: "evm_mine", params: [] });
    await new Promise((r) => setTimeout(r, 200));
    expect(done, "resolved at two").to.equal(false);
    await connection.provider.request({ method: "evm_mine", params: [] });
    const receipt = await sent;
    expect(receipt.status).to.equal("success");
    expect(statusOf()).to.equal(0);
    expect(() => new TxSender({ confirmations: 0 } as never)).to.throw(RangeError, /confirmations must be an integer >= 1/);
  });

  it("a maxBatch below 1 is refused", async () => {
    expect(() => new PostBatcher({} as never, { escrow, maxBatch: 0, windowMs: 1 })).to.throw(RangeError);
  });
});
