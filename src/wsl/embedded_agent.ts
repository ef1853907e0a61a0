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
  /** Decompress it. @throws {AgentPlacementError} `AGENT_PLACE` when the embedded copy is damaged */
  bytes(): Promise<Uint8Array>;
}

export type { ReadEmbeddedFile } from "../runtime/types.ts";

/**
 * The Windows agent carried by this build, or `null` when there is none:
 * when running from source (including `deno run` from a URL) and in builds
 * made without one (the Windows builds themselves). Nothing is decompressed
 * until `bytes()` is called.
 *
 * @throws {AgentPlacementError} `AGENT_PLACE` when the embedded files cannot
 * be read, or the recorded checksum is malformed (a damaged executable).
 */
export async function embeddedAgent(): Promise<EmbeddedAgent | null> {
  const rt = getRuntime();
  if (!rt.compiled) return null;
  const damaged = (error: unknown) =>
    new AgentPlacementError(
      "AGENT_PLACE",
      `cannot read the Windows agent embedded in ${rt.execPath()}: ${(error as Error).message}; ` +
        `download it again, or pass a separately downloaded agent with --agent PATH`,
      { cause: error },
    );
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
    async bytes() {
      try {
        const gz = await rt.readEmbeddedFile(EMBEDDED_AGENT_FILE);
        if (gz === null) throw new Error(`${EMBEDDED_AGENT_FILE} is missing`);
        return await gunzip(gz);
      } catch (error) {
        throw damaged(error);
      }
    },
  };
}

/** Decompress a gzip stream; a wrong CRC or truncated input rejects. */
export async function gunzip(gz: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const plain = gz.pipeThrough(
    new DecompressionStream("gzip") as TransformStream<Uint8Array, Uint8Array>,
  );
  return new Uint8Array(await new Response(plain).arrayBuffer());
}
