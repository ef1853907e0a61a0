/**
 * No payload byte reaches the log, at any level, in either direction or on a
 * failed dial.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { getRuntime } from "../src/runtime/mod.ts";
import { Sandbox } from "./helpers/cli.ts";
import { concat } from "./helpers/mux.ts";
import { bridgeYaml, roundTrip, startBridge, status } from "./helpers/security.ts";

describe("security: logs", () => {
  test("at log_level debug no payload byte reaches the log, in either direction or on a failed dial", async () => {
    const box = new Sandbox();
    const rt = getRuntime();
    const toWindows = `linux-to-windows-${crypto.randomUUID()}`;
    const toLinux = `windows-to-linux-${crypto.randomUUID()}`;
    const toNowhere = `to-a-missing-target-${crypto.randomUUID()}`;
    const enc = new TextEncoder();
    // A target that greets with its own marker, then echoes what the client sent.
    const target = await rt.listenUnix(join(box.dir, "target.sock"));
    const served: Promise<void>[] = [];
    const serving = (async () => {
      for await (const conn of target) {
        served.push(
          (async () => {
            const w = conn.writable.getWriter();
            await w.write(enc.encode(toLinux));
            w.releaseLock();
            await conn.readable.pipeTo(conn.writable);
          })().catch(() => {}).finally(() => conn.close()),
        );
      }
    })();
    try {
      box.writeConfig(bridgeYaml(box, [
        {
          env: "MARK_SOCK",
          linux: "{runtime_dir}/mark.sock",
          windows: `unix://${join(box.dir, "target.sock")}`,
        },
        {
          env: "GONE_SOCK",
          linux: "{runtime_dir}/gone.sock",
          windows: `unix://${join(box.dir, "missing.sock")}`,
        },
      ]));
      await startBridge(box, { WSL2PROXY_LOG_LEVEL: "debug" }); // the agent logs at debug too

      const sent = enc.encode(toWindows.repeat(100));
      const got = await roundTrip(await rt.connectUnix(join(box.runtimeDir, "mark.sock")), sent);
      assert.deepEqual(got, concat([enc.encode(toLinux), sent]));
      // The daemon closes this one unread once the dial fails, which may surface here as
      // ECONNRESET, even at connect (Bun fails the connect when the reset beats its open callback).
      const gone = await rt.connectUnix(join(box.runtimeDir, "gone.sock"))
        .then((conn) => roundTrip(conn, enc.encode(toNowhere)))
        .catch(() => new Uint8Array(0));
      assert.equal(gone.byteLength, 0);
      // Both connections are over once the daemon counts them closed; poll status (no event for this).
      for (let i = 0;; i++) {
        const s = await status(box);
        if (s.sockets.every((k) => k.openConnections === 0)) break;
        assert.ok(i < 200, "connections closed");
        await new Promise((r) => setTimeout(r, 25));
      }
      await box.cli(["stop"]);

      const log = box.log();
      // The log is at debug level and covered these connections, so its silence about payload means something.
      assert.match(log, /DEBUG socket: connection opened env=MARK_SOCK/);
      assert.match(
        log,
        new RegExp(
          `DEBUG socket: connection closed env=MARK_SOCK .*bytes_out=${sent.byteLength} bytes_in=${
            sent.byteLength + toLinux.length
          }`,
        ),
      );
      assert.match(log, /INFO {2}agent: .*stream opened/, "the agent's debug lines are in the log");
      assert.match(log, /dial failed on the Windows side env=GONE_SOCK/);
      for (const marker of [toWindows, toLinux, toNowhere]) {
        for (
          const form of [
            marker,
            Buffer.from(marker).toString("hex"),
            Buffer.from(marker).toString("base64").slice(0, 40),
          ]
        ) {
          assert.ok(!log.includes(form), `the log does not contain ${form}`);
        }
        assert.ok(!log.includes(marker.slice(-36)), "nor the marker's uuid");
      }
    } finally {
      await box.cleanup();
      await target.close();
      await serving;
      await Promise.all(served);
    }
  });
});
