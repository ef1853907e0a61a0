/**
 * Real OpenSSH peers for end-to-end tests: an `ssh-agent` holding a fresh
 * key, `socat` putting it on a loopback TCP port (how a mingw-built program
 * under Wine reaches a Linux agent), and an `sshd` on a loopback port that
 * accepts that key only. Everything lives in one directory that the caller
 * removes; {@linkcode SshPeers.stop} ends every process started here.
 *
 * `sshd` runs as the current user (root in CI: it needs /run/sshd, created
 * here if missing) with its own config, host key and authorized_keys.
 *
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import process from "node:process";
import { OutputLines } from "./output_lines.ts";
import { runProcess, type StartedProcess, startProcess } from "./process.ts";

const START_MS = 30_000;

/** A loopback TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function run(argv: string[], env?: Record<string, string | undefined>): Promise<string> {
  const r = await runProcess(argv, { env, timeoutMs: START_MS });
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}):\n${r.stderr}`);
  return new TextDecoder().decode(r.stdout);
}

/** Start `argv` with stderr joined to stdout and wait for a line matching `ready`. */
async function startLogged(
  argv: string[],
  ready: RegExp,
  what: string,
): Promise<{ proc: StartedProcess; out: OutputLines }> {
  const proc = startProcess(["sh", "-c", 'exec 2>&1; exec "$@"', "sh", ...argv], {
    timeoutMs: 30 * 60_000,
  });
  const out = new OutputLines(proc);
  try {
    await out.waitLine((l) => ready.test(l), START_MS, what);
  } catch (err) {
    proc.kill();
    throw err;
  }
  return { proc, out };
}

/** The running peers. */
export interface SshPeers {
  /** The real agent's socket. */
  agentSock: string;
  /** The real agent's pid. */
  agentPid: number;
  /** socat's loopback port in front of the agent. */
  agentPort: number;
  /** sshd's loopback port. */
  sshdPort: number;
  /** The key's public half (the private half is only in the agent). */
  publicKey: string;
  /** The key's SHA256 fingerprint, as `ssh-add -l` prints it. */
  fingerprint: string;
  /** The user sshd lets in (whoever runs the tests). */
  user: string;
  /** sshd's output so far (for failure messages). */
  sshdLog(): string;
  /** The agent's stderr so far: its debug lines with `agentDebug`, else little or nothing. */
  agentLog(): string;
  /** Stop sshd, socat and the agent. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startSshPeers}. */
export interface SshPeersOptions {
  /** Run `ssh-agent -d`: it logs each request (e.g. a recorded session-bind) to {@linkcode SshPeers.agentLog}. */
  agentDebug?: boolean;
}

/** Start ssh-agent (with a new ed25519 key added), socat in front of it, and sshd, in `dir`. */
export async function startSshPeers(
  dir: string,
  options: SshPeersOptions = {},
): Promise<SshPeers> {
  const procs: StartedProcess[] = [];
  const stop = async () => {
    for (const p of procs) p.kill();
    await Promise.allSettled(procs.map((p) => p.exited));
  };
  try {
    const agentSock = join(dir, "real-agent.sock");
    const agent = startProcess(
      ["ssh-agent", options.agentDebug ? "-d" : "-D", "-a", agentSock],
      { timeoutMs: 30 * 60_000 },
    );
    procs.push(agent);
    await agent.waitForStdout(1); // prints SSH_AUTH_SOCK=... once it listens

    const key = join(dir, "id_ed25519");
    await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "w2p-test", "-f", key]);
    await run(["ssh-add", "-q", key], { SSH_AUTH_SOCK: agentSock, PATH: process.env.PATH });
    const publicKey = readFileSync(`${key}.pub`, "utf8");
    const fingerprint = (await run(["ssh-keygen", "-l", "-f", `${key}.pub`])).split(" ")[1];

    const agentPort = await freePort();
    const socat = await startLogged(
      [
        "socat",
        "-d",
        "-d",
        `TCP-LISTEN:${agentPort},bind=127.0.0.1,fork,reuseaddr`,
        `UNIX-CONNECT:${agentSock}`,
      ],
      /listening on/,
      "socat listening",
    );
    procs.push(socat.proc);

    const hostKey = join(dir, "ssh_host_ed25519_key");
    await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
    const authorized = join(dir, "authorized_keys");
    writeFileSync(authorized, publicKey);
    const sshdPort = await freePort();
    const config = join(dir, "sshd_config");
    writeFileSync(
      config,
      [
        `Port ${sshdPort}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${authorized}`,
        "PidFile none",
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
    );
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // sshd's privilege separation dir
    const sshd = await startLogged(
      ["/usr/sbin/sshd", "-D", "-e", "-f", config],
      /Server listening on/,
      "sshd listening",
    );
    procs.push(sshd.proc);
    const user = (await run(["id", "-un"])).trim(); // os.userInfo() may say "unknown" under Bun
    return {
      user,
      agentSock,
      agentPid: agent.child.pid!,
      agentPort,
      sshdPort,
      publicKey,
      fingerprint,
      sshdLog: () => sshd.out.lines().join("\n"),
      agentLog: () => agent.stderr(),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `ssh ... true` to the peers' sshd with the agent at `authSock`; the result of the run. */
export function sshTrue(peers: SshPeers, authSock: string, home: string) {
  return runProcess([
    "ssh",
    "-F",
    "/dev/null",
    "-p",
    String(peers.sshdPort),
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    `${peers.user}@127.0.0.1`,
    "true",
  ], {
    env: { PATH: process.env.PATH, HOME: home, SSH_AUTH_SOCK: authSock },
    timeoutMs: 60_000,
  });
}
