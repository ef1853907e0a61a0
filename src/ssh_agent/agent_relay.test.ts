/**
 * The relay's rules over in-memory pipes, with small scripted agents on the
 * upstream side. The end-to-end tests (tests/bridge_ssh_agent.test.ts) run
 * the same rules with real ssh, sshd and ssh-agent.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AgentMessageTooLargeError } from "../errors.ts";
import { type AgentRelayResult, relayAgent } from "./agent_relay.ts";
import { agentFailure, AgentMessageDecoder, encodeAgentMessage } from "./framing.ts";

interface Pipe {
  a: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
  b: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
}

function pipe(): Pipe {
  const ab = new TransformStream<Uint8Array, Uint8Array>();
  const ba = new TransformStream<Uint8Array, Uint8Array>();
  return {
    a: { readable: ba.readable, writable: ab.writable },
    b: { readable: ab.readable, writable: ba.writable },
  };
}

/** What a scripted agent does with one request: reply bytes (maybe in pieces), hang up, or reset. */
type Action = Uint8Array[] | "close" | "reset";

/**
 * An upstream agent: answers each request with `act(type, index)`.
 * `requests` collects every request frame each connection received.
 */
function scriptedAgent(act: (type: number | undefined, conn: number) => Action) {
  const requests: Uint8Array[][] = [];
  const done: Promise<void>[] = [];
  const open = () => {
    const p = pipe();
    const conn = requests.length;
    const got: Uint8Array[] = [];
    requests.push(got);
    done.push((async () => {
      const r = p.a.readable.getReader();
      const w = p.a.writable.getWriter();
      const d = new AgentMessageDecoder();
      for (;;) {
        const { value, done } = await r.read().catch(() => ({ value: undefined, done: true }));
        if (done) {
          await w.close().catch(() => {});
          return;
        }
        d.push(value!);
        for (let m = d.next(); m; m = d.next()) {
          got.push(m.frame);
          const a = act(m.type, conn);
          if (a === "close") {
            await w.close();
            r.cancel().catch(() => {});
            return;
          }
          if (a === "reset") {
            await w.abort(new Error("agent reset"));
            r.cancel().catch(() => {});
            return;
          }
          for (const piece of a) await w.write(piece);
        }
      }
    })());
    return Promise.resolve(p.b);
  };
  return { open, requests, done };
}

/**
 * A client: a connection to the relay that reads everything in the
 * background (as a socket buffer would), so that writes never wait on reads.
 */
function client() {
  const p = pipe();
  const w = p.a.writable.getWriter();
  const r = p.a.readable.getReader();
  const received: number[] = [];
  let wake = () => {};
  const ended = (async () => {
    try {
      for (;;) {
        const { value, done } = await r.read();
        if (done) return "eof";
        received.push(...value);
        wake();
      }
    } catch (e) {
      return `error: ${(e as Error).message}`;
    } finally {
      wake();
    }
  })();
  let over = false;
  ended.then(() => (over = true));
  /** Wait until at least `n` bytes have come; returns them all so far. */
  const readAtLeast = async (n: number) => {
    while (received.length < n) {
      if (over) throw new Error(`ended after ${received.length} of ${n} bytes`);
      await new Promise<void>((resolve) => (wake = resolve));
    }
    return Uint8Array.from(received);
  };
  /** Wait for the end: "eof" or "error: message". */
  const end = () => ended;
  return { side: p.b, w, received, readAtLeast, end };
}

const REQUEST_IDS = encodeAgentMessage(Uint8Array.of(11));
const SESSION_BIND = encodeAgentMessage(Uint8Array.of(27, 0, 0, 0, 3, 0x61, 0x62, 0x63));
const IDS_ANSWER = encodeAgentMessage(Uint8Array.of(12, 0, 0, 0, 0));
const SUCCESS = encodeAgentMessage(Uint8Array.of(6));

describe("relayAgent", () => {
  test("relayAgent - passes requests and replies through unchanged, however they are chunked", async () => {
    const big = encodeAgentMessage(new Uint8Array(100_000).fill(9));
    const agent = scriptedAgent((type) =>
      type === 11 ? [IDS_ANSWER.subarray(0, 2), IDS_ANSWER.subarray(2)] : [big]
    );
    const c = client();
    const relay = relayAgent(c.side, { openUpstream: agent.open });
    await c.w.write(REQUEST_IDS.subarray(0, 3));
    await c.w.write(Uint8Array.of(...REQUEST_IDS.subarray(3), ...SESSION_BIND.subarray(0, 6)));
    await c.w.write(SESSION_BIND.subarray(6));
    await c.readAtLeast(IDS_ANSWER.byteLength + big.byteLength);
    await c.w.close();
    assert.equal(await c.end(), "eof");
    const r = await relay;
    assert.deepEqual(Uint8Array.from(c.received), Uint8Array.of(...IDS_ANSWER, ...big));
    assert.deepEqual(agent.requests, [[REQUEST_IDS, SESSION_BIND]]);
    assert.deepEqual(pick(r), { upstreams: 1, refused: 0, error: null });
    assert.equal(r.aToB, REQUEST_IDS.byteLength + SESSION_BIND.byteLength);
    await Promise.all(agent.done);
  });

  for (const how of ["close", "reset"] as const) {
    test(`relayAgent - answers FAILURE when the agent ${how}s on an extension, then goes on on a new connection`, async () => {
      const agent = scriptedAgent((type) => (type === 27 ? how : [IDS_ANSWER]));
      const refused: (string | undefined)[] = [];
      const c = client();
      const relay = relayAgent(c.side, {
        openUpstream: agent.open,
        onExtensionRefused: (name) => refused.push(name),
      });
      await c.w.write(SESSION_BIND);
      assert.deepEqual(await c.readAtLeast(5), agentFailure());
      await c.w.write(REQUEST_IDS);
      await c.readAtLeast(5 + IDS_ANSWER.byteLength);
      await c.w.write(SESSION_BIND); // a second bind on the second connection: the same again
      await c.w.write(REQUEST_IDS);
      await c.w.close();
      assert.equal(await c.end(), "eof");
      const r = await relay;
      assert.deepEqual(
        Uint8Array.from(c.received),
        Uint8Array.of(...agentFailure(), ...IDS_ANSWER, ...agentFailure(), ...IDS_ANSWER),
      );
      assert.deepEqual(agent.requests, [
        [SESSION_BIND],
        [REQUEST_IDS, SESSION_BIND],
        [REQUEST_IDS],
      ]);
      assert.deepEqual(refused, ["abc", "abc"]);
      assert.deepEqual(pick(r), { upstreams: 3, refused: 2, error: null });
      await Promise.all(agent.done);
    });
  }

  test("relayAgent - passes a modern agent's answer to an extension through untouched", async () => {
    const agent = scriptedAgent(() => [SUCCESS]);
    const c = client();
    const relay = relayAgent(c.side, { openUpstream: agent.open });
    await c.w.write(SESSION_BIND);
    await c.w.write(REQUEST_IDS);
    await c.w.close();
    assert.equal(await c.end(), "eof");
    assert.deepEqual(Uint8Array.from(c.received), Uint8Array.of(...SUCCESS, ...SUCCESS));
    assert.deepEqual(pick(await relay), { upstreams: 1, refused: 0, error: null });
  });

  test("relayAgent - never answers for the agent when it hangs up on any other request", async () => {
    const agent = scriptedAgent(() => "close");
    const c = client();
    const relay = relayAgent(c.side, { openUpstream: agent.open });
    await c.w.write(REQUEST_IDS);
    assert.equal(await c.end(), "eof");
    assert.deepEqual(c.received, []);
    await c.w.close();
    assert.deepEqual(pick(await relay), { upstreams: 1, refused: 0, error: null });
  });

  test("relayAgent - resets the client when the agent resets on any other request", async () => {
    const agent = scriptedAgent(() => "reset");
    const c = client();
    const relay = relayAgent(c.side, { openUpstream: agent.open });
    await c.w.write(REQUEST_IDS);
    assert.match(await c.end(), /^error: agent reset/);
    const r = await relay;
    assert.equal((r.error as Error).message, "agent reset");
    assert.equal(r.refused, 0);
  });

  test("relayAgent - does not answer for an agent that began its reply to an extension and then hung up", async () => {
    const agent = scriptedAgent(() => [SUCCESS.subarray(0, 2), SUCCESS.subarray(2, 4)]);
    const c = client();
    const relay = relayAgent(c.side, { openUpstream: agent.open });
    await c.w.write(SESSION_BIND);
    await c.w.close();
    assert.equal(await c.end(), "eof");
    assert.deepEqual(Uint8Array.from(c.received), SUCCESS.subarray(0, 4));
    assert.equal((await relay).refused, 0);
  });

  test("relayAgent - passes the client's half-close on while a reply is pending, and still delivers the reply", async () => {
    // An agent that answers only once it has seen EOF, as a slow or confirming agent may.
    const p = pipe();
    const c = client();
    const relay = relayAgent(c.side, { openUpstream: () => Promise.resolve(p.b) });
    await c.w.write(REQUEST_IDS);
    const r = p.a.readable.getReader();
    const got: number[] = [];
    for (;;) {
      const { value, done } = await r.read();
      if (done) break;
      got.push(...value);
      if (got.length === REQUEST_IDS.byteLength) c.w.close(); // the client half-closes now
    }
    assert.deepEqual(Uint8Array.from(got), REQUEST_IDS);
    const w = p.a.writable.getWriter();
    await w.write(IDS_ANSWER);
    await w.close();
    assert.equal(await c.end(), "eof");
    assert.deepEqual(Uint8Array.from(c.received), IDS_ANSWER);
    assert.deepEqual(pick(await relay), { upstreams: 1, refused: 0, error: null });
  });

  test("relayAgent - answers FAILURE to a message over 256 KiB and closes, sending nothing on", async () => {
    const agent = scriptedAgent(() => [IDS_ANSWER]);
    const lengths: number[] = [];
    const c = client();
    const relay = relayAgent(c.side, {
      openUpstream: agent.open,
      onTooLarge: (n) => lengths.push(n),
    });
    await c.w.write(REQUEST_IDS);
    await c.readAtLeast(IDS_ANSWER.byteLength);
    await c.w.write(Uint8Array.of(0, 4, 0, 1, 13));
    assert.equal(await c.end(), "eof");
    assert.deepEqual(
      Uint8Array.from(c.received),
      Uint8Array.of(...IDS_ANSWER, ...agentFailure()),
    );
    const r = await relay;
    assert.ok(r.error instanceof AgentMessageTooLargeError);
    assert.deepEqual(lengths, [262_145]);
    assert.deepEqual(agent.requests, [[REQUEST_IDS]]);
    await Promise.all(agent.done);
  });

  test("relayAgent - leaves the client to the caller when no upstream opens", async () => {
    const c = client();
    const r = await relayAgent(c.side, { openUpstream: () => Promise.resolve(null) });
    assert.equal(r.upstreams, 0);
  });

  test("relayAgent - resets the client when the new connection after a refused extension fails", async () => {
    const agent = scriptedAgent(() => "close");
    let opens = 0;
    const c = client();
    const relay = relayAgent(c.side, {
      openUpstream: () => (opens++ === 0 ? agent.open() : Promise.resolve(null)),
    });
    await c.w.write(SESSION_BIND);
    await c.readAtLeast(5);
    await c.w.write(REQUEST_IDS);
    assert.match(await c.end(), /^error: could not open a new connection/);
    assert.equal((await relay).upstreams, 1);
  });
});

function pick(r: AgentRelayResult) {
  return { upstreams: r.upstreams, refused: r.refused, error: r.error };
}
