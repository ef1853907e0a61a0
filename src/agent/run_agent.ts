/**
 * The Windows agent: one multiplexed session over this process's
 * stdin/stdout, and for every stream the Linux daemon opens, a dial to its
 * target and a two-way copy. It ends when the session ends, which happens
 * when the daemon closes our stdin, so no agent outlives its daemon.
 *
 * Nothing here writes to stdout except the session; logs go to the logger's
 * sinks (stderr or a file, as the caller chose).
 *
 * @module
 */
import { parseWindowsAddr } from "../config/addr.ts";
import { DialError, HandshakeError, ProtocolError, SessionClosedError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import {
  type IncomingStream,
  ResetCode,
  Session,
  type SessionOptions,
  splice,
} from "../mux/mod.ts";
import type { Runtime } from "../runtime/types.ts";
import { describeAddr, dial, type DialOptions } from "./dial.ts";
import { GpgconfLocator } from "./gpgconf.ts";
import { AGENT_STATS_TARGET, OpenTargets } from "./agent_stats.ts";

/** Options for {@linkcode runAgent}. */
export interface RunAgentOptions {
  /** The runtime to dial and (by default) to take stdio from. */
  runtime: Runtime;
  /** Where log lines go. Never writes payload bytes. */
  log: Logger;
  /** This program's version, sent in the preface and compared with the daemon's. */
  version: string;
  /** The link to the daemon. @default runtime.stdio() */
  stdio?: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
  /** Session tuning (windows, keepalive, timeouts). Role, names and the stream handler are fixed. */
  sessionOptions?: Partial<SessionOptions>;
  /** Dial timeouts. */
  dialOptions?: Pick<DialOptions, "pipeBusyTimeoutMs" | "connectTimeoutMs" | "pageantTimeoutMs">;
}

/**
 * Outcomes of {@linkcode runAgent}, numbered as the exit statuses `main.ts`
 * gives the `agent` command for them (see the README's table): the error
 * in {@linkcode AgentExit.error} is what it maps.
 */
export const AgentExitCode = {
  /** The daemon closed our stdin or said goodbye: a normal end. */
  OK: 0,
  /** The session broke: a protocol violation, or the link failed. */
  SESSION_ERROR: 1,
  /** The preface exchange failed (stray bytes, version mismatch, timeout). Not 2, which is bad usage. */
  HANDSHAKE_FAILED: 4,
} as const;

/** How the agent ended. */
export interface AgentExit {
  /** One of {@linkcode AgentExitCode}: 0 for a normal end. */
  code: number;
  /** Why, in words (for the log). */
  reason: string;
  /** Why it failed: a HandshakeError, or the session's error; null for a normal end. */
  error: Error | null;
}

/**
 * Run the agent until the session ends.
 *
 * @example
 * ```ts ignore
 * const exit = await runAgent({ runtime: getRuntime(), log, version: VERSION });
 * process.exit(exit.code);
 * ```
 */
export async function runAgent(options: RunAgentOptions): Promise<AgentExit> {
  const { runtime: rt, log, version } = options;
  const stdio = options.stdio ?? rt.stdio();
  let eof = false;
  const readable = watchEof(stdio.readable, () => (eof = true));
  const cancelDials = new AbortController();
  // gpg:// targets ask gpgconf once per session (see gpgconf.ts).
  const gpgconf = new GpgconfLocator(rt);
  const handlers = new Set<Promise<void>>();
  const openTargets = new OpenTargets();
  const onStream = (incoming: IncomingStream) => {
    const p =
      (incoming.target === AGENT_STATS_TARGET
        ? openTargets.answer(incoming)
        : serveStream(rt, log, incoming, openTargets, {
          ...options.dialOptions,
          signal: cancelDials.signal,
          gpgconf,
        }))
        .catch((error) =>
          log.error("stream handler failed", { id: incoming.id, error: describeError(error) })
        );
    handlers.add(p);
    p.finally(() => handlers.delete(p));
  };

  let session: Session;
  try {
    session = await Session.connect(readable, stdio.writable, {
      ...options.sessionOptions,
      role: "server",
      version,
      names: { local: "the Windows agent", peer: "the Linux daemon" },
      mismatchHint: "Run `wsl2proxy restart`, which reinstalls the matching agent, " +
        "or point agent.path at an agent of the same version.",
      onStream,
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log.error(`handshake with the Linux daemon failed: ${reason}`);
    const code = error instanceof HandshakeError
      ? AgentExitCode.HANDSHAKE_FAILED
      : AgentExitCode.SESSION_ERROR;
    return { code, reason, error: error instanceof Error ? error : new Error(reason) };
  }
  log.info("session established", { peer_version: session.peer.version, version });

  const info = await session.closed;
  cancelDials.abort();
  await Promise.allSettled([...handlers]);
  const normal = info.error === null || (eof && !(info.error instanceof ProtocolError));
  const exit = {
    code: normal ? AgentExitCode.OK : AgentExitCode.SESSION_ERROR,
    reason: info.reason,
    error: normal ? null : info.error ?? new SessionClosedError(info.reason),
  };
  if (normal) log.info("session ended", { reason: info.reason });
  else log.error("session failed", { reason: info.reason });
  return exit;
}

/** Dial one stream's target and copy both ways until both directions end. */
async function serveStream(
  rt: Runtime,
  log: Logger,
  incoming: IncomingStream,
  openTargets: OpenTargets,
  dialOptions: DialOptions,
): Promise<void> {
  const { id, target } = incoming;
  const started = performance.now();
  const parsed = parseWindowsAddr(target);
  if (!parsed.ok) {
    const reason = `bad target: ${parsed.problem}; expected ${parsed.expected}`;
    log.warn(`refused stream: ${reason}`, { id });
    incoming.reject(ResetCode.BAD_TARGET, reason);
    return;
  }
  const addr = parsed.value;
  let conn;
  try {
    conn = await dial(rt, addr, {
      ...dialOptions,
      onPipeBusy: (attempt, delayMs) =>
        log.debug("pipe busy, retrying", { id, target, attempt, delay_ms: delayMs }),
    });
  } catch (error) {
    const code = error instanceof DialError ? error.resetCode : ResetCode.INTERNAL;
    const reason = error instanceof DialError
      ? error.message
      : `cannot connect to ${describeAddr(addr).display}: ${
        error instanceof Error ? error.message : String(error)
      }`;
    if (code !== ResetCode.CANCEL) log.warn(`cannot dial ${target}: ${reason}`, { id });
    incoming.reject(code, reason);
    return;
  }
  let stream;
  try {
    stream = incoming.accept();
  } catch {
    // The opener gave up (or the session ended) while we dialled.
    conn.close();
    log.debug("stream gone before the target answered", { id, target });
    return;
  }
  log.debug("stream opened", { id, target, dial_ms: Math.round(performance.now() - started) });
  const ended = openTargets.opened(target);
  conn.closed.then(ended);
  // The daemon always ends its side (its client closes or resets), so bytes
  // for a target that has ended are dropped, not turned into a reset that
  // would drop the target's reply on its way to the client.
  const result = await splice(conn, stream, { peerClosed: "drain" });
  conn.close();
  log.debug("stream closed", {
    id,
    target,
    to_target: result.bToA,
    from_target: result.aToB,
    ms: Math.round(performance.now() - started),
    error: result.error === null ? undefined : describeError(result.error),
  });
}

/** `source`, reporting when it reaches EOF (as opposed to the session cancelling it). */
function watchEof(
  source: ReadableStream<Uint8Array>,
  onEof: () => void,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) {
        onEof();
        controller.close();
      } else {
        controller.enqueue(value);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 }); // read stdin only when the session asks, as the source itself does
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
