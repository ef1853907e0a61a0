/**
 * zstd decompression as a Web `TransformStream`, over `node:zlib`'s zstd
 * (Bun 1.4 and Deno 2.9 both have it; no native add-on, no WebAssembly).
 * The embedded agent is compressed with it (see scripts/_compress_agent.ts):
 * zstd at a high level with long-distance matching is ~22 % smaller than
 * gzip for the Windows build and decompresses faster.
 *
 * @module
 */

import { constants, createZstdDecompress } from "node:zlib";

/**
 * The largest window (as a power of two) a frame may ask for: zstd's default
 * decoder limit. The build's long-distance matching uses exactly this much,
 * so every zstd decoder accepts the blob without extra parameters, and a
 * damaged header cannot make us allocate more than 128 MiB.
 */
export const ZSTD_WINDOW_LOG_MAX = 27;

/**
 * A stream that decompresses one or more zstd frames. It errors on corrupt
 * input (a frame's content checksum, when present, is checked), but not on
 * input cut off at a frame boundary or mid-frame: node:zlib ends quietly
 * then, so callers must check the length they expect.
 */
export function unzstd(): TransformStream<Uint8Array, Uint8Array> {
  const zstd = createZstdDecompress({
    params: { [constants.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG_MAX },
  });
  let failed: Error | undefined;
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      zstd.on("data", (chunk: Uint8Array) => controller.enqueue(chunk));
      zstd.on("error", (error: Error) => {
        failed = error;
        controller.error(error);
      });
    },
    // The TransformStream calls this only while its reader wants more, and one
    // compressed chunk at a time: memory stays at a few chunks, never the whole output.
    transform(chunk) {
      return new Promise<void>((resolve, reject) => {
        zstd.write(
          chunk,
          (error?: Error | null) => (error ?? failed) ? reject(error ?? failed) : resolve(),
        );
      });
    },
    flush() {
      return new Promise<void>((resolve, reject) => {
        if (failed) return reject(failed);
        zstd.once("end", resolve);
        zstd.once("error", reject);
        zstd.end();
      });
    },
    cancel() {
      zstd.destroy();
    },
  });
}
