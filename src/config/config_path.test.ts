import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { resolveConfigPath } from "./config_path.ts";
import { envOf } from "./_test_env.ts";

describe("resolveConfigPath", () => {
  const home = { HOME: "/home/me" };

  test("resolveConfigPath - defaults to ~/.config/wsl2proxy/config.yaml", () => {
    assert.deepEqual(resolveConfigPath(undefined, envOf(home)), {
      path: "/home/me/.config/wsl2proxy/config.yaml",
      explicit: false,
    });
  });

  test("resolveConfigPath - honours an absolute XDG_CONFIG_HOME and ignores a relative one", () => {
    assert.deepEqual(resolveConfigPath(undefined, envOf({ ...home, XDG_CONFIG_HOME: "/cfg/" })), {
      path: "/cfg/wsl2proxy/config.yaml",
      explicit: false,
    });
    assert.deepEqual(resolveConfigPath(undefined, envOf({ ...home, XDG_CONFIG_HOME: "cfg" })), {
      path: "/home/me/.config/wsl2proxy/config.yaml",
      explicit: false,
    });
  });

  test("resolveConfigPath - takes WSL2PROXY_CONFIG over the default, as an explicit choice", () => {
    const env = envOf({ ...home, XDG_CONFIG_HOME: "/cfg", WSL2PROXY_CONFIG: "~/w2p.yaml" });
    assert.deepEqual(resolveConfigPath(undefined, env), {
      path: "/home/me/w2p.yaml",
      explicit: true,
    });
  });

  test("resolveConfigPath - takes --config over everything, as an explicit choice", () => {
    const env = envOf({ ...home, WSL2PROXY_CONFIG: "/etc/w2p.yaml" });
    assert.deepEqual(resolveConfigPath("./mine.yaml", env), {
      path: "./mine.yaml",
      explicit: true,
    });
  });

  test("resolveConfigPath - ignores an empty WSL2PROXY_CONFIG", () => {
    const env = envOf({ ...home, WSL2PROXY_CONFIG: "" });
    assert.equal(resolveConfigPath(undefined, env).explicit, false);
  });

  test("resolveConfigPath - rejects an empty --config and a missing HOME", () => {
    assert.throws(() => resolveConfigPath("", envOf(home)), ConfigError);
    assert.throws(() => resolveConfigPath(undefined, envOf({})), ConfigError);
  });
});
