/**
 * @veil/contracts/ignition as a user's project runs it: the artifacts written by the package's prepack script
 * (packages/contracts/scripts/pack-artifacts.mjs, here into a temporary directory), read with loadVeilArtifacts and
 * passed explicitly to the module factories, deployed with ignition-core's `deploy()` on the in-process network with
 * an artifact resolver that refuses every name (so nothing comes from this repository's build), then the role wiring
 * read back from the AccessManager and exercised.
 */
import { deploy, type ArtifactResolver, type EIP1193Provider } from "@nomicfoundation/ignition-core";
import { expect } from "chai";
import { network } from "hardhat";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BaseError, ContractFunctionRevertedError, createPublicClient, createWalletClient, custom, encodeFunctionData, getAddress, toFunctionSelector, type Abi, type Address } from "viem";
import * as abis from "../../packages/contracts/src/abis.js";
import {
  DEFAULTS,
  RESTRICTED,
  ROLES,
  VEIL_CONTRACTS,
  functionSelector,
  loadVeilArtifacts,
  veilLocalModule,
  veilModule,
  type VeilArtifacts,
} from "../../packages/contracts/src/ignition/index.js";
import RepoVeilLocal from "../../ignition/modules/VeilLocal.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const PACK = path.join(ROOT, "packages/contracts/scripts/pack-artifacts.mjs");

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const provider = connection.provider as unknown as EIP1193Provider;
const publicClient = createPublicClient({ transport: custom(connection.provider) });

/** Every name lookup fails: a deployment that needs one did not come from the artifacts given. */
const refuseNames: ArtifactResolver = {
  loadArtifact: async (name) => {
    throw new Error(`artifact ${name} requested by name: the module did not use the artifacts given`);
  },
  getBuildInfo: async (name) => {
    throw new Error(`build info of ${name} requested by name`);
  },
};

describe("@veil/contracts/ignition with shipped artifacts", function () {
  this.timeout(120_000);
  let dir: string;
  let artifacts: VeilArtifacts;
  let accounts: Address[];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "veil-ignition-"));
    execFileSync(process.execPath, [PACK, "--out", path.join(dir, "artifacts")], { stdio: "pipe" });
    artifacts = loadVeilArtifacts(path.join(dir, "artifacts"));
    accounts = (await connection.provider.request({ method: "eth_accounts" })) as Address[];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("computes every selector as viem does, for every function of every ABI it ships", () => {
    let n = 0;
    for (const abi of Object.values(abis) as Abi[]) {
      for (const item of abi) {
        if (item.type !== "function") continue;
        expect(functionSelector(item), item.name).to.equal(toFunctionSelector(item));
        n++;
      }
    }
    expect(n).to.be.greaterThan(200);
  });

  it("has the same futures as the repository's by-name module (a journal reconciles either)", () => {
    const shipped = veilLocalModule({ artifacts });
    const ids = (m: typeof shipped) => [...m.futures].map((f) => f.id).sort();
    expect(ids(shipped)).to.deep.equal(ids(RepoVeilLocal));
    expect(ids(shipped)).to.include.members(VEIL_CONTRACTS.filter((n) => n !== "IERC20").map((n) => `VeilLocal#${n}`));
  });

  it("deploys VeilLocal then Veil from the artifacts alone, with every restricted function wired to its role", async () => {
    const [deployer, , , treasury, outsider] = accounts as [Address, Address, Address, Address, Address];
    const governor = accounts[9] as Address; // the real network's admin (a multisig or timelock there)
    const started = Date.now();
    const local = await deploy({
      config: { requiredConfirmations: 1 },
      provider,
      artifactResolver: refuseNames,
      ignitionModule: veilLocalModule({ artifacts }),
      deploymentParameters: { VeilLocal: { treasury } },
      accounts,
    });
    if (local.type !== "SUCCESSFUL_DEPLOYMENT") throw new Error(`VeilLocal: ${JSON.stringify(local, null, 2)}`);
    const a = (name: string) => getAddress(local.contracts[`VeilLocal#${name}`]!.address);
    const localMs = Date.now() - started;

    const read = <T>(address: Address, abi: Abi, functionName: string, args: unknown[] = []) =>
      publicClient.readContract({ address, abi, functionName, args }) as Promise<T>;
    const params = await read<Record<string, unknown>>(a("JobEscrow"), abis.jobEscrowAbi, "params");
    for (const [k, v] of Object.entries(DEFAULTS.escrowParams)) expect(BigInt(params[k] as bigint | number), k).to.equal(v);
    expect(getAddress(params.treasury as Address)).to.equal(getAddress(treasury));
    expect(await read(a("JobEscrow"), abis.jobEscrowAbi, "feeToken")).to.equal(a("MockUSDC"));
    // The escrow deployed its fee ledger, where the credit pool is allowlisted as payer module 1.
    expect(await read(a("JobEscrow"), abis.jobEscrowAbi, "ledger")).to.equal(a("FeeLedger"));
    expect(await read(a("FeeLedger"), abis.feeLedgerAbi, "escrow")).to.equal(a("JobEscrow"));
    expect(await read(a("FeeLedger"), abis.feeLedgerAbi, "payerModule", [1])).to.deep.equal([a("ComputeCredits"), true]);
    expect(await read(a("FeeLedger"), abis.feeLedgerAbi, "payerModuleId", [a("ComputeCredits")])).to.equal(1);
    expect(await read(a("JobKeys"), abis.jobKeysAbi, "escrow")).to.equal(a("JobEscrow"));
    expect(await read(a("NodeStaking"), abis.nodeStakingAbi, "isProtocolContract", [a("JobEscrow")])).to.equal(true);
    expect(await read(a("NodeStaking"), abis.nodeStakingAbi, "isProtocolContract", [a("DisputeManager")])).to.equal(true);
    expect(await read(a("NodeStaking"), abis.nodeStakingAbi, "isProtocolContract", [a("FeeLedger")])).to.equal(true);

    // Every restricted function of every contract, read back from the AccessManager.
    let mapped = 0;
    for (const [contract, fns] of Object.entries(RESTRICTED)) {
      const abi = (abis as Record<string, Abi>)[`${contract[0]!.toLowerCase()}${contract.slice(1)}Abi`]!;
      for (const [fn, role] of Object.entries(fns)) {
        const item = abi.find((i) => i.type === "function" && i.name === fn)!;
        const got = await read<bigint>(a("AccessManager"), abis.accessManagerAbi, "getTargetFunctionRole", [a(contract), toFunctionSelector(item as never)]);
        expect(got, `${contract}.${fn}`).to.equal(role);
        mapped++;
      }
    }
    expect(mapped).to.equal(Object.values(RESTRICTED).reduce((s, f) => s + Object.keys(f).length, 0));
    const hasRole = async (role: bigint, who: Address) => (await read<[boolean, number]>(a("AccessManager"), abis.accessManagerAbi, "hasRole", [role, who]))[0];
    expect(await hasRole(ROLES.GOVERNOR, deployer)).to.equal(true);
    expect(await hasRole(0n, deployer)).to.equal(true);
    expect(await hasRole(ROLES.DISPUTER, a("DisputeManager"))).to.equal(true);
    // Payer modules hold no role: the ledger's allowlist (above) is what lets the credit pool pay for jobs.
    for (const role of Object.values(ROLES)) expect(await hasRole(role, a("ComputeCredits")), `role ${role}`).to.equal(false);
    expect(await hasRole(ROLES.GOVERNOR, outsider)).to.equal(false);

    // The wiring at work: an outsider cannot pause registrations, the GOVERNOR can.
    const wallet = createWalletClient({ transport: custom(connection.provider) });
    const pause = { address: a("ModelRegistry"), abi: abis.modelRegistryAbi, functionName: "setPaused", args: [0, true] } as const;
    const refused = await publicClient.simulateContract({ ...pause, account: outsider }).then(() => undefined, (e: unknown) => e);
    expect(refused).to.be.instanceOf(BaseError);
    const revert = (refused as BaseError).walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
    expect(revert?.data?.errorName).to.equal("AccessManagedUnauthorized");
    const hash = await wallet.writeContract({ ...pause, account: deployer, chain: null });
    expect((await publicClient.waitForTransactionReceipt({ hash })).status).to.equal("success");
    expect(await read(a("ModelRegistry"), abis.modelRegistryAbi, "isPaused", [0])).to.equal(true);

    // The real-network module binds an existing fee token (contractAt with the shipped IERC20 artifact).
    const real = await deploy({
      config: { requiredConfirmations: 1 },
      provider,
      artifactResolver: refuseNames,
      ignitionModule: veilModule({ artifacts }),
      deploymentParameters: { Veil: { feeToken: a("MockUSDC"), treasury, admin: governor } },
      accounts,
    });
    if (real.type !== "SUCCESSFUL_DEPLOYMENT") throw new Error(`Veil: ${JSON.stringify(real, null, 2)}`);
    expect(getAddress(real.contracts["Veil#IERC20"]!.address)).to.equal(a("MockUSDC"));
    const escrow = getAddress(real.contracts["Veil#JobEscrow"]!.address);
    expect(escrow).to.not.equal(a("JobEscrow"));
    expect(await read(escrow, abis.jobEscrowAbi, "feeToken")).to.equal(a("MockUSDC"));
    const ledger = getAddress(real.contracts["Veil#FeeLedger"]!.address);
    expect(await read(escrow, abis.jobEscrowAbi, "ledger")).to.equal(ledger);
    expect(await read(ledger, abis.feeLedgerAbi, "payerModule", [1])).to.deep.equal([getAddress(real.contracts["Veil#ComputeCredits"]!.address), true]);

    // Issue 17, L-2: on a real network `admin` governs through the execution delay and the deployer keeps nothing.
    const manager = getAddress(real.contracts["Veil#AccessManager"]!.address);
    const roleOf = async (role: bigint, who: Address) => read<[boolean, number]>(manager, abis.accessManagerAbi, "hasRole", [role, who]);
    expect(await roleOf(ROLES.GOVERNOR, deployer)).to.deep.equal([false, 0]);
    expect(await roleOf(0n, deployer)).to.deep.equal([false, 0]);
    const delay = Number(DEFAULTS.governanceDelay);
    expect(delay).to.be.greaterThan(Number(DEFAULTS.unbondingPeriod));
    expect(await roleOf(ROLES.GOVERNOR, governor)).to.deep.equal([true, delay]);
    expect(await roleOf(0n, governor)).to.deep.equal([true, delay]);
    // An immediate governance call is refused; scheduled, it runs once the delay has passed, not before.
    const registry = getAddress(real.contracts["Veil#ModelRegistry"]!.address);
    // The AccessManager's errors come through the registry's `restricted` check (consumeScheduledOp).
    const registryAbi = [...abis.modelRegistryAbi, ...abis.accessManagerAbi.filter((i) => i.type === "error")] as Abi;
    const pauseReal = { address: registry, abi: registryAbi, functionName: "setPaused", args: [0, true] } as const;
    const now = await publicClient.simulateContract({ ...pauseReal, account: governor }).then(() => undefined, (e: unknown) => e);
    expect(((now as BaseError).walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null)?.data?.errorName)
      .to.equal("AccessManagerNotScheduled");
    const data = encodeFunctionData(pauseReal);
    const scheduled = await wallet.writeContract({ address: manager, abi: abis.accessManagerAbi, functionName: "schedule", args: [registry, data, 0], account: governor, chain: null });
    await publicClient.waitForTransactionReceipt({ hash: scheduled });
    const early = await publicClient.simulateContract({ address: manager, abi: abis.accessManagerAbi, functionName: "execute", args: [registry, data], account: governor }).then(() => undefined, (e: unknown) => e);
    expect(((early as BaseError).walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null)?.data?.errorName)
      .to.equal("AccessManagerNotReady");
    await connection.networkHelpers.time.increase(delay);
    const executed = await wallet.writeContract({ address: manager, abi: abis.accessManagerAbi, functionName: "execute", args: [registry, data], account: governor, chain: null });
    expect((await publicClient.waitForTransactionReceipt({ hash: executed })).status).to.equal("success");
    expect(await read(registry, abis.modelRegistryAbi, "isPaused", [0])).to.equal(true);
    console.log(`      VeilLocal: ${Object.keys(local.contracts).length} contracts deployed and wired in ${localMs} ms; ${mapped} restricted functions mapped`);
  });

  it("rejects incomplete or mismatched artifacts, and says where shipped ones are missing", () => {
    const { JobEscrow: _dropped, ...noEscrow } = artifacts;
    expect(() => veilLocalModule({ artifacts: noEscrow as VeilArtifacts })).to.throw(/no artifact for JobEscrow in the artifacts given/);
    expect(() => veilModule({ artifacts: { ...artifacts, JobEscrow: artifacts.ModelRegistry } })).to.throw(/artifact for JobEscrow .* contractName is "ModelRegistry"/);
    expect(() => veilLocalModule({ artifacts: { ...artifacts, JobKeys: { ...artifacts.JobKeys, bytecode: "0x" } } })).to.throw(/artifact for JobKeys .* has no bytecode/);
    expect(() => loadVeilArtifacts(dir)).to.throw(/cannot read the AccessManager artifact at .*AccessManager\.json \(ENOENT\)/);
    writeFileSync(path.join(dir, "AccessManager.json"), "{ not json");
    expect(() => loadVeilArtifacts(dir)).to.throw(/AccessManager\.json is not valid JSON/);

    const missing = spawnSync(process.execPath, [PACK, "--from", path.join(dir, "no-such-build"), "--out", path.join(dir, "out")], { encoding: "utf8" });
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.match(/no-such-build does not exist: compile the contracts first \(npx hardhat build/);
  });
});
