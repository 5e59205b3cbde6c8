/**
 * SDK errors are viem errors: every {@link VeilError} extends viem's `BaseError`, keeps its one-line `shortMessage`,
 * `details`, `metaMessages`, `docsPath` and the cause chain (`walk()` reaches the root cause viem threw: a
 * ContractFunctionRevertedError for a revert, an HttpRequestError for an RPC that answers with an HTTP error), and
 * each subclass keeps its own fields. Reverts on a real (in-process Hardhat EDR) chain; HTTP errors from a real
 * server.
 */
import { expect } from "chai";
import { network } from "hardhat";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  BaseError,
  ContractFunctionRevertedError,
  HttpRequestError,
  createPublicClient,
  createWalletClient,
  custom,
  getAddress,
  http,
  type Address,
  type Hex,
} from "viem";
import * as sdk from "../../packages/sdk/src/index.js";
import {
  AccountNotFoundError,
  InsufficientFundsError,
  JobEscrowFeeAboveMaxError,
  ModelInputError,
  NonceError,
  RpcUnreachableError,
  VeilContractError,
  VeilError,
  checkInputs,
  decodeVeilError,
  getJob,
  joinModel,
  registerModel,
  registerNode,
  stake,
  submitJob,
  type TensorMap,
  type VeilAddresses,
} from "../../packages/sdk/src/index.js";
import { veilTokenAbi } from "../../packages/contracts/src/abis.js";
import VeilLocal from "../../ignition/modules/VeilLocal.js";
import { PRICE, STAKE, randomId, type Connection } from "../helpers/fixture.js";
import { writeContract } from "viem/actions";

const VERSION = "Version: @veil/sdk@0.1.0";

describe("sdk errors extend viem's BaseError", function () {
  it("VeilError: shortMessage, details, metaMessages, docsPath, name and version, laid out as viem's message", () => {
    const root = new Error("socket closed");
    const err = new VeilError("Something failed.", { metaMessages: ["Job: 7"], docsPath: "errors.md", cause: root });
    expect(err).to.be.instanceOf(BaseError);
    expect(err).to.be.instanceOf(Error);
    expect(err.name).to.equal("VeilError");
    expect(err.shortMessage).to.equal("Something failed.");
    expect(err.details).to.equal("socket closed"); // the cause's message when none is given
    expect(err.metaMessages).to.deep.equal(["Job: 7"]);
    expect(err.docsPath).to.equal("errors.md");
    expect(err.version).to.equal("@veil/sdk@0.1.0");
    expect(err.message).to.equal(["Something failed.", "", "Job: 7", "", "Docs: docs/errors.md", "Details: socket closed", VERSION].join("\n"));
    expect(err.cause).to.equal(root);
    expect(err.walk()).to.equal(root);
    expect(String(err.stack).split("\n")[0]).to.equal("VeilError: Something failed.");
    // Explicit details win over the cause's; a viem cause gives its details, not its multi-line message.
    expect(new VeilError("x", { details: "mine", cause: root }).details).to.equal("mine");
    const viemCause = new BaseError("viem short", { details: "viem details" });
    expect(new VeilError("x", { cause: viemCause }).details).to.equal("viem details");
    expect(new VeilError("x").message).to.equal(["x", "", VERSION].join("\n"));
  });

  it("walk() finds the first matching cause, the root without a predicate, and stops on a chain that loops", () => {
    const root = new TypeError("root");
    const mid = new BaseError("mid", { cause: root });
    const err = new VeilError("top", { cause: mid });
    expect(err.walk()).to.equal(root);
    expect(err.walk((e) => e instanceof BaseError && e !== err)).to.equal(mid);
    expect(err.walk((e) => e instanceof RangeError)).to.equal(null);
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    (a as { cause?: unknown }).cause = b;
    const looped = new VeilError("loop", { cause: a });
    expect(looped.walk()).to.equal(b); // the deepest error before the loop closes
    expect(looped.walk((e) => e === "never")).to.equal(null);
  });

  it("decodeVeilError keeps a viem error's shortMessage and details, with the viem error as cause", () => {
    const viemError = new BaseError("The node said no.", { details: "rate limited", metaMessages: ["URL: http://x"] });
    const err = decodeVeilError(viemError);
    expect(err).to.be.instanceOf(VeilError);
    expect(err.shortMessage).to.equal("The node said no.");
    expect(err.details).to.equal("rate limited");
    expect(err.cause).to.equal(viemError);
    expect(decodeVeilError(err)).to.equal(err); // already an SDK error
  });

  it("subclasses keep their own fields: ModelInputError.problems, InsufficientFundsError, NonceError, AccountNotFoundError", () => {
    const signature = { inputs: [{ name: "x", type: "float32" as const, dims: [1, 4] }], outputs: [] };
    const bad: TensorMap = { x: { type: "float32", dims: [1, 3], data: new Float32Array(3) } };
    let input: unknown;
    try {
      checkInputs(signature, bad);
    } catch (e) {
      input = e;
    }
    expect(input).to.be.instanceOf(ModelInputError).and.to.be.instanceOf(BaseError);
    const m = input as ModelInputError;
    expect(m.name).to.equal("ModelInputError");
    expect(m.problems).to.have.length(1);
    expect(m.shortMessage).to.equal(`Inputs do not fit the model: ${m.problems[0]!.message}`);
    expect(m.docsPath).to.equal("models.md");
    expect(m.metaMessages).to.deep.equal(["The model takes:", "  x: float32[1,4]"]);
    expect(m.message).to.contain("\nThe model takes:\n  x: float32[1,4]\n\nDocs: docs/models.md\n");

    const account = getAddress("0x00000000000000000000000000000000000000aa");
    const funds = new InsufficientFundsError({ account, balance: 10n, needed: 30n, gas: 3n });
    expect(funds).to.be.instanceOf(BaseError);
    expect([funds.name, funds.account, funds.balance, funds.needed]).to.deep.equal(["InsufficientFundsError", account, 10n, 30n]);
    const nonce = new NonceError({ kind: "low", account, expected: 5, got: 4 });
    expect([nonce.name, nonce.account, nonce.expected, nonce.got]).to.deep.equal(["NonceError", account, 5, 4]);
    expect(new AccountNotFoundError("stake")).to.be.instanceOf(BaseError);
  });

  it("every error class the SDK exports is a viem BaseError, except the tensor codec's (sdk/src/tensor.ts extends Error)", () => {
    const errorClasses = Object.entries(sdk).filter(
      ([, v]) => typeof v === "function" && (v as { prototype?: unknown }).prototype instanceof Error,
    ) as [string, { prototype: object }][];
    expect(errorClasses.length).to.be.greaterThan(20);
    const notBase = errorClasses.filter(([, c]) => !(c.prototype instanceof BaseError)).map(([name]) => name);
    expect(notBase.sort()).to.deep.equal(["InvalidTensorError", "TensorDecodeError", "TensorEncodingError", "TensorJsonError"]);
  });

  describe("on a chain and over HTTP", () => {
    let connection: Connection;
    let a: VeilAddresses;
    let modelId: Hex;
    let requester: Address;

    before(async () => {
      connection = (await network.create()) as unknown as Connection;
      const transport = custom(connection.provider, { retryCount: 0 });
      const wallet = (account: Address) => createWalletClient({ account, transport, pollingInterval: 20 });
      const signers = ((await connection.provider.request({ method: "eth_accounts" })) as string[]).map((x) => getAddress(x));
      const [admin, req, owner, treasury, op] = signers as [Address, Address, Address, Address, Address];
      requester = req;
      const d = await connection.ignition.deploy(VeilLocal, { parameters: { VeilLocal: { treasury } } });
      const at = async (c: { getAddress(): Promise<string> }) => (await c.getAddress()) as Address;
      a = {
        jobEscrow: await at(d.escrow),
        nodeStaking: await at(d.staking),
        modelRegistry: await at(d.registry),
        feeToken: await at(d.feeToken),
        stakingToken: await at(d.veil),
        accessManager: await at(d.manager),
      };
      modelId = randomId() as Hex;
      await registerModel(wallet(owner), { addresses: a, modelId, price: PRICE, profile: { opset: 17 }, signature: null });
      await writeContract(wallet(admin), { address: a.stakingToken, abi: veilTokenAbi, functionName: "transfer", args: [op, STAKE], chain: null });
      await registerNode(wallet(op), { addresses: a, endpoint: "http://127.0.0.1:9" });
      await stake(wallet(op), { addresses: a, amount: STAKE });
      await joinModel(wallet(op), { addresses: a, modelId });
    });

    it("a revert: the named error keeps errorName, args, abiItem and data; walk() reaches viem's ContractFunctionRevertedError", async () => {
      const wallet = createWalletClient({ account: requester, transport: custom(connection.provider, { retryCount: 0 }), pollingInterval: 20 });
      const inputs: TensorMap = { x: { type: "float32", dims: [1, 2], data: new Float32Array([1, 2]) } };
      const err = (await submitJob(wallet, { addresses: a, modelId, inputs, maxFee: 1n }).catch((e: unknown) => e)) as JobEscrowFeeAboveMaxError;
      expect(err).to.be.instanceOf(JobEscrowFeeAboveMaxError).and.to.be.instanceOf(VeilContractError).and.to.be.instanceOf(BaseError);
      expect(err.name).to.equal("JobEscrowFeeAboveMaxError");
      expect(err.shortMessage).to.equal(`JobEscrowFeeAboveMax: fee 0.05 mUSDC (${PRICE} base units) exceeds maxFee 0.000001 mUSDC (1 base unit)`);
      expect(err.errorName).to.equal("JobEscrowFeeAboveMax");
      expect(err.args).to.deep.equal([PRICE, 1n]);
      expect([err.fee, err.maxFee]).to.deep.equal([PRICE, 1n]);
      expect(err.abiItem?.name).to.equal("JobEscrowFeeAboveMax");
      expect(err.data).to.match(/^0x[0-9a-f]{8}/);
      expect(err.details).to.equal(`revert data ${err.data}`);
      expect(err.metaMessages).to.deep.equal(["Error: JobEscrowFeeAboveMax(uint256 fee, uint256 maxFee)"]);
      expect(err.docsPath).to.equal("errors.md");
      expect(err.message.split("\n")).to.deep.equal([
        err.shortMessage,
        "",
        "Error: JobEscrowFeeAboveMax(uint256 fee, uint256 maxFee)",
        "",
        "Docs: docs/errors.md",
        `Details: revert data ${err.data}`,
        VERSION,
      ]);
      const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
      expect(reverted, "viem's ContractFunctionRevertedError on the cause chain").to.not.equal(null);
      expect(reverted!.data?.errorName).to.equal("JobEscrowFeeAboveMax");
      expect(reverted!.data?.args).to.deep.equal([PRICE, 1n]);
      const root = err.walk();
      expect(root).to.not.equal(err);
      expect((root as { cause?: unknown }).cause).to.equal(undefined);
    });

    it("an RPC that answers HTTP 503: RpcUnreachableError with the status; walk() reaches viem's HttpRequestError", async () => {
      const server: Server = createServer((_req, res) => res.writeHead(503).end("overloaded"));
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const client = createPublicClient({ transport: http(url, { retryCount: 0 }) });
        const err = (await getJob(client, { addresses: a, jobId: 1n }).catch((e: unknown) => e)) as RpcUnreachableError;
        expect(err).to.be.instanceOf(RpcUnreachableError).and.to.be.instanceOf(BaseError);
        expect(err.name).to.equal("RpcUnreachableError");
        expect(err.shortMessage).to.equal(`RPC ${url} is unreachable (HTTP 503): check the URL (--rpc-url / VEIL_RPC_URL) and that the node is running.`);
        expect(err.status).to.equal(503);
        expect(err.url).to.equal(`${url}/`);
        expect(err.details).to.equal('"overloaded"'); // viem's details: the body the server sent
        const httpError = err.walk((e) => e instanceof HttpRequestError) as HttpRequestError | null;
        expect(httpError?.status).to.equal(503);
        expect(err.walk()).to.equal(httpError); // the root cause
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });
  });
});
