import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { setTimeout as delay } from "node:timers/promises";
import { getRuntime } from "./get_runtime.ts";
import {
  connectedPair,
  pattern,
  patternByte,
  readAll,
  tempDir,
  type Transport,
  utf8,
  writeAndClose,
} from "./_test_util.ts";

const rt = getRuntime();

for (const transport of ["unix", "tcp", "node-unix"] as Transport[]) {
  describe(`${rt.name} ${transport} Conn`, () => {
    test("echo - bytes sent by the client come back from an echoing server", async () => {
      const dir = await tempDir();
      const pair = await connectedPair(rt, transport, dir.path);
      try {
        const echoing = pair.server.readable.pipeTo(pair.server.writable);
        const [reply] = await Promise.all([
          readAll(pair.client.readable),
          writeAndClose(pair.client.writable, utf8.encode("hello over " + transport)),
        ]);
        assert.equal(utf8.decode(reply), "hello over " + transport);
        await echoing;
      } finally {
        await pair.dispose();
        await dir.dispose();
      }
    });

    test("half-close - the client still receives the reply after closing its write side", async () => {
      const dir = await tempDir();
      const pair = await connectedPair(rt, transport, dir.path);
      try {
        await writeAndClose(pair.client.writable, utf8.encode("ping"));
        // The server sees EOF (readAll returns) while its own write side is still open.
        const request = await readAll(pair.server.readable);
        assert.equal(utf8.decode(request), "ping");
        await writeAndClose(pair.server.writable, utf8.encode("pong after your FIN"));
        assert.equal(utf8.decode(await readAll(pair.client.readable)), "pong after your FIN");
        await Promise.all([pair.client.closed, pair.server.closed]);
      } finally {
        await pair.dispose();
        await dir.dispose();
      }
    });

    test("half-close - the server closes its write side first and still receives the client's data", async () => {
      const dir = await tempDir();
      const pair = await connectedPair(rt, transport, dir.path);
      try {
        await writeAndClose(pair.server.writable, utf8.encode("banner"));
        assert.equal(utf8.decode(await readAll(pair.client.readable)), "banner");
        await writeAndClose(pair.client.writable, utf8.encode("late request"));
        assert.equal(utf8.decode(await readAll(pair.server.readable)), "late request");
        await Promise.all([pair.client.closed, pair.server.closed]);
      } finally {
        await pair.dispose();
        await dir.dispose();
      }
    });

    test("close - ends the peer's readable and resolves closed on both ends", async () => {
      const dir = await tempDir();
      const pair = await connectedPair(rt, transport, dir.path);
      try {
        pair.client.close();
        pair.client.close(); // idempotent
        assert.equal((await readAll(pair.client.readable)).byteLength, 0);
        await pair.client.closed;
        await readAll(pair.server.readable).catch(() => new Uint8Array());
        pair.server.close();
        await pair.server.closed;
      } finally {
        await pair.dispose();
        await dir.dispose();
      }
    });

    test("peerUid - is undefined on the connecting side", async () => {
      const dir = await tempDir();
      const pair = await connectedPair(rt, transport, dir.path);
      try {
        assert.equal(pair.client.peerUid(), undefined);
        if (transport === "tcp") {
          // TCP: the uid from the kernel's socket table (Linux), as for a TCP linux_addr.
          assert.equal(pair.server.peerUid(), process.platform === "linux" ? rt.uid() : undefined);
        } else assert.equal(pair.server.peerUid(), rt.uid());
      } finally {
        await pair.dispose();
        await dir.dispose();
      }
    });
  });
}

describe(`${rt.name} large transfers`, () => {
  const total = 32 * 1024 * 1024;
  const chunkSize = 64 * 1024;

  for (
    const [transport, direction] of [
      ["unix", "client to server"],
      ["unix", "server to client"],
      ["node-unix", "client to server"],
      ["node-unix", "server to client"],
    ] as [Transport, string][]
  ) {
    test(`large transfer - 32 MiB ${direction} over ${transport} arrive byte-exact and the producer blocks while nobody reads`, async () => {
      const dir = await tempDir();
      // Unix sockets only: loopback TCP autotunes its buffers to several
      // MiB, which would blur the bound checked below.
      const pair = await connectedPair(rt, transport, dir.path);
      const [from, to] = direction === "client to server"
        ? [pair.client, pair.server]
        : [pair.server, pair.client];
      try {
        let accepted = 0;
        const producing = (async () => {
          const writer = from.writable.getWriter();
          for (let offset = 0; offset < total; offset += chunkSize) {
            await writer.write(pattern(offset, chunkSize));
            accepted += chunkSize;
          }
          await writer.close();
        })();
        // Nobody reads yet. With pull-based reading the producer stalls once the
        // kernel buffers and our 256 KiB read-ahead are full. A correct
        // implementation never finishes here, so this single wait cannot flake.
        const stalled = await Promise.race([
          producing.then(() => false),
          delay(500).then(() => true),
        ]);
        assert.ok(stalled, "producer finished 32 MiB although nobody was reading");
        assert.ok(
          accepted < 8 * 1024 * 1024,
          `producer got ${accepted} bytes accepted with an idle reader`,
        );

        let received = 0;
        let mismatch = -1;
        for await (const chunk of to.readable) {
          for (let i = 0; i < chunk.byteLength && mismatch < 0; i++) {
            if (chunk[i] !== patternByte(received + i)) mismatch = received + i;
          }
          received += chunk.byteLength;
        }
        await producing;
        assert.equal(mismatch, -1, `first wrong byte at offset ${mismatch}`);
        assert.equal(received, total);
      } finally {
        await pair.dispose();
        await dir.dispose();
      }
    });
  }

  test("large transfer - chunks handed out are never overwritten by later reads", async () => {
    const dir = await tempDir();
    const pair = await connectedPair(rt, "unix", dir.path);
    try {
      const size = 4 * 1024 * 1024;
      const collect = async (readable: ReadableStream<Uint8Array>) => {
        const chunks: Uint8Array[] = [];
        for await (const chunk of readable) chunks.push(chunk);
        return chunks;
      };
      // Both directions at once, so both ends' readables are exercised.
      const [toServer, toClient] = await Promise.all([
        collect(pair.server.readable),
        collect(pair.client.readable),
        writeAndClose(pair.client.writable, pattern(0, size)),
        writeAndClose(pair.server.writable, pattern(0, size)),
      ]);
      // Checked only after everything arrived: a reused buffer would now hold newer bytes.
      for (const chunks of [toServer, toClient]) {
        let offset = 0;
        for (const chunk of chunks) {
          for (let i = 0; i < chunk.byteLength; i++) {
            if (chunk[i] !== patternByte(offset + i)) {
              assert.fail(`byte ${offset + i} was overwritten`);
            }
          }
          offset += chunk.byteLength;
        }
        assert.equal(offset, size);
      }
    } finally {
      await pair.dispose();
      await dir.dispose();
    }
  });
});
