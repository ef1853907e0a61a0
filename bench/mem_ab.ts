/**
 * Memory A/B of the compiled Bun build: `deno run -A bench/mem_ab.ts VARIANT...`.
 *
 * Each variant is `LABEL[@BINARY][:ENV=VALUE[,ENV=VALUE...]]`: the release
 * binary (or BINARY) run with that environment, which the daemon inherits from
 * `start` and the agent from the daemon. The variants run interleaved, round
 * after round, so that they see the same machine load; each figure is the
 * median over the rounds. Per round and variant, on a fresh daemon and agent:
 * RSS (split into anonymous and file-backed) fresh and with 1,000 idle
 * connections, then connections/s, round trips, bulk and round trips under bulk
 * (bench.ts's load client), with the daemon's and agent's CPU time per
 * connection and per GB (the figure that holds still under other people's
 * load), then RSS again once that load has settled.
 *
 * Each binary is first copied with O_DIRECT (`dd oflag=direct`), so that every
 * variant is read from disk by its first run, as after a reboot. How a binary
 * got into the page cache changes its RSS: one written through the cache (by
 * the build, or `cp`) sits in large folios, which are mapped whole when the
 * program touches any page of them, ~10 MB more for daemon + agent
 * (bench/NOTES.md).
 *
 * Flags: --rounds N (default 3), --idle N (connections held, default 1000),
 * --no-paths (memory only), --quick (shorter load runs), --json FILE,
 * --cached (run the binaries where they are, as the page cache holds them).
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { measurePath } from "./bench.ts";
import type { PathResult } from "./_report.ts";
import { cpuSecondsOf } from "./_util.ts";
import { ProxySandbox, type ProxyVariant } from "./_sandbox.ts";
import { Background, buildBunBinary, buildC, HeldLoad, runLoad } from "./_tools.ts";
import { median, pause, type RssParts } from "./_util.ts";

const args = process.argv.slice(2);
const flagValue = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const rounds = Number(flagValue("--rounds") ?? 3);
const idleCount = Number(flagValue("--idle") ?? 1000);
const withPaths = !args.includes("--no-paths");
const cached = args.includes("--cached");
const valueFlags = new Set(["--rounds", "--idle", "--json"]);
const specs = args.filter((a, i) => !a.startsWith("--") && !valueFlags.has(args[i - 1]));
const log = (line: string) => console.error(line);

/** Daemon and agent memory at one moment, in bytes. */
interface Snapshot {
  daemon: RssParts;
  agent: RssParts;
}

/** What one round measured for one variant. */
interface Sample {
  fresh: Snapshot;
  idle: Snapshot;
  afterLoad?: Snapshot;
  path?: PathResult;
  /** Daemon + agent CPU µs per connection (connect, echo 64 B, close). */
  cpuUsPerConn?: number;
  /** Daemon + agent CPU seconds per GB through one bulk stream. */
  cpuSPerGB?: number;
}

/** `LABEL[@BINARY][:K=V,...]` → a sandbox variant. */
function parseSpec(spec: string, defaultBin: string): ProxyVariant {
  const colon = spec.indexOf(":");
  const head = colon < 0 ? spec : spec.slice(0, colon);
  const envText = colon < 0 ? "" : spec.slice(colon + 1);
  const [label, bin] = head.split("@");
  const env = Object.fromEntries(
    envText.split(",").filter(Boolean).map((kv) => {
      const eq = kv.indexOf("=");
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    }),
  );
  return { key: label, label: spec, argv: [bin || defaultBin], env };
}

const total = (s: Snapshot) => s.daemon.rss + s.agent.rss;

/**
 * Memory once things settle: sampled every 250 ms for 3 s (a collection
 * usually runs meanwhile); the sample with the lowest total of the last four.
 */
async function settled(box: ProxySandbox): Promise<Snapshot> {
  const samples: Snapshot[] = [];
  for (let t = 0; t <= 3000; t += 250) {
    samples.push(await box.rssParts());
    await pause(250);
  }
  return samples.slice(-4).reduce((a, b) => (total(b) < total(a) ? b : a));
}

async function measureOnce(
  load: string,
  variant: ProxyVariant,
  echoPath: string,
  sourcePath: string,
): Promise<Sample> {
  const box = await ProxySandbox.start(variant, echoPath, sourcePath);
  try {
    // A few connections first, as bench.ts does, so lazily loaded code is in the fresh figure.
    await runLoad(load, ["conn", box.echoSock, 200, 2]);
    const fresh = await settled(box);
    const hold = new HeldLoad(load, ["hold", box.echoSock, idleCount]);
    await hold.line(120_000);
    const idle = await settled(box);
    await hold.stop();
    if (!withPaths) return { fresh, idle };
    await box.restart();
    const path = await measurePath(load, box.echoSock);
    const pids = await box.pids();
    const cpu = () => cpuSecondsOf(pids.daemon) + cpuSecondsOf(pids.agent);
    let t0 = cpu();
    const conn = await runLoad(load, ["conn", box.echoSock, 1500, 8]);
    const cpuUsPerConn = ((cpu() - t0) / conn.count) * 1e6;
    t0 = cpu();
    const bulk = await runLoad(load, ["bulk", box.echoSock, 1500, 1]);
    const cpuSPerGB = (cpu() - t0) / (bulk.bytes / 1e9);
    const afterLoad = await settled(box);
    return { fresh, idle, afterLoad, path, cpuUsPerConn, cpuSPerGB };
  } finally {
    await box.stop();
  }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/** One markdown row per variant: medians over the rounds. */
function table(variants: ProxyVariant[], samples: Map<string, Sample[]>): string {
  const rows: string[][] = [];
  for (const v of variants) {
    const s = samples.get(v.key)!;
    const med = (f: (x: Sample) => number) => median(s.map(f));
    const row = [
      v.label,
      `${mb(med((x) => total(x.fresh)))} (${mb(med((x) => x.fresh.daemon.rss))} + ${
        mb(med((x) => x.fresh.agent.rss))
      })`,
      `${mb(med((x) => x.fresh.daemon.anon))} + ${mb(med((x) => x.fresh.agent.anon))}`,
      `${mb(med((x) => total(x.idle)))} (${mb(med((x) => x.idle.daemon.rss))} + ${
        mb(med((x) => x.idle.agent.rss))
      })`,
      `${mb(med((x) => x.idle.daemon.anon))} + ${mb(med((x) => x.idle.agent.anon))}`,
    ];
    if (withPaths) {
      const p = (f: (r: PathResult) => number) => med((x) => f(x.path!));
      row.push(
        mb(med((x) => total(x.afterLoad!))),
        Math.round(p((r) => r.connPerSec)).toLocaleString("en-US"),
        `${Math.round(p((r) => r.rttP50Us))} / ${Math.round(p((r) => r.rttP99Us))}`,
        Math.round(p((r) => r.bulk1MBps)).toString(),
        Math.round(p((r) => r.bulk16MBps)).toString(),
        `${(p((r) => r.mixedP99Us) / 1000).toFixed(2)} ms`,
        Math.round(med((x) => x.cpuUsPerConn!)).toString(),
        med((x) => x.cpuSPerGB!).toFixed(2),
      );
    }
    rows.push(row);
  }
  const head = [
    "variant",
    "fresh RSS MB (daemon + agent)",
    "fresh anon MB",
    `${idleCount.toLocaleString("en-US")} idle RSS MB`,
    `${idleCount.toLocaleString("en-US")} idle anon MB`,
    ...(withPaths
      ? [
        "after load MB",
        "conn/s",
        "RTT p50 / p99 µs",
        "1-stream MB/s",
        "16-stream MB/s",
        "p99 under bulk",
        "CPU µs/conn",
        "CPU s/GB",
      ]
      : []),
  ];
  return [head, head.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

async function main(): Promise<void> {
  if (specs.length === 0) {
    throw new Error("usage: mem_ab.ts [flags] LABEL[@BINARY][:ENV=V,...] ...");
  }
  const echoBin = buildC("echo_server");
  const load = buildC("load", ["-pthread"]);
  const bunBin = await buildBunBinary();
  const dir = mkdtempSync(join(tmpdir(), "w2p-memab-"));
  const variants = specs.map((s) => parseSpec(s, bunBin));
  if (!cached) {
    variants.forEach((v, i) => {
      const copy = join(dir, `bin-${i}`);
      const r = spawnSync("dd", [`if=${v.argv[0]}`, `of=${copy}`, "bs=4M", "oflag=direct"], {
        encoding: "utf8",
      });
      if (r.status !== 0) throw new Error(`dd of ${v.argv[0]} failed: ${r.stderr}`);
      spawnSync("chmod", ["+x", copy]);
      v.argv = [copy];
    });
  }
  const echoPath = join(dir, "echo.sock");
  const sourcePath = join(dir, "source.sock");
  const echo = await Background.start("echo server", [echoBin, echoPath, sourcePath], "ready");
  const samples = new Map<string, Sample[]>(variants.map((v) => [v.key, []]));
  const loadBefore = loadavg()[0];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) {
        log(`mem_ab: round ${r + 1}/${rounds}, ${v.label}`);
        samples.get(v.key)!.push(await measureOnce(load, v, echoPath, sourcePath));
      }
    }
  } finally {
    await echo.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const jsonOut = flagValue("--json");
  if (jsonOut) {
    writeFileSync(
      jsonOut,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          rounds,
          idleCount,
          variants,
          samples: Object.fromEntries(samples),
        },
        null,
        2,
      ),
    );
  }
  console.log(
    `${new Date().toISOString()}, ${rounds} interleaved rounds, load ${loadBefore.toFixed(2)} / ${
      loadavg()[0].toFixed(2)
    }\n\n${table(variants, samples)}`,
  );
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
