/**
 * The README's install commands, run as written: the first `sh` block under
 * "## Install" runs in bash with an empty HOME (no ~/.local/bin yet, as on a
 * fresh WSL distribution) and `WSL2PROXY_RELEASE` pointing at a loopback
 * server that serves a release the way GitHub does. The installed program
 * must then run. Assets the block names that the build does not make here
 * (`.tar.xz`) are packed from the built binary, quickly: the test is about
 * the commands, not the compression (scripts/package-release.sh makes the
 * real ones in CI's build job).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { VERSION } from "../../src/version.ts";
import { linuxBinary, runIn, serveLikeGitHubReleases, tempDir } from "./_dist.ts";

const README = new URL("../../README.md", import.meta.url);

/** The first ```sh block after the "## Install" heading. */
export function installBlock(readme: string): string {
  const section = readme.slice(readme.indexOf("\n## Install"));
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(m, "README: an sh block under ## Install");
  return m[1];
}

/** The asset names the block downloads: every `$WSL2PROXY_RELEASE/NAME`. */
function assetNames(block: string): string[] {
  return [
    ...new Set([...block.matchAll(/\$WSL2PROXY_RELEASE\/([A-Za-z0-9._-]+)/g)].map((m) => m[1])),
  ];
}

const TIMEOUT = 300_000;

describe("README install commands", () => {
  test(
    "the install block, as written, installs a wsl2proxy that runs",
    { timeout: TIMEOUT },
    async () => {
      const block = installBlock(readFileSync(README, "utf8"));
      const binary = await linuxBinary();
      const release = await tempDir("w2p-release-");
      const home = await tempDir("w2p-home-");
      try {
        const names = assetNames(block).filter((n) => n !== "SHA256SUMS");
        assert.ok(names.length > 0, `the block downloads something:\n${block}`);
        for (const name of names) {
          const dest = join(release.path, name);
          const raw = name.replace(/\.tar\.xz$/, "");
          if (raw !== basename(binary)) assert.fail(`the block downloads ${name}, not made here`);
          if (name === raw) {
            copyFileSync(binary, dest);
          } else {
            copyFileSync(binary, join(release.path, raw));
            const packed = await runIn(["bash", "-c", `tar -cf - ${raw} | xz -0 -T0 > ${name}`], {
              cwd: release.path,
              env: { PATH: "/usr/bin:/bin" },
              timeoutMs: TIMEOUT,
            });
            assert.equal(packed.code, 0, packed.stderr);
          }
        }
        const sums = names.map((n) => {
          const hash = createHash("sha256").update(readFileSync(join(release.path, n)));
          return `${hash.digest("hex")}  ${n}\n`;
        });
        // A release's SHA256SUMS lists files the user does not download too.
        writeFileSync(
          join(release.path, "SHA256SUMS"),
          sums.join("") + `${"0".repeat(64)}  wsl2proxy-windows-x64.zip\n`,
        );
        const server = await serveLikeGitHubReleases(release.path);
        try {
          const env = {
            PATH: "/usr/bin:/bin",
            HOME: home.path,
            WSL2PROXY_RELEASE: `${server.origin}/releases/download/v${VERSION}`,
          };
          const work = join(home.path, "downloads");
          mkdirSync(work);
          const r = await runIn(["bash", "-euo", "pipefail", "-c", block], {
            cwd: work,
            env,
            timeoutMs: TIMEOUT,
          });
          assert.equal(r.code, 0, `the install block failed:\n${block}\n${r.stdout}\n${r.stderr}`);
          const installed = join(home.path, ".local", "bin", "wsl2proxy");
          assert.ok(existsSync(installed), `the block installs ${installed}`);
          const v = await runIn([installed, "version"], { cwd: work, env, timeoutMs: 60_000 });
          assert.equal(v.code, 0, v.stderr);
          assert.match(v.stdout, new RegExp(VERSION.replaceAll(".", "\\.")));
        } finally {
          await server.close();
        }
      } finally {
        await release.dispose();
        await home.dispose();
      }
    },
  );
});
