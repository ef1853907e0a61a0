/**
 * The one place that decides which runtime we are on.
 *
 * Both implementations are imported statically; neither touches `Deno.*` or
 * `Bun.*` at module level, so importing the other runtime's file is harmless.
 *
 * @module
 */

import { UnsupportedError } from "../errors.ts";
import { BunRuntime } from "./bun.ts";
import { DenoRuntime } from "./deno.ts";
import type { Runtime } from "./types.ts";

let current: Runtime | undefined;

/**
 * The {@linkcode Runtime} for the host we run on, created on first call.
 *
 * @throws {UnsupportedError} when neither Deno nor Bun is detected.
 */
export function getRuntime(): Runtime {
  if (current) return current;
  if ("Deno" in globalThis) current = new DenoRuntime();
  else if ("Bun" in globalThis) current = new BunRuntime();
  else throw new UnsupportedError("wsl2proxy needs Deno or Bun to run");
  return current;
}
