import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { unlink } from "node:fs/promises";
import { join } from "node:path";
import { AddressInUseError } from "../errors.ts";
import { isUnixSocketAlive } from "./node_net.ts";
import { tempDir } from "./_test_util.ts";
import { runProcess } from "../../tests/helpers/process.ts";
import { clearStaleSocket } from "./unix_socket_file.ts";

/** A socket file with nothing listening on it, as a crashed daemon leaves (bound by a process that exited). */
async function staleSocket(path: string): Promise<void> {
  const script = "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])";
  const r = await runProcess(["python3", "-c", script, path], { input: new Uint8Array(0) });
  assert.equal(r.code, 0, r.stderr);
}

describe("clearStaleSocket", () => {
  test("clearStaleSocket - a socket file removed between the lstat and the probe counts as free (finding 10)", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "s.sock");
      await staleSocket(path);
      assert.ok(existsSync(path), "the stale socket file is there");
      // As a reload's old listener removes its file while the new one probes the path.
      const probe = async (p: string) => {
        await unlink(p);
        return await isUnixSocketAlive(p); // a real connect: ENOENT
      };
      await clearStaleSocket(path, probe);
      assert.equal(existsSync(path), false);
    } finally {
      await dir.dispose();
    }
  });

  test("clearStaleSocket - any other probe failure still refuses the path", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "s.sock");
      await staleSocket(path);
      const probe = () => Promise.reject(Object.assign(new Error("denied"), { code: "EACCES" }));
      await assert.rejects(clearStaleSocket(path, probe), AddressInUseError);
    } finally {
      await dir.dispose();
    }
  });
});
