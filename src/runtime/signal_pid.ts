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
