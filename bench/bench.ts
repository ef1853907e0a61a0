/**
 * The bridge benchmark: `deno task bench` (or `bun bench/bench.ts`).
 *
 * Three paths reach the same C echo server in the same run:
 *   (a) a direct Unix-socket connection, the ceiling;
 *   (b) socat UNIX-LISTEN,fork + a per-connection `socat STDIO UNIX-CONNECT`
 *       relay (socat + npiperelay);
 *   (c) wsl2proxy: daemon and agent both on Linux, as the compiled Bun
 *       binary and as Deno from source.
 * The C load client drives every path the same way and checks every echoed
 * byte. Then the mux micro-benchmark runs under Deno and Bun. The results go
 * to the terminal and to docs/BENCHMARKS.md.
 *
 * Flags: --quick (one short repeat), --repeats N, --no-docs, --skip-mux,
 * --json FILE (all results), --render (measure nothing: write docs/BENCHMARKS.md
 * again from the last run's results, e.g. after editing bench/NOTES.md).
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type MuxBenchResult } from "./mux_bench.ts";
import {
  type BenchResults,
  type MemoryResult,
  type PathKey,
  type PathResult,
  renderMarkdown,
  renderTerminal,
} from "./_report.ts";
import { SETTLE_MS } from "../src/config/config_cache.ts";
import { ProxySandbox, type ProxyVariant } from "./_sandbox.ts";
import {
  Background,
  buildBunBinary,
  buildC,
  CACHE,
  commandOutput,
  HeldLoad,
  ROOT,
  runLoad,
  toolPath,
} from "./_tools.ts";
import { median, pause, processTree, rssOf, runtimeLabel } from "./_util.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const flagValue = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const repeats = Number(flagValue("--repeats") ?? (quick ? 1 : 3));
const ms = quick ? 800 : 1500;
const rttSamples = quick ? 1000 : 3000;
const log = (line: string) => console.error(line);

/** What one repeat of one path measures. */
export async function measurePath(load: string, sock: string): Promise<PathResult> {
  const conn = await runLoad(load, ["conn", sock, ms, 8]);
  const rtt = await runLoad(load, ["rtt", sock, rttSamples]);
  const bulk1 = await runLoad(load, ["bulk", sock, ms, 1]);
  const bulk16 = await runLoad(load, ["bulk", sock, ms, 16]);
  const mixed = await runLoad(load, ["mixed", sock, ms]);
  return {
    connPerSec: conn.perSec,
    rttP50Us: rtt.rtt.p50Us,
    rttP99Us: rtt.rtt.p99Us,
    bulk1MBps: bulk1.mbPerSec,
    bulk16MBps: bulk16.mbPerSec,
    mixedP50Us: mixed.rtt.p50Us,
    mixedP99Us: mixed.rtt.p99Us,
    mixedBulkMBps: mixed.bulkMbPerSec,
  };
}

function medianOf(results: PathResult[]): PathResult {
  const keys = Object.keys(results[0]) as (keyof PathResult)[];
  return Object.fromEntries(
    keys.map((k) => [k, median(results.map((r) => r[k]))]),
  ) as unknown as PathResult;
}

/**
 * RSS of daemon + agent after things settle: sampled every 250 ms for
 * `settleMs` (a garbage collection usually runs meanwhile), then the lowest
 * of the last second's samples.
 */
async function settledRss(box: ProxySandbox, settleMs = 3000): Promise<number> {
  const samples: number[] = [];
  for (let t = 0; t <= settleMs; t += 250) {
    samples.push((await box.rss()).total);
    await pause(250);
  }
  return Math.min(...samples.slice(-4));
}

/**
 * Memory of daemon + agent. Each part runs on a freshly restarted daemon, so
 * memory freed by one part cannot hide what the next one needs: fresh; with
 * 1,000 idle connections (each echoed 64 B once); with 100 connections to
 * the streaming source, idle and then with their readers stalled.
 */
async function measureMemory(load: string, box: ProxySandbox): Promise<MemoryResult> {
  await box.restart();
  // A few connections first, so lazily loaded code is not counted as per-connection memory.
  await runLoad(load, ["conn", box.echoSock, 200, 2]);
  const base = await settledRss(box);
  const hold = new HeldLoad(load, ["hold", box.echoSock, 1000]);
  await hold.line();
  const idle1000 = await settledRss(box);
  const rss = await box.rss();
  await hold.stop();

  await box.restart();
  await runLoad(load, ["conn", box.echoSock, 200, 2]);
  const stall = new HeldLoad(load, ["stall", box.sourceSock, 100]);
  if ((await stall.line()) !== "idle") throw new Error("stall: expected idle");
  const idle100 = await settledRss(box);
  stall.send("go");
  if ((await stall.line()) !== "stalled") throw new Error("stall: expected stalled");
  await pause(500);
  const stalled = await settledRss(box);
  const status = await box.status();
  const bufferedIn = status.agent.session?.bufferedIn ?? 0;
  await stall.stop();
  await box.restart();
  return {
    baseMB: base / 1e6,
    idle1000MB: idle1000 / 1e6,
    idle1000DaemonMB: rss.daemon / 1e6,
    idle1000AgentMB: rss.agent / 1e6,
    idle100MB: idle100 / 1e6,
    stalledMB: stalled / 1e6,
    perStalledKiB: (stalled - idle100) / 100 / 1024,
    daemonBufferedPerStalledKiB: bufferedIn / 100 / 1024,
  };
}

/** RSS of socat and all its relays with 1,000 idle connections through (b). */
async function measureSocatMemory(load: string, socat: Background, sock: string): Promise<number> {
  const hold = new HeldLoad(load, ["hold", sock, 1000]);
  await hold.line(120_000);
  await pause(300);
  const total = processTree(socat.pid).reduce((sum, pid) => sum + rssOf(pid), 0);
  await hold.stop();
  return total / 1e6;
}

/** Wall time of `start` while a daemon runs: hyperfine if installed, else our own loop. Median in ms. */
function measureStart(box: ProxySandbox): { medianMs: number; runs: number; tool: string } {
  const argv = [...box.variant.argv, "start"];
  const runs = quick ? 10 : 40;
  if (commandOutput(["hyperfine", "--version"])) {
    const out = join(box.dir, "hyperfine.json");
    const r = spawnSync("hyperfine", [
      "-N",
      "--warmup",
      "5",
      "--runs",
      String(runs),
      "--export-json",
      out,
      argv.join(" "),
    ], {
      env: box.env,
      encoding: "utf8",
    });
    if (r.status === 0) {
      const j = JSON.parse(readFileSync(out, "utf8"));
      return { medianMs: j.results[0].median * 1000, runs, tool: "hyperfine" };
    }
  }
  const times: number[] = [];
  for (let i = 0; i < runs + 5; i++) {
    const t0 = performance.now();
    const r = spawnSync(argv[0], argv.slice(1), { env: box.env });
    if (r.status !== 0) throw new Error(`start failed: ${r.stderr}`);
    if (i >= 5) times.push(performance.now() - t0);
  }
  return { medianMs: median(times), runs, tool: "spawnSync loop" };
}

/** Run the mux micro-benchmark under one runtime, as a child process. */
function runMuxBench(runtime: "deno" | "bun"): MuxBenchResult {
  const out = join(CACHE, `mux-${runtime}.json`);
  const script = join(ROOT, "bench", "mux_bench.ts");
  const argv = runtime === "deno"
    ? [toolPath("deno"), "run", "-A", "--quiet", script]
    : [toolPath("bun"), script];
  const r = spawnSync(argv[0], [...argv.slice(1), "--json", out, ...(quick ? ["--quick"] : [])], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    cwd: ROOT,
  });
  if (r.status !== 0) throw new Error(`mux bench under ${runtime} failed`);
  return JSON.parse(readFileSync(out, "utf8"));
}

function machine(): BenchResults["machine"] {
  const cpuModel = cpus()[0]?.model ?? "unknown";
  return {
    cpu: cpuModel.trim(),
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    os: commandOutput(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]) || process.platform,
    loadBefore: loadavg()[0],
    loadAfter: 0,
    deno: commandOutput([toolPath("deno"), "--version"]).split("\n")[0],
    bun: commandOutput([toolPath("bun"), "--version"]),
    socat: commandOutput(["socat", "-V"]).split("\n").find((l) => l.startsWith("socat version")) ??
      "socat",
    gcc: commandOutput(["gcc", "--version"]).split("\n")[0],
    orchestrator: runtimeLabel(),
  };
}

/** docs/BENCHMARKS.md from `results` (with bench/NOTES.md as it is now). */
function writeDoc(results: BenchResults): void {
  const doc = join(ROOT, "docs", "BENCHMARKS.md");
  writeFileSync(doc, renderMarkdown(results));
  // The repository's formatter pads tables and wraps lines; keep the file as it would.
  spawnSync(toolPath("deno"), ["fmt", "--quiet", doc], { cwd: ROOT });
  log("bench: wrote docs/BENCHMARKS.md");
}

async function main(): Promise<void> {
  if (args.includes("--render")) {
    return writeDoc(JSON.parse(readFileSync(join(CACHE, "last.json"), "utf8")));
  }
  const started = performance.now();
  const info = machine();
  log(
    `bench: ${info.cpu}, ${info.cores} cores, load ${
      info.loadBefore.toFixed(2)
    }; orchestrated by ${info.orchestrator}`,
  );
  const echoBin = buildC("echo_server");
  const load = buildC("load", ["-pthread"]);
  log("bench: building the compiled Bun binary (scripts/build.ts, cached)");
  const bunBin = await buildBunBinary();

  const dir = mkdtempSync(join(tmpdir(), "w2p-bench-"));
  const echoPath = join(dir, "echo.sock");
  const sourcePath = join(dir, "source.sock");
  const socatPath = join(dir, "socat.sock");
  const echo = await Background.start("echo server", [echoBin, echoPath, sourcePath], "ready");
  const socat = await Background.start("socat", [
    "socat",
    `UNIX-LISTEN:${socatPath},fork,backlog=4096`,
    `EXEC:socat STDIO UNIX-CONNECT\\:${echoPath}`,
  ]);
  const variants: ProxyVariant[] = [
    { key: "bun", label: "wsl2proxy, Bun compiled", argv: [bunBin] },
    {
      key: "deno",
      label: "wsl2proxy, Deno from source",
      argv: [toolPath("deno"), "run", "-A", "--quiet", join(ROOT, "main.ts")],
    },
  ];
  const boxes: ProxySandbox[] = [];
  try {
    for (const v of variants) {
      log(`bench: starting ${v.label}`);
      boxes.push(await ProxySandbox.start(v, echoPath, sourcePath));
    }
    await pause(200); // let socat's listener come up
    // `start` in a new shell finds the config unchanged for a while, so the parse cache
    // applies; a config written less than SETTLE_MS ago is parsed every time.
    await pause(SETTLE_MS + 100);
    const start: BenchResults["start"] = {};
    const memory: BenchResults["memory"] = {};
    for (const box of boxes) {
      log(`bench: \`start\` while running, ${box.variant.label}`);
      start[box.variant.key] = measureStart(box);
      log(`bench: memory, ${box.variant.label}`);
      memory[box.variant.key] = await measureMemory(load, box);
    }
    log("bench: memory, socat with 1,000 idle connections");
    const socatIdle1000MB = await measureSocatMemory(load, socat, socatPath);

    const paths: [PathKey, string][] = [
      ["a", echoPath],
      ["b", socatPath],
      ...boxes.map((b) => [b.variant.key as PathKey, b.echoSock] as [PathKey, string]),
    ];
    const samples = new Map<PathKey, PathResult[]>(paths.map(([k]) => [k, []]));
    for (let r = 0; r < repeats; r++) {
      for (const [key, sock] of paths) {
        log(`bench: repeat ${r + 1}/${repeats}, path ${key}`);
        samples.get(key)!.push(await measurePath(load, sock));
      }
    }
    const results = Object.fromEntries(
      [...samples].map(([k, v]) => [k, medianOf(v)]),
    ) as BenchResults["paths"];

    const mux: MuxBenchResult[] = [];
    if (!args.includes("--skip-mux")) {
      for (const rt of ["deno", "bun"] as const) {
        log(`bench: mux micro-benchmark under ${rt}`);
        mux.push(runMuxBench(rt));
      }
    }
    info.loadAfter = loadavg()[0];
    const all: BenchResults = {
      date: new Date().toISOString(),
      seconds: (performance.now() - started) / 1000,
      repeats,
      durationMs: ms,
      machine: info,
      variants: variants.map(({ key, label }) => ({ key, label })),
      paths: results,
      samples: Object.fromEntries(samples) as BenchResults["samples"],
      memory,
      socatIdle1000MB,
      start,
      mux,
    };
    writeFileSync(join(CACHE, "last.json"), JSON.stringify(all, null, 2));
    const jsonOut = flagValue("--json");
    if (jsonOut) writeFileSync(jsonOut, JSON.stringify(all, null, 2));
    console.log(renderTerminal(all));
    if (!args.includes("--no-docs")) writeDoc(all);
  } finally {
    for (const b of boxes) await b.stop();
    await socat.stop();
    await echo.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
