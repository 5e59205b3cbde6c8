import { expect } from "chai";
import { createLogger, isSecretFieldName, redactUrl, type LogLevel } from "../../packages/worker/src/internal/log.js";

function capture(level: LogLevel = "trace") {
  const lines: string[] = [];
  const log = createLogger({ level, clock: () => Date.UTC(2024, 0, 2, 3, 4, 5, 678), stream: { write: (s: string) => lines.push(s) } });
  return { log, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("worker/internal/log", () => {
  it("writes one JSON object per line with time, level and msg first", () => {
    const { log, lines, records } = capture();
    log.info("job assigned", { jobId: 7n, slot: 0 });
    expect(lines).to.have.length(1);
    expect(lines[0]!.endsWith("\n")).to.equal(true);
    expect(lines[0]!.startsWith('{"time":"2024-01-02T03:04:05.678Z","level":"info","msg":"job assigned"')).to.equal(true);
    expect(records()[0]).to.deep.equal({ time: "2024-01-02T03:04:05.678Z", level: "info", msg: "job assigned", jobId: "7", slot: 0 });
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

  it("redacts secret-named fields at any depth, but not look-alikes such as jobKey", () => {
    const { log, lines } = capture();
    log.info("config", {
      privateKey: "0xdeadbeefcafe",
      nested: { keystore_password: "hunter2", deeper: [{ apiKey: "k-123", "x-api-key": "k-456" }], authorization: "Bearer abc" },
      mnemonic: "test test test",
      jobKey: "31337/1/0",
      keyCount: 3,
      secret: undefined,
    });
    const text = lines[0]!;
    for (const s of ["deadbeefcafe", "hunter2", "k-123", "k-456", "Bearer abc", "test test test"]) expect(text).to.not.include(s);
    const rec = JSON.parse(text) as Record<string, any>;
    expect(rec.privateKey).to.equal("[REDACTED]");
    expect(rec.nested.deeper[0].apiKey).to.equal("[REDACTED]");
    expect(rec.jobKey).to.equal("31337/1/0");
    expect(rec.keyCount).to.equal(3);
    for (const n of ["privateKey", "PRIVATE_KEY", "keystorePassword", "clientSecret", "key", "seedPhrase", "accessToken"]) expect(isSecretFieldName(n), n).to.equal(true);
    for (const n of ["jobKey", "keyCount", "publicKey", "encryptionKey", "tokenAddress", "salt"]) expect(isSecretFieldName(n), n).to.equal(false);
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
