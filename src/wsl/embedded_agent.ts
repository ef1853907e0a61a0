/**
 * The Windows agent that a compiled Linux build carries inside itself,
 * gzip-compressed, so that one download is enough: `scripts/build.ts` builds
 * the matching Windows agent first and embeds it as
 * {@linkcode EMBEDDED_AGENT_FILE}. How a runtime embeds a file differs, so
 * reading it is the runtime layer's (`Runtime.readEmbeddedFile`);
 * decompressing is shared and uses only Web Streams.
 *
 * @module
 */

import { AgentPlacementError } from "../errors.ts";
import { getRuntime } from "../runtime/mod.ts";

/** The name the build embeds the gzip-compressed agent under. */
export const EMBEDDED_AGENT_FILE = "wsl2proxy-agent.exe.gz";

export type { ReadEmbeddedFile } from "../runtime/types.ts";

/**
 * The Windows agent carried by this build, decompressed, or `null` when
 * there is none: when running from source (including `deno run` from a URL)
 * and in builds made without one (the Windows builds themselves).
 *
 * @throws {AgentPlacementError} `AGENT_PLACE` when the embedded copy cannot
 * be read or is not valid gzip (a damaged executable).
 */
export async function embeddedAgent(): Promise<Uint8Array | null> {
  const rt = getRuntime();
  if (!rt.compiled) return null;
  try {
    const gz = await rt.readEmbeddedFile(EMBEDDED_AGENT_FILE);
    return gz === null ? null : await gunzip(gz);
  } catch (error) {
    throw new AgentPlacementError(
      "AGENT_PLACE",
      `cannot read the Windows agent embedded in ${rt.execPath()}: ${(error as Error).message}; ` +
        `download it again, or pass a separately downloaded agent with --agent PATH`,
      { cause: error },
    );
  }
}

/** Decompress a gzip stream; a wrong CRC or truncated input rejects. */
export async function gunzip(gz: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const plain = gz.pipeThrough(
    new DecompressionStream("gzip") as TransformStream<Uint8Array, Uint8Array>,
  );
  return new Uint8Array(await new Response(plain).arrayBuffer());
}
