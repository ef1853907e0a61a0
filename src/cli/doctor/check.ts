/**
 * What every `doctor` check returns, and the seam the checks read the
 * machine through: a root path prefixed to every fixed system path
 * (`/proc/...`, `/etc/wsl.conf`, `/run/WSL`), so tests can point a check at
 * a fake binfmt_misc, wsl.conf, mount table or PID 1 without touching the
 * real ones. Paths that come *from* those files (a mount point, an agent's
 * path) and from the environment are real paths and are not prefixed.
 *
 * @module
 */
import { readDirNames, readTextFile } from "../../runtime/mod.ts";
import type { Runtime } from "../../runtime/mod.ts";

/** How a check came out. `fail` makes `doctor` exit 1. */
export type CheckStatus = "ok" | "warn" | "fail";

/** One check's verdict: the `--json` shape. */
export interface CheckResult {
  /** Short and stable, e.g. `binfmt WSLInterop` or `dial SSH_AUTH_SOCK`. */
  name: string;
  status: CheckStatus;
  /** One line: what was seen. */
  evidence: string;
  /** One line: what to do (for `ok`, usually "nothing to do"). */
  fix: string;
}

/** What the checks read the machine through. */
export interface DoctorSeam {
  /** Prefixed to every fixed system path; `/` for the real machine. */
  root: string;
  /** The calling shell's environment. */
  env: (name: string) => string | undefined;
  runtime: Runtime;
}

/** `path` under the seam's root. */
export function rooted(seam: DoctorSeam, path: string): string {
  return seam.root === "/" ? path : seam.root.replace(/\/+$/, "") + path;
}

/** A system file's text under the root, or `null` when it cannot be read. */
export function readSystemFile(seam: DoctorSeam, path: string): Promise<string | null> {
  return readTextFile(rooted(seam, path)).catch(() => null);
}

/** A system directory's entries under the root, or `null` when it cannot be read. */
export function readSystemDir(seam: DoctorSeam, path: string): Promise<string[] | null> {
  return readDirNames(rooted(seam, path)).catch(() => null);
}

/** Shorthand for a result. */
export function result(
  name: string,
  status: CheckStatus,
  evidence: string,
  fix = "nothing to do",
): CheckResult {
  return { name, status, evidence, fix };
}

/** An error's message, for evidence lines. */
export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
