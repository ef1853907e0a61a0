/**
 * Start the daemon in the background (`run --background`) and wait until it
 * reports ready on its stdout, or fail with what it printed on stderr.
 *
 * @module
 */
import { DaemonError } from "../errors.ts";
import type { Runtime } from "../runtime/mod.ts";

/** The line the background daemon prints once it listens. */
export const READY_LINE = "wsl2proxy-ready";

/** Spawn `[...selfArgv, "run", "--background", ...extraArgs]` detached and wait for readiness. */
export async function spawnDaemon(
  runtime: Runtime,
  extraArgs: string[],
  timeoutMs = 30_000,
): Promise<number> {
  const argv = [...runtime.selfArgv(), "run", "--background", ...extraArgs];
  const child = runtime.spawn(argv, {
    detached: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const decoder = new TextDecoder();
  let out = "";
  let err = "";
  const readErr = (async () => {
    for await (const c of child.stderr!) err = (err + decoder.decode(c)).slice(-8192);
  })().catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ready = (async () => {
    const reader = child.stdout!.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return false;
        out += decoder.decode(value, { stream: true });
        if (out.includes(READY_LINE)) return true;
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  })();
  const outcome = await Promise.race([
    ready,
    child.status.then(() => false),
    new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome === true) {
    child.stderr!.cancel().catch(() => {});
    child.unref();
    return child.pid;
  }
  if (outcome === "timeout") child.kill("SIGKILL");
  await child.status;
  await readErr;
  const why = err.trim() || out.trim() || "(it printed nothing)";
  throw new DaemonError(
    "START_FAILED",
    outcome === "timeout"
      ? `the daemon did not become ready within ${timeoutMs} ms: ${why}`
      : `the daemon exited during start-up: ${why}`,
  );
}
