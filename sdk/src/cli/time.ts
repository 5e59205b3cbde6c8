/** Times and durations in the CLI's output and flags: ISO dates with a relative part, and `1h30m`-style durations. */

/** `3 h 12 min`, `59 min`, `45 s`, `21 d 4 h`: a duration in seconds for people (rounded down to its two units). */
export function formatDuration(seconds: number): string {
  const s = Math.abs(Math.round(seconds));
  if (s < 120) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** `2026-12-03T09:00:00Z (in 59 min)` or `(... ago)`, relative to `now` (unix seconds, e.g. the chain's time). */
export function formatWhen(unix: number, now: number): string {
  const iso = new Date(unix * 1000).toISOString().replace(".000Z", "Z");
  const d = unix - now;
  return `${iso} (${d === 0 ? "now" : d > 0 ? `in ${formatDuration(d)}` : `${formatDuration(-d)} ago`})`;
}

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
