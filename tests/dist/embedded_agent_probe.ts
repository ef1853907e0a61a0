/**
 * Prints what `embeddedAgent()` returns in the executable this is compiled
 * into: `none`, or two lines `<size> <sha256>`: as recorded at build time, and
 * of the decompressed bytes. Compiled by tests/dist/compiled.test.ts
 * exactly as scripts/build.ts compiles wsl2proxy.
 *
 * @module
 */
import { createHash } from "node:crypto";
import process from "node:process";
import { embeddedAgent } from "../../src/wsl/embedded_agent.ts";

// No top-level await: it is compiled with the same flags as wsl2proxy, --bytecode included.
embeddedAgent().then(async (agent) => {
  if (agent === null) return void process.stdout.write("none\n");
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of agent.open()) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  process.stdout.write(`${agent.size} ${agent.sha256}\n${size} ${hash.digest("hex")}\n`);
});
