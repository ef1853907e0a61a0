/**
 * The compiled Linux binary: Bun's build for this CPU from scripts/build.ts
 * (cached by source hash), or whatever `WSL2PROXY_TEST_BIN` names (CI sets
 * it to the `deno compile` build as well). The ssh-agent round trip through
 * the compiled binary is tests/bridge_ssh.test.ts run with
 * `WSL2PROXY_TEST_BIN` (see scripts/test-all.sh).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  agentTarget,
  bunCompile,
  denoCompile,
  EMBEDDED_AGENT_FILE,
  EMBEDDED_AGENT_INFO_FILE,
  MAIN,
  run,
  tool,
} from "../../scripts/build.ts";
import { compressAgentBytes } from "../../scripts/_compress_agent.ts";
import { VERSION } from "../../src/version.ts";
import { Sandbox } from "../helpers/cli.ts";
import { builder, GIVEN_BIN, HOST_TARGET, linuxBinary, runIn, tempDir } from "./_dist.ts";

const TIMEOUT = 300_000; // a cold build: Bun's bases come from npm
const PROBE = new URL("./embedded_agent_probe.ts", import.meta.url).pathname;
const DENO_COMPILE = process.env.WSL2PROXY_TEST_DENO_COMPILE === "1"
  ? false
  : "deno compile needs dl.deno.land: set WSL2PROXY_TEST_DENO_COMPILE=1 where it is reachable (GitHub Actions)";

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * A sandbox whose config has one socket, and a working directory holding a
 * `.env` that points WSL2PROXY_CONFIG nowhere and a `bunfig.toml` whose
 * preload script leaves a marker file: the traps a compiled binary must not
 * fall into.
 */
function trapSandbox(): { box: Sandbox; cwd: string; marker: string } {
  const box = new Sandbox("w2p-dotenv-");
  box.writeConfig(
    `runtime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
      `sockets:\n  - env_name: TRAP_SOCK\n    linux_addr: "{runtime_dir}/trap.sock"\n` +
      `    windows_addr: "tcp://127.0.0.1:9"\n`,
  );
  const cwd = box.dir;
  const marker = join(cwd, "preload-ran");
  writeFileSync(join(cwd, ".env"), "WSL2PROXY_CONFIG=/nonexistent/config.yaml\n");
  writeFileSync(join(cwd, "bunfig.toml"), 'preload = ["./preload.js"]\n');
  writeFileSync(
    join(cwd, "preload.js"),
    `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n`,
  );
  return { box, cwd, marker };
}

describe("the compiled Linux binary", () => {
  test("compiled - version reports a compiled build", { timeout: TIMEOUT }, async () => {
    const bin = await linuxBinary();
    const dir = await tempDir("w2p-version-");
    try {
      const r = await runIn([bin, "version"], { cwd: dir.path, env: { PATH: "/usr/bin:/bin" } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(
          `^wsl2proxy ${VERSION} \\((bun|deno) [^,]+, linux-(x86_64|aarch64), compiled\\)\\n$`,
        ),
      );
      assert.equal(r.stderr, "");
    } finally {
      await dir.dispose();
    }
  });

  test(
    "compiled - a .env and a bunfig.toml in the working directory are ignored",
    { timeout: TIMEOUT },
    async () => {
      const bin = await linuxBinary();
      const { box, cwd, marker } = trapSandbox();
      try {
        const r = await runIn([bin, "env"], { cwd, env: box.env });
        assert.equal(r.code, 0, `the .env's WSL2PROXY_CONFIG was used?\n${r.stderr}`);
        assert.match(r.stdout, /TRAP_SOCK=/);
        assert.equal(existsSync(marker), false, "bunfig.toml's preload ran");
      } finally {
        await box.cleanup();
      }
    },
  );

  test(
    "compiled - the trap works: a build with Bun's defaults reads the .env and runs the preload",
    { timeout: TIMEOUT },
    async () => {
      const { box, cwd, marker } = trapSandbox();
      const out = await tempDir("w2p-defaults-");
      try {
        const bin = join(out.path, "wsl2proxy-defaults");
        await bunCompile({ entry: MAIN, target: HOST_TARGET, outfile: bin, flags: ["--compile"] });
        const r = await runIn([bin, "env"], { cwd, env: box.env });
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stderr, /\/nonexistent\/config\.yaml/);
        assert.equal(existsSync(marker), true, "bunfig.toml's preload did not run");
      } finally {
        await box.cleanup();
        await out.dispose();
      }
    },
  );

  test(
    "compiled - the Linux binary carries the compressed Windows agent of its CPU",
    { skip: GIVEN_BIN ? "WSL2PROXY_TEST_BIN is set" : false, timeout: TIMEOUT },
    async () => {
      const bin = readFileSync(await linuxBinary());
      const [blobFile] = await builder.agentFiles("bun", agentTarget(HOST_TARGET)!);
      const blob = readFileSync(blobFile);
      assert.ok(bin.indexOf(blob) > 0, "the compressed agent is not in the binary");
    },
  );

  test(
    "embedded agent - a program built like the Linux binary reads back the Windows binary byte-exact",
    { timeout: TIMEOUT },
    async () => {
      const windows = agentTarget(HOST_TARGET)!;
      const exe = readFileSync(await builder.binary("bun", windows));
      const files = await builder.agentFiles("bun", windows);
      const out = await tempDir("w2p-probe-");
      try {
        const probe = join(out.path, "probe");
        await bunCompile({ entry: PROBE, target: HOST_TARGET, outfile: probe, assets: files });
        const r = await runIn([probe], { cwd: out.path, env: { PATH: "/usr/bin:/bin" } });
        assert.equal(r.code, 0, r.stderr);
        // The recorded size and checksum, then those of the decompressed bytes.
        assert.equal(r.stdout, `${exe.length} ${sha256(exe)}\n`.repeat(2));

        const bare = join(out.path, "bare");
        await bunCompile({ entry: PROBE, target: HOST_TARGET, outfile: bare });
        const none = await runIn([bare], { cwd: out.path, env: { PATH: "/usr/bin:/bin" } });
        assert.equal(none.stdout, "none\n", none.stderr);
      } finally {
        await out.dispose();
      }
    },
  );

  test(
    "embedded agent - deno compile --include: a program built like the Linux binary reads it back",
    { skip: DENO_COMPILE, timeout: TIMEOUT },
    async () => {
      const out = await tempDir("w2p-deno-probe-");
      try {
        const payload = new Uint8Array(3 << 20).map((_, i) => (i * 13 + (i >> 10)) & 0xff);
        const packed = join(out.path, EMBEDDED_AGENT_FILE);
        const { blob, layout } = await compressAgentBytes(payload, 3, 1 << 20);
        writeFileSync(packed, blob);
        const info = join(out.path, EMBEDDED_AGENT_INFO_FILE);
        writeFileSync(info, JSON.stringify({ sha256: sha256(payload), ...layout }));
        const bundle = join(out.path, "probe.js");
        await run([tool("deno"), "bundle", "--platform", "deno", "-o", bundle, PROBE]);
        const probe = join(out.path, "probe");
        await denoCompile({
          bundle,
          target: HOST_TARGET,
          outfile: probe,
          agentFiles: [packed, info],
        });
        const r = await runIn([probe], { cwd: out.path, env: { PATH: "/usr/bin:/bin" } });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `${payload.length} ${sha256(payload)}\n`.repeat(2));
      } finally {
        await out.dispose();
      }
    },
  );
});
