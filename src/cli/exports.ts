/**
 * Shell exports for the configured sockets, in the forms `start` and `env`
 * print: sh (the default), fish, csh, and JSON. Each form quotes for its own
 * shell, so any path reaches the variable byte for byte; the config refuses
 * control characters (newline, tab, ...) in a `linux_addr`, which no form
 * carries safely through every shell's `eval`.
 *
 * @module
 */
import { formatLinuxAddr } from "../config/addr.ts";
import type { Config, SocketConfig } from "../config/types.ts";
import type { SocketReport } from "../daemon/control_protocol.ts";

/** Output forms of `start` and `env`. */
export type ExportFormat = "sh" | "fish" | "csh" | "json";
/** Every {@linkcode ExportFormat}. */
export const EXPORT_FORMATS: readonly ExportFormat[] = ["sh", "fish", "csh", "json"];

/** The value a client needs: the socket path, or `tcp://host:port`. */
export function exportValue(addr: Config["sockets"][number]["linuxAddr"]): string {
  if (addr.kind === "unix") return addr.path;
  const host = addr.host.includes(":") ? `[${addr.host}]` : addr.host;
  return `tcp://${host}:${addr.port}`;
}

/** The config's sockets sorted by what a running daemon reports about them. */
export interface SocketsByDaemon {
  /** The daemon listens on these. */
  listening: SocketConfig[];
  /** The daemon tried and failed; `error` says why. */
  failed: { socket: SocketConfig; error: string }[];
  /** The daemon does not know these (its config differs: a reload is pending). */
  unknown: SocketConfig[];
}

/**
 * Sort `sockets` by the daemon's `hello` report, matching on the variable
 * name and the Linux address (what an export carries). A report from a
 * daemon that sends none counts every socket as listening.
 */
export function sortByDaemon(
  sockets: readonly SocketConfig[],
  report: readonly SocketReport[] | undefined,
): SocketsByDaemon {
  const out: SocketsByDaemon = { listening: [], failed: [], unknown: [] };
  if (!Array.isArray(report)) return { ...out, listening: [...sockets] };
  for (const socket of sockets) {
    const addr = formatLinuxAddr(socket.linuxAddr);
    const r = report.find((x) => x?.envName === socket.envName && x.linuxAddr === addr);
    if (!r) out.unknown.push(socket);
    else if (r.listening === true) out.listening.push(socket);
    else out.failed.push({ socket, error: String(r.error ?? "not listening") });
  }
  return out;
}

/** The exports as text (ending in a newline unless there are none). */
export function formatExports(sockets: Config["sockets"], format: ExportFormat): string {
  const pairs = sockets.map((s) => [s.envName, exportValue(s.linuxAddr)] as const);
  if (format === "json") return JSON.stringify(Object.fromEntries(pairs)) + "\n";
  return pairs.map(([name, value]) => {
    switch (format) {
      case "fish":
        return `set -gx ${name} ${fishQuote(value)};\n`;
      case "csh":
        return `setenv ${name} ${cshQuote(value)};\n`;
      default:
        return `${name}=${doubleQuote(value)}; export ${name};\n`;
    }
  }).join("");
}

/** POSIX double quotes: escape `\`, `"`, `$` and backquote. */
function doubleQuote(s: string): string {
  return `"${s.replace(/[\\"$`]/g, (c) => "\\" + c)}"`;
}

/** Fish single quotes: inside them fish still reads `\\` and `\'` as escapes, so both are escaped. */
function fishQuote(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => "\\" + c)}'`;
}

/**
 * csh/tcsh single quotes: `'` becomes `'\''`, and `!` becomes `\!` because
 * history substitution happens even inside single quotes ("Event not
 * found"). A run of blanks is split with `''` (an empty quoted part):
 * `` eval `...` `` splits the output at blanks and joins the words with one
 * space, which would squeeze `a  b` to `a b`.
 */
function cshQuote(s: string): string {
  const body = s.replace(/'/g, `'\\''`).replace(/!/g, "\\!").replace(/ (?= )/g, " ''");
  return `'${body}'`;
}
