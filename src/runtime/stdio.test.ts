/**
 * `openStdio()` in a real child process of the runtime running the tests
 * (Deno or Bun, on Linux): the child is `tests/wine/smoke.ts`, the same
 * program that `tests/wine/wine.test.ts` compiles for Windows.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { patternByte } from "../../tests/wine/smoke.ts";
import { runProcess, startProcess } from "../../tests/helpers/process.ts";

const SMOKE = fileURLToPath(new URL("../../tests/wine/smoke.ts", import.meta.url));
const RUNTIME = "Deno" in globalThis
  ? [process.execPath, "run", "-A", SMOKE]
  : [process.execPath, SMOKE];
const TIMEOUT = 60_000;

function smoke(...args: string[]): string[] {
  return [...RUNTIME, ...args];
}

/** Index of the first byte where `a` and `b` differ, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

describe("openStdio", () => {
  test(
    "openStdio - echoes 8 MiB from stdin to stdout byte-exact",
    { timeout: TIMEOUT },
    async () => {
      const input = new Uint8Array(randomBytes(8 << 20));
      const r = await runProcess(smoke("echo-stdio"), { input });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.length, input.length);
      assert.equal(firstDifference(r.stdout, input), -1);
    },
  );

  test(
    "openStdio - console.log goes to stderr, never to stdout",
    { timeout: TIMEOUT },
    async () => {
      const input = new TextEncoder().encode("only these bytes\n");
      const r = await runProcess(smoke("echo-stdio"), { input });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout, input);
      assert.match(r.stderr, /console\.log goes to stderr/);
    },
  );

  test(
    "openStdio - stdin EOF ends the readable and the process exits",
    { timeout: TIMEOUT },
    async () => {
      const p = startProcess(smoke("echo-stdio"));
      try {
        p.write(new Uint8Array(1000).fill(65));
        await p.waitForStdout(1000); // the echo is live and now waiting on stdin
        p.closeStdin();
        const r = await p.exited;
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.length, 1000);
      } finally {
        p.kill();
      }
    },
  );

  test("openStdio - writes 64 MiB to a pipe in order and exits with stdin open but unread", {
    timeout: TIMEOUT,
  }, async () => {
    const total = 64 << 20;
    const r = await runProcess(smoke("write-stdout", String(total)));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.length, total);
    for (let i = 0; i < total; i += 4093) {
      if (r.stdout[i] !== patternByte(i)) assert.fail(`stdout differs at byte ${i}`);
    }
  });
});
