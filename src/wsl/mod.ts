/**
 * The WSL side of starting the agent: detecting WSL, finding the Windows
 * drive and `%LOCALAPPDATA%`, placing the agent executable, and deciding the
 * agent's command line.
 *
 * @module
 */

export {
  detectCurrentWsl,
  detectWsl,
  type EnvLookup,
  type FileExists,
  WSL_ENV_VARS,
  WSL_INTEROP_FILES,
  type WslDetection,
} from "./detect_wsl.ts";
export {
  DEFAULT_AUTOMOUNT_ROOT,
  isOnWindowsDrive,
  parseAutomountRoot,
  readAutomountRoot,
  windowsDriveDir,
  WSL_CONF_PATH,
} from "./automount_root.ts";
export {
  DEFAULT_INTEROP_TIMEOUT_MS,
  type InteropOptions,
  localAppData,
  windowsToLinuxPath,
} from "./windows_paths.ts";
export {
  AGENT_FILE_PATTERN,
  agentFileName,
  type AgentSource,
  placeAgent,
  type PlaceAgentOptions,
  pruneOtherAgents,
  sha256Hex,
} from "./place_agent.ts";
export {
  AGENT_DIR_NAME,
  type AgentCommand,
  noEmbeddedAgentMessage,
  notWslMessage,
  resolveAgentCommand,
  type ResolveAgentCommandInput,
} from "./agent_command.ts";
export {
  decompressAgent,
  EMBEDDED_AGENT_FILE,
  EMBEDDED_AGENT_INFO_FILE,
  type EmbeddedAgent,
  embeddedAgent,
  type ReadEmbeddedFile,
} from "./embedded_agent.ts";
