/**
 * Memory measurements for leak checks: a forced garbage collection where the
 * runtime allows one (Bun.gc; V8's gc exposed at run time under Deno), and
 * the daemon-side numbers from /proc.
 *
 * @module
 */
import process from "node:process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import v8 from "node:v8";
import vm from "node:vm";

type Gc = () => void;
let gc: Gc | null | undefined;

function findGc(): Gc | null {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun) return () => bun.gc(true);
  const exposed = (globalThis as { gc?: Gc }).gc;
  if (typeof exposed === "function") return exposed;
  try {
    // V8 (Deno): expose gc for this process, then fetch it from a fresh context.
    v8.setFlagsFromString("--expose-gc");
    const f = vm.runInNewContext("gc") as unknown;
    return typeof f === "function" ? (f as Gc) : null;
  } catch {
    return null;
  }
}

/** Run a full garbage collection if the runtime allows it; false when it does not. */
export function collectGarbage(): boolean {
  gc ??= findGc();
  if (!gc) return false;
  gc();
  return true;
}

/** This process's heap in use and resident set, in bytes, after a forced collection. */
export function memoryNow(): { heapUsed: number; rss: number; gc: boolean } {
  const forced = collectGarbage();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, gc: forced };
}

/**
 * What each open descriptor of a process is: `pipe:[…]`, a file path, or for
 * Unix sockets `unix:<bound path>` (`+listen` for a listening one) from
 * /proc/net/unix. Descriptors that close while this runs are left out.
 */
export function fdTargets(pid: number): string[] {
  const unix = new Map<string, string>();
  for (const line of readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 7) {
      unix.set(f[6], `unix:${f[7] ?? "(unnamed)"}${f[3] === "00010000" ? "+listen" : ""}`);
    }
  }
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    out.push(inode ? unix.get(inode) ?? target : target);
  }
  return out.sort();
}

/** Resident set size of a process in bytes (VmRSS from /proc/<pid>/status). */
export function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Bytes as MiB with one decimal, for messages. */
export function mib(n: number): string {
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}
