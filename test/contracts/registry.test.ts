import { expect } from "chai";
import { FunctionFragment } from "ethers";
import { network } from "hardhat";
import { deployVeil, modelParams, randomId, PRICE } from "../helpers/fixture.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;

/** Defined once, so loadFixture deploys once and reverts to the snapshot before each test. */
async function registryFixture() {
  return deployVeil(connection, 0);
}

describe("ModelRegistry", () => {
  let v: Awaited<ReturnType<typeof deployVeil>>;
  beforeEach(async () => {
    v = await networkHelpers.loadFixture(registryFixture);
  });

  it("registers a model with every field and a compact index", async () => {
    const id = randomId();
    const params = modelParams({ comparator: 1, precision: 6, redundancy: 3, royaltyBps: 250 });
    await expect(v.registry.connect(v.outsider).registerModel(id, params)).to.emit(v.registry, "ModelRegistered");
    const m = await v.registry.getModel(id);
    expect(m.owner).to.equal(v.outsider.address);
    expect(m.index).to.equal(2n);
    expect(m.precision).to.equal(6n);
    expect(m.profile.ortVersion).to.equal("1.30.0");
    expect(await v.registry.modelCount()).to.equal(2n);
    expect(await v.registry.modelIdAt(2n)).to.equal(id);
    expect(await v.registry.jobTerms(id)).to.deep.equal([2n, PRICE, 3n, true, 250n]); // index, price, k, active, royalty
    expect(await v.registry.payee(2n)).to.deep.equal([v.outsider.address, 250n]);
    expect(await v.registry.activeIndex(id)).to.equal(2n);
  });

  it("stores and emits the I/O signature, fixed at registration; empty is allowed; over 16 KiB reverts", async () => {
    const sig = '{"inputs":[{"dims":["N",16],"name":"x","type":"float32"}],"outputs":[{"dims":["N",4],"name":"y","type":"float32"}]}';
    const id = randomId();
    const params = modelParams({ ioSignature: sig, profile: { opset: 9, ortVersion: "1.30.0", executionProvider: "cpu", graphOptimizationLevel: 3, sequential: true } });
    await expect(v.registry.connect(v.outsider).registerModel(id, params))
      .to.emit(v.registry, "ModelRegistered")
      .withArgs(id, v.outsider.address, 2n, PRICE, 1_000n, 1n, 0n, 0n, "ipfs://model", [9n, "1.30.0", "cpu", 3n, true], sig);
    const m = await v.registry.getModel(id);
    expect(m.ioSignature).to.equal(sig);
    expect(m.profile.opset).to.equal(9n);
    // No function but registerModel takes the signature: it is as immutable as the bytes it describes.
    const writers = v.registry.interface.fragments.filter((f): f is FunctionFragment => FunctionFragment.isFragment(f) && f.stateMutability === "nonpayable");
    expect(writers.length).to.be.greaterThan(5);
    for (const f of writers) {
      const mentions = JSON.stringify(f.inputs.map((i) => i.format("full")));
      if (f.name !== "registerModel") expect(mentions, f.name).to.not.contain("ioSignature");
    }
    await v.registry.connect(v.outsider).setMetadataURI(id, "ipfs://x"); // owner setters leave it alone
    expect((await v.registry.getModel(id)).ioSignature).to.equal(sig);

    const bare = randomId();
    await v.registry.connect(v.outsider).registerModel(bare, modelParams({ ioSignature: "" }));
    expect((await v.registry.getModel(bare)).ioSignature).to.equal("");

    const max = Number(await v.registry.MAX_IO_SIGNATURE_BYTES());
    expect(max).to.equal(16_384);
    await v.registry.connect(v.outsider).registerModel(randomId(), modelParams({ ioSignature: "x".repeat(max) }));
    await expect(v.registry.connect(v.outsider).registerModel(randomId(), modelParams({ ioSignature: "é".repeat(max / 2) + "x" })))
      .to.be.revertedWithCustomError(v.registry, "ModelRegistrySignatureTooLong")
      .withArgs(max + 1, max);
  });

  it("registerModel revert paths", async () => {
    const r = v.registry.connect(v.outsider);
    await expect(r.registerModel(ethers.ZeroHash, modelParams())).to.be.revertedWithCustomError(v.registry, "ModelRegistryZeroId");
    await expect(r.registerModel(v.modelId, modelParams())).to.be.revertedWithCustomError(v.registry, "ModelRegistryAlreadyRegistered").withArgs(v.modelId);
    await expect(r.registerModel(randomId(), modelParams({ price: 0 }))).to.be.revertedWithCustomError(v.registry, "ModelRegistryZeroPrice");
    await expect(r.registerModel(randomId(), modelParams({ royaltyBps: 10_001 }))).to.be.revertedWithCustomError(v.registry, "ModelRegistryInvalidRoyalty").withArgs(10_001, 10_000);
    await expect(r.registerModel(randomId(), modelParams({ redundancy: 0 }))).to.be.revertedWithCustomError(v.registry, "ModelRegistryInvalidRedundancy").withArgs(0, 7);
    await expect(r.registerModel(randomId(), modelParams({ redundancy: 8 }))).to.be.revertedWithCustomError(v.registry, "ModelRegistryInvalidRedundancy").withArgs(8, 7);
    await expect(r.registerModel(randomId(), modelParams({ precision: 19 }))).to.be.revertedWithCustomError(v.registry, "ModelRegistryInvalidPrecision").withArgs(19, 18);
    await v.registry.setPaused(0, true);
    await expect(r.registerModel(randomId(), modelParams())).to.be.revertedWithCustomError(v.registry, "ActionPaused").withArgs(0);
    await v.registry.setPaused(0, false);
    await expect(r.registerModel(randomId(), modelParams())).to.emit(v.registry, "ModelRegistered");
  });

  it("owner setters emit and only the owner can call them", async () => {
    const o = v.registry.connect(v.modelOwner);
    const id = v.modelId;
    await expect(o.setPrice(id, 7n)).to.emit(v.registry, "ModelPriceUpdated").withArgs(id, PRICE, 7n);
    await expect(o.setPrice(id, 0n)).to.be.revertedWithCustomError(v.registry, "ModelRegistryZeroPrice");
    await expect(o.setRoyalty(id, 5n)).to.emit(v.registry, "ModelRoyaltyUpdated").withArgs(id, 5n);
    await expect(o.setRoyalty(id, 10_001n)).to.be.revertedWithCustomError(v.registry, "ModelRegistryInvalidRoyalty");
    await expect(o.setMetadataURI(id, "ipfs://new")).to.emit(v.registry, "ModelMetadataUpdated").withArgs(id, "ipfs://new");
    await expect(o.setActive(id, false)).to.emit(v.registry, "ModelActiveSet").withArgs(id, false);
    await expect(v.registry.activeIndex(id)).to.be.revertedWithCustomError(v.registry, "ModelRegistryUnknownModel").withArgs(id);
    await expect(o.transferModelOwnership(id, ethers.ZeroAddress)).to.be.revertedWithCustomError(v.registry, "ModelRegistryZeroAddress");
    await expect(o.transferModelOwnership(id, v.outsider.address)).to.emit(v.registry, "ModelOwnershipTransferred").withArgs(id, v.modelOwner.address, v.outsider.address);
    for (const call of [o.setPrice(id, 1n), o.setRoyalty(id, 1n), o.setActive(id, true), o.setMetadataURI(id, ""), o.transferModelOwnership(id, v.modelOwner.address)]) {
      await expect(call).to.be.revertedWithCustomError(v.registry, "ModelRegistryNotOwner").withArgs(id, v.modelOwner.address, v.outsider.address);
    }
    const unknown = randomId();
    await expect(o.setPrice(unknown, 1n)).to.be.revertedWithCustomError(v.registry, "ModelRegistryUnknownModel").withArgs(unknown);
  });

  it("views reject unknown ids and indices", async () => {
    const unknown = randomId();
    await expect(v.registry.getModel(unknown)).to.be.revertedWithCustomError(v.registry, "ModelRegistryUnknownModel").withArgs(unknown);
    await expect(v.registry.jobTerms(unknown)).to.be.revertedWithCustomError(v.registry, "ModelRegistryUnknownModel").withArgs(unknown);
    await expect(v.registry.activeIndex(unknown)).to.be.revertedWithCustomError(v.registry, "ModelRegistryUnknownModel").withArgs(unknown);
    await expect(v.registry.modelIdAt(0n)).to.be.revertedWithCustomError(v.registry, "ModelRegistryUnknownIndex").withArgs(0n);
    await expect(v.registry.modelIdAt(2n)).to.be.revertedWithCustomError(v.registry, "ModelRegistryUnknownIndex").withArgs(2n);
    await expect(v.registry.payee(5n)).to.be.revertedWithCustomError(v.registry, "ModelRegistryUnknownIndex").withArgs(5n);
  });
});
