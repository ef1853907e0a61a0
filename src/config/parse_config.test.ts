import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "./parse_config.ts";
import { defaultConfig, defaultRuntimeDir } from "./default_config.ts";
import { ENV, envOf, FILE, yaml } from "./_test_env.ts";
import type { Config, SocketConfig } from "./types.ts";

const RD = "/run/user/1000/wsl2proxy";

function parse(text: string, env = ENV): Config {
  return parseConfig(text, FILE, env, 1000);
}

const SSH_DEFAULT: SocketConfig = {
  envName: "SSH_AUTH_SOCK",
  linuxAddr: { kind: "unix", path: `${RD}/default-ssh-auth.sock` },
  windowsAddr: {
    kind: "pipe",
    path: "\\\\.\\pipe\\openssh-ssh-agent",
    url: "pipe://./pipe/openssh-ssh-agent",
  },
  allowRemote: false,
  protocol: "ssh-agent",
};

describe("parseConfig defaults", () => {
  test("defaultConfig - uses XDG_RUNTIME_DIR and forwards the OpenSSH agent pipe", () => {
    assert.deepEqual(defaultConfig(ENV, 1000), {
      file: undefined,
      logLevel: "info",
      logPath: `${RD}/proxy.log`,
      runtimeDir: RD,
      sockets: [SSH_DEFAULT],
      agent: { kind: "auto" },
      warnings: [],
    });
  });

  test("defaultRuntimeDir - falls back to /tmp/wsl2proxy-$USER, then to the uid", () => {
    assert.equal(defaultRuntimeDir(envOf({ USER: "me" }), 1000), "/tmp/wsl2proxy-me");
    assert.equal(defaultRuntimeDir(envOf({}), 1000), "/tmp/wsl2proxy-1000");
    assert.equal(defaultRuntimeDir(envOf({ USER: "../etc" }), 1000), "/tmp/wsl2proxy-1000");
    assert.equal(
      defaultRuntimeDir(envOf({ XDG_RUNTIME_DIR: "relative", USER: "me" }), 1000),
      "/tmp/wsl2proxy-me",
    );
    assert.equal(
      defaultRuntimeDir(envOf({ XDG_RUNTIME_DIR: "/run/user/7/" }), 7),
      "/run/user/7/wsl2proxy",
    );
  });

  test("parseConfig - treats an empty file as all defaults", () => {
    assert.deepEqual(parse(""), { ...defaultConfig(ENV, 1000), file: FILE });
  });

  test("parseConfig - treats a file of comments as all defaults", () => {
    assert.deepEqual(parse(yaml("# wsl2proxy config", "# sockets: []")), {
      ...defaultConfig(ENV, 1000),
      file: FILE,
    });
  });

  test("parseConfig - treats a key with an empty value as absent", () => {
    const c = parse(yaml("log_level:", "sockets:", "agent:", "  # path: /opt/agent.exe"));
    assert.deepEqual(c, { ...defaultConfig(ENV, 1000), file: FILE });
  });

  test("parseConfig - accepts an empty sockets list with a warning", () => {
    const c = parse(yaml("sockets: []"));
    assert.deepEqual(c.sockets, []);
    assert.deepEqual(c.warnings, [
      `${FILE}:1:10: sockets: the list is empty, so nothing is forwarded`,
    ]);
  });

  test("parseConfig - strips a UTF-8 byte order mark", () => {
    assert.equal(parse("\uFEFFlog_level: warn\n").logLevel, "warn");
  });
});

describe("parseConfig expansion", () => {
  test("parseConfig - expands {runtime_dir} in log_path, linux_addr and agent.command, and ~ in its items", () => {
    const c = parse(yaml(
      "runtime_dir: /var/run/me/w2p/",
      'log_path: "{runtime_dir}/logs/../proxy.log"',
      "sockets:",
      "  - env_name: A",
      '    linux_addr: "{runtime_dir}/a.sock"',
      "    windows_addr: pipe://./pipe/a",
      "  - env_name: B",
      '    linux_addr: "unix://{runtime_dir}/b.sock"',
      "    windows_addr: pipe://./pipe/{runtime_dir}",
      "agent:",
      '  command: ["{runtime_dir}/agent.exe", "--log={runtime_dir}/agent.log", ~/x, ~x]',
    ));
    assert.equal(c.runtimeDir, "/var/run/me/w2p");
    assert.equal(c.logPath, "/var/run/me/w2p/proxy.log");
    assert.deepEqual(c.sockets.map((s) => s.linuxAddr), [
      { kind: "unix", path: "/var/run/me/w2p/a.sock" },
      { kind: "unix", path: "/var/run/me/w2p/b.sock" },
    ]);
    // windows_addr is dialled on Windows: no Linux templates there.
    assert.equal(c.sockets[1].windowsAddr.url, "pipe://./pipe/{runtime_dir}");
    assert.deepEqual(c.agent, {
      kind: "command",
      command: ["/var/run/me/w2p/agent.exe", "--log=/var/run/me/w2p/agent.log", "/home/me/x", "~x"],
    });
  });

  test("parseConfig - expands ~ to $HOME in runtime_dir, log_path, linux_addr and agent.path", () => {
    const c = parse(yaml(
      "runtime_dir: ~/.w2p",
      "log_path: ~/w2p.log",
      "sockets:",
      "  - env_name: A",
      "    linux_addr: ~/a.sock",
      "    windows_addr: pipe://./pipe/a",
      "agent:",
      "  path: ~/bin/wsl2proxy-agent.exe",
    ));
    assert.equal(c.runtimeDir, "/home/me/.w2p");
    assert.equal(c.logPath, "/home/me/w2p.log");
    assert.deepEqual(c.sockets[0].linuxAddr, { kind: "unix", path: "/home/me/a.sock" });
    assert.deepEqual(c.agent, { kind: "path", path: "/home/me/bin/wsl2proxy-agent.exe" });
  });

  test("parseConfig - defaults log_path and the default socket to a configured runtime_dir", () => {
    const c = parse(yaml("runtime_dir: /srv/w2p"));
    assert.equal(c.logPath, "/srv/w2p/proxy.log");
    assert.deepEqual(c.sockets[0].linuxAddr, {
      kind: "unix",
      path: "/srv/w2p/default-ssh-auth.sock",
    });
    const root = parse(yaml("runtime_dir: /"));
    assert.equal(root.logPath, "/proxy.log");
    assert.deepEqual(root.sockets[0].linuxAddr, { kind: "unix", path: "/default-ssh-auth.sock" });
  });

  test("parseConfig - resolves anchors and aliases", () => {
    const c = parse(yaml(
      "sockets:",
      "  - env_name: A",
      "    linux_addr: /tmp/a.sock",
      "    windows_addr: &agent pipe://./pipe/openssh-ssh-agent",
      "  - env_name: B",
      "    linux_addr: /tmp/b.sock",
      "    windows_addr: *agent",
    ));
    assert.equal(c.sockets[1].windowsAddr.url, "pipe://./pipe/openssh-ssh-agent");
  });
});

describe("parseConfig addresses", () => {
  test("parseConfig - accepts every windows_addr and linux_addr form", () => {
    const c = parse(yaml(
      "log_level: debug",
      "sockets:",
      "  - {env_name: P, linux_addr: /tmp/p.sock, windows_addr: 'pipe://./pipe/my pipe/with slash'}",
      "  - {env_name: U1, linux_addr: 'unix:///tmp/u1.sock', windows_addr: 'unix://C:/Users/me/app.sock'}",
      "  - {env_name: U2, linux_addr: /tmp/u2.sock, windows_addr: 'unix:///d:\\sock\\x.sock'}",
      "  - {env_name: T1, linux_addr: 'tcp://127.0.0.1:8080', windows_addr: 'tcp://localhost:80'}",
      "  - {env_name: T2, linux_addr: 'tcp://[::1]:8081', windows_addr: 'tcp://[fe80::1]:22'}",
      "  - {env_name: T3, linux_addr: 'tcp://localhost:8082', windows_addr: 'tcp://192.168.1.10:2375'}",
      "  - {env_name: T4, linux_addr: 'tcp://0.0.0.0:8083', windows_addr: 'tcp://db.example:5432', allow_remote: true}",
    ));
    assert.equal(c.logLevel, "debug");
    assert.deepEqual(c.sockets.map((s) => [s.envName, s.linuxAddr, s.windowsAddr, s.allowRemote]), [
      ["P", { kind: "unix", path: "/tmp/p.sock" }, {
        kind: "pipe",
        path: "\\\\.\\pipe\\my pipe/with slash",
        url: "pipe://./pipe/my pipe/with slash",
      }, false],
      ["U1", { kind: "unix", path: "/tmp/u1.sock" }, {
        kind: "unix",
        path: "C:\\Users\\me\\app.sock",
        url: "unix://C:/Users/me/app.sock",
      }, false],
      ["U2", { kind: "unix", path: "/tmp/u2.sock" }, {
        kind: "unix",
        path: "D:\\sock\\x.sock",
        url: "unix://D:/sock/x.sock",
      }, false],
      ["T1", { kind: "tcp", host: "127.0.0.1", port: 8080 }, {
        kind: "tcp",
        host: "localhost",
        port: 80,
        url: "tcp://localhost:80",
      }, false],
      ["T2", { kind: "tcp", host: "::1", port: 8081 }, {
        kind: "tcp",
        host: "fe80::1",
        port: 22,
        url: "tcp://[fe80::1]:22",
      }, false],
      ["T3", { kind: "tcp", host: "localhost", port: 8082 }, {
        kind: "tcp",
        host: "192.168.1.10",
        port: 2375,
        url: "tcp://192.168.1.10:2375",
      }, false],
      ["T4", { kind: "tcp", host: "0.0.0.0", port: 8083 }, {
        kind: "tcp",
        host: "db.example",
        port: 5432,
        url: "tcp://db.example:5432",
      }, true],
    ]);
    assert.deepEqual(c.warnings, []);
  });

  test("parseConfig - warns that allow_remote does nothing on a Unix socket", () => {
    const c = parse(
      yaml(
        "sockets:",
        "  - {env_name: A, linux_addr: /tmp/a.sock, windows_addr: 'pipe://./pipe/a', allow_remote: true}",
      ),
    );
    assert.deepEqual(c.warnings, [
      `${FILE}:2:91: sockets[0].allow_remote: has no effect on a Unix socket`,
    ]);
  });
});

describe("parseConfig protocol", () => {
  test("parseConfig - makes SSH_AUTH_SOCK and every *_AUTH_SOCK ssh-agent, and the rest raw, unless told", () => {
    const c = parse(yaml(
      "sockets:",
      "  - {env_name: SSH_AUTH_SOCK, linux_addr: /tmp/a.sock, windows_addr: 'pipe://./pipe/a'}",
      "  - {env_name: SSH_SUDO_AUTH_SOCK, linux_addr: /tmp/b.sock, windows_addr: 'pipe://./pipe/b'}",
      "  - {env_name: DOCKER_SOCK, linux_addr: /tmp/c.sock, windows_addr: 'pipe://./pipe/c'}",
      "  - {env_name: AUTH_SOCK, linux_addr: /tmp/d.sock, windows_addr: 'pipe://./pipe/d'}",
      "  - {env_name: GPG_AUTH_SOCK, linux_addr: /tmp/e.sock, windows_addr: 'pipe://./pipe/e', protocol: raw}",
      "  - {env_name: PAGEANT, linux_addr: /tmp/f.sock, windows_addr: 'pipe://./pipe/f', protocol: ssh-agent}",
      "  - {env_name: X_AUTH_SOCK, linux_addr: /tmp/g.sock, windows_addr: 'pipe://./pipe/g', protocol: }",
    ));
    assert.deepEqual(c.sockets.map((s) => [s.envName, s.protocol]), [
      ["SSH_AUTH_SOCK", "ssh-agent"],
      ["SSH_SUDO_AUTH_SOCK", "ssh-agent"],
      ["DOCKER_SOCK", "raw"],
      ["AUTH_SOCK", "raw"],
      ["GPG_AUTH_SOCK", "raw"],
      ["PAGEANT", "ssh-agent"],
      ["X_AUTH_SOCK", "ssh-agent"],
    ]);
  });
});

describe("parseConfig README examples", () => {
  test("parseConfig - accepts the README's OpenSSH / 1Password example", () => {
    const c = parse(yaml(
      "# Windows OpenSSH agent, or 1Password with its SSH agent turned on",
      "sockets:",
      "  - env_name: SSH_AUTH_SOCK",
      '    linux_addr: "{runtime_dir}/default-ssh-auth.sock"',
      "    windows_addr: pipe://./pipe/openssh-ssh-agent",
    ));
    assert.deepEqual(c.sockets, [SSH_DEFAULT]);
  });

  test("parseConfig - accepts the README's Docker Desktop example", () => {
    const c = parse(yaml(
      "sockets:",
      "  - env_name: DOCKER_HOST",
      '    linux_addr: "{runtime_dir}/docker.sock"',
      "    windows_addr: pipe://./pipe/docker_engine",
    ));
    assert.deepEqual(c.sockets, [{
      envName: "DOCKER_HOST",
      linuxAddr: { kind: "unix", path: `${RD}/docker.sock` },
      windowsAddr: {
        kind: "pipe",
        path: "\\\\.\\pipe\\docker_engine",
        url: "pipe://./pipe/docker_engine",
      },
      allowRemote: false,
      protocol: "raw",
    }]);
  });

  test("parseConfig - accepts the README's Tailscale example", () => {
    const c = parse(yaml(
      "sockets:",
      "  - env_name: TAILSCALE_SOCKET",
      '    linux_addr: "{runtime_dir}/tailscaled.sock"',
      "    windows_addr: tcp://localhost:41112",
    ));
    assert.deepEqual(c.sockets, [{
      envName: "TAILSCALE_SOCKET",
      linuxAddr: { kind: "unix", path: `${RD}/tailscaled.sock` },
      windowsAddr: { kind: "tcp", host: "localhost", port: 41112, url: "tcp://localhost:41112" },
      allowRemote: false,
      protocol: "raw",
    }]);
  });

  test("parseConfig - accepts the README's Windows AF_UNIX socket example", () => {
    const c = parse(yaml(
      "log_level: warn",
      'log_path: "{runtime_dir}/wsl2proxy.log"',
      "sockets:",
      "  - env_name: APP_SOCK",
      '    linux_addr: "{runtime_dir}/app.sock"',
      "    windows_addr: unix://C:/Users/me/AppData/Local/app/app.sock",
      "agent:",
      "  path: /mnt/c/Users/me/bin/wsl2proxy-agent.exe",
    ));
    assert.equal(c.logLevel, "warn");
    assert.equal(c.logPath, `${RD}/wsl2proxy.log`);
    assert.deepEqual(c.sockets[0].windowsAddr, {
      kind: "unix",
      path: "C:\\Users\\me\\AppData\\Local\\app\\app.sock",
      url: "unix://C:/Users/me/AppData/Local/app/app.sock",
    });
    assert.deepEqual(c.agent, { kind: "path", path: "/mnt/c/Users/me/bin/wsl2proxy-agent.exe" });
  });
});
