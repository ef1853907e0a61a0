/**
 * The start lock: concurrent `start`s queue on it, so exactly one of them
 * spawns the daemon. It is a `flock(2)` on `start.lock` in the runtime dir,
 * which the kernel drops when its holder exits or dies: a leftover file
 * (empty after a full disk, or naming any pid, even 1) never blocks anyone.
 *
 * Where flock cannot be loaded (no FFI), the file is created exclusively
 * and holds the owner's pid; a lock whose owner is not a live process of
 * ours is taken over, and so is an empty one older than a few seconds.
 *
 * @module
 */
import { DaemonError } from "../errors.ts";
import {
  createExclusive,
  fileLockAvailable,
  lstat,
  processUid,
  readTextFile,
  type Runtime,
  tryLockFile,
  unlink,
} from "../runtime/mod.ts";

/** An empty fallback lock older than this was left by a `start` that died while writing it. */
const EMPTY_LOCK_STALE_MS = 3000;

/** Take the lock at `path`, waiting up to `timeoutMs`. Returns the release function. */
export async function acquireStartLock(
  runtime: Runtime,
  path: string,
  timeoutMs = 20_000,
): Promise<() => Promise<void>> {
  const uid = runtime.uid();
  const useFlock = await fileLockAvailable(runtime);
  const deadline = performance.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    const release = useFlock
      ? await flockOnce(runtime, path, uid)
      : await exclusiveOnce(runtime, path, uid);
    if (release) return release;
    if (performance.now() > deadline) {
      throw new DaemonError(
        "START_FAILED",
        `timed out after ${timeoutMs} ms waiting for another \`wsl2proxy start\` holding ${path}`,
      );
    }
    // Another start holds it: it will be done within a second or so. Poll with backoff.
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

async function flockOnce(
  runtime: Runtime,
  path: string,
  uid: number,
): Promise<(() => Promise<void>) | null> {
  const lock = await tryLockFile(runtime, path, uid);
  return lock && (() => Promise.resolve(lock.release()));
}

async function exclusiveOnce(
  runtime: Runtime,
  path: string,
  uid: number,
): Promise<(() => Promise<void>) | null> {
  if (await createExclusive(path, `${runtime.pid}\n`)) {
    return () => unlink(path).catch(() => {});
  }
  const text = await readTextFile(path).catch(() => null);
  if (text === null) return null; // gone meanwhile: try again
  const owner = Number.parseInt(text, 10);
  let stale: boolean;
  if (text.trim() === "") {
    const age = await lstat(path).then((i) => Date.now() - i.mtimeMs).catch(() => 0);
    stale = age > EMPTY_LOCK_STALE_MS;
  } else {
    // Only a live process of ours can be a `start` holding it.
    stale = !Number.isInteger(owner) || owner <= 0 || !runtime.isAlive(owner) ||
      processUid(owner) !== uid;
  }
  if (stale) await unlink(path).catch(() => {});
  return null;
}
