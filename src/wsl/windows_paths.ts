/**
 * Windows-side paths, asked of Windows itself through WSL interop: `cmd.exe`
 * expands `%LOCALAPPDATA%`, and `wslpath -u` turns the answer into a Linux path.
 *
 * `cmd.exe` runs with its working directory on the Windows drive: started from
 * a directory on the Linux file system it prints a UNC-path warning, falls back
 * to `C:\Windows`, and takes noticeably longer to start.
 *
 * The commands run through the runtime's `spawn`, not dax-sh: importing dax-sh
 * loads node:tls, dns, child_process, stream and tty, which cost the daemon
 * ~17 MB of resident memory for as long as it runs (a compiled program that only
 * imports dax-sh holds 49 MB against 26 MB for hello world).
 *
 * @module
 */

import { InteropError } from "../errors.ts";
import { exists, getRuntime } from "../runtime/mod.ts";
import { readAutomountRoot, windowsDriveDir } from "./automount_root.ts";

/** How long the interop commands of one call may take together, in milliseconds. */
export const DEFAULT_INTEROP_TIMEOUT_MS = 10_000;

/** Options for {@linkcode localAppData} and {@linkcode windowsToLinuxPath}. */
export interface InteropOptions {
  /**
   * The Linux directory where the C: drive is mounted. Commands run with it as
   * their working directory, and `cmd.exe` is looked for in its
   * `Windows/System32` when PATH lacks it (`appendWindowsPath = false`).
   * @default {windowsDriveDir(await readAutomountRoot())}, usually `/mnt/c`
   */
  driveDir?: string;
  /** The PATH to find `cmd.exe` and `wslpath` in. @default this process's PATH */
  path?: string;
  /** Give up (and kill the command) after this many milliseconds. @default {10000} */
  timeoutMs?: number;
}

/**
 * `%LOCALAPPDATA%` of the Windows user, as a Linux path such as
 * `/mnt/c/Users/me/AppData/Local`.
 *
 * @throws {InteropError} `INTEROP_FAILED` when `cmd.exe` or `wslpath` cannot be
 * started or exits non-zero (the message names the command and its stderr),
 * `INTEROP_TIMEOUT` when they take longer than `timeoutMs` together,
 * `INTEROP_OUTPUT` when `cmd.exe` prints something that is not a Windows path.
 */
export async function localAppData(options: InteropOptions = {}): Promise<string> {
  const ctx = await interopContext(options);
  try {
    const pathVar = options.path ?? getRuntime().env("PATH") ?? "";
    const cmd = await findCmdExe(pathVar, ctx.driveDir);
    const printed = await run(ctx, [cmd, "/c", "echo", "%LOCALAPPDATA%"]);
    const windowsPath = printed.trim();
    if (!/^[a-zA-Z]:\\/.test(windowsPath)) {
      throw new InteropError(
        "INTEROP_OUTPUT",
        `${cmd} /c echo %LOCALAPPDATA% printed ${JSON.stringify(printed)}, ` +
          `not a Windows path such as C:\\Users\\you\\AppData\\Local`,
      );
    }
    return await wslpathU(ctx, windowsPath);
  } finally {
    ctx.dispose();
  }
}

/**
 * A Windows path such as `C:\Users\me` as a Linux path (`wslpath -u`).
 *
 * @throws {InteropError} as {@linkcode localAppData} does.
 */
export async function windowsToLinuxPath(
  windowsPath: string,
  options: InteropOptions = {},
): Promise<string> {
  const ctx = await interopContext(options);
  try {
    return await wslpathU(ctx, windowsPath);
  } finally {
    ctx.dispose();
  }
}

/** What the commands of one call share: where they run, their PATH and one deadline. */
interface InteropContext {
  driveDir: string;
  path: string | undefined;
  timeoutMs: number;
  signal: AbortSignal;
  timedOut(): boolean;
  dispose(): void;
}

async function interopContext(options: InteropOptions): Promise<InteropContext> {
  const driveDir = options.driveDir ?? windowsDriveDir(await readAutomountRoot());
  const timeoutMs = options.timeoutMs ?? DEFAULT_INTEROP_TIMEOUT_MS;
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort();
  }, timeoutMs);
  return {
    driveDir,
    path: options.path,
    timeoutMs,
    signal: controller.signal,
    timedOut: () => expired,
    dispose: () => clearTimeout(timer),
  };
}

async function wslpathU(ctx: InteropContext, windowsPath: string): Promise<string> {
  return (await run(ctx, ["wslpath", "-u", windowsPath])).trim();
}

/** Run `argv` in the drive directory and return its stdout; every failure becomes an {@linkcode InteropError}. */
async function run(ctx: InteropContext, argv: string[]): Promise<string> {
  const shown = argv.join(" ");
  // Checked here because a missing cwd makes spawning fail with a message that
  // blames the program (Bun says only "The operation was aborted").
  if (!(await present(ctx.driveDir))) {
    throw new InteropError(
      "INTEROP_FAILED",
      `cannot run ${shown}: its working directory ${ctx.driveDir} does not exist ` +
        `(is the C: drive mounted? see [automount] in /etc/wsl.conf)`,
    );
  }
  const pathVar = ctx.path ?? getRuntime().env("PATH") ?? "";
  const program = await findProgram(argv[0], pathVar);
  if (program === null) {
    throw new InteropError(
      "INTEROP_FAILED",
      `cannot run ${shown} in ${ctx.driveDir}: ${argv[0]} was not found on PATH (${pathVar})`,
    );
  }
  let result;
  try {
    const child = getRuntime().spawn([program, ...argv.slice(1)], {
      cwd: ctx.driveDir,
      env: ctx.path === undefined ? undefined : { PATH: ctx.path },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const kill = () => child.kill("SIGKILL");
    ctx.signal.addEventListener("abort", kill, { once: true });
    if (ctx.signal.aborted) kill();
    try {
      const [stdout, stderr, status] = await Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
        child.status,
      ]);
      result = { stdout, stderr, code: status.code ?? status.signal };
    } finally {
      ctx.signal.removeEventListener("abort", kill);
    }
  } catch (error) {
    throw new InteropError(
      "INTEROP_FAILED",
      `cannot run ${shown} in ${ctx.driveDir}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (ctx.timedOut()) {
    throw new InteropError(
      "INTEROP_TIMEOUT",
      `${shown} did not finish within ${ctx.timeoutMs} ms and was killed; ` +
        `WSL interop may be hung (\`wsl.exe --shutdown\` from Windows restarts it)`,
    );
  }
  if (result.code !== 0) {
    const stderr = result.stderr.trim() || "(nothing on stderr)";
    throw new InteropError(
      "INTEROP_FAILED",
      `${shown} exited with code ${result.code} in ${ctx.driveDir}: ${stderr}`,
    );
  }
  return result.stdout;
}

/**
 * `cmd.exe` from PATH, else from the drive's `Windows/System32` (WSL leaves the
 * Windows directories off PATH when `appendWindowsPath = false`), else the
 * bare name so that the failure names it.
 */
async function findCmdExe(pathVar: string, driveDir: string): Promise<string> {
  for (const dir of pathVar.split(":")) {
    if (dir.startsWith("/") && (await present(`${dir.replace(/\/+$/, "")}/cmd.exe`))) {
      return "cmd.exe";
    }
  }
  const fallback = `${driveDir}/Windows/System32/cmd.exe`;
  return (await present(fallback)) ? fallback : "cmd.exe";
}

/** `name` itself when it holds a slash, else the first `dir/name` that exists for a dir of `pathVar`; null when none does. */
async function findProgram(name: string, pathVar: string): Promise<string | null> {
  if (name.includes("/")) return name;
  for (const dir of pathVar.split(":")) {
    const candidate = `${dir.replace(/\/+$/, "")}/${name}`;
    if (dir.startsWith("/") && (await present(candidate))) return candidate;
  }
  return null;
}

/** {@linkcode exists}, with an unreadable directory counting as "no". */
function present(path: string): Promise<boolean> {
  return exists(path).catch(() => false);
}
