import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { lenientRuntimeDir } from "./lenient_runtime_dir.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

describe("lenientRuntimeDir", () => {
  test("lenientRuntimeDir - reads runtime_dir even when a later line is broken", () => {
    assert.equal(
      lenientRuntimeDir("runtime_dir: /srv/w2p\nsockets: [oops\n", env({}), 1000),
      "/srv/w2p",
    );
  });

  test("lenientRuntimeDir - expands ~ from HOME", () => {
    assert.equal(
      lenientRuntimeDir("runtime_dir: ~/run\nbogus_key: 1\n", env({ HOME: "/home/me" }), 1000),
      "/home/me/run",
    );
  });

  test("lenientRuntimeDir - falls back to the default without a usable runtime_dir", () => {
    const e = env({ XDG_RUNTIME_DIR: "/run/user/1000" });
    for (const text of [null, "", ": : :", "runtime_dir: 5\n", "runtime_dir: relative/dir\n"]) {
      assert.equal(lenientRuntimeDir(text, e, 1000), "/run/user/1000/wsl2proxy", String(text));
    }
  });
});
