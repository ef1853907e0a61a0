/**
 * wsl2proxy's entry point: the only file that reads argv, prints, and exits.
 * Everything else is library code that returns values or throws typed errors.
 *
 * @module
 */
import process from "node:process";
import { Exit, runCli } from "./src/cli/mod.ts";
import { ConfigError, UsageError, Wsl2ProxyError } from "./src/errors.ts";
import { getRuntime } from "./src/runtime/mod.ts";

/** Map a thrown error to an exit status (see the README's table). */
function exitStatus(e: unknown): number {
  if (e instanceof UsageError || e instanceof ConfigError) return Exit.USAGE;
  return Exit.FAILURE;
}

/** Run one command line and exit. No top-level await, so Bun can compile this to bytecode. */
async function main(): Promise<never> {
  const runtime = getRuntime();
  const args = runtime.args();
  // In agent mode stdout belongs to the multiplexer: route every print to stderr.
  const agentMode = args[0] === "agent" && !args.includes("--help") && !args.includes("-h");
  const io = {
    out: (text: string) => void (agentMode ? process.stderr : process.stdout).write(text),
    err: (text: string) => void process.stderr.write(text),
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
  await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write("", () => resolve()));
  process.exit(code);
}

main();
