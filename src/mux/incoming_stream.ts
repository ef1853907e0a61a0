/**
 * A stream the peer asked to open, before we answer it. The handler dials the
 * target, then calls `accept()` (ACK) or `reject()` (RST with a reason).
 *
 * @module
 */
import { StreamResetError } from "../errors.ts";
import type { MuxStream } from "./stream.ts";

/** What the session does on accept/reject; the session keeps the object private. @internal */
export interface IncomingHost {
  accept(stream: MuxStream): void;
  reject(stream: MuxStream, code: number, reason: string): void;
}

/** A pending incoming stream. Answer it exactly once. */
export class IncomingStream {
  readonly #host: IncomingHost;
  readonly #stream: MuxStream;
  #answered = false;

  /** @internal Created by the session only. */
  constructor(host: IncomingHost, stream: MuxStream) {
    this.#host = host;
    this.#stream = stream;
  }

  /** The stream id (even when the Windows side opened it, odd for the Linux side). */
  get id(): number {
    return this.#stream.id;
  }

  /** What to connect to, e.g. `pipe://./pipe/openssh-ssh-agent`. */
  get target(): string {
    return this.#stream.target;
  }

  /** Resolves when the stream ends, including when the opener gives up before we answer. */
  get closed(): Promise<void> {
    return this.#stream.closed;
  }

  /**
   * Accept: tell the peer the target is connected and return the stream.
   * @throws {StreamResetError} if the opener reset the stream meanwhile, or the session ended.
   */
  accept(): MuxStream {
    this.#answer();
    if (this.#stream.error) throw this.#stream.error;
    this.#host.accept(this.#stream);
    return this.#stream;
  }

  /** Refuse with a reset code and a human-readable reason ("pipe not found"). */
  reject(code: number, reason: string): void {
    this.#answer();
    if (this.#stream.error) return;
    this.#host.reject(this.#stream, code, reason);
  }

  #answer(): void {
    if (this.#answered) throw new StreamResetError(0, "incoming stream answered twice", false);
    this.#answered = true;
  }
}
