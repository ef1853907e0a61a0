import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { UnsafeFileError } from "../errors.ts";
import { fileLockAvailable, tryLockFile } from "./file_lock.ts";
import { getRuntime } from "./get_runtime.ts";
import { tempDir } from "./_test_util.ts";

const rt = getRuntime();
const uid = process.getuid?.() ?? -1;

describe(`${rt.name} file lock (flock)`, () => {
  test("tryLockFile - excludes a second holder until released, and removes the file on release", async () => {
    assert.equal(await fileLockAvailable(rt), true);
    const dir = await tempDir();
    try {
      const path = join(dir.path, "start.lock");
      const first = await tryLockFile(rt, path, uid);
      assert.ok(first);
      assert.equal(await tryLockFile(rt, path, uid), null);
      first.release();
      first.release();
      assert.equal(existsSync(path), false);
      const second = await tryLockFile(rt, path, uid);
      assert.ok(second);
      second.release();
    } finally {
      await dir.dispose();
    }
  });

  test("tryLockFile - the kernel drops a lock when its holder dies (util-linux flock as the holder)", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "start.lock");
      // One process: sh opens the file as fd 9, flock(1) locks it, and sh becomes sleep holding it.
      const holder = spawn("sh", [
        "-c",
        'exec 9>>"$1" && flock 9 && echo ready && exec sleep 300',
        "sh",
        path,
      ], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.once("data", () => resolve());
        holder.once("exit", () => reject(new Error("flock exited early")));
      });
      assert.equal(await tryLockFile(rt, path, uid), null, "held by the flock command");
      const exited = new Promise((r) => holder.once("exit", r));
      holder.kill("SIGKILL");
      await exited;
      const lock = await tryLockFile(rt, path, uid);
      assert.ok(lock, "free once the holder died");
      lock.release();
    } finally {
      await dir.dispose();
    }
  });

  for (const [name, content] of [["empty", ""], ["naming pid 1", "1\n"]]) {
    test(`tryLockFile - a leftover lock file (${name}) is no lock`, async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "start.lock");
        writeFileSync(path, content, { mode: 0o600 });
        const lock = await tryLockFile(rt, path, uid);
        assert.ok(lock);
        lock.release();
      } finally {
        await dir.dispose();
      }
    });
  }

  test("tryLockFile - refuses a symlink", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "start.lock");
      symlinkSync(join(dir.path, "elsewhere"), path);
      await assert.rejects(tryLockFile(rt, path, uid), UnsafeFileError);
      assert.equal(existsSync(join(dir.path, "elsewhere")), false, "nothing created at the target");
    } finally {
      await dir.dispose();
    }
  });
});
