import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { symlink } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { chmod, exists, lstat, mkdir, readTextFile, rename, unlink, writeFile } from "./fs.ts";
import { getRuntime } from "./get_runtime.ts";
import { tempDir } from "./_test_util.ts";

const rt = getRuntime();

describe(`${rt.name} fs helpers`, () => {
  test("writeFile - creates the file with mode 0600 by default and tightens an existing one", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "a.txt");
      await writeFile(path, "one");
      assert.equal((await lstat(path)).mode, 0o600);
      await chmod(path, 0o644);
      await writeFile(path, "two", { mode: 0o600 });
      assert.equal((await lstat(path)).mode, 0o600);
      assert.equal(await readTextFile(path), "two");
      await writeFile(path, new Uint8Array([104, 105]), { mode: 0o640 });
      assert.equal(await readTextFile(path), "hi");
      assert.equal((await lstat(path)).mode, 0o640);
    } finally {
      await dir.dispose();
    }
  });

  test("mkdir - creates with mode 0700, recursively, and accepts an existing directory", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "x", "y");
      await mkdir(path, { recursive: true });
      await mkdir(path);
      const info = await lstat(path);
      assert.ok(info.isDirectory);
      assert.equal(info.mode, 0o700);
      assert.equal(info.uid, process.getuid!());
    } finally {
      await dir.dispose();
    }
  });

  test("lstat - reports symlinks and sockets without following them", async () => {
    const dir = await tempDir();
    const sock = join(dir.path, "s.sock");
    const listener = await rt.listenUnix(sock);
    try {
      const link = join(dir.path, "link");
      await symlink(sock, link);
      const linkInfo = await lstat(link);
      assert.deepEqual([linkInfo.isSymlink, linkInfo.isSocket, linkInfo.isDirectory], [
        true,
        false,
        false,
      ]);
      const sockInfo = await lstat(sock);
      assert.deepEqual([sockInfo.isSymlink, sockInfo.isSocket, sockInfo.isFile], [
        false,
        true,
        false,
      ]);
    } finally {
      await listener.close();
      await dir.dispose();
    }
  });

  test("unlink, rename and exists - behave as expected, and unlink ignores a missing file", async () => {
    const dir = await tempDir();
    try {
      const a = join(dir.path, "a");
      const b = join(dir.path, "b");
      await writeFile(a, "x");
      await rename(a, b);
      assert.equal(await exists(a), false);
      assert.equal(await exists(b), true);
      await unlink(b);
      await unlink(b);
      assert.equal(await exists(b), false);
      assert.equal(await exists(join(b, "under-a-missing-dir")), false);
      await symlink(join(dir.path, "nowhere"), a);
      assert.equal(await exists(a), true, "a dangling symlink exists");
    } finally {
      await dir.dispose();
    }
  });
});
