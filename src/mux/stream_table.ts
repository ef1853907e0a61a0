/**
 * The session's stream table: which ids each side may use, and the open
 * streams by id. Ids a side opens are odd for the client (Linux) and even for
 * the server (Windows), and strictly increase (docs/PROTOCOL.md §1).
 *
 * Concurrency rules: used from the event loop only.
 *
 * @module
 */
import { ProtocolError } from "../errors.ts";
import type { Role } from "./preface.ts";
import type { MuxStream } from "./stream.ts";

/** Open streams by id, and the id rules. */
export class StreamTable {
  readonly #streams = new Map<number, MuxStream>();
  readonly #role: Role;
  readonly #peerName: string;
  #nextId: number;
  #lastPeerId = 0;

  /** `peerName` names the peer in protocol errors. */
  constructor(role: Role, peerName: string) {
    this.#role = role;
    this.#peerName = peerName;
    this.#nextId = role === "client" ? 1 : 2;
  }

  /** How many streams are open. */
  get size(): number {
    return this.#streams.size;
  }

  /** The open streams. */
  values(): IterableIterator<MuxStream> {
    return this.#streams.values();
  }

  /** The open stream with this id, if any. */
  get(id: number): MuxStream | undefined {
    return this.#streams.get(id);
  }

  /** The id for a stream we open. */
  takeLocalId(): number {
    const id = this.#nextId;
    this.#nextId += 2;
    return id;
  }

  /** Check the id of a SYN from the peer. @throws {ProtocolError} for a wrong parity or a reused id. */
  acceptPeerId(id: number): void {
    const peerParity = this.#role === "client" ? 0 : 1;
    if (id % 2 !== peerParity) {
      throw new ProtocolError(
        `${this.#peerName} opened stream ${id} of the wrong parity (the Linux side opens odd ids, the Windows side even)`,
      );
    }
    if (id <= this.#lastPeerId) {
      throw new ProtocolError(`stream id ${id} reused (ids must increase)`);
    }
    this.#lastPeerId = id;
  }

  /**
   * A frame for an id that is not open: fine if the id was used before (the
   * frame was in flight when the stream ended). @throws {ProtocolError} otherwise.
   */
  checkKnown(id: number): void {
    const ours = (id % 2 === 1) === (this.#role === "client");
    const used = ours ? id < this.#nextId : id <= this.#lastPeerId;
    if (!used) throw new ProtocolError(`frame for stream ${id}, which was never opened`);
  }

  add(stream: MuxStream): void {
    this.#streams.set(stream.id, stream);
  }

  /** Forget a stream; whether it was open. */
  delete(stream: MuxStream): boolean {
    return this.#streams.delete(stream.id);
  }

  has(stream: MuxStream): boolean {
    return this.#streams.has(stream.id);
  }

  clear(): void {
    this.#streams.clear();
  }
}
