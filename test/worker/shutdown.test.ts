import { expect } from "chai";
import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createLogger } from "../../packages/worker/src/internal/log.js";
import { createShutdown, type StopContext } from "../../packages/worker/src/internal/shutdown.js";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe("worker/internal/shutdown", function () {
  describe("in-process (injected exit and signal source)", () => {
    let source: EventEmitter;
    let exits: number[];
    let logs: Array<Record<string, unknown>>;
    const make = (graceMs = 1000, extra: Parameters<typeof createShutdown>[0] = {}) =>
      createShutdown({
        graceMs,
        source,
        exit: (c) => exits.push(c),
        logger: createLogger({ level: "debug", stream: { write: (l: string) => logs.push(JSON.parse(l)) } }),
        ...extra,
      });

    beforeEach(() => {
      source = new EventEmitter();
      exits = [];
      logs = [];
    });

    it("stops components in reverse registration order on SIGTERM and exits 0", async () => {
      const sd = make();
      const order: string[] = [];
      const contexts: StopContext[] = [];
      for (const name of ["store", "http", "processor"]) {
        sd.register({
          name,
          stop: async (ctx) => {
            contexts.push(ctx);
            expect(sd.signal.aborted, "loops are told first").to.equal(true);
            await tick(5);
            order.push(name);
          },
        });
      }
      expect(sd.started).to.equal(false);
      source.emit("SIGTERM");
      expect(await sd.done).to.equal(0);
      expect(order).to.deep.equal(["processor", "http", "store"]);
      expect(exits).to.deep.equal([0]);
      expect(contexts.every((c) => c.reason === "SIGTERM" && c.remainingMs > 0 && c.remainingMs <= 1000)).to.equal(true);
      expect(contexts[2]!.remainingMs).to.be.below(contexts[0]!.remainingMs + 1);
      expect(logs.map((l) => l.msg)).to.include("shutdown complete");
      sd.dispose();
    });

    it("keeps stopping the rest when one component throws, then exits 1", async () => {
      const sd = make();
      const order: string[] = [];
      sd.register({ name: "a", stop: () => void order.push("a") });
      sd.register({
        name: "b",
        stop: () => {
          throw new Error("b broke");
        },
      });
      sd.register({ name: "c", stop: async () => void order.push("c") });
      expect(await sd.run("test")).to.equal(1);
      expect(order).to.deep.equal(["c", "a"]);
      expect(exits).to.deep.equal([1]);
      expect(logs.find((l) => l.msg === "component failed to stop")).to.deep.include({ component: "b" });
      sd.dispose();
    });

    it("forces exit 1 when the grace period runs out, aborting the hung component's signal", async () => {
      const sd = make(80);
      let stoppedFirst = false;
      let hungSignal: AbortSignal | undefined;
      sd.register({ name: "first", stop: () => void (stoppedFirst = true) });
      sd.register({
        name: "hung",
        stop: (ctx) => {
          hungSignal = ctx.signal;
          return new Promise(() => {});
        },
      });
      const t0 = Date.now();
      expect(await sd.run("test")).to.equal(1);
      expect(Date.now() - t0).to.be.within(70, 500);
      expect(stoppedFirst, "exit is forced, later components are not awaited").to.equal(false);
      expect(hungSignal!.aborted).to.equal(true);
      expect(exits).to.deep.equal([1]);
      expect(logs.find((l) => l.level === "error")).to.deep.include({ component: "hung" });
      sd.dispose();
    });

    it("a second signal forces exit 1 immediately", async () => {
      const sd = make(10_000);
      sd.register({ name: "slow", stop: async () => void (await tick(300)) });
      source.emit("SIGINT");
      await tick(10);
      source.emit("SIGINT");
      expect(await sd.done).to.equal(1);
      expect(exits).to.deep.equal([1]);
      await sd.run("again"); // the sequence finishes quietly; exit is never called twice
      await tick(350);
      expect(exits).to.deep.equal([1]);
      sd.dispose();
    });

    it("run() is idempotent, honours a requested exit code, and registration closes once started", async () => {
      const sd = make();
      let n = 0;
      const unregister = sd.register({ name: "gone", stop: () => void n++ });
      sd.register({ name: "kept", stop: () => void n++ });
      unregister();
      const a = sd.run("fatal error", 1);
      const b = sd.run("again");
      expect(a).to.equal(b);
      expect(await a).to.equal(1);
      expect(n).to.equal(1);
      expect(() => sd.register({ name: "late", stop: () => {} })).to.throw(/already started/);
      expect(exits).to.deep.equal([1]);
      sd.dispose();
    });

    it("installs its handlers once per process and removes them on dispose", () => {
      const sd = make();
      expect(source.listenerCount("SIGTERM")).to.equal(1);
      expect(source.listenerCount("SIGINT")).to.equal(1);
      expect(() => make()).to.throw(/already installed/);
      sd.dispose();
      expect(source.listenerCount("SIGTERM")).to.equal(0);
      const again = make();
      expect(source.listenerCount("SIGTERM")).to.equal(1);
      again.dispose();
      // No handlers at all when asked (embedding in another program).
      const quiet = make(1000, { signals: [] });
      expect(source.listenerCount("SIGTERM")).to.equal(0);
      quiet.dispose();
    });

    it("optionally turns an uncaught exception into a shutdown with exit 1", async () => {
      const sd = make(1000, { catchFatal: true });
      let stopped = false;
      sd.register({ name: "x", stop: () => void (stopped = true) });
      source.emit("uncaughtException", new Error("kaboom"));
      expect(await sd.done).to.equal(1);
      expect(stopped).to.equal(true);
      expect(logs.find((l) => l.level === "fatal")).to.have.nested.property("err.message", "kaboom");
      sd.dispose();
    });

    it("validates graceMs", () => {
      expect(() => createShutdown({ graceMs: -1, signals: [] })).to.throw(RangeError);
    });
  });

  describe("a real child process receiving real signals", function () {
    this.timeout(15_000);
    let dir: string;
    const tsxLoader = import.meta.resolve("tsx/esm");
    const shutdownUrl = pathToFileURL(path.resolve("packages/worker/src/internal/shutdown.ts")).href;

    before(() => {
      dir = mkdtempSync(path.join(tmpdir(), "veil-shutdown-"));
      writeFileSync(
        path.join(dir, "child.mjs"),
        `
        import { createShutdown } from ${JSON.stringify(shutdownUrl)};
        const mode = process.argv[2];
        const sd = createShutdown({ graceMs: mode === "hang" ? 200 : 5000 });
        const keepAlive = setInterval(() => {}, 1000); // a "worker loop" that keeps the process alive
        sd.register({ name: "loop", stop: () => { clearInterval(keepAlive); console.log("stopped loop"); } });
        sd.register({ name: "http", stop: async () => {
          if (mode === "hang") return new Promise(() => {});
          await new Promise((r) => setTimeout(r, mode === "slow" ? 2000 : 20));
          console.log("stopped http");
        } });
        console.log("ready");
        `,
      );
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    function run(mode: string, signals: NodeJS.Signals[]): Promise<{ code: number | null; out: string; ms: number }> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", tsxLoader, path.join(dir, "child.mjs"), mode], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        let t0 = 0;
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("ready") && t0 === 0) {
            t0 = Date.now();
            signals.forEach((s, i) => setTimeout(() => child.kill(s), i * 100));
          }
        });
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("error", reject);
        child.on("exit", (code) => (t0 === 0 ? reject(new Error(`child died before ready: ${err}`)) : resolve({ code, out, ms: Date.now() - t0 })));
      });
    }

    it("SIGTERM: stops in reverse order and exits 0", async () => {
      const r = await run("clean", ["SIGTERM"]);
      expect(r.code).to.equal(0);
      expect(r.out.trim().split("\n")).to.deep.equal(["ready", "stopped http", "stopped loop"]);
    });

    it("a component that never stops: forced exit 1 after the grace", async () => {
      const r = await run("hang", ["SIGTERM"]);
      expect(r.code).to.equal(1);
      expect(r.out).to.not.include("stopped loop");
      expect(r.ms).to.be.within(150, 3000);
    });

    it("a second SIGINT while stopping: immediate exit 1", async () => {
      const r = await run("slow", ["SIGINT", "SIGINT"]);
      expect(r.code).to.equal(1);
      expect(r.ms).to.be.below(1500);
      expect(r.out).to.not.include("stopped http");
    });
  });
});
