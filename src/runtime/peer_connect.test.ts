import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { connectUnixWithPeer } from "./peer_connect.ts";
import { getRuntime } from "./get_runtime.ts";
import { tempDir } from "./_test_util.ts";

const rt = getRuntime();
const root = process.getuid?.() === 0;

describe(`${rt.name} connectUnixWithPeer`, () => {
  test("connectUnixWithPeer - reports our own uid and pid for our own listener, and the conn works", async () => {
    const dir = await tempDir();
    const listener = await rt.listenUnix(join(dir.path, "s.sock"));
    try {
      const accepted = (async () => {
        for await (const c of listener) return c;
      })();
      const { conn, peer } = await connectUnixWithPeer(rt, join(dir.path, "s.sock"));
      assert.deepEqual({ uid: peer?.uid, pid: peer?.pid }, { uid: rt.uid(), pid: rt.pid });
      const server = await accepted;
      const w = conn.writable.getWriter();
      await w.write(new TextEncoder().encode("hi"));
      const r = server!.readable.getReader();
      assert.equal(new TextDecoder().decode((await r.read()).value), "hi");
      r.releaseLock();
      conn.close();
      server!.close();
    } finally {
      await listener.close();
      await dir.dispose();
    }
  });

  test(
    "connectUnixWithPeer - reports another uid's listener by its uid and pid (socat as uid 65534)",
    {
      skip: !root && "needs root for setpriv",
    },
    async () => {
      const dir = await tempDir();
      chmodSync(dir.path, 0o777);
      const path = join(dir.path, "other.sock");
      const listener = spawn("setpriv", [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "socat",
        "-d",
        "-d",
        `UNIX-LISTEN:${path},mode=777`,
        "EXEC:cat",
      ], { stdio: ["ignore", "ignore", "pipe"] });
      try {
        // socat -d -d says "listening on" once bound.
        await new Promise<void>((resolve, reject) => {
          let err = "";
          listener.stderr!.on("data", (d) => {
            err += d;
            if (err.includes("listening on")) resolve();
          });
          listener.once("exit", () => reject(new Error(`socat exited: ${err}`)));
        });
        const { conn, peer } = await connectUnixWithPeer(rt, path);
        conn.close();
        assert.deepEqual({ uid: peer?.uid, pid: peer?.pid }, { uid: 65534, pid: listener.pid });
      } finally {
        const exited = new Promise((r) => listener.once("exit", r));
        listener.kill("SIGKILL");
        await exited;
        await dir.dispose();
      }
    },
  );
});
