/**
 * What every command gets: the runtime, output functions supplied by main.ts
 * (the only place that prints), and a config loader honouring `--config`.
 *
 * @module
 */
import { configCacheFile } from "../config/config_cache.ts";
import { resolveConfigPath } from "../config/config_path.ts";
import { loadConfig } from "../config/load_config.ts";
import { defaultRuntimeDir } from "../config/default_config.ts";
import { xdgRuntimeDirProblem } from "../daemon/runtime_dir.ts";
import { ConfigError } from "../errors.ts";
import { readTextFile } from "../runtime/mod.ts";
import type { Config } from "../config/types.ts";
import type { Runtime } from "../runtime/mod.ts";

/** Output, as supplied by main.ts. */
export interface CliIo {
  /** Write to stdout. */
  out(text: string): void;
  /** Write to stderr. */
  err(text: string): void;
}

/** Shared state for one command invocation. */
export interface CliContext {
  runtime: Runtime;
  io: CliIo;
  /** The `--config` value as given, if any. */
  configFlag?: string;
  /** Load (and validate) the config; throws ConfigError. */
  loadConfig(): Promise<Config>;
  /** The resolved config path and whether it was chosen explicitly. */
  configPath(): { path: string; explicit: boolean };
  /**
   * The runtime dir, even when the config is invalid (then read leniently,
   * and `configError` says what is wrong), so `stop` and `status` still work.
   */
  runtimeDir(): Promise<{ dir: string; configError?: ConfigError }>;
  /**
   * Why `dir` is not the default under `$XDG_RUNTIME_DIR` (which failed the
   * runtime-dir checks, e.g. WSLg's 0777 /mnt/wslg/runtime-dir), or `null`.
   */
  runtimeDirNotice(dir: string): string | null;
}

/** Build a context for `runtime`, `io` and an optional `--config`. */
export function createContext(runtime: Runtime, io: CliIo, configFlag?: string): CliContext {
  // $XDG_RUNTIME_DIR is hidden when it is unsafe, so the default runtime dir (and the
  // config cache key) fall back to /tmp/wsl2proxy-$USER; runtimeDirNotice says why.
  let xdgProblem: { xdg: string; problem: string } | null | undefined;
  const env = (name: string) => {
    const value = runtime.env(name);
    if (name !== "XDG_RUNTIME_DIR" || value === undefined || !value.startsWith("/")) return value;
    if (xdgProblem === undefined) {
      const problem = runtime.uid() >= 0 ? xdgRuntimeDirProblem(value, runtime.uid()) : null;
      xdgProblem = problem === null ? null : { xdg: value, problem };
    }
    return xdgProblem ? undefined : value;
  };
  const configPath = () => resolveConfigPath(configFlag, env);
  return {
    runtime,
    io,
    configFlag,
    configPath,
    loadConfig() {
      const { path, explicit } = configPath();
      return loadConfig(path, explicit, env, runtime.uid(), { cacheFile: configCacheFile(env) });
    },
    async runtimeDir() {
      try {
        return { dir: (await this.loadConfig()).runtimeDir };
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        const text = await readTextFile(configPath().path).catch(() => null);
        const { lenientRuntimeDir } = await import("../config/lenient_runtime_dir.ts");
        return { dir: lenientRuntimeDir(text, env, runtime.uid()), configError: e };
      }
    },
    runtimeDirNotice(dir) {
      env("XDG_RUNTIME_DIR");
      if (!xdgProblem || dir !== defaultRuntimeDir(env, runtime.uid())) return null;
      return `not using $XDG_RUNTIME_DIR (${xdgProblem.xdg}) for the runtime dir: ${xdgProblem.problem}; ` +
        `using ${dir} instead`;
    },
  };
}
