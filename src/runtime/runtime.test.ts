import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, link, lstat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { AddressInUseError } from "../errors.ts";
import { getRuntime } from "./get_runtime.ts";
import { onPath, readAll, tempDir, utf8, writeAndClose } from "./_test_util.ts";

const rt = getRuntime();
const canSwitchUser = process.getuid?.() === 0 && rt.os === "linux" &&
  (await onPath("setpriv")) && (await onPath("socat"));

describe(`${rt.name} runtime`, () => {
  test("getRuntime - detects the runtime we run on and returns one instance", () => {
    assert.equal(rt.name, "Deno" in globalThis ? "deno" : "bun");
    assert.equal(getRuntime(), rt);
    assert.match(rt.version, /^\d+\.\d+\.\d+/);
    assert.equal(rt.os, process.platform === "win32" ? "windows" : process.platform);
    assert.ok(["x86_64", "aarch64"].includes(rt.arch), rt.arch);
  });

  test("process facts - pid, uid, env, execPath, rss and compiled match the process", () => {
    assert.equal(rt.pid, process.pid);
    assert.equal(rt.uid(), process.getuid?.() ?? -1);
    assert.equal(rt.env("PATH"), process.env.PATH);
    assert.equal(rt.env("WSL2PROXY_SURELY_UNSET_VARIABLE"), undefined);
    assert.equal(rt.execPath(), process.execPath);
    assert.ok(rt.rss() > 1024 * 1024);
    assert.equal(rt.compiled, false);
  });

  test("onSignal - the handler runs for a signal we send ourselves and can be removed", async () => {
    // SIGWINCH is ignored by default, so a failed registration cannot kill the runner.
    const { promise, resolve } = Promise.withResolvers<void>();
    const off = rt.onSignal("SIGWINCH", resolve);
    // Deno's signal listener does not hold the event loop open; this timer
    // only keeps the loop alive until the signal arrives (it never fires).
    const keepAlive = setTimeout(() => {}, 60_000);
    try {
      process.kill(process.pid, "SIGWINCH");
      await promise;
    } finally {
      clearTimeout(keepAlive);
      off();
    }
  });
});

describe(`${rt.name} Unix listener`, () => {
  test("listenUnix - creates the socket file with mode 0600 and removes it on close", async () => {
    const dir = await tempDir();
    const path = join(dir.path, "mode.sock");
    const listener = await rt.listenUnix(path);
    try {
      const info = await lstat(path);
      assert.ok(info.isSocket());
      assert.equal(info.mode & 0o777, 0o600);
      assert.equal(listener.addr, path);
    } finally {
      await listener.close();
      await listener.close(); // idempotent
    }
    await assert.rejects(lstat(path), { code: "ENOENT" });
    await dir.dispose();
  });

  test("listenUnix - replaces a stale socket file nobody listens on", async () => {
    const dir = await tempDir();
    const path = join(dir.path, "stale.sock");
    // A second name for a socket inode outlives the listener: a stale socket file.
    const first = await rt.listenUnix(join(dir.path, "first.sock"));
    await link(join(dir.path, "first.sock"), path);
    await first.close();
    assert.ok((await lstat(path)).isSocket());

    const listener = await rt.listenUnix(path);
    try {
      const accepted = listener[Symbol.asyncIterator]().next();
      const client = await rt.connectUnix(path);
      const server = (await accepted).value!;
      await writeAndClose(client.writable, utf8.encode("fresh"));
      assert.equal(utf8.decode(await readAll(server.readable)), "fresh");
      client.close();
      server.close();
    } finally {
      await listener.close();
      await dir.dispose();
    }
  });

  test("listenUnix - refuses a path another listener is live on", async () => {
    const dir = await tempDir();
    const path = join(dir.path, "live.sock");
    const live = await rt.listenUnix(path);
    try {
      await assert.rejects(rt.listenUnix(path), (error) => {
        assert.ok(error instanceof AddressInUseError);
        assert.equal(error.code, "ADDR_IN_USE");
        return true;
      });
      // The live listener's file was left alone.
      assert.ok((await lstat(path)).isSocket());
    } finally {
      await live.close();
      await dir.dispose();
    }
  });

  test("listenUnix - refuses to replace a regular file", async () => {
    const dir = await tempDir();
    const path = join(dir.path, "not-a-socket");
    await writeFile(path, "keep me");
    try {
      await assert.rejects(rt.listenUnix(path), AddressInUseError);
      assert.ok((await lstat(path)).isFile());
    } finally {
      await dir.dispose();
    }
  });

  test("listenTcp - port 0 binds a free port that is reported", async () => {
    const listener = await rt.listenTcp("127.0.0.1", 0);
    try {
      assert.ok(listener.port! > 0);
      assert.equal(listener.addr, `127.0.0.1:${listener.port}`);
    } finally {
      await listener.close();
    }
  });

  test("listenTcp - a port already taken is refused with AddressInUseError", async () => {
    const first = await rt.listenTcp("127.0.0.1", 0);
    try {
      await assert.rejects(rt.listenTcp("127.0.0.1", first.port!), AddressInUseError);
    } finally {
      await first.close();
    }
  });

  test("connect - a missing socket path and a refused port reject", async () => {
    const dir = await tempDir();
    try {
      await assert.rejects(rt.connectUnix(join(dir.path, "nobody-here.sock")), { code: "ENOENT" });
      const listener = await rt.listenTcp("127.0.0.1", 0);
      const port = listener.port!;
      await listener.close();
      await assert.rejects(rt.connectTcp("127.0.0.1", port), { code: "ECONNREFUSED" });
    } finally {
      await dir.dispose();
    }
  });

  test("listener close - ends a pending iteration", async () => {
    const listener = await rt.listenTcp("127.0.0.1", 0);
    const next = listener[Symbol.asyncIterator]().next();
    await listener.close();
    assert.equal((await next).done, true);
  });
});

describe(`${rt.name} peer credentials`, () => {
  test("peerUid - an accepted Unix connection reports our own uid", async () => {
    const dir = await tempDir();
    const path = join(dir.path, "cred.sock");
    const listener = await rt.listenUnix(path);
    try {
      const accepted = listener[Symbol.asyncIterator]().next();
      const client = await rt.connectUnix(path);
      const server = (await accepted).value!;
      assert.equal(server.peerUid(), process.getuid!());
      client.close();
      server.close();
    } finally {
      await listener.close();
      await dir.dispose();
    }
  });

  test("peerUid - reports another user's uid", {
    skip: canSwitchUser ? false : "needs root, setpriv and socat",
  }, async () => {
    const dir = await tempDir();
    const path = join(dir.path, "other.sock");
    const listener = await rt.listenUnix(path);
    try {
      await chmod(dir.path, 0o755);
      await chmod(path, 0o666);
      const accepted = listener[Symbol.asyncIterator]().next();
      const child = rt.spawn(
        [
          "setpriv",
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "socat",
          "-u",
          "-",
          `UNIX-CONNECT:${path}`,
        ],
        { stdout: "null", stderr: "inherit" },
      );
      await child.stdin!.close();
      const failed = child.status.then((status) => {
        if (status.code !== 0) throw new Error(`socat as nobody failed: ${JSON.stringify(status)}`);
        return accepted;
      });
      const server = (await Promise.race([accepted, failed])).value!;
      assert.equal(server.peerUid(), 65534);
      server.close();
      assert.deepEqual(await child.status, { code: 0, signal: null });
    } finally {
      await listener.close();
      await dir.dispose();
    }
  });
});
