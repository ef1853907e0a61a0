/**
 * The Windows side under Wine: `tests/wine/smoke.ts` compiled with
 * `bun build --compile --target=bun-windows-x64`, run with `wine` in the
 * project-local prefix that `scripts/wine-setup.sh` prepares.
 *
 * Wine is required: without it these tests fail (CI installs it through
 * `scripts/install-deps.sh`), unless `WSL2PROXY_SKIP_WINE=1` is set.
 *
 * The exe is cached as `.cache/wine-smoke/smoke-<hash>.exe`, keyed by the
 * sources it is built from and the Bun version, so reruns skip the build.
 * Setup runs inside the first test that needs it (not in `before()`, whose
 * timeout Bun's node:test ignores), and the wineserver is stopped at the end.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { patternByte } from "./smoke.ts";
import { type ProcessResult, runProcess, startProcess } from "../helpers/process.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const SKIP = process.env.WSL2PROXY_SKIP_WINE === "1" ? "WSL2PROXY_SKIP_WINE=1" : false;
const SETUP_TIMEOUT = 300_000; // first run: Bun's Windows base download + wineboot
const TIMEOUT = 60_000;
const INSTALL_HINT = "install it with scripts/install-deps.sh " +
  "(apt-get install wine wine64 gcc-mingw-w64-x86-64), or set WSL2PROXY_SKIP_WINE=1 to skip";

/** What the tests need once setup has run. */
interface WineEnv {
  /** The compiled smoke program. */
  exe: string;
  /** Environment for `wine` and `wineserver`. */
  env: Record<string, string | undefined>;
}

let setup: Promise<WineEnv> | undefined;
/** The environment for `wine`, once the prefix is known (for the final `wineserver -k`). */
let wineProcessEnv: Record<string, string | undefined> | undefined;

/** Prepare the prefix and the exe once; every test awaits the same promise. */
function wine(): Promise<WineEnv> {
  setup ??= prepare();
  return setup;
}

async function prepare(): Promise<WineEnv> {
  await requireWine();
  const prefix = await runOrThrow(
    ["bash", path.join(REPO, "scripts/wine-setup.sh")],
    "wine-setup.sh",
  );
  // Quiet and headless: nothing may pop up or wait for a display.
  const env: Record<string, string | undefined> = {
    ...process.env,
    WINEPREFIX: new TextDecoder().decode(prefix).trim(),
    WINEDEBUG: "-all",
    DISPLAY: "",
  };
  delete env.WAYLAND_DISPLAY;
  wineProcessEnv = env;
  const exe = await buildSmokeExe();
  // Start the wineserver and Wine's system processes with nothing captured,
  // so later runs neither pay the cold start nor have those processes
  // holding their stderr pipe open.
  const warm = await runProcess(["wine", exe, "write-stdout", "1"], { env });
  assert.equal(warm.code, 0, `smoke.exe does not start under Wine:\n${warm.stderr}`);
  return { exe, env };
}

async function requireWine(): Promise<void> {
  try {
    await runProcess(["wine", "--version"], { timeoutMs: 30_000 });
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") {
      throw new Error(`wine is not installed: ${INSTALL_HINT}`, { cause: err });
    }
    throw err;
  }
}

async function runOrThrow(argv: string[], what: string): Promise<Uint8Array> {
  const r = await runProcess(argv, { timeoutMs: SETUP_TIMEOUT });
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr}`);
  return r.stdout;
}

function bunCommand(): string {
  const local = path.join(REPO, "node_modules/.bin/bun");
  return fs.existsSync(local) ? local : "bun";
}

async function buildSmokeExe(): Promise<string> {
  const bun = bunCommand();
  const smoke = path.join(REPO, "tests/wine/smoke.ts");
  // The plain bundle (~10 ms) is exactly the code the exe embeds, so its hash
  // (with Bun's version) is the cache key, whatever smoke.ts comes to import.
  const bundle = await runOrThrow([bun, "build", "--target=bun", smoke], "bun build");
  const version = await runOrThrow([bun, "--version"], "bun --version");
  const key = createHash("sha256").update(version).update(bundle).digest("hex").slice(0, 16);
  const dir = path.join(REPO, ".cache/wine-smoke");
  const exe = path.join(dir, `smoke-${key}.exe`);
  if (fs.existsSync(exe)) return exe;
  fs.mkdirSync(dir, { recursive: true });
  // Old builds are ~110 MB each; keep only the current one.
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { force: true });
  const tmp = `${exe}.${process.pid}.tmp.exe`;
  await runOrThrow([
    bun,
    "build",
    "--compile",
    "--target=bun-windows-x64",
    smoke,
    "--outfile",
    tmp,
  ], "bun build --compile --target=bun-windows-x64");
  fs.renameSync(tmp, exe);
  return exe;
}

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
  after(async () => {
    // Stops Wine's system processes too; otherwise they linger a few seconds.
    if (!wineProcessEnv) return;
    await runProcess(["wineserver", "-k"], { env: wineProcessEnv, timeoutMs: 30_000 }).catch(
      () => {},
    );
  });

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
