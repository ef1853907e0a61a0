import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { getRuntime } from "../../runtime/mod.ts";
import { FakeRoot, healthyWsl } from "./_fake_root.ts";
import { checkBinfmt, checkSystemdBinfmt, checkWsl2 } from "./wsl_checks.ts";
import { checkDriveMount } from "./drive_mount.ts";
import { checkWslInterop } from "./interop_socket.ts";

const roots: FakeRoot[] = [];
after(() => roots.forEach((r) => r.dispose()));
function healthy(): FakeRoot {
  const r = healthyWsl(new FakeRoot());
  roots.push(r);
  return r;
}

describe("doctor: inside WSL 2", () => {
  test("doctor wsl2 - a WSL 2 kernel is ok", async () => {
    const c = await checkWsl2(healthy().seam({ WSL_DISTRO_NAME: "Ubuntu" }));
    assert.equal(c.status, "ok");
    assert.match(c.evidence, /microsoft-standard-WSL2, WSL_DISTRO_NAME=Ubuntu/);
  });

  test("doctor wsl2 - a WSL 1 kernel warns and says how to convert", async () => {
    const c = await checkWsl2(
      healthy().file("/proc/sys/kernel/osrelease", "4.4.0-19041-Microsoft\n").seam(),
    );
    assert.equal(c.status, "warn");
    assert.match(c.fix, /--set-version <distro> 2/);
  });

  test("doctor wsl2 - another kernel fails", async () => {
    const c = await checkWsl2(
      healthy().file("/proc/sys/kernel/osrelease", "6.8.0-45-generic\n").seam(),
    );
    assert.equal(c.status, "fail");
    assert.match(c.evidence, /not a WSL kernel/);
  });
});

describe("doctor: the WSLInterop binfmt entry", () => {
  test("doctor binfmt - an enabled entry is ok and names its interpreter", async () => {
    const c = await checkBinfmt(healthy().seam());
    assert.equal(c.status, "ok");
    assert.match(c.evidence, /WSLInterop: enabled, interpreter \/init/);
  });

  test("doctor binfmt - a disabled entry fails and says how to enable it", async () => {
    const root = healthy().file(
      "/proc/sys/fs/binfmt_misc/WSLInterop",
      "disabled\ninterpreter /init\n",
    );
    const c = await checkBinfmt(root.seam());
    assert.equal(c.status, "fail");
    assert.match(c.evidence, /WSLInterop: disabled/);
    assert.equal(c.fix, "sudo sh -c 'echo 1 > /proc/sys/fs/binfmt_misc/WSLInterop'");
  });

  test("doctor binfmt - a missing entry (wiped by systemd-binfmt) fails and gives the registration", async () => {
    const root = new FakeRoot().file("/proc/sys/fs/binfmt_misc/status", "enabled\n")
      .file("/proc/sys/fs/binfmt_misc/python3.11", "enabled\n");
    roots.push(root);
    const c = await checkBinfmt(root.seam());
    assert.equal(c.status, "fail");
    assert.match(c.evidence, /no WSLInterop entry .*it holds: python3\.11/);
    assert.match(c.fix, /:WSLInterop:M::MZ::\/init:PF > \/proc\/sys\/fs\/binfmt_misc\/register/);
  });

  test("doctor binfmt - binfmt_misc switched off as a whole fails", async () => {
    const c = await checkBinfmt(
      healthy().file("/proc/sys/fs/binfmt_misc/status", "disabled\n").seam(),
    );
    assert.equal(c.status, "fail");
    assert.match(c.evidence, /status says disabled/);
  });

  test("doctor binfmt - the -late entry of newer WSL counts", async () => {
    const root = new FakeRoot().file(
      "/proc/sys/fs/binfmt_misc/WSLInterop-late",
      "enabled\ninterpreter /init\n",
    );
    roots.push(root);
    assert.equal((await checkBinfmt(root.seam())).status, "ok");
  });
});

describe("doctor: systemd-binfmt", () => {
  test("doctor systemd - systemd with systemd-binfmt and a binfmt.d WSLInterop file is ok", async () => {
    const c = await checkSystemdBinfmt(healthy().seam());
    assert.equal(c.status, "ok");
    assert.match(c.evidence, /WSLInterop\.conf registers WSLInterop again/);
  });

  test("doctor systemd - systemd-binfmt with nothing to restore WSLInterop warns with the binfmt.d fix", async () => {
    const root = new FakeRoot().file("/proc/1/comm", "systemd\n")
      .file("/lib/systemd/system/systemd-binfmt.service", "[Unit]\n");
    roots.push(root);
    const c = await checkSystemdBinfmt(root.seam());
    assert.equal(c.status, "warn");
    assert.match(c.evidence, /microsoft\/WSL#8843/);
    assert.match(c.fix, /binfmt\.d\/WSLInterop\.conf/);
  });

  test("doctor systemd - a masked systemd-binfmt is ok", async () => {
    const root = new FakeRoot().file("/proc/1/comm", "systemd\n")
      .file("/lib/systemd/system/systemd-binfmt.service", "[Unit]\n")
      .link("/etc/systemd/system/systemd-binfmt.service", "/dev/null");
    roots.push(root);
    const c = await checkSystemdBinfmt(root.seam());
    assert.equal(c.status, "ok");
    assert.match(c.evidence, /masked/);
  });

  test("doctor systemd - another init is ok", async () => {
    const c = await checkSystemdBinfmt(healthy().file("/proc/1/comm", "init\n").seam());
    assert.deepEqual([c.status, c.evidence], ["ok", "PID 1 is init, not systemd"]);
  });
});

describe("doctor: the Windows drive's mount", () => {
  test("doctor mount - C: mounted at /mnt/c with WSL's options is ok", async () => {
    const c = await checkDriveMount(healthy().seam());
    assert.equal(c.status, "ok");
    assert.match(c.evidence, /^\/mnt\/c \(9p, /);
  });

  test("doctor mount - fmask=111 fails: no .exe can start", async () => {
    const root = healthy().file(
      "/proc/mounts",
      "C:\\134 /mnt/c 9p rw,aname=drvfs;path=C:\\;uid=1000;gid=1000;metadata;umask=22;fmask=111,trans=fd 0 0\n",
    );
    const c = await checkDriveMount(root.seam());
    assert.equal(c.status, "fail");
    assert.match(c.evidence, /fmask=111 clears the execute bit/);
    assert.match(c.fix, /remove fmask=111/);
  });

  test("doctor mount - noexec fails", async () => {
    const root = healthy().file("/proc/mounts", "C:\\134 /mnt/c 9p rw,noexec,aname=drvfs 0 0\n");
    const c = await checkDriveMount(root.seam());
    assert.equal(c.status, "fail");
    assert.match(c.evidence, /noexec/);
  });

  test("doctor mount - the root from wsl.conf is where C: is looked for", async () => {
    const moved = healthy().file("/etc/wsl.conf", "[automount]\nroot = /win\n");
    const c = await checkDriveMount(moved.seam());
    assert.equal(c.status, "fail");
    assert.match(c.evidence, /automount root \/win\/ .*nothing is mounted at \/win\/c/);
    moved.file("/proc/mounts", "C:\\134 /win/c 9p rw,aname=drvfs;path=C:\\;fmask=11 0 0\n");
    assert.equal((await checkDriveMount(moved.seam())).status, "ok");
  });
});

describe("doctor: WSL_INTEROP", () => {
  const rt = getRuntime();

  test("doctor interop - a live socket is ok", async () => {
    const root = healthy();
    const path = `${root.dir}/run/WSL/9_interop`;
    mkdirSync(dirname(path), { recursive: true });
    const listener = await rt.listenUnix(path);
    try {
      const c = await checkWslInterop(root.seam({ WSL_INTEROP: path }));
      assert.deepEqual([c.status, c.evidence], ["ok", `${path} accepts connections`]);
    } finally {
      await listener.close();
    }
  });

  test("doctor interop - a stale socket fails and points at a live one", async () => {
    const root = healthy();
    mkdirSync(`${root.dir}/run/WSL`, { recursive: true });
    const stale = `${root.dir}/run/WSL/3_interop`;
    // Bound, never listened, and its process gone: what a closed WSL session leaves.
    const py = spawnSync("python3", [
      "-c",
      "import socket,sys;socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
      stale,
    ]);
    assert.equal(py.status, 0, String(py.stderr));
    const listener = await rt.listenUnix(`${root.dir}/run/WSL/12_interop`);
    try {
      const c = await checkWslInterop(root.seam({ WSL_INTEROP: stale }));
      assert.equal(c.status, "fail");
      assert.match(c.evidence, /is stale \(.*\).*microsoft\/WSL#7252/);
      assert.equal(c.fix, "export WSL_INTEROP=/run/WSL/12_interop (a live one)");
    } finally {
      await listener.close();
    }
  });

  test("doctor interop - unset warns", async () => {
    const c = await checkWslInterop(healthy().seam({}));
    assert.equal(c.status, "warn");
    assert.match(c.evidence, /not set/);
  });
});
