/**
 * The start lock: a file created exclusively in the runtime dir, holding the
 * pid of the `start` that owns it. Concurrent `start`s queue on it, so exactly
 * one of them spawns the daemon. A lock whose owner died is taken over.
 *
 * @module
 */
import { DaemonError } from "../errors.ts";
import { createExclusive, readTextFile, type Runtime, unlink } from "../runtime/mod.ts";

/** Take the lock at `path`, waiting up to `timeoutMs`. Returns the release function. */
export async function acquireStartLock(
  runtime: Runtime,
  path: string,
  timeoutMs = 20_000,
): Promise<() => Promise<void>> {
  const deadline = performance.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    if (await createExclusive(path, `${runtime.pid}\n`)) {
      return () => unlink(path).catch(() => {});
    }
    const owner = Number.parseInt(await readTextFile(path).catch(() => ""), 10);
    // An empty file is a lock being written right now; a dead owner's lock is stale.
    if (Number.isInteger(owner) && owner > 0 && !runtime.isAlive(owner)) {
      await unlink(path).catch(() => {});
      continue;
    }
    if (performance.now() > deadline) {
      throw new DaemonError(
        "START_FAILED",
        `timed out waiting for another \`wsl2proxy start\` (pid ${
          owner || "?"
        }) holding ${path}; ` +
          `if no such process exists, delete that file`,
      );
    }
    // Another start holds it: it will be done within a second or so. Poll with backoff.
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}
