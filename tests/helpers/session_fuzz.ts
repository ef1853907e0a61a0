/**
 * Session-level fuzzing: a raw peer writes a script (`session_script.ts`),
 * perhaps mutated at the byte level, to a live {@linkcode Session} over an
 * in-memory pipe after a valid preface. {@linkcode runSessionCase} checks how
 * the session ended, the GO_AWAY it sent, every frame it wrote, and everything
 * the application saw.
 *
 * @module
 */
import { ProtocolError, SessionClosedError, StreamResetError } from "../../src/errors.ts";
import {
  decodeReason,
  encodeReason,
  FrameType,
  GoAwayCode,
  ResetCode,
} from "../../src/mux/frame.ts";
import { FrameDecoder } from "../../src/mux/frame_decoder.ts";
import { encodePreface, PREFACE_FIXED_SIZE, PROTOCOL_VERSION } from "../../src/mux/preface.ts";
import {
  type IncomingStream,
  type MuxStream,
  Session,
  type SessionCloseInfo,
} from "../../src/mux/mod.ts";
import { applyMutations, chunkRandomly, encodeFrames, filler } from "./frame_fuzz.ts";
import { compileScript, type Mode, type Script, type SessionCase } from "./session_script.ts";
import { memoryPair } from "./pipes.ts";
import { within } from "./mux.ts";

export { type SessionCase, sessionCaseArbitrary } from "./session_script.ts";

/** Counters over a batch, for the report. */
export interface SessionFuzzStats {
  cases: number;
  protocolErrors: number;
  peerClosed: number;
  peerGoAway: number;
  localClose: number;
  streamsAccepted: number;
  appErrors: number;
  /** Protocol errors by kind (the reason with numbers and byte dumps left out). */
  reasons: Record<string, number>;
}

/** Zeroed counters. */
export function newSessionFuzzStats(): SessionFuzzStats {
  return {
    cases: 0,
    protocolErrors: 0,
    peerClosed: 0,
    peerGoAway: 0,
    localClose: 0,
    streamsAccepted: 0,
    appErrors: 0,
    reasons: {},
  };
}

const ALLOWED_APP_ERRORS = [StreamResetError, SessionClosedError];

/**
 * Run one case and check it. Throws (a plain Error or an assertion) when the
 * session did anything but end cleanly: an unexpected exception type in the
 * session or the application, a missing or wrong GO_AWAY, a hang past
 * `boundMs`, a leaked table entry, or an outcome the script made certain.
 */
export async function runSessionCase(
  c: SessionCase,
  stats: SessionFuzzStats,
  boundMs = 5000,
): Promise<void> {
  const script = compileScript(c);
  const enc = encodeFrames(script.frames);
  const bytes = c.mutations.length ? applyMutations(enc, c.mutations, enc.bytes) : enc.bytes;
  const pipe = await memoryPair();
  const appTasks: Promise<void>[] = [];
  const appErrors: unknown[] = [];
  const track = (p: Promise<unknown>) =>
    appTasks.push(p.then(() => {}, (e) => void appErrors.push(e)));
  const streams: MuxStream[] = [];
  const onStream = (i: IncomingStream) => {
    const mode = i.target as Mode;
    const take = () => {
      const s = i.accept();
      streams.push(s);
      return s;
    };
    switch (mode) {
      case "echo": {
        const s = take();
        track(s.readable.pipeTo(s.writable));
        return;
      }
      case "sink":
        track(drain(take().readable));
        return;
      case "hold":
        take();
        return;
      case "throw":
        throw new Error("fuzz handler failed");
      case "later":
        track(
          new Promise<void>((resolve, reject) =>
            setTimeout(() => {
              try {
                const s = take();
                s.readable.pipeTo(s.writable).then(resolve, reject);
              } catch (e) {
                reject(e);
              }
            }, 0)
          ),
        );
        return;
      default:
        i.reject(ResetCode.REFUSED, "fuzz reject");
    }
  };

  const peerWriter = pipe.a.writable.getWriter();
  const peerPreface = encodePreface({
    protocol: PROTOCOL_VERSION,
    role: c.role === "client" ? "server" : "client",
    capabilities: 0,
    streamWindow: c.peerStreamWindow,
    sessionWindow: c.peerSessionWindow,
    maxFramePayload: c.maxFramePayload,
    version: "0.0.0-fuzz",
  });
  peerWriter.write(peerPreface).catch(() => {});
  const output = readOutput(pipe.a.readable, c.maxFramePayload);
  try {
    const session = await Session.connect(pipe.b.readable, pipe.b.writable, {
      role: c.role,
      version: "0.0.0-fuzz",
      keepaliveMs: 0,
      closeTimeoutMs: 1000,
      handshakeTimeoutMs: boundMs,
      streamWindow: c.streamWindow,
      sessionWindow: c.sessionWindow,
      maxFramePayload: c.maxFramePayload,
      maxWriteBatch: c.maxFramePayload * 4,
      maxStreams: c.maxStreams,
      onStream,
    });
    for (let j = 0; j < c.localOpens; j++) {
      track(
        session.open(`local-${j}`).then(async (s) => {
          streams.push(s);
          const w = s.writable.getWriter();
          const sent = Promise.all([w.write(filler(2000 * j, j)), w.close()]);
          await Promise.all([sent, drain(s.readable)]);
        }),
      );
    }
    const writes = chunkRandomly(bytes, c.chunkSeed).map((b) => peerWriter.write(b));
    if (c.ending === "eof") {
      writes.push(peerWriter.close());
    } else {
      await within(boundMs, Promise.allSettled(writes), "the session to read the script");
      void session.close("fuzz close");
    }
    for (const w of writes) w.catch(() => {}); // the session may stop reading at a violation
    const info = await within(boundMs, session.closed, "the session to end");
    const seen = await within(boundMs, output, "the session's output to end");
    await within(boundMs, Promise.all(appTasks), "the application's stream tasks");
    await within(boundMs, Promise.all(streams.map((s) => s.closed)), "every stream to finish");

    checkOutcome(c, script, info, seen, stats);
    for (const e of appErrors) {
      if (!ALLOWED_APP_ERRORS.some((t) => e instanceof t)) {
        throw new Error(`the application saw ${(e as Error)?.name}: ${(e as Error)?.message}`, {
          cause: e,
        });
      }
    }
    const left = Object.entries(session._internals()).filter(([, n]) => n !== 0);
    if (left.length) {
      throw new Error(`session tables not empty after the end: ${JSON.stringify(left)}`);
    }
    stats.cases++;
    stats.streamsAccepted += streams.length;
    stats.appErrors += appErrors.length;
  } finally {
    peerWriter.releaseLock();
    await pipe.dispose();
  }
}

function checkOutcome(
  c: SessionCase,
  script: Script,
  info: SessionCloseInfo,
  seen: Output,
  stats: SessionFuzzStats,
): void {
  const e = info.error;
  const fail = (what: string): never => {
    throw new Error(
      `${what}; session ended with ${e ? `${e.name}: ` : ""}${info.reason} (remote ${info.remote})`,
      { cause: e ?? undefined },
    );
  };
  if (e !== null && !(e instanceof ProtocolError) && !(e instanceof SessionClosedError)) {
    fail("unexpected error type");
  }
  if (info.remote) {
    if (e instanceof ProtocolError) fail("a ProtocolError marked remote");
    if (seen.goAway) fail("a GO_AWAY after the peer ended the session");
    if (/GO_AWAY/.test(info.reason)) stats.peerGoAway++;
    else stats.peerClosed++;
  } else {
    if (!seen.goAway) return fail("no GO_AWAY for a session this side ended");
    const sent = decodeReason(encodeReason(0, info.reason)).reason; // as truncated on the wire
    if (e instanceof ProtocolError) {
      stats.protocolErrors++;
      const kind = info.reason.replace(/;.*|\(.*|:.*/s, "").replace(/0x[0-9a-f]+|\d+/g, "N").trim();
      stats.reasons[kind] = (stats.reasons[kind] ?? 0) + 1;
      if (seen.goAway.code !== GoAwayCode.PROTOCOL_ERROR || seen.goAway.reason !== sent) {
        fail(`GO_AWAY ${JSON.stringify(seen.goAway)} does not carry the protocol error`);
      }
    } else {
      stats.localClose++;
      if (e !== null || c.ending !== "close") {
        fail("a local end without a protocol error or close()");
      }
      if (seen.goAway.code !== GoAwayCode.NORMAL || seen.goAway.reason !== "fuzz close") {
        fail(`GO_AWAY ${JSON.stringify(seen.goAway)}`);
      }
    }
  }
  // What the script makes certain, when the bytes were not mutated.
  if (c.mutations.length) return;
  const d = script.decisive;
  if (d.kind !== "protocol" && e instanceof ProtocolError) {
    fail("a protocol error from a valid script");
  }
  if (c.ending !== "eof") return;
  if (d.kind === "protocol" && c.maxStreams > 24 + 3 && !(e instanceof ProtocolError)) {
    fail("no protocol error for a certain violation");
  }
  if (
    d.kind === "goAway" &&
    !(info.remote && new RegExp(`GO_AWAY code ${d.code}\\)`).test(info.reason))
  ) fail("the peer's GO_AWAY was not honoured");
  if (
    d.kind === "none" &&
    !(info.remote && e instanceof SessionClosedError && /closed the pipe/.test(info.reason))
  ) fail("not ended by the peer's EOF");
}

/** What the session wrote: every frame must decode; a GO_AWAY must be the last one. */
interface Output {
  goAway: { code: number; reason: string } | null;
  frames: number;
}

async function readOutput(
  readable: ReadableStream<Uint8Array>,
  maxPayload: number,
): Promise<Output> {
  const reader = readable.getReader();
  const decoder = new FrameDecoder({ maxPayload });
  const out: Output = { goAway: null, frames: 0 };
  let preface = new Uint8Array(0);
  let inFrames = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return out;
      if (!inFrames) {
        const joined = new Uint8Array(preface.byteLength + value.byteLength);
        joined.set(preface);
        joined.set(value, preface.byteLength);
        preface = joined;
        const fixed = PREFACE_FIXED_SIZE;
        if (preface.byteLength < fixed || preface.byteLength < fixed + preface[fixed - 1]) continue;
        inFrames = true;
        decoder.push(preface.subarray(fixed + preface[fixed - 1]));
      } else {
        decoder.push(value);
      }
      for (let f = decoder.next(); f; f = decoder.next()) {
        if (out.goAway) throw new Error("the session wrote a frame after its GO_AWAY");
        out.frames++;
        if (f.type === FrameType.GO_AWAY) out.goAway = decodeReason(f.payload);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

async function drain(readable: ReadableStream<Uint8Array>): Promise<void> {
  for await (const _ of readable) { /* discard */ }
}
