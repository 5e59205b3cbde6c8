/**
 * The README's quickstart on a fresh clone, before anything has been built: `git clone` of the committed HEAD into a
 * temporary directory (nothing built is copied: no node_modules, artifacts, cache or types), then `npm install` and
 * `npm run demo`, each a real child process under the machine's own Node and npm (the project's pinned Node 22 and
 * any npm_* variables of the `npm test` that runs this file are taken out of the environment, as on a newcomer's
 * shell). It checks that the install leaves the checkout untouched (no lockfile rewrite), that no npm call warns
 * about an unknown config, and that the demo builds the contracts itself and finalizes every job, the pretrained
 * PaddleOCR classifier's included.
 *
 * It takes a few minutes (install ~40 s from the npm cache, demo ~30-90 s with the compile). VEIL_SKIP_FRESH_CLONE=1
 * skips it. It tests HEAD: uncommitted changes of the working tree are not in the clone (a note says so).
 */
import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");

type Run = { code: number; out: string; seconds: number };

/** Runs a command to its end (never throws on a non-zero exit), stdout and stderr together. */
function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, maxBuffer: 64 << 20, timeout: timeoutMs, killSignal: "SIGKILL" }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      const out = `${stdout}${stderr}${error && typeof error.code !== "number" ? `\n${error.message}` : ""}`;
      resolve({ code, out, seconds: (performance.now() - started) / 1000 });
    });
  });
}

/**
 * The environment of a newcomer's shell: this process's, without what `npm test` and `hardhat test` put there:
 * npm_* and INIT_CWD; HARDHAT_* and HH_* (HARDHAT_CONFIG would point the clone's Hardhat at this checkout's config
 * and artifacts); NODE_ENV=test; the project's node_modules/.bin on PATH (npm would run under the pinned Node 22);
 * a NODE_OPTIONS that preloads this checkout's modules; and VEIL_* settings.
 */
function newcomerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|HARDHAT_|HH_|VEIL_)/i.test(k) || k === "INIT_CWD" || (k === "NODE_ENV" && v === "test")) continue;
    env[k] = v;
  }
  env.PATH = (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter((p) => !p.split(path.sep).join("/").includes("node_modules/.bin"))
    .join(path.delimiter);
  if (env.NODE_OPTIONS?.includes(ROOT)) delete env.NODE_OPTIONS;
  return env;
}

const CONFIG_WARNING = /npm warn Unknown (project|env) config[^\n]*/i;

describe("fresh clone: npm install, then npm run demo (README quickstart, nothing built beforehand)", function () {
  this.timeout(900_000);
  let dir: string;
  let head: string;
  const env = newcomerEnv();

  before(async function () {
    if (process.env.VEIL_SKIP_FRESH_CLONE === "1") this.skip();
    if (!existsSync(path.join(ROOT, ".git"))) {
      console.log("      note: not a git checkout, nothing to clone");
      this.skip();
    }
    const rev = await sh("git", ["rev-parse", "HEAD"], ROOT, env, 30_000);
    expect(rev.code, rev.out).to.equal(0);
    head = rev.out.trim();
    const dirty = await sh("git", ["status", "--porcelain", "--untracked-files=no"], ROOT, env, 30_000);
    if (dirty.out.trim()) {
      console.log(`      note: the working tree has uncommitted changes; this test checks the committed HEAD ${head.slice(0, 10)} only`);
    }
    dir = mkdtempSync(path.join(tmpdir(), "veil-fresh-clone-"));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("installs without touching the checkout or warning about config, and the demo builds and finalizes every job", async () => {
    const clone = path.join(dir, "veil");
    // --no-checkout + checkout of the exact commit: HEAD may be detached (CI), and only committed files travel.
    const cloned = await sh("git", ["clone", "-q", "--no-checkout", ROOT, clone], dir, env, 120_000);
    expect(cloned.code, cloned.out).to.equal(0);
    const checkout = await sh("git", ["-c", "advice.detachedHead=false", "checkout", "-q", head], clone, env, 120_000);
    expect(checkout.code, checkout.out).to.equal(0);
    for (const built of ["node_modules", "artifacts", "cache", "types"]) expect(existsSync(path.join(clone, built)), built).to.equal(false);

    // The README's first command (from the npm cache when it can: CI has just filled it).
    const install = await sh("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], clone, env, 600_000);
    expect(install.code, install.out.slice(-4000)).to.equal(0);
    expect(install.out.match(CONFIG_WARNING)?.[0], "npm install warned about a config").to.equal(undefined);
    const afterInstall = await sh("git", ["status", "--porcelain"], clone, env, 30_000);
    expect(afterInstall.out.trim(), "npm install changed the checkout (lockfile rewritten?)").to.equal("");
    expect(existsSync(path.join(clone, "artifacts")), "nothing is compiled before the demo").to.equal(false);

    // The README's second command, kept short (4 jobs: two of them on the pretrained PaddleOCR model, one at k=3).
    const demo = await sh("npm", ["run", "demo", "--", "--jobs", "4"], clone, env, 600_000);
    expect(demo.code, demo.out.slice(-4000)).to.equal(0);
    expect(demo.out.match(CONFIG_WARNING)?.[0], "npm run demo warned about a config").to.equal(undefined);
    expect(demo.out).to.match(/registered model 0x491843a3c65de462… PaddleOCR text-direction classifier \(pretrained\)/);
    expect(demo.out).to.match(/submitted 4 jobs \(1 at k=3, 2 paid by allowance\)/);
    expect(demo.out).to.match(/jobs: 4 submitted, 4 finalized, 0 refunded, 0 disputed/);
    expect(demo.out).to.match(/slashes: none/);
    expect(existsSync(path.join(clone, "artifacts/contracts/JobEscrow.sol/JobEscrow.json")), "the demo compiled the contracts").to.equal(true);
    const afterDemo = await sh("git", ["status", "--porcelain"], clone, env, 30_000);
    expect(afterDemo.out.trim(), "the demo left files git does not ignore").to.equal("");

    console.log(`      fresh clone of ${head.slice(0, 10)}: npm install ${install.seconds.toFixed(0)} s, npm run demo ${demo.seconds.toFixed(0)} s`);
  });
});
