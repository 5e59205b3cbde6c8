import { expect } from "chai";
import { network } from "hardhat";
import { now } from "../helpers/fixture.js";

const connection = await network.create({ network: "hardhat", chainType: "l1" });
const { ethers, networkHelpers } = connection;

describe("VeilToken", () => {
  async function deploy() {
    const [holder, alice, bob] = await ethers.getSigners();
    const token = await ethers.deployContract("VeilToken", [holder.address, 1_000n]);
    return { token, holder, alice, bob };
  }

  it("mints the fixed supply once to the recipient", async () => {
    const { token, holder } = await networkHelpers.loadFixture(deploy);
    expect(await token.totalSupply()).to.equal(1_000n);
    expect(await token.balanceOf(holder.address)).to.equal(1_000n);
    expect(await token.name()).to.equal("Veil");
    expect(await token.symbol()).to.equal("VEIL");
  });

  it("EIP-6372: clock is the block timestamp, in timestamp mode", async () => {
    const { token } = await networkHelpers.loadFixture(deploy);
    expect(await token.CLOCK_MODE()).to.equal("mode=timestamp");
    expect(await token.clock()).to.equal(await now(connection));
  });

  it("votes: delegation checkpoints by timestamp and follows transfers", async () => {
    const { token, holder, alice, bob } = await networkHelpers.loadFixture(deploy);
    await token.delegate(holder.address);
    const t0 = await now(connection);
    await networkHelpers.time.increase(100);
    await token.transfer(alice.address, 300n);
    const t1 = await now(connection);
    await token.connect(alice).delegate(bob.address);
    await networkHelpers.time.increase(10);
    expect(await token.getVotes(holder.address)).to.equal(700n);
    expect(await token.getVotes(bob.address)).to.equal(300n);
    expect(await token.getPastVotes(holder.address, t0)).to.equal(1_000n);
    expect(await token.getPastVotes(holder.address, t1)).to.equal(700n);
    expect(await token.getPastTotalSupply(t0)).to.equal(1_000n);
    const future = (await now(connection)) + 1n;
    await expect(token.getPastVotes(holder.address, future)).to.be.revertedWithCustomError(token, "ERC5805FutureLookup").withArgs(future, future - 1n);
  });

  it("permit: sets the allowance, bumps the nonce, rejects replay and expiry", async () => {
    const { token, holder, alice } = await networkHelpers.loadFixture(deploy);
    const chainId = (await ethers.provider.getNetwork()).chainId;
    const domain = { name: "Veil", version: "1", chainId, verifyingContract: await token.getAddress() };
    const types = { Permit: [{ name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }] };
    const deadline = (await now(connection)) + 100n;
    const value = { owner: holder.address, spender: alice.address, value: 50n, nonce: 0n, deadline };
    const sig = ethers.Signature.from(await holder.signTypedData(domain, types, value));
    await token.permit(holder.address, alice.address, 50n, deadline, sig.v, sig.r, sig.s);
    expect(await token.allowance(holder.address, alice.address)).to.equal(50n);
    expect(await token.nonces(holder.address)).to.equal(1n);
    await expect(token.permit(holder.address, alice.address, 50n, deadline, sig.v, sig.r, sig.s)).to.be.revertedWithCustomError(token, "ERC2612InvalidSigner");
    // Another chain id in the domain: the signature recovers someone else.
    const other = ethers.Signature.from(await holder.signTypedData({ ...domain, chainId: chainId + 1n }, types, { ...value, nonce: 1n }));
    await expect(token.permit(holder.address, alice.address, 50n, deadline, other.v, other.r, other.s)).to.be.revertedWithCustomError(token, "ERC2612InvalidSigner");
    await networkHelpers.time.increase(200);
    const late = ethers.Signature.from(await holder.signTypedData(domain, types, { ...value, nonce: 1n }));
    await expect(token.permit(holder.address, alice.address, 50n, deadline, late.v, late.r, late.s)).to.be.revertedWithCustomError(token, "ERC2612ExpiredSignature").withArgs(deadline);
  });
});
