#!/usr/bin/env node
// The `veil` CLI launcher: registers tsx's ESM loader, then runs the TypeScript entry (sdk/src/cli/main.ts).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../sdk/src/cli/main.ts");
const code = await main(process.argv.slice(2));
// Let stdout drain before exiting (piped output is asynchronous).
process.exitCode = code;
