/**
 * The built-in defaults, used when there is no config file and for every key
 * a config file leaves out.
 *
 * @module
 */

import { hasControl, normalizePosixPath } from "./_expand.ts";
import type { Config, SocketConfig, SocketProtocol } from "./types.ts";

/** Looks up an environment variable (e.g. `(n) => process.env[n]`). */
export type EnvLookup = (name: string) => string | undefined;

/** The default socket's environment variable. */
export const DEFAULT_ENV_NAME = "SSH_AUTH_SOCK";
/** The default socket's Windows target: the Windows OpenSSH (and 1Password) agent pipe. */
export const DEFAULT_WINDOWS_ADDR = "pipe://./pipe/openssh-ssh-agent";
/** The default socket's file name inside the runtime directory. */
export const DEFAULT_SOCKET_FILE = "default-ssh-auth.sock";

/**
 * The default `runtime_dir`: `$XDG_RUNTIME_DIR/wsl2proxy` when that variable
 * holds an absolute path (the XDG spec says to ignore relative ones), else
 * `/tmp/wsl2proxy-$USER`, with the uid standing in for an unusable `$USER`.
 */
export function defaultRuntimeDir(env: EnvLookup, uid?: number): string {
  const xdg = env("XDG_RUNTIME_DIR");
  if (xdg !== undefined && xdg.startsWith("/") && !hasControl(xdg)) {
    return normalizePosixPath(`${xdg}/wsl2proxy`);
  }
  const user = env("USER");
  // $USER lands in a path under /tmp, so it must be one plain name.
  const usable = user !== undefined && /^[A-Za-z0-9._-]+$/.test(user) && user !== "." &&
    user !== "..";
  return `/tmp/wsl2proxy-${usable ? user : String(uid ?? "unknown")}`;
}

/** The default socket: `SSH_AUTH_SOCK` at `{runtime_dir}/default-ssh-auth.sock` → the OpenSSH agent pipe. */
export function defaultSocket(runtimeDir: string): SocketConfig {
  return {
    envName: DEFAULT_ENV_NAME,
    linuxAddr: { kind: "unix", path: normalizePosixPath(`${runtimeDir}/${DEFAULT_SOCKET_FILE}`) },
    windowsAddr: {
      kind: "pipe",
      path: "\\\\.\\pipe\\openssh-ssh-agent",
      url: DEFAULT_WINDOWS_ADDR,
    },
    allowRemote: false,
    protocol: "ssh-agent",
  };
}

/**
 * The `protocol` a socket gets when its config does not say: `ssh-agent`
 * for `SSH_AUTH_SOCK` and every `*_AUTH_SOCK` (such as `SSH_SUDO_AUTH_SOCK`),
 * since those variables name ssh-agent sockets by convention; else `raw`.
 */
export function defaultProtocol(envName: string): SocketProtocol {
  return envName === "SSH_AUTH_SOCK" || envName.endsWith("_AUTH_SOCK") ? "ssh-agent" : "raw";
}

/** The configuration used when there is no config file (`file` is `undefined`). */
export function defaultConfig(env: EnvLookup, uid?: number): Config {
  const runtimeDir = defaultRuntimeDir(env, uid);
  return {
    file: undefined,
    logLevel: "info",
    logPath: `${runtimeDir}/proxy.log`,
    runtimeDir,
    sockets: [defaultSocket(runtimeDir)],
    agent: { kind: "auto" },
    warnings: [],
  };
}
