import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  formatLinuxAddr,
  formatWindowsAddr,
  isLoopbackHost,
  parseHostPort,
  parseLinuxAddr,
  parseWindowsAddr,
  type Result,
  WINDOWS_ADDR_FORMS,
} from "./addr.ts";

function value<T>(r: Result<T>): T {
  if (!r.ok) assert.fail(`unexpected failure: ${r.problem}; expected ${r.expected}`);
  return r.value;
}

function failure<T>(r: Result<T>): string {
  assert.ok(!r.ok, "expected a failure");
  return `${r.problem}; expected ${r.expected}`;
}

const FORMS =
  "pipe://./pipe/NAME, unix://C:/path, tcp://HOST:PORT, assuan://C:/path, gpg://agent or pageant://";

describe("parseWindowsAddr", () => {
  test("parseWindowsAddr - pageant:// names the user's Pageant, whatever its case", () => {
    for (const s of ["pageant://", "PAGEANT://", "pageant:///"]) {
      assert.deepEqual(value(parseWindowsAddr(s)), { kind: "pageant", url: "pageant://" }, s);
    }
    const a = value(parseWindowsAddr("pageant://"));
    assert.deepEqual(value(parseWindowsAddr(formatWindowsAddr(a))), a);
  });

  test("parseWindowsAddr - turns a pipe URL into a \\\\.\\pipe\\ path", () => {
    assert.deepEqual(value(parseWindowsAddr("pipe://./pipe/openssh-ssh-agent")), {
      kind: "pipe",
      path: "\\\\.\\pipe\\openssh-ssh-agent",
      url: "pipe://./pipe/openssh-ssh-agent",
    });
    assert.equal(value(parseWindowsAddr("PIPE://./PIPE/x")).url, "pipe://./pipe/x");
  });

  test("parseWindowsAddr - accepts unix://C:/..., unix:///C:/... and backslashes alike", () => {
    for (
      const s of [
        "unix://C:/a/b.sock",
        "unix:///C:/a/b.sock",
        "unix://c:\\a\\b.sock",
        "unix://C:/a//./x/../b.sock",
      ]
    ) {
      assert.deepEqual(value(parseWindowsAddr(s)), {
        kind: "unix",
        path: "C:\\a\\b.sock",
        url: "unix://C:/a/b.sock",
      }, s);
    }
  });

  test("parseWindowsAddr - accepts unix:///abs/path as a POSIX path for an agent on Linux", () => {
    for (const s of ["unix:///tmp/a.sock", "unix:///tmp//x/../a.sock", "UNIX:///tmp/./a.sock"]) {
      assert.deepEqual(value(parseWindowsAddr(s)), {
        kind: "unix",
        path: "/tmp/a.sock",
        url: "unix:///tmp/a.sock",
      }, s);
    }
    // A one-letter top directory is POSIX; only "/X:" is a drive.
    assert.equal(value(parseWindowsAddr("unix:///C/x.sock")).url, "unix:///C/x.sock");
    assert.equal(value(parseWindowsAddr("unix:///C:/x.sock")).url, "unix://C:/x.sock");
  });

  test("parseWindowsAddr - explains each malformed POSIX socket path", () => {
    const form = "unix:///absolute/path/to/socket (an agent on Linux)";
    const cases: [string, string][] = [
      ["unix:///", `"unix:///" names a directory, not a socket file; expected ${form}`],
      ["unix:///a/..", `"unix:///a/.." names a directory, not a socket file; expected ${form}`],
      [
        "unix:///tmp/a\u0007",
        `path "/tmp/a\\u0007" contains a control character; expected ${form}`,
      ],
      [
        `unix:///${"d".repeat(120)}`,
        "socket path is 121 bytes long; expected at most 107 bytes (the AF_UNIX limit)",
      ],
      // Still relative, so still not a Windows path either.
      [
        "unix://tmp/a.sock",
        '"unix://tmp/a.sock" is not an absolute Windows path; expected unix://C:/path/to/socket',
      ],
    ];
    for (const [s, want] of cases) assert.equal(failure(parseWindowsAddr(s)), want, s);
  });

  test("parseWindowsAddr - keeps IPv6 hosts unbracketed and brackets them in the URL", () => {
    assert.deepEqual(value(parseWindowsAddr("tcp://[::1]:22")), {
      kind: "tcp",
      host: "::1",
      port: 22,
      url: "tcp://[::1]:22",
    });
  });

  test("parseWindowsAddr - round-trips through its canonical URL", () => {
    for (
      const s of [
        "pipe://./pipe/a b",
        "unix:///d:/x.sock",
        "unix:///run/user/1000/x.sock",
        "tcp://h:1",
        "tcp://[::ffff:10.0.0.1]:65535",
      ]
    ) {
      const a = value(parseWindowsAddr(s));
      assert.deepEqual(value(parseWindowsAddr(formatWindowsAddr(a))), a);
    }
  });

  test("parseWindowsAddr - explains each malformed address", () => {
    const cases: [string, string][] = [
      [
        "",
        "empty address; expected pipe://./pipe/NAME, unix://C:/path, tcp://HOST:PORT, assuan://C:/path, gpg://agent or pageant://",
      ],
      [
        "openssh-ssh-agent",
        '"openssh-ssh-agent" has no scheme; expected pipe://./pipe/NAME, unix://C:/path, tcp://HOST:PORT, assuan://C:/path, gpg://agent or pageant://',
      ],
      [
        "pipe:openssh",
        '"pipe:openssh" has no // after the scheme; expected pipe://./pipe/NAME, unix://C:/path, tcp://HOST:PORT, assuan://C:/path, gpg://agent or pageant://',
      ],
      ["pipe://openssh", 'malformed pipe address "pipe://openssh"; expected pipe://./pipe/NAME'],
      [
        "pipe:///pipe/x",
        "only local pipes are supported, got no host; expected pipe://./pipe/NAME",
      ],
      [
        "pipe://./mailslot/x",
        'pipe path must start with /pipe/, got "/mailslot/"; expected pipe://./pipe/NAME',
      ],
      [
        "pipe://./pipe/a\u0001",
        'pipe name "a\\u0001" contains a control character; expected a printable pipe name',
      ],
      [
        `pipe://./pipe/${"n".repeat(257)}`,
        "pipe name is 257 characters long; expected at most 256 characters",
      ],
      ["unix://C:/", '"C:/" names a drive, not a socket file; expected unix://C:/path/to/socket'],
      [
        "unix://C:/a?b",
        'Windows path "C:/a?b" contains "?"; expected a path without <>:"|?* or control characters',
      ],
      ["tcp://", "missing host and port; expected tcp://HOST:PORT"],
      ["tcp://:22", "missing host; expected tcp://HOST:PORT"],
      ["tcp://host:22/path", 'unexpected "/path" in "host:22/path"; expected tcp://HOST:PORT'],
      [
        "tcp://300.1.1.1:22",
        'invalid IPv4 address "300.1.1.1"; expected four numbers from 0 to 255, such as 127.0.0.1',
      ],
      ["tcp://[::1]", 'missing port in "[::1]"; expected tcp://HOST:PORT'],
      ["tcp://[zz::1]:2", 'invalid IPv6 address "zz::1"; expected an IPv6 address such as [::1]'],
      ["tcp://h_o st:1", 'invalid host "h_o st"; expected a host name or IP address'],
      ["tcp://h:-1", 'invalid port "-1"; expected an integer from 1 to 65535'],
      [
        "pageant://x",
        'unexpected "x" after "pageant://"; expected pageant:// (nothing after the //)',
      ],
      ["pageant:", '"pageant:" has no // after the scheme; expected ' + FORMS],
    ];
    for (const [s, want] of cases) assert.equal(failure(parseWindowsAddr(s)), want, s);
  });
});

describe("parseLinuxAddr", () => {
  test("parseLinuxAddr - normalises paths and unix:// URLs", () => {
    assert.deepEqual(value(parseLinuxAddr("/run//x/./y/../s.sock", false)), {
      kind: "unix",
      path: "/run/x/s.sock",
    });
    assert.deepEqual(value(parseLinuxAddr("unix:///run/s.sock", false)), {
      kind: "unix",
      path: "/run/s.sock",
    });
  });

  test("parseLinuxAddr - allows only loopback TCP hosts unless allow_remote", () => {
    for (
      const h of [
        "127.0.0.1",
        "127.9.8.7",
        "localhost",
        "[::1]",
        "[0:0:0:0:0:0:0:1]",
        "[::ffff:127.0.0.1]",
      ]
    ) {
      assert.equal(value(parseLinuxAddr(`tcp://${h}:1`, false)).kind, "tcp", h);
    }
    for (const h of ["0.0.0.0", "10.0.0.1", "[::]", "example.com", "128.0.0.1"]) {
      assert.ok(!parseLinuxAddr(`tcp://${h}:1`, false).ok, h);
      assert.ok(parseLinuxAddr(`tcp://${h}:1`, true).ok, h);
    }
  });

  test("parseLinuxAddr - explains each malformed address", () => {
    const cases: [string, string][] = [
      [
        "unix://run/s.sock",
        '"unix://run/s.sock" is not an absolute path; expected unix:///absolute/path',
      ],
      [
        "/",
        '"/" names a directory, not a socket file; expected an absolute path, unix:///path or tcp://127.0.0.1:PORT',
      ],
      [
        "$XDG_RUNTIME_DIR/s.sock",
        'environment variables are not expanded in "$XDG_RUNTIME_DIR/s.sock"; ' +
        "expected an absolute path, unix:///path or tcp://127.0.0.1:PORT",
      ],
      [
        "/tmp/a\nb",
        'path "/tmp/a\\nb" contains a control character; expected an absolute path, unix:///path or tcp://127.0.0.1:PORT',
      ],
      [
        "pipe://./pipe/x",
        'unknown scheme "pipe://"; expected an absolute path, unix:///path or tcp://127.0.0.1:PORT',
      ],
    ];
    for (const [s, want] of cases) assert.equal(failure(parseLinuxAddr(s, false)), want, s);
  });

  test("formatLinuxAddr - prints a path or a tcp:// URL", () => {
    assert.equal(formatLinuxAddr({ kind: "unix", path: "/a" }), "/a");
    assert.equal(formatLinuxAddr({ kind: "tcp", host: "::1", port: 5 }), "tcp://[::1]:5");
  });
});

describe("assuan:// and gpg:// targets", () => {
  test("parseWindowsAddr - assuan:// takes a Windows path (either slash) or, for an agent on Linux, a POSIX one", () => {
    for (
      const s of [
        "assuan://C:/Users/me/AppData/Local/gnupg/S.gpg-agent",
        "ASSUAN:///c:\\Users\\me\\AppData\\Local\\gnupg\\S.gpg-agent",
      ]
    ) {
      assert.deepEqual(value(parseWindowsAddr(s)), {
        kind: "assuan",
        path: "C:\\Users\\me\\AppData\\Local\\gnupg\\S.gpg-agent",
        url: "assuan://C:/Users/me/AppData/Local/gnupg/S.gpg-agent",
      });
    }
    assert.deepEqual(value(parseWindowsAddr("assuan:///tmp//g/./S.gpg-agent")), {
      kind: "assuan",
      path: "/tmp/g/S.gpg-agent",
      url: "assuan:///tmp/g/S.gpg-agent",
    });
    // A file, not an AF_UNIX address: longer than sun_path is fine.
    const long = `C:/${"d".repeat(150)}/S.gpg-agent`;
    assert.equal(value(parseWindowsAddr(`assuan://${long}`)).kind, "assuan");
  });

  test("parseWindowsAddr - gpg://agent, extra and browser", () => {
    for (const name of ["agent", "extra", "browser"]) {
      assert.deepEqual(value(parseWindowsAddr(`gpg://${name}`)), {
        kind: "gpg",
        socket: name,
        url: `gpg://${name}`,
      });
    }
    assert.equal(value(parseWindowsAddr("GPG://Agent/")).url, "gpg://agent");
  });

  test("parseWindowsAddr - bad assuan:// and gpg:// addresses say what is expected", () => {
    const cases: [string, string][] = [
      [
        "assuan://S.gpg-agent",
        '"assuan://S.gpg-agent" is not an absolute Windows path; expected assuan://C:/path/to/S.gpg-agent',
      ],
      [
        "assuan://C:/",
        '"C:/" names a drive, not a socket file; expected assuan://C:/path/to/S.gpg-agent',
      ],
      [
        "assuan:///",
        '"assuan:///" names a directory, not a socket file; expected assuan:///absolute/path/to/S.gpg-agent (an agent on Linux)',
      ],
      [
        `assuan://C:/${"d".repeat(300)}`,
        "path is 303 characters long; expected at most 259 characters (MAX_PATH)",
      ],
      [
        "gpg://ssh",
        'unknown gpg-agent socket "ssh"; expected gpg://agent, gpg://extra or gpg://browser',
      ],
      ["gpg:agent", `"gpg:agent" has no // after the scheme; expected ${WINDOWS_ADDR_FORMS}`],
    ];
    for (const [s, want] of cases) assert.equal(failure(parseWindowsAddr(s)), want, s);
  });
});

describe("host helpers", () => {
  test("isLoopbackHost - knows 127/8, ::1 in any spelling and localhost", () => {
    assert.ok(isLoopbackHost("LocalHost"));
    assert.ok(isLoopbackHost("0000::0001"));
    assert.ok(!isLoopbackHost("::2"));
    assert.ok(!isLoopbackHost("localhost.example"));
    assert.ok(!isLoopbackHost("127.0.0"));
  });

  test("parseHostPort - accepts leading zeros in the port", () => {
    assert.deepEqual(value(parseHostPort("h:0080")), { host: "h", port: 80 });
  });
});
