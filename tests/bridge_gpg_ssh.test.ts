/**
 * gpg-agent's ssh socket on Windows (`S.gpg-agent.ssh`) is a Cygwin-form
 * socket file: `!<socket >PORT s XXXXXXXX-…`, with Cygwin's handshake after
 * the nonce. Here tests/fixtures/assuan_nonce_relay.py `--cygwin` serves that
 * form in front of a real `ssh-agent` (which speaks what gpg-agent's ssh
 * socket speaks), and `ssh-add` and `ssh-keygen -Y sign` reach it only
 * through the bridge (`assuan://` target, `protocol: ssh-agent`).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseShExports, Sandbox, text } from "./helpers/cli.ts";
import {
  type ProcessResult,
  runProcess,
  type StartedProcess,
  startProcess,
} from "./helpers/process.ts";
import { skipNote } from "./helpers/agent.ts";
import { removeDir, SKIP_GPG } from "./helpers/gpg_env.ts";

const SKIP = SKIP_GPG;
const FIXTURE = resolve(
  import.meta.dirname ?? new URL(".", import.meta.url).pathname,
  "fixtures/assuan_nonce_relay.py",
);

let box: Sandbox;
let agent: StartedProcess;
let fixture: StartedProcess;
let agentSock = "";
let file = "";
let bridgeSock = "";
let fingerprint = "";

function sshEnv(sock: string): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: box.dir, SSH_AUTH_SOCK: sock };
}

function run(argv: string[], sock: string): Promise<ProcessResult> {
  return runProcess(argv, { env: sshEnv(sock), input: new Uint8Array(0), timeoutMs: 60_000 });
}

describe("gpg-agent's Cygwin-form ssh socket through assuan://", () => {
  before(async () => {
    if (SKIP) return;
    box = new Sandbox("w2p-gpgssh-");
    agentSock = join(box.dir, "agent.sock");
    agent = startProcess(["ssh-agent", "-D", "-a", agentSock], {
      env: sshEnv(agentSock),
      timeoutMs: 30 * 60_000,
    });
    await agent.waitForStdout(1); // it prints the SSH_AUTH_SOCK line once it listens
    const key = join(box.dir, "id_ed25519");
    const kg = await run([
      "ssh-keygen",
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "yubikey",
      "-f",
      key,
    ], agentSock);
    assert.equal(kg.code, 0, kg.stderr);
    assert.equal((await run(["ssh-add", key], agentSock)).code, 0);
    fingerprint = text(await run(["ssh-keygen", "-lf", `${key}.pub`], agentSock)).split(" ")[1];
    rmSync(key); // only the agent holds the private key now

    file = join(box.dir, "S.gpg-agent.ssh");
    fixture = startProcess(["python3", FIXTURE, "--cygwin", file, agentSock], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      timeoutMs: 30 * 60_000,
    });
    await fixture.waitForStdout("ready ".length);
    box.writeBridgeConfig([
      {
        env: "GPG_SSH_AUTH_SOCK",
        linux: "{runtime_dir}/gpg-ssh.sock",
        windows: `assuan://${file}`,
      },
    ]);
    const started = await box.cli(["start"]);
    assert.equal(started.code, 0, started.stderr);
    bridgeSock = parseShExports(text(started)).GPG_SSH_AUTH_SOCK;
  });

  after(async () => {
    if (SKIP) return;
    await box?.cleanup();
    for (const p of [fixture, agent]) {
      p?.kill();
      await p?.exited.catch(() => {});
    }
    if (box) removeDir(box.dir);
  });

  test(
    "fixture - writes the Cygwin form, and ssh-add cannot use the file directly" + skipNote(SKIP),
    { skip: SKIP },
    async () => {
      assert.match(
        readFileSync(file, "latin1"),
        /^!<socket >\d+ s [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}\0$/,
      );
      const direct = await run(["ssh-add", "-l"], file);
      assert.equal(direct.code, 2, direct.stderr); // 2: cannot connect to the agent
    },
  );

  test(
    "ssh-add -l lists the key, and 5 ssh-keygen -Y sign signatures verify, through the bridge" +
      skipNote(SKIP),
    { skip: SKIP },
    async () => {
      const list = await run(["ssh-add", "-l"], bridgeSock);
      assert.equal(list.code, 0, list.stderr + box.log().slice(-2000));
      assert.match(text(list), new RegExp(fingerprint.replace(/[+/]/g, "\\$&")));
      const pub = readFileSync(join(box.dir, "id_ed25519.pub"), "utf8").trim();
      const signers = join(box.dir, "allowed_signers");
      writeFileSync(signers, `signer@example.org ${pub}\n`);
      for (let i = 0; i < 5; i++) {
        const msg = join(box.dir, `msg-${i}`);
        writeFileSync(msg, `message ${i}\n`);
        // With only the public key named, ssh-keygen asks the agent to sign.
        const sig = await run(
          [
            "ssh-keygen",
            "-Y",
            "sign",
            "-q",
            "-f",
            join(box.dir, "id_ed25519.pub"),
            "-n",
            "file",
            msg,
          ],
          bridgeSock,
        );
        assert.equal(sig.code, 0, sig.stderr);
        const verify = await runProcess(
          [
            "sh",
            "-c",
            `ssh-keygen -Y verify -f "$1" -I signer@example.org -n file -s "$2.sig" < "$2"`,
            "sh",
            signers,
            msg,
          ],
          { env: sshEnv(bridgeSock), timeoutMs: 60_000 },
        );
        assert.equal(verify.code, 0, verify.stderr);
      }
      assert.match(fixture.stderr(), /accepted/);
      assert.doesNotMatch(fixture.stderr(), /wrong nonce/);
    },
  );
});
