import { expect } from "chai";
import { readFileSync } from "node:fs";
import { renderAbis } from "../../scripts/generate-abis.js";

describe("generated ABIs", () => {
  it("sdk/src/generated/abis.ts equals a fresh render from the artifacts (run `npx tsx scripts/generate-abis.ts`)", () => {
    const committed = readFileSync(new URL("../../sdk/src/generated/abis.ts", import.meta.url), "utf8");
    expect(committed === renderAbis(), "sdk/src/generated/abis.ts is stale: run `npx hardhat build && npx tsx scripts/generate-abis.ts`").to.equal(true);
  });
});
