import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Logger } from "./logger.ts";

describe("Logger", () => {
  test("Logger - formats timestamp, level, component, message and fields", () => {
    const lines: string[] = [];
    const log = new Logger({
      level: "debug",
      sinks: [(l) => lines.push(l)],
      component: "daemon",
      now: () => new Date(0),
    });
    log.info("connection closed", { socket: "SSH_AUTH_SOCK", bytes: 12, reason: "peer reset" });
    assert.deepEqual(lines, [
      '1970-01-01T00:00:00.000Z INFO  daemon: connection closed socket=SSH_AUTH_SOCK bytes=12 reason="peer reset"',
    ]);
  });

  test("Logger - drops lines below its level and follows setLevel", () => {
    const lines: string[] = [];
    const log = new Logger({ level: "warn", sinks: [(l) => lines.push(l)] });
    log.info("no");
    log.warn("yes");
    log.setLevel("debug");
    log.debug("now yes");
    assert.equal(lines.length, 2);
    assert.match(lines[0], /WARN {2}yes$/);
    assert.match(lines[1], /DEBUG now yes$/);
  });

  test("Logger - setLevel on the root reaches children made before it (finding 10)", () => {
    const lines: string[] = [];
    const root = new Logger({ level: "info", sinks: [(l) => lines.push(l)], component: "daemon" });
    const socket = root.child("socket");
    const grandchild = socket.child("conn");
    socket.debug("dropped");
    root.setLevel("debug");
    assert.equal(socket.enabled("debug"), true);
    socket.debug("connection opened");
    grandchild.debug("deeper");
    root.setLevel("error");
    socket.warn("dropped too");
    assert.deepEqual(lines.map((l) => l.slice(25)), [
      "DEBUG socket: connection opened",
      "DEBUG conn: deeper",
    ]);
  });

  test("Logger - keeps one record on one line even when a message has newlines", () => {
    const lines: string[] = [];
    const log = new Logger({ sinks: [(l) => lines.push(l)] });
    log.error("agent said:\nline two");
    assert.equal(lines.length, 1);
    assert.match(lines[0], /agent said: ⏎ line two$/);
  });
});
