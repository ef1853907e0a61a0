/**
 * Follow a child's stdout line by line and wait for a line, woken by the
 * child's own output (no sleep-polling). For servers that announce what they
 * do: `sshd -D -e` ("Server listening on ..."), `socat -d -d` ("listening
 * on ..."), the Wine pipe fixtures ("connect 1"). Send stderr to stdout
 * (`sh -c 'exec 2>&1; exec ...'`) for programs that log there.
 *
 * @module
 */
import type { StartedProcess } from "./process.ts";

/** The stdout lines of one process. */
export class OutputLines {
  readonly proc: StartedProcess;
  #seen = 0;
  #lines: string[] = [];

  constructor(proc: StartedProcess) {
    this.proc = proc;
  }

  /** Every complete stdout line so far. */
  lines(): string[] {
    const out = this.proc.stdout();
    if (out.length > this.#seen) {
      const end = out.lastIndexOf(0x0a);
      if (end >= this.#seen) {
        const text = new TextDecoder().decode(out.subarray(this.#seen, end));
        this.#lines.push(...text.split("\n"));
        this.#seen = end + 1;
      }
    }
    return this.#lines;
  }

  /** Resolves with the first line from index `from` on that `match` accepts; fails after `ms`. */
  async waitLine(
    match: (line: string) => boolean,
    ms: number,
    what: string,
    from = 0,
  ): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.lines().slice(from).find(match);
      if (hit !== undefined) return hit;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out after ${ms} ms waiting for ${what}; output:\n${this.lines().join("\n")}\n` +
            this.proc.stderr(),
        );
      }
      await this.more(left);
    }
  }

  /** Resolves at the next stdout bytes or after `ms`; rejects if the process has ended. */
  async more(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.proc.waitForStdout(this.proc.stdout().length + 1),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
    ]).finally(() => clearTimeout(timer));
  }
}
