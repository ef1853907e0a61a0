import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseWindowsAddr } from "../config/addr.ts";
import type { WindowsAddr } from "../config/types.ts";
import { DialError } from "../errors.ts";
import { ResetCode } from "../mux/mod.ts";
import { getRuntime } from "../runtime/mod.ts";
import { concat, pattern, readAll, writeAll } from "../../tests/helpers/mux.ts";
import {
  closedTcpPort,
  LINUX_ONLY,
  POSIX_ONLY,
  skipNote,
  targetServer,
  tempDir,
  unacceptingTcpListener,
} from "../../tests/helpers/agent.ts";
import { dial } from "./dial.ts";

const rt = getRuntime();

function addr(url: string): WindowsAddr {
  const r = parseWindowsAddr(url);
  if (!r.ok) throw new Error(`bad test address ${url}: ${r.problem}`);
  return r.value;
}

/** Assert that `p` rejects with a DialError carrying exactly `code` and `reason`. */
async function rejectsWith(
  p: Promise<unknown>,
  code: number,
  reason: string | RegExp,
): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DialError, `expected DialError, got ${e}`);
    assert.equal(e.resetCode, code, `reset code for "${e.message}"`);
    if (typeof reason === "string") assert.equal(e.message, reason);
    else assert.match(e.message, reason);
    return true;
  });
}

describe("dial", () => {
  for (const transport of ["tcp", "unix"] as const) {
    const skip = transport === "unix" ? POSIX_ONLY : false;
    test(
      `dial - a ${transport} target echoes 1 MiB byte-exact through a real listener${
        skipNote(skip)
      }`,
      {
        skip,
      },
      async () => {
        const server = await targetServer(rt, transport);
        try {
          const conn = await dial(rt, addr(server.url));
          const data = pattern(1 << 20, 5);
          const [, got] = await Promise.all([
            writeAll(conn.writable, data),
            readAll(conn.readable),
          ]);
          assert.deepEqual(got, data);
          conn.close();
          await conn.closed;
        } finally {
          await server.dispose();
        }
      },
    );
  }

  test(
    `dial - a half-closed unix connection still receives the target's reply${skipNote(POSIX_ONLY)}`,
    {
      skip: POSIX_ONLY,
    },
    async () => {
      const server = await targetServer(rt, "unix", "reply-after-eof");
      try {
        const conn = await dial(rt, addr(server.url));
        await writeAll(conn.writable, new TextEncoder().encode("ping"));
        assert.equal(new TextDecoder().decode(await readAll(conn.readable)), "got:ping");
        conn.close();
      } finally {
        await server.dispose();
      }
    },
  );

  test(
    `dial - a missing socket file is NOT_FOUND with the exact reason${skipNote(POSIX_ONLY)}`,
    { skip: POSIX_ONLY },
    async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "nobody-here.sock");
        await rejectsWith(
          dial(rt, addr(`unix://${path}`)),
          ResetCode.NOT_FOUND,
          `socket not found: ${path}`,
        );
        const deeper = join(dir.path, "no-such-dir", "x.sock");
        await rejectsWith(
          dial(rt, addr(`unix://${deeper}`)),
          ResetCode.NOT_FOUND,
          `socket not found: ${deeper}`,
        );
      } finally {
        await dir.dispose();
      }
    },
  );

  test(
    `dial - a file that is not a listening socket is CONNECTION_REFUSED${skipNote(POSIX_ONLY)}`,
    { skip: POSIX_ONLY },
    async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "plain-file");
        await writeFile(path, "not a socket");
        await rejectsWith(
          dial(rt, addr(`unix://${path}`)),
          ResetCode.CONNECTION_REFUSED,
          `connection refused: ${path}`,
        );
      } finally {
        await dir.dispose();
      }
    },
  );

  test("dial - a closed TCP port is CONNECTION_REFUSED with the exact reason", async () => {
    const port = await closedTcpPort(rt);
    await rejectsWith(
      dial(rt, addr(`tcp://127.0.0.1:${port}`)),
      ResetCode.CONNECTION_REFUSED,
      `connection refused: 127.0.0.1:${port}`,
    );
  });

  test("dial - a socket path of the other platform is BAD_TARGET", async () => {
    if (rt.os === "windows") {
      await rejectsWith(
        dial(rt, addr("unix:///tmp/x.sock")),
        ResetCode.BAD_TARGET,
        "a POSIX socket path cannot be dialled on Windows: /tmp/x.sock",
      );
    } else {
      await rejectsWith(
        dial(rt, addr("unix://C:/Users/me/x.sock")),
        ResetCode.BAD_TARGET,
        `a Windows socket path cannot be dialled on ${rt.os}: C:\\Users\\me\\x.sock`,
      );
    }
  });

  test(
    `dial - a named pipe off Windows is BAD_TARGET${skipNote(POSIX_ONLY)}`,
    { skip: POSIX_ONLY },
    async () => {
      await rejectsWith(
        dial(rt, addr("pipe://./pipe/openssh-ssh-agent")),
        ResetCode.BAD_TARGET,
        `named pipes exist only on Windows, not on ${rt.os}: \\\\.\\pipe\\openssh-ssh-agent`,
      );
    },
  );

  test(
    `dial - pageant:// off Windows is BAD_TARGET${skipNote(POSIX_ONLY)}`,
    { skip: POSIX_ONLY },
    async () => {
      await rejectsWith(
        dial(rt, addr("pageant://")),
        ResetCode.BAD_TARGET,
        `Pageant exists only on Windows, not on ${rt.os}`,
      );
    },
  );

  test(
    `dial - a TCP connect that outlasts connectTimeoutMs is TIMEOUT with the exact reason${
      skipNote(LINUX_ONLY)
    }`,
    { skip: LINUX_ONLY },
    async () => {
      const listener = await unacceptingTcpListener();
      const queued = await rt.connectTcp("127.0.0.1", listener.port); // fills the accept queue
      try {
        const started = performance.now();
        await rejectsWith(
          dial(rt, addr(`tcp://127.0.0.1:${listener.port}`), { connectTimeoutMs: 200 }),
          ResetCode.TIMEOUT,
          `timed out connecting to 127.0.0.1:${listener.port} (after 200 ms)`,
        );
        assert.ok(performance.now() - started >= 190, "gave up before the timeout");
      } finally {
        queued.close();
        listener.close(); // the hung connect is refused at its next SYN; dial ignores it
      }
    },
  );

  test("dial - an unknown target kind is BAD_TARGET", async () => {
    const bogus = { kind: "udp", url: "udp://x:1" } as unknown as WindowsAddr;
    await rejectsWith(dial(rt, bogus), ResetCode.BAD_TARGET, "unsupported target kind: udp");
  });

  test("dial - an already aborted signal fails with CANCEL before connecting", async () => {
    const server = await targetServer(rt, "tcp");
    try {
      const ac = new AbortController();
      ac.abort();
      await rejectsWith(
        dial(rt, addr(server.url), { signal: ac.signal }),
        ResetCode.CANCEL,
        /^dial cancelled: /,
      );
      assert.equal(server.accepted.length, 0);
    } finally {
      await server.dispose();
    }
  });

  test("dial - aborting mid-connect fails with CANCEL and closes the late connection", async () => {
    const server = await targetServer(rt, "tcp", "hold");
    try {
      const ac = new AbortController();
      const dialling = dial(rt, addr(server.url), { signal: ac.signal });
      ac.abort(); // before the connect can have completed: that needs the event loop
      await rejectsWith(
        dialling,
        ResetCode.CANCEL,
        `dial cancelled: ${server.url.slice("tcp://".length)}`,
      );
      // The connection was made after all; the dialler closed it, so the server sees EOF.
      const conn = await server.nextAccepted();
      assert.deepEqual(await readAll(conn.readable), concat([]));
    } finally {
      await server.dispose();
    }
  });
});
