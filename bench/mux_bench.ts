/**
 * Mux micro-benchmark: the multiplexer between two processes over a real
 * Unix socket pair, against the same socket pair without it, in one run.
 *
 *   deno run -A bench/mux_bench.ts [--quick] [--json FILE]
 *   bun bench/mux_bench.ts [--quick] [--json FILE]
 *
 * The parent spawns a peer (this file with `--peer SOCKET`, same runtime)
 * that listens on a Unix socket. Each case is one connection: the parent
 * sends a JSON header line naming the case, the peer answers one byte, and
 * then either raw bytes or a mux session (both ends with the same options)
 * flow. Figures:
 *
 * - bulk: one stream (or the raw connection) written for a fixed time in
 *   64 KiB writes, then FIN; the peer counts the bytes and answers the count.
 *   MB/s = bytes / (time until the count arrives), 1 MB = 10^6 bytes.
 * - mixed: 64-byte round trips on one stream (the peer echoes) while another
 *   stream carries bulk data the same way; p50/p99 of the round trips. For
 *   the raw pair the two flows are two connections.
 *
 * Every figure is the median of the repeats; repeats of all cases are
 * interleaved so background load spreads over all of them.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Session } from "../src/mux/mod.ts";
import { getRuntime } from "../src/runtime/mod.ts";
import type { Conn } from "../src/runtime/mod.ts";
import { type Duplex, median, percentile, runtimeLabel, selfArgv } from "./_util.ts";

/** Session options a case varies. */
export interface MuxTuning {
  maxFramePayload: number;
  streamWindow: number;
  maxWriteBatch: number;
}

/** One measured configuration. */
export interface MuxCaseResult {
  /** "raw" or the tuning that was used. */
  label: string;
  tuning: MuxTuning | null;
  bulkMBps: number;
  mixedP50Us: number;
  mixedP99Us: number;
  /** Bulk MB/s reached while the round trips ran. */
  mixedBulkMBps: number;
}

/** What the benchmark prints with `--json`. */
export interface MuxBenchResult {
  runtime: string;
  durationMs: number;
  repeats: number;
  raw: MuxCaseResult;
  /** The defaults (first) and the sweep of frame and window sizes. */
  cases: MuxCaseResult[];
}

const KiB = 1024;
const CHUNK = 64 * KiB;
const PING = 64;

/** The defaults first, then frame sizes at the default window, then windows at the default frame. */
export const SWEEP: MuxTuning[] = [
  { maxFramePayload: 64 * KiB, streamWindow: 256 * KiB, maxWriteBatch: 256 * KiB },
  { maxFramePayload: 16 * KiB, streamWindow: 256 * KiB, maxWriteBatch: 256 * KiB },
  { maxFramePayload: 32 * KiB, streamWindow: 256 * KiB, maxWriteBatch: 256 * KiB },
  { maxFramePayload: 64 * KiB, streamWindow: 64 * KiB, maxWriteBatch: 256 * KiB },
  { maxFramePayload: 64 * KiB, streamWindow: 128 * KiB, maxWriteBatch: 256 * KiB },
  { maxFramePayload: 64 * KiB, streamWindow: 1024 * KiB, maxWriteBatch: 256 * KiB },
  { maxFramePayload: 64 * KiB, streamWindow: 256 * KiB, maxWriteBatch: 64 * KiB },
  { maxFramePayload: 64 * KiB, streamWindow: 256 * KiB, maxWriteBatch: 1024 * KiB },
];

/** Short label for a tuning, e.g. "frame 64K / window 256K / batch 256K". */
export function tuningLabel(t: MuxTuning): string {
  const k = (n: number) => `${n / KiB}K`;
  return `frame ${k(t.maxFramePayload)} / window ${k(t.streamWindow)} / batch ${
    k(t.maxWriteBatch)
  }`;
}

type Header =
  | { mode: "raw-sink" }
  | { mode: "raw-echo" }
  | { mode: "mux"; tuning: MuxTuning };

// ---- the peer ---------------------------------------------------------------

async function runPeer(socketPath: string): Promise<void> {
  const listener = await getRuntime().listenUnix(socketPath);
  process.stdout.write("ready\n");
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
  for await (const conn of listener) {
    servePeer(conn).catch((e) => console.error("peer:", e)).finally(() => conn.close());
  }
}

async function servePeer(conn: Conn): Promise<void> {
  const reader = conn.readable.getReader();
  let line = "";
  while (!line.endsWith("\n")) {
    const { value, done } = await reader.read();
    if (done) return;
    line += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const header = JSON.parse(line) as Header;
  const writer = conn.writable.getWriter();
  await writer.write(new Uint8Array([1]));
  writer.releaseLock();
  if (header.mode === "raw-sink") return await sink(conn);
  if (header.mode === "raw-echo") return await conn.readable.pipeTo(conn.writable);
  const session = await Session.connect(conn.readable, conn.writable, {
    role: "server",
    version: "bench",
    keepaliveMs: 0,
    ...header.tuning,
    onStream: (incoming) => {
      const s = incoming.accept();
      if (incoming.target === "sink") sink(s).catch(() => {});
      else s.readable.pipeTo(s.writable).catch(() => {});
    },
  });
  await session.closed;
}

/** Count everything until EOF, then answer the count (8 bytes) and close. */
async function sink(d: Duplex): Promise<void> {
  let n = 0;
  const reader = d.readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    n += value.byteLength;
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, n);
  const w = d.writable.getWriter();
  await w.write(out);
  await w.close();
}

// ---- the parent -------------------------------------------------------------

export class Peer {
  #child: ReturnType<typeof spawn>;
  readonly socketPath: string;
  readonly #dir: string;

  private constructor(child: ReturnType<typeof spawn>, dir: string, socketPath: string) {
    this.#child = child;
    this.#dir = dir;
    this.socketPath = socketPath;
  }

  static async start(): Promise<Peer> {
    const dir = mkdtempSync(join(tmpdir(), "w2p-muxbench-"));
    const socketPath = join(dir, "peer.sock");
    const [cmd, ...args] = selfArgv(import.meta.url);
    const child = spawn(cmd, [...args, "--peer", socketPath], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`mux bench peer exited (${code})`)));
      child.stdout!.once("data", () => resolve());
    });
    return new Peer(child, dir, socketPath);
  }

  /** A fresh connection to the peer, already switched to `header`'s mode. */
  async connect(header: Header): Promise<Conn> {
    const conn = await getRuntime().connectUnix(this.socketPath);
    const w = conn.writable.getWriter();
    await w.write(new TextEncoder().encode(JSON.stringify(header) + "\n"));
    w.releaseLock();
    const r = conn.readable.getReader();
    const { value, done } = await r.read();
    if (done) throw new Error("the peer closed the connection");
    if (value.byteLength === 1) {
      r.releaseLock();
      return conn;
    }
    // The peer's first bytes (its preface) came with the answer: keep them.
    const rest = value.subarray(1);
    const readable = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(rest),
      pull: async (c) => {
        const { value, done } = await r.read();
        if (done) c.close();
        else c.enqueue(value);
      },
      cancel: (reason) => r.cancel(reason),
    }, { highWaterMark: 0 });
    return { ...conn, readable, close: () => conn.close(), peerUid: () => undefined };
  }

  /** A client session over a fresh connection. */
  async session(tuning: MuxTuning): Promise<{ session: Session; conn: Conn }> {
    const conn = await this.connect({ mode: "mux", tuning });
    const session = await Session.connect(conn.readable, conn.writable, {
      role: "client",
      version: "bench",
      keepaliveMs: 0,
      ...tuning,
    });
    return { session, conn };
  }

  stop(): void {
    this.#child.stdin!.end();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** Write 64 KiB chunks for `ms`, FIN, and wait for the peer's byte count. Returns MB/s. */
async function bulk(d: Duplex, ms: number): Promise<number> {
  const chunk = new Uint8Array(CHUNK).fill(0x5a);
  const reader = d.readable.getReader();
  const counted = (async () => {
    const all = new Uint8Array(8);
    let n = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (n + value.byteLength > 8) throw new Error("bad count reply");
      all.set(value, n);
      n += value.byteLength;
    }
    if (n !== 8) throw new Error(`bad count reply (${n} bytes)`);
    return new DataView(all.buffer).getFloat64(0);
  })();
  const writer = d.writable.getWriter();
  const t0 = performance.now();
  const stop = t0 + ms;
  let sent = 0;
  // As splice() does: wait for room, then hand over the chunk without awaiting it.
  while (performance.now() < stop) {
    await writer.ready;
    writer.write(chunk).catch(() => {});
    sent += CHUNK;
  }
  await writer.close();
  const got = await counted;
  const seconds = (performance.now() - t0) / 1000;
  if (got !== sent) throw new Error(`peer counted ${got} bytes, ${sent} were sent`);
  return sent / seconds / 1e6;
}

/** 64-byte round trips on an echoing duplex. */
class Pinger {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #seq = 0;

  constructor(d: Duplex) {
    this.#reader = d.readable.getReader();
    this.#writer = d.writable.getWriter();
  }

  /** One round trip in µs; every echoed byte is checked. */
  async once(): Promise<number> {
    const tag = this.#seq++ & 0xff;
    const msg = new Uint8Array(PING).fill(tag);
    const t0 = performance.now();
    await this.#writer.write(msg);
    let got = 0;
    while (got < PING) {
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("echo ended early");
      for (const b of value) if (b !== tag) throw new Error("echo mismatch");
      got += value.byteLength;
    }
    if (got !== PING) throw new Error("echo too long");
    return (performance.now() - t0) * 1000;
  }

  /** Round trips until `until()` says stop. */
  async until(until: () => boolean): Promise<number[]> {
    const times: number[] = [];
    while (!until()) times.push(await this.once());
    return times;
  }

  /** Half-close and read to the end. */
  async close(): Promise<void> {
    await this.#writer.close();
    while (!(await this.#reader.read()).done);
  }
}

/** Bulk on `a` for `ms` while `b` does round trips; p50/p99 of those and the bulk rate. */
async function mixed(
  a: Duplex,
  b: Duplex,
  ms: number,
): Promise<{ p50: number; p99: number; bulk: number }> {
  const pinger = new Pinger(b);
  for (let i = 0; i < 50; i++) await pinger.once(); // warm-up, before the bulk starts
  let bulkDone = false;
  const bulkRate = bulk(a, ms).finally(() => (bulkDone = true));
  const t0 = performance.now();
  // Skip the bulk's first 50 ms (it is starting up) and stop before it ends.
  await new Promise((r) => setTimeout(r, 50));
  const times = await pinger.until(() => bulkDone || performance.now() - t0 > ms - 20);
  const rate = await bulkRate;
  await pinger.close();
  if (times.length < 10) {
    throw new Error(`only ${times.length} round trips during the bulk transfer`);
  }
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), bulk: rate };
}

interface Sample {
  bulk: number;
  p50: number;
  p99: number;
  mixedBulk: number;
}

async function rawCase(peer: Peer, ms: number): Promise<Sample> {
  const c1 = await peer.connect({ mode: "raw-sink" });
  const b = await bulk(c1, ms);
  c1.close();
  const c2 = await peer.connect({ mode: "raw-sink" });
  const c3 = await peer.connect({ mode: "raw-echo" });
  const m = await mixed(c2, c3, ms);
  c2.close();
  c3.close();
  return { bulk: b, p50: m.p50, p99: m.p99, mixedBulk: m.bulk };
}

async function muxCase(peer: Peer, tuning: MuxTuning, ms: number): Promise<Sample> {
  const { session, conn } = await peer.session(tuning);
  try {
    const s1 = await session.open("sink");
    const b = await bulk(s1, ms);
    const s2 = await session.open("sink");
    const s3 = await session.open("echo");
    const m = await mixed(s2, s3, ms);
    return { bulk: b, p50: m.p50, p99: m.p99, mixedBulk: m.bulk };
  } finally {
    await session.close();
    conn.close();
  }
}

function summarize(label: string, tuning: MuxTuning | null, samples: Sample[]): MuxCaseResult {
  return {
    label,
    tuning,
    bulkMBps: median(samples.map((s) => s.bulk)),
    mixedP50Us: median(samples.map((s) => s.p50)),
    mixedP99Us: median(samples.map((s) => s.p99)),
    mixedBulkMBps: median(samples.map((s) => s.mixedBulk)),
  };
}

/** Run the raw pair and every tuning `repeats` times, interleaved. */
export async function runMuxBench(
  options: {
    durationMs?: number;
    repeats?: number;
    sweep?: MuxTuning[];
    log?: (line: string) => void;
  } = {},
): Promise<MuxBenchResult> {
  const ms = options.durationMs ?? 600;
  const repeats = options.repeats ?? 3;
  const sweep = options.sweep ?? SWEEP;
  const log = options.log ?? (() => {});
  const peer = await Peer.start();
  try {
    const raw: Sample[] = [];
    const mux: Sample[][] = sweep.map(() => []);
    for (let r = 0; r < repeats; r++) {
      raw.push(await rawCase(peer, ms));
      for (let i = 0; i < sweep.length; i++) mux[i].push(await muxCase(peer, sweep[i], ms));
      log(`  mux bench: repeat ${r + 1}/${repeats} done`);
    }
    return {
      runtime: runtimeLabel(),
      durationMs: ms,
      repeats,
      raw: summarize("raw socket pair", null, raw),
      cases: sweep.map((t, i) => summarize(tuningLabel(t), t, mux[i])),
    };
  } finally {
    peer.stop();
  }
}

/** The result as a Markdown table, with ratios to the raw pair. */
export function muxTable(r: MuxBenchResult): string {
  const f = (n: number) => n.toFixed(0);
  const rows = [r.raw, ...r.cases].map((c) =>
    `| ${c.label} | ${f(c.bulkMBps)} | ${
      c === r.raw ? "1.00" : (c.bulkMBps / r.raw.bulkMBps).toFixed(2)
    } | ` +
    `${f(c.mixedP50Us)} | ${f(c.mixedP99Us)} | ${f(c.mixedBulkMBps)} |`
  );
  return [
    `| ${r.runtime}: configuration | one-stream MB/s | vs raw | RTT p50 under bulk (µs) | RTT p99 under bulk (µs) | bulk MB/s meanwhile |`,
    "|---|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const peerAt = args.indexOf("--peer");
  if (peerAt >= 0) {
    await runPeer(args[peerAt + 1]);
  } else {
    const quick = args.includes("--quick");
    const jsonAt = args.indexOf("--json");
    const result = await runMuxBench({
      durationMs: quick ? 300 : 600,
      repeats: quick ? 1 : 3,
      log: (l) => console.error(l),
    });
    if (jsonAt >= 0) writeFileSync(args[jsonAt + 1], JSON.stringify(result, null, 2));
    console.log(muxTable(result));
    process.exit(0);
  }
}
