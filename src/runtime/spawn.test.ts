import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SpawnError } from "../errors.ts";
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
