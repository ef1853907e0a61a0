/**
 * The Windows side: the agent's stdio session and the dialers for named
 * pipes, AF_UNIX sockets and TCP.
 *
 * @module
 */
export { type AgentExit, AgentExitCode, runAgent, type RunAgentOptions } from "./run_agent.ts";
export { describeAddr, dial, DIAL_DEFAULTS, type DialOptions } from "./dial.ts";
export { type DialTarget, errorCodeOf, resetCodeFor, toDialError } from "./to_dial_error.ts";
