/**
 * Scripts for a raw peer of a live session, generated from a model of the
 * protocol state: which streams are open, accepted, half-closed or reset, and
 * how much credit each has. A script is valid by construction, or carries one
 * deliberate violation whose outcome is certain (wrong-parity or reused ids,
 * window overflow, DATA before ACK or after FIN, a second ACK, a non-UTF-8
 * target); `session_fuzz.ts` runs them, mutated or not.
 *
 * @module
 */
import fc from "fast-check";
import { encodeReason, Flag, FrameType, MAX_WINDOW } from "../../src/mux/frame.ts";
import type { Role } from "../../src/mux/preface.ts";
import { filler, type FrameSpec, type Mutation, mutationArbitrary } from "./frame_fuzz.ts";

/** What the application does with a stream the peer opens; the peer names it as the target. */
export type Mode = "echo" | "sink" | "hold" | "reject" | "throw" | "later";
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
