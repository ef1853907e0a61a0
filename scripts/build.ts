/**
 * Builds wsl2proxy's release files into `dist/`:
 *
 * | What | Files | Built with |
 * |---|---|---|
 * | `bundle` | `wsl2proxy.js`, one self-contained ES module for `deno run -A <url>` | `deno bundle` |
 * | `bun` | `wsl2proxy-{linux,windows}-{x64,arm64}[.exe]` | `bun build --compile` (works anywhere) |
 * | `deno` | `wsl2proxy-deno-{linux,windows}-{x64,arm64}[.exe]` | `deno compile` (needs dl.deno.land: CI only) |
 *
 * plus `SHA256SUMS` over every `wsl2proxy*` file in `dist/`. Each Linux
 * binary carries the Windows agent of the same compiler and CPU, brotli-
 * compressed (see scripts/_compress_agent.ts), so that one download is enough.
 * `--release` compresses it harder (scripts/_compress_agent.ts): minutes
 * instead of seconds, for the published binaries.
 *
 *     deno run -A scripts/build.ts bun bundle          # = deno task build:bun
 *     deno run -A scripts/build.ts bun=linux-x64       # one target (and its agent)
 *     deno run -A scripts/build.ts deno bundle         # = deno task build (CI)
 *     deno run -A scripts/build.ts --release bun deno bundle   # the release
 *
 * Every artifact is cached in `.cache/build/<kind>-<target>-<key>/`, keyed by
 * the code it is made of (the plain `bun build` bundle of main.ts, which is
 * exactly the sources reachable from it, npm dependencies included), this
 * script, the compiler's version and, for Linux, the agent's key; `dist/`
 * gets hard links. A rerun with nothing changed takes well under a second.
 *
 * Runs under Deno or Bun (node:* APIs, and dax-sh to run the compilers);
 * importable by tests.
 *
 * @module
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import $ from "dax-sh";
import { AGENT_QUALITY, type AgentProfile, compressAgent } from "./_compress_agent.ts";

/** The repository root. */
export const REPO: string = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
/** Where release files go. */
export const DIST: string = path.join(REPO, "dist");
/** Where built artifacts are cached. */
export const CACHE: string = path.join(REPO, ".cache", "build");
/** The program's entry point. */
export const MAIN: string = path.join(REPO, "main.ts");

/** Every platform we ship for. */
export const TARGETS = ["linux-x64", "linux-arm64", "windows-x64", "windows-arm64"] as const;
/** One of {@linkcode TARGETS}. */
export type Target = (typeof TARGETS)[number];
/** Which compiler makes a binary. */
export type Compiler = "bun" | "deno";

/** The bundle's file name in `dist/`. */
export const BUNDLE_NAME = "wsl2proxy.js";
/** The name the compressed agent is embedded under (as src/wsl/embedded_agent.ts reads it). */
export const EMBEDDED_AGENT_FILE = "wsl2proxy-agent.exe.e8.br";
/** The name its `{ sha256, size }` is embedded under (as src/wsl/embedded_agent.ts reads it). */
export const EMBEDDED_AGENT_INFO_FILE = "wsl2proxy-agent.json";

/**
 * `bun build` flags for every binary: minified (names kept: error classes
 * report `new.target.name`), and deaf to a `.env` or `bunfig.toml` in the
 * directory it is started in (Bun loads both by default, even when compiled).
 */
export const BUN_FLAGS: readonly string[] = [
  "--compile",
  "--minify",
  "--keep-names",
  // Precompiled bytecode: start-up (which `start` pays in every new shell) drops from ~60 to ~20 ms.
  "--bytecode",
  // Dynamic imports become chunks that load on first use, with their node:* imports. In one
  // bundle every node:* import is hoisted and evaluated up front (dax-sh brings tls, dns,
  // child_process, stream, tty), which `start` paid for without using.
  "--splitting",
  "--format=esm",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  "--no-compile-autoload-tsconfig",
  "--no-compile-autoload-package-json",
];

/**
 * {@linkcode BUN_FLAGS} for one target. Windows builds go without
 * `--bytecode`: the Windows binary is the agent, started once per daemon
 * and not per shell, and the bytecode is 4.2 MB of it, ~1.3 MB even after
 * compression inside each Linux binary.
 */
export function bunFlags(target: Target): readonly string[] {
  return target.startsWith("windows-") ? BUN_FLAGS.filter((f) => f !== "--bytecode") : BUN_FLAGS;
}

/**
 * `deno compile` flags: -A (named pipes need it), the bundle as the only
 * module (no config, lock file, npm or remote modules, so no node_modules
 * directory gets embedded).
 */
export const DENO_FLAGS: readonly string[] = [
  "compile",
  "-A",
  "--no-config",
  "--no-lock",
  "--no-npm",
  "--no-remote",
  "--no-check",
];

/** Bun's and Deno's names for our targets. */
const BUN_TARGET: Record<Target, string> = {
  "linux-x64": "bun-linux-x64",
  "linux-arm64": "bun-linux-arm64",
  "windows-x64": "bun-windows-x64",
  "windows-arm64": "bun-windows-arm64",
};
const DENO_TARGET: Record<Target, string> = {
  "linux-x64": "x86_64-unknown-linux-gnu",
  "linux-arm64": "aarch64-unknown-linux-gnu",
  "windows-x64": "x86_64-pc-windows-msvc",
  "windows-arm64": "aarch64-pc-windows-msvc",
};

/** The file name of a binary in `dist/`. */
export function binaryName(compiler: Compiler, target: Target): string {
  const exe = target.startsWith("windows-") ? ".exe" : "";
  return compiler === "bun" ? `wsl2proxy-${target}${exe}` : `wsl2proxy-deno-${target}${exe}`;
}

/** The Windows agent a Linux binary embeds (same CPU), or null for Windows targets. */
export function agentTarget(target: Target): Target | null {
  if (target === "linux-x64") return "windows-x64";
  if (target === "linux-arm64") return "windows-arm64";
  return null;
}

/** A dev tool: node_modules/.bin first (npm dev dependency), else PATH. */
export function tool(name: "bun" | "deno"): string {
  const local = path.join(REPO, "node_modules", ".bin", name);
  return fs.existsSync(local) ? local : name;
}

/** Run a command; resolves with its stdout, rejects with its stderr on failure. */
export async function run(argv: string[], env?: Record<string, string>): Promise<Uint8Array> {
  const result = await $`${argv}`.cwd(REPO).env(env ?? {}).stdout("piped").stderr("piped")
    .noThrow();
  if (result.code !== 0) {
    throw new Error(`${argv.join(" ")} exited with ${result.code}:\n${result.stderr}`);
  }
  return result.stdoutBytes;
}

function sha256(...parts: (string | Uint8Array)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex");
}

function log(message: string): void {
  process.stderr.write(`build: ${message}\n`);
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

/**
 * Make `name` in a fresh cache entry `<kind>-<key>/`, unless it is there.
 * `make` writes to the temp path it is given; the rename makes the entry
 * appear whole, so concurrent builds of the same key are harmless. Older
 * entries of the same kind are removed (they are 100+ MB each).
 */
async function cached(
  kind: string,
  key: string,
  name: string,
  make: (tmp: string) => Promise<void>,
): Promise<string> {
  const dir = path.join(CACHE, `${kind}-${key.slice(0, 16)}`);
  const file = path.join(dir, name);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  const ext = path.extname(name);
  const tmp = path.join(dir, `${path.basename(name, ext)}.tmp-${process.pid}${ext}`);
  const started = performance.now();
  try {
    await make(tmp);
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  log(`built ${kind}/${name} in ${seconds(started)}`);
  for (const other of fs.readdirSync(CACHE)) {
    if (
      other.startsWith(`${kind}-`) && /^[0-9a-f]{16}$/.test(other.slice(kind.length + 1)) &&
      path.join(CACHE, other) !== dir
    ) {
      fs.rmSync(path.join(CACHE, other), { recursive: true, force: true });
    }
  }
  return file;
}

/** Options for {@linkcode Builder}. */
export interface BuilderOptions {
  /** How hard to compress the embedded agent. @default {"fast"} */
  agentProfile?: AgentProfile;
}

/** Builds artifacts on demand, each at most once per run. */
export class Builder {
  #memo = new Map<string, Promise<string | string[]>>();
  #agentProfile: AgentProfile;

  constructor(options: BuilderOptions = {}) {
    this.#agentProfile = options.agentProfile ?? "fast";
  }

  #once<T extends string | string[]>(id: string, make: () => Promise<T>): Promise<T> {
    let p = this.#memo.get(id);
    if (!p) this.#memo.set(id, p = make());
    return p as Promise<T>;
  }

  /**
   * The hash of the code the binaries are made of (main.ts's plain bundle)
   * and of how they are made (this script and _compress_agent.ts).
   */
  sourceKey(): Promise<string> {
    return this.#once("source", async () => {
      const bundle = await run([tool("bun"), "build", "--target=bun", MAIN]);
      return sha256(
        bundle,
        fs.readFileSync(fileURLToPath(import.meta.url)),
        fs.readFileSync(fileURLToPath(new URL("./_compress_agent.ts", import.meta.url))),
      );
    });
  }

  /** `bun --version` / `deno --version`. */
  version(compiler: Compiler): Promise<string> {
    return this.#once(`version-${compiler}`, async () => {
      return new TextDecoder().decode(await run([tool(compiler), "--version"])).split("\n")[0]
        .trim();
    });
  }

  /** `wsl2proxy.js`: the whole program as one module, for `deno run -A <url>`. */
  bundle(): Promise<string> {
    return this.#once("bundle", async () => {
      const key = sha256("bundle", await this.version("deno"), await this.sourceKey());
      return await cached("bundle", key, BUNDLE_NAME, async (tmp) => {
        // Not minified: `--keep-names` makes `deno bundle` lose its createRequire
        // shim, and without it error classes would lose their names.
        await run([tool("deno"), "bundle", "--platform", "deno", "-o", tmp, MAIN]);
        fs.writeFileSync(tmp, patchBundle(fs.readFileSync(tmp, "utf8")));
      });
    });
  }

  /** A compiled binary in the cache (Linux ones with their agent inside). */
  binary(compiler: Compiler, target: Target): Promise<string> {
    return this.#once(`${compiler}-${target}`, async () => {
      const agentFor = agentTarget(target);
      const agentFiles = agentFor ? await this.agentFiles(compiler, agentFor) : [];
      const base = compiler === "bun" ? await this.sourceKey() : await this.bundle();
      const key = sha256(
        compiler,
        target,
        await this.version(compiler),
        (compiler === "bun" ? bunFlags(target) : DENO_FLAGS).join(" "),
        compiler === "bun" ? base : fs.readFileSync(base),
        // The blob's path is keyed by the agent's own hash and the level; the info is small enough to read.
        agentFiles.length
          ? `${agentFiles[0]} ${fs.readFileSync(agentFiles[1], "utf8")}`
          : "no agent",
      );
      const name = binaryName(compiler, target);
      return await cached(`${compiler}-${target}`, key, name, (tmp) => {
        return compiler === "bun"
          ? bunCompile({ entry: MAIN, target, outfile: tmp, assets: agentFiles })
          : denoCompile({ bundle: base, target, outfile: tmp, agentFiles });
      });
    });
  }

  /**
   * The Windows agent of `target` as the Linux binaries embed it: E8-
   * filtered and brotli-compressed in frames (scripts/_compress_agent.ts), and
   * beside it its `{ sha256, size }` (so that `start` can name and recognise
   * a placed copy without decompressing it) and its frame layout. Both sit
   * in a directory named after the level, so both profiles stay cached.
   */
  agentFiles(compiler: Compiler, target: Target): Promise<string[]> {
    return this.#once(`agent-${compiler}-${target}`, async () => {
      const exe = await this.binary(compiler, target);
      const level = AGENT_QUALITY[this.#agentProfile];
      const dir = path.join(path.dirname(exe), `brotli${level}`);
      const zst = path.join(dir, EMBEDDED_AGENT_FILE);
      const info = path.join(dir, EMBEDDED_AGENT_INFO_FILE);
      if (!fs.existsSync(info)) {
        fs.mkdirSync(dir, { recursive: true });
        const started = performance.now();
        const tmp = `${zst}.tmp-${process.pid}`;
        try {
          const layout = await compressAgent(exe, tmp, level);
          const bytes = fs.readFileSync(exe);
          const json = {
            sha256: createHash("sha256").update(bytes).digest("hex"),
            size: bytes.byteLength,
            frameSize: layout.frameSize,
            frames: layout.frames,
          };
          fs.renameSync(tmp, zst);
          // The info last: its presence says both files are whole.
          fs.writeFileSync(`${info}.tmp-${process.pid}`, JSON.stringify(json) + "\n");
          fs.renameSync(`${info}.tmp-${process.pid}`, info);
          const mb = (fs.statSync(zst).size / 1e6).toFixed(1);
          log(`compressed the agent (brotli -q${level}): ${mb} MB in ${seconds(started)}`);
        } finally {
          fs.rmSync(tmp, { force: true });
        }
      }
      return [zst, info];
    });
  }
}

/** Options for {@linkcode bunCompile}. */
export interface BunCompileOptions {
  entry: string;
  target: Target;
  outfile: string;
  /** Files embedded under their base name, read through `Bun.embeddedFiles`. */
  assets?: string[];
  /** Replaces {@linkcode bunFlags} (tests compare against Bun's defaults). */
  flags?: readonly string[];
}

/** `bun build --compile` one entry point for one target. */
export async function bunCompile(options: BunCompileOptions): Promise<void> {
  await run([
    tool("bun"),
    "build",
    ...(options.flags ?? bunFlags(options.target)),
    `--target=${BUN_TARGET[options.target]}`,
    ...(options.assets ?? []).map((a) => `--asset=${a}`),
    options.entry,
    "--outfile",
    options.outfile,
  ]);
}

/** Options for {@linkcode denoCompile}. */
export interface DenoCompileOptions {
  /** The self-contained bundle (no npm or remote imports). */
  bundle: string;
  target: Target;
  outfile: string;
  /** The agent files to embed (see {@linkcode Builder.agentFiles}), or none. */
  agentFiles: string[];
}

/**
 * `deno compile` the bundle for one target. The agent must sit beside the
 * main module, where src/runtime/embedded_file_deno.ts looks, so both are
 * copied into a staging directory that becomes the executable's file system.
 */
export async function denoCompile(options: DenoCompileOptions): Promise<void> {
  const stage = `${options.outfile}.stage`;
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  try {
    const main = path.join(stage, BUNDLE_NAME);
    fs.copyFileSync(options.bundle, main);
    const include: string[] = [];
    for (const file of options.agentFiles) {
      const staged = path.join(stage, path.basename(file));
      fs.linkSync(file, staged);
      include.push("--include", staged);
    }
    await run(
      [
        tool("deno"),
        ...DENO_FLAGS,
        "--target",
        DENO_TARGET[options.target],
        ...include,
        "-o",
        options.outfile,
        main,
      ],
      { DENO_NO_PACKAGE_JSON: "1", DENO_NO_UPDATE_CHECK: "1" },
    ).catch((error: Error) => {
      if (!/dl\.deno\.land|denort/.test(error.message)) throw error;
      throw new Error(
        `${error.message}\ndeno compile downloads its runtime (denort) from dl.deno.land. ` +
          `Where that is unreachable, build with Bun instead: deno task build:bun`,
      );
    });
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

/**
 * Make the bundle loadable from an `https:` URL: `deno bundle` gives
 * CommonJS dependencies a `require` from `createRequire(import.meta.url)`,
 * which throws for anything but a file URL. They only require node:*
 * built-ins, which resolve from any base.
 */
export function patchBundle(code: string): string {
  const patched = code.replace(
    /([\w$]*createRequire[\w$]*)\(import\.meta\.url\)/g,
    '$1(import.meta.url.startsWith("file:") ? import.meta.url : "file:///")',
  );
  return `// wsl2proxy, bundled for \`deno run -A <this URL> <command>\`.\n${patched}`;
}

/**
 * Put a cached artifact into `dist/` as a hard link (a copy across file
 * systems) and bring `dist/SHA256SUMS` up to date.
 */
export async function publish(file: string, name: string = path.basename(file)): Promise<string> {
  fs.mkdirSync(DIST, { recursive: true });
  const dest = path.join(DIST, name);
  let same = false;
  try {
    same = fs.statSync(dest).ino === fs.statSync(file).ino;
  } catch { /* not there yet */ }
  if (!same) {
    const tmp = `${dest}.tmp-${process.pid}`;
    try {
      fs.linkSync(file, tmp);
    } catch {
      fs.copyFileSync(file, tmp);
    }
    fs.renameSync(tmp, dest);
  }
  await writeSums();
  return dest;
}

/**
 * Write `dist/SHA256SUMS` (sha256sum format) over every `wsl2proxy*` file
 * there. Hashes are remembered per inode, size and mtime, so unchanged
 * 100 MB files are not read again.
 */
export async function writeSums(): Promise<string> {
  const memoFile = path.join(CACHE, "sums.json");
  let memo: Record<string, string> = {};
  try {
    memo = JSON.parse(fs.readFileSync(memoFile, "utf8"));
  } catch { /* first run */ }
  const lines: string[] = [];
  const next: Record<string, string> = {};
  for (
    const name of fs.readdirSync(DIST).filter((n) =>
      /^wsl2proxy[^/]*$/.test(n) && !n.includes(".tmp-")
    ).sort()
  ) {
    const file = path.join(DIST, name);
    const st = fs.statSync(file);
    const id = `${st.ino}:${st.size}:${st.mtimeMs}`;
    const hash = memo[id] ?? await hashFile(file);
    next[id] = hash;
    lines.push(`${hash}  ${name}`);
  }
  fs.mkdirSync(CACHE, { recursive: true });
  writeAtomic(memoFile, JSON.stringify(next));
  const sums = path.join(DIST, "SHA256SUMS");
  writeAtomic(sums, lines.join("\n") + "\n");
  return sums;
}

/** Write via a temp file and a rename, so concurrent builds never leave half a file. */
function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

async function hashFile(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** A Markdown table of the files in `dist/` and their sizes. */
export function sizeTable(): string {
  const rows = fs.readdirSync(DIST).filter((n) => n.startsWith("wsl2proxy") && !n.includes(".tmp-"))
    .sort()
    .map((n) => {
      const bytes = fs.statSync(path.join(DIST, n)).size;
      return `| ${n} | ${bytes} | ${(bytes / 1e6).toFixed(1)} MB |`;
    });
  return ["| File | Bytes | Size |", "|---|---:|---:|", ...rows].join("\n") + "\n";
}

/** Parse `[--release] bundle`, `bun`, `deno`, `bun=linux-x64,windows-x64` into a plan. */
export function parseArgs(
  args: string[],
): { bundle: boolean; binaries: [Compiler, Target][]; agentProfile: AgentProfile } {
  const plan = {
    bundle: false,
    binaries: [] as [Compiler, Target][],
    agentProfile: "fast" as AgentProfile,
  };
  if (args.filter((a) => a !== "--release").length === 0) {
    throw new Error("nothing to build: give bundle, bun[=targets] and/or deno[=targets]");
  }
  for (const arg of args) {
    if (arg === "--release") {
      plan.agentProfile = "release";
      continue;
    }
    const [what, list] = arg.split("=", 2);
    if (what === "bundle" && list === undefined) {
      plan.bundle = true;
      continue;
    }
    if (what !== "bun" && what !== "deno") throw new Error(`unknown build ${JSON.stringify(arg)}`);
    const targets = list === undefined ? [...TARGETS] : list.split(",");
    for (const t of targets) {
      if (!(TARGETS as readonly string[]).includes(t)) {
        throw new Error(`unknown target ${JSON.stringify(t)}`);
      }
      plan.binaries.push([what, t as Target]);
    }
  }
  return plan;
}

async function main(args: string[]): Promise<void> {
  const plan = parseArgs(args);
  const started = performance.now();
  const builder = new Builder({ agentProfile: plan.agentProfile });
  if (plan.bundle) await publish(await builder.bundle());
  // One at a time: each compile is I/O- and memory-heavy, and CI machines have two cores.
  for (const [compiler, target] of plan.binaries) {
    await publish(await builder.binary(compiler, target));
  }
  const table = sizeTable();
  process.stderr.write(table);
  log(`done in ${seconds(started)}`);
  if (process.env.GITHUB_STEP_SUMMARY) {
    fs.appendFileSync(process.env.GITHUB_STEP_SUMMARY, `### dist/\n\n${table}\n`);
  }
}

if (import.meta.main) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
