/**
 * What the agent says about itself on request: how many target connections
 * it holds open, per target. The daemon asks by opening a stream to
 * {@linkcode AGENT_STATS_TARGET}; the agent answers with one JSON object and
 * FIN, and dials nothing. `status --json` shows it as `agent.openTargets`,
 * which is how a connection leaked on the Windows side (a named pipe kept
 * open after its client left) becomes visible from Linux.
 *
 * @module
 */
import type { IncomingStream, Session } from "../mux/mod.ts";

/** The pseudo-target of a stats request; no real address has this scheme. */
export const AGENT_STATS_TARGET = "agent://stats";

/** Open target connections per target, kept by the agent. */
export class OpenTargets {
  readonly #counts = new Map<string, number>();

  /** A connection to `target` was made; returns the function that records its end. */
  opened(target: string): () => void {
    this.#counts.set(target, (this.#counts.get(target) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.#counts.get(target) ?? 1) - 1;
      if (n > 0) this.#counts.set(target, n);
      else this.#counts.delete(target);
    };
  }

  /** The counts now, as a plain object. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }

  /** Answer a stats request on `incoming`. */
  async answer(incoming: IncomingStream): Promise<void> {
    const stream = incoming.accept();
    const writer = stream.writable.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify({ openTargets: this.snapshot() })));
    await writer.close();
    // Wait for the asker's FIN (a cancel here would reset the stream under it).
    for await (const _ of stream.readable) { /* nothing is sent */ }
  }
}

/** Ask the agent on `session` for its open target counts; `null` if it does not answer in time. */
export async function readAgentStats(
  session: Session,
  timeoutMs = 2000,
): Promise<{ openTargets: Record<string, number> } | null> {
  try {
    const stream = await session.open(AGENT_STATS_TARGET, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    await stream.writable.getWriter().close();
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream.readable) chunks.push(chunk);
    const text = new TextDecoder().decode(concat(chunks));
    const value = JSON.parse(text) as { openTargets?: unknown };
    return typeof value.openTargets === "object" && value.openTargets !== null
      ? { openTargets: value.openTargets as Record<string, number> }
      : null;
  } catch {
    return null; // an older agent refuses the target (BAD_TARGET), or it is gone
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
