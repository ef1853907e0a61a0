/**
 * `deno run -A <url> ...` on the published bundle, dist/wsl2proxy.js, served
 * over HTTP on loopback the way GitHub serves release assets (a redirect,
 * then `application/octet-stream`). Each run gets an empty DENO_DIR, and
 * runs in an empty directory so that no deno.json or node_modules helps.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { publish, tool } from "../../scripts/build.ts";
import { getRuntime } from "../../src/runtime/mod.ts";
import { VERSION } from "../../src/version.ts";
import { parseShExports, Sandbox } from "../helpers/cli.ts";
import { startEchoServer } from "../helpers/echo_server.ts";
import { connectToAgent, pattern, readAll, within, writeAll } from "../helpers/mux.ts";
import { builder, runIn, serveLikeGitHubReleases, tempDir } from "./_dist.ts";

const TIMEOUT = 120_000;

/** Build (or find) the bundle, serve dist/, and hand the test the URL and a fresh directory. */
async function withServedBundle(
  fn: (url: string, dir: string, env: Record<string, string>) => Promise<void>,
): Promise<void> {
  const bundle = await publish(await builder.bundle());
  const server = await serveLikeGitHubReleases(dirname(bundle));
  const dir = await tempDir("w2p-url-");
  try {
    const env = {
      PATH: "/usr/bin:/bin",
      HOME: dir.path,
      DENO_DIR: join(dir.path, "deno-dir"),
      NO_COLOR: "1",
    };
    await fn(`${server.origin}/releases/download/v${VERSION}/wsl2proxy.js`, dir.path, env);
    assert.deepEqual(server.requests.slice(0, 2), [
      `/releases/download/v${VERSION}/wsl2proxy.js`,
      "/assets/wsl2proxy.js",
    ]);
  } finally {
    await server.close();
    await dir.dispose();
  }
}

describe("deno run from a URL", () => {
  test("bundle url - `deno run -A <url> version` prints the version with an empty DENO_DIR", {
    timeout: TIMEOUT,
  }, async () => {
    await withServedBundle(async (url, dir, env) => {
      const r = await runIn([tool("deno"), "run", "-A", url, "version"], { cwd: dir, env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(`^wsl2proxy ${VERSION} \\(deno [^,]+, linux-[a-z0-9_]+\\)\\n$`),
      );
      assert.match(r.stderr, /Download http:\/\/127\.0\.0\.1:\d+\/releases\/download\//);
    });
  });

  test(
    "bundle url - `deno run -A <url> agent` completes the handshake, echoes through a unix:// target and exits 0 at stdin EOF",
    { timeout: TIMEOUT },
    async () => {
      await withServedBundle(async (url, dir, env) => {
        const echo = await startEchoServer(join(dir, "echo.sock"));
        const child = getRuntime().spawn([tool("deno"), "run", "-A", url, "agent"], {
          cwd: dir,
          env,
          stderr: "piped",
        });
        const stderr = readAll(child.stderr!).then((b) => new TextDecoder().decode(b));
        const stdin = child.stdin!.getWriter();
        try {
          // Deno's "Download" lines must go to stderr: one stray byte on stdout
          // and the handshake fails with BAD_MAGIC.
          const client = await connectToAgent(child.stdout!, stdin, VERSION);
          assert.equal(client.peer.role, "server");
          assert.equal(client.peer.version, VERSION);
          const s = await client.open(`unix://${echo.path}`);
          const data = pattern(256 * 1024, 7);
          const [, got] = await Promise.all([writeAll(s.writable, data), readAll(s.readable)]);
          assert.deepEqual(got, data);
          await s.closed;

          await stdin.close();
          assert.deepEqual(await within(30_000, child.status, "agent exit"), {
            code: 0,
            signal: null,
          });
          await within(5000, client.closed, "client session ends at the agent's EOF");
          assert.match(await stderr, /Download http:\/\/127\.0\.0\.1/);
          assert.equal(echo.accepted(), 1);
        } finally {
          child.kill("SIGKILL");
          await child.status;
          await echo.close();
        }
      });
    },
  );

  test(
    "bundle url - `deno run -A <url> start` runs the daemon, which runs `deno run -A <url> agent`, and a client gets an echo",
    { timeout: TIMEOUT },
    async () => {
      await withServedBundle(async (url, _dir, env) => {
        const box = new Sandbox("w2p-url-start-");
        Object.assign(box.env, { DENO_DIR: env.DENO_DIR });
        const echo = await startEchoServer(join(box.dir, "echo.sock"));
        const wsl2proxy = (args: string[]) =>
          runIn([tool("deno"), "run", "-A", url, ...args], { cwd: box.dir, env: box.env });
        try {
          // What a Windows user with Deno would put in agent.command, with deno.exe.
          const agentCommand = [tool("deno"), "run", "-A", url, "agent"];
          box.writeConfig(
            `runtime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
              `agent:\n  command: ${JSON.stringify(agentCommand)}\n` +
              `sockets:\n  - env_name: ECHO_SOCK\n    linux_addr: "{runtime_dir}/echo.sock"\n` +
              `    windows_addr: ${JSON.stringify(`unix://${echo.path}`)}\n`,
          );
          const started = await wsl2proxy(["start"]);
          assert.equal(started.code, 0, started.stderr + box.log());
          const sock = parseShExports(started.stdout).ECHO_SOCK;
          assert.equal(sock, join(box.runtimeDir, "echo.sock"));

          const status = await box.waitAgent();
          assert.deepEqual(status.agent.command, agentCommand);
          assert.match(status.runtime, /^deno /);
          const conn = await getRuntime().connectUnix(sock);
          try {
            const data = pattern(64 * 1024, 9);
            const [, got] = await Promise.all([
              writeAll(conn.writable, data),
              readAll(conn.readable),
            ]);
            assert.deepEqual(got, data);
          } finally {
            conn.close();
          }

          const stopped = await wsl2proxy(["stop"]);
          assert.equal(stopped.code, 0, stopped.stderr);
          assert.equal((await wsl2proxy(["status"])).code, 3, "not running after stop");
        } finally {
          await box.cleanup();
          await echo.close();
        }
      });
    },
  );
});
