/**
 * FfiSocketConn is what carries Windows AF_UNIX under Deno (over ws2_32).
 * Windows is not available here, so these tests drive the same class over
 * Linux libc's identical BSD socket calls (socket/connect/recv/send/
 * shutdown/close, with recv and send on Deno's blocking pool), against real
 * Unix sockets made by the runtime.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import process from "node:process";
import { type FfiSocketApi, ffiSocketConn } from "./ffi_socket_conn.ts";
import { connectLibc, connectLibcFd, libcApi } from "./_libc_socket_test_util.ts";
import { getRuntime } from "./mod.ts";
import type { Conn, Listener } from "./types.ts";
import { pattern, readAll, tempDir, utf8, writeAndClose } from "./_test_util.ts";

const SKIP = !("Deno" in globalThis)
  ? "drives the socket through Deno.dlopen (Bun opens Windows AF_UNIX natively and needs no FFI)"
  : process.platform !== "linux"
  ? "binds Linux libc (on Windows, src/agent/dial_windows.test.ts covers the ws2_32 binding)"
  : false;

/** A Unix listener, one FFI client connected to it, and the accepted end. */
async function pair(): Promise<{ client: Conn; server: Conn; dispose: () => Promise<void> }> {
  const rt = getRuntime();
  const dir = await tempDir();
  const listener: Listener = await rt.listenUnix(join(dir.path, "s.sock"));
  const it = listener[Symbol.asyncIterator]();
  const accepted = it.next();
  const client = connectLibc(listener.addr);
  const server = (await accepted).value as Conn;
  return {
    client,
    server,
    dispose: async () => {
      client.close();
      server.close();
      await Promise.allSettled([client.closed, server.closed]);
      await listener.close();
      await dir.dispose();
    },
  };
}

function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

describe("FfiSocketConn over libc", { skip: SKIP }, () => {
  test("FfiSocketConn - echoes 4 MiB byte-exact through a real Unix socket", async () => {
    const p = await pair();
    try {
      p.server.readable.pipeTo(p.server.writable).catch(() => {});
      const data = pattern(0, 4 << 20);
      const [, got] = await Promise.all([
        writeAndClose(p.client.writable, data),
        readAll(p.client.readable),
      ]);
      assert.equal(got.byteLength, data.byteLength);
      assert.deepEqual(got, data);
      await within(5000, p.client.closed, "closed after EOF both ways");
    } finally {
      await p.dispose();
    }
  });

  test("FfiSocketConn - half-close: our FIN reaches the peer and its reply still arrives", async () => {
    const p = await pair();
    try {
      const reply = (async () => {
        const request = await readAll(p.server.readable); // ends at our FIN
        await writeAndClose(p.server.writable, utf8.encode(`got:${utf8.decode(request)}`));
      })();
      await writeAndClose(p.client.writable, utf8.encode("hello"));
      assert.equal(utf8.decode(await readAll(p.client.readable)), "got:hello");
      await reply;
    } finally {
      await p.dispose();
    }
  });

  test("FfiSocketConn - the peer's FIN ends our readable while we keep writing", async () => {
    const p = await pair();
    try {
      await writeAndClose(p.server.writable, utf8.encode("bye"));
      assert.equal(utf8.decode(await readAll(p.client.readable)), "bye");
      const received = readAll(p.server.readable);
      await writeAndClose(p.client.writable, utf8.encode("still here"));
      assert.equal(utf8.decode(await received), "still here");
    } finally {
      await p.dispose();
    }
  });

  test("FfiSocketConn - close() while a recv is blocked waits for it, then closes the socket", async () => {
    const p = await pair();
    try {
      const reader = p.client.readable.getReader();
      const pending = reader.read(); // parks a pool thread in recv: the peer says nothing
      p.client.close();
      await within(5000, p.client.closed, "closed with a recv in flight");
      assert.deepEqual(await pending, { value: undefined, done: true });
      assert.deepEqual(await readAll(p.server.readable), new Uint8Array(0), "the peer sees EOF");
    } finally {
      await p.dispose();
    }
  });

  test("FfiSocketConn - close() while a send is blocked fails the write and closes", async () => {
    const p = await pair();
    try {
      const writer = p.client.writable.getWriter();
      // Far more than the socket buffers hold, to a peer that never reads.
      const writing = writer.write(new Uint8Array(32 << 20));
      writing.catch(() => {});
      p.client.close();
      await assert.rejects(within(5000, writing, "blocked write fails"));
      await within(5000, p.client.closed, "closed with a send in flight");
    } finally {
      await p.dispose();
    }
  });

  test("FfiSocketConn - close() cancels again and again until a blocked call comes back", async () => {
    // A backend whose first cancels do not reach the blocked recv (as with a
    // call still queued on the pool): the socket must stay open until it returns.
    const real = libcApi();
    let cancels = 0;
    let closedHandle = false;
    const stubborn: FfiSocketApi = {
      ...real,
      shutdownBoth: () => {},
      cancelBlocked: (fd) => {
        if (++cancels === 3) real.shutdownBoth(fd);
      },
      close: (fd) => {
        closedHandle = true;
        real.close(fd);
      },
    };
    const rt = getRuntime();
    const dir = await tempDir();
    const listener = await rt.listenUnix(join(dir.path, "s.sock"));
    const accepted = listener[Symbol.asyncIterator]().next();
    const conn = ffiSocketConn(stubborn, connectLibcFd(listener.addr), listener.addr);
    const server = (await accepted).value as Conn;
    try {
      const pending = conn.readable.getReader().read();
      conn.close();
      assert.equal(closedHandle, false, "the handle stays open while recv is blocked");
      await within(5000, conn.closed, "closed once the recv came back");
      assert.ok(cancels >= 3, `cancelled ${cancels} times`);
      assert.ok(closedHandle);
      assert.deepEqual(await pending, { value: undefined, done: true });
    } finally {
      server.close();
      await server.closed;
      await listener.close();
      await dir.dispose();
    }
  });
});
