/**
 * Compressing the Windows agent that each Linux binary embeds (read back by
 * src/wsl/embedded_agent.ts). zstd, because both runtimes decompress it with
 * node:zlib alone, and it beats gzip on both size and decompression time
 * (measurements: docs/BENCHMARKS.md, "Download size").
 *
 * Two settings: `fast` for every-day builds and the local CI, `release` for
 * the published binaries (`scripts/build.ts --release`). The `zstd` program
 * is used when it is on the PATH (it runs level 19 on every core); otherwise
 * node:zlib, which gives a frame of the same format on one core.
 *
 * @module
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { pipeline } from "node:stream/promises";
import { constants, createZstdCompress } from "node:zlib";

/** Which setting to compress the agent with. */
export type AgentProfile = "fast" | "release";

/** A zstd setting. */
export interface ZstdSetting {
  /** Compression level, 1-19. */
  level: number;
  /**
   * Long-distance matching with a 2^27-byte (128 MiB) window: it finds the
   * repeats across the whole 120 MB agent. 27 is the largest window every
   * zstd decoder accepts by default (src/wsl/unzstd.ts).
   */
  long: boolean;
}

/** The settings of each profile. */
export const AGENT_ZSTD: Record<AgentProfile, ZstdSetting> = {
  // On the 120 MB Bun agent: 50.4 MB in 4 s (gzip -6: 56.6 MB in 8 s).
  fast: { level: 9, long: false },
  // 45.0 MB; about 3 min with the zstd program on two cores.
  release: { level: 19, long: true },
};

/** A name for a setting, used in cache paths: `zstd9`, `zstd19-long27`. */
export function settingName(setting: ZstdSetting): string {
  return `zstd${setting.level}${setting.long ? "-long27" : ""}`;
}

/**
 * Compress `input` into `output` (overwritten) with `setting`; resolves with
 * the tool that did it. Every frame carries a content checksum.
 */
export async function compressAgent(
  input: string,
  output: string,
  setting: ZstdSetting,
): Promise<"zstd" | "node:zlib"> {
  const argv = [
    "-q",
    "-f",
    `-${setting.level}`,
    ...(setting.long ? ["--long=27"] : []),
    "--check",
    "-T0",
    "-o",
    output,
    input,
  ];
  if (await runZstd(argv)) return "zstd";
  await pipeline(
    fs.createReadStream(input),
    createZstdCompress({
      params: {
        [constants.ZSTD_c_compressionLevel]: setting.level,
        [constants.ZSTD_c_checksumFlag]: 1,
        ...(setting.long
          ? { [constants.ZSTD_c_enableLongDistanceMatching]: 1, [constants.ZSTD_c_windowLog]: 27 }
          : {}),
      },
    }),
    fs.createWriteStream(output),
  );
  return "node:zlib";
}

/** Run the `zstd` program: false when it is not installed; rejects when it fails. */
function runZstd(argv: string[]): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn("zstd", argv, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") resolve(false);
      else reject(error);
    });
    child.once("close", (code) => {
      if (code === 0) resolve(true);
      else if (code !== null || err) {
        reject(new Error(`zstd ${argv.join(" ")} exited with ${code}:\n${err}`));
      }
    });
  });
}
