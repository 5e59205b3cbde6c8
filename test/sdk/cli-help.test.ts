/**
 * The CLI's command table without a chain: per-command help, strict per-command options, one flag vocabulary with
 * the old names as aliases, durations and times in people's units.
 */
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { formatJobId, main, readJobId } from "../../packages/cli/src/main.js";
import { COMMANDS, GLOBAL_OPTIONS, usageLine } from "../../packages/cli/src/commands.js";
import { CLI_DOC, renderCliReference, updateCliDoc } from "../../scripts/cli-docs.js";
import { formatDuration, formatWhen, parseDuration } from "../../packages/cli/src/time.js";

async function run(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), isTTY: false });
  return { code, stdout, stderr };
}

describe("veil CLI: help, options and units (no chain)", () => {
  it("prints a command's own help, not the global text, for --help, -h and `veil help`", async () => {
    for (const argv of [["job", "submit", "--help"], ["job", "submit", "-h"], ["help", "job", "submit"]]) {
      const r = await run(argv);
      expect(r.code, argv.join(" ")).to.equal(0);
      expect(r.stdout).to.match(/^Usage: veil job submit --model <modelId> --input <file\.json> \[options\]\n/);
      expect(r.stdout).to.contain("--max-fee <fee units>");
      expect(r.stdout).to.contain("--rpc-url <url>");
      expect(r.stdout).to.not.contain("veil credits mint"); // not the global text
    }
  });

  it("every command has help listing exactly the options it accepts", async () => {
    for (const c of COMMANDS) {
      if (c.name === "node start") continue; // the worker prints its own
      const r = await run([...c.name.split(" "), "--help"]);
      expect(r.code, c.name).to.equal(0);
      expect(r.stdout.split("\n")[0], c.name).to.match(new RegExp(`^Usage: ${usageLine(c).replace(/[[\]]/g, "\\$&")}( \\[options\\])?$`));
      // The flags at the start of each line of the "Options:" section: the command's own, and help.
      const section = r.stdout.split("\nOptions:\n")[1]!.split("\n\n")[0]!;
      const listed = [...section.matchAll(/^ {2}(?:-h, )?--([a-z-]+)/gm)].map((m) => m[1]);
      expect(listed, c.name).to.deep.equal([...Object.keys(c.options), "help"]);
      const globals = r.stdout.split("\nGlobal Options:\n")[1]!.split("\n\n")[0]!;
      expect([...globals.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]), c.name).to.deep.equal(["rpc-url", "private-key", "deployment", "json"]);
    }
  });

  it("`veil` alone prints the overview (exit 0); a group without a command prints the group's help as a usage error", async () => {
    const top = await run([]);
    expect(top.code).to.equal(0);
    for (const c of COMMANDS) expect(top.stdout, c.name).to.contain(usageLine(c));
    const group = await run(["job"]);
    expect(group.code).to.equal(2);
    expect(group.stderr).to.contain("veil job status <jobId>");
  });

  it("checks required options, arguments and choices before the command runs (exit 2)", async () => {
    const noInput = await run(["job", "submit", "--model", "0x" + "11".repeat(32), "--rpc-url", "http://127.0.0.1:9"]);
    expect(noInput.code).to.equal(2);
    expect(noInput.stderr).to.equal("error: UsageError: missing --input <file.json> for `veil job submit`\nrun `veil job submit --help` for usage\n");
    const noId = await run(["job", "status"]);
    expect(noId.code).to.equal(2);
    expect(noId.stderr).to.contain("missing <jobId> for `veil job status`");
    const pay = await run(["job", "submit", "--model", "0x12", "--input", "in.json", "--pay", "cash", "--json"]);
    expect(pay.code).to.equal(2);
    expect(JSON.parse(pay.stdout).error.name).to.equal("UsageError");
    expect(pay.stderr).to.contain("'cash' is invalid. Allowed choices are transfer, deposit, permit, allowance, auto");
  });

  it("reads the global options from the environment when the flag is absent; a flag (or its alias) wins", async () => {
    const saved = process.env.VEIL_RPC_URL;
    process.env.VEIL_RPC_URL = "http://127.0.0.1:9";
    try {
      const fromEnv = await run(["job", "status", "1"]);
      expect(fromEnv.code).to.equal(1);
      expect(fromEnv.stderr).to.contain("cannot reach the RPC endpoint http://127.0.0.1:9 ");
      for (const flag of ["--rpc-url", "--rpc"]) {
        const r = await run(["job", "status", "1", flag, "http://127.0.0.1:7"]);
        expect(r.code, flag).to.equal(1);
        expect(r.stderr, flag).to.contain("cannot reach the RPC endpoint http://127.0.0.1:7 ");
      }
    } finally {
      if (saved === undefined) delete process.env.VEIL_RPC_URL;
      else process.env.VEIL_RPC_URL = saved;
    }
  });

  it("docs/cli.md's reference is generated from the command table (run `npx tsx scripts/cli-docs.ts --write`)", () => {
    const doc = readFileSync(CLI_DOC, "utf8");
    for (const c of COMMANDS) expect(renderCliReference(), c.name).to.contain(`#### \`${usageLine(c)}\``);
    expect(updateCliDoc(doc) === doc, "docs/cli.md is stale: run `npx tsx scripts/cli-docs.ts --write`").to.equal(true);
  });

  it("a group's help lists its commands", async () => {
    const r = await run(["credits", "--help"]);
    expect(r.code).to.equal(0);
    for (const c of ["mint", "burn", "allowance", "grant-agent", "revoke-agent"]) expect(r.stdout).to.contain(`veil credits ${c}`);
  });

  it("rejects an option the command does not take, naming the command (exit 2, nothing sent)", async () => {
    const r = await run(["job", "status", "1", "--price", "3"]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain("unknown option --price for `veil job status`");
    expect(r.stderr).to.contain("run `veil job status --help` for usage");
  });

  it("takes the worker's flag names and keeps the old ones as aliases", async () => {
    expect(Object.keys(GLOBAL_OPTIONS)).to.include.members(["rpc-url", "private-key", "deployment"]);
    // Both spellings reach the same setting: an unreachable RPC is reported with the URL given either way.
    for (const flag of ["--rpc-url", "--rpc"]) {
      const r = await run(["job", "status", "1", flag, "http://127.0.0.1:9"]);
      expect(r.code, flag).to.equal(1);
      expect(r.stderr, flag).to.contain("cannot reach the RPC endpoint http://127.0.0.1:9");
    }
    const both = await run(["job", "status", "1", "--rpc", "http://a", "--rpc-url", "http://b"]);
    expect(both.code).to.equal(2);
    expect(both.stderr).to.contain("--rpc and --rpc-url are the same option");
    const badKey = await run(["node", "withdraw", "--key", "0x1234"]);
    expect(badKey.code).to.equal(2);
    expect(badKey.stderr).to.contain("must be 32 bytes of hex");
    expect(badKey.stderr).to.not.contain("0x1234");
  });

  it("takes job ids as 0x hex (as veil prints them) or decimal, and refuses anything else before connecting (exit 2)", async () => {
    // tag << 64 | generation << 32 | record
    const id = (0xabcn << 64n) | (1n << 32n) | 7n;
    expect(formatJobId(id)).to.equal("0x0000000000000abc0000000100000007");
    expect(readJobId(formatJobId(id))).to.equal(id);
    expect(readJobId(id.toString())).to.equal(id);
    expect(readJobId("0xABC")).to.equal(0xabcn);
    for (const bad of ["0xzz", "-1", "1.5", "0x", "job1", "0x" + "f".repeat(65), "1" + "0".repeat(78)]) {
      const r = await run(["job", "status", bad, "--rpc-url", "http://127.0.0.1:9"]);
      expect(r.code, bad).to.equal(2);
      expect(r.stderr, bad).to.contain("error: UsageError: <jobId> must be a job id: 0x followed by hex digits (as `veil job submit` prints it) or a decimal number");
    }
    const huge = await run(["job", "poke", "9".repeat(78), "--rpc-url", "http://127.0.0.1:9"]);
    expect(huge.code).to.equal(2);
    expect(huge.stderr).to.contain("<jobId> is larger than a uint256");
  });

  it("reports an unknown command and extra arguments as usage errors", async () => {
    expect((await run(["job", "frobnicate"])).stderr).to.contain("unknown command: veil job frobnicate");
    expect((await run(["nodes"])).stderr).to.contain('unknown command group "nodes"');
    const extra = await run(["job", "status", "1", "2"]);
    expect(extra.code).to.equal(2);
    expect(extra.stderr).to.contain('unexpected argument "2"');
  });

  it("parses durations and prints times as ISO plus a relative part", () => {
    expect(parseDuration("90")).to.equal(90);
    expect(parseDuration("90s")).to.equal(90);
    expect(parseDuration("1h")).to.equal(3600);
    expect(parseDuration("1h30m")).to.equal(5400);
    expect(parseDuration("21d")).to.equal(21 * 86400);
    expect(() => parseDuration("1 hour")).to.throw(/not a duration/);
    expect(() => parseDuration("h")).to.throw(/not a duration/);
    expect(formatDuration(59 * 60 + 30)).to.equal("59 min");
    expect(formatDuration(3 * 3600 + 12 * 60)).to.equal("3 h 12 min");
    expect(formatDuration(21 * 86400)).to.equal("21 d");
    const now = Date.UTC(2026, 11, 3, 8, 0, 0) / 1000;
    expect(formatWhen(now + 3540, now)).to.equal("2026-12-03T08:59:00Z (in 59 min)");
    expect(formatWhen(now - 720, now)).to.equal("2026-12-03T07:48:00Z (12 min ago)");
  });

  it("veil dev refuses a chain that is not local", async () => {
    const r = await run(["dev", "time", "--advance", "1h", "--rpc-url", "http://127.0.0.1:9"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain("cannot reach the RPC endpoint");
    const bad = await run(["dev", "time", "--advance", "soon", "--rpc-url", "http://127.0.0.1:9"]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain('--advance: "soon" is not a duration');
  });
});
