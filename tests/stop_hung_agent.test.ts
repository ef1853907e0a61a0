/**
 * `stop` while the agent hangs in its handshake (issue 12, finding 10): an
 * agent that reads stdin, never answers and exits at EOF, as a broken WSL
 * interop leaves it. `stop` gave up after 10 s, SIGKILLed the daemon and
 * exited 1; the daemon now closes the agent's stdin at once.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Sandbox } from "./helpers/cli.ts";

describe("stop with a hung agent", () => {
  test("stop - a daemon whose agent never finishes its handshake stops cleanly, well within 10 s", async () => {
    const box = new Sandbox("w2p-stop-hung-");
    try {
      box.writeConfig(
        `runtime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
          `agent:\n  command: ["sh", "-c", "cat >/dev/null"]\n`,
      );
      const started = await box.cli(["start"]);
      assert.equal(started.code, 0, started.stderr);
      const s = await box.control({ op: "status" });
      assert.equal(s?.agent.state, "starting");
      const [pid] = box.daemonPids();
      const t0 = performance.now();
      const stopped = await box.cli(["stop"]);
      const ms = performance.now() - t0;
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.equal(stopped.stderr, "");
      assert.deepEqual(box.daemonPids(), [], `daemon ${pid} is gone`);
      assert.ok(ms < 8000, `stop took ${Math.round(ms)} ms`);
      assert.doesNotMatch(box.log(), /agent handshake failed/);
    } finally {
      await box.cleanup();
    }
  });
});
