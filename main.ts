/**
 * wsl2proxy's entry point: the only file that reads argv, prints, and exits.
 * Everything else is library code that returns values or throws typed errors.
 *
 * @module
 */
import { writeSync } from "node:fs";
import process from "node:process";
import { Exit, runCli } from "./src/cli/mod.ts";
import { ConfigError, UsageError, Wsl2ProxyError } from "./src/errors.ts";
import { getRuntime } from "./src/runtime/mod.ts";

/** Map a thrown error to an exit status (see the README's table). */
function exitStatus(e: unknown): number {
  if (e instanceof UsageError || e instanceof ConfigError) return Exit.USAGE;
  return Exit.FAILURE;
}

/**
 * Print `text` to fd 1 or 2. Blocking writes: `process.stdout` is not touched
 * on the way, because creating it costs Bun ~8 ms of start-up, which `start`
 * pays in every new shell (hyperfine: 11.8 vs 4.9 ms for a compiled hello
 * world). Should the descriptor be non-blocking (EAGAIN), that line and
 * every later one go through `process.stdout`/`process.stderr`, so the order
 * holds. Any other failure (EPIPE: the reader left) drops the output: there is
 * nowhere left to report it, and a log line must never take the agent down.
 */
function printer(fd: 1 | 2): { print(text: string): void; flush(): Promise<void> } {
  let stream: NodeJS.WritableStream | undefined;
  let gone = false;
  return {
    print(text) {
      if (gone) return;
      if (stream) return void stream.write(text);
      const bytes = new TextEncoder().encode(text);
      let off = 0;
      try {
        while (off < bytes.length) off += writeSync(fd, bytes, off);
      } catch (e) {
        if ((e as { code?: string }).code !== "EAGAIN") return void (gone = true);
        const fallback = fd === 1 ? process.stdout : process.stderr;
        fallback.write(bytes.subarray(off));
        stream = fallback;
      }
    },
    flush: () =>
      new Promise<void>((resolve) => stream ? stream.write("", () => resolve()) : resolve()),
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
    out: (text: string) => (agentMode ? stderr : stdout).print(text),
    err: (text: string) => stderr.print(text),
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
  // Let buffered output reach a pipe, then exit: stray handles must not keep a finished command alive.
  await stdout.flush();
  await stderr.flush();
  process.exit(code);
}

main();
