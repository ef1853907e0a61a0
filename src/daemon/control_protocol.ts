/**
 * The control socket's tiny protocol: one JSON object per line. The client
 * sends one request line and reads one response line. Shared by the daemon's
 * control server and the CLI's client.
 *
 * @module
 */

/** Requests the CLI can make. */
export type ControlRequest =
  | { op: "hello" }
  | { op: "status" }
  /** Answer with the status once the agent is running (and, if given, is not `exceptPid`). */
  | { op: "wait-agent"; exceptPid?: number; timeoutMs?: number }
  | { op: "stop" }
  | { op: "reload" };

/** A configured socket as `hello` reports it: `start` exports only the listening ones. */
export interface SocketReport {
  envName: string;
  /** As `formatLinuxAddr` writes it. */
  linuxAddr: string;
  listening: boolean;
  /** Why it is not listening (e.g. another process listens on its path). */
  error?: string;
}

/** `hello`'s answer: the version, and which sockets listen, for `start` and `env`. */
export interface HelloResponse {
  ok: true;
  pid: number;
  version: string;
  sockets: SocketReport[];
}

/** A failure answer. */
export interface ErrorResponse {
  ok: false;
  error: string;
}

/** Largest request or response line accepted. */
export const MAX_CONTROL_LINE = 1 << 20;

/** Encode one message as a line. */
export function encodeLine(message: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message) + "\n");
}

/** Read one line (up to the first `\n`) from a stream, bounded; null at EOF before any newline. */
export async function readLine(readable: ReadableStream<Uint8Array>): Promise<string | null> {
  const reader = readable.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      text += decoder.decode(value, { stream: true });
      const nl = text.indexOf("\n");
      if (nl >= 0) return text.slice(0, nl);
      if (text.length > MAX_CONTROL_LINE) throw new RangeError("control message too long");
    }
  } finally {
    reader.releaseLock();
  }
}
