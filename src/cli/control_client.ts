/**
 * The CLI's side of the control socket: one request, one reply, bounded in time.
 *
 * @module
 */
import { DaemonError } from "../errors.ts";
import type { Runtime } from "../runtime/mod.ts";
import { type ControlRequest, encodeLine, readLine } from "../daemon/control_protocol.ts";

/**
 * Send `request` to the daemon at `socketPath`. Resolves to the parsed reply,
 * or `null` when no daemon is listening there (no file, or a stale socket).
 * @throws {DaemonError} `CONTROL` when a daemon answers badly or too slowly.
 */
export async function controlRequest<T = Record<string, unknown>>(
  runtime: Runtime,
  socketPath: string,
  request: ControlRequest,
  timeoutMs = 5000,
): Promise<T | null> {
  let conn;
  try {
    conn = await runtime.connectUnix(socketPath);
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
    return JSON.parse(line) as T;
  } finally {
    clearTimeout(timer);
    conn.close();
  }
}
