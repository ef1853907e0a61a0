/**
 * Helpers for mux scenarios: connected session pairs, echo handlers, and
 * whole-stream read/write with verification.
 *
 * @module
 */
import {
  type IncomingStream,
  type MuxStream,
  Session,
  type SessionOptions,
} from "../../src/mux/mod.ts";
import assert from "node:assert/strict";
import type { PipeKind } from "./pipes.ts";

/** A connected client/server session pair over one pipe. */
export interface SessionPair {
  client: Session;
  server: Session;
  dispose(): Promise<void>;
}

/** Connect a client (Linux role) and a server (Windows role) over a fresh pipe of `kind`. */
export async function sessionPair(
  kind: PipeKind,
  server: Partial<SessionOptions> = {},
  client: Partial<SessionOptions> = {},
): Promise<SessionPair> {
  const p = await kind.make();
  const [c, s] = await Promise.all([
    Session.connect(p.a.readable, p.a.writable, {
      role: "client",
      version: "1.0.0",
      keepaliveMs: 0,
      ...client,
    }),
    Session.connect(p.b.readable, p.b.writable, {
      role: "server",
      version: "1.0.0",
      keepaliveMs: 0,
      ...server,
    }),
  ]);
  return {
    client: c,
    server: s,
    dispose: async () => {
      await Promise.all([c.close(), s.close()]);
      await p.dispose();
    },
  };
}

/** A handler that accepts every stream and echoes it back, half-closing after the peer does. */
export function echoHandler(incoming: IncomingStream): void {
  const s = incoming.accept();
  s.readable.pipeTo(s.writable).catch(() => {});
}

/** Read a stream to its end and return all bytes. */
export async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of readable) {
    chunks.push(c);
    n += c.byteLength;
  }
  return concat(chunks, n);
}

/** Write `data` in `chunk`-sized pieces, then close (FIN) unless `close` is false. */
export async function writeAll(
  writable: WritableStream<Uint8Array>,
  data: Uint8Array,
  chunk = 16 * 1024,
  close = true,
): Promise<void> {
  const w = writable.getWriter();
  for (let i = 0; i < data.byteLength; i += chunk) await w.write(data.subarray(i, i + chunk));
  if (close) await w.close();
  else w.releaseLock();
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function pattern(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Concatenate chunks. */
export function concat(chunks: Uint8Array[], total?: number): Uint8Array {
  const out = new Uint8Array(total ?? chunks.reduce((n, c) => n + c.byteLength, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

/** Reject after `ms` with a message, so a hang fails the test instead of stalling the run. */
export function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * A stream handler for tests that want the accepted streams: targets named in
 * `echo` are echoed, every other stream is accepted and handed to `next()`.
 */
export function acceptQueue(echo: string[] = ["echo"]): {
  onStream: (i: IncomingStream) => void;
  next: () => Promise<MuxStream>;
} {
  const ready: MuxStream[] = [];
  const waiting: ((s: MuxStream) => void)[] = [];
  return {
    onStream(i) {
      if (echo.includes(i.target)) return echoHandler(i);
      const s = i.accept();
      const w = waiting.shift();
      if (w) w(s);
      else ready.push(s);
    },
    next() {
      const s = ready.shift();
      return s ? Promise.resolve(s) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** A writable over `writer` whose owner can still close the pipe underneath it. */
export function through(
  writer: WritableStreamDefaultWriter<Uint8Array>,
): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write: (chunk) => writer.write(chunk),
    close: () => writer.close(),
    abort: (reason) => writer.abort(reason),
  });
}

/**
 * Connect a client (Linux-role) session to an agent process over its stdout
 * and the writer of its stdin. The caller keeps `stdin` and closes it to end
 * the agent, as a daemon going away would.
 */
export function connectToAgent(
  stdout: ReadableStream<Uint8Array>,
  stdin: WritableStreamDefaultWriter<Uint8Array>,
  version: string,
): Promise<Session> {
  return within(
    60_000,
    Session.connect(stdout, through(stdin), { role: "client", version, keepaliveMs: 0 }),
    "handshake with the agent",
  );
}

/** The `p` quantile (0..1) of a non-empty list, nearest rank. */
export function percentile(values: number[], p: number): number {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];
}

/**
 * Time 64-byte round trips through an echoing stream: `warmup` trips first,
 * not counted, then `trips` timed ones (ms each). Each must come back within
 * 10 s; `what` names a trip in that failure.
 */
export async function timeRoundTrips(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  o: { warmup: number; trips: number; what: string },
): Promise<number[]> {
  const times: number[] = [];
  const msg = new Uint8Array(64).fill(1);
  for (let i = -o.warmup; i < o.trips; i++) {
    const t0 = performance.now();
    await within(
      10_000,
      (async () => {
        await writer.write(msg);
        for (let got = 0; got < 64;) {
          const { value, done } = await reader.read();
          assert.ok(!done, "echo ended early");
          got += value.byteLength;
        }
      })(),
      `round trip ${i} ${o.what}`,
    );
    if (i >= 0) times.push(performance.now() - t0);
  }
  return times;
}
