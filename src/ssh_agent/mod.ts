/**
 * The ssh-agent protocol: its framing, and the daemon's relay for sockets
 * with `protocol: ssh-agent`.
 *
 * @module
 */
export {
  AGENT_HEADER_SIZE,
  AGENT_MAX_MSGLEN,
  agentFailure,
  AgentFrameCounter,
  type AgentMessage,
  AgentMessageDecoder,
  AgentMessageType,
  encodeAgentMessage,
  extensionName,
} from "./framing.ts";
export { type AgentRelayOptions, type AgentRelayResult, relayAgent } from "./agent_relay.ts";
