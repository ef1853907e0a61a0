/**
 * Loading, validating and expanding wsl2proxy's config file.
 *
 * @module
 */

export type {
  AgentConfig,
  Config,
  LinuxAddr,
  LogLevel,
  SocketConfig,
  WindowsAddr,
} from "./types.ts";
export { LOG_LEVELS } from "./types.ts";
export {
  formatLinuxAddr,
  formatWindowsAddr,
  isLoopbackHost,
  LINUX_ADDR_FORMS,
  parseLinuxAddr,
  parseWindowsAddr,
  type Result,
  WINDOWS_ADDR_FORMS,
} from "./addr.ts";
export { defaultConfig, defaultRuntimeDir, type EnvLookup } from "./default_config.ts";
export { parseConfig } from "./parse_config.ts";
export { type ConfigPath, resolveConfigPath } from "./config_path.ts";
export { loadConfig, type LoadConfigOptions } from "./load_config.ts";
export { configCacheFile } from "./config_cache.ts";
export { lenientRuntimeDir } from "./lenient_runtime_dir.ts";
