/**
 * Small helpers shared by the benchmarks: statistics, how to run a script
 * under the current runtime, and process-tree memory from /proc.
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import process from "node:process";

/** Anything with a readable and a writable byte side. */
export interface Duplex {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

/** Median of a non-empty list (the mean of the middle two for even lengths). */
export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** The `p` quantile (0..1) of a non-empty list, nearest rank. */
export function percentile(values: number[], p: number): number {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];
}

/** "deno 2.9.6" or "bun 1.4.5". */
export function runtimeLabel(): string {
  const g = globalThis as unknown as {
    Deno?: { version: { deno: string } };
    Bun?: { version: string };
  };
  return g.Deno ? `deno ${g.Deno.version.deno}` : `bun ${g.Bun!.version}`;
}

/** Whether this is Deno. */
export function isDeno(): boolean {
  return "Deno" in globalThis;
}

/** argv that runs the script at `moduleUrl` under the current runtime. */
export function selfArgv(moduleUrl: string): string[] {
  const file = fileURLToPath(moduleUrl);
  return isDeno() ? [process.execPath, "run", "-A", "--quiet", file] : [process.execPath, file];
}

/** VmRSS of a process in bytes, or 0 if it is gone. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** A process's resident memory split the way the kernel counts it, in bytes. */
export interface RssParts {
  /** VmRSS: everything resident and mapped. */
  rss: number;
  /** RssAnon: private memory (heaps, stacks, JIT code); what the process really costs. */
  anon: number;
  /** RssFile: mapped file pages (the executable's code), shared with every process that maps them. */
  file: number;
}

/** {@linkcode RssParts} of a process from /proc/<pid>/status; zeros if it is gone. */
export function rssPartsOf(pid: number): RssParts {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) =>
      Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") };
  } catch {
    return { rss: 0, anon: 0, file: 0 };
  }
}

/** `pid` and all its descendants, from /proc. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch { /* exited meanwhile */ }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** CPU time (user + system) of a process in seconds, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** Resolve after `ms`. Only for pacing measurements, never to wait for an event. */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
