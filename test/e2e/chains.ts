/**
 * The local EVM implementations the end-to-end tests run against, each as a child process on a given port:
 * `npx hardhat node` (Hardhat's EDR) and anvil (Foundry; the @foundry-rs/anvil devDependency ships its binary).
 * Both serve chain 31337 with the same default accounts (the "test test ... junk" mnemonic) and mine every
 * transaction at once (automine), so the README's commands run unchanged against either.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = path.join(ROOT, "node_modules/.bin");

export type LocalChain = "hardhat node" | "anvil";
export const LOCAL_CHAINS: readonly LocalChain[] = ["hardhat node", "anvil"];

/**
 * The anvil binary itself, from the platform package @foundry-rs/anvil installs. Not `node_modules/.bin/anvil`: that
 * is a Node wrapper that spawns the binary, so killing the wrapper left anvil running after the tests.
 */
export function anvilBinary(): string {
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  return path.join(ROOT, "node_modules", "@foundry-rs", `anvil-${process.platform}-${arch}`, "bin", process.platform === "win32" ? "anvil.exe" : "anvil");
}

/** Starts `chain` listening on 127.0.0.1:`port`; resolves once it answers eth_chainId with 31337. */
export async function startLocalChain(chain: LocalChain, port: number, env: NodeJS.ProcessEnv = process.env, ms = 60_000): Promise<ChildProcess> {
  const child =
    chain === "anvil"
      ? spawn(anvilBinary(), ["--host", "127.0.0.1", "--port", String(port), "--chain-id", "31337", "--silent"], { cwd: ROOT, env, stdio: "ignore" })
      : spawn(path.join(BIN, "hardhat"), ["node", "--port", String(port)], { cwd: ROOT, env, stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  const end = Date.now() + ms;
  let last = "";
  while (Date.now() < end) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${chain} exited (${child.exitCode ?? child.signalCode}) before it served ${url}`);
    try {
      const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }) });
      const { result } = (await r.json()) as { result?: string };
      if (result === "0x7a69") return child;
      last = `eth_chainId answered ${result}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill("SIGKILL");
  throw new Error(`${chain} did not serve chain 31337 at ${url} within ${ms / 1000} s (${last})`);
}
