import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Session } from "./mod.ts";
import { PIPE_KINDS } from "../../tests/helpers/pipes.ts";

class Stopping extends Error {}

for (const kind of PIPE_KINDS) {
  describe(`Session.connect abort over ${kind.name}`, () => {
    test("Session.connect - an abort ends a handshake the peer never answers, and lets go of the writer", async () => {
      const pair = await kind.make();
      try {
        // The far side reads our preface but never sends its own (a hung agent).
        const peer = pair.b.readable.getReader();
        const controller = new AbortController();
        const connecting = Session.connect(pair.a.readable, pair.a.writable, {
          role: "client",
          version: "test",
          handshakeTimeoutMs: 600_000,
          signal: controller.signal,
        });
        const first = await peer.read();
        assert.equal(first.done, false, "the preface is sent before the peer answers");
        controller.abort(new Stopping("the daemon is stopping"));
        await assert.rejects(connecting, Stopping);
        // The writer was aborted, so the peer sees its input end (EOF or an error), as an agent sees stdin close.
        const end = await peer.read().then((r) => r.done, () => true);
        assert.equal(end, true);
      } finally {
        await pair.dispose();
      }
    });

    test("Session.connect - an already aborted signal rejects without touching the streams", async () => {
      const pair = await kind.make();
      try {
        const signal = AbortSignal.abort(new Stopping("stopped before it began"));
        await assert.rejects(
          Session.connect(pair.a.readable, pair.a.writable, {
            role: "client",
            version: "test",
            signal,
          }),
          Stopping,
        );
        assert.equal(pair.a.writable.locked, false);
        assert.equal(pair.a.readable.locked, false);
      } finally {
        await pair.dispose();
      }
    });
  });
}
