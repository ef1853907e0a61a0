/**
 * Turns bench results into the terminal summary and docs/BENCHMARKS.md:
 * every figure as an absolute value and as ratios to (a) and (b), with the
 * targets checked.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type MuxBenchResult, muxTable } from "./mux_bench.ts";
import { ROOT } from "./_tools.ts";

/** (a) direct, (b) socat, or a wsl2proxy variant key ("bun", "deno"). */
export type PathKey = string;

/** Medians for one path. */
export interface PathResult {
  connPerSec: number;
  rttP50Us: number;
  rttP99Us: number;
  bulk1MBps: number;
  bulk16MBps: number;
  mixedP50Us: number;
  mixedP99Us: number;
  mixedBulkMBps: number;
}

/** Daemon + agent memory for one wsl2proxy variant. */
export interface MemoryResult {
  baseMB: number;
  idle1000MB: number;
  idle1000DaemonMB: number;
  idle1000AgentMB: number;
  idle100MB: number;
  stalledMB: number;
  perStalledKiB: number;
  /** Bytes the daemon's session held unread per stalled stream (status --json bufferedIn / 100). */
  daemonBufferedPerStalledKiB: number;
}

/** Everything one bench run produced. */
export interface BenchResults {
  date: string;
  seconds: number;
  repeats: number;
  durationMs: number;
  machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    kernel: string;
    os: string;
    loadBefore: number;
    loadAfter: number;
    deno: string;
    bun: string;
    socat: string;
    gcc: string;
    orchestrator: string;
  };
  variants: { key: string; label: string }[];
  paths: Record<PathKey, PathResult>;
  samples: Record<PathKey, PathResult[]>;
  memory: Record<string, MemoryResult>;
  socatIdle1000MB: number;
  start: Record<string, { medianMs: number; runs: number; tool: string }>;
  mux: MuxBenchResult[];
}

interface Row {
  figure: string;
  value: (k: PathKey) => number | null;
  fmt: (n: number) => string;
  /** Higher is better (throughput) or lower (latency, memory). */
  higherIsBetter: boolean;
  target: string;
  /** Each part of the target, with whether it is met; null for no target. */
  checks: ((k: PathKey) => [string, boolean][]) | null;
  ratios: boolean;
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const one = (n: number) => n.toFixed(1);
const ms = (us: number) => (us / 1000).toFixed(2);

function rows(r: BenchResults): Row[] {
  const p = (k: PathKey) => r.paths[k];
  const a = p("a");
  const b = p("b");
  const isProxy = (k: PathKey) => k !== "a" && k !== "b";
  return [
    {
      figure: "new connections/s (connect, echo 64 B, close; 8 clients)",
      value: (k) => p(k).connPerSec,
      fmt: int,
      higherIsBetter: true,
      target: "≥ 20× (b) and ≥ 50 % of (a)",
      checks: (k) => [
        ["20× (b)", p(k).connPerSec >= 20 * b.connPerSec],
        ["50 % of (a)", p(k).connPerSec >= 0.5 * a.connPerSec],
      ],
      ratios: true,
    },
    {
      figure: "round trip 64 B, p50 (µs)",
      value: (k) => p(k).rttP50Us,
      fmt: int,
      higherIsBetter: false,
      target: "≤ (b) and ≤ 3× (a)",
      checks: (k) => [
        ["≤ (b)", p(k).rttP50Us <= b.rttP50Us],
        ["≤ 3× (a)", p(k).rttP50Us <= 3 * a.rttP50Us],
      ],
      ratios: true,
    },
    {
      figure: "round trip 64 B, p99 (µs)",
      value: (k) => p(k).rttP99Us,
      fmt: int,
      higherIsBetter: false,
      target: "",
      checks: null,
      ratios: true,
    },
    {
      figure: "bulk echo, one stream (MB/s)",
      value: (k) => p(k).bulk1MBps,
      fmt: int,
      higherIsBetter: true,
      target: "≥ 2× (b) and ≥ 60 % of (a)",
      checks: (k) => [
        ["2× (b)", p(k).bulk1MBps >= 2 * b.bulk1MBps],
        ["60 % of (a)", p(k).bulk1MBps >= 0.6 * a.bulk1MBps],
      ],
      ratios: true,
    },
    {
      figure: "bulk echo, 16 parallel streams (MB/s)",
      value: (k) => p(k).bulk16MBps,
      fmt: int,
      higherIsBetter: true,
      target: "≥ 2× (b)",
      checks: (k) => [["2× (b)", p(k).bulk16MBps >= 2 * b.bulk16MBps]],
      ratios: true,
    },
    {
      figure: "round trip 64 B while another stream bulk-transfers, p99 (ms)",
      value: (k) => p(k).mixedP99Us,
      fmt: ms,
      higherIsBetter: false,
      target: "≤ 2 ms",
      checks: (k) => [["≤ 2 ms", p(k).mixedP99Us <= 2000]],
      ratios: true,
    },
    {
      figure: "… p50 of the same (ms)",
      value: (k) => p(k).mixedP50Us,
      fmt: ms,
      higherIsBetter: false,
      target: "",
      checks: null,
      ratios: true,
    },
    {
      figure: "… bulk rate meanwhile (MB/s)",
      value: (k) => p(k).mixedBulkMBps,
      fmt: int,
      higherIsBetter: true,
      target: "",
      checks: null,
      ratios: true,
    },
    {
      figure: "resident memory with 1,000 idle connections (MB)",
      value: (
        k,
      ) => (k === "b" ? r.socatIdle1000MB : isProxy(k) ? r.memory[k]?.idle1000MB ?? null : null),
      fmt: one,
      higherIsBetter: false,
      target: "≤ 150 MB (daemon + agent)",
      checks: (k) => [["≤ 150 MB", (r.memory[k]?.idle1000MB ?? Infinity) <= 150]],
      ratios: false,
    },
    {
      figure: "memory added per stalled reader, 100 stalled (KiB)",
      value: (k) => (isProxy(k) ? r.memory[k]?.perStalledKiB ?? null : null),
      fmt: int,
      higherIsBetter: false,
      target: "≤ 256 KiB (one window)",
      checks: (k) => [["≤ 256 KiB", (r.memory[k]?.perStalledKiB ?? Infinity) <= 256]],
      ratios: false,
    },
    {
      figure: "`start` while running, wall time (ms)",
      value: (k) => (isProxy(k) ? r.start[k]?.medianMs ?? null : null),
      fmt: one,
      higherIsBetter: false,
      target: "≤ 20 ms (compiled binary)",
      checks: (k) => [["≤ 20 ms", (r.start[k]?.medianMs ?? Infinity) <= 20]],
      ratios: false,
    },
  ];
}

function ratio(row: Row, k: PathKey, base: PathKey): string {
  if (!row.ratios) return "";
  const v = row.value(k);
  const w = row.value(base);
  if (v === null || w === null || w === 0) return "";
  return `${(v / w).toFixed(2)}×`;
}

function cell(row: Row, k: PathKey): string {
  const v = row.value(k);
  return v === null || Number.isNaN(v) ? "–" : row.fmt(v);
}

function verdict(row: Row, k: PathKey): string {
  if (!row.checks) return "";
  const checks = row.checks(k);
  if (checks.every(([, ok]) => ok)) return "pass";
  if (checks.length === 1) return "**FAIL**";
  return checks.map(([what, ok]) => `${what}: ${ok ? "pass" : "**FAIL**"}`).join("; ");
}

/** The main table for one wsl2proxy variant. */
function figuresTable(r: BenchResults, k: PathKey): string {
  const lines = [
    "| figure | (a) direct | (b) socat | (c) wsl2proxy | (c)/(a) | (c)/(b) | target | result |",
    "|---|---:|---:|---:|---:|---:|---|---|",
  ];
  for (const row of rows(r)) {
    lines.push(
      `| ${row.figure} | ${cell(row, "a")} | ${cell(row, "b")} | ${cell(row, k)} | ${
        ratio(row, k, "a")
      } | ` +
        `${ratio(row, k, "b")} | ${row.target} | ${verdict(row, k)} |`,
    );
  }
  return lines.join("\n");
}

/** Bun and Deno daemons side by side. */
function sideBySide(r: BenchResults): string {
  const [x, y] = r.variants;
  const lines = [
    `| figure | ${x.label} | /(a) | /(b) | ${y.label} | /(a) | /(b) | target | ${x.key} | ${y.key} |`,
    "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
  ];
  for (const row of rows(r)) {
    lines.push(
      `| ${row.figure} | ${cell(row, x.key)} | ${ratio(row, x.key, "a")} | ${
        ratio(row, x.key, "b")
      } | ` +
        `${cell(row, y.key)} | ${ratio(row, y.key, "a")} | ${
          ratio(row, y.key, "b")
        } | ${row.target} | ` +
        `${verdict(row, x.key)} | ${verdict(row, y.key)} |`,
    );
  }
  return lines.join("\n");
}

function memoryTable(r: BenchResults): string {
  const lines = [
    "| variant | fresh (MB) | 1,000 idle: daemon + agent (MB) | of which daemon / agent | 100 idle (MB) | 100 stalled (MB) | added per stalled reader (KiB) | unread in the daemon's mux per stalled stream (KiB) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const v of r.variants) {
    const m = r.memory[v.key];
    if (!m) continue;
    lines.push(
      `| ${v.label} | ${one(m.baseMB)} | ${one(m.idle1000MB)} | ${one(m.idle1000DaemonMB)} / ${
        one(m.idle1000AgentMB)
      } | ` +
        `${one(m.idle100MB)} | ${one(m.stalledMB)} | ${int(m.perStalledKiB)} | ${
          int(m.daemonBufferedPerStalledKiB)
        } |`,
    );
  }
  lines.push(
    `| (b) socat + one relay per connection, 1,000 idle | | ${one(r.socatIdle1000MB)} | | | | | |`,
  );
  return lines.join("\n");
}

function muxTargets(m: MuxBenchResult): string {
  const d = m.cases[0];
  const share = d.bulkMBps / m.raw.bulkMBps;
  return `Defaults (${d.label}) under ${m.runtime}: one stream ${int(d.bulkMBps)} MB/s = ` +
    `${(share * 100).toFixed(0)} % of the raw pair (target ≥ 60 %: ${
      share >= 0.6 ? "pass" : "**FAIL**"
    }); ` +
    `p99 round trip under bulk ${ms(d.mixedP99Us)} ms (target ≤ 2 ms: ${
      d.mixedP99Us <= 2000 ? "pass" : "**FAIL**"
    }).`;
}

/** A plain-text summary for the terminal. */
export function renderTerminal(r: BenchResults): string {
  const out = [
    `wsl2proxy bench, ${r.machine.cpu}, ${r.machine.cores} cores, medians of ${r.repeats}`,
  ];
  for (const v of r.variants) out.push("", `(c) = ${v.label}`, figuresTable(r, v.key));
  out.push("", "Memory", memoryTable(r));
  for (const m of r.mux) out.push("", muxTable(m), muxTargets(m));
  return out.join("\n");
}

/** docs/BENCHMARKS.md. */
export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const notesPath = join(ROOT, "bench", "NOTES.md");
  const notes = existsSync(notesPath) ? readFileSync(notesPath, "utf8").trim() : "";
  const [primary] = r.variants;
  return [
    "# Benchmarks",
    "",
    `<!-- Generated by bench/bench.ts (\`deno task bench\`); edit bench/NOTES.md or the generator, not this file. -->`,
    "",
    `Generated by \`deno task bench\` on ${r.date.slice(0, 16).replace("T", " ")} UTC in ${
      Math.round(r.seconds)
    } s ` +
    `(orchestrated by ${m.orchestrator}). Every figure is the median of ${r.repeats} interleaved repeats ` +
    `(${r.durationMs} ms per throughput run). Re-run with \`deno task bench\` or \`npx bun bench/bench.ts\`.`,
    "",
    "## Machine",
    "",
    "| CPU | cores | memory | kernel | OS | load average before / after |",
    "|---|---:|---:|---|---|---|",
    `| ${m.cpu} | ${m.cores} | ${m.memoryGiB} GiB | ${m.kernel} | ${m.os} | ${
      m.loadBefore.toFixed(2)
    } / ${m.loadAfter.toFixed(2)} |`,
    "",
    `Runtimes: ${m.deno}; bun ${m.bun}. Tools: ${m.socat}; ${m.gcc}.`,
    "",
    "## What is measured",
    "",
    "Three paths reach the same echo server, in the same run:",
    "",
    "- **(a)** a direct Unix-socket connection to the echo server: the ceiling.",
    "- **(b)** `socat UNIX-LISTEN:…,fork EXEC:'socat STDIO UNIX-CONNECT:…'`: one relay process per connection " +
    "copying stdin/stdout to the echo server, as socat + npiperelay do.",
    "- **(c)** wsl2proxy: the daemon started with `start` in a sandboxed HOME, its agent run on Linux " +
    "(`agent.command: [<binary>, agent]`) dialling the echo server through `unix://`. Run twice: the compiled Bun " +
    "binary for daemon and agent, and Deno from source (`deno run -A main.ts`) for both.",
    "",
    "The echo server (`bench/echo_server.c`) is single-threaded C on epoll, non-blocking and half-close aware. " +
    "The client (`bench/load.c`) is C with blocking sockets and one thread per flow, so neither limits (a); " +
    "both are built with gcc and cached under `.cache/bench/`. Every echoed byte is compared with what was sent. " +
    "1 MB = 10⁶ bytes; bulk MB/s counts payload one way (each byte also travels back).",
    "",
    "- new connections/s: 8 client threads each loop connect, write 64 B, read the echo, close.",
    "- round trip: one connection, 64-byte messages back to back after a warm-up.",
    "- bulk: each stream writes 64 KiB chunks for the run time, then half-closes and reads the echo to EOF.",
    "- interactive under bulk: 64-byte round trips on one connection while another runs bulk.",
    "- memory: VmRSS of the daemon and agent pids (from `status --json`), each part on a freshly restarted " +
    "daemon, read after 3 s in which a garbage collection usually runs (lowest of the last second's samples). " +
    "Stalled readers: 100 " +
    "connections to a source that streams as fast as it may once asked, whose client never reads; the figure is " +
    "(RSS stalled − RSS with the same 100 connections idle) / 100.",
    "- `start` while running: wall time of the compiled binary's `start` against a running daemon " +
    `(${r.start[primary.key]?.tool ?? "hyperfine"}, median of ${
      r.start[primary.key]?.runs ?? "?"
    } runs), with a config file unchanged for over 2 s, as in every new shell. Right after an edit ` +
    "the config is parsed afresh, which costs ~5 ms more (see the notes).",
    "",
    `## Figures and targets: (c) = ${primary.label}`,
    "",
    figuresTable(r, primary.key),
    "",
    "## The Deno and Bun daemons side by side",
    "",
    sideBySide(r),
    "",
    "### Memory detail",
    "",
    memoryTable(r),
    "",
    "## Mux micro-benchmark (`bench/mux_bench.ts`)",
    "",
    "The multiplexer between two processes over a real Unix socket pair, against the same socket pair without it, " +
    "in one run per runtime. One-stream MB/s: one stream written in 64 KiB chunks, one way. Round trips: 64 B on " +
    "one stream while another stream carries bulk data (for the raw pair, two connections). The first mux row is " +
    "the default configuration; the others vary one setting at a time (frame size, stream window, write batch).",
    "",
    ...r.mux.flatMap((x) => [muxTable(x), "", muxTargets(x), ""]),
    notes ? "## Notes\n\n" + notes + "\n" : "",
  ].join("\n");
}
