/**
 * Whether we run inside WSL, decided from the environment and the interop
 * `binfmt_misc` entry. The environment variables are missing under `sudo`,
 * `env -i` and some systemd units, so the binfmt file is checked as well.
 *
 * @module
 */

import { exists, getRuntime } from "../runtime/mod.ts";

/** Reads one environment variable. */
export type EnvLookup = (name: string) => string | undefined;

/** Whether a file exists. */
export type FileExists = (path: string) => Promise<boolean>;

/** The answer of {@linkcode detectWsl}. */
export interface WslDetection {
  /** True when WSL interop should be available. */
  isWsl: boolean;
  /** Which signal decided it, e.g. `WSL_DISTRO_NAME=Ubuntu is set`; for logs and error messages. */
  reason: string;
}

/** Environment variables WSL sets in every session, checked in this order. */
export const WSL_ENV_VARS: readonly string[] = ["WSL_DISTRO_NAME", "WSL_INTEROP"];

/** The binfmt_misc entries WSL registers for running `.exe` files (`-late` on newer WSL). */
export const WSL_INTEROP_FILES: readonly string[] = [
  "/proc/sys/fs/binfmt_misc/WSLInterop",
  "/proc/sys/fs/binfmt_misc/WSLInterop-late",
];

/**
 * Decide whether we run inside WSL from the injected lookups. An empty
 * variable counts as unset.
 *
 * @example
 * ```ts
 * const env = (name: string) => (name === "WSL_INTEROP" ? "/run/WSL/1_interop" : undefined);
 * const found = await detectWsl(env, () => Promise.resolve(false));
 * // found: { isWsl: true, reason: "WSL_INTEROP=/run/WSL/1_interop is set" }
 * ```
 */
export async function detectWsl(env: EnvLookup, fileExists: FileExists): Promise<WslDetection> {
  for (const name of WSL_ENV_VARS) {
    const value = env(name);
    if (value) return { isWsl: true, reason: `${name}=${value} is set` };
  }
  for (const file of WSL_INTEROP_FILES) {
    if (await fileExists(file)) return { isWsl: true, reason: `${file} exists` };
  }
  return {
    isWsl: false,
    reason: `neither ${WSL_ENV_VARS.join(" nor ")} is set and there is no ${
      WSL_INTEROP_FILES.join(" or ")
    }`,
  };
}

/** {@linkcode detectWsl} with this process's environment and the real file system. */
export function detectCurrentWsl(): Promise<WslDetection> {
  const rt = getRuntime();
  return detectWsl((name) => rt.env(name), (path) => exists(path).catch(() => false));
}
