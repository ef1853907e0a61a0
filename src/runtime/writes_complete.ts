/**
 * The mark the mux looks for (`WRITES_COMPLETE` in `src/mux/options.ts`): a
 * writable that is done with each chunk once its `write()` resolves, so the
 * session may reuse its batch buffer. Set here by symbol name, so the runtime
 * layer does not import the mux.
 *
 * @module
 */

/** Mark `writable` as done with every chunk when its write resolves; returns it. */
export function markWritesComplete<T extends WritableStream<Uint8Array>>(writable: T): T {
  Object.defineProperty(writable, Symbol.for("wsl2proxy.writesComplete"), { value: true });
  return writable;
}
