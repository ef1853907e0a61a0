/**
 * Where the daemon's runtime dir most likely is when the config file is
 * invalid: `stop` and `status` must still reach a daemon that runs on the old
 * config after the file got a typo. Reads only `runtime_dir`, without
 * validating anything else.
 *
 * @module
 */
import { isMap, parseDocument } from "yaml";
import { expandTilde } from "./_expand.ts";
import { defaultRuntimeDir, type EnvLookup } from "./default_config.ts";

/** `runtime_dir` from `text` if it can be read at all, else the default. */
export function lenientRuntimeDir(text: string | null, env: EnvLookup, uid?: number): string {
  if (text !== null) {
    try {
      // parseDocument keeps what it could read even when a later line is broken.
      const doc = parseDocument(text, { uniqueKeys: false });
      const raw: unknown = isMap(doc.contents) ? doc.contents.get("runtime_dir") : undefined;
      if (typeof raw === "string" && raw.trim() !== "") {
        const expanded = expandTilde(raw.trim(), env("HOME"));
        if (expanded.ok && expanded.value.startsWith("/")) return expanded.value;
      }
    } catch { /* unreadable YAML: fall through to the default */ }
  }
  return defaultRuntimeDir(env, uid);
}
