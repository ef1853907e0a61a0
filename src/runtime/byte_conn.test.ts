/**
 * The byte-connection core, once, against every adapter this runner has:
 * Bun's native sockets (bun test), `Deno.Conn` and the libc FFI socket
 * (deno test), and `node:net` (both), for every transition of the state
 * machine in `byte_conn.ts`. The peer is always a real socket.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import process from "node:process";
import { ConnectionResetError } from "../errors.ts";
import type { ByteConn } from "./byte_conn.ts";
import { getRuntime } from "./get_runtime.ts";
import { connectNodePath, listenNodeUnix } from "./node_net.ts";
import type { Conn, Listener } from "./types.ts";
import { readAll, tempDir, utf8, writeAndClose } from "./_test_util.ts";
import { connectLibc } from "./_libc_socket_test_util.ts";

const rt = getRuntime();
const isDeno = "Deno" in globalThis;

/** How `ours` is made; the peer is the runtime's accepted socket. */
type Kind = "native-unix" | "native-tcp" | "node-unix" | "node-pipe-rule" | "ffi-unix";
const KINDS: Kind[] = ["native-unix", "native-tcp", "node-unix", "node-pipe-rule"];
if (isDeno && process.platform === "linux") KINDS.push("ffi-unix");

interface Pair {
  ours: ByteConn;
  peer: ByteConn;
  dispose(): Promise<void>;
}

async function pair(kind: Kind): Promise<Pair> {
  const dir = await tempDir();
  const path = join(dir.path, "s.sock");
  let listener: Listener;
  let connect: () => Promise<Conn> | Conn;
  if (kind === "native-tcp") {
    listener = await rt.listenTcp("127.0.0.1", 0);
    connect = () => rt.connectTcp("127.0.0.1", listener.port!);
  } else {
    listener = kind === "node-unix" ? await listenNodeUnix(path, null) : await rt.listenUnix(path);
    connect = kind === "native-unix"
      ? () => rt.connectUnix(path)
      : kind === "node-unix"
      ? () => connectNodePath(path)
      : kind === "node-pipe-rule"
      ? () => connectNodePath(path, "pipe") // the named-pipe rule, over a Unix socket
      : () => connectLibc(path);
  }
  const accepted = listener[Symbol.asyncIterator]().next();
  const ours = await connect() as ByteConn;
  const next = await accepted;
  if (next.done) throw new Error("listener ended before accepting");
  const peer = next.value as ByteConn;
  return {
    ours,
    peer,
    async dispose() {
      ours.close();
      peer.close();
      await Promise.allSettled([ours.closed, peer.closed]);
      await listener.close();
      await dir.dispose();
    },
  };
}

/** Read until EOF, or the error the readable ends with. */
async function outcome(readable: ReadableStream<Uint8Array>): Promise<string> {
  try {
    return `eof:${utf8.decode(await readAll(readable))}`;
  } catch (error) {
    return error instanceof ConnectionResetError ? "reset" : `error:${(error as Error).message}`;
  }
}

/** Write `text` and wait until it is in the kernel (the peer does not read it). */
async function leaveUnread(conn: Conn, text: string): Promise<void> {
  const writer = conn.writable.getWriter();
  await writer.write(utf8.encode(text));
  writer.releaseLock();
}

/** Whether writing to `conn` fails within 64 writes of 64 KiB. */
async function writesFail(conn: Conn): Promise<boolean> {
  const writer = conn.writable.getWriter();
  const chunk = new Uint8Array(64 * 1024);
  for (let i = 0; i < 64; i++) {
    if (await writer.write(chunk).then(() => false, () => true)) return true;
  }
  return false;
}

for (const kind of KINDS) {
  const pipeRule = kind === "node-pipe-rule";
  // Deno closes a TCP socket with a FIN even when bytes are unread, and has no
  // SO_LINGER: over Deno's TCP a reset cannot be shown (docs/PROTOCOL.md).
  const resetShows = !(isDeno && kind === "native-tcp");
  describe(`ByteConn over ${rt.name} ${kind}`, () => {
    test("ByteConn - open -> read-done -> closed: the peer's FIN, then ours", async () => {
      const p = await pair(kind);
      try {
        assert.equal(p.ours.state, "open");
        await writeAndClose(p.peer.writable, utf8.encode("request"));
        assert.equal(utf8.decode(await readAll(p.ours.readable)), "request");
        assert.equal(p.ours.state, "read-done");
        await writeAndClose(p.ours.writable, utf8.encode("reply"));
        assert.equal(p.ours.state, "closed");
        await p.ours.closed;
        assert.equal(await outcome(p.peer.readable), "eof:reply");
      } finally {
        await p.dispose();
      }
    });

    test("ByteConn - open -> write-done -> closed: our FIN, then the peer's", async () => {
      const p = await pair(kind);
      try {
        await writeAndClose(p.ours.writable, utf8.encode("request"));
        assert.equal(p.ours.state, "write-done");
        if (pipeRule) {
          // A pipe has no half-close: nothing is sent, the peer reads on and
          // ends the connection itself, and its data still reaches us.
          const reader = p.peer.readable.getReader();
          assert.equal(utf8.decode((await reader.read()).value!), "request");
          reader.releaseLock();
          await writeAndClose(p.peer.writable, utf8.encode("reply after our close"));
          assert.equal(await outcome(p.ours.readable), "eof:reply after our close");
          p.peer.close();
        } else {
          assert.equal(await outcome(p.peer.readable), "eof:request");
          await writeAndClose(p.peer.writable, utf8.encode("reply"));
          assert.equal(await outcome(p.ours.readable), "eof:reply");
        }
        await p.ours.closed;
        assert.equal(p.ours.state, "closed");
      } finally {
        await p.dispose();
      }
    });

    test("ByteConn - close() from open: the peer sees a clean end", async () => {
      const p = await pair(kind);
      try {
        p.ours.close();
        p.ours.close();
        assert.equal(p.ours.state, "closed");
        await p.ours.closed;
        assert.equal(await outcome(p.peer.readable), "eof:");
        p.ours.reset(); // no effect once ended
        assert.equal(p.ours.state, "closed");
      } finally {
        await p.dispose();
      }
    });

    for (const from of ["open", "read-done", "write-done"] as const) {
      test(`ByteConn - reset() from ${from}: the peer sees a reset, never an end`, async () => {
        const p = await pair(kind);
        try {
          if (from === "read-done") {
            // After the peer's FIN nothing of its can be left unread, so only
            // TCP (RST) can show this reset: Linux reports a Unix stream's
            // reset only with unread bytes (af_unix.c, unix_release_sock).
            await p.peer.writable.getWriter().close();
            assert.equal(await outcome(p.ours.readable), "eof:");
          } else {
            await leaveUnread(p.peer, "unread");
            if (from === "write-done") await p.ours.writable.getWriter().close();
          }
          assert.equal(p.ours.state, from);
          p.ours.reset();
          p.ours.reset();
          assert.equal(p.ours.state, "reset");
          await p.ours.closed;
          if (from === "open") {
            await assert.rejects(readAll(p.ours.readable), ConnectionResetError);
            if (resetShows) assert.equal(await outcome(p.peer.readable), "reset");
          } else if (from === "write-done") {
            // Our FIN went first, so what we sent was complete; the peer's own
            // sending is what the reset cuts.
            await assert.rejects(readAll(p.ours.readable), ConnectionResetError);
            assert.ok(["reset", "eof:"].includes(await outcome(p.peer.readable)));
            assert.ok(await writesFail(p.peer), "the peer's writes fail");
          } else if (kind === "native-tcp" && !isDeno) {
            assert.equal(await outcome(p.peer.readable), "reset");
          }
        } finally {
          await p.dispose();
        }
      });
    }

    test("ByteConn - writable.abort() resets", async () => {
      const p = await pair(kind);
      try {
        await leaveUnread(p.peer, "unread");
        await p.ours.writable.abort(new Error("the other side failed"));
        assert.equal(p.ours.state, "reset");
        if (resetShows) assert.equal(await outcome(p.peer.readable), "reset");
      } finally {
        await p.dispose();
      }
    });

    test("ByteConn - the peer's reset errors our readable with ConnectionResetError", {
      skip: resetShows ? false : "Deno's TCP peer cannot reset",
    }, async () => {
      const p = await pair(kind);
      try {
        await leaveUnread(p.ours, "you never read this");
        p.peer.reset();
        const error = await readAll(p.ours.readable).then(() => null, (e) => e);
        assert.ok(error instanceof ConnectionResetError, `got ${error}`);
        assert.equal(error.remote, true);
        assert.equal(p.ours.state, "reset");
        await p.ours.closed;
      } finally {
        await p.dispose();
      }
    });

    test("ByteConn - writing to a peer that is gone fails the write, and the read side still ends", async () => {
      const p = await pair(kind);
      try {
        p.peer.close();
        await p.peer.closed;
        assert.ok(await writesFail(p.ours), "a write failed");
        // EPIPE fails only our sending; what the peer sent before stays
        // readable where the runtime keeps the socket (Bun closes it: reset).
        // (A pipe reads EPIPE as its end: it may be closed already.)
        const ended = pipeRule ? ["write-done", "reset", "closed"] : ["write-done", "reset"];
        assert.ok(ended.includes(p.ours.state), p.ours.state);
        await outcome(p.ours.readable);
        await p.ours.closed;
        assert.ok(["closed", "reset"].includes(p.ours.state), p.ours.state);
      } finally {
        await p.dispose();
      }
    });

    test("ByteConn - a peer that half-closed and then vanished is noticed without a write", {
      skip: kind === "native-unix" && process.platform === "linux"
        ? false
        : "POLLHUP tells a vanished peer from a half-closed one only on an accepted Unix socket",
    }, async () => {
      const p = await pair(kind);
      try {
        // Here `peer` is the accepted end: the daemon's side of a client.
        await writeAndClose(p.ours.writable, utf8.encode("request"));
        assert.equal(await outcome(p.peer.readable), "eof:request");
        assert.equal(p.peer.state, "read-done");
        p.ours.close();
        await p.peer.closed; // no write to it needed
        // Bun reports the hang-up itself (closed); elsewhere the POLLHUP probe does (reset).
        assert.ok(["closed", "reset"].includes(p.peer.state), p.peer.state);
      } finally {
        await p.dispose();
      }
    });

    test("ByteConn - cancelling the readable, then our FIN: closed", async () => {
      const p = await pair(kind);
      try {
        await p.ours.readable.cancel();
        assert.equal(p.ours.state, "read-done");
        await writeAndClose(p.ours.writable, utf8.encode("bye"));
        assert.equal(p.ours.state, "closed");
        await p.ours.closed;
        if (!pipeRule) assert.equal(await outcome(p.peer.readable), "eof:bye");
      } finally {
        await p.dispose();
      }
    });
  });
}
