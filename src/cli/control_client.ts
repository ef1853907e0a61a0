/**
 * The CLI's side of the control socket: one request, one reply, bounded in
 * time, and only with a daemon proven ours. Before a byte is sent, the
 * runtime dir is checked (ours, 0700, safe ancestors: see runtime_dir.ts)
 * and the listener's SO_PEERCRED uid must be ours; its pid (from the kernel,
 * not from the reply) is what `stop` may signal.
 *
 * @module
 */
import { dirname } from "node:path";
import { DaemonError } from "../errors.ts";
import {
  connectUnixWithPeer,
  type PeerCred,
  processStartTime,
  type Runtime,
  userName,
} from "../runtime/mod.ts";
import { type ControlRequest, encodeLine, readLine } from "../daemon/control_protocol.ts";
import { verifyRuntimeDir } from "../daemon/runtime_dir.ts";

/** A reply and who sent it. */
export interface ControlReply<T> {
  /** The parsed reply: always a JSON object, but its fields are unchecked. */
  reply: T;
  /** The daemon's credentials from the kernel; `undefined` where the runtime cannot read them. */
  peer: PeerCred | undefined;
  /**
   * The daemon process's start time (see {@linkcode processStartTime}), read
   * while connected: with `peer.pid` it names that one process.
   */
  startTime: string | undefined;
}

/**
 * Send `request` to the daemon at `socketPath` (in the runtime dir). Resolves
 * to the reply, or `null` when no daemon is listening there (no dir, no file,
 * or a stale socket).
 * @throws {RuntimeDirError} when the runtime dir is not proven ours.
 * @throws {DaemonError} `UNTRUSTED` when another uid listens there; `CONTROL` when a daemon answers badly or too slowly.
 */
export async function controlExchange<T = Record<string, unknown>>(
  runtime: Runtime,
  socketPath: string,
  request: ControlRequest,
  timeoutMs = 5000,
): Promise<ControlReply<T> | null> {
  const uid = runtime.uid();
  if (uid >= 0 && !verifyRuntimeDir(dirname(socketPath), uid)) return null;
  let conn, peer;
  try {
    ({ conn, peer } = await connectUnixWithPeer(runtime, socketPath));
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (
      code === "ENOENT" || code === "ECONNREFUSED" || code === "ENOTSOCK" || code === "NOT_FOUND" ||
      code === "CONNECTION_REFUSED"
    ) return null;
    throw new DaemonError(
      "CONTROL",
      `cannot reach the daemon at ${socketPath}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    if (peer && uid >= 0 && peer.uid !== uid) {
      const name = userName(peer.uid);
      throw new DaemonError(
        "UNTRUSTED",
        `${socketPath} is served by uid ${peer.uid}${
          name ? ` (${name})` : ""
        }, pid ${peer.pid}, not by you (uid ${uid}); refusing to talk to it`,
      );
    }
    const startTime = peer ? processStartTime(peer.pid) : undefined;
    const w = conn.writable.getWriter();
    await w.write(encodeLine(request));
    w.releaseLock();
    const line = await Promise.race([
      readLine(conn.readable),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new DaemonError("CONTROL", `the daemon did not answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    if (line === null) {
      throw new DaemonError(
        "CONTROL",
        "the daemon closed the control connection without answering",
      );
    }
    return { reply: parseReply(line) as T, peer, startTime };
  } finally {
    clearTimeout(timer);
    conn.close();
  }
}

/** {@linkcode controlExchange}, for callers that need only the reply. */
export async function controlRequest<T = Record<string, unknown>>(
  runtime: Runtime,
  socketPath: string,
  request: ControlRequest,
  timeoutMs = 5000,
): Promise<T | null> {
  return (await controlExchange<T>(runtime, socketPath, request, timeoutMs))?.reply ?? null;
}

function parseReply(line: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new DaemonError("CONTROL", "the daemon's answer is not valid JSON", { cause: e });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DaemonError("CONTROL", "the daemon's answer is not a JSON object");
  }
  return value as Record<string, unknown>;
}
