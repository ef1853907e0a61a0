/**
 * Session-level fuzzing: a scripted raw peer, generated from a model of the
 * protocol state (which streams are open, accepted, half-closed or reset and
 * how much credit each has), writes frames to a live {@linkcode Session} over
 * an in-memory pipe. Scripts are valid by construction, or carry a deliberate
 * violation whose outcome is certain (wrong-parity or reused ids, window
 * overflow, DATA before ACK or after FIN, a second ACK, a non-UTF-8 target),
 * and may then be mutated at the byte level. {@linkcode runSessionCase}
 * checks the session's end and everything the application saw.
 *
 * @module
 */
import fc from "fast-check";
import { ProtocolError, SessionClosedError, StreamResetError } from "../../src/errors.ts";
import {
  decodeReason,
  encodeReason,
  Flag,
  FrameType,
  GoAwayCode,
  MAX_WINDOW,
  ResetCode,
} from "../../src/mux/frame.ts";
import { FrameDecoder } from "../../src/mux/frame_decoder.ts";
import { encodePreface, PROTOCOL_VERSION, type Role } from "../../src/mux/preface.ts";
import {
  type IncomingStream,
  type MuxStream,
  Session,
  type SessionCloseInfo,
} from "../../src/mux/mod.ts";
import {
  applyMutations,
  encodeFrames,
  filler,
  type FrameSpec,
  type Mutation,
  mutationArbitrary,
  rng,
} from "./frame_fuzz.ts";
import { memoryPair } from "./pipes.ts";
import { within } from "./mux.ts";

/** What the application does with a stream the peer opens; the peer names it as the target. */
type Mode = "echo" | "sink" | "hold" | "reject" | "throw" | "later";
const MODES: Mode[] = ["echo", "sink", "hold", "reject", "throw", "later"];
const VIOLATIONS = [
  "parity",
  "reuse",
  "neverOpened",
  "overflow",
  "afterFin",
  "beforeAck",
  "doubleAck",
  "windowOverflow",
  "sessionWindowOverflow",
  "badTarget",
] as const;
type Violation = typeof VIOLATIONS[number];

/** One step of the peer's script; `k` picks among the streams the step can apply to. */
type Op =
  | { op: "open"; mode: Mode }
  | { op: "data"; k: number; size: number; fin: boolean; seed: number }
  | { op: "fin"; k: number }
  | { op: "rst"; k: number; code: number }
  | { op: "ack"; k: number; n: number }
  | { op: "credit"; k: number; n: number }
  | { op: "sessionCredit"; n: number }
  | { op: "ping"; syn: boolean; value: number }
  | { op: "goAway"; code: number }
  | { op: "violate"; what: Violation; k: number };

/** One generated case. */
export interface SessionCase {
  /** The role of the session under test; the peer has the other one. */
  role: Role;
  streamWindow: number;
  sessionWindow: number;
  maxFramePayload: number;
  maxStreams: number;
  peerStreamWindow: number;
  peerSessionWindow: number;
  /** Streams the session's application opens before the script starts. */
  localOpens: number;
  ops: Op[];
  mutations: Mutation[];
  chunkSeed: number;
  /** `eof`: the peer closes its output after the script; `close`: the application closes the session. */
  ending: "eof" | "close";
}

/** Cases with small windows (so overflows are reachable) and every op and violation. */
export function sessionCaseArbitrary(): fc.Arbitrary<SessionCase> {
  const step: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ op: fc.constant("open" as const), mode: fc.constantFrom(...MODES) }),
    },
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant("data" as const),
        k: fc.nat(),
        size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 70_000 })),
        fin: fc.boolean(),
        seed: fc.nat(),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("fin" as const), k: fc.nat() }) },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant("rst" as const),
        k: fc.nat(),
        code: fc.integer({ min: 0, max: 9 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant("ack" as const), k: fc.nat(), n: fc.nat() }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant("credit" as const), k: fc.nat(), n: fc.nat() }),
    },
    fc.record({ op: fc.constant("sessionCredit" as const), n: fc.nat() }),
    fc.record({ op: fc.constant("ping" as const), syn: fc.boolean(), value: fc.nat() }),
  );
  // A script is valid steps, then perhaps one decisive step (a violation or GO_AWAY), then a few more.
  const decisive: fc.Arbitrary<Op[]> = fc.oneof(
    { weight: 2, arbitrary: fc.constant<Op[]>([]) },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant("violate" as const),
        what: fc.constantFrom(...VIOLATIONS),
        k: fc.nat(),
      }).map((o) => [o]),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("goAway" as const),
        code: fc.integer({ min: 0, max: 3 }),
      }).map((o) => [o]),
    },
  );
  return fc.record({
    role: fc.constantFrom<Role>("client", "server"),
    streamWindow: fc.constantFrom(1024, 4096, 16384),
    windowFactor: fc.integer({ min: 1, max: 4 }),
    maxFramePayload: fc.constantFrom(1024, 4096),
    maxStreams: fc.constantFrom(3, 100),
    peerStreamWindow: fc.constantFrom(1024, 4096, 65536),
    peerSessionFactor: fc.constantFrom(1, 16),
    localOpens: fc.integer({ min: 0, max: 3 }),
    ops: fc.tuple(fc.array(step, { maxLength: 24 }), decisive, fc.array(step, { maxLength: 3 }))
      .map(([a, b, c]) => [...a, ...b, ...c]),
    mutations: fc.oneof(
      fc.constant<Mutation[]>([]),
      fc.array(mutationArbitrary(4096), { minLength: 1, maxLength: 3 }),
    ),
    chunkSeed: fc.nat(),
    ending: fc.constantFrom<"eof" | "close">("eof", "eof", "eof", "close"),
  }).map(({ windowFactor, peerSessionFactor, ...c }) => ({
    ...c,
    sessionWindow: c.streamWindow * windowFactor,
    peerSessionWindow: c.peerStreamWindow * peerSessionFactor,
  }));
}

interface PeerStream {
  id: number;
  mode: Mode;
  sent: number;
  fin: boolean;
  rst: boolean;
  granted: number;
}
interface LocalStream {
  id: number;
  acked: boolean;
  sent: number;
  fin: boolean;
  rst: boolean;
  granted: number;
}

/** The script as bytes, and what must happen when it is valid or violates the protocol for certain. */
export interface Script {
  frames: FrameSpec[];
  /** `protocol`: a certain violation comes first; `goAway`: the peer's GO_AWAY does; `none`: neither. */
  decisive: { kind: "protocol" } | { kind: "goAway"; code: number } | { kind: "none" };
}

const text = (s: string) => new TextEncoder().encode(s);
const data = (id: number, flags: number, payload: Uint8Array): FrameSpec => ({
  type: FrameType.DATA,
  flags,
  streamId: id,
  length: payload.byteLength,
  payload,
});
const update = (id: number, flags: number, n: number): FrameSpec => ({
  type: FrameType.WINDOW_UPDATE,
  flags,
  streamId: id,
  length: n,
  payload: null,
});
const rst = (id: number, code: number) =>
  data(id, Flag.RST, encodeReason(code, `fuzz reset ${code}`));

/** Turn the op list into frames, tracking the protocol state as a peer would. */
export function compileScript(c: SessionCase): Script {
  const peerParity = c.role === "client" ? 2 : 1; // the peer's first id
  const localParity = c.role === "client" ? 1 : 2;
  const locals: LocalStream[] = Array.from({ length: c.localOpens }, (_, i) => ({
    id: localParity + 2 * i,
    acked: false,
    sent: 0,
    fin: false,
    rst: false,
    granted: 0,
  }));
  const peers: PeerStream[] = [];
  let nextPeerId = peerParity;
  let sessionSent = 0;
  let sessionGranted = 0;
  let decisive: Script["decisive"] | null = null;
  const frames: FrameSpec[] = [];
  const open = (mode: Mode): PeerStream => {
    const s = { id: nextPeerId, mode, sent: 0, fin: false, rst: false, granted: 0 };
    nextPeerId += 2;
    peers.push(s);
    frames.push(data(s.id, Flag.SYN, text(mode)));
    return s;
  };
  const pick = <T>(
    xs: T[],
    k: number,
  ): T | undefined => (xs.length ? xs[k % xs.length] : undefined);
  // Streams certain to be in the session's table (nothing can finish them before the script ends).
  const held = () => [
    ...peers.filter((s) =>
      !s.rst &&
      (s.mode === "hold" || s.mode === "sink" ||
        (!s.fin && s.mode !== "reject" && s.mode !== "throw"))
    ),
    ...locals.filter((s) => !s.rst && !s.fin),
  ];

  for (const o of c.ops) {
    if (decisive) break; // the session has ended; nothing after this matters
    switch (o.op) {
      case "open":
        if (peers.length < 24) open(o.mode);
        break;
      case "data": {
        // DATA only where it is allowed: peer streams the application took synchronously (or
        // refused, which is harmless), accepted local streams; never after FIN; within the windows.
        const s = pick<PeerStream | LocalStream>([
          ...peers.filter((p) => !p.fin && !p.rst && p.mode !== "later"),
          ...locals.filter((l) => l.acked && !l.fin && !l.rst),
        ], o.k);
        if (!s) break;
        const n = Math.max(
          0,
          Math.min(
            o.size,
            c.maxFramePayload,
            c.streamWindow - s.sent,
            c.sessionWindow - sessionSent,
          ),
        );
        s.sent += n;
        sessionSent += n;
        s.fin = o.fin;
        frames.push(data(s.id, o.fin ? Flag.FIN : 0, filler(n, o.seed)));
        break;
      }
      case "fin": {
        const s = pick<PeerStream | LocalStream>([
          ...peers.filter((p) => !p.fin && !p.rst && p.mode !== "later"),
          ...locals.filter((l) => l.acked && !l.fin && !l.rst),
        ], o.k);
        if (!s) break;
        s.fin = true;
        frames.push(data(s.id, Flag.FIN, new Uint8Array(0)));
        break;
      }
      case "rst": {
        const s = pick<PeerStream | LocalStream>([...peers, ...locals], o.k);
        if (!s) break;
        s.rst = true;
        frames.push(rst(s.id, o.code));
        break;
      }
      case "ack": {
        const s = pick(locals.filter((l) => !l.acked && !l.rst), o.k);
        if (!s) break;
        s.acked = true;
        const n = o.n % (MAX_WINDOW - c.peerStreamWindow - s.granted + 1);
        s.granted += n;
        frames.push(update(s.id, Flag.ACK, n));
        break;
      }
      case "credit": {
        const s = pick<PeerStream | LocalStream>([...peers, ...locals], o.k);
        if (!s) break;
        const n = o.n % (MAX_WINDOW - c.peerStreamWindow - s.granted + 1);
        s.granted += n;
        frames.push(update(s.id, 0, n));
        break;
      }
      case "sessionCredit": {
        const n = o.n % (0xffff_ffff - c.peerSessionWindow - sessionGranted + 1);
        sessionGranted += n;
        frames.push(update(0, 0, n));
        break;
      }
      case "ping":
        frames.push({
          type: FrameType.PING,
          flags: o.syn ? Flag.SYN : Flag.ACK,
          streamId: 0,
          length: o.value,
          payload: null,
        });
        break;
      case "goAway": {
        const p = encodeReason(o.code, `fuzz go away ${o.code}`);
        frames.push({
          type: FrameType.GO_AWAY,
          flags: 0,
          streamId: 0,
          length: p.byteLength,
          payload: p,
        });
        decisive = { kind: "goAway", code: o.code };
        break;
      }
      case "violate":
        violate(o.what, o.k);
        decisive = { kind: "protocol" };
        break;
    }
  }
  return { frames, decisive: decisive ?? { kind: "none" } };

  function violate(what: Violation, k: number): void {
    switch (what) {
      case "parity":
        frames.push(data(localParity + 2 * (1000 + k % 1000), Flag.SYN, text("echo")));
        return;
      case "reuse": {
        const s = pick(peers, k) ?? open("echo");
        frames.push(data(s.id, Flag.SYN, text("echo")));
        return;
      }
      case "neverOpened": {
        const id = k % 2 ? nextPeerId + 2 * (k % 7) : localParity + 2 * (c.localOpens + k % 7);
        frames.push([data(id, 0, new Uint8Array(1)), rst(id, 0), update(id, 0, 1)][k % 3]);
        return;
      }
      case "overflow": {
        // A stream nobody reads returns no credit: more than one window on it overflows for certain.
        const s = pick(peers.filter((p) => p.mode === "hold" && !p.rst && !p.fin), k) ??
          open("hold");
        while (s.sent <= c.streamWindow) {
          const n = Math.min(c.maxFramePayload, c.streamWindow + 1 - s.sent);
          s.sent += n;
          frames.push(data(s.id, 0, filler(n, k)));
        }
        return;
      }
      case "afterFin": {
        // hold and sink never send FIN, so the stream stays in the table after ours.
        const s =
          pick(peers.filter((p) => (p.mode === "hold" || p.mode === "sink") && !p.rst), k) ??
            open("sink");
        if (!s.fin) frames.push(data(s.id, Flag.FIN, new Uint8Array(0)));
        frames.push(data(s.id, 0, new Uint8Array(k % 3)));
        return;
      }
      case "beforeAck": {
        const s = pick(locals.filter((l) => !l.acked && !l.rst), k);
        if (s) frames.push(data(s.id, 0, new Uint8Array(1 + k % 3)));
        else violate("badTarget", k);
        return;
      }
      case "doubleAck": {
        const s = pick(locals.filter((l) => !l.rst && !l.fin), k);
        if (!s) return violate("windowOverflow", k);
        if (!s.acked) frames.push(update(s.id, Flag.ACK, 0));
        frames.push(update(s.id, Flag.ACK, 0));
        return;
      }
      case "windowOverflow": {
        const s = pick(held(), k);
        if (!s) return violate("sessionWindowOverflow", k);
        frames.push(update(s.id, 0, MAX_WINDOW), update(s.id, 0, MAX_WINDOW));
        return;
      }
      case "sessionWindowOverflow":
        frames.push(update(0, 0, 0xffff_ffff), update(0, 0, 0xffff_ffff));
        return;
      case "badTarget":
        frames.push(data(nextPeerId, Flag.SYN, new Uint8Array([0x78, 0xff, 0xfe])));
        nextPeerId += 2;
        return;
    }
  }
}

/** Split into at most ~20 pieces plus a window of single bytes. */
export function chunk(b: Uint8Array, seed: number): Uint8Array[] {
  const r = rng(seed);
  const n = b.byteLength;
  const cuts = new Set<number>();
  for (let k = r(17); k > 0; k--) cuts.add(1 + r(n + 1));
  const from = r(n + 1);
  for (let i = from, end = Math.min(n, from + r(65)); i < end; i++) cuts.add(i);
  const points = [...cuts].filter((x) => x > 0 && x < n).sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let o = 0;
  for (const x of points) {
    out.push(b.subarray(o, x));
    o = x;
  }
  if (o < n) out.push(b.subarray(o));
  return out;
}

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
    const writes = chunk(bytes, c.chunkSeed).map((b) => peerWriter.write(b));
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
        if (preface.byteLength < 25 || preface.byteLength < 25 + preface[24]) continue;
        inFrames = true;
        decoder.push(preface.subarray(25 + preface[24]));
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
