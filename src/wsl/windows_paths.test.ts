import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { InteropError } from "../errors.ts";
import { localAppData, windowsToLinuxPath } from "./windows_paths.ts";
import { tempDir, writeScript } from "./_test_util.ts";

/** What the real `cmd.exe /c echo %LOCALAPPDATA%` prints: the path and CRLF. */
const CMD_OK = String.raw`printf 'C:\\Users\\me\\AppData\\Local\r\n'`;

/** A `wslpath -u` stand-in: `C:\a\b` → `/mnt/c/a/b`; records its argv (one per line) and cwd. */
function wslpathBody(record: string): string {
  return [
    `printf '%s\\n' "$@" > '${record}.args'`,
    `pwd > '${record}.cwd'`,
    `[ "$1" = "-u" ] || { echo "wslpath: bad option $1" >&2; exit 2; }`,
    `drive=$(printf '%s' "$2" | cut -c1 | tr 'A-Z' 'a-z')`,
    `rest=$(printf '%s' "$2" | cut -c3- | tr '\\\\' '/')`,
    `printf '/mnt/%s%s\\n' "$drive" "$rest"`,
  ].join("\n");
}

/** A temp dir with `bin/` (stand-ins, first on PATH) and `c/` (the fake C: drive). */
async function interopFixture(cmdBody: string | null) {
  const dir = await tempDir();
  const bin = join(dir.path, "bin");
  const driveDir = join(dir.path, "c");
  await mkdir(bin);
  await mkdir(driveDir);
  const record = (name: string) => join(dir.path, name);
  if (cmdBody !== null) {
    await writeScript(
      bin,
      "cmd.exe",
      `printf '%s\\n' "$@" > '${record("cmd")}.args'\npwd > '${record("cmd")}.cwd'\n${cmdBody}`,
    );
  }
  await writeScript(bin, "wslpath", wslpathBody(record("wslpath")));
  return {
    dir,
    bin,
    driveDir,
    path: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    recorded: (name: string) => readFile(record(name), "utf8"),
  };
}

function assertInteropError(code: string, message: string | RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof InteropError, `not an InteropError: ${error}`);
    assert.equal(error.code, code);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  };
}

describe("windows paths", () => {
  test("localAppData - runs cmd.exe and wslpath in the drive directory and returns the trimmed Linux path", async () => {
    const fx = await interopFixture(CMD_OK);
    try {
      const result = await localAppData({ driveDir: fx.driveDir, path: fx.path });
      assert.equal(result, "/mnt/c/Users/me/AppData/Local");
      assert.equal(await fx.recorded("cmd.cwd"), `${fx.driveDir}\n`);
      assert.equal(await fx.recorded("cmd.args"), "/c\necho\n%LOCALAPPDATA%\n");
      assert.equal(await fx.recorded("wslpath.cwd"), `${fx.driveDir}\n`);
      assert.equal(await fx.recorded("wslpath.args"), "-u\nC:\\Users\\me\\AppData\\Local\n");
    } finally {
      await fx.dir.dispose();
    }
  });

  test("localAppData - finds cmd.exe in <drive>/Windows/System32 when PATH lacks it", async () => {
    const fx = await interopFixture(null);
    try {
      const system32 = join(fx.driveDir, "Windows", "System32");
      await mkdir(system32, { recursive: true });
      await writeScript(system32, "cmd.exe", `pwd > '${join(fx.dir.path, "cmd.cwd")}'\n${CMD_OK}`);
      const result = await localAppData({ driveDir: fx.driveDir, path: fx.path });
      assert.equal(result, "/mnt/c/Users/me/AppData/Local");
      assert.equal(await fx.recorded("cmd.cwd"), `${fx.driveDir}\n`);
    } finally {
      await fx.dir.dispose();
    }
  });

  test("localAppData - a failing cmd.exe is an InteropError with the command and its stderr", async () => {
    const fx = await interopFixture("echo 'Access is denied.' >&2\nexit 1");
    try {
      await assert.rejects(
        localAppData({ driveDir: fx.driveDir, path: fx.path }),
        assertInteropError(
          "INTEROP_FAILED",
          `cmd.exe /c echo %LOCALAPPDATA% exited with code 1 in ${fx.driveDir}: Access is denied.`,
        ),
      );
    } finally {
      await fx.dir.dispose();
    }
  });

  test("localAppData - a cmd.exe that is nowhere is an InteropError naming it", async () => {
    const fx = await interopFixture(null);
    try {
      await assert.rejects(
        localAppData({ driveDir: fx.driveDir, path: fx.bin }),
        assertInteropError(
          "INTEROP_FAILED",
          /^cannot run cmd\.exe \/c echo %LOCALAPPDATA% in .*: cmd\.exe was not found on PATH/,
        ),
      );
    } finally {
      await fx.dir.dispose();
    }
  });

  test("localAppData - a cmd.exe that hangs is killed and reported after the timeout", async () => {
    const fx = await interopFixture("exec sleep 60");
    try {
      await assert.rejects(
        localAppData({ driveDir: fx.driveDir, path: fx.path, timeoutMs: 200 }),
        assertInteropError(
          "INTEROP_TIMEOUT",
          "cmd.exe /c echo %LOCALAPPDATA% did not finish within 200 ms and was killed; " +
            "WSL interop may be hung (`wsl.exe --shutdown` from Windows restarts it)",
        ),
      );
    } finally {
      await fx.dir.dispose();
    }
  });

  test("localAppData - output that is not a Windows path is an InteropError", async () => {
    const fx = await interopFixture(String.raw`printf '%%LOCALAPPDATA%%\r\n'`);
    try {
      await assert.rejects(
        localAppData({ driveDir: fx.driveDir, path: fx.path }),
        assertInteropError(
          "INTEROP_OUTPUT",
          'cmd.exe /c echo %LOCALAPPDATA% printed "%LOCALAPPDATA%\\r\\n", ' +
            "not a Windows path such as C:\\Users\\you\\AppData\\Local",
        ),
      );
    } finally {
      await fx.dir.dispose();
    }
  });

  test("localAppData - a missing drive directory is reported before anything runs", async () => {
    const fx = await interopFixture(CMD_OK);
    try {
      const driveDir = join(fx.dir.path, "not-mounted");
      await assert.rejects(
        localAppData({ driveDir, path: fx.path }),
        assertInteropError(
          "INTEROP_FAILED",
          `cannot run cmd.exe /c echo %LOCALAPPDATA%: its working directory ${driveDir} does not exist ` +
            "(is the C: drive mounted? see [automount] in /etc/wsl.conf)",
        ),
      );
    } finally {
      await fx.dir.dispose();
    }
  });

  test("windowsToLinuxPath - converts with wslpath -u in the drive directory", async () => {
    const fx = await interopFixture(null);
    try {
      const result = await windowsToLinuxPath("D:\\tools\\agent.exe", {
        driveDir: fx.driveDir,
        path: fx.path,
      });
      assert.equal(result, "/mnt/d/tools/agent.exe");
      assert.equal(await fx.recorded("wslpath.cwd"), `${fx.driveDir}\n`);
    } finally {
      await fx.dir.dispose();
    }
  });

  test("windowsToLinuxPath - a failing wslpath is an InteropError with its stderr", async () => {
    const fx = await interopFixture(null);
    try {
      await writeScript(fx.bin, "wslpath", "echo 'wslpath: C:bad: Invalid argument' >&2\nexit 1");
      await assert.rejects(
        windowsToLinuxPath("C:bad", { driveDir: fx.driveDir, path: fx.path }),
        assertInteropError(
          "INTEROP_FAILED",
          `wslpath -u C:bad exited with code 1 in ${fx.driveDir}: wslpath: C:bad: Invalid argument`,
        ),
      );
    } finally {
      await fx.dir.dispose();
    }
  });
});
