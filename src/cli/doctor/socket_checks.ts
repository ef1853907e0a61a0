/**
 * Per-socket checks on the Linux side: is the `linux_addr` free, ours, or
 * held by another process (a local ssh-agent or gpg-agent that autostarted
 * onto the path), and does the calling shell's variable point at it.
 *
 * @module
 */
import { formatLinuxAddr } from "../../config/addr.ts";
import type { SocketConfig } from "../../config/types.ts";
import { lstat } from "../../runtime/mod.ts";
import { exportValue } from "../exports.ts";
import { type CheckResult, type DoctorSeam, result } from "./check.ts";
import { type SocketHolder, whoListens } from "./proc_sockets.ts";

/** Our running daemon, when one answers on the control socket. */
export interface OurDaemon {
  pid: number;
}

/** `linux_addr` is free, held by our daemon, or held by another process (named). */
export async function checkLinuxAddr(
  seam: DoctorSeam,
  socket: SocketConfig,
  daemon: OurDaemon | null,
): Promise<CheckResult> {
  const name = `linux_addr ${socket.envName}`;
  const addr = formatLinuxAddr(socket.linuxAddr);
  const { inodes, holders } = await whoListens(seam, socket.linuxAddr);
  const others = holders.filter((h) => h.pid !== daemon?.pid);
  if (inodes.length > 0 && daemon && holders.length > 0 && others.length === 0) {
    return result(name, "ok", `${addr}: ours (the daemon, pid ${daemon.pid})`);
  }
  if (inodes.length > 0) {
    const who = others.length
      ? others.map(describe).join(", ")
      : "a process we cannot see (another user's; run doctor as root to name it)";
    return result(
      name,
      "fail",
      `${addr} is held by ${who}`,
      `stop it or keep it off this path (${hint(others)}), or give this socket another linux_addr`,
    );
  }
  if (socket.linuxAddr.kind === "tcp") return result(name, "ok", `${addr} is free`);
  let info;
  try {
    info = await lstat(socket.linuxAddr.path);
  } catch {
    return result(name, "ok", `${addr} is free`);
  }
  if (!info.isSocket) {
    return result(
      name,
      "fail",
      `${addr} exists and is not a socket`,
      `move that file away, or give this socket another linux_addr`,
    );
  }
  return result(name, "ok", `${addr} is a stale socket file nobody listens on; start replaces it`);
}

/** The calling shell's variable points at our socket. */
export function checkEnvVar(seam: DoctorSeam, socket: SocketConfig): CheckResult {
  const name = `env ${socket.envName}`;
  const ours = exportValue(socket.linuxAddr);
  const value = seam.env(socket.envName);
  const start =
    `eval "$(wsl2proxy start)" in ~/.bashrc (after anything else that sets ${socket.envName})`;
  if (value === ours) return result(name, "ok", `${socket.envName}=${value}`);
  if (value === undefined || value === "") {
    return result(name, "warn", `${socket.envName} is not set in this shell`, start);
  }
  return result(
    name,
    "warn",
    `${socket.envName}=${value}, not ours (${ours}): clients in this shell use something else`,
    `remove what sets it (an ssh-agent or gpg-agent autostart, keychain, a plugin), or put ${start}`,
  );
}

function describe(h: SocketHolder): string {
  return `${h.name} (pid ${h.pid})`;
}

/** How to keep a known squatter away. */
function hint(holders: SocketHolder[]): string {
  const names = new Set(holders.map((h) => h.name));
  if (names.has("gpg-agent")) {
    return "gpg-agent: drop enable-ssh-support from ~/.gnupg/gpg-agent.conf and run gpgconf --kill gpg-agent";
  }
  if (names.has("ssh-agent")) {
    return "ssh-agent: remove the eval $(ssh-agent) or keychain line that starts it";
  }
  return "see what starts it: systemctl --user list-units, ~/.bashrc, ~/.profile";
}
