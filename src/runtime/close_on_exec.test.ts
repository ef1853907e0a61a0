import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { getRuntime } from "./get_runtime.ts";
import { readAll, tempDir } from "./_test_util.ts";

const rt = getRuntime();

/** The socket inode of the Unix listener bound at `path`, from /proc/self/net/unix. */
function listenerInode(path: string): string {
  for (const line of readFileSync("/proc/self/net/unix", "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[7] === path && f[3] === "00010000") return f[6];
  }
  throw new Error(`no listener at ${path} in /proc/self/net/unix`);
}

describe(`${rt.name} close-on-exec`, { skip: rt.os !== "linux" }, () => {
  test("listenUnix - a child spawned afterwards does not inherit the listening socket", async () => {
    const dir = await tempDir();
    const listener = await rt.listenUnix(join(dir.path, "l.sock"));
    try {
      const socket = `socket:[${listenerInode(join(dir.path, "l.sock"))}]`;
      const ours = readdirSync("/proc/self/fd").map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return "";
        }
      });
      assert.ok(ours.includes(socket), `this process holds ${socket}`);
      const child = rt.spawn(
        ["sh", "-c", 'for f in /proc/$$/fd/*; do readlink "$f"; done; exit 0'],
        {
          stdin: "null",
          stdout: "piped",
        },
      );
      const [out, status] = await Promise.all([readAll(child.stdout!), child.status]);
      assert.equal(status.code, 0);
      const inherited = new TextDecoder().decode(out).split("\n");
      assert.ok(inherited.length > 2, "the child listed its fds");
      assert.ok(
        !inherited.includes(socket),
        `the child did not inherit ${socket}: ${inherited.join(" ")}`,
      );
    } finally {
      await listener.close();
      await dir.dispose();
    }
  });
});
