/**
 * `pageant://` through the compiled Windows agent under Wine, against
 * Pageant stand-ins that relay to a real Linux ssh-agent (through socat on
 * a loopback port):
 *
 * - `tests/fixtures/win_pageant.c window`: a window of class and title
 *   "Pageant" answering WM_COPYDATA with PuTTY's checks (the mapping's owner
 *   must be the user). Its `unowned` client mode, which creates the mapping
 *   without an owner, is refused: the check is real.
 * - `tests/fixtures/win_pipe_tcp_relay.c` serving the pipe name that
 *   `win_pageant.c name` computes in C with Windows' own SHA-256, as PuTTY's
 *   agent_named_pipe_name() does. Wine's CryptProtectMemory leaves the bytes
 *   unchanged, so this proves the name's shape and the pipe-first order, and
 *   src/agent/pageant_pipe_name.test.ts proves the hashing of a real
 *   CryptProtectMemory output.
 *
 * Through the bridge, in each case: `ssh-add -l` lists the key and 20
 * `ssh-keygen -Y sign` signatures verify.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { Builder, publish } from "../../scripts/build.ts";
import { parseShExports, Sandbox, text } from "../helpers/cli.ts";
import { type SshPeers, startSshPeers } from "../helpers/ssh_env.ts";
import { runProcess } from "../helpers/process.ts";
import { SETUP_TIMEOUT, SKIP_WINE, stopWineServer, wine } from "./_wine_env.ts";
import { buildWinFixture, WinPipeServer } from "./_win_fixtures.ts";

const CASE_TIMEOUT = 180_000;
const SIGNATURES = 20;
const PARALLEL = 8;
/** The agent's bound on one WM_COPYDATA request (WSL2PROXY_PAGEANT_TIMEOUT_MS; 120 s by default). */
const PAGEANT_TIMEOUT_MS = 10_000;

interface Setup {
  box: Sandbox;
  peers: SshPeers;
  wineEnv: Record<string, string | undefined>;
  pageantExe: string;
  relayExe: string;
  /** The bridge's ssh-agent socket for `pageant://`. */
  sock: string;
  /** The window stand-in, once started. */
  window?: WinPipeServer;
  /** The pipe stand-in, once started. */
  pipe?: WinPipeServer;
}

let setup: Promise<Setup> | undefined;
const parts: { stop(): Promise<void> }[] = [];
let box: Sandbox | undefined;

function theSetup(): Promise<Setup> {
  setup ??= (async () => {
    const [{ env: wineEnv, vars }, agentExe, pageantExe, relayExe] = await Promise.all([
      wine(),
      publish(await new Builder().binary("bun", "windows-x64")),
      buildWinFixture("win_pageant"),
      buildWinFixture("win_pipe_tcp_relay"),
    ]);
    // Headless Wine creates windows only with the null graphics driver.
    const reg = await runProcess(
      ["wine", "reg", "add", "HKCU\\Software\\Wine\\Drivers", "/v", "Graphics", "/d", "null", "/f"],
      { env: wineEnv, timeoutMs: 60_000 },
    );
    assert.equal(reg.code, 0, reg.stderr);
    box = new Sandbox("w2p-wine-pageant-");
    const peers = await startSshPeers(box.dir);
    parts.push(peers);
    // What ssh-keygen -Y sign names the key by, and what -Y verify trusts.
    writeFileSync(join(box.dir, "key.pub"), peers.publicKey);
    writeFileSync(join(box.dir, "allowed_signers"), `tester ${peers.publicKey}`);
    Object.assign(box.env, vars, { WSL2PROXY_PAGEANT_TIMEOUT_MS: String(PAGEANT_TIMEOUT_MS) });
    box.writeConfig(
      `log_level: debug\nruntime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
        `agent:\n  command: ${JSON.stringify(["wine", agentExe, "agent"])}\n` +
        `sockets:\n  - env_name: SSH_AUTH_SOCK\n    linux_addr: "{runtime_dir}/pageant.sock"\n` +
        `    windows_addr: pageant://\n`,
    );
    const started = await box.cli(["start"], { timeoutMs: 120_000 });
    assert.equal(started.code, 0, started.stderr + box.log());
    const sock = parseShExports(text(started)).SSH_AUTH_SOCK;
    await box.waitAgent(undefined, 90_000);
    return { box, peers, wineEnv, pageantExe, relayExe, sock };
  })();
  return setup;
}

function agentEnv(s: Setup): Record<string, string | undefined> {
  return { PATH: process.env.PATH, HOME: s.box.dir, SSH_AUTH_SOCK: s.sock };
}

async function assertLists(s: Setup): Promise<void> {
  const r = await runProcess(["ssh-add", "-l"], { env: agentEnv(s), timeoutMs: 60_000 });
  assert.equal(r.code, 0, `ssh-add -l: ${r.stderr}\n${s.box.log().slice(-3000)}`);
  assert.ok(text(r).includes(s.peers.fingerprint), `lists ${s.peers.fingerprint}:\n${text(r)}`);
}

/** `count` signatures through the bridge, each verified; returns each one's wall time in ms. */
async function signAndVerify(s: Setup, count: number, tag: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) times.push(await signOne(s, `${tag}-${i}`));
  return times;
}

/** One signature through the bridge, verified; its wall time in ms. */
async function signOne(s: Setup, tag: string): Promise<number> {
  const pub = join(s.box.dir, "key.pub");
  const signers = join(s.box.dir, "allowed_signers");
  const data = join(s.box.dir, `${tag}.txt`);
  writeFileSync(data, `signed through pageant:// (${tag})\n`);
  const t0 = performance.now();
  const signed = await runProcess(
    ["ssh-keygen", "-Y", "sign", "-f", pub, "-n", "file", data],
    { env: agentEnv(s), timeoutMs: 60_000 },
  );
  const ms = performance.now() - t0;
  assert.equal(signed.code, 0, `sign ${tag}: ${signed.stderr}\n${s.box.log().slice(-3000)}`);
  const verified = await runProcess(
    [
      "sh",
      "-c",
      'exec ssh-keygen -Y verify -f "$1" -I tester -n file -s "$2.sig" < "$2"',
      "sh",
      signers,
      data,
    ],
    { timeoutMs: 60_000 },
  );
  assert.equal(verified.code, 0, `verify ${tag}: ${verified.stderr}${text(verified)}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function requests(server: WinPipeServer): number {
  return server.lines().filter((l) => l.startsWith("request ")).length;
}

describe("pageant:// through the Windows agent, under Wine", () => {
  after(async () => {
    await box?.cleanup();
    await Promise.allSettled(parts.map((p) => p.stop()));
    await stopWineServer();
  });

  test(
    "wine pageant - with no Pageant, ssh-add fails and the reset says Pageant is not running",
    { skip: SKIP_WINE, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
    async () => {
      const s = await theSetup();
      const r = await runProcess(["ssh-add", "-l"], { env: agentEnv(s), timeoutMs: 60_000 });
      assert.notEqual(r.code, 0);
      assert.match(s.box.log(), /Pageant is not running: no pipe \\\\\.\\pipe\\pageant\./);
    },
  );

  test(
    "wine pageant - a request Pageant leaves unanswered blocks no other stream and is reset after the timeout, with the reason",
    { skip: SKIP_WINE, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
    async () => {
      const s = await theSetup();
      const slow = await WinPipeServer.start(
        s.pageantExe,
        "window",
        [String(s.peers.agentPort), String(PAGEANT_TIMEOUT_MS * 3)],
        s.wineEnv,
      );
      try {
        const t0 = performance.now();
        const adding = runProcess(["ssh-add", "-l"], { env: agentEnv(s), timeoutMs: 90_000 });
        await slow.waitLine((l) => l === "delaying", 30_000, "the request at the window");
        // SendMessageTimeout waits on a worker thread: meanwhile the agent still answers.
        const status = await s.box.control({ op: "status" });
        assert.deepEqual(status?.agent.openTargets, { "pageant://": 1 });
        const r = await adding;
        const ms = performance.now() - t0;
        assert.notEqual(r.code, 0, text(r));
        assert.ok(ms >= PAGEANT_TIMEOUT_MS * 0.9, `reset after ${ms.toFixed(0)} ms`);
        const reason = new RegExp(`Pageant did not answer within ${PAGEANT_TIMEOUT_MS / 1000} s`);
        assert.match(await s.box.waitLog(reason), reason);
      } finally {
        await slow.stop();
      }
    },
  );

  test(
    `wine pageant - over WM_COPYDATA: ssh-add -l lists the key, ${SIGNATURES} signatures in a row and ${PARALLEL} at once verify`,
    { skip: SKIP_WINE, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
    async () => {
      const s = await theSetup();
      s.window = await WinPipeServer.start(
        s.pageantExe,
        "window",
        [String(s.peers.agentPort)],
        s.wineEnv,
      );
      parts.push(s.window);
      await assertLists(s);
      const times = await signAndVerify(s, SIGNATURES, "copydata");
      // Concurrent streams: each request has its own mapping name.
      await Promise.all(
        Array.from({ length: PARALLEL }, (_, i) => signOne(s, `copydata-parallel-${i}`)),
      );
      // Every request went through the window (ssh-add -l: 1; each signature: 2 or more).
      assert.ok(requests(s.window) >= 1 + SIGNATURES + PARALLEL, s.window.lines().join("\n"));
      assert.ok(
        !s.window.lines().some((l) => l.startsWith("refused")),
        s.window.lines().join("\n"),
      );
      console.log(
        `pageant WM_COPYDATA: ssh-keygen -Y sign median ${median(times).toFixed(0)} ms ` +
          `(min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})`,
      );
    },
  );

  test(
    "wine pageant - the window stand-in is faithful: a mapping not owned by the user is refused",
    { skip: SKIP_WINE, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
    async () => {
      const s = await theSetup();
      assert.ok(s.window, "the WM_COPYDATA case started the window");
      const r = await runProcess(["wine", s.pageantExe, "unowned"], {
        env: s.wineEnv,
        timeoutMs: 60_000,
      });
      assert.equal(text(r).trim(), "refused", r.stderr);
      await s.window.waitLine((l) => l.startsWith("refused owner"), 30_000, "the refusal");
    },
  );

  test(
    `wine pageant - the computed pipe comes first: ssh-add -l lists the key and ${SIGNATURES} signatures verify`,
    { skip: SKIP_WINE, timeout: SETUP_TIMEOUT + CASE_TIMEOUT },
    async () => {
      const s = await theSetup();
      // Wine takes the user name from $USER: the daemon's (the sandbox's) is the one that counts.
      const userEnv = { ...s.wineEnv, USER: s.box.env.USER };
      const named = await runProcess(["wine", s.pageantExe, "name"], {
        env: userEnv,
        timeoutMs: 60_000,
      });
      assert.equal(named.code, 0, named.stderr);
      const name = text(named).trim();
      assert.match(name, new RegExp(`^pageant\\.${s.box.env.USER}\\.[0-9a-f]{64}$`));
      s.pipe = await WinPipeServer.start(s.relayExe, name, [String(s.peers.agentPort)], userEnv);
      parts.push(s.pipe);
      const windowBefore = s.window ? requests(s.window) : 0;
      await assertLists(s);
      const times = await signAndVerify(s, SIGNATURES, "pipe");
      assert.ok(
        s.pipe.lines().filter((l) => l.startsWith("connect ")).length >= 1 + SIGNATURES,
        `${s.pipe.lines().join("\n")}\n${s.box.log().slice(-3000)}`,
      );
      if (s.window) assert.equal(requests(s.window), windowBefore, "nothing went to the window");
      console.log(
        `pageant pipe: ssh-keygen -Y sign median ${median(times).toFixed(0)} ms ` +
          `(min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})`,
      );
    },
  );
});
