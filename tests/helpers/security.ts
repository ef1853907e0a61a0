/**
 * What the security tests share: running a program as another uid with
 * `setpriv`, a bridge config, echo round trips, and readers of
 * /proc/PID/net for the sockets a process holds.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { getRuntime } from "../../src/runtime/mod.ts";
import type { Conn } from "../../src/runtime/mod.ts";
import type { DaemonStatus } from "../../src/daemon/daemon.ts";
import { agentCommandYaml, type Sandbox } from "./cli.ts";
import { readAll, within, writeAll } from "./mux.ts";
import { runProcess } from "./process.ts";

export const NOBODY = 65534;

export interface BridgeSocket {
  env: string;
  linux: string;
  windows: string;
  allowRemote?: boolean;
}

/** Config YAML for these sockets, with the agent run from this runtime. */
export function bridgeYaml(box: Sandbox, sockets: BridgeSocket[], logLevel = "debug"): string {
  return `log_level: ${logLevel}\nruntime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
    `agent:\n  command: ${agentCommandYaml()}\n` +
    `sockets:\n` +
    sockets.map((s) =>
      `  - env_name: ${s.env}\n    linux_addr: ${JSON.stringify(s.linux)}\n    windows_addr: ${
        JSON.stringify(s.windows)
      }\n` +
      (s.allowRemote === undefined ? "" : `    allow_remote: ${s.allowRemote}\n`)
    ).join("");
}

/** Send `data` on `conn`, half-close, and return everything read back; closes the conn. */
export async function roundTrip(conn: Conn, data: Uint8Array): Promise<Uint8Array> {
  try {
    const [, got] = await within(
      30_000,
      Promise.all([writeAll(conn.writable, data), readAll(conn.readable)]),
      "round trip",
    );
    return got;
  } finally {
    conn.close();
  }
}

/** Echo `data` through the bridge's Unix socket at `path` and check it comes back byte-exact. */
export async function echoUnix(path: string, data: Uint8Array): Promise<void> {
  const got = await roundTrip(await getRuntime().connectUnix(path), data);
  assert.deepEqual(got, data, `echo through ${path}`);
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const l = await getRuntime().listenTcp("127.0.0.1", 0);
  const port = Number(l.addr.slice(l.addr.lastIndexOf(":") + 1));
  await l.close();
  return port;
}

/** Run `argv` as uid/gid `uid` with no supplementary groups. */
export function asUser(
  uid: number,
  argv: string[],
  input: Uint8Array,
  env?: Record<string, string>,
) {
  return runProcess(
    ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", ...argv],
    { input, env, timeoutMs: 60_000 },
  );
}

/** Run `argv` as uid/gid 65534 with no supplementary groups. */
export function asNobody(argv: string[], input: Uint8Array) {
  return asUser(NOBODY, argv, input);
}

/** socat from stdin to the Unix socket `path`; waits up to 10 s for the reply after stdin's EOF. */
export function socatTo(path: string): string[] {
  return ["socat", "-t", "10", "-", `UNIX-CONNECT:${path}`];
}

export async function status(box: Sandbox): Promise<DaemonStatus> {
  const s = await box.control({ op: "status" });
  assert.ok(s, "the daemon answers status");
  return s;
}

/** Rows of /proc/PID/net/{tcp,tcp6,udp,udp6,raw,raw6} as [table, local address, state, inode]. */
export function inetSockets(
  pid: number,
): { table: string; local: string; state: string; inode: string }[] {
  const rows = [];
  for (const table of ["tcp", "tcp6", "udp", "udp6", "raw", "raw6"]) {
    let lines: string[];
    try {
      lines = readFileSync(`/proc/${pid}/net/${table}`, "utf8").trim().split("\n").slice(1);
    } catch {
      continue; // no IPv6 (or raw) in this kernel
    }
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      rows.push({ table, local: f[1], state: f[3], inode: f[9] });
    }
  }
  return rows;
}

/** Inodes of listening Unix sockets (/proc/PID/net/unix flags __SO_ACCEPTCON = 00010000). */
export function listeningUnixInodes(pid: number): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync(`/proc/${pid}/net/unix`, "utf8").trim().split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] === "00010000") out.add(f[6]);
  }
  return out;
}

/** `127.0.0.1:port` as /proc/net/tcp spells it (little-endian hex address, big-endian hex port). */
export function procAddr(ipv4: string, port: number): string {
  const hex = ipv4.split(".").map((o) => Number(o).toString(16).padStart(2, "0").toUpperCase())
    .reverse().join("");
  return `${hex}:${port.toString(16).toUpperCase().padStart(4, "0")}`;
}

export const TCP_LISTEN = "0A";

/** Start the bridge, expecting success, and wait for the agent. */
export async function startBridge(
  box: Sandbox,
  env?: Record<string, string>,
): Promise<DaemonStatus> {
  const r = await box.cli(["start"], { env });
  assert.equal(r.code, 0, r.stderr);
  return await box.waitAgent();
}

/** `s` as a literal inside a RegExp. */
export function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
