/**
 * `splice` when one side's peer ends the whole connection cleanly while the
 * other side still sends to it: a named pipe's server that disconnects after
 * its reply, before the client's half-close has come through. Under Wine this
 * dropped the tail of one reply in about three runs of
 * tests/wine/pipe_half_close_wine.test.ts (16,777,216 bytes sent, 16,737,152
 * back), because the splice took the closed pipe for a failure and reset the
 * stream that still carried the reply.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionClosedError } from "../errors.ts";
import { type Duplex, splice } from "./splice.ts";

/** The target: sends `reply` (then EOF), and its writable fails as a pipe's does once the server is gone. */
function closingTarget(reply: Uint8Array[]) {
  let writableController!: WritableStreamDefaultController;
  const received: Uint8Array[] = [];
  const side: Duplex = {
    readable: new ReadableStream({
      start(c) {
        for (const chunk of reply) c.enqueue(chunk);
        c.close();
      },
    }),
    writable: new WritableStream({
      start: (c) => void (writableController = c),
      write: (chunk) => void received.push(chunk),
    }),
  };
  const disconnect = () =>
    writableController.error(
      new ConnectionClosedError("connection closed by the peer", { byPeer: true }),
    );
  return { side, received, disconnect };
}

/** The client's stream: takes what it is given slowly (the reply is still on its way), and sends more later. */
function slowClient() {
  const got: Uint8Array[] = [];
  let input!: ReadableStreamDefaultController<Uint8Array>;
  let resets = 0;
  let closed = false;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const side: Duplex = {
    readable: new ReadableStream({ start: (c) => void (input = c) }),
    writable: new WritableStream({
      async write(chunk) {
        await gate;
        got.push(chunk);
      },
      close: () => void (closed = true),
    }, { highWaterMark: 1 }),
    reset: () => void resets++,
  };
  return {
    side,
    got,
    input: () => input,
    release,
    resets: () => resets,
    closed: () => closed,
  };
}

const reply = Array.from({ length: 8 }, (_, i) => new Uint8Array(1024).fill(i));
const total = (chunks: Uint8Array[]) => chunks.reduce((n, c) => n + c.byteLength, 0);

describe("splice: a side whose peer closes cleanly", () => {
  test('with peerClosed "drain" the reply arrives whole and nothing is reset; later bytes for the closed side are dropped', async () => {
    const target = closingTarget(reply);
    const client = slowClient();
    const done = splice(target.side, client.side, { peerClosed: "drain" });
    client.input().enqueue(new Uint8Array([1, 2, 3]));
    await new Promise((r) => setTimeout(r, 0));
    target.disconnect(); // the pipe server is gone before the client's last bytes and EOF
    client.input().enqueue(new Uint8Array([4, 5]));
    client.input().close();
    client.release();
    const result = await done;
    assert.equal(result.error, null);
    assert.equal(client.resets(), 0);
    assert.equal(total(client.got), total(reply));
    assert.ok(client.closed(), "the client side got its EOF");
    assert.equal(result.aToB, total(reply));
  });

  test("by default the same close ends the splice as a failure and resets the other side", async () => {
    const target = closingTarget(reply);
    const client = slowClient();
    const done = splice(target.side, client.side);
    await new Promise((r) => setTimeout(r, 0));
    target.disconnect();
    client.release();
    const result = await done;
    assert.ok(result.error instanceof ConnectionClosedError);
    assert.equal(client.resets(), 1);
  });

  test('with peerClosed "drain" a reset is still a reset', async () => {
    const target = closingTarget(reply);
    const client = slowClient();
    const done = splice(target.side, client.side, { peerClosed: "drain" });
    await new Promise((r) => setTimeout(r, 0));
    client.input().error(new Error("the client reset"));
    client.release();
    const result = await done;
    assert.match(String(result.error), /the client reset/);
  });
});
