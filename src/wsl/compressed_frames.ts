/**
 * Decompressing the embedded agent: a run of independent brotli streams
 * ("frames"), each of a known compressed size (recorded at build time) and a
 * known decompressed size, one frame at a time with node:zlib's synchronous
 * brotli (Bun and Deno both have it; no native add-on), each then put
 * through the E8 filter (e8_filter.ts) on its own.
 *
 * Why frames, each decompressed in one synchronous call, and not a stream:
 * a stream would have to survive the runtimes' quirks on corrupt input
 * (Deno 2.9's node:zlib zstd stream throws such an error as an uncaught
 * exception, which would end the daemon; Deno's synchronous brotli returns
 * nothing instead of throwing), while a frame's call either throws or
 * returns, and a frame of the wrong size is caught here. Frames of 16 MiB
 * keep memory small (one frame in, one out) and cost ~0.5 % of size.
 * brotli has no checksum of its own: placeAgent() checks the agent's SHA-256.
 *
 * @module
 */

import { brotliDecompressSync } from "node:zlib";
import { e8Filter } from "./e8_filter.ts";

/** How a blob is cut into frames, as the build records it. */
export interface FrameLayout {
  /** Decompressed size of every frame but the last (which holds the rest). */
  frameSize: number;
  /** Compressed size of each frame, in order. */
  frames: number[];
  /** Decompressed size of the whole. */
  size: number;
}

/**
 * Decompress `input`, frame by frame as the reader asks, and undo each
 * frame's E8 filter. Errors when brotli finds a frame corrupt, when the
 * input is shorter or longer than the frames add up to, or when a frame
 * decompresses to another size than expected.
 */
export function unpackFrames(
  input: ReadableStream<Uint8Array>,
  layout: FrameLayout,
): ReadableStream<Uint8Array> {
  const reader = input.getReader();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let index = 0;
  let produced = 0;

  /** The next `n` bytes of input, without copying when they lie in one chunk. */
  async function take(n: number): Promise<Uint8Array> {
    while (pendingBytes < n) {
      const { done, value } = await reader.read();
      if (done) {
        throw new Error(
          `it is truncated: frame ${index + 1} of ${layout.frames.length} is cut off`,
        );
      }
      pending.push(value);
      pendingBytes += value.byteLength;
    }
    let out: Uint8Array;
    if (pending[0].byteLength >= n) {
      out = pending[0].subarray(0, n);
    } else {
      out = new Uint8Array(n);
      let at = 0;
      for (const chunk of pending) {
        const part = chunk.subarray(0, n - at);
        out.set(part, at);
        at += part.byteLength;
        if (at === n) break;
      }
    }
    // Drop the taken bytes from the front.
    let skip = n;
    while (skip > 0) {
      const head = pending[0];
      if (head.byteLength <= skip) {
        skip -= head.byteLength;
        pending.shift();
      } else {
        pending[0] = head.subarray(skip);
        skip = 0;
      }
    }
    pendingBytes -= n;
    return out;
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (index === layout.frames.length) {
        const { done, value } = pendingBytes > 0
          ? { done: false, value: pending[0] }
          : await reader.read();
        if (!done && value.byteLength > 0) throw new Error("it is longer than its recorded frames");
        if (produced !== layout.size) {
          throw new Error(`it holds ${produced} bytes, not ${layout.size}`);
        }
        return controller.close();
      }
      const compressed = await take(layout.frames[index]);
      const expected = Math.min(layout.frameSize, layout.size - produced);
      // The bound also makes a frame that decompresses to more fail at once, not after.
      const plain = brotliDecompressSync(compressed, { maxOutputLength: Math.max(expected, 1) });
      if (plain.byteLength !== expected) {
        throw new Error(
          `frame ${
            index + 1
          } decompresses to ${plain.byteLength} bytes, not ${expected}: it is truncated`,
        );
      }
      index++;
      produced += plain.byteLength;
      const frame = new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
      e8Filter(frame, "decode");
      controller.enqueue(frame);
    },
    async cancel(reason) {
      pending = [];
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
