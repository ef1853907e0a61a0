/**
 * wsl2proxy's entry point: the only file that reads argv, prints, and exits.
 * Everything else is library code that returns values or throws typed errors.
 *
 * @module
 */
import { writeSync } from "node:fs";
import process from "node:process";
import { Exit, runCli } from "./src/cli/mod.ts";
import { ConfigError, HandshakeError, UsageError, Wsl2ProxyError } from "./src/errors.ts";
import { getRuntime } from "./src/runtime/mod.ts";

/** Map a thrown error to an exit status (see the README's table). */
function exitStatus(e: unknown): number {
  if (e instanceof UsageError || e instanceof ConfigError) return Exit.USAGE;
  if (e instanceof HandshakeError) return Exit.HANDSHAKE_FAILED;
  return Exit.FAILURE;
}

/** How long a print waits for a full, non-blocking stdout/stderr pipe before giving up. */
const PRINT_PATIENCE_MS = 10_000;

/**
 * Print `text` to fd 1 or 2 with blocking writes. `process.stdout` is not
 * used: creating it costs Bun ~8 ms of start-up, which `start` pays in every
 * new shell (hyperfine: 11.8 vs 4.9 ms for a compiled hello world), and it
 * loses its output when it meets a full non-blocking pipe just before exit.
 * A descriptor that is non-blocking (EAGAIN: a parent set O_NONBLOCK on a
 * shared pipe, and the reader is slow) is retried every millisecond for up
 * to {@linkcode PRINT_PATIENCE_MS}. Any other failure (EPIPE: the reader
 * left) drops the output: there is nowhere left to report it, and a log line
 * must never take the agent down.
 */
function printer(fd: 1 | 2): (text: string) => void {
  let gone = false;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  return (text) => {
    if (gone) return;
    const bytes = new TextEncoder().encode(text);
    const deadline = performance.now() + PRINT_PATIENCE_MS;
    for (let off = 0; off < bytes.length;) {
      try {
        off += writeSync(fd, bytes, off);
      } catch (e) {
        if ((e as { code?: string }).code !== "EAGAIN" || performance.now() > deadline) {
          gone = true;
          return;
        }
        Atomics.wait(nap, 0, 0, 1);
      }
    }
  };
}

/** Run one command line and exit. No top-level await, so Bun can compile this to bytecode. */
async function main(): Promise<never> {
  const runtime = getRuntime();
  const args = runtime.args();
  // In agent mode stdout belongs to the multiplexer: route every print to stderr.
  const agentMode = args[0] === "agent" && !args.includes("--help") && !args.includes("-h");
  const stdout = printer(1);
  const stderr = printer(2);
  const io = {
    out: (text: string) => (agentMode ? stderr : stdout)(text),
    err: (text: string) => stderr(text),
  };
  let code: number;
  try {
    code = await runCli(runtime, args, io);
  } catch (e) {
    const prefix = e instanceof Wsl2ProxyError ? "" : "internal error: ";
    io.err(`wsl2proxy: ${prefix}${e instanceof Error ? e.message : String(e)}\n`);
    if (!(e instanceof Wsl2ProxyError) && e instanceof Error && e.stack) io.err(e.stack + "\n");
    code = exitStatus(e);
  }
  // Every print was written synchronously; exit, so stray handles cannot keep a finished command alive.
  process.exit(code);
}

main();
