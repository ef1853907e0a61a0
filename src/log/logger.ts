/**
 * A leveled logger that formats lines and hands them to sinks. It never
 * touches stdout itself: `main.ts` decides where lines go (stderr, the log
 * file, or both), so the agent's stdout stays the multiplexer's alone.
 * Never pass payload bytes to a logger.
 *
 * @module
 */
import type { LogLevel } from "../config/types.ts";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Receives one formatted line (no trailing newline). */
export type LogSink = (line: string) => void;

/** Key/value context appended to a line as `key=value`. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Options for {@linkcode Logger}. */
export interface LoggerOptions {
  /** Lines below this level are dropped. @default "info" */
  level?: LogLevel;
  /** Where lines go. @default none */
  sinks?: LogSink[];
  /** Prefix naming the component, e.g. `daemon` or `agent`. */
  component?: string;
  /** Clock, for tests. */
  now?: () => Date;
}

/**
 * Formats `2026-11-21T04:39:06.123Z INFO  daemon: message key=value`. A
 * logger and all its children share one level, so a reload's `log_level`
 * reaches every component's logger.
 */
export class Logger {
  #shared: { level: number };
  readonly #sinks: LogSink[];
  readonly #component: string;
  readonly #now: () => Date;

  constructor(options: LoggerOptions = {}) {
    this.#shared = { level: RANK[options.level ?? "info"] };
    this.#sinks = options.sinks ?? [];
    this.#component = options.component ?? "";
    this.#now = options.now ?? (() => new Date());
  }

  /** Change the level of this logger, its parent and all their children (on config reload). */
  setLevel(level: LogLevel): void {
    this.#shared.level = RANK[level];
  }

  /** Whether lines at `level` are written. */
  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.#shared.level;
  }

  /** A logger with the same sinks and (shared) level and another component name. */
  child(component: string): Logger {
    const c = new Logger({ sinks: this.#sinks, component, now: this.#now });
    c.#shared = this.#shared;
    return c;
  }

  debug(message: string, fields?: LogFields): void {
    this.#log("debug", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.#log("info", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.#log("warn", message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.#log("error", message, fields);
  }

  #log(level: LogLevel, message: string, fields?: LogFields): void {
    if (RANK[level] < this.#shared.level) return;
    let line = `${this.#now().toISOString()} ${level.toUpperCase().padEnd(5)} ${
      this.#component ? this.#component + ": " : ""
    }${message}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v === undefined) continue;
        const s = String(v);
        line += ` ${k}=${/[\s"=]/.test(s) || s === "" ? JSON.stringify(s) : s}`;
      }
    }
    line = line.replace(/[\r\n]+/g, " ⏎ ");
    for (const sink of this.#sinks) {
      try {
        sink(line);
      } catch { /* a broken sink must not take the process down */ }
    }
  }
}
