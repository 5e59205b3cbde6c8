import { expect } from "chai";
import { readFileSync } from "node:fs";
import { renderAbis } from "../../scripts/generate-abis.js";

describe("generated ABIs", () => {
  it("packages/contracts/src/abis.ts equals a fresh render from the artifacts (run `npx tsx scripts/generate-abis.ts`)", () => {
    const committed = readFileSync(new URL("../../packages/contracts/src/abis.ts", import.meta.url), "utf8");
    expect(committed === renderAbis(), "packages/contracts/src/abis.ts is stale: run `npx hardhat build && npx tsx scripts/generate-abis.ts`").to.equal(true);
  });
});
