/**
 * What the config readers share: the reading state, the "expected ..." texts
 * of the messages, and the readers of paths with `~` and `{runtime_dir}`.
 *
 * @module
 */
import { checkAbsolutePath, expandTemplates, expandTilde, type Result } from "./_expand.ts";
import { type Ctx, stringOf, type Value } from "./_nodes.ts";
import { LOG_LEVELS, SOCKET_PROTOCOLS } from "./types.ts";

export const ROOT_KEYS = ["log_level", "log_path", "runtime_dir", "sockets", "agent"] as const;
export const SOCKET_KEYS = [
  "env_name",
  "linux_addr",
  "windows_addr",
  "allow_remote",
  "protocol",
] as const;
export const AGENT_KEYS = ["command", "path"] as const;

export const EXPECT = {
  root: `a mapping of settings (${ROOT_KEYS.join(", ")})`,
  logLevel: `one of ${LOG_LEVELS.join(", ")}`,
  path: "an absolute path (~ and {runtime_dir} are expanded)",
  runtimeDir: "an absolute path (~ is expanded)",
  runtimeDirTemplates: "no templates in runtime_dir (only ~ is expanded)",
  template: "{runtime_dir}",
  sockets: "a list of sockets, each with env_name, linux_addr and windows_addr",
  socket: "a mapping with env_name, linux_addr and windows_addr",
  envName: "a shell variable name such as SSH_AUTH_SOCK",
  bool: "true or false",
  protocol: `one of ${SOCKET_PROTOCOLS.join(", ")}`,
  agent: "a mapping with command or path",
  command: 'a non-empty list of strings such as ["wsl2proxy-agent.exe"]',
  commandItem: "a string (quote numbers)",
} as const;

/** Reading state for one file: YAML document, issues, and what templates expand to. */
export interface State extends Ctx {
  readonly home: string | undefined;
  readonly vars: Readonly<Record<string, string>>;
}

/** Applies `~` then `{...}` templates; records an issue and returns undefined on failure. */
export function expand(
  st: State,
  v: Value,
  key: string,
  s: string,
  templatesExpected: string,
  tildeToo = true,
): string | undefined {
  const tilde = tildeToo ? expandTilde(s, st.home) : { ok: true as const, value: s };
  const done = tilde.ok ? expandTemplates(tilde.value, st.vars, templatesExpected) : tilde;
  return ok(st, v, key, done);
}

export function ok<T>(st: Ctx, v: Value, key: string, r: Result<T>): T | undefined {
  if (r.ok) return r.value;
  st.issues.add(v.at, key, r.problem, r.expected);
  return undefined;
}

export function readPath(st: State, v: Value, key: string, expected: string): string | undefined {
  const s = stringOf(st, v, key, expected);
  if (s === undefined) return undefined;
  const templates = key === "runtime_dir" ? EXPECT.runtimeDirTemplates : EXPECT.template;
  const expanded = expand(st, v, key, s, templates);
  return expanded === undefined ? undefined : ok(st, v, key, checkAbsolutePath(expanded, expected));
}
