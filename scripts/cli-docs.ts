/**
 * Generates the reference part of docs/cli.md (global options, then each command's usage line, summary and options)
 * from the CLI's command table (packages/cli/src/commands.ts), the same table `veil --help` is built from. The text
 * between the `cli-reference` markers is replaced; the prose around it is written by hand.
 *
 *   npx tsx scripts/cli-docs.ts --write    rewrite docs/cli.md
 *   npx tsx scripts/cli-docs.ts            exit 1 if docs/cli.md is stale
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { COMMANDS, GLOBAL_OPTIONS, GROUPS, optionDescription, usageLine, type OptionSpec } from "../packages/cli/src/commands.js";

export const CLI_DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../docs/cli.md");
const START = "<!-- cli-reference:start -->";
const END = "<!-- cli-reference:end -->";

/** A table cell: pipes escaped, so `exact|rounded:<decimals>` stays in one cell. */
const cell = (s: string) => s.replace(/\|/g, "\\|");
const code = (s: string) => cell(`\`${s}\``);

function flag(name: string, o: OptionSpec): string {
  return `${o.short ? `-${o.short}, ` : ""}--${name}${o.type === "string" ? ` ${o.arg ?? "<value>"}` : ""}`;
}

function meaning(o: OptionSpec): string {
  const choices = o.choices ? `; one of ${o.choices.map((c) => `\`${c}\``).join(", ")}` : "";
  // Outside code spans `<chainId>` would be read as an HTML tag.
  return cell(`${optionDescription(o).replace(/</g, "&lt;").replace(/>/g, "&gt;")}${choices}`);
}

/** The generated Markdown, without the markers. */
export function renderCliReference(): string {
  const lines = [
    "<!-- Generated from packages/cli/src/commands.ts by `npx tsx scripts/cli-docs.ts --write`: edit the table, not this text. -->",
    "",
    "### Options every command takes",
    "",
    "| option | env | meaning |",
    "| --- | --- | --- |",
    ...Object.entries(GLOBAL_OPTIONS).map(([n, o]) => `| ${code(flag(n, o))} | ${o.env ? code(o.env) : ""} | ${meaning({ ...o, aliases: undefined })}${o.aliases?.length ? ` (alias ${o.aliases.map((a) => code(`--${a}`)).join(", ")})` : ""} |`),
  ];
  for (const [group, title] of Object.entries(GROUPS)) {
    lines.push("", `### ${title}`);
    for (const c of COMMANDS.filter((c) => c.name === group || c.name.startsWith(`${group} `))) {
      lines.push("", `#### \`${usageLine(c)}\``, "", `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`);
      const options = Object.entries(c.options);
      if (options.length) {
        lines.push("", "| option | meaning |", "| --- | --- |");
        for (const [n, o] of options) lines.push(`| ${code(flag(n, o))}${o.required ? " (required)" : ""} | ${meaning(o)}${o.env ? ` (env ${code(o.env)})` : ""} |`);
      }
    }
  }
  return lines.join("\n");
}

/** `doc` with the text between the markers replaced by a fresh render. */
export function updateCliDoc(doc: string): string {
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/cli.md has no ${START} ... ${END} block`);
  return `${doc.slice(0, start + START.length)}\n${renderCliReference()}\n${doc.slice(end)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const doc = readFileSync(CLI_DOC, "utf8");
  const fresh = updateCliDoc(doc);
  if (process.argv.includes("--write")) {
    if (fresh !== doc) writeFileSync(CLI_DOC, fresh);
    console.log(fresh === doc ? "docs/cli.md is up to date" : "wrote docs/cli.md");
  } else if (fresh !== doc) {
    console.error("docs/cli.md is stale: run `npx tsx scripts/cli-docs.ts --write`");
    process.exitCode = 1;
  }
}
