/**
 * Compressing the Windows agent that each Linux binary embeds (read back by
 * src/wsl/embedded_agent.ts): cut into independent frames of 16 MiB
 * (src/wsl/compressed_frames.ts says why), each put through the E8 filter
 * (src/wsl/e8_filter.ts) and brotli-compressed, in parallel on node:zlib's
 * thread pool. brotli, because both runtimes decompress it with node:zlib
 * alone, and at quality 11 it is the smallest such codec: 5 % under zstd -19
 * (measurements: docs/DEVELOPMENT.md, "Binary and download sizes").
 *
 * Two qualities: `fast` for every-day builds and the local CI, `release` for
 * the published binaries (`scripts/build.ts --release`, minutes).
 *
 * @module
 */
import * as fs from "node:fs";
import * as os from "node:os";
import { promisify } from "node:util";
import { brotliCompress, constants } from "node:zlib";
import { e8Filter } from "../src/wsl/e8_filter.ts";
import type { FrameLayout } from "../src/wsl/compressed_frames.ts";

/** Which setting to compress the agent with. */
export type AgentProfile = "fast" | "release";

/** brotli quality of each profile. */
export const AGENT_QUALITY: Record<AgentProfile, number> = {
  // See docs/DEVELOPMENT.md for the measured sizes and times.
  fast: 5,
  release: 11,
};

/** brotli's window: 2^24 bytes, a whole frame. */
const LGWIN = 24;

/** Decompressed size of each frame but the last. */
export const FRAME_SIZE = 16 << 20;

const compress = promisify(brotliCompress);

/**
 * Filter and compress the agent `input` into `output` (overwritten) at
 * quality `level`; resolves with the frame layout to record beside it.
 */
export async function compressAgent(
  input: string,
  output: string,
  level: number,
): Promise<FrameLayout> {
  const { blob, layout } = await compressAgentBytes(new Uint8Array(fs.readFileSync(input)), level);
  fs.writeFileSync(output, blob);
  return layout;
}

/**
 * Filter and compress `agent` (not modified) at quality `level` in frames
 * of `frameSize`.
 */
export async function compressAgentBytes(
  agent: Uint8Array,
  level: number,
  frameSize: number = FRAME_SIZE,
): Promise<{ blob: Uint8Array; layout: FrameLayout }> {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < agent.byteLength; at += frameSize) {
    parts.push(agent.subarray(at, at + frameSize));
  }
  const frames: Uint8Array[] = new Array(parts.length);
  let next = 0;
  // node:zlib's async calls run on its thread pool: one worker per core.
  const workers = Array.from(
    { length: Math.min(parts.length, os.availableParallelism()) },
    async () => {
      while (next < parts.length) {
        const i = next++;
        const part = new Uint8Array(parts[i]); // a copy: the filter works in place
        e8Filter(part, "encode");
        frames[i] = await compress(part, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: level,
            [constants.BROTLI_PARAM_LGWIN]: LGWIN,
            [constants.BROTLI_PARAM_SIZE_HINT]: part.byteLength,
          },
        });
      }
    },
  );
  await Promise.all(workers);
  return {
    blob: Buffer.concat(frames),
    layout: { frameSize, frames: frames.map((f) => f.byteLength), size: agent.byteLength },
  };
}
