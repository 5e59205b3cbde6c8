import { expect } from "chai";
import hre from "hardhat";
import { CONFIGS, DEFAULT_CYCLES, TOLERANCE, compareToSnapshot, measureGas, readSnapshot, type GasReport } from "../../bench/gas.js";

/** Coverage instruments the bytecode, which changes every figure: nothing to compare then. */
const COVERAGE = (hre.globalOptions as { coverage?: boolean }).coverage === true;
const UPDATE = "npx tsx --conditions=veil-source bench/gas.ts --update (npm run bench:gas -- --update), and commit snapshots/gas.json";

/**
 * The honest gas harness (bench/gas.ts, issue 16) against its committed snapshot: distinct result hashes, every
 * paid operator withdrawing each cycle, recycled records, on a deterministic chain (same contracts, same draws,
 * same figures). Fails when any step's or configuration's gas per job rises more than 2% above snapshots/gas.json.
 */
describe("gas snapshot (bench/gas.ts)", function () {
  this.timeout(600_000);
  let report: GasReport;
  before(async function () {
    if (COVERAGE) this.skip();
    report = await measureGas();
  });

  it(`no step and no configuration costs more than ${TOLERANCE * 100}% above snapshots/gas.json`, () => {
    const snapshot = readSnapshot();
    expect(snapshot.cycles, "the snapshot is taken with the cycles the suite measures").to.equal(DEFAULT_CYCLES);
    const off = compareToSnapshot(report, snapshot);
    expect(off, `gas rose above snapshots/gas.json (if intended, update it: ${UPDATE})`).to.deep.equal([]);
    // Figures well below the snapshot are not an error, but the snapshot should follow them down.
    const fell = Object.entries(report.steps).filter(([k, g]) => snapshot.steps[k] !== undefined && g < snapshot.steps[k]! * (1 - TOLERANCE));
    if (fell.length) console.log(`    gas fell more than ${TOLERANCE * 100}% (${fell.map(([k, g]) => `${k} ${snapshot.steps[k]} -> ${g}`).join("; ")}): ${UPDATE}`);
  });

  it("the gate fails on a step that rises more than 2%, naming it and the figures", () => {
    const snapshot = readSnapshot();
    const step = "k1.tens.submitResult";
    const raised: GasReport = { ...report, steps: { ...report.steps, [step]: Math.ceil(snapshot.steps[step]! * 1.021) + (report.floor.state.steps[step]! - snapshot.state.steps[step]!) } };
    const off = compareToSnapshot(raised, snapshot);
    expect(off).to.have.length(1);
    expect(off[0]).to.match(new RegExp(`^step ${step.replace(".", "\\.")}: \\d+ .*against the snapshot's ${snapshot.steps[step]}: \\+2\\.\\d\\d%`));
  });

  it("every figure is at or above this design's floor, and the JSON has the issue's shape", () => {
    for (const config of CONFIGS) {
      const [k, name] = config.split(".") as ["k1" | "k3", string];
      const measured = (report.perJob[k] as Record<string, number>)[name]!;
      const floor = (report.floor.perJob[k] as Record<string, number>)[name]!;
      expect(measured, config).to.be.at.least(floor);
      expect((report.ratio[k] as Record<string, number>)[name], config).to.be.within(1, 2);
    }
    for (const [step, g] of Object.entries(report.steps)) expect(g, step).to.be.at.least(report.floor.steps[step]!);
    expect(Object.keys(report.perJob.k1)).to.deep.equal(["alone", "tens", "batched"]);
    expect(Object.keys(report.perJob.k3)).to.deep.equal(["tens", "batched"]);
    expect(report.sizes.JobEscrow).to.be.within(1, 24_576);
  });
});
