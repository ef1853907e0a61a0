/**
 * How the daemon starts the agent, from the config and `--agent`: the
 * decision itself lives in src/wsl (resolveAgentCommand); this file supplies
 * the facts about this machine and this build.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { VERSION } from "../version.ts";
import type { CliContext } from "./context.ts";

/** The agent's argv, working directory, and any warnings to log. */
export interface AgentArgv {
  argv: string[];
  cwd?: string;
  warnings: string[];
}

/**
 * Resolve the agent command (placing the embedded agent on WSL when needed).
 * The embedded agent's module (node:zlib) loads only when the agent is to be
 * placed: `start` places it and passes the daemon `--agent`, so the daemon
 * never loads it (0.5–1 MB less resident in the daemon, bench/NOTES.md).
 */
export async function resolveAgentArgv(
  ctx: CliContext,
  config: Config,
  agentFlag?: string,
): Promise<AgentArgv> {
  const [{ detectCurrentWsl }, { readAutomountRoot }, { resolveAgentCommand }] = await Promise.all([
    import("../wsl/detect_wsl.ts"),
    import("../wsl/automount_root.ts"),
    import("../wsl/agent_command.ts"),
  ]);
  const [{ isWsl }, driveRoot] = await Promise.all([detectCurrentWsl(), readAutomountRoot()]);
  const cmd = await resolveAgentCommand({
    agent: config.agent,
    agentFlag,
    isWsl,
    version: VERSION,
    driveRoot,
    embeddedAgent: async () => (await import("../wsl/embedded_agent.ts")).embeddedAgent(),
  });
  void ctx;
  return { argv: cmd.argv, cwd: cmd.cwd, warnings: cmd.warnings };
}
