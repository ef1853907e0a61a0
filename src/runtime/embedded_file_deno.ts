/**
 * Deno's {@linkcode ReadEmbeddedFile}: `deno compile --include <file>`
 * puts a file into the executable's virtual file system at the same place
 * relative to the main module as at build time, and `scripts/build.ts` puts
 * it right beside the bundle it compiles. Only called in a compiled
 * executable: from source the main module may well be an `https:` URL.
 *
 * @module
 */

import type { ReadEmbeddedFile } from "./types.ts";

/** The embedded file `name` as a stream, or `null` when this executable has none. */
export const readDenoEmbeddedFile: ReadEmbeddedFile = async (name) => {
  const url = new URL(`./${name}`, Deno.mainModule);
  if (url.protocol !== "file:") return null;
  try {
    const bytes = await Deno.readFile(url);
    // One chunk, not a Blob: a Blob would copy the ~45 MB blob once more.
    return new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
};
