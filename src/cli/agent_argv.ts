/**
 * How the daemon starts the agent, from the config and `--agent`.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { UnsupportedError } from "../errors.ts";
import type { CliContext } from "./context.ts";

/** The agent's argv, working directory, and any warnings to log. */
export interface AgentArgv {
  argv: string[];
  cwd?: string;
  warnings: string[];
}

/** Resolve the agent command (placing the embedded agent on WSL when needed). */
export async function resolveAgentArgv(ctx: CliContext, config: Config, agentFlag?: string): Promise<AgentArgv> {
  const a = config.agent;
  if (a.kind === "command" && !agentFlag) return { argv: [...a.command], warnings: [] };
  if (agentFlag) return { argv: [agentFlag, "agent"], warnings: [] };
  if (a.kind === "path") return { argv: [a.path, "agent"], warnings: [] };
  void ctx;
  throw new UnsupportedError("automatic agent placement is not wired in yet; set agent.command or --agent");
}
