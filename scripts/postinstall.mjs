// Ensures Hardhat's native EDR binding is installed for this platform.
//
// Hardhat 3's runtime (@nomicfoundation/edr) ships its native code in optional per-platform packages whose
// `engines` field asks for Node >= 22. On a machine whose system Node is 20, npm skips those optional packages
// silently even though the project pins Node 22 (the `node` devDependency, which npm scripts run under).
// This script runs under that pinned Node: if the binding cannot load, it installs the matching platform
// package with the same npm, without scripts, and without touching package.json or the lockfile.
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const edrManifest = path.join(root, "node_modules", "@nomicfoundation", "edr", "package.json");

function bindingLoads() {
  try {
    require("@nomicfoundation/edr");
    return true;
  } catch {
    return false;
  }
}

function platformPackage() {
  const { platform, arch } = process;
  if (platform === "linux") {
    const report = process.report?.getReport?.();
    const glibc = report?.header?.glibcVersionRuntime;
    return `@nomicfoundation/edr-linux-${arch}-${glibc ? "gnu" : "musl"}`;
  }
  if (platform === "darwin") return `@nomicfoundation/edr-darwin-${arch}`;
  if (platform === "win32") return `@nomicfoundation/edr-win32-${arch}-msvc`;
  return undefined;
}

if (!existsSync(edrManifest)) process.exit(0); // nothing to fix (e.g. a production install without Hardhat)
if (bindingLoads()) process.exit(0);

const { version } = JSON.parse(readFileSync(edrManifest, "utf8"));
const pkg = platformPackage();
if (!pkg) {
  console.warn(`[veil postinstall] no EDR binding is published for ${process.platform}-${process.arch}`);
  process.exit(0);
}
const npmCli = process.env.npm_execpath;
const spec = `${pkg}@${version}`;
console.log(`[veil postinstall] installing ${spec} for Node ${process.versions.node} (npm skipped it)`);
const args = ["install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund", spec];
if (npmCli && npmCli.endsWith(".js")) {
  execFileSync(process.execPath, [npmCli, ...args], { cwd: root, stdio: "inherit" });
} else {
  execFileSync(npmCli || "npm", args, { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
}
if (!bindingLoads()) {
  console.error(`[veil postinstall] ${spec} was installed but the EDR binding still does not load`);
  process.exit(1);
}
