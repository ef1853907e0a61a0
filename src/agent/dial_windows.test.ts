/**
 * Dialling Windows targets: named pipes and Windows AF_UNIX sockets. These
 * run on the windows-latest CI job (`npx deno test -A src/agent/` and
 * `npx bun test src/agent/` on Windows) and are skipped elsewhere; the
 * AF_UNIX ones are skipped under Wine too, whose Winsock has no AF_UNIX.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseWindowsAddr } from "../config/addr.ts";
import type { WindowsAddr } from "../config/types.ts";
import { DialError, StreamResetError } from "../errors.ts";
import { ResetCode } from "../mux/mod.ts";
import { getRuntime } from "../runtime/mod.ts";
import type { ChildProcess, Conn, Listener } from "../runtime/types.ts";
import { pattern, readAll, within, writeAll } from "../../tests/helpers/mux.ts";
import {
  REAL_WINDOWS_ONLY,
  skipNote,
  startAgent,
  tempDir,
  WINDOWS_ONLY,
} from "../../tests/helpers/agent.ts";
import { singleInstancePipe } from "../../tests/helpers/win_pipe.ts";
import { dial } from "./dial.ts";

const rt = getRuntime();
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const AFUNIX_SERVER = fileURLToPath(
  new URL("../../tests/fixtures/afunix_echo_server.ts", import.meta.url),
);
const DENO_FFI_ONLY = WINDOWS_ONLY ||
  (rt.name !== "deno" ? "the single-instance pipe server is written with Deno FFI" : false);

function addr(url: string): WindowsAddr {
  const r = parseWindowsAddr(url);
  if (!r.ok) throw new Error(`bad test address ${url}: ${r.problem}`);
  return r.value;
}

/** A pipe name nobody else uses. */
function pipeName(what: string): string {
  return `w2p-test-${what}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

async function rejectsWith(p: Promise<unknown>, code: number, reason: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DialError, `expected DialError, got ${e}`);
    assert.equal(e.resetCode, code, `reset code for "${e.message}"`);
    assert.equal(e.message, reason);
    return true;
  });
}

/** Echo every connection on `listener`, half-closing after the peer does. */
function echoAll(listener: Listener): Promise<void> {
  return (async () => {
    for await (const conn of listener) {
      conn.readable.pipeTo(conn.writable).catch(() => conn.close());
    }
  })().catch(() => {});
}

/** Read exactly `n` bytes (fewer only at EOF). */
async function readExactly(readable: ReadableStream<Uint8Array>, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  const reader = readable.getReader();
  let got = 0;
  while (got < n) {
    const { value, done } = await reader.read();
    if (done) return out.subarray(0, got);
    out.set(value.subarray(0, n - got), got);
    got += Math.min(value.byteLength, n - got);
  }
  reader.releaseLock();
  return out;
}

/** Bun: this test's own runtime; under Deno, the Bun that `npm install` put in node_modules. */
function bunExecutable(): string {
  return rt.name === "bun" ? rt.execPath() : join(REPO, "node_modules", "bun", "bin", "bun.exe");
}

/** Start `tests/fixtures/afunix_echo_server.ts` under Bun on `path` and wait until it listens. */
async function afUnixEchoServer(path: string): Promise<{ dispose: () => Promise<void> }> {
  const child: ChildProcess = rt.spawn([bunExecutable(), AFUNIX_SERVER, path], {
    cwd: REPO,
    stdin: "null",
  });
  const reader = child.stdout!.getReader();
  let seen = "";
  while (!seen.includes("ready\n")) {
    const { value, done } = await within(30_000, reader.read(), "AF_UNIX echo server start");
    if (done) {
      throw new Error(`the AF_UNIX echo server exited: ${JSON.stringify(await child.status)}`);
    }
    seen += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  child.stdout!.cancel().catch(() => {});
  return {
    dispose: async () => {
      child.kill();
      await child.status;
    },
  };
}

describe(`dial on Windows: named pipes${skipNote(WINDOWS_ONLY)}`, { skip: WINDOWS_ONLY }, () => {
  test("dial - a named pipe echoes 1 MiB byte-exact through rt.listenPipe", async () => {
    const name = pipeName("echo");
    const listener = await rt.listenPipe(`\\\\.\\pipe\\${name}`);
    const serving = echoAll(listener);
    let conn: Conn | undefined;
    try {
      conn = await dial(rt, addr(`pipe://./pipe/${name}`));
      const data = pattern(1 << 20, 9);
      // Exactly as many bytes as were sent: whether a pipe carries a half-close is not this test's business.
      const [got] = await within(
        30_000,
        Promise.all([
          readExactly(conn.readable, data.byteLength),
          writeAll(conn.writable, data, 65536, false),
        ]),
        "echo through the pipe",
      );
      assert.deepEqual(got, data);
    } finally {
      conn?.close();
      await listener.close();
      await serving;
    }
  });

  test("dial - a missing named pipe is NOT_FOUND with the exact reason", async () => {
    const name = pipeName("missing");
    await rejectsWith(
      dial(rt, addr(`pipe://./pipe/${name}`)),
      ResetCode.NOT_FOUND,
      `pipe not found: \\\\.\\pipe\\${name}`,
    );
  });

  test(
    `dial - a pipe whose only instance stays busy is TIMEOUT after the retry budget${
      skipNote(DENO_FFI_ONLY)
    }`,
    {
      skip: DENO_FFI_ONLY,
    },
    async () => {
      const path = `\\\\.\\pipe\\${pipeName("busy")}`;
      const server = singleInstancePipe(path);
      const listening = server.listen();
      const first = await rt.connectPipe(path); // takes the one instance
      try {
        await listening;
        const started = performance.now();
        await rejectsWith(
          dial(rt, addr(`pipe://./pipe/${path.slice(9)}`), { pipeBusyTimeoutMs: 300 }),
          ResetCode.TIMEOUT,
          `all pipe instances are busy: ${path} (gave up after 300 ms)`,
        );
        assert.ok(performance.now() - started >= 250, "gave up before the budget ran out");
      } finally {
        first.close();
        await server.close();
      }
    },
  );

  test(
    `dial - a busy pipe is retried and connects once an instance frees up${
      skipNote(DENO_FFI_ONLY)
    }`,
    {
      skip: DENO_FFI_ONLY,
    },
    async () => {
      const path = `\\\\.\\pipe\\${pipeName("frees")}`;
      const server = singleInstancePipe(path);
      const listening = server.listen();
      const first = await rt.connectPipe(path);
      let conn: Conn | undefined;
      try {
        await listening;
        let sawBusy!: () => void;
        const busy = new Promise<void>((resolve) => (sawBusy = resolve));
        const dialling = dial(rt, addr(`pipe://./pipe/${path.slice(9)}`), {
          pipeBusyTimeoutMs: 15_000,
          onPipeBusy: () => sawBusy(),
        });
        // Either dial saw ERROR_PIPE_BUSY and is retrying, or the runtime's own
        // connect waits for the pipe (libuv's WaitNamedPipe); free it in both cases.
        await Promise.race([busy, new Promise((resolve) => setTimeout(resolve, 500))]);
        first.close();
        server.disconnect();
        const relisten = server.listen();
        conn = await within(15_000, dialling, "dial after the instance freed up");
        await within(5000, relisten, "server saw the retried client");
      } finally {
        conn?.close();
        first.close();
        await server.close();
      }
    },
  );
});

describe(`dial on Windows: AF_UNIX sockets${skipNote(REAL_WINDOWS_ONLY)}`, {
  skip: REAL_WINDOWS_ONLY,
}, () => {
  test("dial - a Windows AF_UNIX socket echoes 1 MiB byte-exact, with half-close", async () => {
    const dir = await tempDir();
    const path = join(dir.path, "echo.sock");
    const server = await afUnixEchoServer(path);
    try {
      const conn = await dial(rt, addr(`unix://${path}`));
      const data = pattern(1 << 20, 13);
      // writeAll ends with our FIN; the echo ends only after it, so EOF proves half-close works.
      const [, got] = await within(
        30_000,
        Promise.all([writeAll(conn.writable, data), readAll(conn.readable)]),
        "echo",
      );
      assert.deepEqual(got, data);
      conn.close();
      await within(5000, conn.closed, "connection closed");
    } finally {
      await server.dispose();
      await dir.dispose();
    }
  });

  test("dial - a missing Windows AF_UNIX socket file is NOT_FOUND with the exact reason", async () => {
    const dir = await tempDir();
    try {
      const target = addr(`unix://${join(dir.path, "missing.sock")}`);
      assert.equal(target.kind, "unix");
      await rejectsWith(
        dial(rt, target),
        ResetCode.NOT_FOUND,
        `socket not found: ${(target as { path: string }).path}`,
      );
    } finally {
      await dir.dispose();
    }
  });

  test("runAgent - serves a unix://C:/... target end to end", async () => {
    const dir = await tempDir();
    const path = join(dir.path, "agent.sock");
    const server = await afUnixEchoServer(path);
    const agent = await startAgent(rt);
    try {
      const url = addr(`unix://${path}`).url; // the canonical unix://C:/... form the daemon sends
      assert.match(url, /^unix:\/\/[A-Z]:\//);
      const s = await agent.client.open(url);
      const data = pattern(256 * 1024, 17);
      const [, got] = await within(
        30_000,
        Promise.all([writeAll(s.writable, data), readAll(s.readable)]),
        "echo",
      );
      assert.deepEqual(got, data);
      await assert.rejects(
        agent.client.open(`unix://${join(dir.path, "nobody.sock")}`),
        (e: unknown) => e instanceof StreamResetError && e.resetCode === ResetCode.NOT_FOUND,
      );
    } finally {
      await agent.dispose();
      await server.dispose();
      await dir.dispose();
    }
  });
});
