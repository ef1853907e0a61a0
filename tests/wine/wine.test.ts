/**
 * The Windows side under Wine: `tests/wine/smoke.ts` compiled with
 * `bun build --compile --target=bun-windows-x64`, run with `wine` in the
 * project-local prefix that `scripts/wine-setup.sh` prepares (see
 * `_wine_env.ts` for the setup and its cache). The wineserver is stopped at
 * the end.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import process from "node:process";
import { patternByte } from "./smoke.ts";
import { type ProcessResult, runProcess, startProcess } from "../helpers/process.ts";
import { SETUP_TIMEOUT, SKIP_WINE as SKIP, stopWineServer, wine } from "./_wine_env.ts";

const TIMEOUT = 60_000;

function assertOk(r: ProcessResult, what: string): void {
  assert.equal(r.code, 0, `${what} exited with ${r.code ?? r.signal}:\n${r.stderr}`);
}

/** Index of the first byte where `a` and `b` differ, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

describe("wine", () => {
  after(stopWineServer);

  test(
    "wine - prefix is ready and smoke.exe starts",
    { skip: SKIP, timeout: SETUP_TIMEOUT },
    async () => {
      await wine();
    },
  );

  test("wine - echo-stdio copies 8 MiB of random bytes byte-exact", {
    skip: SKIP,
    timeout: SETUP_TIMEOUT,
  }, async () => {
    const { exe, env } = await wine();
    const input = new Uint8Array(randomBytes(8 << 20));
    const r = await runProcess(["wine", exe, "echo-stdio"], { env, input, timeoutMs: TIMEOUT });
    assertOk(r, "echo-stdio");
    assert.equal(r.stdout.length, input.length, "echoed length");
    assert.equal(firstDifference(r.stdout, input), -1, "first differing byte");
    assert.match(r.stderr, /console\.log goes to stderr/);
  });

  test(
    "wine - echo-stdio exits when its stdin closes",
    { skip: SKIP, timeout: SETUP_TIMEOUT },
    async () => {
      const { exe, env } = await wine();
      const p = startProcess(["wine", exe, "echo-stdio"], { env, timeoutMs: TIMEOUT });
      try {
        p.write(new Uint8Array(1000).fill(65));
        await p.waitForStdout(1000); // live, and now blocked reading stdin
        p.closeStdin();
        const r = await p.exited;
        assertOk(r, "echo-stdio");
        assert.equal(r.stdout.length, 1000);
      } finally {
        p.kill();
      }
    },
  );

  test(
    "wine - write-stdout carries 64 MiB through a pipe and exits with stdin open but unread",
    { skip: SKIP, timeout: SETUP_TIMEOUT },
    async () => {
      const { exe, env } = await wine();
      const total = 64 << 20;
      const r = await runProcess(["wine", exe, "write-stdout", String(total)], {
        env,
        timeoutMs: TIMEOUT,
      });
      assertOk(r, "write-stdout");
      assert.equal(r.stdout.length, total);
      for (let i = 0; i < total; i += 4093) {
        if (r.stdout[i] !== patternByte(i)) assert.fail(`stdout differs at byte ${i}`);
      }
    },
  );

  test("wine - a named pipe round trip between pipe-server and pipe-client", {
    skip: SKIP,
    timeout: SETUP_TIMEOUT,
  }, async () => {
    const { exe, env } = await wine();
    const name = `wsl2proxy-smoke-${process.pid}-${Date.now()}`;
    const server = startProcess(["wine", exe, "pipe-server", name], { env, timeoutMs: TIMEOUT });
    try {
      await server.waitForStdout("ready\n".length);
      assert.equal(new TextDecoder().decode(server.stdout()), "ready\n");
      const bytes = 1 << 20;
      const client = await runProcess(["wine", exe, "pipe-client", name, String(bytes)], {
        env,
        timeoutMs: TIMEOUT,
      });
      assertOk(client, "pipe-client");
      assert.equal(new TextDecoder().decode(client.stdout), `ok ${bytes}\n`);
      server.closeStdin(); // the server's stop signal
      assertOk(await server.exited, "pipe-server");
    } finally {
      server.kill();
    }
  });
});
