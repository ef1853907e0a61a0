/**
 * Helpers shared by the WSL tests (not part of the library).
 *
 * @module
 */

import { chmod, mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh private temp directory (symlinks resolved), removed by `dispose()`. */
export async function tempDir(): Promise<{ path: string; dispose: () => Promise<void> }> {
  const path = await realpath(await mkdtemp(join(tmpdir(), "wsl2proxy-wsl-")));
  return { path, dispose: () => rm(path, { recursive: true, force: true }) };
}

/** Write an executable `#!/bin/sh` script `name` with `body` into `dir`; returns its path. */
export async function writeScript(dir: string, name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}
