import { expect } from "chai";
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const NODE_BUILTINS = new Set(builtinModules);

/** Every module specifier a TypeScript file imports or re-exports (static and dynamic). */
function specifiers(source: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  for (const m of source.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

/** Walks the relative import graph from `entry`; returns the files and every non-relative specifier seen. */
function importGraph(entry: string) {
  const files = new Set<string>();
  const external = new Map<string, string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of specifiers(readFileSync(file, "utf8"))) {
      if (spec.startsWith(".")) visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, ".ts")));
      else external.set(spec, path.relative(root, file));
    }
  };
  visit(entry);
  return { files, external };
}

describe("SDK core entry is browser-safe", () => {
  it("sdk/src/index.ts imports no node:* or Node built-in module, directly or transitively", () => {
    const { files, external } = importGraph(path.join(root, "packages/sdk/src/index.ts"));
    expect(files.size).to.be.greaterThan(5); // the walk really follows the graph
    const offenders = [...external].filter(([spec]) => spec.startsWith("node:") || NODE_BUILTINS.has(spec.split("/")[0]!));
    expect(offenders, offenders.map(([s, f]) => `${f} imports ${s}`).join("\n")).to.deep.equal([]);
    expect([...files].map((f) => path.relative(root, f))).to.not.include("packages/sdk/src/node.ts");
  });

  it("the scanner does catch node imports (sdk/src/node.ts, the Node-only entry)", () => {
    const { external } = importGraph(path.join(root, "packages/sdk/src/node.ts"));
    expect([...external.keys()]).to.include.members(["node:fs", "node:path"]);
  });
});
