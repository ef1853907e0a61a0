/**
 * Integrity soak through the real daemon and agent processes: for a fixed
 * time (WSL2PROXY_SOAK_SECONDS, default 90) 20 workers keep opening
 * connections to a Unix echo server behind the bridge, with random sizes up to
 * 2 MiB, half-closes, full closes and client resets, while the agent is
 * SIGKILLed every ~10 s. Every completed transfer must be byte-exact, every
 * transfer must end within a bound, and only transfers overlapping a restart
 * may be cut short. Afterwards the daemon's open descriptors, memory and
 * connection count must be back at their post-warm-up baseline.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { getRuntime } from "../src/runtime/mod.ts";
import type { Conn } from "../src/runtime/mod.ts";
import type { DaemonStatus } from "../src/daemon/daemon.ts";
import { agentCommandYaml, parseShExports, Sandbox, text } from "./helpers/cli.ts";
import { startEchoServer } from "./helpers/echo_server.ts";
import { pattern, within } from "./helpers/mux.ts";
import { fdTargets, mib, vmRss } from "./helpers/memory.ts";

const SOAK_SECONDS = Number(process.env.WSL2PROXY_SOAK_SECONDS ?? 90);
const WARMUP_SECONDS = 8;
const WORKERS = 20;
const KILL_EVERY_MS = 10_000;
const MAX_SIZE = 2 << 20;
/** A 2 MiB transfer takes well under a second here; a minute means it hung. */
const TRANSFER_BOUND_MS = 60_000;
/** Source bytes: each transfer sends a slice at a random offset, so two transfers' bytes never look alike. */
const SOURCE = pattern(2 * MAX_SIZE, 0x50a4);

type Mode = "halfClose" | "fullClose" | "reset";

/** Counters for the report. */
interface Counts {
  completed: number;
  reset: number;
  cutByRestart: number;
  bytesSent: number;
  bytesReceived: number;
  restarts: number;
  byMode: Record<Mode, number>;
}

/** What the agent is doing, as the workers need to know it to classify a short transfer. */
interface AgentWatch {
  /** Bumped on every injected kill. */
  kills: number;
  /** True from a kill until the replacement agent is connected. */
  down: boolean;
}

function random(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** 30 % tiny (under 1 KiB, often 0), 40 % up to 256 KiB, 30 % up to 2 MiB. */
function pickSize(r: (n: number) => number): number {
  const bucket = r(10);
  if (bucket < 3) return r(4) === 0 ? 0 : r(1024);
  if (bucket < 7) return r(256 * 1024 + 1);
  return r(MAX_SIZE + 1);
}

/**
 * One connection. Resolves with how it ended; throws only for a broken
 * invariant (wrong bytes, a short transfer with no restart to blame, a hang).
 */
async function transfer(
  sock: string,
  r: (n: number) => number,
  agent: AgentWatch,
  counts: Counts,
): Promise<void> {
  const rt = getRuntime();
  const size = pickSize(r);
  const mode: Mode = (["halfClose", "halfClose", "fullClose", "reset"] as const)[r(4)];
  const offset = r(MAX_SIZE);
  const data = SOURCE.subarray(offset, offset + size);
  const cutAt = mode === "reset" ? r(size + 1) : size; // reset: destroy once this much is echoed back
  const killsAtStart = agent.kills;
  const downAtStart = agent.down;
  let conn: Conn | null = null;
  let received = 0;
  let sent = 0;
  let failure: unknown = null;

  const run = async () => {
    try {
      conn = await rt.connectUnix(sock);
    } catch (e) {
      // Bun reports a connection the daemon closed at once (no agent, dial failed) as a failed connect.
      failure = e;
      return;
    }
    const c = conn;
    const writing = (async () => {
      const w = c.writable.getWriter();
      try {
        for (let o = 0; o < size && !(mode === "reset" && received >= cutAt); o += 64 * 1024) {
          const piece = data.subarray(o, o + 64 * 1024);
          await w.write(piece);
          sent += piece.byteLength;
        }
        if (mode === "halfClose") await w.close();
      } finally {
        w.releaseLock();
      }
    })();
    const reading = (async () => {
      const reader = c.readable.getReader();
      try {
        for (;;) {
          if (mode === "fullClose" && received >= size) return; // all echoed: close without a FIN, below
          if (mode === "reset" && received >= cutAt) return c.close(); // destroy mid-transfer (fails the writer too)
          const { value, done } = await reader.read();
          if (done) return;
          const want = data.subarray(received, received + value.byteLength);
          if (value.byteLength > want.byteLength || Buffer.compare(value, want) !== 0) {
            throw new Error(`wrong bytes at offset ${received} of a ${size}-byte ${mode} transfer`);
          }
          received += value.byteLength;
        }
      } finally {
        reader.releaseLock();
      }
    })();
    // A reset or an early close may fail the writer (EPIPE) or the reader (ECONNRESET): both are
    // "the connection ended"; what counts is how many bytes came back, checked below.
    const [w, rd] = await Promise.allSettled([writing, reading]);
    if (rd.status === "rejected" && /wrong bytes/.test(String((rd.reason as Error)?.message))) {
      throw rd.reason;
    }
    failure = rd.status === "rejected" ? rd.reason : w.status === "rejected" ? w.reason : null;
  };

  try {
    await within(TRANSFER_BOUND_MS, run(), `a ${size}-byte ${mode} transfer`);
  } finally {
    (conn as Conn | null)?.close();
  }
  counts.bytesSent += sent;
  counts.bytesReceived += received;
  counts.byMode[mode]++;
  if (mode === "reset") {
    counts.reset++;
    return;
  }
  if (received === size) {
    counts.completed++;
    return;
  }
  if (agent.kills !== killsAtStart || downAtStart || agent.down) {
    counts.cutByRestart++;
    return;
  }
  throw new Error(
    `a ${size}-byte ${mode} transfer ended after ${received} bytes with no agent restart to blame` +
      (failure
        ? `: ${(failure as Error).name} ${(failure as { code?: string }).code ?? ""} ${
          (failure as Error).message ?? failure
        }`
        : ""),
  );
}

/** Run `workers` loops of transfers until `deadline` (performance.now() ms); collect broken invariants. */
async function load(
  sock: string,
  deadline: number,
  agent: AgentWatch,
  counts: Counts,
  seed: number,
): Promise<string[]> {
  const failures: string[] = [];
  await Promise.all(Array.from({ length: WORKERS }, async (_, i) => {
    const r = random(seed * 1000 + i + 1);
    while (performance.now() < deadline && failures.length < 10) {
      try {
        await transfer(sock, r, agent, counts);
      } catch (e) {
        const err = e as Error & { code?: string; errno?: number };
        failures.push(`worker ${i}: ${err.name}${err.code ? ` ${err.code}` : ""}: ${err.message}`);
      }
    }
  }));
  return failures;
}

/** SIGKILL the agent (pid from `status --json`) and wait for its replacement. */
async function killAgent(box: Sandbox, agent: AgentWatch, counts: Counts): Promise<void> {
  const status = JSON.parse(text(await box.cli(["status", "--json"]))) as DaemonStatus;
  const pid = status.agent.pid;
  assert.ok(pid, `an agent is running: ${JSON.stringify(status.agent)}`);
  agent.down = true;
  agent.kills++;
  process.kill(pid, "SIGKILL");
  // The restart backoff doubles while agents live under 30 s (100 ms, 200 ms, ... 10 s).
  await box.waitAgent(pid, 30_000);
  agent.down = false;
  counts.restarts++;
}

/** Kill the agent every KILL_EVERY_MS until `deadline`. */
async function injectRestarts(
  box: Sandbox,
  deadline: number,
  agent: AgentWatch,
  counts: Counts,
): Promise<void> {
  for (;;) {
    const at = performance.now() + KILL_EVERY_MS;
    if (at > deadline - 2000) return; // leave the last seconds to a settled agent
    await new Promise((resolve) => setTimeout(resolve, at - performance.now())); // the injection schedule
    await killAgent(box, agent, counts);
  }
}

/**
 * The status once no connection is open. Connections close inside the daemon
 * a few event-loop turns after the client saw its end, and the control socket
 * has no "wait until idle" request, so this asks again after each answer.
 */
async function idleStatus(box: Sandbox, timeoutMs = 10_000): Promise<DaemonStatus> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const s = await box.control({ op: "status" });
    assert.ok(s, "the daemon answers");
    if (s.sockets.every((x) => x.openConnections === 0) || performance.now() > deadline) return s;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The daemon's descriptors by kind, sandbox paths shortened, leaving out accepted
 * control connections: those answer our own status requests and close a few
 * event-loop turns after the reply.
 */
function daemonFds(box: Sandbox, pid: number): string[] {
  return fdTargets(pid)
    .filter((t) => !(t.endsWith("/control.sock")))
    .map((t) => t.replaceAll(box.dir, "<sandbox>").replace(/^(pipe|socket):\[\d+\]$/, "$1")) // a restarted agent has new pipes
    .sort();
}

/**
 * The daemon's VmRSS at rest: the lowest of samples over a few seconds. Right
 * after a burst a runtime still holds freed heap (Bun gives back up to 100 MiB
 * a few seconds into idling, V8 after about eight), and there is no event for
 * "the collector has given memory back", so this samples on a timer.
 */
async function settledRss(pid: number, windowMs = 3000): Promise<number> {
  let low = vmRss(pid);
  for (let t = 0; t < windowMs; t += 250) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    low = Math.min(low, vmRss(pid));
  }
  return low;
}

/** Sample VmRSS until it is at most `limit` or `timeoutMs` passed; the lowest value seen. */
async function rssBackTo(pid: number, limit: number, timeoutMs = 15_000): Promise<number> {
  let low = vmRss(pid);
  for (let t = 0; low > limit && t < timeoutMs; t += 250) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    low = Math.min(low, vmRss(pid));
  }
  return low;
}

function newCounts(): Counts {
  return {
    completed: 0,
    reset: 0,
    cutByRestart: 0,
    bytesSent: 0,
    bytesReceived: 0,
    restarts: 0,
    byMode: { halfClose: 0, fullClose: 0, reset: 0 },
  };
}

describe("bridge soak", () => {
  test(
    `soak - ${WORKERS} workers for ${SOAK_SECONDS} s with random sizes, half-closes, resets and an agent SIGKILL every 10 s stay byte-exact and return to the baseline`,
    { timeout: (SOAK_SECONDS + WARMUP_SECONDS) * 1000 + 180_000 },
    async () => {
      const box = new Sandbox("w2p-soak-");
      const echo = await startEchoServer(join(box.dir, "echo.sock"));
      try {
        box.writeConfig(
          `log_level: info\nruntime_dir: ${JSON.stringify(box.runtimeDir)}\n` +
            `agent:\n  command: ${agentCommandYaml()}\n` +
            `sockets:\n  - env_name: ECHO_SOCK\n    linux_addr: "{runtime_dir}/echo.sock"\n` +
            `    windows_addr: ${JSON.stringify(`unix://${echo.path}`)}\n`,
        );
        const started = await box.cli(["start"]);
        assert.equal(started.code, 0, started.stderr);
        const sock = parseShExports(text(started)).ECHO_SOCK;
        const first = await box.waitAgent();
        const daemonPid = first.pid;
        const agent: AgentWatch = { kills: 0, down: false };

        // Warm-up: the same load and one restart, so that the baseline includes
        // JIT code, buffer pools and the runtime's lazily made descriptors.
        const warm = newCounts();
        const warmFailures = await Promise.all([
          load(sock, performance.now() + WARMUP_SECONDS * 1000, agent, warm, 1),
          new Promise((resolve) => setTimeout(resolve, WARMUP_SECONDS * 500)).then(() =>
            killAgent(box, agent, warm)
          ).then(() => []),
        ]);
        assert.deepEqual(warmFailures.flat(), []);
        await box.waitAgent();
        await idleStatus(box);
        const base = { fds: daemonFds(box, daemonPid), rss: await settledRss(daemonPid) };

        const t0 = performance.now();
        const deadline = t0 + SOAK_SECONDS * 1000;
        const counts = newCounts();
        const [failures] = await Promise.all([
          load(sock, deadline, agent, counts, 2),
          injectRestarts(box, deadline, agent, counts),
        ]);
        const soakMs = performance.now() - t0;
        await box.waitAgent();
        const status = await idleStatus(box);
        // The heap reached its working size in the warm-up (the same load); once the
        // collector has given back what the burst freed, what is left is allocator
        // slack of a few MiB. Leaked connections would each hold buffers (up to a
        // 256 KiB window) over ~20,000 connections, far above this; leaked sockets
        // and streams are caught exactly by the checks below.
        const rssTolerance = Math.max(16 << 20, base.rss * 0.1);
        const after = {
          fds: daemonFds(box, daemonPid),
          rss: await rssBackTo(daemonPid, base.rss + rssTolerance),
        };

        console.log(`soak: ${
          JSON.stringify({
            runtime: getRuntime().name,
            seconds: Math.round(soakMs / 100) / 10,
            ...counts,
            daemonFds: `${base.fds.length} -> ${after.fds.length}`,
            vmRss: `${mib(base.rss)} -> ${mib(after.rss)}`,
          })
        }`);
        assert.deepEqual(failures, [], "every transfer was byte-exact and ended in time");
        assert.ok(
          counts.completed > 0 && counts.reset > 0,
          "transfers completed and resets happened",
        );
        // One kill per 10 s, each followed by a restart backoff that doubles (agents live under 30 s).
        assert.ok(
          counts.restarts >= Math.max(1, Math.floor(SOAK_SECONDS / 20)),
          `agent restarts: ${counts.restarts}`,
        );
        assert.equal(status.agent.state, "running");
        assert.equal(status.sockets[0].openConnections, 0, "no connection open in the daemon");
        assert.equal(status.agent.session?.openStreams, 0, "no stream open in the agent session");
        assert.equal(
          status.agent.session?.bufferedIn,
          0,
          "no unread bytes buffered in the session",
        );
        assert.deepEqual(
          after.fds,
          base.fds,
          "the daemon's open descriptors are back at the baseline",
        );
        assert.ok(
          after.rss <= base.rss + rssTolerance,
          `VmRSS grew by ${mib(after.rss - base.rss)} (tolerance ${mib(rssTolerance)})`,
        );
      } finally {
        await box.cleanup();
        await echo.close();
      }
    },
  );
});
