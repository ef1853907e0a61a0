/**
 * The relay for sockets with `protocol: ssh-agent`: it copies one client's
 * connection to an agent upstream, like `splice`, but reads the ssh-agent
 * framing of the requests so that it can get old Windows agents past
 * `session-bind@openssh.com`.
 *
 * Win32-OpenSSH up to 8.6 (Windows 10 ships 8.1) closes the pipe, without a
 * reply, on any message type it does not know. OpenSSH 8.9+ clients send
 * `SSH_AGENTC_EXTENSION` (27) `session-bind@openssh.com` before they ask for
 * keys, on the same connection, so `ssh` then fails. When an upstream closes
 * or resets in answer to an extension request without having sent a byte of
 * reply, the relay answers the client `SSH_AGENT_FAILURE` (what an agent
 * that knows no extensions must answer) and opens a fresh upstream for the
 * client's next request. It never fakes SUCCESS, and passes every other
 * message through unchanged, in both directions.
 *
 * Requests are relayed one at a time: the next one is read only after the
 * reply to the previous one has passed. The agent protocol is
 * request/reply and clients wait for each reply, so this costs nothing, and
 * it is what makes "the upstream ended before replying to *this* request"
 * well defined. Each client has its own upstreams; one is never shared,
 * because a session binding belongs to its connection.
 *
 * @module
 */
import { AgentMessageTooLargeError, ConnectionClosedError } from "../errors.ts";
import type { Duplex } from "../mux/splice.ts";
import {
  AGENT_MAX_MSGLEN,
  agentFailure,
  AgentFrameCounter,
  type AgentMessage,
  AgentMessageDecoder,
  AgentMessageType,
  extensionName,
} from "./framing.ts";

/** Options for {@linkcode relayAgent}. */
export interface AgentRelayOptions {
  /**
   * Opens a new connection to the agent, or returns `null` when it cannot
   * (having logged why). Called once at the start, and again after an
   * upstream dropped an extension request.
   */
  openUpstream(): Promise<Duplex | null>;
  /** An upstream closed on an extension request (`name`, e.g. `session-bind@openssh.com`) and the client got FAILURE. */
  onExtensionRefused?(name: string | undefined): void;
  /** The client announced a message of `length` bytes, over the limit; it got FAILURE and is closed. */
  onTooLarge?(length: number): void;
  /** Called with each chunk size as it is copied (for live byte counters). */
  onBytes?(direction: "aToB" | "bToA", n: number): void;
  /** The largest request body accepted. @default AGENT_MAX_MSGLEN (256 KiB) */
  maxMessageLength?: number;
}

/** What happened, for logs and stats. */
export interface AgentRelayResult {
  /** Bytes from the client to the agent. */
  aToB: number;
  /** Bytes from the agent (or the relay's own FAILURE replies) to the client. */
  bToA: number;
  /** The first error, or null if both sides ended cleanly. */
  error: unknown;
  /** Upstream connections opened. */
  upstreams: number;
  /** Extension requests answered with FAILURE because the upstream dropped them. */
  refused: number;
}

/**
 * Relay `client` (the Linux side, "a") to upstreams from `openUpstream`
 * ("b") until both directions have ended. Never rejects. When no upstream
 * could be opened at the start, returns with `upstreams: 0` and leaves the
 * client for the caller to close.
 */
export function relayAgent(client: Duplex, options: AgentRelayOptions): Promise<AgentRelayResult> {
  return new AgentRelay(client, options).run();
}

/** Why an upstream's readable ended while a request waited for its reply. */
type Outcome = { replied: true } | { replied: false; bytes: number; error: unknown };

/** One upstream connection and its reply tracking. */
interface Upstream {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  counter: AgentFrameCounter;
  /** The request in flight: reply bytes seen so far, and how to report the outcome. */
  waiter: { bytes: number; resolve: (o: Outcome) => void } | null;
  /** Its readable has ended (EOF or error). */
  ended: boolean;
  /** A write failure, reported as the end's cause. */
  writeError: unknown;
  /** Its writable was closed (FIN). */
  finSent: boolean;
  /** Settles when the copy to the client has stopped. */
  pumped: Promise<void>;
}

class AgentRelay {
  readonly #o: AgentRelayOptions;
  readonly #cr: ReadableStreamDefaultReader<Uint8Array>;
  readonly #cw: WritableStreamDefaultWriter<Uint8Array>;
  readonly #decoder: AgentMessageDecoder;
  readonly #result: AgentRelayResult = { aToB: 0, bToA: 0, error: null, upstreams: 0, refused: 0 };
  #up: Upstream | null = null;
  /** The client read in progress; there is never more than one. */
  #clientRead: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  #clientEof = false;
  #clientWriteClosed = false;
  #failed = false;

  constructor(client: Duplex, options: AgentRelayOptions) {
    this.#o = options;
    this.#cr = client.readable.getReader();
    this.#cw = client.writable.getWriter();
    this.#decoder = new AgentMessageDecoder(options.maxMessageLength ?? AGENT_MAX_MSGLEN);
    // A client that goes away while nothing is being written to it (the
    // agent has not answered yet) ends the relay, and with it the upstream.
    this.#cw.closed.catch((e) => this.#fail(e));
  }

  async run(): Promise<AgentRelayResult> {
    try {
      if (await this.#connect()) await this.#loop();
    } catch (e) {
      this.#fail(e);
    }
    await this.#up?.pumped;
    return this.#result;
  }

  async #loop(): Promise<void> {
    for (;;) {
      let msg: AgentMessage | null;
      try {
        msg = await this.#readMessage();
      } catch (e) {
        if (!(e instanceof AgentMessageTooLargeError)) throw e;
        await this.#refuseTooLarge(e);
        return;
      }
      if (this.#failed) return;
      if (msg === null) break;
      if (this.#up?.ended) {
        // The agent closed this connection and the client saw EOF; a request after that has no one to answer it.
        this.#fail(
          new ConnectionClosedError("the agent closed the connection before this request"),
        );
        return;
      }
      if (this.#up === null && !(await this.#connect())) {
        this.#fail(new ConnectionClosedError("could not open a new connection to the agent"));
        return;
      }
      const up = this.#up!;
      const o = await this.#awaitReply(up, this.#send(up, msg.frame));
      if (this.#failed) return;
      if (o.replied) continue;
      if (msg.type === AgentMessageType.EXTENSION && o.bytes === 0) {
        // An agent that knows no extensions must answer FAILURE; this one hung up instead.
        this.#up = null;
        this.#finUpstream(up);
        await this.#cw.write(agentFailure());
        this.#count("bToA", 5);
        this.#result.refused++;
        this.#o.onExtensionRefused?.(extensionName(msg));
        continue;
      }
      // Any other request left unanswered: pass the upstream's end on, as a plain splice would.
      if (o.error) {
        this.#fail(o.error);
        return;
      }
      await this.#closeClientWrite();
    }
    // The client half-closed: finish its last bytes, then let the agent's replies drain.
    const up = this.#up;
    if (up && !up.ended) {
      const rest = this.#decoder.takeRest();
      if (rest.byteLength > 0) {
        this.#count("aToB", rest.byteLength);
        up.writer.write(rest).catch(() => {});
      }
      this.#finUpstream(up);
      await up.pumped;
    }
    await this.#closeClientWrite();
  }

  /** Reads from the client until the decoder has a whole message; null at EOF. */
  async #readMessage(): Promise<AgentMessage | null> {
    for (;;) {
      const m = this.#decoder.next();
      if (m) return m;
      if (this.#clientEof) return null;
      await this.#readClient();
    }
  }

  /** Takes the client's next chunk into the decoder (or notes its EOF). */
  async #readClient(): Promise<void> {
    this.#clientRead ??= this.#cr.read();
    const { value, done } = await this.#clientRead;
    this.#clientRead = null;
    if (done) this.#clientEof = true;
    else this.#decoder.push(value);
  }

  /**
   * Waits for the reply while still reading the client, so that a client
   * that half-closes or goes away meanwhile is noticed: its EOF is passed
   * on at once (the agent still answers), as splice would. Read-ahead stops
   * at one buffered message, so the memory stays bounded.
   */
  async #awaitReply(up: Upstream, outcome: Promise<Outcome>): Promise<Outcome> {
    const replied = outcome.then((o) => ({ o }));
    for (;;) {
      if (this.#clientEof || this.#decoder.buffered > AGENT_MAX_MSGLEN) return outcome;
      this.#clientRead ??= this.#cr.read();
      // A failed read is rethrown by #readClient; here it only has to win the race.
      const first = await Promise.race([replied, this.#clientRead.then(() => null, () => null)]);
      if (first) return first.o;
      await this.#readClient();
      if (this.#clientEof && this.#decoder.buffered === 0) this.#finUpstream(up);
    }
  }

  /** Half-closes the upstream once (FIN): the agent still sends its replies. */
  #finUpstream(up: Upstream): void {
    if (up.finSent) return;
    up.finSent = true;
    up.writer.close().catch(() => {});
  }

  async #connect(): Promise<boolean> {
    const stream = await this.#o.openUpstream();
    if (!stream) return false;
    this.#result.upstreams++;
    const up: Upstream = {
      reader: stream.readable.getReader(),
      writer: stream.writable.getWriter(),
      counter: new AgentFrameCounter(),
      waiter: null,
      ended: false,
      writeError: null,
      finSent: false,
      pumped: Promise.resolve(),
    };
    up.pumped = this.#pump(up);
    this.#up = up;
    return true;
  }

  /** Writes one request upstream; resolves when its reply has passed or the upstream ended first. */
  #send(up: Upstream, frame: Uint8Array): Promise<Outcome> {
    const outcome = new Promise<Outcome>((resolve) => (up.waiter = { bytes: 0, resolve }));
    this.#count("aToB", frame.byteLength);
    up.writer.write(frame).catch((e) => {
      up.writeError ??= e;
      up.reader.cancel(e).catch(() => {}); // ends the pump, which reports the outcome
    });
    return outcome;
  }

  /** Copies one upstream's bytes to the client, counting reply boundaries. */
  async #pump(up: Upstream): Promise<void> {
    let error: unknown = null;
    try {
      for (;;) {
        const { value, done } = await up.reader.read();
        if (done) break;
        try {
          await this.#cw.write(value);
        } catch (e) {
          this.#fail(e); // the client is gone
          error = e;
          break;
        }
        this.#count("bToA", value.byteLength);
        if (up.waiter) up.waiter.bytes += value.byteLength;
        if (up.counter.feed(value) > 0 && up.waiter) {
          const w = up.waiter;
          up.waiter = null;
          w.resolve({ replied: true });
        }
      }
    } catch (e) {
      error = e;
    }
    up.ended = true;
    error ??= up.writeError;
    const w = up.waiter;
    up.waiter = null;
    if (w) w.resolve({ replied: false, bytes: w.bytes, error });
    else if (error) this.#fail(error);
    else if (this.#up === up) await this.#closeClientWrite(); // the agent hung up while idle: EOF, as splice would
  }

  /** A request over the size limit: answer FAILURE, close, and drop the upstream. */
  async #refuseTooLarge(e: AgentMessageTooLargeError): Promise<void> {
    this.#result.error = e;
    this.#o.onTooLarge?.(e.length);
    const up = this.#up;
    this.#up = null;
    if (up) this.#finUpstream(up);
    up?.reader.cancel(e).catch(() => {});
    await this.#cw.write(agentFailure()).then(() => this.#count("bToA", 5), () => {});
    await this.#closeClientWrite();
    this.#cr.cancel(e).catch(() => {});
    await up?.pumped;
  }

  async #closeClientWrite(): Promise<void> {
    if (this.#clientWriteClosed || this.#failed) return;
    this.#clientWriteClosed = true;
    await this.#cw.close().catch(() => {});
  }

  /** Abnormal end: tear down every side, so a reset is never half. */
  #fail(e: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#result.error ??= e ?? new Error("ssh-agent relay failed");
    this.#cr.cancel(e).catch(() => {});
    this.#cw.abort(e).catch(() => {});
    const up = this.#up;
    if (up) {
      up.writer.abort(e).catch(() => {});
      up.reader.cancel(e).catch(() => {});
    }
  }

  #count(dir: "aToB" | "bToA", n: number): void {
    this.#result[dir] += n;
    this.#o.onBytes?.(dir, n);
  }
}
