/**
 * curl fetches a 10 MB file from a real HTTP server (python3 -m http.server on
 * TCP loopback) through the bridge's Unix socket: byte-exact.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseShExports, Sandbox, text } from "./helpers/cli.ts";
import { runProcess, startProcess } from "./helpers/process.ts";
import { pattern } from "./helpers/mux.ts";

describe("bridge with a real HTTP server and curl", () => {
  test("curl --unix-socket fetches a 10 MB file byte-exact over tcp://", async () => {
    const box = new Sandbox();
    const www = join(box.dir, "www");
    mkdirSync(www);
    const body = pattern(10 * 1024 * 1024, 42);
    writeFileSync(join(www, "big.bin"), body);
    // Port 0: the server picks a free port and prints it.
    const server = startProcess([
      "python3",
      "-u",
      "-c",
      [
        "import http.server, functools, sys",
        `h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=${
          JSON.stringify(www)
        })`,
        "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), h)",
        "print(s.server_address[1], flush=True)",
        "s.serve_forever()",
      ].join("\n"),
    ], { env: box.env, timeoutMs: 120_000 });
    try {
      await server.waitForStdout(2);
      const port = Number.parseInt(new TextDecoder().decode(server.stdout()), 10);
      assert.ok(port > 0);
      box.writeBridgeConfig([{
        env: "WEB_SOCK",
        linux: "{runtime_dir}/web.sock",
        windows: `tcp://127.0.0.1:${port}`,
      }]);
      const started = await box.cli(["start"]);
      assert.equal(started.code, 0, started.stderr);
      const sock = parseShExports(text(started)).WEB_SOCK;
      const out = join(box.dir, "out.bin");
      const curl = await runProcess([
        "curl",
        "-sS",
        "--fail",
        "--unix-socket",
        sock,
        "-o",
        out,
        "http://localhost/big.bin",
      ], { env: box.env });
      assert.equal(curl.code, 0, curl.stderr);
      const got = readFileSync(out);
      assert.equal(got.byteLength, body.byteLength);
      assert.equal(
        createHash("sha256").update(got).digest("hex"),
        createHash("sha256").update(body).digest("hex"),
      );
    } finally {
      await box.cleanup();
      server.kill();
      await server.exited.catch(() => {});
    }
  });
});
