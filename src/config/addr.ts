/**
 * Parsing and formatting of socket addresses. Pure: each parser returns the
 * typed address or a problem/expected pair for the config message. The agent
 * uses {@linkcode parseWindowsAddr} again on the stream target it receives.
 *
 * @module
 */

import { checkAbsolutePath, fail, hasControl, type Result, utf8Length } from "./_expand.ts";
import { quote } from "./_issues.ts";
import { GPG_SOCKETS, type GpgSocket, type LinuxAddr, type WindowsAddr } from "./types.ts";

export type { Result } from "./_expand.ts";

/** What a `windows_addr` may look like (the "expected" text of its errors). */
export const WINDOWS_ADDR_FORMS =
  "pipe://./pipe/NAME, unix://C:/path, tcp://HOST:PORT, assuan://C:/path, gpg://agent or pageant://";
/** What a `linux_addr` may look like (the "expected" text of its errors). */
export const LINUX_ADDR_FORMS = "an absolute path, unix:///path or tcp://127.0.0.1:PORT";

/** Longest AF_UNIX path in bytes: `sun_path` is 108 bytes on Linux and Windows, NUL included. */
export const MAX_UNIX_PATH_BYTES = 107;
/** Longest pipe name (the part after `\\.\pipe\`). */
export const MAX_PIPE_NAME = 256;

const PIPE_FORM = "pipe://./pipe/NAME";
const WIN_UNIX_FORM = "unix://C:/path/to/socket";
const POSIX_UNIX_FORM = "unix:///absolute/path/to/socket (an agent on Linux)";
const TCP_FORM = "tcp://HOST:PORT";
const PAGEANT_FORM = "pageant:// (nothing after the //)";
const WIN_ASSUAN_FORM = "assuan://C:/path/to/S.gpg-agent";
const POSIX_ASSUAN_FORM = "assuan:///absolute/path/to/S.gpg-agent (an agent on Linux)";
const GPG_FORM = "gpg://agent, gpg://extra or gpg://browser";
/** Longest Windows path (MAX_PATH less the NUL): the assuan socket file is opened as a file. */
const MAX_WINDOWS_FILE_PATH = 259;
const LOOPBACK = "127.0.0.0/8, ::1 or localhost (or allow_remote: true on this socket)";

/** Splits `scheme://rest`; scheme is lower-cased. `undefined` when there is no `://`. */
function splitScheme(s: string): { scheme: string; rest: string } | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(s);
  return m ? { scheme: m[1].toLowerCase(), rest: m[2] } : undefined;
}

/**
 * Parses a `windows_addr`: `pipe://./pipe/NAME`, `unix://C:/path` (also
 * `unix:///C:/path`, either slash), `tcp://HOST:PORT` or `pageant://` (the
 * user's Pageant, or an agent that emulates it, found when dialled). `unix:///abs/path`
 * (a POSIX path, kept as is) is accepted too, for an agent that runs on
 * Linux (tests, or the Linux build through `agent.command`); the agent
 * refuses it on Windows, and a drive-letter path on Linux, when it dials.
 */
export function parseWindowsAddr(s: string): Result<WindowsAddr> {
  if (s.trim() === "") return fail("empty address", WINDOWS_ADDR_FORMS);
  const parts = splitScheme(s);
  if (parts === undefined) {
    if (/^\\\\\.\\pipe\\/i.test(s)) {
      return fail(`${quote(s)} is a Windows pipe path, not a URL`, PIPE_FORM);
    }
    if (/^(pipe|unix|tcp|pageant|assuan|gpg):/i.test(s)) {
      return fail(`${quote(s)} has no // after the scheme`, WINDOWS_ADDR_FORMS);
    }
    return fail(`${quote(s)} has no scheme`, WINDOWS_ADDR_FORMS);
  }
  const { scheme, rest } = parts;
  if (scheme === "pipe") return parsePipe(rest);
  if (scheme === "unix") return parseWindowsUnix(rest);
  if (scheme === "pageant") {
    // Pageant has one instance per user, found at run time: nothing to name.
    if (rest !== "" && rest !== "/") {
      return fail(`unexpected ${quote(rest)} after ${quote("pageant://")}`, PAGEANT_FORM);
    }
    return { ok: true, value: { kind: "pageant", url: "pageant://" } };
  }
  if (scheme === "assuan") return parseAssuan(rest);
  if (scheme === "gpg") return parseGpg(rest);
  if (scheme === "tcp") {
    const hp = parseHostPort(rest);
    if (!hp.ok) return hp;
    const { host, port } = hp.value;
    return {
      ok: true,
      value: { kind: "tcp", host, port, url: `tcp://${hostForUrl(host)}:${port}` },
    };
  }
  return fail(`unknown scheme ${quote(scheme + "://")}`, WINDOWS_ADDR_FORMS);
}

function parsePipe(rest: string): Result<WindowsAddr> {
  const m = /^([^/]*)\/([^/]*)\/(.*)$/s.exec(rest);
  if (!m) return fail(`malformed pipe address ${quote("pipe://" + rest)}`, PIPE_FORM);
  const [, host, dir, name] = m;
  if (host !== ".") {
    const got = host === "" ? "no host" : `host ${quote(host)}`;
    return fail(`only local pipes are supported, got ${got}`, PIPE_FORM);
  }
  if (dir.toLowerCase() !== "pipe") {
    return fail(`pipe path must start with /pipe/, got ${quote(`/${dir}/`)}`, PIPE_FORM);
  }
  if (name === "") return fail("empty pipe name", PIPE_FORM);
  if (name.includes("\\")) {
    return fail(`pipe name ${quote(name)} contains a backslash`, "a pipe name without \\");
  }
  if (hasControl(name)) {
    return fail(`pipe name ${quote(name)} contains a control character`, "a printable pipe name");
  }
  const length = [...name].length;
  if (length > MAX_PIPE_NAME) {
    return fail(`pipe name is ${length} characters long`, `at most ${MAX_PIPE_NAME} characters`);
  }
  return {
    ok: true,
    value: { kind: "pipe", path: `\\\\.\\pipe\\${name}`, url: `pipe://./pipe/${name}` },
  };
}

function parseWindowsUnix(rest: string): Result<WindowsAddr> {
  // `unix:///C:/x` is the file-URL spelling of `unix://C:/x`; accept both.
  if (rest.startsWith("/") && !/^\/[A-Za-z]:/.test(rest)) return parsePosixUnix(rest);
  const parsed = parseWindowsPath("unix", rest, WIN_UNIX_FORM);
  if (!parsed.ok) return parsed;
  const { path, url } = parsed.value;
  const bytes = utf8Length(path);
  if (bytes > MAX_UNIX_PATH_BYTES) {
    return fail(
      `socket path is ${bytes} bytes long`,
      `at most ${MAX_UNIX_PATH_BYTES} bytes (the AF_UNIX limit)`,
    );
  }
  return { ok: true, value: { kind: "unix", path, url } };
}

/**
 * `assuan://C:/path` (or `assuan:///abs/path` for an agent on Linux): a
 * socket file of libassuan's emulation. It is read as a file, not connected
 * to, so the AF_UNIX length limit does not apply.
 */
function parseAssuan(rest: string): Result<WindowsAddr> {
  if (rest.startsWith("/") && !/^\/[A-Za-z]:/.test(rest)) {
    const checked = checkAbsolutePath(rest, POSIX_ASSUAN_FORM);
    if (!checked.ok) return checked;
    const path = checked.value;
    if (path === "/") {
      return fail(
        `${quote("assuan://" + rest)} names a directory, not a socket file`,
        POSIX_ASSUAN_FORM,
      );
    }
    return { ok: true, value: { kind: "assuan", path, url: `assuan://${path}` } };
  }
  const parsed = parseWindowsPath("assuan", rest, WIN_ASSUAN_FORM);
  if (!parsed.ok) return parsed;
  const { path, url } = parsed.value;
  if (path.length > MAX_WINDOWS_FILE_PATH) {
    return fail(
      `path is ${path.length} characters long`,
      `at most ${MAX_WINDOWS_FILE_PATH} characters (MAX_PATH)`,
    );
  }
  return { ok: true, value: { kind: "assuan", path, url } };
}

/** `gpg://agent`, `gpg://extra` or `gpg://browser` (a trailing slash is tolerated). */
function parseGpg(rest: string): Result<WindowsAddr> {
  const name = rest.replace(/\/$/, "").toLowerCase();
  if (!(GPG_SOCKETS as readonly string[]).includes(name)) {
    return fail(`unknown gpg-agent socket ${quote(rest)}`, GPG_FORM);
  }
  const socket = name as GpgSocket;
  return { ok: true, value: { kind: "gpg", socket, url: `gpg://${socket}` } };
}

/**
 * A drive-letter path after `scheme://` (or `scheme:///`), normalised to
 * backslashes (`path`) and to the canonical URL (`url`).
 */
function parseWindowsPath(
  scheme: string,
  rest: string,
  form: string,
): Result<{ path: string; url: string }> {
  const path = rest.startsWith("/") ? rest.slice(1) : rest;
  if (!/^[A-Za-z]:[\\/]/.test(path)) {
    return fail(`${quote(`${scheme}://` + rest)} is not an absolute Windows path`, form);
  }
  const body = path.slice(3);
  // deno-lint-ignore no-control-regex
  const bad = /[<>:"|?*\u0000-\u001f]/.exec(body);
  if (bad) {
    return fail(
      `Windows path ${quote(path)} contains ${quote(bad[0])}`,
      'a path without <>:"|?* or control characters',
    );
  }
  const segments: string[] = [];
  for (const seg of body.split(/[\\/]/)) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") segments.pop();
    else segments.push(seg);
  }
  if (segments.length === 0) {
    return fail(`${quote(path)} names a drive, not a socket file`, form);
  }
  const drive = path[0].toUpperCase();
  return {
    ok: true,
    value: {
      path: `${drive}:\\${segments.join("\\")}`,
      url: `${scheme}://${drive}:/${segments.join("/")}`,
    },
  };
}

/** `unix:///abs/path` for an agent on Linux: the path is normalised and kept POSIX. */
function parsePosixUnix(rest: string): Result<WindowsAddr> {
  const checked = checkAbsolutePath(rest, POSIX_UNIX_FORM);
  if (!checked.ok) return checked;
  const path = checked.value;
  if (path === "/") {
    return fail(`${quote("unix://" + rest)} names a directory, not a socket file`, POSIX_UNIX_FORM);
  }
  const bytes = utf8Length(path);
  if (bytes > MAX_UNIX_PATH_BYTES) {
    return fail(
      `socket path is ${bytes} bytes long`,
      `at most ${MAX_UNIX_PATH_BYTES} bytes (the AF_UNIX limit)`,
    );
  }
  return { ok: true, value: { kind: "unix", path, url: `unix://${path}` } };
}

/** Parses `HOST:PORT` or `[IPV6]:PORT`; IPv6 hosts come back without brackets. */
export function parseHostPort(s: string): Result<{ host: string; port: number }> {
  if (s === "") return fail("missing host and port", TCP_FORM);
  let host: string;
  let portText: string;
  if (s.startsWith("[")) {
    const m = /^\[([^\]]*)\](?::(.*))?$/s.exec(s);
    if (!m) return fail(`malformed IPv6 host in ${quote(s)}`, "tcp://[IPV6]:PORT");
    if (m[2] === undefined) return fail(`missing port in ${quote(s)}`, TCP_FORM);
    [, host, portText] = m;
    if (parseIPv6(host) === undefined) {
      return fail(`invalid IPv6 address ${quote(host)}`, "an IPv6 address such as [::1]");
    }
  } else {
    const slash = s.search(/[/?#@]/);
    if (slash >= 0) return fail(`unexpected ${quote(s.slice(slash))} in ${quote(s)}`, TCP_FORM);
    const colon = s.lastIndexOf(":");
    if (colon < 0) return fail(`missing port in ${quote(s)}`, TCP_FORM);
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(":")) {
      return fail(`IPv6 address ${quote(host)} is not in brackets`, "tcp://[IPV6]:PORT");
    }
    if (host === "") return fail("missing host", TCP_FORM);
    if (!/^[A-Za-z0-9._-]+$/.test(host)) {
      return fail(`invalid host ${quote(host)}`, "a host name or IP address");
    }
    if (/^[0-9.]+$/.test(host) && parseIPv4(host) === undefined) {
      return fail(
        `invalid IPv4 address ${quote(host)}`,
        "four numbers from 0 to 255, such as 127.0.0.1",
      );
    }
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    return fail(`invalid port ${quote(portText)}`, "an integer from 1 to 65535");
  }
  return { ok: true, value: { host, port: Number(portText) } };
}

function parseIPv4(s: string): number[] | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const nums = parts.map((p) => (/^[0-9]{1,3}$/.test(p) ? Number(p) : 256));
  return nums.every((n) => n <= 255) ? nums : undefined;
}

/** The eight 16-bit groups of an IPv6 address (`::` and a trailing IPv4 allowed). */
function parseIPv6(s: string): number[] | undefined {
  let text = s;
  const v4 = /^(.*:)([0-9.]+)$/.exec(s);
  if (v4 && v4[2].includes(".")) {
    const q = parseIPv4(v4[2]);
    if (q === undefined) return undefined;
    text = `${v4[1]}${((q[0] << 8) | q[1]).toString(16)}:${((q[2] << 8) | q[3]).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (
    h: string,
  ) => (h === ""
    ? []
    : h.split(":").map((g) => (/^[0-9A-Fa-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if ([...head, ...tail].some(Number.isNaN)) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const missing = 8 - head.length - tail.length;
  return missing < 1 ? undefined : [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/** True for `localhost`, 127.0.0.0/8 and `::1` (in any spelling, or v4-mapped 127/8). */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  if (parseIPv4(host)?.[0] === 127) return true;
  const g = parseIPv6(host);
  if (g === undefined || g.slice(0, 5).some((x) => x !== 0)) return false;
  return (g[5] === 0 && g[6] === 0 && g[7] === 1) || (g[5] === 0xffff && g[6] >> 8 === 127);
}

/**
 * Parses a `linux_addr` (after `~` and `{runtime_dir}` expansion): an absolute
 * path, `unix:///path` or `tcp://HOST:PORT` (loopback unless `allowRemote`).
 */
export function parseLinuxAddr(s: string, allowRemote: boolean): Result<LinuxAddr> {
  if (s.trim() === "") return fail("empty address", LINUX_ADDR_FORMS);
  const parts = splitScheme(s);
  let pathText = s;
  if (parts !== undefined) {
    const { scheme, rest } = parts;
    if (scheme === "tcp") {
      const hp = parseHostPort(rest);
      if (!hp.ok) return hp;
      const { host, port } = hp.value;
      if (!allowRemote && !isLoopbackHost(host)) {
        return fail(`host ${quote(host)} is not loopback`, LOOPBACK);
      }
      return { ok: true, value: { kind: "tcp", host, port } };
    }
    if (scheme !== "unix") return fail(`unknown scheme ${quote(scheme + "://")}`, LINUX_ADDR_FORMS);
    if (!rest.startsWith("/")) {
      return fail(`${quote(s)} is not an absolute path`, "unix:///absolute/path");
    }
    pathText = rest;
  }
  const checked = checkAbsolutePath(pathText, LINUX_ADDR_FORMS);
  if (!checked.ok) return checked;
  const path = checked.value;
  if (path === "/") {
    return fail(`${quote(s)} names a directory, not a socket file`, LINUX_ADDR_FORMS);
  }
  const bytes = utf8Length(path);
  if (bytes > MAX_UNIX_PATH_BYTES) {
    return fail(
      `socket path is ${bytes} bytes long`,
      `at most ${MAX_UNIX_PATH_BYTES} bytes (the AF_UNIX limit)`,
    );
  }
  return { ok: true, value: { kind: "unix", path } };
}

function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** The canonical URL of a Windows address (the stream target sent to the agent). */
export function formatWindowsAddr(addr: WindowsAddr): string {
  return addr.url;
}

/** A Linux address for logs and `wsl2proxy env`: the path, or `tcp://host:port`. */
export function formatLinuxAddr(addr: LinuxAddr): string {
  return addr.kind === "unix" ? addr.path : `tcp://${hostForUrl(addr.host)}:${addr.port}`;
}

/** A key under which two Linux addresses that would collide compare equal. */
export function linuxAddrKey(addr: LinuxAddr): string {
  return addr.kind === "unix" ? `unix:${addr.path}` : `tcp:${addr.host.toLowerCase()}:${addr.port}`;
}
