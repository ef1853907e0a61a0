/**
 * Reads and parses the config file. With the I/O of config_cache.ts, the one
 * file in `src/config/` that does I/O. The YAML parser is imported on first
 * use, so a run answered from the cache never loads it.
 *
 * @module
 */

import { open } from "node:fs/promises";
import process from "node:process";
import { configError } from "./_issues.ts";
import { configCacheKey, readCachedConfig, writeCachedConfig } from "./config_cache.ts";
import { defaultConfig, type EnvLookup } from "./default_config.ts";
import type { Config } from "./types.ts";

/**
 * Largest config file read. A real config is a few hundred bytes; the YAML
 * parser takes about 3 s per MiB of pathological input (long flow lists),
 * and a running daemon parses the file on every save.
 */
export const MAX_CONFIG_BYTES = 1 << 20;

/** Options for {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /** Remember parsed configs in this file (see config_cache.ts); off by default. */
  cacheFile?: string;
  /** The clock the cache judges a file's age by (tests move it forward). @default Date.now */
  now?: () => number;
}

/**
 * Loads the config at `path` (from `resolveConfigPath`). A missing file at the
 * default location means the built-in defaults; a missing file the user chose
 * (`explicit`) is an error. `uid` defaults to the process's uid.
 * With `options.cacheFile`, an unchanged file is answered from the cache.
 *
 * @throws {ConfigError} when the file cannot be read, is not UTF-8, or is invalid.
 */
export async function loadConfig(
  path: string,
  explicit: boolean,
  env: EnvLookup,
  uid?: number,
  options: LoadConfigOptions = {},
): Promise<Config> {
  const ownUid = uid ?? process.getuid?.();
  const { cacheFile } = options;
  // Stat before reading (see configCacheKey).
  const cache = cacheFile === undefined
    ? undefined
    : configCacheKey(path, env, ownUid, (options.now ?? Date.now)());
  if (cache && cacheFile) {
    const hit = readCachedConfig(cacheFile, cache.key, ownUid!);
    if (hit) return hit;
  }
  let bytes: Uint8Array;
  try {
    bytes = await readBounded(path);
  } catch (e) {
    if (e instanceof TooLarge) {
      throw configError([{
        file: path,
        key: "",
        problem: `the file is larger than ${MAX_CONFIG_BYTES} bytes (1 MiB)`,
        expected: "a config file of at most 1 MiB",
      }]);
    }
    const code = (e as { code?: unknown }).code;
    if (code === "ENOENT" && !explicit) return defaultConfig(env, ownUid);
    const problem = code === "ENOENT"
      ? "cannot read the config file: it does not exist"
      : `cannot read the config file (${String(code ?? (e as Error).message)})`;
    const expected = explicit
      ? "a readable file (as given by --config or WSL2PROXY_CONFIG)"
      : "a readable file, or no file at all for the defaults";
    throw configError([{ file: path, key: "", problem, expected }], e);
  }
  let text: string;
  try {
    // fatal: a config with mangled bytes should fail loudly, not gain U+FFFD.
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    throw configError([{
      file: path,
      key: "",
      problem: "the file is not valid UTF-8",
      expected: "a UTF-8 text file",
    }], e);
  }
  const { parseConfig } = await import("./parse_config.ts");
  const config = parseConfig(text, path, env, ownUid);
  if (cache?.settled && cacheFile) writeCachedConfig(cacheFile, cache.key, config, ownUid!);
  return config;
}

class TooLarge extends Error {}

/** The file's bytes, reading at most {@linkcode MAX_CONFIG_BYTES} (so `/dev/zero` or a huge file cannot exhaust memory). */
async function readBounded(path: string): Promise<Uint8Array> {
  const handle = await open(path, "r");
  try {
    const st = await handle.stat();
    if (st.isFile() && st.size > MAX_CONFIG_BYTES) throw new TooLarge();
    const buf = new Uint8Array(MAX_CONFIG_BYTES + 1);
    let n = 0;
    while (n < buf.byteLength) {
      const { bytesRead } = await handle.read(buf, n, buf.byteLength - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > MAX_CONFIG_BYTES) throw new TooLarge();
    return buf.subarray(0, n);
  } finally {
    await handle.close();
  }
}
