/**
 * The Windows agent that a compiled Linux build carries inside itself,
 * compressed (E8 filter and brotli), so that one download is enough:
 * `scripts/build.ts` builds the matching Windows agent first and embeds it as
 * {@linkcode EMBEDDED_AGENT_FILE}. How a runtime embeds a file differs, so
 * reading it is the runtime layer's (`Runtime.readEmbeddedFile`);
 * decompressing is shared (see compressed_frames.ts and e8_filter.ts).
 *
 * @module
 */

import { AgentPlacementError } from "../errors.ts";
import { getRuntime } from "../runtime/mod.ts";
import { type FrameLayout, unpackFrames } from "./compressed_frames.ts";

/**
 * The name the build embeds the agent under: cut into frames of 16 MiB,
 * each E8-filtered (e8_filter.ts) and brotli-compressed (compressed_frames.ts).
 */
export const EMBEDDED_AGENT_FILE = "wsl2proxy-agent.exe.e8.br";
/**
 * The name of the JSON the build embeds beside it: `{ "sha256": <hex>,
 * "size": <bytes> }` of the uncompressed agent, so a copy already placed can be
 * recognised without decompressing (or hashing) 120 MB on every start, and
 * `"frameSize"` and `"frames"` (see {@linkcode FrameLayout}).
 */
export const EMBEDDED_AGENT_INFO_FILE = "wsl2proxy-agent.json";

/** The embedded agent: its recorded checksum and size, and its bytes on demand. */
export interface EmbeddedAgent {
  /** Lower-case hex SHA-256 of the uncompressed agent, as recorded at build time. */
  sha256: string;
  /** Its size in bytes. */
  size: number;
  /**
   * Its decompressed bytes as a stream, chunk by chunk (the whole agent is
   * never in memory). The stream errors with an {@linkcode AgentPlacementError}
   * `AGENT_PLACE` when the embedded copy is damaged: missing, corrupt, or
   * decompressing to another size than {@linkcode size}. Checking the
   * SHA-256 is the reader's job (it hashes what it writes anyway).
   */
  open(): ReadableStream<Uint8Array>;
}

export type { ReadEmbeddedFile } from "../runtime/types.ts";

/**
 * The Windows agent carried by this build, or `null` when there is none:
 * when running from source (including `deno run` from a URL) and in builds
 * made without one (the Windows builds themselves). Nothing is decompressed
 * until `open()` is read.
 *
 * @throws {AgentPlacementError} `AGENT_PLACE` when the embedded files cannot
 * be read, or the recorded checksum is malformed (a damaged executable).
 */
export async function embeddedAgent(): Promise<EmbeddedAgent | null> {
  const rt = getRuntime();
  if (!rt.compiled) return null;
  const damaged = embeddedDamaged(rt.execPath());
  let info: unknown;
  try {
    const json = await rt.readEmbeddedFile(EMBEDDED_AGENT_INFO_FILE);
    if (json === null) return null;
    info = JSON.parse(await new Response(json).text());
  } catch (error) {
    throw damaged(error);
  }
  const { sha256, size, frameSize, frames } = (info ?? {}) as Record<string, unknown>;
  if (
    typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256) || !Number.isSafeInteger(size) ||
    !Number.isSafeInteger(frameSize) || (frameSize as number) <= 0 || !Array.isArray(frames) ||
    !frames.every((n) => Number.isSafeInteger(n) && n > 0)
  ) {
    throw damaged(new Error(`${EMBEDDED_AGENT_INFO_FILE} is malformed`));
  }
  const layout = {
    size: size as number,
    frameSize: frameSize as number,
    frames: frames as number[],
  };
  return {
    sha256,
    size: size as number,
    open() {
      const zst = rt.readEmbeddedFile(EMBEDDED_AGENT_FILE).then((stream) => {
        if (stream === null) throw new Error(`${EMBEDDED_AGENT_FILE} is missing`);
        return stream;
      });
      return decompressAgent(zst, layout, damaged);
    },
  };
}

/**
 * Decompress the agent (brotli frames, each E8 filter undone), checking
 * that it comes out exactly `layout.size` bytes long; every failure
 * (unreadable, corrupt, truncated, too long) errors the stream with
 * `damaged(cause)`.
 */
export function decompressAgent(
  zst: Promise<ReadableStream<Uint8Array>> | ReadableStream<Uint8Array>,
  layout: FrameLayout,
  damaged: (cause: unknown) => Error = embeddedDamaged("this executable"),
): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        reader ??= unpackFrames(await zst, layout).getReader();
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(damaged(error));
        await reader?.cancel().catch(() => {});
      }
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** The error for a damaged embedded agent in the executable at `execPath`. */
function embeddedDamaged(execPath: string): (cause: unknown) => AgentPlacementError {
  return (cause) =>
    new AgentPlacementError(
      "AGENT_PLACE",
      `cannot read the Windows agent embedded in ${execPath}: ${(cause as Error).message}; ` +
        `download it again, or pass a separately downloaded agent with --agent PATH`,
      { cause },
    );
}
