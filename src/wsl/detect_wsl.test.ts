import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { detectCurrentWsl, detectWsl } from "./detect_wsl.ts";

const noEnv = () => undefined;
const noFiles = () => Promise.resolve(false);
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];
const filesOf = (...present: string[]) => (path: string) => Promise.resolve(present.includes(path));

describe("detectWsl", () => {
  test("detectWsl - WSL_DISTRO_NAME alone means WSL", async () => {
    assert.deepEqual(await detectWsl(envOf({ WSL_DISTRO_NAME: "Ubuntu" }), noFiles), {
      isWsl: true,
      reason: "WSL_DISTRO_NAME=Ubuntu is set",
    });
  });

  test("detectWsl - WSL_INTEROP alone means WSL", async () => {
    assert.deepEqual(await detectWsl(envOf({ WSL_INTEROP: "/run/WSL/8_interop" }), noFiles), {
      isWsl: true,
      reason: "WSL_INTEROP=/run/WSL/8_interop is set",
    });
  });

  test("detectWsl - the WSLInterop binfmt entry alone means WSL", async () => {
    assert.deepEqual(
      await detectWsl(noEnv, filesOf("/proc/sys/fs/binfmt_misc/WSLInterop")),
      { isWsl: true, reason: "/proc/sys/fs/binfmt_misc/WSLInterop exists" },
    );
  });

  test("detectWsl - the WSLInterop-late binfmt entry of newer WSL alone means WSL", async () => {
    assert.deepEqual(
      await detectWsl(noEnv, filesOf("/proc/sys/fs/binfmt_misc/WSLInterop-late")),
      { isWsl: true, reason: "/proc/sys/fs/binfmt_misc/WSLInterop-late exists" },
    );
  });

  test("detectWsl - no signal at all means not WSL, and the reason names every signal", async () => {
    assert.deepEqual(await detectWsl(noEnv, noFiles), {
      isWsl: false,
      reason: "neither WSL_DISTRO_NAME nor WSL_INTEROP is set and there is no " +
        "/proc/sys/fs/binfmt_misc/WSLInterop or /proc/sys/fs/binfmt_misc/WSLInterop-late",
    });
  });

  test("detectWsl - an empty variable counts as unset", async () => {
    const found = await detectWsl(envOf({ WSL_DISTRO_NAME: "", WSL_INTEROP: "" }), noFiles);
    assert.equal(found.isWsl, false);
  });

  test("detectWsl - the environment decides without touching the file system", async () => {
    let lookups = 0;
    const found = await detectWsl(envOf({ WSL_DISTRO_NAME: "Debian" }), () => {
      lookups++;
      return Promise.resolve(true);
    });
    assert.equal(found.isWsl, true);
    assert.equal(lookups, 0);
  });

  test("detectCurrentWsl - agrees with detectWsl over this process's environment", async () => {
    const real = await detectCurrentWsl();
    const viaEnv = process.env.WSL_DISTRO_NAME || process.env.WSL_INTEROP;
    if (viaEnv) assert.equal(real.isWsl, true);
    assert.equal(typeof real.reason, "string");
    assert.ok(real.reason.length > 0);
  });
});
