/**
 * A compiled binary in agent mode, driven as the daemon drives it: a client
 * session over its stdin/stdout, one echo through a native target (a named
 * pipe on Windows, a Unix socket elsewhere), then stdin EOF and exit 0.
 *
 * The binary is `WSL2PROXY_TEST_AGENT` (the windows-latest CI job sets it to
 * each compiled `.exe`), else the Bun build for this machine from
 * scripts/build.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import process from "node:process";
import { getRuntime } from "../../src/runtime/mod.ts";
import type { Conn, Listener } from "../../src/runtime/types.ts";
import { VERSION } from "../../src/version.ts";
import { connectToAgent, pattern, readAll, within, writeAll } from "../helpers/mux.ts";
import { linuxBinary, tempDir } from "./_dist.ts";

const rt = getRuntime();
const TIMEOUT = 300_000; // may include a cold build

async function agentBinary(): Promise<string> {
  const given = process.env.WSL2PROXY_TEST_AGENT;
  return given ? resolve(given) : await linuxBinary();
}

/** An echo server on the platform's native local transport, and the target URL for it. */
async function nativeEchoTarget(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  let listener: Listener;
  let url: string;
  if (rt.os === "windows") {
    const name = `w2p-agent-bin-${process.pid}-${Date.now()}`;
    listener = await rt.listenPipe(`\\\\.\\pipe\\${name}`);
    url = `pipe://./pipe/${name}`;
  } else {
    const path = join(dir, "echo.sock");
    listener = await rt.listenUnix(path);
    url = `unix://${path}`;
  }
  const conns = new Set<Conn>();
  const loop = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      conn.readable.pipeTo(conn.writable).catch(() => {}).finally(() => {
        conn.close();
        conns.delete(conn);
      });
    }
  })().catch(() => {});
  return {
    url,
    async close() {
      await listener.close();
      for (const c of conns) c.close();
      await loop;
    },
  };
}

/** Read exactly `n` bytes, then release the stream. */
async function readExactly(readable: ReadableStream<Uint8Array>, n: number): Promise<Uint8Array> {
  const reader = readable.getReader();
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended after ${got} of ${n} bytes`);
    if (got + value.length > n) throw new Error("more bytes back than were sent");
    out.set(value, got);
    got += value.length;
  }
  reader.releaseLock();
  return out;
}

describe("a compiled binary as the agent", () => {
  test(
    "agent bin - handshake, an echo through a native target, and exit 0 at stdin EOF",
    { timeout: TIMEOUT },
    async () => {
      const bin = await agentBinary();
      const dir = await tempDir("w2p-agent-bin-");
      const target = await nativeEchoTarget(dir.path);
      const child = rt.spawn([bin, "agent"], { cwd: dir.path, stderr: "piped" });
      const stderr = readAll(child.stderr!).then((b) => new TextDecoder().decode(b));
      const stdin = child.stdin!.getWriter();
      try {
        const client = await connectToAgent(child.stdout!, stdin, VERSION);
        assert.equal(client.peer.role, "server");
        assert.equal(client.peer.version, VERSION);
        const s = await client.open(target.url);
        const data = pattern(1 << 20, 5);
        // Exactly as many bytes back as were sent, without a half-close: named pipes carry none.
        const [got] = await within(
          60_000,
          Promise.all([
            readExactly(s.readable, data.length),
            writeAll(s.writable, data, 65536, false),
          ]),
          "echo through the agent",
        );
        assert.deepEqual(got, data);

        await stdin.close();
        const status = await within(30_000, child.status, "agent exit");
        assert.deepEqual(status, { code: 0, signal: null }, await stderr);
        await within(5000, client.closed, "client session ends at the agent's EOF");
      } finally {
        child.kill("SIGKILL");
        await child.status;
        await target.close();
        await dir.dispose();
      }
    },
  );
});
