/**
 * The Windows stand-ins of the Wine tests: small C programs under
 * `tests/fixtures/win_*.c`, built with mingw-w64 and run under Wine as
 * separate Windows processes, so the compiled agent dials a pipe that a
 * different program serves, as on Windows.
 *
 * Each exe is cached as `.cache/wine-fixtures/<name>-<hash>.exe`, keyed by its
 * source and compile flags. A running fixture reports `connect OPEN` /
 * `disconnect OPEN ...` lines on stdout; {@linkcode WinPipeServer} follows
 * them, so a test can wait for the open count to drop (no sleeps).
 *
 * @module
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { OutputLines } from "../helpers/output_lines.ts";
import { runProcess, type StartedProcess, startProcess } from "../helpers/process.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** The Windows fixture programs and the libraries each links. */
const FIXTURES = {
  win_pipe_echo: [] as string[],
  win_pipe_tcp_relay: ["-lws2_32"],
  win_pageant: ["-lws2_32", "-lsecur32", "-lcrypt32", "-ladvapi32"],
  win_gpgconf: [] as string[],
} as const;

/** Name of a fixture program (its source is `tests/fixtures/<name>.c`). */
export type WinFixture = keyof typeof FIXTURES;

const building = new Map<WinFixture, Promise<string>>();

/** Build (or reuse the cached) `<name>.exe`; returns its path. */
export function buildWinFixture(name: WinFixture): Promise<string> {
  let p = building.get(name);
  if (!p) {
    p = compile(name);
    building.set(name, p);
  }
  return p;
}

async function compile(name: WinFixture): Promise<string> {
  const src = path.join(REPO, "tests/fixtures", `${name}.c`);
  const args = ["-O2", "-s", "-Wall", "-o"];
  const libs = FIXTURES[name];
  const key = createHash("sha256").update(fs.readFileSync(src)).update(args.join(" "))
    .update(libs.join(" ")).digest("hex").slice(0, 16);
  const dir = path.join(REPO, ".cache/wine-fixtures");
  const exe = path.join(dir, `${name}-${key}.exe`);
  if (fs.existsSync(exe)) return exe;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${exe}.${process.pid}.tmp`;
  const r = await runProcess(
    ["x86_64-w64-mingw32-gcc", ...args, tmp, src, ...libs],
    { timeoutMs: 120_000 },
  ).catch((err) => {
    if ((err as { code?: string }).code === "ENOENT") {
      throw new Error(
        "x86_64-w64-mingw32-gcc is missing: install it with scripts/install-deps.sh",
        { cause: err },
      );
    }
    throw err;
  });
  if (r.code !== 0) throw new Error(`building ${name}.exe failed:\n${r.stderr}`);
  for (const f of fs.readdirSync(dir)) {
    if (f.startsWith(`${name}-`) && f.endsWith(".exe")) fs.rmSync(path.join(dir, f));
  }
  fs.renameSync(tmp, exe);
  return exe;
}

/** A fixture running under Wine, with its stdout lines followed. */
export class WinPipeServer {
  readonly proc: StartedProcess;
  /** The pipe as a `windows_addr`: `pipe://./pipe/NAME`. */
  readonly url: string;
  readonly #out: OutputLines;

  private constructor(proc: StartedProcess, name: string) {
    this.proc = proc;
    this.url = `pipe://./pipe/${name}`;
    this.#out = new OutputLines(proc);
  }

  /** Start `wine exe name ...args` and wait for its `ready` line. */
  static async start(
    exe: string,
    name: string,
    args: string[],
    env: Record<string, string | undefined>,
  ): Promise<WinPipeServer> {
    const proc = startProcess(["wine", exe, name, ...args], { env, timeoutMs: 30 * 60_000 });
    const server = new WinPipeServer(proc, name);
    await server.waitLine((l) => l.startsWith("ready"), 60_000, "ready");
    return server;
  }

  /** Every complete stdout line so far. */
  lines(): string[] {
    return this.#out.lines();
  }

  /** Open clients as the server last reported them. */
  open(): number {
    const lines = this.lines();
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = /^(?:connect|disconnect|drop-extension) (\d+)/.exec(lines[i]);
      if (m) return Number(m[1]);
    }
    return 0;
  }

  /** Resolves with the first line from index `from` on that `match` accepts; fails after `ms`. */
  waitLine(match: (line: string) => boolean, ms: number, what: string, from = 0): Promise<string> {
    return this.#out.waitLine(match, ms, what, from);
  }

  /**
   * Resolves once the server reports at most `atMost` open clients (default
   * none; pass the count from before a case so that a connection leaked by an
   * earlier case does not fail this one); fails after `ms` with the count.
   */
  async waitIdle(ms: number, atMost = 0): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.open() > atMost) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `${this.open() - atMost} pipe connection(s) still open after ${ms} ms ` +
            `(${this.open()} open, ${atMost} before this case): the agent kept a pipe open ` +
            "after its Linux client had closed (issue 10: a client that has fully closed must " +
            "be noticed even while nothing is written to it); last lines:\n" +
            `${this.lines().slice(-5).join("\n")}\n${this.proc.stderr()}`,
        );
      }
      await this.#out.more(left);
    }
  }

  /** Close its stdin (the stop signal) and wait for it to exit; kill it if it does not. */
  async stop(): Promise<void> {
    this.proc.closeStdin();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.proc.exited.then(() => true, () => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 30_000))),
    ]).finally(() => clearTimeout(timer));
    if (!exited) this.proc.kill();
  }
}
