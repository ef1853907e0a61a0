/**
 * Dialling a target on the agent's side: a named pipe, an AF_UNIX socket, a
 * TCP address, or gpg-agent's emulated socket (`assuan://`, `gpg://`), each
 * through the runtime seam. Every failure is a
 * {@linkcode DialError} whose `resetCode` goes on the wire and whose message
 * is the RST reason (`pipe not found: \\.\pipe\openssh-ssh-agent`).
 *
 * @module
 */
import { parseWindowsAddr } from "../config/addr.ts";
import type { GpgSocket, WindowsAddr } from "../config/types.ts";
import { DialError } from "../errors.ts";
import { ResetCode } from "../mux/mod.ts";
import { exists } from "../runtime/mod.ts";
import type { Conn, Runtime } from "../runtime/types.ts";
import { dialAssuan } from "./assuan.ts";
import { GpgconfLocator } from "./gpgconf.ts";
import { type DialTarget, errorCodeOf, reasonFor, toDialError } from "./to_dial_error.ts";
import { pageantCopyDataConn } from "./pageant_conn.ts";
import { pageantNameBlock, pageantPipeName, pageantUserName } from "./pageant_pipe_name.ts";

/** Options for {@linkcode dial}. */
export interface DialOptions {
  /**
   * How long to keep retrying a named pipe whose instances are all busy, in
   * ms, counted from the first attempt. @default 2000
   */
  pipeBusyTimeoutMs?: number;
  /** How long a TCP or AF_UNIX connect may take, in ms. @default 10000 */
  connectTimeoutMs?: number;
  /**
   * Give up: the dial rejects with a CANCEL {@linkcode DialError}, and a
   * connection that is made after all is closed at once.
   */
  signal?: AbortSignal;
  /**
   * How long one request to Pageant's window may take, in ms: long enough to
   * type a passphrase or confirm a key use. @default 120000
   */
  pageantTimeoutMs?: number;
  /** Called before each retry of a busy pipe (for logs), with the delay about to be waited. */
  onPipeBusy?: (attempt: number, delayMs: number) => void;
  /**
   * Where `gpg://` targets are looked up; one per agent session, so that
   * gpgconf runs once. @default a new locator for this dial
   */
  gpgconf?: GpgconfLocator;
}

/** Defaults of {@linkcode DialOptions}. */
export const DIAL_DEFAULTS = {
  pipeBusyTimeoutMs: 2000,
  connectTimeoutMs: 10_000,
  pageantTimeoutMs: 120_000,
} as const;

/** First and largest wait between attempts on a busy pipe. */
const BUSY_FIRST_DELAY_MS = 10;
const BUSY_MAX_DELAY_MS = 250;

/** Codes with which a Unix connect may fail for a socket file that is simply missing. */
const UNIX_MAYBE_MISSING = new Set(["ENOENT", "ECONNREFUSED", "ENETDOWN"]);

/** A drive-letter path such as `C:\x` (what `parseWindowsAddr` makes of `unix://C:/x`). */
const WINDOWS_PATH = /^[A-Za-z]:[\\/]/;

/**
 * Connect to `addr` through `rt`.
 *
 * @throws {DialError} with `resetCode` NOT_FOUND, CONNECTION_REFUSED,
 * PERMISSION_DENIED, TIMEOUT, BAD_TARGET, CANCEL or INTERNAL, and a reason
 * naming the target.
 *
 * @example
 * ```ts ignore
 * const conn = await dial(getRuntime(), { kind: "tcp", host: "localhost", port: 22, url: "tcp://localhost:22" });
 * ```
 */
export function dial(rt: Runtime, addr: WindowsAddr, options: DialOptions = {}): Promise<Conn> {
  if (options.signal?.aborted) return Promise.reject(cancelled(describeAddr(addr)));
  switch (addr.kind) {
    case "pipe":
      return dialPipe(rt, addr.path, options);
    case "unix":
      return dialUnix(rt, addr.path, options);
    case "tcp":
      return dialTcp(rt, addr.host, addr.port, options);
    case "pageant":
      return dialPageant(rt, options);
    case "assuan":
      return dialAssuanFile(rt, addr.path, options);
    case "gpg":
      return dialGpg(rt, addr.socket, options);
    default:
      return Promise.reject(
        new DialError(
          ResetCode.BAD_TARGET,
          `unsupported target kind: ${(addr as { kind: string }).kind}`,
        ),
      );
  }
}

/** How `addr` reads in reasons and logs. */
export function describeAddr(addr: WindowsAddr): DialTarget {
  if (addr.kind === "tcp") return { kind: "tcp", display: hostPort(addr.host, addr.port) };
  if (addr.kind === "pageant") return { kind: "pageant", display: addr.url };
  if (addr.kind === "gpg") return { kind: "gpg", display: addr.url };
  return { kind: addr.kind, display: addr.path };
}

/** An `assuan://` file: on the OS its path belongs to, read it and connect with its nonce. */
function dialAssuanFile(rt: Runtime, path: string, o: DialOptions): Promise<Conn> {
  const wrongOs = wrongOsFor(rt, path, "socket file");
  if (wrongOs) return Promise.reject(wrongOs);
  return dialAssuan(path, (host, port) => dialTcp(rt, host, port, o), {
    pid: rt.pid,
    handshakeTimeoutMs: o.connectTimeoutMs ?? DIAL_DEFAULTS.connectTimeoutMs,
  });
}

/** `gpg://NAME`: ask gpgconf (once per session) for the socket file, then dial it as `assuan://`. */
async function dialGpg(rt: Runtime, socket: GpgSocket, o: DialOptions): Promise<Conn> {
  const path = await (o.gpgconf ?? new GpgconfLocator(rt)).locate(socket);
  const parsed = parseWindowsAddr(`assuan://${path}`);
  if (!parsed.ok || parsed.value.kind !== "assuan") {
    throw new DialError(
      ResetCode.BAD_TARGET,
      `gpgconf named ${
        JSON.stringify(path)
      } as gpg-agent's ${socket} socket, which is not an absolute path`,
    );
  }
  if (o.signal?.aborted) throw cancelled({ kind: "gpg", display: `gpg://${socket}` });
  return await dialAssuanFile(rt, parsed.value.path, o);
}

/** A BAD_TARGET error when `path` is a Windows path on Linux or a POSIX path on Windows. */
function wrongOsFor(rt: Runtime, path: string, what: string): DialError | undefined {
  const windowsPath = WINDOWS_PATH.test(path);
  if (rt.os === "windows" && !windowsPath) {
    return new DialError(
      ResetCode.BAD_TARGET,
      `a POSIX ${what} path cannot be dialled on Windows: ${path}`,
    );
  }
  if (rt.os !== "windows" && windowsPath) {
    return new DialError(
      ResetCode.BAD_TARGET,
      `a Windows ${what} path cannot be dialled on ${rt.os}: ${path}`,
    );
  }
  return undefined;
}

async function dialPipe(rt: Runtime, path: string, o: DialOptions): Promise<Conn> {
  const target: DialTarget = { kind: "pipe", display: path };
  if (rt.os !== "windows") {
    throw new DialError(
      ResetCode.BAD_TARGET,
      `named pipes exist only on Windows, not on ${rt.os}: ${path}`,
    );
  }
  const budget = o.pipeBusyTimeoutMs ?? DIAL_DEFAULTS.pipeBusyTimeoutMs;
  const deadline = performance.now() + budget;
  const gaveUp = () =>
    new DialError(
      ResetCode.TIMEOUT,
      `${reasonFor(ResetCode.TIMEOUT, target, "EBUSY")} (gave up after ${budget} ms)`,
    );
  let delay = BUSY_FIRST_DELAY_MS;
  for (let attempt = 1;; attempt++) {
    // Both runtimes' node:net may wait for a busy pipe on their own (libuv's
    // WaitNamedPipe), so every attempt is bounded by what is left of the budget.
    const left = Math.max(deadline - performance.now(), 1);
    let outcome: Conn | typeof TIMED_OUT;
    try {
      outcome = await settle(rt.connectPipe(path), left, o.signal, target);
    } catch (error) {
      if (error instanceof DialError) throw error;
      const code = errorCodeOf(error);
      if (code !== "EBUSY" && code !== "ERROR_PIPE_BUSY") throw toDialError(target, error);
      if (performance.now() + delay >= deadline) throw gaveUp();
      o.onPipeBusy?.(attempt, delay);
      await pause(delay, o.signal, target);
      delay = Math.min(delay * 2, BUSY_MAX_DELAY_MS);
      continue;
    }
    if (outcome === TIMED_OUT) throw gaveUp();
    return outcome;
  }
}

async function dialUnix(rt: Runtime, path: string, o: DialOptions): Promise<Conn> {
  const target: DialTarget = { kind: "unix", display: path };
  const wrongOs = wrongOsFor(rt, path, "socket");
  if (wrongOs) throw wrongOs;
  const ms = o.connectTimeoutMs ?? DIAL_DEFAULTS.connectTimeoutMs;
  let outcome: Conn | typeof TIMED_OUT;
  try {
    outcome = await settle(rt.connectUnix(path), ms, o.signal, target);
  } catch (error) {
    if (error instanceof DialError) throw error;
    const code = errorCodeOf(error);
    // Which of "missing" and "refused" it is, the file system says best: some
    // runtimes report ENOENT for every failed connect on Windows, and
    // Windows itself may refuse rather than report a missing file.
    if (code !== undefined && UNIX_MAYBE_MISSING.has(code)) {
      const present = await exists(path).catch(() => undefined);
      if (present === false) {
        throw new DialError(ResetCode.NOT_FOUND, reasonFor(ResetCode.NOT_FOUND, target), {
          cause: error,
        });
      }
      if (present === true) {
        throw new DialError(
          ResetCode.CONNECTION_REFUSED,
          reasonFor(ResetCode.CONNECTION_REFUSED, target),
          { cause: error },
        );
      }
    }
    throw toDialError(target, error);
  }
  if (outcome === TIMED_OUT) throw timedOut(target, ms);
  return outcome;
}

async function dialTcp(rt: Runtime, host: string, port: number, o: DialOptions): Promise<Conn> {
  const target: DialTarget = { kind: "tcp", display: hostPort(host, port) };
  const ms = o.connectTimeoutMs ?? DIAL_DEFAULTS.connectTimeoutMs;
  let outcome: Conn | typeof TIMED_OUT;
  try {
    outcome = await settle(rt.connectTcp(host, port), ms, o.signal, target);
  } catch (error) {
    throw toDialError(target, error);
  }
  if (outcome === TIMED_OUT) throw timedOut(target, ms);
  return outcome;
}

/**
 * The user's Pageant: its named pipe (PuTTY 0.75+), whose name is computed
 * anew for every stream (it depends on the user's CryptProtectMemory key),
 * else its WM_COPYDATA window (older Pageant, KeeAgent, gpg4win).
 */
async function dialPageant(rt: Runtime, o: DialOptions): Promise<Conn> {
  if (rt.os !== "windows") {
    throw new DialError(ResetCode.BAD_TARGET, `Pageant exists only on Windows, not on ${rt.os}`);
  }
  const api = await rt.pageantWin32();
  if (api === undefined) {
    throw new DialError(
      ResetCode.BAD_TARGET,
      `this ${rt.name} build cannot reach Pageant (no FFI to the Win32 API)`,
    );
  }
  const block = pageantNameBlock();
  api.protectCrossProcess(block); // PuTTY goes on without it too
  const pipe = await pageantPipeName(
    pageantUserName(api.principalName(), api.accountName()),
    block,
  );
  try {
    return await dialPipe(rt, pipe, o);
  } catch (error) {
    if (!(error instanceof DialError) || error.resetCode !== ResetCode.NOT_FOUND) throw error;
  }
  if (!api.windowExists()) {
    throw new DialError(
      ResetCode.NOT_FOUND,
      `Pageant is not running: no pipe ${pipe} and no window of class Pageant ` +
        "(start Pageant, or KeeAgent / gpg4win with PuTTY support)",
    );
  }
  return pageantCopyDataConn(api, o.pageantTimeoutMs ?? DIAL_DEFAULTS.pageantTimeoutMs);
}

const TIMED_OUT = Symbol("timed out");

/**
 * Wait for `connecting` at most `ms`, or until `signal` aborts. A connection
 * that arrives after we stopped waiting is closed, so none leaks.
 */
function settle(
  connecting: Promise<Conn>,
  ms: number,
  signal: AbortSignal | undefined,
  target: DialTarget,
): Promise<Conn | typeof TIMED_OUT> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = () => {
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const timer = setTimeout(() => {
      if (done) return;
      finish();
      resolve(TIMED_OUT);
    }, ms);
    const onAbort = () => {
      if (done) return;
      finish();
      reject(cancelled(target));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    connecting.then(
      (conn) => {
        if (done) return conn.close();
        finish();
        resolve(conn);
      },
      (error) => {
        if (done) return;
        finish();
        reject(error);
      },
    );
  });
}

/** Wait `ms` between pipe attempts; an abort ends the wait with a CANCEL error. */
function pause(ms: number, signal: AbortSignal | undefined, target: DialTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelled(target));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function timedOut(target: DialTarget, ms: number): DialError {
  return new DialError(
    ResetCode.TIMEOUT,
    `${reasonFor(ResetCode.TIMEOUT, target)} (after ${ms} ms)`,
  );
}

function cancelled(target: DialTarget): DialError {
  return new DialError(ResetCode.CANCEL, `dial cancelled: ${target.display}`);
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
