/**
 * The compiled Linux binary on a stand-in WSL: `WSL_DISTRO_NAME` set, a
 * `cmd.exe` and a `wslpath` on PATH that answer like the real ones, and a
 * tmpfs on /mnt (in a private mount namespace, so nothing outside sees it)
 * holding `/mnt/c/Users/me/AppData/Local`. `wsl2proxy start` must place the
 * Windows agent it carries there, under its versioned, checksummed name,
 * byte for byte the Windows binary. Starting it fails (Linux cannot run a
 * PE file), which does not matter here.
 *
 * Needs root and util-linux's `unshare` (the CI machines have both).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { agentTarget } from "../../scripts/build.ts";
import { VERSION } from "../../src/version.ts";
import { FakeRoot, healthyWsl } from "../../src/cli/doctor/_fake_root.ts";
import { Sandbox } from "../helpers/cli.ts";
import { builder, GIVEN_BIN, HOST_TARGET, linuxBinary, runIn } from "./_dist.ts";

const TIMEOUT = 300_000;
const LOCAL_APP_DATA = "/mnt/c/Users/me/AppData/Local";

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return "needs root for a private mount namespace";
  const probe = spawnSync("unshare", ["-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"]);
  return probe.status === 0 ? false : "unshare -m with a tmpfs mount does not work here";
}

/** Stand-ins for WSL's `cmd.exe` and `wslpath`, in a directory for PATH. */
function fakeInterop(dir: string): string {
  const bin = join(dir, "fake-wsl-bin");
  mkdirSync(bin);
  writeFileSync(
    join(bin, "cmd.exe"),
    `#!/bin/sh\nprintf 'C:\\\\Users\\\\me\\\\AppData\\\\Local\\r\\n'\n`,
  );
  writeFileSync(
    join(bin, "wslpath"),
    `#!/bin/sh\n[ "$1" = -u ] && [ "$2" = 'C:\\Users\\me\\AppData\\Local' ] && ` +
      `echo ${LOCAL_APP_DATA} && exit 0\necho "wslpath: unexpected $*" >&2\nexit 1\n`,
  );
  chmodSync(join(bin, "cmd.exe"), 0o755);
  chmodSync(join(bin, "wslpath"), 0o755);
  return bin;
}

/** Inside the namespace: start, record status and the placed files, stop. */
const SCRIPT = `set -eu
mount -t tmpfs tmpfs /mnt
mkdir -p ${LOCAL_APP_DATA}
trap '"$BIN" stop >/dev/null 2>&1 || true' EXIT
"$BIN" start >/dev/null
"$BIN" status --json >"$OUT/status.json"
cd ${LOCAL_APP_DATA}/wsl2proxy
ls >"$OUT/files.txt"
sha256sum -- * >"$OUT/sums.txt"
stat -c %i -- * >"$OUT/inode-1.txt"
# A fresh daemon again: the copy in place is reused, not rewritten.
"$BIN" stop >/dev/null
"$BIN" start >/dev/null
stat -c %i -- * >"$OUT/inode-2.txt"
ls >"$OUT/files-2.txt"
# doctor with the daemon down: it finds the same placed agent (exit 1: Linux cannot run it).
"$BIN" stop >/dev/null
WSL2PROXY_DOCTOR_ROOT="$FAKE_ROOT" "$BIN" doctor --json >"$OUT/doctor.json" || true
`;

describe("the embedded agent on a stand-in WSL", () => {
  test(
    "embedded wsl - start places the carried Windows agent under %LOCALAPPDATA%\\wsl2proxy, byte-exact, and reuses it",
    { skip: skipReason(), timeout: TIMEOUT },
    async () => {
      const bin = await linuxBinary();
      const compiler = GIVEN_BIN && /deno/.test(GIVEN_BIN) ? "deno" : "bun";
      const exe = readFileSync(await builder.binary(compiler, agentTarget(HOST_TARGET)!));
      const sha = createHash("sha256").update(exe).digest("hex");
      const name = `wsl2proxy-agent-${VERSION}-${sha.slice(0, 12)}.exe`;

      const box = new Sandbox("w2p-fake-wsl-");
      const fake = healthyWsl(new FakeRoot());
      try {
        box.writeConfig(
          `runtime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
            `sockets:\n  - env_name: X_SOCK\n    linux_addr: "{runtime_dir}/x.sock"\n` +
            `    windows_addr: "tcp://127.0.0.1:9"\n`,
        );
        const env = {
          ...box.env,
          PATH: `${fakeInterop(box.dir)}:${box.env.PATH}`,
          WSL_DISTRO_NAME: "Stand-in",
          BIN: bin,
          OUT: box.dir,
          // What a healthy WSL shows in /proc (this machine has no WSLInterop binfmt entry).
          FAKE_ROOT: fake.dir,
        };
        const r = await runIn(["unshare", "-m", "sh", "-c", SCRIPT], { cwd: box.dir, env });
        assert.equal(r.code, 0, r.stderr + box.log());

        assert.equal(readFileSync(join(box.dir, "files.txt"), "utf8"), `${name}\n`);
        assert.equal(readFileSync(join(box.dir, "sums.txt"), "utf8"), `${sha}  ${name}\n`);
        const out = (file: string) => readFileSync(join(box.dir, file), "utf8");
        assert.equal(out("files-2.txt"), `${name}\n`);
        assert.equal(out("inode-2.txt"), out("inode-1.txt"));
        const status = JSON.parse(readFileSync(join(box.dir, "status.json"), "utf8"));
        assert.deepEqual(status.agent.command, [`${LOCAL_APP_DATA}/wsl2proxy/${name}`, "agent"]);
        const doctor = JSON.parse(out("doctor.json")).checks as {
          name: string;
          evidence: string;
        }[];
        const agent = doctor.find((c) => c.name === "agent")!;
        const mb = (exe.length / 1e6).toFixed(1);
        assert.ok(
          agent.evidence.startsWith(`${LOCAL_APP_DATA}/wsl2proxy/${name} (${mb} MB)`),
          agent.evidence,
        );
        assert.equal(doctor.find((c) => c.name === "agent working directory")?.evidence, "/mnt/c");
      } finally {
        await box.cleanup();
        fake.dispose();
      }
    },
  );
});
