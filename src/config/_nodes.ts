/**
 * Reading YAML nodes against a schema: alias resolution, type descriptions,
 * key paths and mappings with unknown/duplicate key checks. Private to
 * `src/config/`.
 *
 * @module
 */

import { type Document, isAlias, isCollection, isMap, isPair, isScalar, isSeq } from "yaml";
import type { Issues } from "./_issues.ts";
import { quote } from "./_issues.ts";

/** A YAML value (aliases already resolved) and the offset to blame for it. */
export interface Value {
  /** The node, or `null` for an absent value. Never an alias. */
  readonly node: unknown;
  /** Source offset of the value as written (the alias, not its anchor). */
  readonly at: number;
}

/** One key of a mapping: where the key is, and its value. */
export interface Entry {
  readonly keyAt: number;
  readonly value: Value;
}

/** Shared state for reading one document. */
export interface Ctx {
  readonly doc: Document.Parsed;
  readonly issues: Issues;
  /** Each alias node and the anchored node it refers to (see {@linkcode resolveAliases}). */
  readonly aliases: ReadonlyMap<unknown, unknown>;
}

/** Aliases a config may use. A real config needs a handful; the yaml package's own toJS limit is 100. */
export const MAX_ALIASES = 100;

/**
 * Resolves every alias of `doc` in one pass. The yaml package's
 * `Alias.resolve(doc)` walks the whole document on each call, which made
 * 20,000 aliases take 15 s; this walk is linear, and it stops counting at
 * {@linkcode MAX_ALIASES} (the offset of the first alias over the limit is
 * returned for the error message).
 */
export function resolveAliases(
  doc: Document.Parsed,
): { aliases: Map<unknown, unknown>; count: number; excessAt?: number } {
  const anchors = new Map<string, unknown>();
  const aliases = new Map<unknown, unknown>();
  let count = 0;
  let excessAt: number | undefined;
  // Depth-first in document order, with an explicit stack: the package's own
  // `visit` copies the path at every level, which is quadratic in the depth.
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isAlias(node)) {
      count++;
      if (count > MAX_ALIASES) excessAt ??= rangeStart(node, 0);
      else aliases.set(node, anchors.get(node.source) ?? null);
    } else if (isScalar(node) || isCollection(node)) {
      if (node.anchor) anchors.set(node.anchor, node);
      if (isCollection(node)) {
        for (let i = node.items.length - 1; i >= 0; i--) {
          const item = node.items[i];
          if (isPair(item)) stack.push(item.value, item.key);
          else stack.push(item);
        }
      }
    }
  }
  return { aliases, count, excessAt };
}

function rangeStart(node: unknown, fallback: number): number {
  const range = (node as { range?: unknown } | null)?.range;
  return Array.isArray(range) && typeof range[0] === "number" ? range[0] : fallback;
}

/** Resolves an alias (to its anchored node) and finds the offset to blame. */
export function deref(ctx: Ctx, node: unknown, fallbackAt: number): Value {
  const at = rangeStart(node, fallbackAt);
  if (isAlias(node)) return { node: ctx.aliases.get(node) ?? null, at };
  return { node: node ?? null, at };
}

/** True for a missing value: no node, an empty value, `~` or `null`. */
export function isNull(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null);
}

/** A short description of what a node is, for "got ..." messages. */
export function describe(node: unknown): string {
  if (isNull(node)) return "an empty value";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === "string") return `the string ${quote(v)}`;
    if (typeof v === "number" || typeof v === "bigint") return `the number ${String(v)}`;
    if (typeof v === "boolean") return `the boolean ${v}`;
    if (v instanceof Uint8Array) return "binary data";
  }
  return "an unsupported value";
}

/** `parent.key`, or `parent["odd key"]` when the key is not an identifier. */
export function keyPath(parent: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return parent === "" ? key : `${parent}.${key}`;
  return `${parent}[${quote(key)}]`;
}

/** The string in a node, or `undefined` (after recording a "got ..." issue). */
export function stringOf(ctx: Ctx, v: Value, key: string, expected: string): string | undefined {
  if (isScalar(v.node) && typeof v.node.value === "string") return v.node.value;
  // `key: {runtime_dir}/x` is a YAML flow mapping; say how to fix it.
  const hint = isMap(v.node) && v.node.flow ? `, in quotes since it starts with "{"` : "";
  const problem = isNull(v.node) ? "missing value" : `got ${describe(v.node)}`;
  ctx.issues.add(v.at, key, problem, expected + hint);
  return undefined;
}

/** Closest allowed key within two edits (for "did you mean"), if any. */
function suggest(name: string, allowed: readonly string[]): string | undefined {
  const lower = name.toLowerCase().replace(/-/g, "_");
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const d = lower === candidate ? 0 : editDistance(lower, candidate, bestDistance);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap || a.length > 64) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/**
 * Reads a mapping's keys. Unknown, duplicate and non-scalar keys are recorded
 * as issues and skipped. The caller has checked that `v.node` is a mapping.
 */
export function readMap(
  ctx: Ctx,
  v: Value,
  path: string,
  allowed: readonly string[],
): Map<string, Entry> {
  const out = new Map<string, Entry>();
  if (!isMap(v.node)) return out;
  for (const pair of v.node.items) {
    const k = deref(ctx, pair.key, v.at);
    const scalar = isScalar(k.node) && k.node.value !== null && typeof k.node.value !== "object";
    if (!scalar) {
      const where = path === "" ? "(root)" : path;
      ctx.issues.add(
        k.at,
        where,
        `${describe(k.node)} used as a key`,
        `one of ${allowed.join(", ")}`,
      );
      continue;
    }
    const name = String((k.node as { value: unknown }).value);
    const kp = keyPath(path, name);
    if (!allowed.includes(name)) {
      const guess = suggest(name, allowed);
      const problem = guess === undefined ? "unknown key" : `unknown key (did you mean ${guess}?)`;
      ctx.issues.add(k.at, kp, problem, `one of ${allowed.join(", ")}`);
      continue;
    }
    const first = out.get(name);
    if (first !== undefined) {
      const line = ctx.issues.position(first.keyAt).line;
      ctx.issues.add(
        k.at,
        kp,
        `duplicate key (first set on line ${line})`,
        "each key at most once",
      );
      continue;
    }
    out.set(name, { keyAt: k.at, value: deref(ctx, pair.value, k.at) });
  }
  return out;
}
