/**
 * Reads and parses the config file. The one file in `src/config/` that does I/O.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import process from "node:process";
import { configError } from "./_issues.ts";
import { defaultConfig, type EnvLookup } from "./default_config.ts";
import { parseConfig } from "./parse_config.ts";
import type { Config } from "./types.ts";

/**
 * Loads the config at `path` (from `resolveConfigPath`). A missing file at the
 * default location means the built-in defaults; a missing file the user chose
 * (`explicit`) is an error. `uid` defaults to the process's uid.
 *
 * @throws {ConfigError} when the file cannot be read, is not UTF-8, or is invalid.
 */
export async function loadConfig(
  path: string,
  explicit: boolean,
  env: EnvLookup,
  uid?: number,
): Promise<Config> {
  const ownUid = uid ?? process.getuid?.();
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
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
  return parseConfig(text, path, env, ownUid);
}
