#!/usr/bin/env node
// `veil-worker`: the operator daemon on its own (the same as `veil node start`). Options: veil-worker --help.
import { runWorker } from "./main.js";

await runWorker(process.argv.slice(2));
