/**
 * Signalling another process by pid (for `stop` and stale-instance checks).
 * `process.kill` behaves the same in Deno and Bun.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { errnoCode } from "./errno.ts";

/**
 * Send `signal` (e.g. `"SIGTERM"`, or `0` semantics with `"0"` to probe) to `pid`.
 * Returns false when no such process exists; other failures (EPERM) return true,
 * since the process does exist.
 */
export function signalPid(pid: number, signal: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, signal === "0" ? 0 : (signal as NodeJS.Signals));
    return true;
  } catch (e) {
    return errnoCode(e) !== "ESRCH";
  }
}

/**
 * Whether `pid` is a live process. A zombie (exited, not yet reaped, as
 * happens under an init that does not reap) counts as gone.
 */
export function isProcessAlive(pid: number): boolean {
  if (!signalPid(pid, "0")) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return true; // no /proc (not Linux): trust kill(0)
  }
}

/** The real uid of process `pid` (from /proc/PID/status), or `undefined` when it is gone or unreadable. */
export function processUid(pid: number): number | undefined {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When process `pid` started (field 22 of /proc/PID/stat, in clock ticks
 * since boot), or `undefined` when it is gone. Together with the pid it
 * names one process: a pid reused later has another start time.
 */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at field 3.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
