/**
 * The Windows agent that a compiled Linux build carries inside itself,
 * zstd-compressed, so that one download is enough: `scripts/build.ts` builds
 * the matching Windows agent first and embeds it as
 * {@linkcode EMBEDDED_AGENT_FILE}. How a runtime embeds a file differs, so
 * reading it is the runtime layer's (`Runtime.readEmbeddedFile`);
 * decompressing is shared (see unzstd.ts).
 *
 * @module
 */

import { AgentPlacementError } from "../errors.ts";
import { getRuntime } from "../runtime/mod.ts";
import { unzstd } from "./unzstd.ts";

/** The name the build embeds the zstd-compressed agent under. */
export const EMBEDDED_AGENT_FILE = "wsl2proxy-agent.exe.zst";
/**
 * The name of the JSON the build embeds beside it: `{ "sha256": <hex>,
 * "size": <bytes> }` of the uncompressed agent, so a copy already placed can be
 * recognised without decompressing (or hashing) 120 MB on every start.
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
  const { sha256, size } = (info ?? {}) as { sha256?: unknown; size?: unknown };
  if (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256) || !Number.isSafeInteger(size)) {
    throw damaged(new Error(`${EMBEDDED_AGENT_INFO_FILE} is malformed`));
  }
  return {
    sha256,
    size: size as number,
    open() {
      const zst = rt.readEmbeddedFile(EMBEDDED_AGENT_FILE).then((stream) => {
        if (stream === null) throw new Error(`${EMBEDDED_AGENT_FILE} is missing`);
        return stream;
      });
      return decompressAgent(zst, size as number, damaged);
    },
  };
}

/**
 * Decompress the zstd-compressed agent, checking that it comes out exactly
 * `size` bytes long; every failure (unreadable, corrupt, truncated, too long)
 * errors the stream with `damaged(cause)`.
 */
export function decompressAgent(
  zst: Promise<ReadableStream<Uint8Array>> | ReadableStream<Uint8Array>,
  size: number,
  damaged: (cause: unknown) => Error = embeddedDamaged("this executable"),
): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let seen = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        reader ??= unzstd(await zst).getReader();
        const { done, value } = await reader.read();
        if (!done) {
          seen += value.byteLength;
          if (seen > size) throw new Error(`it decompresses to more than ${size} bytes`);
          controller.enqueue(value);
        } else if (seen !== size) {
          throw new Error(`it decompresses to ${seen} bytes, not ${size}: it is truncated`);
        } else {
          controller.close();
        }
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
