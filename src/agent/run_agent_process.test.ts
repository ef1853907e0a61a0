/**
 * The agent as a real child process (`tests/fixtures/agent_main.ts`, run by
 * the same runtime as the test), driven by a client session over its
 * stdin/stdout exactly as the daemon drives it.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { getRuntime } from "../runtime/mod.ts";
import type { ChildProcess } from "../runtime/types.ts";
import { connectToAgent, pattern, readAll, within, writeAll } from "../../tests/helpers/mux.ts";
import { targetServer } from "../../tests/helpers/agent.ts";
import { AgentExitCode } from "./run_agent.ts";

const rt = getRuntime();
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURE = fileURLToPath(new URL("../../tests/fixtures/agent_main.ts", import.meta.url));
/** The target kind the platform dials natively: POSIX paths are refused on Windows. */
const TRANSPORT = rt.os === "windows" ? "tcp" as const : "unix" as const;

/** Start the fixture with the runtime running this test. */
function spawnAgent(): {
  child: ChildProcess;
  stderr: Promise<string>;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
} {
  const argv = rt.name === "deno"
    ? [rt.execPath(), "run", "-A", FIXTURE]
    : [rt.execPath(), FIXTURE];
  const child = rt.spawn(argv, {
    cwd: REPO,
    stderr: "piped",
    env: { WSL2PROXY_TEST_VERSION: "1.0.0" },
  });
  const stderr = readAll(child.stderr!).then((b) => new TextDecoder().decode(b));
  return { child, stderr, stdin: child.stdin!.getWriter() };
}

describe("the agent process", () => {
  test(`agent process - echoes 1 MiB through a ${TRANSPORT} target and exits 0 when its stdin closes`, async () => {
    const server = await targetServer(rt, TRANSPORT);
    const { child, stderr, stdin } = spawnAgent();
    try {
      const client = await connectToAgent(child.stdout!, stdin, "1.0.0");
      assert.equal(client.peer.role, "server");
      assert.equal(client.peer.version, "1.0.0");
      const s = await client.open(server.url);
      const data = pattern(1 << 20, 3);
      const [, got] = await Promise.all([writeAll(s.writable, data), readAll(s.readable)]);
      assert.deepEqual(got, data);
      await s.closed;

      await stdin.close(); // the daemon going away, without a GO_AWAY
      assert.deepEqual(await within(20_000, child.status, "agent exit"), {
        code: AgentExitCode.OK,
        signal: null,
      });
      await within(5000, client.closed, "client session ends at the agent's EOF");
      const log = await stderr;
      assert.match(log, /INFO {2}agent: session established/);
      assert.match(log, /DEBUG agent: stream closed .*to_target=1048576 from_target=1048576/);
      assert.match(log, /INFO {2}agent: session ended reason="the Linux daemon closed the pipe"/);
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await server.dispose();
    }
  });

  test("agent process - exits with HANDSHAKE_FAILED when stdin carries no preface", async () => {
    const { child, stderr, stdin } = spawnAgent();
    try {
      const out = readAll(child.stdout!); // its preface, then EOF
      await stdin.write(new TextEncoder().encode("this is not a wsl2proxy daemon\n"));
      await stdin.close();
      assert.deepEqual(await within(20_000, child.status, "agent exit"), {
        code: AgentExitCode.HANDSHAKE_FAILED,
        signal: null,
      });
      await out;
      assert.match(await stderr, /ERROR agent: handshake with the Linux daemon failed/);
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
  });
});
