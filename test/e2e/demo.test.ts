/**
 * `npm run demo` as a newcomer runs it: a real child process, checked through its `--json` summary (the last line of
 * stdout) and its exit code.
 */
import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import * as ort from "onnxruntime-node";
import { buildMlpModel } from "../../packages/worker/src/models/generate.js";
import { rawDataSha256, type Tensor } from "../../packages/sdk/src/tensor.js";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");

async function demo(args: string[]) {
  const { stdout } = await run("npm", ["run", "--silent", "demo", "--", "--json", ...args], { cwd: ROOT, maxBuffer: 16 << 20 });
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

describe("npm run demo", function () {
  this.timeout(300_000);
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), "veil-demo-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs mixed k=1/k=3, allowance- and deposit-paid jobs to finalization and reports the summary", async () => {
    const s = await demo(["--jobs", "8"]);
    expect(s.jobsSubmitted).to.equal(8);
    expect(s.jobsFinalized).to.equal(8);
    expect(s.jobsRefunded).to.equal(0);
    expect(s.jobsDisputed).to.equal(0);
    expect(s.gasPerJob.total).to.be.greaterThan(0);
    expect(s.gasPerJob).to.have.property("submitResult");
    expect(s.gasPerJob).to.have.property("commit");
    expect(s.latencyMs.p95).to.be.at.least(s.latencyMs.p50);
    expect(s.slashes).to.deep.equal([]);
    // Fees are credited in the escrow's FeeLedger, which the summary names.
    expect(s.ledger).to.match(/^0x[0-9a-fA-F]{40}$/);
  });

  it("--adversarial: the operator altering outputs is caught by disagreement, outvoted and slashed", async () => {
    const s = await demo(["--adversarial", "--jobs", "4"]);
    expect(s.jobsDisputed).to.be.at.least(1);
    expect(s.slashes.length).to.be.at.least(1);
    const liars = new Set(s.slashes.map((x: { operator: string }) => x.operator));
    expect(liars.size).to.equal(1);
    expect(s.jobsFinalized + s.jobsRefunded).to.equal(s.jobsSubmitted);
  });

  it("--model/--input: any ONNX model through the network, outputs verified against raw ONNX Runtime", async () => {
    const mlp = buildMlpModel({ seed: 5 });
    const file = path.join(dir, "m.onnx");
    writeFileSync(file, mlp.bytes);
    const x = Array.from({ length: 16 }, (_, i) => i / 10 - 0.7);
    writeFileSync(path.join(dir, "in.json"), JSON.stringify({ x: { type: "float32", dims: [1, 16], data: x } }));
    const s = await demo(["--model", file, "--input", path.join(dir, "in.json"), "--jobs", "2", "--redundancy", "3"]);
    expect(s.jobsFinalized).to.equal(2);
    const session = await ort.InferenceSession.create(mlp.bytes, { executionMode: "sequential", intraOpNumThreads: 1, graphOptimizationLevel: "all" });
    const y = (await session.run({ x: new ort.Tensor("float32", Float32Array.from(x), [1, 16]) })).y!;
    const expected: Tensor = { type: "float32", dims: [1, 4], data: y.data as Float32Array };
    expect(s.outputs.y).to.deep.equal({ type: "float32", dims: [1, 4], dataSha256: rawDataSha256(expected) });
  });
});
