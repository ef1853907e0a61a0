/**
 * The write-then-half-close cases of issue 10, shared by the Wine test (named
 * pipe targets) and the Linux test (AF_UNIX and TCP targets): a client writes
 * its request, calls shutdown(SHUT_WR) at once, and reads the echo.
 *
 * Two kinds of echo server, both with a per-connection open count:
 * - `length`: the client first sends a u32 big-endian length; the server
 *   echoes exactly that many bytes and ends the connection (a natural
 *   request/response end, the only one a named pipe has). The client reads to EOF.
 * - `echo`: echoes until the client is done; the client reads its N bytes
 *   back and then closes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Conn } from "../../src/runtime/types.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Request sizes: 1 B, 100 B, 4 KiB, 64 KiB, 1 MiB, 16 MiB. */
export const HALF_CLOSE_SIZES = [1, 100, 4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB];
/** Round trips at once in the parallel cases. */
export const HALF_CLOSE_PARALLEL = 16;
/** A round trip that makes no progress for this long has stalled (it is cut and reported). */
const STALL_MS = 20_000;

/** The two server modes and what ends a round trip in each. */
export const ECHO_MODES = [
  { mode: "length", lengthPrefix: true, what: "the server ends the reply" },
  { mode: "echo", lengthPrefix: false, what: "the client reads N bytes and closes" },
] as const;

/** Connection i sends SOURCE[i * STRIDE ...], so crossed streams cannot pass as echoes. */
const STRIDE = 4099;
let source: Uint8Array | undefined;

/** The request of the `i`-th parallel connection: `size` random bytes. */
export function payloadFor(i: number, size: number): Uint8Array {
  source ??= new Uint8Array(randomBytes(16 * MiB + HALF_CLOSE_PARALLEL * STRIDE));
  return source.subarray(i * STRIDE, i * STRIDE + size);
}

/** "1 B", "4 KiB", "16 MiB". */
export function sizeName(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`;
}

/** What one round trip got back. */
export interface Outcome {
  sent: number;
  /** Bytes that came back. */
  got: number;
  /** Offset of the first byte back that differs from the one sent, or -1. */
  firstDiff: number;
  /** How the read side ended: "eof", "closed by us", "stalled" or the error's code. */
  end: string;
}

/**
 * Connect, write `payload` (after its u32 BE length when `lengthPrefix`),
 * shut down the write side at once, and read the echo: to EOF, or
 * (`!lengthPrefix`) until `payload.length` bytes are back, then close.
 */
export async function halfCloseRoundTrip(
  connect: () => Promise<Conn>,
  payload: Uint8Array,
  lengthPrefix: boolean,
): Promise<Outcome> {
  const conn = await connect();
  const out: Outcome = { sent: payload.length, got: 0, firstDiff: -1, end: "" };
  const writing = (async () => {
    const writer = conn.writable.getWriter();
    if (lengthPrefix) {
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, payload.length);
      await writer.write(len);
    }
    await writer.write(payload);
    await writer.close(); // shutdown(SHUT_WR): the request is complete
  })().catch((err) => err as Error);
  const reader = conn.readable.getReader();
  try {
    for (;;) {
      if (!lengthPrefix && out.got === payload.length) {
        out.end = "closed by us";
        break;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<"stalled">((resolve) => {
        timer = setTimeout(() => resolve("stalled"), STALL_MS);
      });
      const r = await Promise.race([reader.read(), stalled]).finally(() => clearTimeout(timer));
      if (r === "stalled") {
        out.end = "stalled";
        break;
      }
      if (r.done) {
        out.end = "eof";
        break;
      }
      const chunk = r.value;
      for (let i = 0; i < chunk.length && out.firstDiff < 0; i++) {
        if (out.got + i >= payload.length || chunk[i] !== payload[out.got + i]) {
          out.firstDiff = out.got + i;
        }
      }
      out.got += chunk.length;
    }
  } catch (err) {
    out.end = (err as { code?: string }).code ?? String(err);
  } finally {
    conn.close();
  }
  const wrote = await writing;
  if (wrote instanceof Error && out.end === "eof") out.end = `write failed: ${wrote.message}`;
  return out;
}

/** `parallel` round trips of `size` bytes at once. */
export function halfCloseRoundTrips(
  connect: () => Promise<Conn>,
  size: number,
  parallel: number,
  lengthPrefix: boolean,
): Promise<Outcome[]> {
  return Promise.all(
    Array.from(
      { length: parallel },
      (_, i) => halfCloseRoundTrip(connect, payloadFor(i, size), lengthPrefix),
    ),
  );
}

function describeOutcomes(outcomes: Outcome[]): string {
  return outcomes.map((o, i) =>
    `#${i}: ${o.got} of ${o.sent} bytes back, end ${o.end}` +
    (o.firstDiff >= 0 ? `, first difference at ${o.firstDiff}` : "")
  ).join("\n");
}

/**
 * Fail with every round trip's numbers, the daemon's last warnings and
 * `serverSide` (what the target saw) unless all are exact.
 */
export function assertAllExact(
  outcomes: Outcome[],
  lengthPrefix: boolean,
  log: string,
  serverSide = "",
): void {
  const wantEnd = lengthPrefix ? "eof" : "closed by us";
  const bad = outcomes.filter((o) => o.got !== o.sent || o.firstDiff >= 0 || o.end !== wantEnd);
  if (bad.length === 0) return;
  const tail = log.split("\n").filter((l) => /warn|error/i.test(l)).slice(-10).join("\n");
  assert.fail(
    `${bad.length} of ${outcomes.length} round trips not byte-exact:\n` +
      `${describeOutcomes(outcomes)}\ndaemon warnings/errors (last 10):\n${tail}` +
      (serverSide ? `\n${serverSide}` : ""),
  );
}
