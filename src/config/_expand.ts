/**
 * `~` and `{runtime_dir}` expansion and POSIX path normalisation. Pure.
 * Private to `src/config/`.
 *
 * @module
 */

import { quote } from "./_issues.ts";

/** Either a value or the reason there is none, phrased for a config message. */
export type Result<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problem: string; readonly expected: string };

/** Shorthand for a failed {@linkcode Result}. */
export function fail(
  problem: string,
  expected: string,
): { ok: false; problem: string; expected: string } {
  return { ok: false, problem, expected };
}

/**
 * Expands a leading `~` or `~/` to `home`. `~user` is not supported. Strings
 * that do not start with `~` come back unchanged.
 */
export function expandTilde(s: string, home: string | undefined): Result<string> {
  if (!s.startsWith("~")) return { ok: true, value: s };
  if (s !== "~" && !s.startsWith("~/")) {
    const user = s.split("/")[0];
    return fail(`${quote(user)} (another user's home) is not supported`, "~ or ~/path");
  }
  if (home === undefined || !home.startsWith("/")) {
    return fail("~ needs an absolute $HOME, which is not set", "an absolute path, or HOME set");
  }
  return { ok: true, value: home + s.slice(1) };
}

/**
 * Replaces each `{name}` with `vars[name]`. Any other `{...}` is an error;
 * `allowed` names what may appear (for the "expected" text).
 */
export function expandTemplates(
  s: string,
  vars: Readonly<Record<string, string>>,
  allowed: string,
): Result<string> {
  let unknown: string | undefined;
  const value = s.replace(/\{([^{}]*)\}/g, (whole, name: string) => {
    if (Object.hasOwn(vars, name)) return vars[name];
    unknown ??= whole;
    return whole;
  });
  if (unknown !== undefined) return fail(`unknown template ${quote(unknown)}`, allowed);
  return { ok: true, value };
}

/**
 * Lexically normalises an absolute POSIX path: collapses `//`, drops `.`,
 * resolves `..` (never above `/`) and removes a trailing `/`.
 */
export function normalizePosixPath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/** True when `s` holds a C0 control character or DEL. */
export function hasControl(s: string): boolean {
  // deno-lint-ignore no-control-regex
  return /[\u0000-\u001f\u007f]/.test(s);
}

/** Bytes in `s` as UTF-8. */
export function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

/**
 * Checks an expanded Linux path: absolute, no control characters. Returns the
 * normalised path. `what` is the expected-text for a relative path.
 */
export function checkAbsolutePath(s: string, what: string): Result<string> {
  if (s === "") return fail("empty path", what);
  if (hasControl(s)) return fail(`path ${quote(s)} contains a control character`, what);
  if (s.startsWith("$")) {
    return fail(`environment variables are not expanded in ${quote(s)}`, what);
  }
  if (!s.startsWith("/")) return fail(`relative path ${quote(s)}`, what);
  return { ok: true, value: normalizePosixPath(s) };
}
