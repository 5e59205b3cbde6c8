/** Times and durations in the CLI: output as ISO dates with a relative part, flags as `1h30m`-style durations. */

// One formatting of durations and times for the whole SDK: errors and CLI output read the same.
export { formatDuration, formatTime as formatWhen } from "@veil/sdk";

const UNITS: Record<string, number> = { s: 1, m: 60, min: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * Parses `90`, `90s`, `30m`, `1h`, `1h30m`, `21d` into seconds. Throws a RangeError naming the accepted forms.
 */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^[0-9]+$/.test(t)) return Number(t);
  const re = /([0-9]+)\s*(min|s|m|h|d|w)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (end === 0 || end !== t.length) {
    throw new RangeError(`${JSON.stringify(text)} is not a duration: use seconds or units s, m, h, d, w (e.g. 90s, 1h30m, 21d)`);
  }
  return total;
}
