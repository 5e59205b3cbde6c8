#!/usr/bin/env node
// The `veil` command (installed by @veil/cli). Exits with the CLI's code once stdout has drained.
import { main } from "./main.js";

process.exitCode = await main(process.argv.slice(2));
