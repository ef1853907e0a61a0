import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "../log/logger.ts";
import { getRuntime } from "../runtime/mod.ts";
import { AgentSupervisor } from "./agent_supervisor.ts";
import { agentCommandYaml } from "../../tests/helpers/cli.ts";

/** A supervisor for `argv`, and a promise for the first log line that contains `text`. */
function supervise(argv: string[]) {
  const lines: string[] = [];
  const watchers: { text: string; resolve: () => void }[] = [];
  const log = new Logger({
    level: "debug",
    sinks: [(l) => {
      lines.push(l);
      for (const w of watchers) if (l.includes(w.text)) w.resolve();
    }],
  });
  const sup = new AgentSupervisor({ runtime: getRuntime(), log, version: "1.0.0", argv });
  const logged = (text: string) =>
    lines.some((l) => l.includes(text))
      ? Promise.resolve()
      : new Promise<void>((resolve) => watchers.push({ text, resolve }));
  return { sup, lines, logged };
}

async function timedStop(sup: AgentSupervisor): Promise<number> {
  const t0 = performance.now();
  await sup.stop();
  return performance.now() - t0;
}

describe("AgentSupervisor", () => {
  test("AgentSupervisor - stop ends an agent stuck before its handshake within 1 s, by closing its stdin (finding 10)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "w2p-sup-"));
    const marker = join(dir, "saw-eof");
    try {
      // Reads stdin, never answers, and exits at EOF: what a broken interop leaves.
      const { sup, logged } = supervise(["sh", "-c", `cat >/dev/null; : > '${marker}'`]);
      sup.start();
      await logged("agent started");
      assert.equal(sup.status().state, "starting");
      const ms = await timedStop(sup);
      assert.ok(ms < 1000, `stop took ${ms.toFixed(0)} ms`);
      assert.ok(existsSync(marker), "the agent saw EOF on its stdin");
      assert.equal(sup.status().state, "stopped");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("AgentSupervisor - stop kills an agent that ignores EOF and SIGTERM within 1 s", async () => {
    const { sup, logged } = supervise(["sh", "-c", "trap '' TERM; cat >/dev/null; exec sleep 60"]);
    sup.start();
    await logged("agent started");
    const ms = await timedStop(sup);
    assert.ok(ms < 1000, `stop took ${ms.toFixed(0)} ms`);
  });

  test("AgentSupervisor - stop ends a connected agent within 1 s, and it exits normally", async () => {
    const argv = JSON.parse(agentCommandYaml()) as string[];
    const { sup, lines, logged } = supervise(argv);
    sup.start();
    await logged("agent connected");
    const ms = await timedStop(sup);
    assert.ok(ms < 1000, `stop took ${ms.toFixed(0)} ms`);
    assert.ok(
      lines.some((l) => l.includes("agent: ") && l.includes("session ended")),
      lines.join("\n"),
    );
  });

  test("AgentSupervisor - waitRunning answers false at its deadline when the running agent is the one excepted (finding 10)", async () => {
    const argv = JSON.parse(agentCommandYaml()) as string[];
    const { sup, logged } = supervise(argv);
    sup.start();
    try {
      await logged("agent connected");
      const pid = sup.status().pid!;
      assert.equal(await sup.waitRunning(undefined, 5000), true);
      // Before the fix this waited for the session's end, i.e. for ever.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        sup.waitRunning(pid, 300),
        new Promise<string>((r) => (timer = setTimeout(() => r("no answer after 20 s"), 20_000))),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, false);
    } finally {
      await sup.stop();
    }
  });
});
