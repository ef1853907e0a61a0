/**
 * Where the config file is: `--config`, else `$WSL2PROXY_CONFIG`, else
 * `$XDG_CONFIG_HOME/wsl2proxy/config.yaml`, else `~/.config/wsl2proxy/config.yaml`.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { EnvLookup } from "./default_config.ts";

/** Where the config file is, and whether the user chose it. */
export interface ConfigPath {
  /** The file to read. */
  readonly path: string;
  /**
   * True when given by `--config` or `$WSL2PROXY_CONFIG`: then a missing file
   * is an error. False for the default location: a missing file means defaults.
   */
  readonly explicit: boolean;
}

/**
 * Resolves the config file's path. `flag` is the `--config` value, if any.
 * A leading `~/` in `$WSL2PROXY_CONFIG` is expanded (a shell does it for the flag).
 * A relative `$XDG_CONFIG_HOME` is ignored, as the XDG spec says.
 *
 * @throws {ConfigError} when `--config` is empty, or no location can be found ($HOME unset).
 */
export function resolveConfigPath(flag: string | undefined, env: EnvLookup): ConfigPath {
  if (flag !== undefined) {
    if (flag === "") throw new ConfigError("--config: empty path; expected the config file's path");
    return { path: flag, explicit: true };
  }
  const home = env("HOME");
  const fromEnv = env("WSL2PROXY_CONFIG");
  if (fromEnv !== undefined && fromEnv !== "") {
    const expanded = fromEnv.startsWith("~/") && home?.startsWith("/")
      ? home + fromEnv.slice(1)
      : fromEnv;
    return { path: expanded, explicit: true };
  }
  const xdg = env("XDG_CONFIG_HOME");
  if (xdg !== undefined && xdg.startsWith("/")) {
    return { path: `${xdg.replace(/\/+$/, "")}/wsl2proxy/config.yaml`, explicit: false };
  }
  if (home === undefined || !home.startsWith("/")) {
    throw new ConfigError(
      "HOME: not set (or not absolute), so there is no default config file; expected HOME, XDG_CONFIG_HOME, " +
        "WSL2PROXY_CONFIG or --config",
    );
  }
  return { path: `${home.replace(/\/+$/, "")}/.config/wsl2proxy/config.yaml`, explicit: false };
}
