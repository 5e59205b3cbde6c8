import { expect } from "chai";
import { network } from "hardhat";
const { ethers } = await network.connect();
describe("smoke", () => { it("sets", async () => { const s = await ethers.deployContract("Smoke"); await s.set(3n); expect(await s.x()).to.equal(3n); }); });
