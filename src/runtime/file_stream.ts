/**
 * Writing and reading large files chunk by chunk (the ~120 MB agent), so
 * that no caller holds a whole file in memory.
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import { errnoCode } from "./errno.ts";

/** What fsync(2) answers where flushing is not supported. */
const NO_FSYNC = new Set(["EINVAL", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

/** Options for {@linkcode writeFileFromStream}. */
export interface WriteFileFromStreamOptions {
  /** Permission bits of the file, which must not exist yet. @default {0o600} */
  mode?: number;
}

/**
 * Create `path` (it must not exist: `O_EXCL`) and write `data` into it chunk
 * by chunk, then flush it to disk (where the file system can). On any error the partial file is removed
 * and the error rethrown; `data` is cancelled when the write fails.
 */
export async function writeFileFromStream(
  path: string,
  data: ReadableStream<Uint8Array>,
  options: WriteFileFromStreamOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o600;
  const handle = await fsp.open(path, "wx", mode);
  const reader = data.getReader();
  try {
    await handle.chmod(mode); // the umask may have cleared bits of `mode`
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let offset = 0;
      while (offset < value.byteLength) {
        const { bytesWritten } = await handle.write(value, offset, value.byteLength - offset);
        offset += bytesWritten;
      }
    }
    // On disk before the caller renames it into place; a file system that
    // cannot flush (some network and 9p mounts say EINVAL) is not an error.
    await handle.sync().catch((error) => {
      if (!NO_FSYNC.has(errnoCode(error) ?? "")) throw error;
    });
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    await handle.close().catch(() => {});
    await fsp.unlink(path).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
  await handle.close();
}

/**
 * Read `path` in chunks of up to `chunkSize` bytes; the file is closed when
 * the loop ends. Every chunk is a view of one buffer, valid only until the
 * next is asked for (reading 120 MB to hash it leaves no 120 MB of garbage).
 */
export async function* readFileChunks(
  path: string,
  chunkSize = 1 << 20,
): AsyncGenerator<Uint8Array, void, undefined> {
  const handle = await fsp.open(path, "r");
  const buffer = new Uint8Array(chunkSize);
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, chunkSize, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
