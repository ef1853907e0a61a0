/**
 * Validation and expansion of the config file's text. Pure: no I/O.
 *
 * An empty document (or one with only comments) means "all defaults". A key
 * with an empty value (`agent:` with every line under it commented out) means
 * the same as leaving the key out. `sockets: []` means no sockets: valid, but
 * it earns a warning.
 *
 * @module
 */

import { type Document, isMap, isSeq, LineCounter, parseDocument } from "yaml";
import { normalizePosixPath } from "./_expand.ts";
import { Issues, quote } from "./_issues.ts";
import {
  deref,
  describe,
  isNull,
  MAX_ALIASES,
  readMap,
  resolveAliases,
  stringOf,
  type Value,
} from "./_nodes.ts";
import { AGENT_KEYS, expand, EXPECT, readPath, ROOT_KEYS, type State } from "./_read_values.ts";
import { readSockets } from "./_read_socket.ts";
import { defaultConfig, defaultSocket, type EnvLookup } from "./default_config.ts";
import { type AgentConfig, type Config, LOG_LEVELS, type LogLevel } from "./types.ts";

/** Distinct YAML syntax errors reported at most; later ones are mostly echoes of the first. */
const MAX_SYNTAX_ERRORS = 20;

/**
 * Parses and validates a config file's text. `file` is only used in messages.
 * `uid` stands in for `$USER` in the default runtime directory.
 *
 * @throws {ConfigError} listing every problem, one `file:line:column: key: problem; expected ...` per line.
 */
export function parseConfig(text: string, file: string, env: EnvLookup, uid?: number): Config {
  const lineCounter = new LineCounter();
  const issues = new Issues(text, file, lineCounter);
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  } catch (e) {
    // The parser reports its own errors in `doc.errors`; a throw means it gave up entirely.
    issues.add(0, "(syntax)", `the YAML parser failed (${clean(String(e))})`, "valid YAML");
    issues.throwIfAny();
    throw e;
  }
  reportSyntaxErrors(doc, text, issues);
  issues.throwIfAny();
  const { aliases, count, excessAt } = resolveAliases(doc);
  if (excessAt !== undefined) {
    issues.add(
      excessAt,
      "(aliases)",
      `${count} aliases; more than ${MAX_ALIASES} is refused (a guard against alias bombs)`,
      `at most ${MAX_ALIASES} aliases (*name)`,
    );
    issues.throwIfAny();
  }

  const defaults = defaultConfig(env, uid);
  const base = { doc, issues, aliases, home: env("HOME") };
  const root = deref(base, doc.contents, 0);
  if (isNull(root.node)) return { ...defaults, file };
  if (!isMap(root.node)) {
    issues.add(root.at, "(root)", `got ${describe(root.node)}`, EXPECT.root);
    issues.throwIfAny();
  }
  const fields = readMap(base, root, "", ROOT_KEYS);
  const given = (key: string): Value | undefined => {
    const entry = fields.get(key);
    return entry === undefined || isNull(entry.value.node) ? undefined : entry.value;
  };

  // runtime_dir first: every other path may refer to it.
  const rd = given("runtime_dir");
  const runtimeDir =
    (rd && readPath({ ...base, vars: {} }, rd, "runtime_dir", EXPECT.runtimeDir)) ??
      defaults.runtimeDir;
  const st: State = { ...base, vars: { runtime_dir: runtimeDir } };

  const ll = given("log_level");
  const logLevel = (ll && readLogLevel(st, ll)) ?? defaults.logLevel;
  const lp = given("log_path");
  const logPath = (lp && readPath(st, lp, "log_path", EXPECT.path)) ??
    normalizePosixPath(`${runtimeDir}/proxy.log`);
  const so = given("sockets");
  const sockets = so ? readSockets(st, so) : [defaultSocket(runtimeDir)];
  const ag = given("agent");
  const agent = ag ? readAgent(st, ag) : { kind: "auto" as const };

  issues.throwIfAny();
  return { file, logLevel, logPath, runtimeDir, sockets, agent, warnings: issues.warnings() };
}

function clean(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]+/g, " ").trim().replace(/\.$/, "");
}

function reportSyntaxErrors(doc: Document.Parsed, text: string, issues: Issues): void {
  const seen = new Set<string>();
  for (const e of doc.errors) {
    const at = e.pos[0];
    const message = clean(e.message);
    const id = `${at} ${message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    // `key: {runtime_dir}/x` starts a flow mapping, a common slip.
    const line = text.slice(text.lastIndexOf("\n", at - 1) + 1, at + 1);
    const hint = /(^|[:-])\s+\{/.test(line) ? ` (quote values that start with "{")` : "";
    issues.add(at, "(syntax)", message, `valid YAML${hint}`);
    if (seen.size >= MAX_SYNTAX_ERRORS) break;
  }
}

function readLogLevel(st: State, v: Value): LogLevel | undefined {
  const s = stringOf(st, v, "log_level", EXPECT.logLevel);
  if (s === undefined) return undefined;
  if ((LOG_LEVELS as readonly string[]).includes(s)) return s as LogLevel;
  st.issues.add(v.at, "log_level", `unknown level ${quote(s)}`, EXPECT.logLevel);
  return undefined;
}

function readAgent(st: State, v: Value): AgentConfig {
  if (!isMap(v.node)) {
    st.issues.add(v.at, "agent", `got ${describe(v.node)}`, EXPECT.agent);
    return { kind: "auto" };
  }
  const fields = readMap(st, v, "agent", AGENT_KEYS);
  const given = (k: string) => {
    const e = fields.get(k);
    return e === undefined || isNull(e.value.node) ? undefined : e;
  };
  const cmd = given("command");
  const path = given("path");
  if (cmd && path) {
    st.issues.add(
      Math.max(cmd.keyAt, path.keyAt),
      "agent",
      "command and path are both set",
      "only one of them",
    );
  }
  // Both are still checked so that every problem shows up at once.
  const p = path && readPath(st, path.value, "agent.path", EXPECT.path);
  const command = cmd && readCommand(st, cmd.value);
  if (p !== undefined) return { kind: "path", path: p };
  if (command !== undefined) return { kind: "command", command };
  return { kind: "auto" };
}

function readCommand(st: State, v: Value): string[] | undefined {
  if (!isSeq(v.node) || v.node.items.length === 0) {
    const got = isSeq(v.node) ? "an empty list" : describe(v.node);
    st.issues.add(v.at, "agent.command", `got ${got}`, EXPECT.command);
    return undefined;
  }
  const argv: string[] = [];
  v.node.items.forEach((raw, i) => {
    const item = deref(st, raw, v.at);
    const key = `agent.command[${i}]`;
    const s = stringOf(st, item, key, EXPECT.commandItem);
    if (s === undefined) return;
    if (i === 0 && s === "") {
      st.issues.add(
        item.at,
        key,
        "empty program name",
        "the agent program, such as wsl2proxy-agent.exe",
      );
      return;
    }
    // Like shell words: `~` and `~/...` expand in every item, but only the
    // program may not be `~user` (an argument like `~foo` is left alone).
    const tildeToo = i === 0 || s === "~" || s.startsWith("~/");
    const expanded = expand(st, item, key, s, EXPECT.template, tildeToo);
    if (expanded !== undefined) argv.push(expanded);
  });
  return argv.length === v.node.items.length ? argv : undefined;
}
