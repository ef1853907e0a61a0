import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { RuntimeDirError } from "../errors.ts";
import { ensureRuntimeDir, verifyRuntimeDir, xdgRuntimeDirProblem } from "./runtime_dir.ts";

const uid = process.getuid?.() ?? -1;
const needsRoot = { skip: uid !== 0 && "needs root to chown" };

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "w2p-rdir-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

describe("runtime dir checks", () => {
  test(
    "ensureRuntimeDir - creates the dir 0700 (and a missing parent); verifyRuntimeDir then accepts it",
    withDir(async (dir) => {
      const run = join(dir, "a", "run");
      assert.equal(verifyRuntimeDir(run, uid), false, "missing: not running, nothing created");
      await ensureRuntimeDir(run, uid);
      assert.equal(verifyRuntimeDir(run, uid), true);
    }),
  );

  test(
    "verifyRuntimeDir - a parent writable by others without the sticky bit is unsafe, with it fine",
    withDir((dir) => {
      const parent = join(dir, "p");
      mkdirSync(join(parent, "run"), { recursive: true, mode: 0o700 });
      chmodSync(join(parent, "run"), 0o700);
      chmodSync(parent, 0o777);
      assert.throws(
        () => verifyRuntimeDir(join(parent, "run"), uid),
        (e) =>
          e instanceof RuntimeDirError &&
          e.message.includes(
            `${parent} is writable by other users (mode 0777) and has no sticky bit`,
          ),
      );
      chmodSync(parent, 0o1777);
      assert.equal(verifyRuntimeDir(join(parent, "run"), uid), true);
    }),
  );

  test(
    "verifyRuntimeDir - a parent owned by another uid is unsafe",
    needsRoot,
    withDir((dir) => {
      const parent = join(dir, "p");
      mkdirSync(join(parent, "run"), { recursive: true, mode: 0o700 });
      chownSync(parent, 65534, 65534);
      assert.throws(
        () => verifyRuntimeDir(join(parent, "run"), uid),
        (e) =>
          e instanceof RuntimeDirError && e.message.includes(`${parent} is owned by uid 65534`),
      );
    }),
  );

  test(
    "verifyRuntimeDir - a symlinked ancestor is followed and where it leads checked too",
    withDir((dir) => {
      const open = join(dir, "open");
      mkdirSync(join(open, "run"), { recursive: true, mode: 0o700 });
      chmodSync(join(open, "run"), 0o700);
      symlinkSync(open, join(dir, "link"));
      assert.equal(verifyRuntimeDir(join(dir, "link", "run"), uid), true);
      chmodSync(open, 0o777);
      assert.throws(
        () => verifyRuntimeDir(join(dir, "link", "run"), uid),
        (e) =>
          e instanceof RuntimeDirError && e.message.includes(`${open} is writable by other users`),
      );
    }),
  );

  test(
    "verifyRuntimeDir - the dir itself: a symlink, group/other bits, another owner are refused",
    withDir((dir) => {
      const real = join(dir, "real");
      mkdirSync(real, { mode: 0o700 });
      symlinkSync(real, join(dir, "run"));
      assert.throws(() => verifyRuntimeDir(join(dir, "run"), uid), /is a symbolic link/);
      chmodSync(real, 0o750);
      assert.throws(() => verifyRuntimeDir(real, uid), /has mode 0750, which lets other users in/);
      if (uid === 0) {
        chmodSync(real, 0o700);
        chownSync(real, 65534, 65534);
        assert.throws(() => verifyRuntimeDir(real, uid), /is owned by uid 65534/);
      }
    }),
  );

  test(
    "xdgRuntimeDirProblem - WSLg's 0777 dir is a problem, an ordinary 0700 one and a missing one are not",
    withDir((dir) => {
      const xdg = join(dir, "xdg");
      mkdirSync(xdg, { mode: 0o700 });
      chmodSync(xdg, 0o700);
      assert.equal(xdgRuntimeDirProblem(xdg, uid), null);
      assert.equal(xdgRuntimeDirProblem(join(dir, "missing"), uid), null);
      chmodSync(xdg, 0o777);
      assert.match(
        xdgRuntimeDirProblem(xdg, uid) ?? "",
        /is writable by other users \(mode 0777\)/,
      );
    }),
  );
});
