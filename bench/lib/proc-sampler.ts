/**
 * Samples processes from /proc once a period: resident memory (VmRSS of /proc/<pid>/status) and CPU time
 * (utime + stime of /proc/<pid>/stat), plus the whole machine's busy and total CPU time (/proc/stat), so a run can
 * say which process used the cores and whether anything outside the bench did. Linux only.
 */
import { readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux ABI that node runs on

export interface ProcSample {
  /** Wall clock (ms since epoch). */
  t: number;
  /** VmRSS in KiB (undefined once the process is gone). */
  rssKiB?: number;
  /** CPU seconds (user + system) used so far. */
  cpuSeconds?: number;
}

export interface MachineSample {
  t: number;
  /** CPU seconds all cores spent busy / in total so far (/proc/stat "cpu" line). */
  busySeconds: number;
  totalSeconds: number;
}

export function readRssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function readCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its closing ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}

export function readMachine(): MachineSample {
  const line = readFileSync("/proc/stat", "utf8").split("\n").find((l) => l.startsWith("cpu "))!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = v as [number, number, number, number, number, number, number, number];
  const busy = user + nice + system + irq + softirq + steal;
  return { t: Date.now(), busySeconds: busy / TICKS_PER_SECOND, totalSeconds: (busy + idle + iowait) / TICKS_PER_SECOND };
}

export class ProcSampler {
  readonly samples = new Map<string, ProcSample[]>();
  readonly machine: MachineSample[] = [];
  private readonly pids = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly periodMs = 1000) {}

  /** Starts sampling `pid` under `name` (a name is sampled until {@link forget}). */
  watch(name: string, pid: number) {
    this.pids.set(name, pid);
    if (!this.samples.has(name)) this.samples.set(name, []);
    this.sampleOne(name, pid, Date.now());
  }

  forget(name: string) {
    this.pids.delete(name);
  }

  start() {
    this.timer ??= setInterval(() => this.sample(), this.periodMs);
    this.timer.unref();
    this.sample();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sampleOne(name: string, pid: number, t: number) {
    const s = pid === process.pid ? { t, rssKiB: Math.round(process.memoryUsage.rss() / 1024), cpuSeconds: cpuOfSelf() } : { t, rssKiB: readRssKiB(pid), cpuSeconds: readCpuSeconds(pid) };
    this.samples.get(name)!.push(s);
  }

  sample() {
    const t = Date.now();
    for (const [name, pid] of this.pids) this.sampleOne(name, pid, t);
    this.machine.push(readMachine());
  }

  /** CPU seconds `name` used between wall-clock times a and b (nearest samples inside the range). */
  cpuSecondsBetween(name: string, a: number, b: number): number | undefined {
    const s = (this.samples.get(name) ?? []).filter((x) => x.t >= a && x.t <= b && x.cpuSeconds !== undefined);
    if (s.length < 2) return undefined;
    return s.at(-1)!.cpuSeconds! - s[0]!.cpuSeconds!;
  }

  /** Busy share of the whole machine (0..1 of all cores) between a and b, and the seconds that spans. */
  machineBusyBetween(a: number, b: number): { busyCores: number; seconds: number } | undefined {
    const s = this.machine.filter((x) => x.t >= a && x.t <= b);
    if (s.length < 2) return undefined;
    const first = s[0]!;
    const last = s.at(-1)!;
    const seconds = (last.t - first.t) / 1000;
    return { busyCores: (last.busySeconds - first.busySeconds) / seconds, seconds };
  }

  /** Mean RSS (KiB) of `name` over [a, b]. */
  meanRssKiB(name: string, a: number, b: number): number | undefined {
    const s = (this.samples.get(name) ?? []).filter((x) => x.t >= a && x.t <= b && x.rssKiB !== undefined);
    if (s.length === 0) return undefined;
    return s.reduce((acc, x) => acc + x.rssKiB!, 0) / s.length;
  }
}

function cpuOfSelf(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
