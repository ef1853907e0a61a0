/**
 * A fake system tree for the doctor tests (not part of the library): files
 * and symlinks under a temp dir that a {@linkcode DoctorSeam} reads as `/`.
 *
 * @module
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { getRuntime } from "../../runtime/mod.ts";
import type { DoctorSeam } from "./check.ts";

/** A temp tree; `seam()` reads it as the root. */
export class FakeRoot {
  readonly dir: string = realpathSync(mkdtempSync(join(tmpdir(), "w2p-doctor-root-")));

  /** Write `text` at `path` (absolute, as on the real machine). */
  file(path: string, text: string): this {
    mkdirSync(dirname(this.dir + path), { recursive: true });
    writeFileSync(this.dir + path, text);
    return this;
  }

  /** A symlink at `path` pointing to `target` (taken as is). */
  link(path: string, target: string): this {
    mkdirSync(dirname(this.dir + path), { recursive: true });
    symlinkSync(target, this.dir + path);
    return this;
  }

  /** A seam over this tree with this environment. */
  seam(env: Record<string, string> = {}): DoctorSeam {
    return { root: this.dir, env: (name) => env[name], runtime: getRuntime() };
  }

  /** Remove the tree. */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What a healthy WSL 2 with systemd shows (WSL 2.x: the `-late` entry). */
export function healthyWsl(root: FakeRoot): FakeRoot {
  return root
    .file("/proc/sys/kernel/osrelease", "5.15.167.4-microsoft-standard-WSL2\n")
    .file("/proc/sys/fs/binfmt_misc/status", "enabled\n")
    .file(
      "/proc/sys/fs/binfmt_misc/WSLInterop",
      "enabled\ninterpreter /init\nflags: PF\noffset 0\nmagic 4d5a\n",
    )
    .file("/proc/1/comm", "systemd\n")
    .file("/usr/lib/systemd/system/systemd-binfmt.service", "[Unit]\n")
    .file("/usr/lib/binfmt.d/WSLInterop.conf", ":WSLInterop:M::MZ::/init:PF\n")
    .file(
      "/proc/mounts",
      "none /mnt/wsl tmpfs rw,relatime 0 0\n" +
        "C:\\134 /mnt/c 9p rw,noatime,dirsync,aname=drvfs;path=C:\\;uid=1000;gid=1000;metadata;" +
        "symlinkroot=/mnt/,mmap,access=client,msize=65536,trans=fd,rfd=5,wfd=5 0 0\n",
    );
}
