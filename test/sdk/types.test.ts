import { expect } from "chai";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("SDK types", () => {
  it("the core entry and the type tests (test/sdk/types.test-d.ts) compile without Node types", function () {
    this.timeout(120_000);
    const tsc = path.join(root, "node_modules/typescript/bin/tsc");
    const r = spawnSync(process.execPath, [tsc, "--noEmit", "-p", "packages/sdk/tsconfig.json"], { cwd: root, encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
  });
});
