/**
 * What the Wine tests share: the project-local prefix from
 * `scripts/wine-setup.sh` and `tests/wine/smoke.ts` compiled with
 * `bun build --compile --target=bun-windows-x64`.
 *
 * Wine is required: without it these tests fail (CI installs it through
 * `scripts/install-deps.sh`), unless `WSL2PROXY_SKIP_WINE=1` is set.
 *
 * The exe is cached as `.cache/wine-smoke/smoke-<hash>.exe`, keyed by the
 * sources it is built from and the Bun version, so reruns skip the build.
 * Setup runs inside the first test that needs it (not in `before()`, whose
 * timeout Bun's node:test ignores).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runProcess } from "../helpers/process.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** Why Wine tests are skipped, or `false`. */
export const SKIP_WINE: string | false = process.env.WSL2PROXY_SKIP_WINE === "1"
  ? "WSL2PROXY_SKIP_WINE=1"
  : false;
/** Timeout for a test that may do the setup: Bun's Windows base download + wineboot. */
export const SETUP_TIMEOUT = 300_000;
const INSTALL_HINT = "install it with scripts/install-deps.sh " +
  "(apt-get install wine wine64 gcc-mingw-w64-x86-64), or set WSL2PROXY_SKIP_WINE=1 to skip";

/** What the tests need once setup has run. */
export interface WineEnv {
  /** The compiled smoke program. */
  exe: string;
  /** Environment for `wine` and `wineserver`: ours plus the prefix, quiet and headless. */
  env: Record<string, string | undefined>;
  /** Just the Wine variables, to add to another environment. */
  vars: Record<string, string>;
}

let setup: Promise<WineEnv> | undefined;
/** The environment for `wine`, once the prefix is known (for the final `wineserver -k`). */
let wineProcessEnv: Record<string, string | undefined> | undefined;

/** Prepare the prefix and the smoke exe once; every test awaits the same promise. */
export function wine(): Promise<WineEnv> {
  setup ??= prepare();
  return setup;
}

/** Stop the wineserver and Wine's system processes (otherwise they linger a few seconds). */
export async function stopWineServer(): Promise<void> {
  if (!wineProcessEnv) return;
  await runProcess(["wineserver", "-k"], { env: wineProcessEnv, timeoutMs: 30_000 }).catch(
    () => {},
  );
}

async function prepare(): Promise<WineEnv> {
  await requireWine();
  const prefix = await runOrThrow(
    ["bash", path.join(REPO, "scripts/wine-setup.sh")],
    "wine-setup.sh",
  );
  // Quiet and headless: nothing may pop up or wait for a display.
  const vars = {
    WINEPREFIX: new TextDecoder().decode(prefix).trim(),
    WINEDEBUG: "-all",
    DISPLAY: "",
    WINEDLLOVERRIDES: "mscoree,mshtml=",
  };
  const env: Record<string, string | undefined> = { ...process.env, ...vars };
  delete env.WAYLAND_DISPLAY;
  wineProcessEnv = env;
  const exe = await buildSmokeExe();
  // Start the wineserver and Wine's system processes with nothing captured,
  // so later runs neither pay the cold start nor have those processes
  // holding their stderr pipe open.
  const warm = await runProcess(["wine", exe, "write-stdout", "1"], { env });
  assert.equal(warm.code, 0, `smoke.exe does not start under Wine:\n${warm.stderr}`);
  return { exe, env, vars };
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
