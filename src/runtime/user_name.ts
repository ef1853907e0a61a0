/**
 * A uid's login name from /etc/passwd, for error messages that name the
 * owner of something. Only read on error paths.
 *
 * @module
 */
import { readFileSync } from "node:fs";

/** The name of `uid` in /etc/passwd, or `undefined` (unknown uid, no file). */
export function userName(uid: number): string | undefined {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f.length >= 3 && f[2] === String(uid)) return f[0];
    }
  } catch { /* no /etc/passwd: the uid alone will do */ }
  return undefined;
}
