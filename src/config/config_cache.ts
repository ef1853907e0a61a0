/**
 * A parsed config remembered between runs, so that `start` in every new shell
 * skips loading and running the YAML parser (~3 ms to evaluate it and 3–5 ms
 * to parse a small file in a compiled binary, about a third of `start`).
 *
 * The entry is keyed by everything the parsed config depends on: this
 * program's version, the file's path and its `stat` (device, inode, size,
 * mtime and ctime in nanoseconds), the uid, and `HOME`, `XDG_RUNTIME_DIR` and
 * `USER`. Any edit, atomic save or `touch` changes the key, and the file is
 * parsed again. Two guards close the remaining gaps:
 *
 * - **Racy timestamps.** File times tick in jiffies, and Deno's `node:fs`
 *   reports ctime in whole seconds, so two same-size writes close together
 *   look alike. As in git's "racy index" rule, a file changed in the last
 *   {@linkcode SETTLE_MS} is parsed but not remembered: any later edit then
 *   lands at least a second after the remembered times.
 * - **Trust.** The entry is used only if it is a regular file (not a symlink)
 *   owned by this uid and writable by nobody else, in a directory made 0700.
 *   It sits beside the config in the user's home, so whoever can write it can
 *   already write the config.
 *
 * Only valid configs are remembered; errors are always reported from a fresh
 * parse. Failing to read or write the cache is never an error.
 *
 * @module
 */

import { lstatSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import process from "node:process";
import { VERSION } from "../version.ts";
import type { EnvLookup } from "./default_config.ts";
import type { Config } from "./types.ts";

/**
 * The shape of the remembered {@linkcode Config}; bump it when that shape
 * changes, so that a build of the same version never reads an entry without
 * a newer field (2: `sockets[].protocol`).
 */
const CACHE_FORMAT = 2;

/** A file changed less than this long ago is not remembered (see the module doc). */
export const SETTLE_MS = 2000;

/** Where the cache lives: `$XDG_CACHE_HOME/wsl2proxy/config.json`, else `~/.cache/…`. */
export function configCacheFile(env: EnvLookup): string | undefined {
  const xdg = env("XDG_CACHE_HOME");
  const home = env("HOME");
  const base = xdg?.startsWith("/") ? xdg : home?.startsWith("/") ? `${home}/.cache` : undefined;
  return base === undefined ? undefined : `${base}/wsl2proxy/config.json`;
}

/** The cache key for the config at `path`, and whether a parse of it may be remembered. */
export interface CacheKey {
  key: string;
  settled: boolean;
}

/**
 * Stat `path` and build its key. Call it *before* reading the file: if the
 * file changes in between, the entry is stored under the old key and never
 * matches again. `undefined` if the file cannot be stat'ed or there is no uid.
 */
export function configCacheKey(
  path: string,
  env: EnvLookup,
  uid: number | undefined,
  now = Date.now(),
): CacheKey | undefined {
  if (uid === undefined) return undefined;
  let st;
  try {
    st = statSync(path, { bigint: true });
  } catch {
    return undefined;
  }
  const changed = Math.max(Number(st.mtimeMs), Number(st.ctimeMs));
  const key = JSON.stringify([
    VERSION,
    CACHE_FORMAT,
    path,
    uid,
    env("HOME") ?? null,
    env("XDG_RUNTIME_DIR") ?? null,
    env("USER") ?? null,
    [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].map(String),
  ]);
  return { key, settled: now - changed > SETTLE_MS };
}

/** The remembered config for `key`, if the cache file holds it and may be trusted. */
export function readCachedConfig(file: string, key: string, uid: number): Config | undefined {
  try {
    const st = lstatSync(file);
    if (!st.isFile() || st.uid !== uid || (st.mode & 0o022) !== 0) return undefined;
    const entry = JSON.parse(readFileSync(file, "utf8"));
    if (entry?.key !== key) return undefined;
    const config = entry.config;
    const valid = typeof config?.runtimeDir === "string" && typeof config.logPath === "string" &&
      Array.isArray(config.sockets) && Array.isArray(config.warnings) &&
      typeof config.agent?.kind === "string";
    return valid ? config : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Remember `config` under `key` (atomically: a temporary file renamed into
 * place). Only in a home of our own: root running with another user's `HOME`
 * (`sudo -E`) would otherwise leave a directory that user cannot write.
 */
export function writeCachedConfig(file: string, key: string, config: Config, uid: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    if (ownerOfNearest(dirname(file)) !== uid) return;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, JSON.stringify({ key, config }), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // A read-only or missing home only costs the next start a parse.
  }
}

/** The owner of `path`, or of its nearest existing ancestor. */
function ownerOfNearest(path: string): number {
  for (let p = path;; p = dirname(p)) {
    try {
      return lstatSync(p).uid;
    } catch {
      if (dirname(p) === p) return -1;
    }
  }
}
