/**
 * The preface exchange that starts every session: send ours at once, read and
 * check the peer's, and hand back any bytes that arrived after it.
 *
 * @module
 */
import { HandshakeError } from "../errors.ts";
import { checkPreface, decodePreface, type PeerNames, type Preface } from "./preface.ts";
import { encodePreface } from "./preface.ts";
import { preview } from "./frame_decoder.ts";

/** The peer's preface and the bytes that followed it in the same reads. */
export interface HandshakeResult {
  peer: Preface;
  leftover: Uint8Array;
}

/** Run the handshake. On failure the caller owns cleanup of reader and writer. */
export async function handshake(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  writer: WritableStreamDefaultWriter<Uint8Array>,
  local: Preface,
  o: { names: PeerNames; mismatchHint: string; handshakeTimeoutMs: number },
  signal?: AbortSignal,
): Promise<HandshakeResult> {
  const { names, mismatchHint: hint, handshakeTimeoutMs: timeoutMs } = o;
  // Write our preface without waiting for it: a peer that does not read yet must not stall us.
  const written = writer.write(encodePreface(local));
  written.catch(() => {}); // a dead pipe shows up as EOF on the read side too
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new HandshakeError(
          "HANDSHAKE_TIMEOUT",
          `${names.peer} did not complete the handshake within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
  });
  // An abort (the daemon is stopping) ends the wait at once, with the signal's reason.
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal!.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    let buf: Uint8Array = new Uint8Array(0);
    for (;;) {
      const decoded = decodePreface(buf, names);
      if (decoded) {
        checkPreface(local, decoded.preface, names, hint);
        return { peer: decoded.preface, leftover: buf.subarray(decoded.size) };
      }
      const { value, done } = await Promise.race([reader.read(), timeout, aborted]);
      if (done) {
        const seen = buf.byteLength ? `; it sent only ${preview(buf.subarray(0, 64))}` : "";
        throw new HandshakeError(
          "HANDSHAKE_EOF",
          `${names.peer} closed the pipe before completing the handshake (did it exit?)${seen}`,
        );
      }
      buf = concat(buf, value);
    }
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.byteLength === 0) return b;
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
