/**
 * The bridge end to end with real OpenSSH clients: `wsl2proxy start` runs the
 * daemon, which runs the agent (on Linux here, through agent.command); the
 * agent dials a real ssh-agent's socket. ssh-add and ssh-keygen talk only to
 * the bridge's socket.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseShExports, Sandbox, text } from "./helpers/cli.ts";
import { signAndVerify } from "./helpers/ssh_sign.ts";
import { runProcess, startProcess } from "./helpers/process.ts";

describe("bridge with a real ssh-agent", () => {
  test("ssh-add adds and lists a key, and ssh-keygen -Y sign makes a signature that verifies", async () => {
    const box = new Sandbox();
    const agentSock = join(box.dir, "real-agent.sock");
    const sshAgent = startProcess(["ssh-agent", "-D", "-a", agentSock], { env: box.env });
    try {
      await sshAgent.waitForStdout(1); // prints SSH_AUTH_SOCK=... once it listens
      box.writeBridgeConfig([{
        env: "SSH_AUTH_SOCK",
        linux: "{runtime_dir}/ssh-auth.sock",
        windows: `unix://${agentSock}`,
      }]);
      const started = await box.cli(["start"]);
      assert.equal(started.code, 0, started.stderr);
      const exports = parseShExports(text(started));
      const sock = exports.SSH_AUTH_SOCK;
      assert.equal(sock, join(box.runtimeDir, "ssh-auth.sock"));
      const env = { ...box.env, SSH_AUTH_SOCK: sock };

      const key = join(box.dir, "id_ed25519");
      const keygen = await runProcess([
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "tester@example",
        "-f",
        key,
      ], { env });
      assert.equal(keygen.code, 0, keygen.stderr);
      const add = await runProcess(["ssh-add", key], { env });
      assert.equal(add.code, 0, add.stderr);
      rmSync(key); // from now on only the agent, reached through the bridge, holds the private key

      const list = await runProcess(["ssh-add", "-l"], { env });
      assert.equal(list.code, 0, list.stderr);
      const fingerprint =
        text(await runProcess(["ssh-keygen", "-l", "-f", `${key}.pub`], { env })).split(" ")[1];
      assert.match(text(list), new RegExp(fingerprint.replace(/[+/]/g, "\\$&")));

      await signAndVerify({ pub: `${key}.pub`, dir: box.dir, env });

      const status = JSON.parse(text(await box.cli(["status", "--json"])));
      assert.ok(
        status.sockets[0].totalConnections >= 3,
        "ssh-add and ssh-keygen went through the bridge",
      );
      assert.equal(status.sockets[0].failedConnections, 0);
    } finally {
      await box.cleanup();
      sshAgent.kill();
      await sshAgent.exited.catch(() => {});
    }
  });
});
