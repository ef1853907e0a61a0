/**
 * Property-based check of {@linkcode parseConfig}: for random, generated and
 * mutated YAML it either returns a config that keeps the invariants, or throws
 * a well-formed {@linkcode ConfigError} - never anything else, and never slowly.
 * The unit test runs about 2,000 cases; a fuzz job can run 100,000:
 *
 * @example
 * ```ts
 * import { fuzzParseConfig } from "./fuzz_parse_config.ts";
 * fuzzParseConfig({ numRuns: 100_000 });
 * ```
 *
 * @module
 */

import fc from "fast-check";
import { stringify } from "yaml";
import { ConfigError } from "../errors.ts";
import { linuxAddrKey, MAX_UNIX_PATH_BYTES } from "./addr.ts";
import type { EnvLookup } from "./default_config.ts";
import { parseConfig } from "./parse_config.ts";
import type { Config } from "./types.ts";

/** Options for {@linkcode fuzzParseConfig}. */
export interface FuzzParseConfigOptions {
  /** How many cases to run. @default 2000 */
  numRuns?: number;
  /** fast-check seed, to replay a failure. @default random */
  seed?: number;
  /** A single parse taking longer than this fails the property. @default 1000 */
  maxMillisPerCase?: number;
}

const FILE = "/fuzz/config.yaml";
const ENVS: EnvLookup[] = [
  (n) =>
    ({ HOME: "/home/me", XDG_RUNTIME_DIR: "/run/user/1000", USER: "me" } as Record<string, string>)[
      n
    ],
  () => undefined,
];

/** Fragments that tend to upset YAML parsers and the schema alike. */
const TOKENS = [
  "sockets:",
  "log_level:",
  "log_path:",
  "runtime_dir:",
  "agent:",
  "command:",
  "path:",
  "env_name:",
  "linux_addr:",
  "windows_addr:",
  "allow_remote:",
  "protocol:",
  "\n",
  "\n  ",
  "\n    ",
  "  - ",
  "- ",
  ": ",
  "? ",
  "[",
  "]",
  "{",
  "}",
  ",",
  "'",
  '"',
  "#",
  "|",
  ">",
  "---",
  "...",
  "~",
  "null",
  "yes",
  "true",
  "&a ",
  "*a",
  "!!binary ",
  "!tag ",
  "<<: ",
  "%YAML 1.2\n",
  "\t",
  "\r\n",
  "\uFEFF",
  "\u0000",
  "🙂",
  "{runtime_dir}",
  "~/",
  "~bob/",
  "pipe://./pipe/",
  "unix://C:/",
  "tcp://[::1]:",
  "tcp://127.0.0.1:",
  "65536",
  "0x10",
  "SSH_AUTH_SOCK",
];

const WINDOWS = [
  "pipe://./pipe/openssh-ssh-agent",
  "pipe://./pipe/docker_engine",
  "tcp://localhost:41112",
  "unix://C:/Users/me/AppData/Local/app/app.sock",
  "tcp://[::1]:22",
  "pip://./pipe/x",
  "pipe://srv/pipe/x",
  "pipe://./pipe/",
  "tcp://h:0",
  "unix://rel.sock",
  "",
];
const LINUX = [
  "{runtime_dir}/a.sock",
  "~/b.sock",
  "unix:///tmp/c.sock",
  "tcp://127.0.0.1:8080",
  "tcp://0.0.0.0:1",
  "rel.sock",
  "{nope}/x",
  "/tmp/a.sock",
  "tcp://[::1]:99999",
  "/",
];

/** Valid config texts in block, flow or mixed style, with how many sockets each has. */
export function validConfigArbitrary(): fc.Arbitrary<{ text: string; sockets: number }> {
  const name = fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._ -]{0,11}$/);
  const socket = fc.record({
    env_name: fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/),
    linux_addr: fc.oneof(
      fc.tuple(fc.constantFrom("{runtime_dir}/", "~/", "/tmp/", "unix:///tmp/"), name).map((
        [d, n],
      ) => d + n),
      fc.integer({ min: 1, max: 65535 }).map((p) => `tcp://127.0.0.1:${p}`),
    ),
    windows_addr: fc.oneof(
      fc.constantFrom(...WINDOWS.slice(0, 5)),
      name.map((n) => `pipe://./pipe/${n}`),
      name.map((n) => `unix://C:/Users/me/${n}`),
    ),
  });
  const sameLinux = (a: string, b: string) =>
    a.replace(/^unix:\/\//, "") === b.replace(/^unix:\/\//, "");
  const config = fc.record({
    log_level: fc.constantFrom("debug", "info", "warn", "error"),
    log_path: fc.constantFrom("{runtime_dir}/p.log", "~/p.log", "/var/log/p.log"),
    sockets: fc.uniqueArray(socket, {
      maxLength: 4,
      comparator: (x, y) => x.env_name === y.env_name || sameLinux(x.linux_addr, y.linux_addr),
    }),
    agent: fc.oneof(fc.constant({}), fc.record({ path: fc.constant("~/agent.exe") })),
  }, { requiredKeys: ["sockets"] });
  const style = fc.constantFrom("block", "flow", "any") as fc.Arbitrary<"block" | "flow" | "any">;
  return fc.tuple(config, style).map(([c, collectionStyle]) => ({
    text: stringify(c, { collectionStyle }),
    sockets: c.sockets.length,
  }));
}

/** Random, generated-then-mutated, token-soup and arbitrary-value YAML texts. */
export function configTextArbitrary(): fc.Arbitrary<string> {
  const junk = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
  );
  const pick = (xs: string[]) => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...xs) }, junk);
  const socket = fc.record({
    env_name: pick(["SSH_AUTH_SOCK", "DOCKER_HOST", "A", "1BAD", "A-B"]),
    linux_addr: pick(LINUX),
    windows_addr: pick(WINDOWS),
    allow_remote: fc.oneof(fc.boolean(), junk),
    protocol: pick(["raw", "ssh-agent", "ssh"]),
    typo: junk,
  }, { requiredKeys: [] });
  const config = fc.record({
    log_level: pick(["debug", "info", "warn", "error", "loud"]),
    log_path: pick(["{runtime_dir}/p.log", "~/p.log", "/var/log/p.log", "p.log"]),
    runtime_dir: pick(["~/.w2p", "/run/w2p", "{runtime_dir}", "rel"]),
    sockets: fc.oneof(fc.array(socket, { maxLength: 4 }), junk),
    agent: fc.oneof(
      fc.record({ command: fc.array(junk, { maxLength: 3 }), path: junk }, { requiredKeys: [] }),
      junk,
    ),
    extra: junk,
  }, { requiredKeys: [] });
  const style = fc.constantFrom("block", "flow", "any") as fc.Arbitrary<"block" | "flow" | "any">;
  // Mostly-valid configs too, so that the success path (and its invariants) gets exercised.
  const generated = fc.oneof(
    fc.tuple(config, style).map(([c, collectionStyle]) => stringify(c, { collectionStyle })),
    validConfigArbitrary().map((v) => v.text),
  );

  const mutation = fc.oneof(
    fc.tuple(
      fc.constant("insert"),
      fc.nat(),
      fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 3 })),
    ),
    fc.tuple(fc.constant("delete"), fc.nat(), fc.integer({ min: 1, max: 8 })),
    fc.tuple(fc.constant("line"), fc.nat(), fc.nat()),
  );
  const mutated = fc.tuple(generated, fc.array(mutation, { minLength: 1, maxLength: 4 })).map((
    [text, ms],
  ) =>
    ms.reduce((t, [kind, a, b]) => {
      const at = t.length === 0 ? 0 : a % (t.length + 1);
      if (kind === "insert") return t.slice(0, at) + b + t.slice(at);
      if (kind === "delete") return t.slice(0, at) + t.slice(at + (b as number));
      const lines = t.split("\n"); // duplicate line a in place of line b
      lines[(b as number) % lines.length] = lines[a % lines.length];
      return lines.join("\n");
    }, text)
  );
  const soup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((ts) => ts.join(""));
  const anything = fc.anything({ maxDepth: 3 }).map((v) => stringify(v) ?? "");
  const raw = fc.string({ unit: "binary", maxLength: 200 });
  return fc.oneof(generated, { weight: 3, arbitrary: mutated }, soup, anything, raw);
}

function checkConfig(c: Config): void {
  const envNames = new Set(c.sockets.map((s) => s.envName));
  const linuxKeys = new Set(c.sockets.map((s) => linuxAddrKey(s.linuxAddr)));
  if (envNames.size !== c.sockets.length) throw new Error("duplicate env_name accepted");
  if (linuxKeys.size !== c.sockets.length) throw new Error("duplicate linux_addr accepted");
  for (const p of [c.logPath, c.runtimeDir]) {
    if (!p.startsWith("/")) throw new Error(`relative path ${p}`);
  }
  for (const { linuxAddr: a } of c.sockets) {
    if (
      a.kind === "unix" &&
      (!a.path.startsWith("/") || new TextEncoder().encode(a.path).length > MAX_UNIX_PATH_BYTES)
    ) {
      throw new Error(`bad socket path ${a.path}`);
    }
    if (a.kind === "tcp" && !(a.port >= 1 && a.port <= 65535)) {
      throw new Error(`bad port ${a.port}`);
    }
  }
}

function checkError(e: ConfigError): void {
  if (e.issues.length === 0) throw new Error("ConfigError without issues", { cause: e });
  for (const issue of e.issues) {
    if (!(issue.line! >= 1 && issue.column! >= 1)) {
      throw new Error(`bad position ${issue.line}:${issue.column}`);
    }
  }
  const line = /^\/fuzz\/config\.yaml:\d+:\d+: [^\n]+; expected [^\n]+$/;
  for (const l of e.message.split("\n")) {
    if (!line.test(l) && !/^\.\.\. and \d+ more problems$/.test(l)) {
      throw new Error(`malformed line ${l}`);
    }
  }
}

/** Checks the property for one text; throws a plain Error describing any violation. */
export function checkParseConfigText(
  text: string,
  env: EnvLookup = ENVS[0],
  maxMillis = 1000,
): void {
  const start = performance.now();
  try {
    checkConfig(parseConfig(text, FILE, env, 1000));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    checkError(e);
  }
  const ms = performance.now() - start;
  if (ms > maxMillis) throw new Error(`parseConfig took ${ms.toFixed(0)} ms`);
}

/**
 * Runs the property over `numRuns` generated texts.
 *
 * @throws {Error} fast-check's report with the shrunk counterexample and its seed.
 */
export function fuzzParseConfig(options: FuzzParseConfigOptions = {}): void {
  const { numRuns = 2000, seed, maxMillisPerCase = 1000 } = options;
  fc.assert(
    fc.property(
      configTextArbitrary(),
      fc.constantFrom(...ENVS),
      (text, env) => checkParseConfigText(text, env, maxMillisPerCase),
    ),
    { numRuns, seed },
  );
}
