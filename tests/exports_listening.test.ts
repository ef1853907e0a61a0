/**
 * `start` and `env` export only what the daemon listens on (issue 12,
 * finding 4): a socket a reload added but could not bind, because another
 * process listens on its path, was exported anyway and clients talked to
 * that process. Now it is named on stderr with the daemon's reason, left out
 * of the exports, and the exit status is 5.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { getRuntime } from "../src/runtime/mod.ts";
import { parseShExports, Sandbox, text } from "./helpers/cli.ts";

const rt = getRuntime();
const A = { env: "A_SOCK", linux: "{runtime_dir}/a.sock", windows: "pipe://./pipe/a" };
const C = { env: "C_SOCK", linux: "{runtime_dir}/c.sock", windows: "pipe://./pipe/c" };

describe("exports follow what the daemon listens on", () => {
  test("start and env leave out a socket the daemon could not bind, name it with the reason, and exit 5", async () => {
    const box = new Sandbox("w2p-exports-listen-");
    const held = join(box.dir, "held.sock");
    // Another process's live listener on B's path (in the finding, another user's in a 1777 dir).
    const squatter = await rt.listenUnix(held);
    try {
      const B = { env: "B_SOCK", linux: held, windows: "pipe://./pipe/b" };
      box.writeBridgeConfig([A]);
      const first = await box.cli(["start"]);
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(Object.keys(parseShExports(text(first))), ["A_SOCK"]);

      box.writeBridgeConfig([A, B]);
      // (The daemon may also have noticed the file change on its own: either reload fails B.)
      const reload = await box.control<{ ok: boolean; added: number }>({ op: "reload" });
      assert.equal(reload?.ok, true);

      const aPath = join(box.runtimeDir, "a.sock");
      for (const args of [["start"], ["env"], ["start", "--format", "json"]]) {
        const r = await box.cli(args);
        assert.equal(r.code, 5, `${args.join(" ")}: ${r.stderr}`);
        const out = text(r);
        const exported = args.includes("json") ? JSON.parse(out) : parseShExports(out);
        assert.deepEqual(exported, { A_SOCK: aPath }, args.join(" "));
        assert.match(r.stderr, new RegExp(`B_SOCK.*${held}.*another process is listening`));
      }
      const status = await box.cli(["status"]);
      assert.match(text(status), /B_SOCK .*\n {4}NOT LISTENING: another process is listening/);

      // Once the path is free, the next reload binds it and both are exported again.
      await squatter.close();
      assert.equal((await box.control<{ ok: boolean }>({ op: "reload" }))?.ok, true);
      const after = await box.cli(["start"]);
      assert.equal(after.code, 0, after.stderr);
      assert.deepEqual(parseShExports(text(after)), { A_SOCK: aPath, B_SOCK: held });
      assert.equal(after.stderr, "");
    } finally {
      await squatter.close();
      await box.cleanup();
    }
  });

  test("start applies a config the daemon has not reloaded yet, then exports its new socket", async () => {
    const box = new Sandbox("w2p-exports-listen-");
    try {
      box.writeBridgeConfig([A]);
      assert.equal((await box.cli(["start"])).code, 0);
      box.writeBridgeConfig([A, C]);
      const r = await box.cli(["start"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(Object.keys(parseShExports(text(r))), ["A_SOCK", "C_SOCK"]);
      const s = await box.control({ op: "status" });
      assert.deepEqual(s?.sockets.map((k) => k.envName), ["A_SOCK", "C_SOCK"]);
    } finally {
      await box.cleanup();
    }
  });
});
