/**
 * Bun's {@linkcode ReadEmbeddedFile}: `bun build --compile
 * --asset=<file>` embeds a file, and `Bun.embeddedFiles` lists it by its base
 * name. From source the list is empty.
 *
 * @module
 */

import type { ReadEmbeddedFile } from "./types.ts";

/** The one `Bun.*` member used here (declared by hand, as in src/runtime/bun_types.d.ts). */
interface BunEmbedded {
  readonly embeddedFiles?: ReadonlyArray<Blob & { readonly name?: string }>;
}

/** The embedded file `name` as a stream, or `null` when this executable has none. */
export const readBunEmbeddedFile: ReadEmbeddedFile = (name) => {
  const bun = (globalThis as unknown as { Bun?: BunEmbedded }).Bun;
  const file = bun?.embeddedFiles?.find((f) => f.name === name);
  return Promise.resolve(file ? file.stream() : null);
};
