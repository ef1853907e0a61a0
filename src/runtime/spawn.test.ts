import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SpawnError } from "../errors.ts";
import { socketInodes } from "../../tests/helpers/process.ts";
import { getRuntime } from "./get_runtime.ts";
import { pattern, patternByte, readAll, tempDir, utf8, writeAndClose } from "./_test_util.ts";

const rt = getRuntime();

describe(`${rt.name} spawn`, () => {
  test("spawn - cat echoes stdin to stdout and exits with code 0", async () => {
    const child = rt.spawn(["cat"]);
    const [out] = await Promise.all([
      readAll(child.stdout!),
      writeAndClose(child.stdin!, utf8.encode("round trip\n")),
    ]);
    assert.equal(utf8.decode(out), "round trip\n");
    assert.deepEqual(await child.status, { code: 0, signal: null });
    assert.ok(child.pid > 0);
    assert.equal(child.stderr, null);
  });

  test("spawn - 8 MiB through cat arrive byte-exact (stdin respects backpressure)", async () => {
    const size = 8 * 1024 * 1024;
    const child = rt.spawn(["cat"]);
    const writing = (async () => {
      const writer = child.stdin!.getWriter();
      for (let offset = 0; offset < size; offset += 65536) {
        await writer.write(pattern(offset, 65536));
      }
      await writer.close();
    })();
    const out = await readAll(child.stdout!);
    await writing;
    assert.equal(out.byteLength, size);
    for (let i = 0; i < size; i++) if (out[i] !== patternByte(i)) assert.fail(`byte ${i} differs`);
    assert.deepEqual(await child.status, { code: 0, signal: null });
  });

  test("spawn - a non-zero exit code is reported", async () => {
    const child = rt.spawn(["sh", "-c", "exit 3"], { stdin: "null", stdout: "null" });
    assert.equal(child.stdin, null);
    assert.equal(child.stdout, null);
    assert.deepEqual(await child.status, { code: 3, signal: null });
  });

  test("spawn - SIGKILL is reported as the signal, with no exit code", async () => {
    const child = rt.spawn(["sleep", "60"], { stdin: "null", stdout: "null" });
    child.kill("SIGKILL");
    assert.deepEqual(await child.status, { code: null, signal: "SIGKILL" });
    child.kill(); // the child is gone: must not throw
    child.kill("SIGKILL");
  });

  test("spawn - env is merged over ours, cwd is applied and stderr can be piped", async () => {
    const dir = await tempDir();
    try {
      const child = rt.spawn(
        ["sh", "-c", 'printf "%s|%s|%s" "$WSL2PROXY_TEST" "$(pwd -P)" "${PATH:+has-path}" >&2'],
        {
          env: { WSL2PROXY_TEST: "yes" },
          cwd: dir.path,
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        },
      );
      const err = utf8.decode(await readAll(child.stderr!));
      const [value, cwd, path] = err.split("|");
      assert.equal(value, "yes");
      assert.ok(cwd.endsWith(dir.path.split("/").pop()!), cwd);
      assert.equal(path, "has-path");
      assert.deepEqual(await child.status, { code: 0, signal: null });
    } finally {
      await dir.dispose();
    }
  });

  test("spawn - a missing executable throws SpawnError", () => {
    assert.throws(() => rt.spawn(["wsl2proxy-no-such-program-here"]), SpawnError);
  });

  test("spawn - detached children run in their own session", async () => {
    const child = rt.spawn(["sh", "-c", "ps -o sid= -p $$; ps -o sid= -p $PPID"], {
      stdin: "null",
      detached: true,
    });
    const [own, parent] = utf8.decode(await readAll(child.stdout!)).trim().split(/\s+/);
    assert.equal(own, String(child.pid));
    assert.notEqual(parent, own);
    assert.deepEqual(await child.status, { code: 0, signal: null });
  });
});

describe(`${rt.name} spawnLinked`, {
  skip: rt.spawnLinked && rt.os === "linux" ? false : "only Bun on Linux links a child by socket",
}, () => {
  test("spawnLinked - the child's stdin and stdout are one socket, and 8 MiB echo byte-exact", async () => {
    const child = await rt.spawnLinked!(["sh", "-c", "readlink /proc/self/fd/0 >&2; exec cat"], {
      stderr: "piped",
    });
    const size = 8 * 1024 * 1024;
    const writing = (async () => {
      const writer = child.stdin!.getWriter();
      for (let offset = 0; offset < size; offset += 65536) {
        await writer.write(pattern(offset, 65536));
      }
      await writer.close(); // shutdown(SHUT_WR): cat reads EOF and exits
    })();
    const [out, err] = await Promise.all([readAll(child.stdout!), readAll(child.stderr!)]);
    await writing;
    assert.match(utf8.decode(err), /^socket:\[\d+\]\n$/);
    assert.equal(out.byteLength, size);
    for (let i = 0; i < size; i++) if (out[i] !== patternByte(i)) assert.fail(`byte ${i} differs`);
    assert.deepEqual(await child.status, { code: 0, signal: null });
  });

  test("spawnLinked - a child that exits with our bytes unread ends the link with EOF", async () => {
    const child = await rt.spawnLinked!(["sh", "-c", "exit 4"]);
    const writer = child.stdin!.getWriter();
    await writer.write(utf8.encode("never read\n")).catch(() => {});
    assert.deepEqual(await child.status, { code: 4, signal: null });
    // A pipe would just end; the socket pair's reset must read the same.
    assert.equal((await readAll(child.stdout!)).byteLength, 0);
  });

  test("spawnLinked - a later child holds no copy of our end (or the agent would outlive us)", async () => {
    const before = socketInodes("self");
    const child = await rt.spawnLinked!(["cat"]);
    const ours = [...socketInodes("self")].filter((inode) => !before.has(inode));
    assert.equal(ours.length, 1, `new sockets in this process: ${ours}`);
    const later = rt.spawn(["sleep", "30"], { stdin: "null", stdout: "null" });
    try {
      assert.equal(socketInodes(later.pid).has(ours[0]), false);
      // The child itself has the other end, not ours.
      assert.equal(socketInodes(child.pid).has(ours[0]), false);
    } finally {
      later.kill("SIGKILL");
      await later.status;
    }
    await child.stdin!.close();
    assert.deepEqual(await child.status, { code: 0, signal: null });
  });

  test("spawnLinked - a missing executable throws SpawnError", async () => {
    await assert.rejects(rt.spawnLinked!(["wsl2proxy-no-such-program-here"]), SpawnError);
  });
});
