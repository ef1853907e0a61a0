/**
 * Compressing the Windows agent that each Linux binary embeds (read back by
 * src/wsl/embedded_agent.ts): cut into independent frames of 16 MiB
 * (src/wsl/zstd_frames.ts says why), each put through the E8 filter
 * (src/wsl/e8_filter.ts) and zstd-compressed, in parallel. zstd, because both runtimes decompress it
 * with node:zlib alone, and it beats gzip on both size and decompression time
 * (measurements: docs/DEVELOPMENT.md, "Binary and download sizes").
 *
 * Two levels: `fast` for every-day builds and the local CI, `release` for
 * the published binaries (`scripts/build.ts --release`).
 *
 * @module
 */
import * as fs from "node:fs";
import * as os from "node:os";
import { promisify } from "node:util";
import { constants, zstdCompress } from "node:zlib";
import { e8Filter } from "../src/wsl/e8_filter.ts";
import type { ZstdFrames } from "../src/wsl/zstd_frames.ts";

/** Which setting to compress the agent with. */
export type AgentProfile = "fast" | "release";

/** zstd level of each profile. */
export const AGENT_ZSTD_LEVEL: Record<AgentProfile, number> = {
  // See docs/DEVELOPMENT.md for the measured sizes and times.
  fast: 9,
  release: 19,
};

/** Decompressed size of each frame but the last. */
export const FRAME_SIZE = 16 << 20;

const compress = promisify(zstdCompress);

/**
 * Filter and compress the agent `input` into `output` (overwritten) at
 * `level`; resolves with the frame layout to record beside it.
 */
export async function compressAgent(
  input: string,
  output: string,
  level: number,
): Promise<ZstdFrames> {
  const { blob, layout } = await compressAgentBytes(new Uint8Array(fs.readFileSync(input)), level);
  fs.writeFileSync(output, blob);
  return layout;
}

/**
 * Filter and compress `agent` (not modified) at `level` in frames of
 * `frameSize`; every frame carries a content checksum.
 */
export async function compressAgentBytes(
  agent: Uint8Array,
  level: number,
  frameSize: number = FRAME_SIZE,
): Promise<{ blob: Uint8Array; layout: ZstdFrames }> {
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
            [constants.ZSTD_c_compressionLevel]: level,
            [constants.ZSTD_c_checksumFlag]: 1,
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
