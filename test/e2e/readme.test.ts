import { expect } from "chai";
import { readFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("README", () => {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  it("embeds examples/sdk-main-flow.ts verbatim (the walkthrough test runs that file)", () => {
    const example = readFileSync(path.join(ROOT, "examples/sdk-main-flow.ts"), "utf8").trimEnd();
    expect(readme).to.contain("```ts\n" + example + "\n```");
  });
  it("names exactly the install and test commands that .ci/run runs", () => {
    const ci = readFileSync(path.join(ROOT, ".ci/run"), "utf8");
    for (const cmd of ["npm install", "npm test"]) {
      expect(readme).to.contain(cmd);
      expect(ci).to.match(new RegExp(`^${cmd}$`, "m"));
    }
  });
});
