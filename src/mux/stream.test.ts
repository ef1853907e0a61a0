/**
 * Every transition of the stream state machine, driven by a hand-written peer
 * that sends exact frames to a real session and reads what it answers.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type IncomingStream, type MuxStream, Session } from "./mod.ts";
import {
  encodeFrame,
  encodeReason,
  Flag,
  type Frame,
  FrameType,
  GoAwayCode,
  ResetCode,
} from "./frame.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { encodePreface, PREFACE_FIXED_SIZE, PROTOCOL_VERSION } from "./preface.ts";
import { StreamState } from "./stream_types.ts";
import { ProtocolError, SessionClosedError, StreamResetError } from "../errors.ts";
import { PIPE_KINDS, type PipeKind } from "../../tests/helpers/pipes.ts";
import { readAll, within } from "../../tests/helpers/mux.ts";

const WINDOW = 16 * 1024;
const bytes = (s: string) => new TextEncoder().encode(s);
const syn = (id: number) => encodeFrame(FrameType.DATA, Flag.SYN, id, 1, bytes("x"));
const ack = (id: number) => encodeFrame(FrameType.WINDOW_UPDATE, Flag.ACK, id, 0);
const data = (id: number, text: string, flags = 0) =>
  encodeFrame(FrameType.DATA, flags, id, text.length, bytes(text));
const fin = (id: number) => encodeFrame(FrameType.DATA, Flag.FIN, id, 0);
const update = (id: number, n: number) => encodeFrame(FrameType.WINDOW_UPDATE, 0, id, n);
const rst = (id: number, reason = "peer reset") => {
  const p = encodeReason(ResetCode.CANCEL, reason);
  return encodeFrame(FrameType.DATA, Flag.RST, id, p.byteLength, p);
};

/** A session (role server, opening even ids) and a raw peer (the client, opening odd ids). */
async function harness(kind: PipeKind) {
  const pipe = await kind.make();
  const writer = pipe.a.writable.getWriter();
  const reader = pipe.a.readable.getReader();
  const incoming: IncomingStream[] = [];
  const waiting: ((i: IncomingStream) => void)[] = [];
  writer.write(encodePreface({
    protocol: PROTOCOL_VERSION,
    role: "client",
    capabilities: 0,
    streamWindow: WINDOW,
    sessionWindow: 64 << 20,
    maxFramePayload: 64 * 1024,
    version: "1.0.0",
  })).catch(() => {});
  const session = await Session.connect(pipe.b.readable, pipe.b.writable, {
    role: "server",
    version: "1.0.0",
    keepaliveMs: 0,
    closeTimeoutMs: 200,
    onStream: (i) => {
      const w = waiting.shift();
      if (w) w(i);
      else incoming.push(i);
    },
  });
  const decoder = new FrameDecoder({ maxPayload: 1 << 20 });
  let preface = new Uint8Array(0);
  let inFrames = false;
  const frame = async (): Promise<Frame | null> => {
    for (;;) {
      if (inFrames) {
        const f = decoder.next();
        if (f) return f;
      }
      const { value, done } = await reader.read();
      if (done) return null;
      if (inFrames) {
        decoder.push(value);
        continue;
      }
      const joined = new Uint8Array(preface.byteLength + value.byteLength);
      joined.set(preface);
      joined.set(value, preface.byteLength);
      preface = joined;
      const fixed = PREFACE_FIXED_SIZE;
      if (preface.byteLength >= fixed && preface.byteLength >= fixed + preface[fixed - 1]) {
        inFrames = true;
        decoder.push(preface.subarray(fixed + preface[fixed - 1]));
      }
    }
  };
  return {
    session,
    send: (...frames: Uint8Array[]) => {
      for (const f of frames) writer.write(f).catch(() => {});
    },
    /** Frames from the session until one matches, skipping window updates for stream 0. */
    async expect(what: string, match: (f: Frame) => boolean): Promise<Frame> {
      return await within(
        5000,
        (async () => {
          for (;;) {
            const f = await frame();
            if (!f) throw new Error(`EOF while waiting for ${what}`);
            if (match(f)) return f;
          }
        })(),
        what,
      );
    },
    incoming: (): Promise<IncomingStream> => {
      const i = incoming.shift();
      return i ? Promise.resolve(i) : new Promise((resolve) => waiting.push(resolve));
    },
    /** A ping round trip: everything sent before it has been handled. */
    async settle(): Promise<void> {
      writer.write(encodeFrame(FrameType.PING, Flag.SYN, 0, 77)).catch(() => {});
      await this.expect("pong", (f) => f.type === FrameType.PING && f.length === 77);
    },
    async dispose() {
      await session.close();
      writer.releaseLock();
      reader.releaseLock();
      await pipe.dispose();
    },
  };
}

type Harness = Awaited<ReturnType<typeof harness>>;

/** A stream the peer opened and the session accepted: ESTABLISHED, id 1. */
async function accepted(h: Harness): Promise<MuxStream> {
  h.send(syn(1));
  const s = (await h.incoming()).accept();
  await h.expect("ACK", (f) => f.type === FrameType.WINDOW_UPDATE && f.flags === Flag.ACK);
  return s;
}

const isFin = (id: number) => (f: Frame) =>
  f.type === FrameType.DATA && f.streamId === id && (f.flags & Flag.FIN) !== 0;
const isRst = (id: number) => (f: Frame) =>
  f.type === FrameType.DATA && f.streamId === id && f.flags === Flag.RST;

async function protocolError(h: Harness, pattern: RegExp): Promise<void> {
  const info = await within(5000, h.session.closed, "the session to end");
  assert.ok(info.error instanceof ProtocolError, `a protocol error, got ${info.reason}`);
  assert.match(info.reason, pattern);
}

for (const kind of PIPE_KINDS) {
  describe(`mux stream states over ${kind.name}`, () => {
    const scenario = (name: string, body: (h: Harness) => Promise<void>) =>
      test(`stream state - ${name}`, async () => {
        const h = await harness(kind);
        try {
          await body(h);
        } finally {
          await h.dispose();
        }
      });

    scenario("SYN_SENT goes to ESTABLISHED on ACK", async (h) => {
      const opening = h.session.open("t");
      await h.expect("SYN", (f) => f.flags === Flag.SYN && f.streamId === 2);
      h.send(ack(2));
      const s = await opening;
      assert.equal(s.state, StreamState.ESTABLISHED);
    });

    scenario("SYN_SENT goes to RESET on RST, and open() rejects with the reason", async (h) => {
      const opening = h.session.open("t");
      await h.expect("SYN", (f) => f.flags === Flag.SYN);
      h.send(rst(2, "pipe not found"));
      await assert.rejects(
        opening,
        (e) => e instanceof StreamResetError && e.remote && /pipe not found/.test(e.message),
      );
      assert.equal(h.session.stats().openStreams, 0);
    });

    scenario("SYN_SENT: DATA or FIN before ACK is a protocol error", async (h) => {
      h.session.open("t").catch(() => {});
      await h.expect("SYN", (f) => f.flags === Flag.SYN);
      h.send(fin(2));
      await protocolError(h, /DATA on stream 2 before it was accepted/);
    });

    scenario("SYN_RECEIVED goes to ESTABLISHED on accept, which sends ACK", async (h) => {
      h.send(syn(1));
      const i = await h.incoming();
      const s = i.accept();
      assert.equal(s.state, StreamState.ESTABLISHED);
      await h.expect("ACK", (f) => f.flags === Flag.ACK && f.streamId === 1);
    });

    scenario(
      "SYN_RECEIVED goes to RESET when the opener gives up, and accept() then throws",
      async (h) => {
        h.send(syn(1), rst(1, "gave up"));
        const i = await h.incoming();
        await within(5000, i.closed, "the incoming stream to end");
        assert.throws(() => i.accept(), StreamResetError);
      },
    );

    scenario("SYN_RECEIVED goes to RESET on reject, which answers RST", async (h) => {
      h.send(syn(1));
      (await h.incoming()).reject(ResetCode.NOT_FOUND, "no such pipe");
      await h.expect("RST", isRst(1));
      assert.equal(h.session.stats().openStreams, 0);
    });

    scenario("SYN_RECEIVED: DATA before accept is a protocol error", async (h) => {
      h.send(syn(1), data(1, "early"));
      await protocolError(h, /DATA on stream 1 before it was accepted/);
    });

    scenario("ESTABLISHED goes to REMOTE_CLOSED on FIN, then CLOSED on our FIN", async (h) => {
      const s = await accepted(h);
      h.send(data(1, "hi", Flag.FIN));
      assert.equal(new TextDecoder().decode(await readAll(s.readable)), "hi");
      assert.equal(s.state, StreamState.REMOTE_CLOSED);
      await s.writable.close();
      await h.expect("FIN", isFin(1));
      await s.closed;
      assert.equal(s.state, StreamState.CLOSED);
    });

    scenario(
      "ESTABLISHED goes to LOCAL_CLOSED on our FIN, then CLOSED on the peer's",
      async (h) => {
        const s = await accepted(h);
        await s.writable.close();
        await h.expect("FIN", isFin(1));
        assert.equal(s.state, StreamState.LOCAL_CLOSED);
        h.send(fin(1));
        await s.closed;
        assert.equal(s.state, StreamState.CLOSED);
        assert.equal(s.error, null);
      },
    );

    scenario("ESTABLISHED goes to RESET on RST; reads and writes fail", async (h) => {
      const s = await accepted(h);
      h.send(rst(1));
      await s.closed;
      assert.equal(s.state, StreamState.RESET);
      await assert.rejects(s.readable.getReader().read(), StreamResetError);
      await assert.rejects(s.writable.getWriter().write(bytes("x")), StreamResetError);
    });

    scenario("LOCAL_CLOSED: a WINDOW_UPDATE after our FIN is harmless; RST resets", async (h) => {
      const s = await accepted(h);
      await s.writable.close();
      await h.expect("FIN", isFin(1));
      h.send(update(1, 1000));
      await h.settle();
      assert.equal(s.state, StreamState.LOCAL_CLOSED);
      h.send(rst(1));
      await s.closed;
      assert.equal(s.state, StreamState.RESET);
    });

    scenario("REMOTE_CLOSED: a WINDOW_UPDATE still lets us send; RST resets", async (h) => {
      const s = await accepted(h);
      h.send(fin(1), update(1, 1000));
      await h.settle();
      assert.equal(s.state, StreamState.REMOTE_CLOSED);
      const w = s.writable.getWriter();
      await w.write(bytes("late"));
      await h.expect("DATA", (f) => f.streamId === 1 && f.payload.byteLength === 4);
      h.send(rst(1));
      await s.closed;
      assert.equal(s.state, StreamState.RESET);
    });

    scenario("REMOTE_CLOSED: DATA after FIN is a protocol error", async (h) => {
      await accepted(h);
      h.send(fin(1), data(1, "more"));
      await protocolError(h, /DATA on stream 1 after its FIN/);
    });

    scenario("REMOTE_CLOSED: a second FIN is a protocol error", async (h) => {
      await accepted(h);
      h.send(fin(1), fin(1));
      await protocolError(h, /DATA on stream 1 after its FIN/);
    });

    scenario("ESTABLISHED: a second ACK is a protocol error", async (h) => {
      const opening = h.session.open("t");
      await h.expect("SYN", (f) => f.flags === Flag.SYN);
      h.send(ack(2), ack(2));
      await opening;
      await protocolError(h, /unexpected ACK on stream 2/);
    });

    scenario(
      "CLOSED and RESET: late frames for the id are ignored, late DATA credited back",
      async (h) => {
        const s = await accepted(h);
        s.reset(ResetCode.CANCEL, "done");
        await h.expect("RST", isRst(1));
        h.send(data(1, "in flight"), update(1, 100), rst(1), fin(1));
        await h.settle();
        assert.equal(h.session.isClosed, false);
        assert.equal(h.session.stats().bufferedIn, 0);
      },
    );

    scenario("a reset racing a close: RST wins, the close fails and no FIN follows", async (h) => {
      const s = await accepted(h);
      const w = s.writable.getWriter();
      const closing = w.close();
      s.reset(ResetCode.CANCEL, "raced");
      await assert.rejects(closing, StreamResetError);
      await h.expect("RST", isRst(1));
      await h.settle();
      assert.equal(s.state, StreamState.RESET);
    });

    scenario("a peer's RST then our close: the close fails, the stream stays RESET", async (h) => {
      const s = await accepted(h);
      const w = s.writable.getWriter();
      h.send(rst(1, "peer first"));
      await h.settle();
      await assert.rejects(w.close()); // an errored writable refuses to close
      await s.closed;
      assert.ok(s.error instanceof StreamResetError && s.error.remote);
      assert.equal(s.state, StreamState.RESET);
    });

    scenario(
      "session end: REMOTE_CLOSED keeps its data readable, ESTABLISHED is reset",
      async (h) => {
        const done = await accepted(h);
        h.send(data(1, "kept", Flag.FIN), syn(3));
        const open = (await h.incoming()).accept();
        await h.settle();
        h.send(encodeFrame(FrameType.GO_AWAY, 0, 0, 4, encodeReason(GoAwayCode.NORMAL, "")));
        await h.session.closed;
        assert.equal(done.state, StreamState.CLOSED);
        assert.equal(new TextDecoder().decode(await readAll(done.readable)), "kept");
        assert.equal(open.state, StreamState.RESET);
        assert.ok(open.error instanceof SessionClosedError);
      },
    );
  });
}
