import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { parseConfig } from "./parse_config.ts";
import { ENV, envOf, FILE, yaml } from "./_test_env.ts";

const F = FILE;
const W =
  "pipe://./pipe/NAME, unix://C:/path, tcp://HOST:PORT, assuan://C:/path, gpg://agent or pageant://";
const L = "an absolute path, unix:///path or tcp://127.0.0.1:PORT";
const SOCKET_KEYS = "one of env_name, linux_addr, windows_addr, allow_remote, protocol";
const ROOT_KEYS = "one of log_level, log_path, runtime_dir, sockets, agent";

/** Parses `text` and returns the ConfigError it must throw. */
function errorOf(text: string, env = ENV): ConfigError {
  try {
    parseConfig(text, F, env, 1000);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    return e;
  }
  assert.fail("parseConfig accepted a bad config");
}

/** A config with one socket whose fields are the given lines (indented under `- `). */
function socket(...fields: string[]): string {
  return yaml("sockets:", ...fields.map((f, i) => (i === 0 ? "  - " : "    ") + f));
}

const SSH = "env_name: SSH_AUTH_SOCK";
const LIN = 'linux_addr: "{runtime_dir}/ssh.sock"';
const WIN = "windows_addr: pipe://./pipe/openssh-ssh-agent";

/** [test name, config text, the exact ConfigError message]. */
const cases: [string, string, string][] = [
  [
    "rejects an unknown windows_addr scheme",
    socket(SSH, LIN, "windows_addr: pip://./pipe/openssh-ssh-agent"),
    `${F}:4:19: sockets[0].windows_addr: unknown scheme "pip://"; expected ${W}`,
  ],
  [
    "rejects a pageant:// address with a path, at the value's column",
    socket(SSH, LIN, "windows_addr: pageant://./pipe/pageant"),
    `${F}:4:19: sockets[0].windows_addr: unexpected "./pipe/pageant" after "pageant://"; expected pageant:// (nothing after the //)`,
  ],
  [
    "rejects an unknown top-level key and suggests the right one",
    yaml("log_levle: debug"),
    `${F}:1:1: log_levle: unknown key (did you mean log_level?); expected ${ROOT_KEYS}`,
  ],
  [
    "rejects an unknown key inside a socket",
    socket(SSH, LIN, WIN, "colour: blue"),
    `${F}:5:5: sockets[0].colour: unknown key; expected ${SOCKET_KEYS}`,
  ],
  [
    "rejects an unknown protocol",
    socket(SSH, LIN, WIN, "protocol: ssh"),
    `${F}:5:15: sockets[0].protocol: unknown protocol "ssh"; expected one of raw, ssh-agent`,
  ],
  [
    "rejects a protocol of the wrong type",
    socket(SSH, LIN, WIN, "protocol: [raw]"),
    `${F}:5:15: sockets[0].protocol: got a list; expected one of raw, ssh-agent`,
  ],
  [
    "rejects a log_level of the wrong type",
    yaml("log_level: 3"),
    `${F}:1:12: log_level: got the number 3; expected one of debug, info, warn, error`,
  ],
  [
    "rejects an unknown log_level",
    yaml("log_level: verbose"),
    `${F}:1:12: log_level: unknown level "verbose"; expected one of debug, info, warn, error`,
  ],
  [
    "rejects a pipe on another machine",
    socket(SSH, LIN, "windows_addr: pipe://server/pipe/openssh-ssh-agent"),
    `${F}:4:19: sockets[0].windows_addr: only local pipes are supported, got host "server"; expected pipe://./pipe/NAME`,
  ],
  [
    "rejects a pipe name with a backslash",
    socket(SSH, LIN, String.raw`windows_addr: 'pipe://./pipe/a\b'`),
    String
      .raw`${F}:4:19: sockets[0].windows_addr: pipe name "a\b" contains a backslash; expected a pipe name without \ `
      .trimEnd(),
  ],
  [
    "rejects an empty pipe name",
    socket(SSH, LIN, "windows_addr: pipe://./pipe/"),
    `${F}:4:19: sockets[0].windows_addr: empty pipe name; expected pipe://./pipe/NAME`,
  ],
  [
    "rejects a port above 65535",
    socket(SSH, LIN, "windows_addr: tcp://localhost:70000"),
    `${F}:4:19: sockets[0].windows_addr: invalid port "70000"; expected an integer from 1 to 65535`,
  ],
  [
    "rejects a port that is not a number",
    socket(SSH, "linux_addr: tcp://127.0.0.1:ssh", WIN),
    `${F}:3:17: sockets[0].linux_addr: invalid port "ssh"; expected an integer from 1 to 65535`,
  ],
  [
    "rejects a non-loopback linux_addr without allow_remote",
    socket(SSH, "linux_addr: tcp://0.0.0.0:2375", WIN),
    `${F}:3:17: sockets[0].linux_addr: host "0.0.0.0" is not loopback; ` +
    "expected 127.0.0.0/8, ::1 or localhost (or allow_remote: true on this socket)",
  ],
  [
    "rejects a relative linux_addr",
    socket(SSH, "linux_addr: ssh.sock", WIN),
    `${F}:3:17: sockets[0].linux_addr: relative path "ssh.sock"; expected ${L}`,
  ],
  [
    "rejects a duplicate env_name",
    yaml(
      "sockets:",
      "  - env_name: SSH_AUTH_SOCK",
      '    linux_addr: "{runtime_dir}/a.sock"',
      "    windows_addr: pipe://./pipe/openssh-ssh-agent",
      "  - env_name: SSH_AUTH_SOCK",
      '    linux_addr: "{runtime_dir}/b.sock"',
      "    windows_addr: pipe://./pipe/openssh-ssh-agent",
    ),
    `${F}:5:15: sockets[1].env_name: duplicate env_name "SSH_AUTH_SOCK" (first used on line 2); ` +
    "expected a different env_name for each socket",
  ],
  [
    "rejects a duplicate linux_addr after expansion and normalisation",
    yaml(
      "sockets:",
      "  - env_name: A",
      '    linux_addr: "{runtime_dir}/a.sock"',
      "    windows_addr: pipe://./pipe/a",
      "  - env_name: B",
      "    linux_addr: unix:///run/user/1000//wsl2proxy/./x/../a.sock",
      "    windows_addr: pipe://./pipe/b",
    ),
    `${F}:6:17: sockets[1].linux_addr: duplicate linux_addr "/run/user/1000/wsl2proxy/a.sock" ` +
    "(first used on line 3); expected a different linux_addr for each socket",
  ],
  [
    "reports a YAML syntax error at the parser's position",
    yaml("log_level: 'info", "log_path: /tmp/x.log"),
    `${F}:3:1: (syntax): Missing closing 'quote; expected valid YAML`,
  ],
  [
    "explains an unquoted template that YAML read as a flow mapping",
    yaml("log_path: {runtime_dir}/proxy.log"),
    `${F}:1:24: (syntax): Unexpected scalar at node end; expected valid YAML (quote values that start with "{")`,
  ],
  [
    "rejects agent.command given as a string",
    yaml("agent:", "  command: wsl2proxy-agent.exe --verbose"),
    `${F}:2:12: agent.command: got the string "wsl2proxy-agent.exe --verbose"; ` +
    'expected a non-empty list of strings such as ["wsl2proxy-agent.exe"]',
  ],
  [
    "rejects an empty agent.command",
    yaml("agent:", "  command: []"),
    `${F}:2:12: agent.command: got an empty list; expected a non-empty list of strings such as ["wsl2proxy-agent.exe"]`,
  ],
  [
    "rejects a number inside agent.command",
    yaml("agent:", "  command: [wsl2proxy-agent.exe, --port, 22]"),
    `${F}:2:42: agent.command[2]: got the number 22; expected a string (quote numbers)`,
  ],
  [
    "rejects agent.command and agent.path together",
    yaml("agent:", "  command: [/opt/agent.exe]", "  path: /opt/agent.exe"),
    `${F}:3:3: agent: command and path are both set; expected only one of them`,
  ],
  [
    "rejects an unknown template",
    socket(SSH, 'linux_addr: "{runtime}/ssh.sock"', WIN),
    `${F}:3:17: sockets[0].linux_addr: unknown template "{runtime}"; expected {runtime_dir}`,
  ],
  [
    "rejects a template inside runtime_dir",
    yaml('runtime_dir: "{runtime_dir}/x"'),
    `${F}:1:14: runtime_dir: unknown template "{runtime_dir}"; expected no templates in runtime_dir (only ~ is expanded)`,
  ],
  [
    "rejects an env_name that is not a shell variable name",
    socket("env_name: DOCKER-HOST", LIN, WIN),
    `${F}:2:15: sockets[0].env_name: "DOCKER-HOST" is not a shell variable name; ` +
    "expected a shell variable name such as SSH_AUTH_SOCK",
  ],
  [
    "rejects a Windows AF_UNIX path without a drive letter",
    socket(SSH, LIN, "windows_addr: unix://app/app.sock"),
    `${F}:4:19: sockets[0].windows_addr: "unix://app/app.sock" is not an absolute Windows path; ` +
    "expected unix://C:/path/to/socket",
  ],
  [
    "rejects a YAML 1.1 yes for allow_remote",
    socket(SSH, "linux_addr: tcp://0.0.0.0:2375", WIN, "allow_remote: yes"),
    `${F}:5:19: sockets[0].allow_remote: got the string "yes"; expected true or false`,
  ],
  [
    "rejects a socket without windows_addr",
    socket(SSH, LIN),
    `${F}:2:5: sockets[0].windows_addr: missing key; expected ${W}`,
  ],
  [
    "rejects a key given twice",
    yaml("log_level: info", "log_level: debug"),
    `${F}:2:1: log_level: duplicate key (first set on line 1); expected each key at most once`,
  ],
  [
    "rejects a document that is a list",
    yaml("- env_name: SSH_AUTH_SOCK"),
    `${F}:1:1: (root): got a list; expected a mapping of settings (log_level, log_path, runtime_dir, sockets, agent)`,
  ],
  [
    "rejects sockets given as a mapping",
    yaml("sockets:", "  SSH_AUTH_SOCK: pipe://./pipe/openssh-ssh-agent"),
    `${F}:2:3: sockets: got a mapping; expected a list of sockets, each with env_name, linux_addr and windows_addr`,
  ],
  [
    "rejects another user's home directory",
    yaml("log_path: ~bob/proxy.log"),
    `${F}:1:11: log_path: "~bob" (another user's home) is not supported; expected ~ or ~/path`,
  ],
  [
    "rejects an IPv6 TCP host without brackets",
    socket(SSH, LIN, "windows_addr: tcp://::1:22"),
    `${F}:4:19: sockets[0].windows_addr: IPv6 address "::1" is not in brackets; expected tcp://[IPV6]:PORT`,
  ],
  [
    "rejects a Unix socket path longer than AF_UNIX allows",
    socket(SSH, `linux_addr: /tmp/${"d".repeat(100)}/s.sock`, WIN),
    `${F}:3:17: sockets[0].linux_addr: socket path is 112 bytes long; expected at most 107 bytes (the AF_UNIX limit)`,
  ],
  [
    "rejects a second YAML document",
    yaml("log_level: info", "---", "log_level: debug"),
    `${F}:2:1: (syntax): Source contains multiple documents; please use YAML.parseAllDocuments(); expected valid YAML`,
  ],
  [
    "rejects an unquoted template that YAML read as a mapping",
    yaml("log_path: {runtime_dir}"),
    `${F}:1:11: log_path: got a mapping; expected an absolute path (~ and {runtime_dir} are expanded), ` +
    'in quotes since it starts with "{"',
  ],
  [
    "rejects a raw Windows pipe path",
    socket(SSH, LIN, String.raw`windows_addr: '\\.\pipe\openssh-ssh-agent'`),
    String
      .raw`${F}:4:19: sockets[0].windows_addr: "\\.\pipe\openssh-ssh-agent" is a Windows pipe path, not a URL; ` +
    "expected pipe://./pipe/NAME",
  ],
  [
    "rejects an unknown linux_addr scheme",
    socket(SSH, "linux_addr: vsock://2:1234", WIN),
    `${F}:3:17: sockets[0].linux_addr: unknown scheme "vsock://"; expected ${L}`,
  ],
  [
    "rejects an empty required value",
    socket("env_name:", LIN, WIN),
    `${F}:2:14: sockets[0].env_name: missing value; expected a shell variable name such as SSH_AUTH_SOCK`,
  ],
];

describe("parseConfig errors", () => {
  for (const [name, text, message] of cases) {
    test(`parseConfig - ${name}`, () => {
      assert.equal(errorOf(text).message, message);
    });
  }

  test("parseConfig - collects every problem in file order, one per line", () => {
    const text = yaml(
      "log_level: loud",
      "sockets:",
      "  - env_name: 9LIVES",
      "    linux_addr: relative.sock",
      "    windows_addr: tcp://host",
      "    extra: 1",
      "agent:",
      "  path: bin/agent.exe",
    );
    const err = errorOf(text);
    assert.equal(err.code, "CONFIG");
    const lines = [
      `${F}:1:12: log_level: unknown level "loud"; expected one of debug, info, warn, error`,
      `${F}:3:15: sockets[0].env_name: "9LIVES" is not a shell variable name; expected a shell variable name such as SSH_AUTH_SOCK`,
      `${F}:4:17: sockets[0].linux_addr: relative path "relative.sock"; expected ${L}`,
      `${F}:5:19: sockets[0].windows_addr: missing port in "host"; expected tcp://HOST:PORT`,
      `${F}:6:5: sockets[0].extra: unknown key; expected ${SOCKET_KEYS}`,
      `${F}:8:9: agent.path: relative path "bin/agent.exe"; expected an absolute path (~ and {runtime_dir} are expanded)`,
    ];
    assert.equal(err.message, lines.join("\n"));
    assert.equal(err.issues.length, 6);
    assert.deepEqual(err.issues[3], {
      file: F,
      line: 5,
      column: 19,
      key: "sockets[0].windows_addr",
      problem: 'missing port in "host"',
      expected: "tcp://HOST:PORT",
    });
  });

  test("parseConfig - counts columns in characters, not UTF-16 units", () => {
    const err = errorOf(yaml('log_path: "/tmp/🙂" ', "log_level: 🙂🙂"));
    assert.equal(err.issues[0].column, 12);
    const err2 = errorOf(yaml("# 🙂", 'sockets: {"🙂": 1}'));
    assert.equal(err2.issues[0].column, 10);
  });

  test("parseConfig - rejects ~ when HOME is not set", () => {
    const err = errorOf(
      yaml("log_path: ~/proxy.log"),
      envOf({ XDG_RUNTIME_DIR: "/run/user/1000" }),
    );
    assert.equal(
      err.message,
      `${F}:1:11: log_path: ~ needs an absolute $HOME, which is not set; expected an absolute path, or HOME set`,
    );
  });

  test("parseConfig - blames an alias where it is used, not where its anchor is", () => {
    const text = yaml(
      "sockets:",
      "  - env_name: &name SSH_AUTH_SOCK",
      '    linux_addr: "{runtime_dir}/a.sock"',
      "    windows_addr: pipe://./pipe/a",
      "  - env_name: *name",
      '    linux_addr: "{runtime_dir}/b.sock"',
      "    windows_addr: pipe://./pipe/b",
    );
    assert.equal(errorOf(text).issues[0].line, 5);
  });

  test("parseConfig - refuses more than 100 aliases, naming the first one over (finding 9)", () => {
    // 20,000 aliases took 15.5 s before: the yaml package walks the whole document per alias.
    const n = 20_000;
    const text = yaml(
      "log_level: &l info",
      `agent: {command: [${Array(n).fill("*l").join(", ")}]}`,
    );
    const err = errorOf(text);
    assert.equal(err.issues.length, 1);
    const col = "agent: {command: [".length + 100 * "*l, ".length + 1;
    assert.equal(
      err.message,
      `${F}:2:${col}: (aliases): ${n} aliases; more than 100 is refused (a guard against alias bombs); ` +
        "expected at most 100 aliases (*name)",
    );
  });

  test("parseConfig - resolves 100 aliases, each to the anchor before it", () => {
    const text = yaml(
      "log_level: &l warn",
      `agent: {command: [${Array(99).fill("*l").join(", ")}]}`,
      "log_path: &l /tmp/x.log",
      "runtime_dir: *l",
    );
    const c = parseConfig(text, F, ENV, 1000);
    assert.equal(c.logLevel, "warn");
    assert.deepEqual(c.agent, { kind: "command", command: Array(99).fill("warn") });
    assert.equal(c.runtimeDir, "/tmp/x.log");
  });

  test("parseConfig - caps the message at 50 lines but keeps every issue", () => {
    const lines = ["sockets:"];
    for (let i = 0; i < 60; i++) {
      lines.push(
        `  - env_name: "bad name ${i}"`,
        "    linux_addr: /x",
        "    windows_addr: pipe://./pipe/x",
      );
    }
    const err = errorOf(yaml(...lines));
    const shown = err.message.split("\n");
    assert.equal(shown.length, 51);
    assert.equal(shown[50], `... and ${err.issues.length - 50} more problems`);
    assert.ok(err.issues.length > 60);
  });
});
