/**
 * The bench's external pieces: the C echo server and load client (built with
 * gcc and cached under .cache/bench/ by source hash), the compiled Bun binary,
 * and the long-running processes of paths (a) and (b).
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";

/** The repository root. */
export const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
/** Where built tools are cached. */
export const CACHE = join(ROOT, ".cache", "bench");

/** Compile `bench/<name>.c` unless a binary of the same source is cached; returns its path. */
export function buildC(name: string, flags: string[] = []): string {
  const src = join(ROOT, "bench", `${name}.c`);
  const hash = createHash("sha256").update(readFileSync(src)).update(flags.join(" ")).digest("hex")
    .slice(0, 12);
  const out = join(CACHE, `${name}-${hash}`);
  if (existsSync(out)) return out;
  mkdirSync(CACHE, { recursive: true });
  const r = spawnSync("gcc", ["-O2", "-Wall", "-o", `${out}.tmp`, src, ...flags], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`gcc ${name}.c failed: ${r.stderr || r.error}`);
  renameSync(`${out}.tmp`, out);
  return out;
}

/** Find the runtime binaries: the npm dev dependencies, else PATH. */
export function toolPath(name: "deno" | "bun"): string {
  const local = join(ROOT, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
}

/**
 * The compiled Bun binary for linux-x64, made the way releases are (the
 * project's build script: its flags, the Windows agent embedded) and cached
 * by source hash under .cache/build/.
 */
export async function buildBunBinary(): Promise<string> {
  const { Builder } = await import("../scripts/build.ts");
  return await new Builder().binary("bun", "linux-x64");
}

/** Output of a command, trimmed; empty if it fails. */
export function commandOutput(argv: string[]): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "";
}

/** A long-running helper process that stops when we close its stdin or kill it. */
export class Background {
  readonly child: ChildProcess;
  readonly name: string;
  #stderr = "";

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => (this.#stderr = (this.#stderr + d).slice(-4000)));
  }

  /** Start `argv` and wait until its stdout contains `readyText` (or, without one, until it spawned). */
  static async start(name: string, argv: string[], readyText?: string): Promise<Background> {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    const bg = new Background(name, child);
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.once("error", reject);
      child.once(
        "exit",
        (code) => reject(new Error(`${name} exited (${code}) during start: ${bg.#stderr}`)),
      );
      if (!readyText) child.once("spawn", () => resolve());
      child.stdout!.setEncoding("utf8");
      child.stdout!.on("data", (d: string) => {
        out += d;
        if (readyText && out.includes(readyText)) resolve();
      });
    });
    child.removeAllListeners("exit");
    return bg;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Close stdin, then SIGTERM, and wait for the exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.stdin?.end();
    this.child.kill("SIGTERM");
    await exited;
  }
}

/** One JSON result line from the load client. */
// deno-lint-ignore no-explicit-any
export type LoadResult = Record<string, any>;

/** Run the load client to completion and parse its JSON line. */
export function runLoad(
  load: string,
  args: (string | number)[],
  timeoutMs = 60_000,
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(load, args.map(String), { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d: string) => (out += d));
    child.stderr.on("data", (d: string) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        return reject(
          new Error(`load ${args.join(" ")} failed (${code ?? signal}): ${err.trim()}`),
        );
      }
      try {
        resolve(JSON.parse(out.trim().split("\n").pop()!));
      } catch {
        reject(new Error(`load ${args.join(" ")}: unparsable output ${JSON.stringify(out)}`));
      }
    });
  });
}

/**
 * A load client that holds connections open (`hold` / `stall`) and moves on
 * at each line of its output; `next()` sends it a line, `stop()` closes them.
 */
export class HeldLoad {
  readonly #child: ChildProcess;
  #lines: string[] = [];
  #waiter: (() => void) | null = null;
  #err = "";
  #exited = false;

  constructor(load: string, args: (string | number)[]) {
    this.#child = spawn(load, args.map(String), { stdio: ["pipe", "pipe", "pipe"] });
    this.#child.stdout!.setEncoding("utf8");
    this.#child.stderr!.setEncoding("utf8");
    let partial = "";
    this.#child.stdout!.on("data", (d: string) => {
      const parts = (partial + d).split("\n");
      partial = parts.pop()!;
      this.#lines.push(...parts);
      this.#waiter?.();
    });
    this.#child.stderr!.on("data", (d: string) => (this.#err += d));
    this.#child.once("exit", () => {
      this.#exited = true;
      this.#waiter?.();
    });
  }

  /** The next output line (waits up to `timeoutMs`). */
  async line(timeoutMs = 60_000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    while (this.#lines.length === 0) {
      if (this.#exited) throw new Error(`load client exited: ${this.#err.trim()}`);
      if (performance.now() > deadline) throw new Error("load client did not answer in time");
      await new Promise<void>((r) => {
        this.#waiter = r;
        setTimeout(r, 1000);
      });
      this.#waiter = null;
    }
    return this.#lines.shift()!;
  }

  /** Send a line to the client's stdin. */
  send(text: string): void {
    this.#child.stdin!.write(text + "\n");
  }

  /** Close the connections and wait for the exit. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise((r) => this.#child.once("exit", r));
    this.#child.stdin!.end();
    await exited;
  }
}
