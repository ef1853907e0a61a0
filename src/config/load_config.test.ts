import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../errors.ts";
import { loadConfig, MAX_CONFIG_BYTES } from "./load_config.ts";
import { defaultConfig } from "./default_config.ts";
import { ENV } from "./_test_env.ts";

describe("loadConfig", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "wsl2proxy-config-test-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("loadConfig - uses the defaults when the default file does not exist", async () => {
    assert.deepEqual(
      await loadConfig(join(dir, "absent.yaml"), false, ENV, 1000),
      defaultConfig(ENV, 1000),
    );
  });

  test("loadConfig - names the file when an explicitly chosen file does not exist", async () => {
    const path = join(dir, "absent.yaml");
    await assert.rejects(loadConfig(path, true, ENV, 1000), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(
        e.message,
        `${path}: cannot read the config file: it does not exist; ` +
          "expected a readable file (as given by --config or WSL2PROXY_CONFIG)",
      );
      return true;
    });
  });

  test("loadConfig - reports a directory in place of the file", async () => {
    const path = join(dir, "a-directory");
    await mkdir(path);
    await assert.rejects(loadConfig(path, false, ENV, 1000), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(
        e.message,
        `${path}: cannot read the config file (EISDIR); expected a readable file, or no file at all for the defaults`,
      );
      return true;
    });
  });

  test("loadConfig - reads and parses an existing file", async () => {
    const path = join(dir, "config.yaml");
    await writeFile(path, "log_level: debug\nsockets: []\n");
    const c = await loadConfig(path, true, ENV, 1000);
    assert.equal(c.file, path);
    assert.equal(c.logLevel, "debug");
    assert.deepEqual(c.sockets, []);
  });

  test("loadConfig - passes parse errors through with the file name", async () => {
    const path = join(dir, "bad.yaml");
    await writeFile(path, "log_level: loud\n");
    await assert.rejects(loadConfig(path, false, ENV, 1000), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(
        e.message,
        `${path}:1:12: log_level: unknown level "loud"; expected one of debug, info, warn, error`,
      );
      return true;
    });
  });

  test("loadConfig - rejects a file that is not UTF-8", async () => {
    const path = join(dir, "latin1.yaml");
    await writeFile(path, new Uint8Array([0x6c, 0x6f, 0x67, 0x3a, 0x20, 0xe9, 0x0a]));
    await assert.rejects(loadConfig(path, false, ENV, 1000), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, `${path}: the file is not valid UTF-8; expected a UTF-8 text file`);
      return true;
    });
  });

  test("loadConfig - refuses a file over 1 MiB, naming it (finding 9)", async () => {
    const path = join(dir, "huge.yaml");
    await writeFile(path, "#".repeat(MAX_CONFIG_BYTES) + "\nlog_level: info\n");
    await assert.rejects(loadConfig(path, true, ENV, 1000), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(
        e.message,
        `${path}: the file is larger than 1048576 bytes (1 MiB); expected a config file of at most 1 MiB`,
      );
      return true;
    });
  });

  test("loadConfig - reads at most 1 MiB from a file that never ends", async () => {
    await assert.rejects(loadConfig("/dev/zero", true, ENV, 1000), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /^\/dev\/zero: the file is larger than 1048576 bytes/);
      return true;
    });
  });

  test("loadConfig - reads a file of exactly 1 MiB", async () => {
    const path = join(dir, "big.yaml");
    const body = "log_level: debug\n";
    await writeFile(path, body + "#".repeat(MAX_CONFIG_BYTES - body.length));
    assert.equal((await loadConfig(path, true, ENV, 1000)).logLevel, "debug");
  });
});
