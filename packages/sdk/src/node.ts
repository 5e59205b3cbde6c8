/**
 * Node-only helpers of the Veil SDK (file system). Kept out of the core entry so that stays browser-safe.
 * @module
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseDeployment, type VeilDeployment } from "./addresses.js";

/**
 * Reads the address book of a chain, `<dir>/<chainId>.json` (written by scripts/write-deployment.ts).
 *
 * @example
 * const { addresses } = loadDeployment(31337)
 * const veil = client.extend(veilActions({ addresses }))
 */
export function loadDeployment(chainId: number, dir = "deployments"): VeilDeployment {
  return loadDeploymentFile(path.join(dir, `${chainId}.json`));
}

/** Reads and validates one deployment file. */
export function loadDeploymentFile(file: string): VeilDeployment {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`no deployment file at ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  return parseDeployment(JSON.parse(text), file);
}
