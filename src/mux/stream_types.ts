/**
 * The plain types around a stream: its states, what it needs from its
 * session, what it is created with, and what the writer takes from it.
 *
 * @module
 */
import type { ReceiveBudget } from "./flow.ts";
import type { MuxStream } from "./stream.ts";

/** The states of a stream. */
export const StreamState = {
  /** We sent SYN and wait for ACK or RST. */
  SYN_SENT: "syn-sent",
  /** The peer sent SYN; our application has not answered yet. */
  SYN_RECEIVED: "syn-received",
  /** Data may flow both ways. */
  ESTABLISHED: "established",
  /** We sent FIN; the peer may still send. */
  LOCAL_CLOSED: "local-closed",
  /** The peer sent FIN; we may still send. */
  REMOTE_CLOSED: "remote-closed",
  /** FIN went both ways. */
  CLOSED: "closed",
  /** Reset by either side, or the session ended first. */
  RESET: "reset",
} as const;
export type StreamState = typeof StreamState[keyof typeof StreamState];

/** What a stream needs from its session; the session keeps the object private. @internal */
export interface StreamHost {
  /** The stream has data with credit, or a FIN, for the writer. */
  ready(stream: MuxStream): void;
  /** The stream owes its peer a window update. */
  creditDue(stream: MuxStream): void;
  /** Queue an RST for the stream. */
  sendReset(stream: MuxStream, code: number, reason: string): void;
  /** `n` received bytes were read or discarded: session credit. */
  consumed(n: number): void;
  /** The stream reached CLOSED or RESET: forget it. */
  finished(stream: MuxStream): void;
}

/** What a stream is created with. @internal */
export interface StreamInit {
  id: number;
  target: string;
  state: typeof StreamState.SYN_SENT | typeof StreamState.SYN_RECEIVED;
  /** The peer's initial stream window: our send credit. */
  sendWindow: number;
  /** Our receive budget, and our initial and largest stream windows. */
  budget: ReceiveBudget;
  initialWindow: number;
  maxWindow: number;
}

/** A payload slice the writer takes from a stream for one DATA frame. @internal */
export interface SendSlice {
  bytes: Uint8Array;
  fin: boolean;
}
