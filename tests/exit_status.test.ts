/**
 * Exit statuses: distinct for each outcome, given by main.ts, and stated
 * exactly in the README's command table (issue 12, finding 10: a failed
 * handshake exited 2, the status for bad usage, and the README said 1).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Exit } from "../src/cli/mod.ts";
import { AgentExitCode } from "../src/agent/mod.ts";
import { runProcess } from "./helpers/process.ts";
import { MAIN, Sandbox, wsl2proxyArgv } from "./helpers/cli.ts";

/** The README's command table: command name → its "Exit status" cell. */
function readmeStatuses(): Map<string, string> {
  const readme = readFileSync(join(MAIN, "..", "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("\n## Commands\n"));
  const rows = new Map<string, string>();
  for (const line of section.slice(0, section.indexOf("\n## ", 5)).split("\n")) {
    const m = /^\| `([a-z]+)[^`]*`\s*\|.*\|\s*([^|]*?)\s*\|$/.exec(line);
    if (m) rows.set(m[1], m[2]);
  }
  return rows;
}

describe("exit statuses", () => {
  test("exit statuses - every outcome has its own number, and the agent's match the CLI's", () => {
    const values = Object.values(Exit);
    assert.equal(new Set(values).size, values.length, JSON.stringify(Exit));
    assert.equal(AgentExitCode.OK, Exit.OK);
    assert.equal(AgentExitCode.SESSION_ERROR, Exit.FAILURE);
    assert.equal(AgentExitCode.HANDSHAKE_FAILED, Exit.HANDSHAKE_FAILED);
    assert.notEqual(Exit.HANDSHAKE_FAILED, Exit.USAGE);
  });

  test("exit statuses - `agent` fed stray bytes exits 4 (handshake failed); a bad option exits 2", async () => {
    const box = new Sandbox();
    try {
      const agent = await runProcess([...wsl2proxyArgv(), "agent"], {
        env: box.env,
        input: new TextEncoder().encode("Welcome to Ubuntu!\r\n"),
      });
      assert.equal(agent.code, Exit.HANDSHAKE_FAILED, agent.stderr);
      assert.match(agent.stderr, /handshake with the Linux daemon failed/);
      const usage = await box.cli(["agent", "--bogus"]);
      assert.equal(usage.code, Exit.USAGE, usage.stderr);
    } finally {
      await box.cleanup();
    }
  });

  test("exit statuses - the README's table names only real statuses, and the agent's exactly", () => {
    const rows = readmeStatuses();
    assert.deepEqual([...rows.keys()], [
      "start",
      "stop",
      "restart",
      "status",
      "run",
      "env",
      "doctor",
      "agent",
      "version",
    ]);
    const known = new Set<number>(Object.values(Exit));
    for (const [command, cell] of rows) {
      for (const n of cell.match(/\d+/g) ?? []) {
        assert.ok(known.has(Number(n)), `${command}: status ${n} is not in the Exit table`);
      }
    }
    assert.equal(
      rows.get("agent"),
      "0 normal end; 1 protocol or session error; 4 handshake failed",
    );
  });
});
