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

import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import {
  checkAbsolutePath,
  expandTemplates,
  expandTilde,
  normalizePosixPath,
  type Result,
} from "./_expand.ts";
import { Issues, quote } from "./_issues.ts";
import {
  type Ctx,
  deref,
  describe,
  type Entry,
  isNull,
  MAX_ALIASES,
  readMap,
  resolveAliases,
  stringOf,
  type Value,
} from "./_nodes.ts";
import {
  formatLinuxAddr,
  LINUX_ADDR_FORMS,
  linuxAddrKey,
  parseLinuxAddr,
  parseWindowsAddr,
  WINDOWS_ADDR_FORMS,
} from "./addr.ts";
import { defaultConfig, defaultProtocol, defaultSocket, type EnvLookup } from "./default_config.ts";
import {
  type AgentConfig,
  type Config,
  LOG_LEVELS,
  type LogLevel,
  SOCKET_PROTOCOLS,
  type SocketConfig,
  type SocketProtocol,
} from "./types.ts";

const ROOT_KEYS = ["log_level", "log_path", "runtime_dir", "sockets", "agent"] as const;
const SOCKET_KEYS = ["env_name", "linux_addr", "windows_addr", "allow_remote", "protocol"] as const;
const AGENT_KEYS = ["command", "path"] as const;

/** Distinct YAML syntax errors reported at most; later ones are mostly echoes of the first. */
const MAX_SYNTAX_ERRORS = 20;

const EXPECT = {
  root: `a mapping of settings (${ROOT_KEYS.join(", ")})`,
  logLevel: `one of ${LOG_LEVELS.join(", ")}`,
  path: "an absolute path (~ and {runtime_dir} are expanded)",
  runtimeDir: "an absolute path (~ is expanded)",
  runtimeDirTemplates: "no templates in runtime_dir (only ~ is expanded)",
  template: "{runtime_dir}",
  sockets: "a list of sockets, each with env_name, linux_addr and windows_addr",
  socket: "a mapping with env_name, linux_addr and windows_addr",
  envName: "a shell variable name such as SSH_AUTH_SOCK",
  bool: "true or false",
  protocol: `one of ${SOCKET_PROTOCOLS.join(", ")}`,
  agent: "a mapping with command or path",
  command: 'a non-empty list of strings such as ["wsl2proxy-agent.exe"]',
  commandItem: "a string (quote numbers)",
} as const;

/** Reading state for one file: YAML document, issues, and what templates expand to. */
interface State extends Ctx {
  readonly home: string | undefined;
  readonly vars: Readonly<Record<string, string>>;
}

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

/** Applies `~` then `{...}` templates; records an issue and returns undefined on failure. */
function expand(
  st: State,
  v: Value,
  key: string,
  s: string,
  templatesExpected: string,
  tildeToo = true,
): string | undefined {
  const tilde = tildeToo ? expandTilde(s, st.home) : { ok: true as const, value: s };
  const done = tilde.ok ? expandTemplates(tilde.value, st.vars, templatesExpected) : tilde;
  return ok(st, v, key, done);
}

function ok<T>(st: Ctx, v: Value, key: string, r: Result<T>): T | undefined {
  if (r.ok) return r.value;
  st.issues.add(v.at, key, r.problem, r.expected);
  return undefined;
}

function readPath(st: State, v: Value, key: string, expected: string): string | undefined {
  const s = stringOf(st, v, key, expected);
  if (s === undefined) return undefined;
  const templates = key === "runtime_dir" ? EXPECT.runtimeDirTemplates : EXPECT.template;
  const expanded = expand(st, v, key, s, templates);
  return expanded === undefined ? undefined : ok(st, v, key, checkAbsolutePath(expanded, expected));
}

function readLogLevel(st: State, v: Value): LogLevel | undefined {
  const s = stringOf(st, v, "log_level", EXPECT.logLevel);
  if (s === undefined) return undefined;
  if ((LOG_LEVELS as readonly string[]).includes(s)) return s as LogLevel;
  st.issues.add(v.at, "log_level", `unknown level ${quote(s)}`, EXPECT.logLevel);
  return undefined;
}

function readSockets(st: State, v: Value): SocketConfig[] {
  if (!isSeq(v.node)) {
    st.issues.add(v.at, "sockets", `got ${describe(v.node)}`, EXPECT.sockets);
    return [];
  }
  if (v.node.items.length === 0) {
    st.issues.warn(v.at, "sockets", "the list is empty, so nothing is forwarded");
  }
  const sockets: SocketConfig[] = [];
  const envNames = new Map<string, number>();
  const linuxAddrs = new Map<string, number>();
  v.node.items.forEach((item, i) => {
    const s = readSocket(st, deref(st, item, v.at), `sockets[${i}]`, envNames, linuxAddrs);
    if (s !== undefined) sockets.push(s);
  });
  return sockets;
}

/** A required key's value, or undefined after recording "missing key" at the mapping. */
function required(
  st: State,
  fields: Map<string, Entry>,
  item: Value,
  p: string,
  name: string,
  expected: string,
) {
  const entry = fields.get(name);
  if (entry === undefined) st.issues.add(item.at, `${p}.${name}`, "missing key", expected);
  return entry?.value;
}

function readSocket(
  st: State,
  item: Value,
  p: string,
  envNames: Map<string, number>,
  linuxAddrs: Map<string, number>,
): SocketConfig | undefined {
  if (!isMap(item.node)) {
    st.issues.add(item.at, p, `got ${describe(item.node)}`, EXPECT.socket);
    return undefined;
  }
  const fields = readMap(st, item, p, SOCKET_KEYS);

  let allowRemote = false;
  let allowRemoteBad = false;
  const ar = fields.get("allow_remote")?.value;
  if (ar !== undefined && !isNull(ar.node)) {
    if (isScalar(ar.node) && typeof ar.node.value === "boolean") allowRemote = ar.node.value;
    else {
      st.issues.add(ar.at, `${p}.allow_remote`, `got ${describe(ar.node)}`, EXPECT.bool);
      allowRemoteBad = true;
    }
  }

  let envName: string | undefined;
  const en = required(st, fields, item, p, "env_name", EXPECT.envName);
  const enText = en && stringOf(st, en, `${p}.env_name`, EXPECT.envName);
  if (en && enText !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(enText)) {
      st.issues.add(
        en.at,
        `${p}.env_name`,
        `${quote(enText)} is not a shell variable name`,
        EXPECT.envName,
      );
    } else if (envNames.has(enText)) {
      const line = st.issues.position(envNames.get(enText)!).line;
      const problem = `duplicate env_name ${quote(enText)} (first used on line ${line})`;
      st.issues.add(en.at, `${p}.env_name`, problem, "a different env_name for each socket");
    } else {
      envNames.set(enText, en.at);
      envName = enText;
    }
  }

  let linuxAddr: SocketConfig["linuxAddr"] | undefined;
  const la = required(st, fields, item, p, "linux_addr", LINUX_ADDR_FORMS);
  const laText = la && stringOf(st, la, `${p}.linux_addr`, LINUX_ADDR_FORMS);
  const laExpanded = la && laText !== undefined
    ? expand(st, la, `${p}.linux_addr`, laText, EXPECT.template)
    : undefined;
  if (la && laExpanded !== undefined) {
    // A bad allow_remote has its own issue; blaming the host as well would be a knock-on error.
    linuxAddr = ok(
      st,
      la,
      `${p}.linux_addr`,
      parseLinuxAddr(laExpanded, allowRemote || allowRemoteBad),
    );
    const k = linuxAddr && linuxAddrKey(linuxAddr);
    if (linuxAddr && k !== undefined && linuxAddrs.has(k)) {
      const line = st.issues.position(linuxAddrs.get(k)!).line;
      const shown = quote(formatLinuxAddr(linuxAddr));
      const problem = `duplicate linux_addr ${shown} (first used on line ${line})`;
      st.issues.add(la.at, `${p}.linux_addr`, problem, "a different linux_addr for each socket");
      linuxAddr = undefined;
    } else if (k !== undefined) linuxAddrs.set(k, la.at);
    if (linuxAddr?.kind === "unix" && allowRemote) {
      st.issues.warn(ar!.at, `${p}.allow_remote`, "has no effect on a Unix socket");
    }
  }

  let windowsAddr: SocketConfig["windowsAddr"] | undefined;
  const wa = required(st, fields, item, p, "windows_addr", WINDOWS_ADDR_FORMS);
  const waText = wa && stringOf(st, wa, `${p}.windows_addr`, WINDOWS_ADDR_FORMS);
  if (wa && waText !== undefined) {
    windowsAddr = ok(st, wa, `${p}.windows_addr`, parseWindowsAddr(waText));
  }

  let protocol: SocketProtocol | undefined;
  let protocolBad = false;
  const pr = fields.get("protocol")?.value;
  if (pr !== undefined && !isNull(pr.node)) {
    const s = stringOf(st, pr, `${p}.protocol`, EXPECT.protocol);
    if (s !== undefined && (SOCKET_PROTOCOLS as readonly string[]).includes(s)) {
      protocol = s as SocketProtocol;
    } else {
      if (s !== undefined) {
        st.issues.add(pr.at, `${p}.protocol`, `unknown protocol ${quote(s)}`, EXPECT.protocol);
      }
      protocolBad = true;
    }
  }

  if (
    envName === undefined || linuxAddr === undefined || windowsAddr === undefined ||
    allowRemoteBad || protocolBad
  ) {
    return undefined;
  }
  return {
    envName,
    linuxAddr,
    windowsAddr,
    allowRemote,
    protocol: protocol ?? defaultProtocol(envName),
  };
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
