/**
 * The Linux side: the daemon, its agent supervisor, forwarders and control socket.
 *
 * @module
 */
export { Daemon, type DaemonOptions, type DaemonStatus } from "./daemon.ts";
export { type AgentState, type AgentStatus, AgentSupervisor } from "./agent_supervisor.ts";
export { SocketForwarder, type SocketStats } from "./socket_forwarder.ts";
export { type ControlRequest, encodeLine, readLine } from "./control_protocol.ts";
export { ensureRuntimeDir, RuntimeFiles } from "./runtime_dir.ts";
