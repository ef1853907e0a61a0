import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { getRuntime } from "../runtime/mod.ts";
import { POSIX_ONLY, skipNote, tempDir } from "../../tests/helpers/agent.ts";
import { GPG_AGENT_HINT, heldSocketHint } from "./held_socket_hint.ts";

const rt = getRuntime();

/** A Unix listener that greets each client with `greeting` and hangs up. */
async function greeter(path: string, greeting: string): Promise<() => Promise<void>> {
  const server = createServer((sock) => sock.end(greeting));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

describe("heldSocketHint", { skip: POSIX_ONLY }, () => {
  test(
    "heldSocketHint - an Assuan greeting is a local gpg-agent; anything else gets no hint" +
      skipNote(POSIX_ONLY),
    async () => {
      const dir = await tempDir();
      try {
        const cases: [string, string | undefined][] = [
          ["OK Pleased to meet you, process 42\n", GPG_AGENT_HINT],
          ["SSH-2.0-OpenSSH_9.2\r\n", undefined],
          ["", undefined],
        ];
        for (const [i, [greeting, want]] of cases.entries()) {
          const path = join(dir.path, `s${i}`);
          const close = await greeter(path, greeting);
          try {
            assert.equal(await heldSocketHint(rt, path), want, JSON.stringify(greeting));
          } finally {
            await close();
          }
        }
        assert.equal(await heldSocketHint(rt, join(dir.path, "none")), undefined);
        assert.match(GPG_AGENT_HINT, /gpgconf --kill gpg-agent.*no-autostart.*gpg\.conf/);
      } finally {
        await dir.dispose();
      }
    },
  );
});
