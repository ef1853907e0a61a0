/**
 * zstd decompression of a Web stream, over `node:zlib`'s zstd (Bun 1.4 and
 * Deno 2.9 both have it; no native add-on, no WebAssembly). The embedded
 * agent is compressed with it (see scripts/_compress_agent.ts): ~20 % smaller
 * than gzip for the Windows build, and faster to decompress.
 *
 * @module
 */

import { constants, createZstdDecompress } from "node:zlib";

/**
 * The largest window (as a power of two) a frame may ask for: zstd's default
 * decoder limit. The release build's long-distance matching uses exactly
 * this much, so every zstd decoder accepts the blob without extra
 * parameters, and a damaged header cannot make us allocate more than 128 MiB.
 */
export const ZSTD_WINDOW_LOG_MAX = 27;

/** How much compressed input is handed to the decoder at a time (~0.7 MB of output). */
const SLICE = 256 << 10;

/**
 * Decompress `input`, one or more zstd frames. The output is made as it is
 * read: the decoder gets the next 256 KiB of input only when its previous
 * output has been taken, so memory stays at the decoder's window however
 * slowly the reader writes (and however large the input's chunks are: a
 * compiled Deno hands over the whole blob as one).
 *
 * It errors on corrupt input (a frame's content checksum, when present, is
 * checked), but not on input cut off at or inside a frame: node:zlib ends
 * quietly then, so callers must check the length they expect.
 */
export function unzstd(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const zstd = createZstdDecompress({
    params: { [constants.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG_MAX },
  });
  const reader = input.getReader();
  const out: Uint8Array[] = [];
  let failed: Error | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const settle = () => {
    wake?.();
    wake = undefined;
  };
  zstd.on("data", (chunk: Uint8Array) => {
    out.push(chunk);
    settle();
  });
  zstd.on("error", (error: Error) => {
    failed = error;
    settle();
  });
  zstd.on("end", () => {
    ended = true;
    settle();
  });
  let rest: Uint8Array = new Uint8Array(0);
  let inputDone = false;

  /** Hand the decoder its next slice of input (or the end); resolves once it took it. */
  async function feed(): Promise<void> {
    if (rest.byteLength === 0 && !inputDone) {
      const { done, value } = await reader.read();
      if (done) inputDone = true;
      else rest = value;
    }
    if (rest.byteLength > 0) {
      const slice = rest.subarray(0, SLICE);
      rest = rest.subarray(slice.byteLength);
      await new Promise<void>((resolve) => {
        // On corrupt input the decoder errors and may never call back.
        const done = () => {
          zstd.off("error", done);
          resolve();
        };
        zstd.once("error", done);
        zstd.write(slice, () => done());
      });
    } else if (inputDone && !zstd.writableEnded) {
      zstd.end();
    } else {
      // Everything is written and ended: wait for the decoder's last data, 'end' or an error.
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (out.length === 0) {
        if (failed) throw failed;
        if (ended) return controller.close();
        await feed();
      }
      controller.enqueue(out.shift()!);
    },
    async cancel(reason) {
      zstd.destroy();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
