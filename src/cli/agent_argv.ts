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

/** Resolve the agent command (placing the embedded agent on WSL when needed). */
export async function resolveAgentArgv(
  ctx: CliContext,
  config: Config,
  agentFlag?: string,
): Promise<AgentArgv> {
  const wsl = await import("../wsl/mod.ts");
  const [{ isWsl }, driveRoot] = await Promise.all([
    wsl.detectCurrentWsl(),
    wsl.readAutomountRoot(),
  ]);
  const cmd = await wsl.resolveAgentCommand({
    agent: config.agent,
    agentFlag,
    isWsl,
    version: VERSION,
    driveRoot,
    embeddedAgent: wsl.embeddedAgent,
  });
  void ctx;
  return { argv: cmd.argv, cwd: cmd.cwd, warnings: cmd.warnings };
}
