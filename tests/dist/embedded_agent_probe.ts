/**
 * Prints what `embeddedAgent()` returns in the executable this is compiled
 * into: `none`, or `<bytes> <sha256>`. Compiled by tests/dist/compiled.test.ts
 * exactly as scripts/build.ts compiles wsl2proxy.
 *
 * @module
 */
import process from "node:process";
import { embeddedAgent } from "../../src/wsl/embedded_agent.ts";
import { sha256Hex } from "../../src/wsl/place_agent.ts";

// No top-level await: it is compiled with the same flags as wsl2proxy, --bytecode included.
embeddedAgent().then(async (agent) => {
  process.stdout.write(agent === null ? "none\n" : `${agent.length} ${await sha256Hex(agent)}\n`);
});
