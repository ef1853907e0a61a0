/**
 * Collects config problems with their positions and turns them into one
 * {@linkcode ConfigError}. Private to `src/config/`.
 *
 * @module
 */

import type { LineCounter } from "yaml";
import { ConfigError, type ConfigIssue } from "../errors.ts";

/** At most this many lines go into the error message; `issues` keeps them all. */
const MAX_MESSAGE_LINES = 50;

/** Formats one issue as `file:line:column: key: problem; expected expected`. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined
    ? issue.file
    : `${issue.file}:${issue.line}:${issue.column}`;
  const key = issue.key === "" ? "" : ` ${issue.key}:`;
  return `${where}:${key} ${issue.problem}; expected ${issue.expected}`;
}

/** Builds the ConfigError for a list of issues (message = formatted lines joined by "\n"). */
export function configError(issues: readonly ConfigIssue[], cause?: unknown): ConfigError {
  const lines = issues.slice(0, MAX_MESSAGE_LINES).map(formatIssue);
  if (issues.length > MAX_MESSAGE_LINES) {
    lines.push(`... and ${issues.length - MAX_MESSAGE_LINES} more problems`);
  }
  return new ConfigError(lines.join("\n"), { issues, cause });
}

/**
 * Quotes a user-supplied string for a message: double quotes, control
 * characters escaped, long strings cut short. Backslashes stay as they are so
 * Windows paths read naturally.
 */
export function quote(s: string): string {
  const cps = [...s];
  const cut = cps.length > 60 ? cps.slice(0, 57).join("") + "..." : s;
  // deno-lint-ignore no-control-regex
  const special = /["\u0000-\u001f\u007f]/g;
  const escaped = cut.replace(special, (c) => c === '"' ? '\\"' : JSON.stringify(c).slice(1, -1));
  return `"${escaped}"`;
}

/** A sink for the problems in one file, positioned by source offset. */
export class Issues {
  readonly #text: string;
  readonly #file: string;
  readonly #lines: LineCounter | undefined;
  readonly #issues: ConfigIssue[] = [];
  readonly #warnings: { at: number; line: string }[] = [];

  constructor(text: string, file: string, lines?: LineCounter) {
    this.#text = text;
    this.#file = file;
    this.#lines = lines;
  }

  /** Records a problem at source offset `at`. */
  add(at: number, key: string, problem: string, expected: string): void {
    this.#issues.push({ file: this.#file, ...this.position(at), key, problem, expected });
  }

  /** Records something valid but suspicious at source offset `at`. */
  warn(at: number, key: string, text: string): void {
    const { line, column } = this.position(at);
    this.#warnings.push({ at, line: `${this.#file}:${line}:${column}: ${key}: ${text}` });
  }

  /** How many problems so far. */
  get count(): number {
    return this.#issues.length;
  }

  /** The warnings, in file order. */
  warnings(): string[] {
    return this.#warnings.sort((a, b) => a.at - b.at).map((w) => w.line);
  }

  /** Throws one ConfigError with every problem, in file order, if there are any. */
  throwIfAny(): void {
    if (this.#issues.length === 0) return;
    const sorted = [...this.#issues].sort((a, b) =>
      (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)
    );
    throw configError(sorted);
  }

  /** 1-based line and code-point column of a UTF-16 offset. */
  position(at: number): { line: number; column: number } {
    const offset = Math.max(0, Math.min(at, this.#text.length));
    if (this.#lines === undefined) return { line: 1, column: 1 };
    const { line, col } = this.#lines.linePos(offset);
    if (line === 0) return { line: 1, column: 1 };
    // yaml counts UTF-16 units; editors count characters, so recount the line prefix.
    const lineStart = offset - (col - 1);
    const prefix = this.#text.slice(lineStart, offset).replace(/^\uFEFF/, "");
    return { line, column: [...prefix].length + 1 };
  }
}
