import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  unlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { ConfigError } from "../errors.ts";
import { configCacheFile, SETTLE_MS } from "./config_cache.ts";
import { loadConfig } from "./load_config.ts";
import { parseConfig } from "./parse_config.ts";
import { ENV, envOf, yaml } from "./_test_env.ts";

const UID = process.getuid?.() ?? 0;
/** A clock past the settle time of anything written during the test. */
const LATER = () => Date.now() + SETTLE_MS + 1000;

const CONFIG = yaml(
  "log_level: debug",
  "sockets:",
  "  - env_name: DOCKER_HOST",
  '    linux_addr: "{runtime_dir}/docker.sock"',
  "    windows_addr: pipe://./pipe/docker_engine",
);

describe("config cache", { skip: process.platform === "win32" }, () => {
  let dir = "";
  let n = 0;
  /** A fresh config file and cache file for one test. */
  const files = async (text = CONFIG) => {
    const sub = join(dir, String(n++));
    const config = join(sub, "config.yaml");
    await mkdir(sub);
    await writeFile(config, text);
    return { config, cache: join(sub, "cache", "config.json") };
  };
  /** Rewrite the cached entry's config (keeping its key) so a hit is recognisable. */
  const tamper = async (cache: string) => {
    const entry = JSON.parse(await readFile(cache, "utf8"));
    entry.config.logLevel = "error";
    await writeFile(cache, JSON.stringify(entry));
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "wsl2proxy-config-cache-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("config cache - a settled file is parsed once, then answered from the cache", async () => {
    const { config, cache } = await files();
    const first = await loadConfig(config, true, ENV, UID, { cacheFile: cache, now: LATER });
    assert.deepEqual(first, parseConfig(CONFIG, config, ENV, UID));
    assert.equal(((await stat(cache)).mode & 0o777).toString(8), "600");
    assert.equal(((await stat(join(cache, ".."))).mode & 0o777).toString(8), "700");
    await tamper(cache);
    const second = await loadConfig(config, true, ENV, UID, { cacheFile: cache, now: LATER });
    assert.equal(second.logLevel, "error", "the second load came from the cache");
  });

  test("config cache - an edited file is parsed again, even at the same size and mtime", async () => {
    const { config, cache } = await files();
    await loadConfig(config, true, ENV, UID, { cacheFile: cache, now: LATER });
    await tamper(cache);
    const before = await stat(config);
    // A real entry is only written for a file unchanged for SETTLE_MS, so an edit comes
    // at least that much later. The faked clock skips that wait; wait out the coarsest
    // time stamp precision here instead (Deno's node:fs reports ctime in whole seconds).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // Same length, same mtime: only the ctime (and the content) tell.
    await writeFile(config, CONFIG.replace("log_level: debug", "log_level: warn "));
    await utimes(config, before.atime, before.mtime);
    assert.equal((await stat(config)).size, before.size);
    const again = await loadConfig(config, true, ENV, UID, { cacheFile: cache, now: LATER });
    assert.equal(again.logLevel, "warn");
  });

  test("config cache - a file changed within the settle time is not remembered", async () => {
    const { config, cache } = await files();
    const loaded = await loadConfig(config, true, ENV, UID, { cacheFile: cache });
    assert.equal(loaded.logLevel, "debug");
    assert.equal(existsSync(cache), false);
  });

  test("config cache - a different environment or uid misses", async () => {
    const { config, cache } = await files();
    await loadConfig(config, true, ENV, UID, { cacheFile: cache, now: LATER });
    await tamper(cache);
    const otherEnv = envOf({ HOME: "/home/me", XDG_RUNTIME_DIR: "/run/user/1001", USER: "me" });
    const loaded = await loadConfig(config, true, otherEnv, UID, { cacheFile: cache, now: LATER });
    assert.equal(loaded.logLevel, "debug");
    assert.equal(loaded.runtimeDir, "/run/user/1001/wsl2proxy");
    // The entry now belongs to otherEnv; a uid it is not owned by is refused outright.
    await tamper(cache);
    const otherUid = await loadConfig(config, true, otherEnv, UID + 1, {
      cacheFile: cache,
      now: LATER,
    });
    assert.equal(otherUid.logLevel, "debug");
  });

  test("config cache - an entry others may write, or a symlink, is not trusted", async () => {
    const { config, cache } = await files();
    await loadConfig(config, true, ENV, UID, { cacheFile: cache, now: LATER });
    await tamper(cache);
    await chmod(cache, 0o666);
    const writable = await loadConfig(config, true, ENV, UID, { cacheFile: cache, now: LATER });
    assert.equal(writable.logLevel, "debug");

    // The load above rewrote the entry (0600); move it aside and point a symlink at it.
    await tamper(cache);
    const real = cache + ".real";
    await writeFile(real, await readFile(cache));
    await chmod(real, 0o600);
    await unlink(cache);
    await symlink(real, cache);
    const viaLink = await loadConfig(config, true, ENV, UID, { cacheFile: cache, now: LATER });
    assert.equal(viaLink.logLevel, "debug");
  });

  test("config cache - an invalid file is reported every time and never remembered", async () => {
    const { config, cache } = await files("log_level: loud\n");
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        loadConfig(config, true, ENV, UID, { cacheFile: cache, now: LATER }),
        (e: unknown) => e instanceof ConfigError && e.message.includes("log_level"),
      );
    }
    assert.equal(existsSync(cache), false);
  });

  test("config cache - nothing is written into a home that is not ours (sudo -E)", async () => {
    const { config, cache } = await files();
    const loaded = await loadConfig(config, true, ENV, UID + 1, { cacheFile: cache, now: LATER });
    assert.equal(loaded.logLevel, "debug");
    assert.equal(existsSync(join(cache, "..")), false);
  });

  test("config cache - a cache that cannot be written or holds junk costs nothing else", async () => {
    const { config } = await files();
    const blocker = join(dir, "a-file");
    await writeFile(blocker, "");
    const unwritable = join(blocker, "cache", "config.json");
    const loaded = await loadConfig(config, true, ENV, UID, { cacheFile: unwritable, now: LATER });
    assert.equal(loaded.logLevel, "debug");

    const { config: config2, cache } = await files();
    await loadConfig(config2, true, ENV, UID, { cacheFile: cache, now: LATER });
    await writeFile(cache, "{not json");
    const afterJunk = await loadConfig(config2, true, ENV, UID, { cacheFile: cache, now: LATER });
    assert.equal(afterJunk.logLevel, "debug");
  });

  test("config cache - lives under XDG_CACHE_HOME, else ~/.cache, else nowhere", () => {
    assert.equal(
      configCacheFile(envOf({ HOME: "/home/me", XDG_CACHE_HOME: "/c" })),
      "/c/wsl2proxy/config.json",
    );
    assert.equal(configCacheFile(ENV), "/home/me/.cache/wsl2proxy/config.json");
    assert.equal(
      configCacheFile(envOf({ HOME: "/home/me", XDG_CACHE_HOME: "rel" })),
      "/home/me/.cache/wsl2proxy/config.json",
    );
    assert.equal(configCacheFile(envOf({})), undefined);
  });
});
