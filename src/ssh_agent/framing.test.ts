import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AgentMessageTooLargeError } from "../errors.ts";
import {
  AGENT_MAX_MSGLEN,
  agentFailure,
  AgentFrameCounter,
  AgentMessageDecoder,
  AgentMessageType,
  encodeAgentMessage,
  extensionName,
} from "./framing.ts";

const te = new TextEncoder();

/** `SSH_AGENTC_EXTENSION` with `name` and some extension bytes. */
function extension(name: string): Uint8Array {
  const n = te.encode(name);
  const body = new Uint8Array(1 + 4 + n.byteLength + 3);
  body[0] = AgentMessageType.EXTENSION;
  new DataView(body.buffer).setUint32(1, n.byteLength, false);
  body.set(n, 5);
  body.set([1, 2, 3], 5 + n.byteLength);
  return encodeAgentMessage(body);
}

describe("ssh-agent framing", () => {
  test("framing - pins the wire constants", () => {
    assert.deepEqual(agentFailure(), Uint8Array.of(0, 0, 0, 1, 5));
    assert.equal(AGENT_MAX_MSGLEN, 262_144);
    assert.deepEqual(AgentMessageType, {
      FAILURE: 5,
      SUCCESS: 6,
      EXTENSION: 27,
      EXTENSION_FAILURE: 28,
    });
    assert.deepEqual(encodeAgentMessage(Uint8Array.of(11)), Uint8Array.of(0, 0, 0, 1, 11));
  });

  test("AgentMessageDecoder - splits messages however the bytes are chunked", () => {
    const stream = new Uint8Array([
      ...encodeAgentMessage(Uint8Array.of(11)),
      ...extension("session-bind@openssh.com"),
      0,
      0,
      0,
      0, // a zero-length message has no type
      ...encodeAgentMessage(new Uint8Array(5000).fill(7)),
    ]);
    for (const size of [1, 2, 3, 5, 7, 64, 4096, stream.byteLength]) {
      const d = new AgentMessageDecoder();
      const got: { type: number | undefined; frame: Uint8Array }[] = [];
      for (let i = 0; i < stream.byteLength; i += size) {
        d.push(stream.subarray(i, i + size));
        for (let m = d.next(); m; m = d.next()) got.push(m);
      }
      assert.deepEqual(got.map((m) => m.type), [11, 27, undefined, 7], `chunks of ${size}`);
      assert.deepEqual(new Uint8Array(got.flatMap((m) => [...m.frame])), stream);
      assert.equal(extensionName(got[1]), "session-bind@openssh.com");
      assert.equal(extensionName(got[0]), undefined);
      assert.equal(d.buffered, 0);
    }
  });

  test("AgentMessageDecoder - refuses a length over the limit as soon as the header is in", () => {
    const d = new AgentMessageDecoder();
    d.push(Uint8Array.of(0, 4, 0));
    assert.equal(d.next(), null);
    d.push(Uint8Array.of(1));
    assert.throws(
      () => d.next(),
      (e) => e instanceof AgentMessageTooLargeError && e.length === 262_145,
    );
    const exact = new AgentMessageDecoder();
    exact.push(encodeAgentMessage(new Uint8Array(AGENT_MAX_MSGLEN)));
    assert.equal(exact.next()?.frame.byteLength, AGENT_MAX_MSGLEN + 4);
  });

  test("AgentMessageDecoder - hands back an unfinished message", () => {
    const d = new AgentMessageDecoder();
    d.push(Uint8Array.of(0, 0, 0, 9, 13, 1));
    assert.equal(d.next(), null);
    assert.deepEqual(d.takeRest(), Uint8Array.of(0, 0, 0, 9, 13, 1));
    assert.equal(d.buffered, 0);
  });

  test("AgentFrameCounter - counts message ends in a stream of any chunking", () => {
    const stream = new Uint8Array([
      ...agentFailure(),
      ...encodeAgentMessage(new Uint8Array(300).fill(12)),
      0,
      0,
      0,
      0,
      ...agentFailure(),
    ]);
    for (const size of [1, 3, 4, 5, 100, stream.byteLength]) {
      const c = new AgentFrameCounter();
      let n = 0;
      for (let i = 0; i < stream.byteLength; i += size) n += c.feed(stream.subarray(i, i + size));
      assert.equal(n, 4, `chunks of ${size}`);
      assert.equal(c.inMessage, false);
    }
    const c = new AgentFrameCounter();
    assert.equal(c.feed(Uint8Array.of(0, 0, 0, 2, 6)), 0);
    assert.equal(c.inMessage, true);
  });
});
