/**
 * `wsl2proxy doctor`'s dial check with the compiled Windows agent under
 * Wine as its one-off agent: a named pipe served by another Windows program
 * (smoke.exe's `pipe-server`) answers, and a pipe nobody serves fails with
 * the reason the Windows side gives (ERROR_FILE_NOT_FOUND: "not found").
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { Builder, publish } from "../../scripts/build.ts";
import type { CheckResult } from "../../src/cli/doctor/check.ts";
import { VERSION } from "../../src/version.ts";
import { Sandbox, text } from "../helpers/cli.ts";
import { within } from "../helpers/mux.ts";
import { startProcess } from "../helpers/process.ts";
import { closedTcpPort } from "../helpers/agent.ts";
import { getRuntime } from "../../src/runtime/mod.ts";
import { SETUP_TIMEOUT, SKIP_WINE, wine } from "./_wine_env.ts";

describe("doctor with the Windows agent under Wine", () => {
  test(
    "doctor wine - the one-off Windows agent dials a served pipe, and names the Windows reason for a missing one",
    { skip: SKIP_WINE, timeout: SETUP_TIMEOUT },
    async () => {
      const [{ exe: smoke, env: wineEnv, vars }, agentExe] = await Promise.all([
        wine(),
        new Builder().binary("bun", "windows-x64").then(publish),
      ]);
      const pipe = `wsl2proxy-doctor-wine-${process.pid}-${Date.now()}`;
      const server = startProcess(["wine", smoke, "pipe-server", pipe], {
        env: wineEnv,
        timeoutMs: SETUP_TIMEOUT,
      });
      const closedPort = await closedTcpPort(getRuntime());
      const box = new Sandbox("w2p-doctor-wine-");
      Object.assign(box.env, vars);
      try {
        await server.waitForStdout("ready\n".length);
        box.writeConfig(
          `runtime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
            `agent:\n  command: ${JSON.stringify(["wine", agentExe, "agent"])}\n` +
            `sockets:\n` +
            `  - {env_name: SERVED, linux_addr: "{runtime_dir}/a.sock", windows_addr: "pipe://./pipe/${pipe}"}\n` +
            `  - {env_name: MISSING, linux_addr: "{runtime_dir}/b.sock", windows_addr: "pipe://./pipe/${pipe}-none"}\n` +
            `  - {env_name: CLOSED, linux_addr: "{runtime_dir}/c.sock", windows_addr: "tcp://127.0.0.1:${closedPort}"}\n`,
        );
        const r = await box.cli(["doctor", "--json"], { timeoutMs: 180_000 });
        const checks = (JSON.parse(text(r)) as { checks: CheckResult[] }).checks;
        const get = (name: string) => checks.find((c) => c.name === name)!;
        assert.equal(r.code, 1, text(r)); // MISSING fails (and this machine is no WSL)
        assert.equal(get("agent").status, "ok", get("agent").evidence);
        assert.match(
          get("agent").evidence,
          new RegExp(`wsl2proxy ${VERSION}, started and handshaked`),
        );
        assert.equal(get("dial SERVED").status, "ok", get("dial SERVED").evidence);
        assert.equal(get("dial MISSING").status, "fail");
        assert.match(
          get("dial MISSING").evidence,
          new RegExp(`^pipe://\\./pipe/${pipe}-none: the Windows side says: .*not found`),
        );
        assert.match(get("dial MISSING").fix, /start the Windows program or service that serves/);
        // A refused TCP connect is refused, not opened (Bun on Windows opens
        // some sockets before it knows the peer's address).
        assert.equal(get("dial CLOSED").status, "fail", get("dial CLOSED").evidence);
        assert.match(get("dial CLOSED").evidence, /refused/);
      } finally {
        await box.cleanup();
        server.closeStdin(); // pipe-server's stop signal
        await within(30_000, server.exited, "pipe-server exit").catch(() => server.kill());
      }
    },
  );
});
