#!/usr/bin/env node
// The `veil` CLI launcher of this repository (`npx veil` here): runs the CLI's TypeScript sources
// (packages/cli/src/main.ts) through tsx, with `@veil/*` resolved to their sources. The published CLI is the
// `veil` bin of @veil/cli (built JS, no tsx).
import "../scripts/source-conditions.mjs";
import { register } from "tsx/esm/api";

register();
const { main } = await import("../packages/cli/src/main.ts");
const code = await main(process.argv.slice(2));
// Let stdout drain before exiting (piped output is asynchronous).
process.exitCode = code;
