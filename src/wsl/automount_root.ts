/**
 * Where WSL mounts the Windows drives: `[automount] root` in `/etc/wsl.conf`,
 * `/mnt/` by default.
 *
 * @module
 */

import { readTextFile } from "../runtime/mod.ts";

/** WSL's default mount root for Windows drives. */
export const DEFAULT_AUTOMOUNT_ROOT = "/mnt/";

/** Where WSL reads its per-distribution settings. */
export const WSL_CONF_PATH = "/etc/wsl.conf";

/**
 * The `[automount] root` in the text of a `wsl.conf`, normalised to end in
 * exactly one `/`. Section and key names match case-insensitively; `#` and `;`
 * start comments (also after a value, outside quotes); one pair of single or
 * double quotes around the value is removed; lines without `=` are skipped; the
 * last `root` wins. A missing, empty or relative root gives
 * {@linkcode DEFAULT_AUTOMOUNT_ROOT}, as WSL itself would not use it.
 *
 * @example
 * ```ts
 * parseAutomountRoot('[automount]\nroot = "/win" # drives\n'); // "/win/"
 * parseAutomountRoot(""); // "/mnt/"
 * ```
 */
export function parseAutomountRoot(text: string): string {
  let section = "";
  let root: string | undefined;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = stripComment(rawLine).trim();
    if (line === "") continue;
    const header = /^\[\s*([^\]]*?)\s*\]$/.exec(line);
    if (header) {
      section = header[1].toLowerCase();
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0 || section !== "automount") continue;
    if (line.slice(0, eq).trim().toLowerCase() !== "root") continue;
    root = unquote(line.slice(eq + 1).trim());
  }
  if (root === undefined || !root.startsWith("/")) return DEFAULT_AUTOMOUNT_ROOT;
  return root.replace(/\/+$/, "") + "/";
}

/**
 * Read the automount root from `path` (default `/etc/wsl.conf`). A file that
 * cannot be read gives the default rather than an error: wsl.conf is optional,
 * and the default is what WSL uses without it.
 */
export async function readAutomountRoot(path: string = WSL_CONF_PATH): Promise<string> {
  let text: string;
  try {
    text = await readTextFile(path);
  } catch {
    return DEFAULT_AUTOMOUNT_ROOT;
  }
  return parseAutomountRoot(text);
}

/**
 * The Linux directory where Windows drive `letter` is mounted under `root`.
 *
 * @example
 * ```ts
 * windowsDriveDir("/mnt/"); // "/mnt/c"
 * windowsDriveDir("/win", "D"); // "/win/d"
 * ```
 */
export function windowsDriveDir(root: string, letter: string = "c"): string {
  if (!/^[a-zA-Z]$/.test(letter)) throw new RangeError(`not a drive letter: "${letter}"`);
  return `${root.replace(/\/+$/, "")}/${letter.toLowerCase()}`;
}

/**
 * Whether the absolute Linux `path` lies on a mounted Windows drive, i.e.
 * under `<root><letter>/`. Other directories under the root, such as
 * `/mnt/wsl`, do not count.
 */
export function isOnWindowsDrive(path: string, root: string): boolean {
  const prefix = root.replace(/\/+$/, "") + "/";
  if (!path.startsWith(prefix)) return false;
  return /^[a-zA-Z](\/|$)/.test(path.slice(prefix.length));
}

/** The line without a `#`/`;` comment; quotes protect the characters inside them. */
function stripComment(line: string): string {
  let quote = "";
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) quote = "";
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === "#" || ch === ";") {
      return line.slice(0, i);
    }
  }
  return line;
}

function unquote(value: string): string {
  const first = value[0];
  if (value.length >= 2 && (first === '"' || first === "'") && value.endsWith(first)) {
    return value.slice(1, -1).trim();
  }
  return value;
}
