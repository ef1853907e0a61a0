/**
 * The write-then-half-close cases of issue 10 against AF_UNIX and TCP
 * targets on Linux (the Wine test, `tests/wine/pipe_half_close_wine.test.ts`,
 * runs them against named pipes): a client writes 1 B .. 16 MiB, calls
 * shutdown(SHUT_WR) at once, and must get its bytes back exactly, one at a
 * time and 16 in parallel; afterwards no target connection stays open.
 *
 * One daemon (from source, or `WSL2PROXY_TEST_BIN`) and one agent on Linux
 * serve the whole file; the targets are `tests/helpers/length_echo_server.ts`.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { getRuntime } from "../src/runtime/mod.ts";
import { parseShExports, Sandbox, text } from "./helpers/cli.ts";
import {
  assertAllExact,
  ECHO_MODES,
  HALF_CLOSE_PARALLEL,
  HALF_CLOSE_SIZES,
  halfCloseRoundTrips,
  payloadFor,
  sizeName,
} from "./helpers/half_close.ts";
import { type LengthEchoServer, serveLengthEcho } from "./helpers/length_echo_server.ts";

const IDLE_MS = 30_000;
const CASE_TIMEOUT = 120_000;
const KINDS = ["unix", "tcp"] as const;
type Kind = typeof KINDS[number];
type Mode = typeof ECHO_MODES[number]["mode"];

interface Bridge {
  box: Sandbox;
  servers: Map<string, LengthEchoServer>;
  /** Bridge socket paths by env name. */
  socks: Record<string, string>;
}

let bridge: Promise<Bridge> | undefined;
let stopBridge: (() => Promise<void>) | undefined;

function envName(kind: Kind, mode: Mode): string {
  return `${kind}_${mode}`.toUpperCase();
}

/** Four targets (unix and tcp, length and echo), the daemon and its agent, once for the file. */
function theBridge(): Promise<Bridge> {
  bridge ??= (async () => {
    const rt = getRuntime();
    const box = new Sandbox("w2p-hc-");
    const servers = new Map<string, LengthEchoServer>();
    stopBridge = async () => {
      await box.cleanup();
      await Promise.all([...servers.values()].map((s) => s.close()));
    };
    const sockets = [];
    for (const kind of KINDS) {
      for (const { mode } of ECHO_MODES) {
        const listener = kind === "unix"
          ? await rt.listenUnix(join(box.dir, `${mode}.sock`))
          : await rt.listenTcp("127.0.0.1", 0);
        servers.set(envName(kind, mode), serveLengthEcho(listener, mode));
        sockets.push({
          env: envName(kind, mode),
          linux: `{runtime_dir}/${kind}-${mode}.sock`,
          windows: kind === "unix" ? `unix://${listener.addr}` : `tcp://127.0.0.1:${listener.port}`,
        });
      }
    }
    box.writeBridgeConfig(sockets);
    const started = await box.cli(["start"], { timeoutMs: 60_000 });
    assert.equal(started.code, 0, started.stderr + box.log());
    const socks = parseShExports(text(started));
    await box.waitAgent(undefined, 30_000);
    return { box, servers, socks };
  })();
  return bridge;
}

describe("half-close through the bridge to AF_UNIX and TCP targets", () => {
  after(async () => {
    await stopBridge?.();
  });

  for (const kind of KINDS) {
    for (const { mode, lengthPrefix, what } of ECHO_MODES) {
      for (const parallel of [1, HALF_CLOSE_PARALLEL]) {
        for (const size of HALF_CLOSE_SIZES) {
          const how = parallel === 1 ? "sequential" : `${parallel} in parallel`;
          const name = `${kind} ${mode} target (${what}), ${sizeName(size)}, ${how}`;
          test(`half-close - ${name}: byte-exact, no target connection left open`, {
            timeout: CASE_TIMEOUT,
          }, async () => {
            const b = await theBridge();
            const sock = b.socks[envName(kind, mode)];
            const connect = () => getRuntime().connectUnix(sock);
            const outcomes = await halfCloseRoundTrips(connect, size, parallel, lengthPrefix);
            assertAllExact(outcomes, lengthPrefix, b.box.log());
            await b.servers.get(envName(kind, mode))!.waitIdle(IDLE_MS);
          });
        }
      }
    }
  }

  for (const kind of KINDS) {
    test(
      `half-close - a client that writes 64 KiB to the ${kind} echo target, half-closes and vanishes leaves no connection open`,
      { timeout: CASE_TIMEOUT },
      async () => {
        const b = await theBridge();
        const server = b.servers.get(envName(kind, "echo"))!;
        const before = server.accepted();
        const conn = await getRuntime().connectUnix(b.socks[envName(kind, "echo")]);
        try {
          const writer = conn.writable.getWriter();
          await writer.write(payloadFor(0, 64 * 1024));
          await writer.close();
          await server.waitUntil(() => server.accepted() > before, IDLE_MS, "the connection");
        } finally {
          conn.close(); // gone, without reading a byte of the echo
        }
        await server.waitIdle(IDLE_MS);
      },
    );
  }
});
