import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "../log/logger.ts";
import { type Conn, getRuntime } from "../runtime/mod.ts";
import { controlRequest } from "../cli/control_client.ts";
import { ControlServer, type ControlServerOptions } from "./control_server.ts";
import type { ControlRequest } from "./control_protocol.ts";

const rt = getRuntime();

/** A control server on a fresh socket, with a handler that answers `hello` and makes `wait-agent` wait. */
async function withServer(
  options: ControlServerOptions,
  body: (path: string, lines: string[]) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "w2p-control-"));
  const lines: string[] = [];
  const log = new Logger({ level: "debug", sinks: [(l) => lines.push(l)] });
  const server = new ControlServer(rt, log, async (r: ControlRequest) => {
    if (r.op === "wait-agent") await new Promise((res) => setTimeout(res, r.timeoutMs));
    return { ok: true, op: r.op };
  }, options);
  const path = join(dir, "control.sock");
  await server.listen(path);
  try {
    await body(path, lines);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Resolves "eof" once the server closes `conn`, or "open" if it is still open after `ms`. */
async function endOf(conn: Conn, ms: number): Promise<"eof" | "open"> {
  const reader = conn.readable.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      reader.read().then(
        ({ done }) => (done ? "eof" as const : "open" as const),
        () => "eof" as const,
      ),
      new Promise<"open">((r) => (timer = setTimeout(() => r("open"), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function readText(conn: Conn): Promise<string> {
  let text = "";
  for await (const chunk of conn.readable) text += new TextDecoder().decode(chunk);
  return text;
}

async function send(conn: Conn, text: string): Promise<void> {
  const w = conn.writable.getWriter();
  await w.write(new TextEncoder().encode(text));
  w.releaseLock();
}

describe("ControlServer", () => {
  test("ControlServer - closes a client that sends half a request line once the deadline passes (finding 7)", async () => {
    await withServer({ requestTimeoutMs: 300 }, async (path, lines) => {
      const conn = await rt.connectUnix(path);
      try {
        await send(conn, '{"op":');
        // Before the fix such clients stayed open for good (3,299 after 40 s).
        assert.equal(await endOf(conn, 20_000), "eof");
        assert.ok(lines.some((l) => l.includes("sent no request line in time")), lines.join("\n"));
      } finally {
        conn.close();
      }
      assert.deepEqual(await controlRequest(rt, path, { op: "hello" }), { ok: true, op: "hello" });
    });
  });

  test("ControlServer - closes connections over the cap at once, and serves again when they end", async () => {
    await withServer({ requestTimeoutMs: 60_000, maxConnections: 4 }, async (path, lines) => {
      const idle = await Promise.all(Array.from({ length: 4 }, () => rt.connectUnix(path)));
      try {
        // The fifth is closed without an answer although the deadline is a minute away.
        const fifth = await rt.connectUnix(path);
        await send(fifth, '{"op":"hello"}\n').catch(() => {}); // it may be closed already
        assert.equal(await endOf(fifth, 20_000), "eof");
        fifth.close();
        assert.equal(lines.filter((l) => l.includes("too many control connections")).length, 1);
        // The idle ones are still served; once one has its answer (and EOF), its slot is free.
        const leaving = idle.pop()!;
        await send(leaving, '{"op":"hello"}\n');
        assert.equal(await readText(leaving), '{"ok":true,"op":"hello"}\n');
        leaving.close();
        assert.deepEqual(await controlRequest(rt, path, { op: "hello" }), {
          ok: true,
          op: "hello",
        });
      } finally {
        for (const c of idle) c.close();
      }
    });
  });

  test("ControlServer - a wait the request asks for is not cut by the request deadline", async () => {
    await withServer({ requestTimeoutMs: 200 }, async (path) => {
      const reply = await controlRequest(rt, path, { op: "wait-agent", timeoutMs: 800 }, 20_000);
      assert.deepEqual(reply, { ok: true, op: "wait-agent" });
    });
  });
});
