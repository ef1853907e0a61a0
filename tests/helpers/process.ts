/**
 * A child process for end-to-end tests, on `node:child_process` so the same
 * code runs under `deno test` and `bun test`. Everything is event-driven:
 * `exited` settles when the process has exited *and* its stdout has ended.
 *
 * It deliberately does not wait for stderr to close: a cold `wine` start
 * launches Wine's system processes (services.exe, winedevice.exe), which
 * inherit the first program's stderr and keep it open until the
 * wineserver exits, seconds later.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readlinkSync } from "node:fs";
import { Buffer } from "node:buffer";

/** Options for {@linkcode startProcess}. */
export interface StartProcessOptions {
  /** Full environment of the child. Default: ours. */
  env?: Record<string, string | undefined>;
  /** Bytes written to stdin, after which stdin is closed. Omit to keep stdin open. */
  input?: Uint8Array;
  /** Kill the child (SIGKILL) and fail after this many ms. Default 60 000. */
  timeoutMs?: number;
}

/** How the process ended and what it wrote. */
export interface ProcessResult {
  /** Exit code, or `null` when killed by a signal. */
  code: number | null;
  /** Signal name, or `null`. */
  signal: string | null;
  /** Everything written to stdout. */
  stdout: Uint8Array;
  /** Stderr as text, as far as it has arrived. */
  stderr: string;
}

/** Raised when a process outlives its timeout; carries its stderr so far. */
export class ProcessTimeoutError extends Error {
  constructor(what: string, ms: number, stderr: string) {
    super(`${what} did not finish within ${ms} ms; stderr so far:\n${stderr}`);
    this.name = "ProcessTimeoutError";
  }
}

/** A running child with its output collected. */
export class StartedProcess {
  /** The underlying child. */
  readonly child: ChildProcess;
  /** Settles once the child has exited and its stdout has ended. */
  readonly exited: Promise<ProcessResult>;
  #stdout: Buffer[] = [];
  #stdoutLength = 0;
  #stderr = "";
  #watchers = new Set<() => void>();
  #done = false;

  constructor(argv: string[], options: StartProcessOptions = {}) {
    const [cmd, ...args] = argv;
    const what = argv.map((a) => a.replace(/.*\//, "")).join(" ");
    const ms = options.timeoutMs ?? 60_000;
    this.child = spawn(cmd, args, {
      env: options.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const child = this.child;
    child.stdout!.on("data", (d: Buffer) => {
      this.#stdout.push(d);
      this.#stdoutLength += d.length;
      for (const w of this.#watchers) w();
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (d: string) => {
      this.#stderr += d;
      for (const w of this.#watchers) w();
    });
    child.stdin!.on("error", () => {}); // EPIPE when the child exits first; its status tells
    if (options.input) child.stdin!.end(options.input);

    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    const stdoutEnd = new Promise<void>((resolve) => child.stdout!.once("close", resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new ProcessTimeoutError(what, ms, this.#stderr));
      }, ms);
    });
    this.exited = Promise.race([Promise.all([exit, stdoutEnd]), timeout]).then(
      ([status]) => ({ ...status, stdout: this.stdout(), stderr: this.#stderr }),
    ).finally(() => {
      clearTimeout(timer);
      this.#done = true;
      for (const w of this.#watchers) w();
      child.stdin!.destroy();
      child.stderr!.destroy();
    });
    this.exited.catch(() => {}); // callers that only use waitForStdout still see the failure there
  }

  /** Stdout so far. */
  stdout(): Uint8Array {
    const b = Buffer.concat(this.#stdout, this.#stdoutLength);
    return new Uint8Array(b.buffer, b.byteOffset, b.length); // plain, so deepEqual with Uint8Array holds
  }

  /** Stderr so far. */
  stderr(): string {
    return this.#stderr;
  }

  /** Resolves once stdout holds at least `bytes` bytes; rejects if the process ends first. */
  waitForStdout(bytes: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#stdoutLength >= bytes) {
          this.#watchers.delete(check);
          resolve();
        } else if (this.#done) {
          this.#watchers.delete(check);
          reject(
            new Error(
              `process ended after ${this.#stdoutLength} of ${bytes} stdout bytes:\n${this.#stderr}`,
            ),
          );
        }
      };
      this.#watchers.add(check);
      check();
    });
  }

  /** Resolves once stderr matches `pattern` (e.g. a server's "listening" line); rejects if the process ends first. */
  waitForStderr(pattern: RegExp): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pattern.test(this.#stderr)) {
          this.#watchers.delete(check);
          resolve();
        } else if (this.#done) {
          this.#watchers.delete(check);
          reject(new Error(`process ended before its stderr matched ${pattern}:\n${this.#stderr}`));
        }
      };
      this.#watchers.add(check);
      check();
    });
  }

  /** Write to stdin. */
  write(bytes: Uint8Array): void {
    this.child.stdin!.write(bytes);
  }

  /** Close stdin (EOF for the child). */
  closeStdin(): void {
    this.child.stdin!.end();
  }

  /** Kill the child if it is still running (SIGKILL). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

/** Start `argv` with the given options. */
export function startProcess(argv: string[], options?: StartProcessOptions): StartedProcess {
  return new StartedProcess(argv, options);
}

/** Run `argv` to completion and return its result. */
export function runProcess(argv: string[], options?: StartProcessOptions): Promise<ProcessResult> {
  return startProcess(argv, options).exited;
}

/** Inodes of the sockets process `pid` ("self": this one) holds open (/proc/PID/fd -> socket:[N]). */
export function socketInodes(pid: number | "self"): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  return out;
}
