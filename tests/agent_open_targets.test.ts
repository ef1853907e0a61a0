/**
 * The agent's own count of open target connections (`status --json`:
 * `agent.openTargets`), and that a client that half-closes and then
 * vanishes leaves no target connection open, while the target never answers.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseShExports, Sandbox, text } from "./helpers/cli.ts";
import { runProcess, startProcess } from "./helpers/process.ts";
import { targetServer } from "./helpers/agent.ts";
import { getRuntime } from "../src/runtime/mod.ts";
import { within } from "./helpers/mux.ts";

/** Poll `status` (bounded: the daemon has no event for this) until `check` holds. */
async function untilStatus(box: Sandbox, check: (open: Record<string, number>) => boolean) {
  const deadline = performance.now() + 15_000;
  for (;;) {
    const s = await box.control({ op: "status" });
    const open = s?.agent.openTargets;
    assert.ok(open, "the agent reports its open targets");
    if (check(open)) return open;
    if (performance.now() > deadline) throw new Error(`still open: ${JSON.stringify(open)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("agent open targets", () => {
  test("a client that half-closes and then vanishes leaves no target connection open", async () => {
    const box = new Sandbox();
    const target = await targetServer(getRuntime(), "unix", "hold");
    try {
      box.writeBridgeConfig([{ env: "T", linux: "{runtime_dir}/t.sock", windows: target.url }]);
      const started = await box.cli(["start"]);
      assert.equal(started.code, 0, started.stderr);
      const sock = parseShExports(text(started)).T;
      await box.waitAgent();
      assert.deepEqual(await untilStatus(box, () => true), {});
      // A client that writes, half-closes and waits for a reply that never comes...
      const client = startProcess([
        "python3",
        "-c",
        `
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"request")
s.shutdown(socket.SHUT_WR); print("sent", flush=True); sys.stdin.read()
`,
        sock,
      ]);
      await within(10_000, client.waitForStdout(5), "the client sent its request");
      await within(10_000, target.nextAccepted(), "the target was dialled");
      assert.deepEqual(await untilStatus(box, (o) => o[target.url] === 1), { [target.url]: 1 });
      // ...and then vanishes: the daemon notices without writing to it.
      client.closeStdin();
      await client.exited;
      await untilStatus(box, (o) => !(target.url in o));
      const s = await runProcess(
        [...(await import("./helpers/cli.ts")).wsl2proxyArgv(), "status"],
        {
          env: box.env,
          input: new Uint8Array(0),
        },
      );
      assert.equal(s.code, 0, s.stderr);
    } finally {
      await box.cleanup();
      await target.dispose();
    }
  });
});
