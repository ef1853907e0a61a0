/**
 * Deciding how the daemon starts the agent: which argv, in which directory.
 *
 * On WSL the agent runs with its working directory on the Windows drive, and
 * it should live there too: users of other WSL bridges measured 15-30 s per
 * start for an `.exe` (or working directory) on the Linux file system, against
 * about 0.2 s from the Windows drive.
 *
 * @module
 */

import { resolve } from "node:path";
import type { AgentConfig } from "../config/types.ts";
import { AgentNotFoundError, UnsupportedError } from "../errors.ts";
import { isOnWindowsDrive, windowsDriveDir } from "./automount_root.ts";
import { placeAgent } from "./place_agent.ts";
import type { EmbeddedAgent } from "./embedded_agent.ts";
import { localAppData as askLocalAppData } from "./windows_paths.ts";

/** The input of {@linkcode resolveAgentCommand}. */
export interface ResolveAgentCommandInput {
  /** The config's `agent`. */
  agent: AgentConfig;
  /** `--agent PATH` from the command line; it wins over everything in the config. */
  agentFlag?: string;
  /** Whether we run inside WSL (see `detectWsl`). */
  isWsl: boolean;
  /** This build's version; names the placed agent file. */
  version: string;
  /** The agent executable embedded in this build, or `null` when there is none (running from source). */
  embeddedAgent?: () => Promise<EmbeddedAgent | null>;
  /** `%LOCALAPPDATA%` as a Linux path. @default {localAppData()} through interop */
  localAppData?: () => Promise<string>;
  /** Where the Windows drives are mounted, e.g. `/mnt/` (see `readAutomountRoot`). */
  driveRoot: string;
}

/** How to start the agent. */
export interface AgentCommand {
  /** Program and arguments; the program is an absolute path except for `agent.command`. */
  argv: string[];
  /** Working directory, or `undefined` to keep the daemon's. */
  cwd?: string;
  /** Where the command came from, for logs, e.g. `agent.path /mnt/c/tools/agent.exe`. */
  description: string;
  /** Things that work but are likely slow or unintended; one line each. */
  warnings: string[];
}

/** The directory the embedded agent is placed in, under `%LOCALAPPDATA%`. */
export const AGENT_DIR_NAME = "wsl2proxy";

/**
 * Decide the agent's command line. In order: `--agent PATH` → `[PATH, "agent"]`;
 * `agent.command` → that argv as given, in the daemon's directory;
 * `agent.path` → `[path, "agent"]`; otherwise, on WSL, the embedded agent is
 * placed under `%LOCALAPPDATA%\wsl2proxy` and run from there. On WSL, agents
 * run with the C: drive as working directory, and an agent path outside the
 * Windows drives earns a warning.
 *
 * @throws {UnsupportedError} for the automatic agent outside WSL.
 * @throws {AgentNotFoundError} for the automatic agent when this build embeds none.
 * @throws {InteropError} when `%LOCALAPPDATA%` cannot be found out.
 * @throws {AgentPlacementError} when the embedded agent cannot be copied.
 */
export async function resolveAgentCommand(input: ResolveAgentCommandInput): Promise<AgentCommand> {
  const { agent, agentFlag } = input;
  if (agentFlag !== undefined) return atPath(input, resolve(agentFlag), `--agent ${agentFlag}`);
  if (agent.kind === "command") {
    // A Windows program (deno.exe, an agent .exe) starts in ~0.2 s from a Windows
    // drive and 15-30 s from the Linux file system, working directory included.
    const windowsProgram = input.isWsl && /\.exe$/i.test(agent.command[0]);
    return {
      argv: [...agent.command],
      ...(windowsProgram ? { cwd: windowsDriveDir(input.driveRoot) } : {}),
      description: `agent.command: ${agent.command.join(" ")}`,
      warnings: [],
    };
  }
  if (agent.kind === "path") return atPath(input, agent.path, `agent.path ${agent.path}`);
  if (!input.isWsl) throw new UnsupportedError(notWslMessage());
  const embedded = input.embeddedAgent ? await input.embeddedAgent() : null;
  if (embedded === null) throw new AgentNotFoundError(noEmbeddedAgentMessage(input.driveRoot));
  const driveDir = windowsDriveDir(input.driveRoot);
  const base = await (input.localAppData ?? (() => askLocalAppData({ driveDir })))();
  const placed = await placeAgent({
    sha256: embedded.sha256,
    size: embedded.size,
    open: embedded.open,
    version: input.version,
    destDir: `${base.replace(/\/+$/, "")}/${AGENT_DIR_NAME}`,
  });
  return atPath(input, placed, `embedded agent ${input.version} at ${placed}`);
}

/** The message of the {@linkcode UnsupportedError} for the automatic agent outside WSL. */
export function notWslMessage(): string {
  return [
    "not running inside WSL, so there is no Windows side to start the agent on.",
    "To run an agent anyway (for testing, e.g. the Linux build of wsl2proxy), set agent.command in the config file:",
    "  agent:",
    '    command: ["wsl2proxy", "agent"]',
  ].join("\n");
}

/** The message of the {@linkcode AgentNotFoundError} when this build embeds no agent. */
export function noEmbeddedAgentMessage(driveRoot: string): string {
  const example = `${windowsDriveDir(driveRoot)}/Users/<you>/wsl2proxy-windows-x64.exe`;
  return [
    "this build of wsl2proxy has no embedded Windows agent (as when running from source).",
    "Download wsl2proxy-windows-x64.exe to a Windows drive and pass it with --agent PATH, or set it in the config file:",
    "  agent:",
    `    path: ${example}`,
    "or, with Deno installed on Windows, run the agent from source:",
    "  agent:",
    `    command: ["deno.exe", "run", "-A", "<URL of wsl2proxy's main.ts>", "agent"]`,
  ].join("\n");
}

function atPath(input: ResolveAgentCommandInput, path: string, description: string): AgentCommand {
  if (!input.isWsl) return { argv: [path, "agent"], description, warnings: [] };
  const driveDir = windowsDriveDir(input.driveRoot);
  const warnings = isOnWindowsDrive(path, input.driveRoot) ? [] : [
    `the agent ${path} is not on a Windows drive (under ${input.driveRoot}): ` +
    `Windows takes 15-30 s to start a program from the Linux file system and ~0.2 s from a Windows drive; ` +
    `copy it to a Windows drive, e.g. under ${driveDir}/Users/<you>/`,
  ];
  return { argv: [path, "agent"], cwd: driveDir, description, warnings };
}
