import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  linkSync,
  readFileSync,
  statSync,
  writeFileSync as fsWriteFileSync,
} from "node:fs";
import { UnsafeFileError } from "../errors.ts";
import { symlink, writeFile as fsWriteFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import {
  chmod,
  exists,
  lstat,
  mkdir,
  openOwnFile,
  readTextFile,
  rename,
  unlink,
  watchFile,
  writeFile,
} from "./fs.ts";
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

  test("watchFile - keeps noticing changes after the file is replaced by a rename, as sed -i does", async () => {
    const dir = await tempDir();
    const path = join(dir.path, "config.yaml");
    await writeFile(path, "v1");
    // Resolves on the first notification that finds `text` in the file, so a late
    // notification about an earlier change cannot stand in for this one.
    let waiting: { text: string; resolve: () => void } | null = null;
    const changedTo = (text: string) =>
      new Promise<void>((resolve) => (waiting = { text, resolve }));
    const stop = watchFile(path, () => {
      if (waiting && readFileSync(path, "utf8") === waiting.text) waiting.resolve();
    });
    try {
      const replace = async (text: string) => {
        await writeFile(`${path}.tmp`, text);
        await rename(`${path}.tmp`, path);
      };
      for (
        const [text, change] of [
          ["v2", () => replace("v2")],
          ["v3", () => replace("v3")],
          ["v4", () => fsWriteFile(path, "v4")],
        ] as const
      ) {
        const changed = changedTo(text);
        await change();
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          changed,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no notification for ${text}`)), 10_000);
          }),
        ]).finally(() => clearTimeout(timer));
      }
    } finally {
      stop();
      await dir.dispose();
    }
  });

  test("watchFile - follows a symlinked path to its target's in-place edits", async () => {
    const dir = await tempDir();
    const target = join(dir.path, "elsewhere", "real.yaml");
    await mkdir(join(dir.path, "elsewhere"));
    await writeFile(target, "v1");
    const path = join(dir.path, "config.yaml");
    await symlink(target, path);
    const changed = new Promise<void>((resolve) => {
      const stop = watchFile(path, () => {
        stop();
        resolve();
      });
    });
    try {
      await fsWriteFile(target, "v2");
      await changed;
    } finally {
      await dir.dispose();
    }
  });
});

describe(`${rt.name} openOwnFile`, () => {
  const uid = process.getuid?.() ?? -1;
  const root = uid === 0;

  test("openOwnFile - creates 0600, and tightens an existing file of ours with one link", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "log");
      const a = openOwnFile(path, "append", uid);
      closeSync(a.fd);
      assert.equal(a.created, true);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      chmodSync(path, 0o644);
      const b = openOwnFile(path, "append", uid);
      closeSync(b.fd);
      assert.equal(b.created, false);
      assert.equal(statSync(path).mode & 0o777, 0o600);
    } finally {
      await dir.dispose();
    }
  });

  test("openOwnFile - a hard-linked file is written but never chmodded (it may be another file of ours)", async () => {
    const dir = await tempDir();
    try {
      const other = join(dir.path, "other");
      fsWriteFileSync(other, "x", { mode: 0o644 });
      chmodSync(other, 0o644);
      linkSync(other, join(dir.path, "log"));
      const f = openOwnFile(join(dir.path, "log"), "append", uid);
      closeSync(f.fd);
      assert.equal(statSync(other).mode & 0o777, 0o644);
    } finally {
      await dir.dispose();
    }
  });

  test("openOwnFile - refuses a symlink without touching its target", async () => {
    const dir = await tempDir();
    try {
      const target = join(dir.path, "target");
      fsWriteFileSync(target, "mine\n", { mode: 0o644 });
      chmodSync(target, 0o644);
      await symlink(target, join(dir.path, "log"));
      assert.throws(
        () => openOwnFile(join(dir.path, "log"), "append", uid),
        (e) => e instanceof UnsafeFileError && /is a symbolic link/.test(e.message),
      );
      assert.equal(readFileSync(target, "utf8"), "mine\n");
      assert.equal(statSync(target).mode & 0o777, 0o644);
    } finally {
      await dir.dispose();
    }
  });

  test("openOwnFile - refuses a device, a FIFO and a directory, chmodding none", async () => {
    const dir = await tempDir();
    try {
      const fifo = join(dir.path, "fifo");
      execFileSync("mkfifo", ["-m", "666", fifo]);
      for (
        const [path, kind] of [["/dev/null", "a character device"], [fifo, "a FIFO"], [
          dir.path,
          "a directory",
        ]]
      ) {
        const before = statSync(path).mode;
        assert.throws(
          () => openOwnFile(path, "append", uid),
          (e) =>
            e instanceof UnsafeFileError && e.message.includes(`is not a regular file (${kind})`),
          path,
        );
        assert.equal(statSync(path).mode, before, `${path} keeps its mode`);
      }
    } finally {
      await dir.dispose();
    }
  });

  test(
    "openOwnFile - refuses a file of another uid",
    { skip: !root && "needs root to chown" },
    async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "log");
        fsWriteFileSync(path, "", { mode: 0o666 });
        chownSync(path, 65534, 65534);
        assert.throws(
          () => openOwnFile(path, "append", uid),
          (e) => e instanceof UnsafeFileError && /is owned by uid 65534/.test(e.message),
        );
      } finally {
        await dir.dispose();
      }
    },
  );
});
