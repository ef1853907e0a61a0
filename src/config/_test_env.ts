/**
 * Shared fixtures for the config tests. Private to `src/config/`.
 *
 * @module
 */

import type { EnvLookup } from "./default_config.ts";

/** The config file name the tests report errors against. */
export const FILE = "/home/me/.config/wsl2proxy/config.yaml";

/** An environment lookup over a fixed record. */
export function envOf(vars: Record<string, string>): EnvLookup {
  return (name) => (Object.hasOwn(vars, name) ? vars[name] : undefined);
}

/** A typical WSL2 login environment. */
export const ENV: EnvLookup = envOf({
  HOME: "/home/me",
  XDG_RUNTIME_DIR: "/run/user/1000",
  USER: "me",
});

/** Joins lines into a YAML document (with the trailing newline). */
export function yaml(...lines: string[]): string {
  return lines.join("\n") + "\n";
}
