/**
 * The worker's task lifecycle (tasks/task.ts): setup in order (a failed setup is fatal and cleans up what was set
 * up), supervised runs (a run that throws is restarted with a doubling backoff, the others carry on), stop in
 * reverse order, then cleanup in reverse order.
 */
import { expect } from "chai";
import { TaskRunner, type WorkerTask } from "../../packages/worker/src/tasks/task.js";
import { nullLogger } from "../../packages/worker/src/internal/log.js";

function task(name: string, journal: string[], o: { failSetup?: boolean; failRuns?: number } = {}): WorkerTask & { runs: number } {
  let release: () => void = () => {};
  const t = {
    name,
    runs: 0,
    async setup() {
      journal.push(`setup ${name}`);
      if (o.failSetup) throw new Error(`${name} cannot set up`);
    },
    async run() {
      t.runs++;
      if (t.runs <= (o.failRuns ?? 0)) throw new Error(`${name} run ${t.runs} failed`);
      journal.push(`run ${name}`);
      await new Promise<void>((r) => (release = r));
    },
    async stop() {
      journal.push(`stop ${name}`);
      release();
    },
    async cleanup() {
      journal.push(`cleanup ${name}`);
    },
  };
  return t;
}

describe("worker/tasks: TaskRunner", () => {
  it("sets up in order, runs side by side, stops and cleans up in reverse order", async () => {
    const journal: string[] = [];
    const runner = new TaskRunner([task("listener", journal), task("poster", journal), task("settler", journal)], nullLogger());
    await runner.setup();
    runner.start();
    await new Promise((r) => setTimeout(r, 10));
    await runner.stop();
    expect(journal).to.deep.equal([
      "setup listener", "setup poster", "setup settler",
      "run listener", "run poster", "run settler",
      "stop settler", "stop poster", "stop listener",
      "cleanup settler", "cleanup poster", "cleanup listener",
    ]);
    await runner.stop(); // idempotent
    expect(journal).to.have.length(12);
  });

  it("a failed setup is fatal: the tasks already set up are cleaned up (reverse order), later ones never set up", async () => {
    const journal: string[] = [];
    const runner = new TaskRunner([task("a", journal), task("b", journal), task("c", journal, { failSetup: true }), task("d", journal)], nullLogger());
    const err = await runner.setup().then(() => undefined, (e: Error) => e);
    expect(err?.message).to.equal("c cannot set up");
    expect(journal).to.deep.equal(["setup a", "setup b", "setup c", "cleanup b", "cleanup a"]);
  });

  it("a run that throws is restarted with a doubling backoff while the other tasks carry on", async () => {
    const journal: string[] = [];
    const flaky = task("settler", journal, { failRuns: 3 });
    const steady = task("listener", journal);
    const runner = new TaskRunner([steady, flaky], nullLogger(), 5); // 5, 10, 20 ms
    await runner.setup();
    const t0 = Date.now();
    runner.start();
    while (flaky.runs < 4) await new Promise((r) => setTimeout(r, 2));
    expect(Date.now() - t0, "three backoffs: 5 + 10 + 20 ms at least").to.be.at.least(35);
    expect(steady.runs, "the listener ran once, undisturbed").to.equal(1);
    await new Promise((r) => setTimeout(r, 5));
    expect(journal.filter((l) => l.startsWith("run"))).to.have.members(["run listener", "run settler"]);
    await runner.stop();
    expect(journal.slice(-4)).to.deep.equal(["stop settler", "stop listener", "cleanup settler", "cleanup listener"]);
  });

  it("stop ends a restart backoff at once", async () => {
    const journal: string[] = [];
    const broken = task("validator", journal, { failRuns: Infinity });
    const runner = new TaskRunner([broken], nullLogger(), 60_000);
    await runner.setup();
    runner.start();
    while (broken.runs < 1) await new Promise((r) => setTimeout(r, 2));
    const t0 = Date.now();
    await runner.stop();
    expect(Date.now() - t0).to.be.lessThan(5_000);
    expect(broken.runs).to.equal(1);
    expect(journal).to.deep.equal(["setup validator", "stop validator", "cleanup validator"]);
  });
});
