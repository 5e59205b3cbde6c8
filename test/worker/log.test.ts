import { expect } from "chai";
import { spawn } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import {
  NESTED_SECRET_FIELDS,
  REDACT_DEPTH,
  REDACT_PATHS,
  SECRET_FIELDS,
  createLogger,
  redactUrl,
  type LogLevel,
} from "../../packages/worker/src/internal/log.js";

function capture(level: LogLevel = "trace") {
  const lines: string[] = [];
  const log = createLogger({ level, clock: () => Date.UTC(2024, 0, 2, 3, 4, 5, 678), stream: { write: (s: string) => lines.push(s) } });
  return { log, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("worker/internal/log", () => {
  it("writes one JSON object per line: level label, ISO time, bindings, then msg before the call's fields", () => {
    const { log, lines, records } = capture();
    log.child({ service: "veil-worker" }).info("shutdown complete", { reason: "SIGTERM", exitCode: 0, jobId: 7n });
    expect(lines).to.have.length(1);
    expect(lines[0]!.endsWith("}\n")).to.equal(true);
    expect(lines[0]).to.equal(
      '{"level":"info","time":"2024-01-02T03:04:05.678Z","service":"veil-worker","msg":"shutdown complete","reason":"SIGTERM","exitCode":0,"jobId":"7"}\n',
    );
    // What ops and the walkthrough grep for.
    expect(lines[0]).to.match(/"msg":"shutdown complete".*"exitCode":0/);
    expect(records()[0]).to.deep.equal({ time: "2024-01-02T03:04:05.678Z", level: "info", service: "veil-worker", msg: "shutdown complete", reason: "SIGTERM", exitCode: 0, jobId: "7" });
  });

  it("filters by level, shared by children, and can be changed at runtime", () => {
    const { log, records } = capture("warn");
    const child = log.child({ chainId: 1 });
    log.info("dropped");
    child.debug("dropped");
    child.warn("kept");
    log.level = "debug";
    child.debug("now kept");
    expect(records().map((r) => r.msg)).to.deep.equal(["kept", "now kept"]);
    expect(log.isLevelEnabled("trace")).to.equal(false);
    expect(() => (log.level = "loud" as LogLevel)).to.throw(TypeError);
    const silent = capture("silent");
    silent.log.fatal("nothing");
    expect(silent.lines).to.deep.equal([]);
  });

  it("child loggers bind fields; call fields win; reserved keys cannot be overridden", () => {
    const { log, records } = capture();
    const job = log.child({ chainId: 31337, jobId: "0x1" }).child({ slot: 2 });
    job.info("inferred", { slot: 3, ms: 12, level: "fake", msg: "fake", time: "fake" });
    expect(records()[0]).to.deep.equal({ time: "2024-01-02T03:04:05.678Z", level: "info", msg: "inferred", chainId: 31337, jobId: "0x1", slot: 3, ms: 12 });
    expect(job.bindings).to.deep.equal({ chainId: 31337, jobId: "0x1", slot: 2 });
  });

  it("redacts secret-named fields by pino configuration, in fields and bindings, but not look-alikes such as jobKey", () => {
    const { log, lines } = capture();
    log.child({ keystorePassword: "bound-secret", chainId: 1 }).info("config", {
      privateKey: "0xdeadbeefcafe",
      nested: { keystore_password: "hunter2", deeper: [{ apiKey: "k-123", "x-api-key": "k-456" }], authorization: "Bearer abc" },
      mnemonic: "test test test",
      VEIL_PRIVATE_KEY: "0xenv",
      jobKey: "31337/1/0",
      keyCount: 3,
      publicKey: "0x04ab",
      encryptionKey: "0xpub",
      tokenAddress: "0xtoken",
      secret: undefined,
      password: "",
    });
    const text = lines[0]!;
    for (const s of ["deadbeefcafe", "hunter2", "k-123", "k-456", "Bearer abc", "test test test", "bound-secret", "0xenv"]) expect(text).to.not.include(s);
    const rec = JSON.parse(text) as Record<string, any>;
    expect(rec.privateKey).to.equal("[REDACTED]");
    expect(rec.keystorePassword).to.equal("[REDACTED]");
    expect(rec.nested.deeper[0].apiKey).to.equal("[REDACTED]");
    expect(rec.nested.deeper[0]["x-api-key"]).to.equal("[REDACTED]");
    expect(rec).to.include({ jobKey: "31337/1/0", keyCount: 3, publicKey: "0x04ab", encryptionKey: "0xpub", tokenAddress: "0xtoken", chainId: 1 });
    // An unset secret stays visibly unset.
    expect(rec).to.not.have.property("secret");
    expect(rec.password).to.equal("");
  });

  it("censors a private key at every depth the redact paths cover (objects and arrays), and every listed name at the top", () => {
    const { log, lines } = capture();
    const KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    // depth 0: { privateKey }, 1: { a: { privateKey } }, 2: { a: [{ privateKey }] }, 3: { a: [{ b: { privateKey } }] }, …
    const nest = (depth: number, leaf: Record<string, unknown>): Record<string, unknown> =>
      ["a", "0", "b", "c"].slice(0, depth).reduceRight<unknown>((v, seg) => (seg === "0" ? [v] : { [seg]: v }), leaf) as Record<string, unknown>;
    for (const name of NESTED_SECRET_FIELDS) {
      for (let depth = 0; depth <= REDACT_DEPTH; depth++) log.info("nested", nest(depth, { [name]: KEY, keep: name }));
    }
    for (const name of SECRET_FIELDS) log.info("top", { [name]: KEY, keep: name });
    expect(lines).to.have.length(NESTED_SECRET_FIELDS.length * (REDACT_DEPTH + 1) + SECRET_FIELDS.length);
    for (const line of lines) {
      expect(line, line).to.not.include(KEY.slice(2, 20));
      expect(line).to.include('"[REDACTED]"');
    }
    expect(REDACT_PATHS).to.include.members(["privateKey", "*.privateKey", "*.*.privateKey", "*.*.*.privateKey", '*.*.*["x-api-key"]']);
    // Beyond the configured depth the field is not looked for (the bound is part of the configuration).
    log.info("too deep", nest(REDACT_DEPTH + 1, { privateKey: "0xbeyond" }));
    expect(lines.at(-1)).to.include("0xbeyond");
  });

  it("serialises errors (with cause and code), bytes, bigints, dates, maps and cycles safely", () => {
    const { log, records } = capture();
    const cause = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    log.error("rpc failed", {
      err: new Error("request failed", { cause }),
      data: new Uint8Array([0xde, 0xad]),
      big: new Uint8Array(100),
      at: new Date(0),
      m: new Map([["a", 1n]]),
      cyclic,
      fn: () => 1,
      nan: Number.NaN,
    });
    const r = records()[0] as Record<string, any>;
    expect(r.err).to.include({ type: "Error", message: "request failed" });
    expect(r.err.stack).to.be.a("string");
    expect(r.err.cause).to.include({ message: "connect ECONNREFUSED", code: "ECONNREFUSED" });
    expect(r.data).to.equal("0xdead");
    expect(r.big).to.match(/…\(100 bytes\)$/);
    expect(r.at).to.equal("1970-01-01T00:00:00.000Z");
    expect(r.m).to.deep.equal({ a: "1" });
    expect(r.cyclic).to.deep.equal({ name: "loop", self: "[Circular]" });
    expect(r).to.not.have.property("fn");
    expect(r.nan).to.equal("NaN");
  });

  it("loses no line when the process exits right after logging (synchronous stdout)", async function () {
    this.timeout(20_000);
    const url = pathToFileURL(path.resolve("packages/worker/src/internal/log.ts")).href;
    const script = `import { createLogger } from ${JSON.stringify(url)};
      const log = createLogger({ bindings: { service: "veil-worker" } });
      for (let i = 0; i < 5000; i++) log.info("line", { i, pad: "x".repeat(200) });
      log.info("shutdown complete", { exitCode: 0 });
      process.exit(0);`;
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx/esm"), "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    // Read slowly at first, so the pipe fills up while the child is writing.
    child.stdout.pause();
    setTimeout(() => child.stdout.resume(), 300);
    const code = await new Promise((resolve) => child.on("close", resolve));
    expect(code).to.equal(0);
    const lines = out.trimEnd().split("\n");
    expect(lines).to.have.length(5001);
    expect(lines.at(-1)).to.match(/"msg":"shutdown complete".*"exitCode":0/);
  });

  it("never throws, even when the stream or a getter does", () => {
    const broken = createLogger({ stream: { write: () => { throw new Error("EPIPE"); } } });
    expect(() => broken.info("x")).to.not.throw();
    const { log, records } = capture();
    const evil = { get boom() { throw new Error("getter"); } };
    expect(() => log.info("evil", { evil })).to.not.throw();
    expect(records()[0]).to.include({ msg: "evil", level: "info" });
  });

  it("strips credentials from RPC URLs", () => {
    expect(redactUrl("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef")).to.equal("https://mainnet.infura.io/v3/***");
    expect(redactUrl("wss://u:p@node.example:8546/ws?token=abc&x=1")).to.equal("wss://***:***@node.example:8546/ws?token=***&x=***");
    expect(redactUrl("http://127.0.0.1:8545")).to.equal("http://127.0.0.1:8545/");
    expect(redactUrl("not a url")).to.equal("[REDACTED]");
  });
});
