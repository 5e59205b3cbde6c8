/**
 * Crash failpoints for fault-injection tests: `failpoint(name)` kills the process with SIGKILL, right there, when the
 * environment variable VEIL_FAILPOINT names it (a comma-separated list arms several). The crash is real: no
 * `finally`, no exit handlers, no flushed buffers, exactly what a power cut or the OOM killer does; restart-recovery
 * tests then check that the persisted state is enough to finish the work exactly once.
 *
 * Unarmed (the production case) a failpoint costs one Set lookup on a Set that is empty. The variable is read once,
 * when this module loads.
 *
 * Names in use (tasks/poster.ts, tasks/processor.ts, chain/sender.ts):
 *   infer:stored              result blob stored, job not yet moved to `inferred`
 *   commit:before-send        salt and commitment persisted (`commit_pending`), commit not yet sent
 *   tx:broadcast:<kind>       raw transaction broadcast, intent not yet marked sent (kind: commit | reveal | claim | other)
 *   commit:confirmed          commit receipt stored, job not yet moved to `committed`
 *   reveal:confirmed          reveal (or k = 1 result) receipt stored, job not yet moved to `revealed`
 */

const ARMED: ReadonlySet<string> = new Set(
  (process.env.VEIL_FAILPOINT ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

/** Kills this process with SIGKILL if `name` is armed by VEIL_FAILPOINT; does nothing otherwise. */
export function failpoint(name: string): void {
  if (ARMED.size === 0 || !ARMED.has(name)) return;
  process.stderr.write(`failpoint ${name}: SIGKILL\n`);
  process.kill(process.pid, "SIGKILL");
}

/** Failpoints armed in this process (for logs). */
export function armedFailpoints(): string[] {
  return [...ARMED];
}
