/**
 * The exports of `start`/`env` evaluated by the real shells (bash, dash, fish,
 * tcsh) against hostile socket paths: every path must arrive byte for byte,
 * and nothing in it may run (issue 12, finding 5).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ExportFormat, formatExports } from "../src/cli/exports.ts";
import type { SocketConfig } from "../src/config/types.ts";
import { parseWindowsAddr } from "../src/config/addr.ts";
import { runProcess } from "./helpers/process.ts";
import { Sandbox, text } from "./helpers/cli.ts";

/** Each would run `touch PWNED` (or fail to parse) if it were quoted wrongly for some shell. */
const HOSTILE = [
  "/tmp/a'b",
  "/tmp/x\\'; touch PWNED; echo \\'", // fish read \' inside '...' as an escape
  "/tmp/$(touch PWNED)",
  "/tmp/`touch PWNED`",
  "/tmp/a!b",
  "/tmp/!!",
  "/tmp/!-1",
  "/tmp/a!$",
  "/tmp/trailing\\",
  "/tmp/back\\\\slash\\n",
  '/tmp/"dq" \\" ;touch PWNED',
  "/tmp/a  b   c", // csh's `eval \`...\`` squeezes runs of blanks
  "/tmp/ lead and trail ",
  "/tmp/$HOME ${HOME} ~root %s",
  "/tmp/*?[ab]{c,d}",
  "/tmp/;&|<>#()",
  "/tmp/ünï 🔑",
];

const WIN = parseWindowsAddr("pipe://./pipe/x");
if (!WIN.ok) throw new Error("bad fixture");
const SOCKETS: SocketConfig[] = HOSTILE.map((path, i) => ({
  envName: `W2P_T${i}`,
  linuxAddr: { kind: "unix", path },
  windowsAddr: WIN.value,
  allowRemote: false,
  protocol: "raw",
}));

/**
 * How each shell evaluates the exports in `file` and prints the variables,
 * one per line; `only` limits the paths checked. csh's unquoted
 * `` eval `...` `` globs the substituted words before eval ever sees the
 * quotes, so `*?[{` cannot pass through it: the README gives the quoted form.
 */
const SHELLS: {
  name: string;
  format: ExportFormat;
  argv: (file: string) => string[];
  only?: (path: string) => boolean;
}[] = [
  {
    name: "bash",
    format: "sh",
    argv: (f) => ["bash", "-c", `set -H; eval "$(cat '${f}')"; ${printAll()}`],
  },
  {
    name: "dash",
    format: "sh",
    argv: (f) => ["dash", "-c", `eval "$(cat '${f}')"; ${printAll()}`],
  },
  {
    name: "fish",
    format: "fish",
    argv: (f) => ["fish", "--no-config", "-c", `eval (cat '${f}' | string collect); ${printAll()}`],
  },
  {
    name: 'tcsh, eval "`...`"',
    format: "csh",
    argv: (f) => ["tcsh", "-f", "-c", `eval "\`cat '${f}'\`"; ${printAll()}`],
  },
  {
    name: "tcsh, eval `...`",
    format: "csh",
    argv: (f) => ["tcsh", "-f", "-c", `eval \`cat '${f}'\`; ${printAll(NO_GLOB)}`],
    only: NO_GLOB,
  },
];

function NO_GLOB(path: string): boolean {
  return !/[*?[{]/.test(path);
}

function printAll(only: (path: string) => boolean = () => true): string {
  return SOCKETS.filter((s) => only(s.linuxAddr.kind === "unix" ? s.linuxAddr.path : ""))
    .map((s) => `printenv ${s.envName}`).join("; ");
}

describe("exports in real shells", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "w2p-exports-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const shell of SHELLS) {
    test(`exports - ${shell.name} gets every hostile path byte for byte and runs nothing`, async () => {
      const cwd = mkdtempSync(join(dir, "cwd-"));
      const file = join(dir, `${shell.format}.txt`);
      const only = shell.only ?? (() => true);
      const sockets = SOCKETS.filter((_, i) => only(HOSTILE[i]));
      writeFileSync(file, formatExports(sockets, shell.format));
      const argv = shell.argv(file);
      // `cd` first, so a PWNED file would land where we look for it.
      const script = argv.at(-1)!;
      const r = await runProcess([...argv.slice(0, -1), `cd '${cwd}'; ${script}`], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LANG: "C.UTF-8" },
        input: new Uint8Array(0),
      });
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
      assert.deepEqual(text(r).split("\n").slice(0, -1), HOSTILE.filter(only));
      assert.deepEqual(readdirSync(cwd), []);
    });
  }

  test("exports - json is exactly the paths", () => {
    const parsed = JSON.parse(formatExports(SOCKETS, "json"));
    assert.deepEqual(Object.values(parsed), HOSTILE);
  });

  test("exports - `env` prints a hostile path from the config file that fish evaluates safely", async () => {
    const box = new Sandbox();
    try {
      const path = join(box.dir, "x\\'; touch PWNED; echo \\'");
      box.writeConfig(
        `sockets:\n  - env_name: SSH_AUTH_SOCK\n    linux_addr: ${JSON.stringify(path)}\n` +
          `    windows_addr: pipe://./pipe/x\n`,
      );
      const r = await box.cli(["env", "--format", "fish"]);
      assert.equal(r.code, 0, r.stderr);
      const file = join(box.dir, "exports.fish");
      writeFileSync(file, text(r));
      const fish = await runProcess([
        "fish",
        "--no-config",
        "-c",
        `cd '${box.dir}'; eval (cat '${file}' | string collect); printenv SSH_AUTH_SOCK`,
      ], { env: box.env, input: new Uint8Array(0) });
      assert.equal(fish.stderr, "");
      assert.equal(text(fish), path + "\n");
      assert.ok(!readdirSync(box.dir).includes("PWNED"));
    } finally {
      await box.cleanup();
    }
  });

  test("exports - a control character in a linux_addr is refused at file:line:column", async () => {
    const box = new Sandbox();
    try {
      box.writeConfig(
        `sockets:\n  - env_name: SSH_AUTH_SOCK\n    linux_addr: "/tmp/a\\nsetenv X y"\n` +
          `    windows_addr: pipe://./pipe/x\n`,
      );
      const r = await box.cli(["env", "--format", "csh"]);
      assert.equal(r.code, 2);
      assert.equal(text(r), "");
      assert.match(
        r.stderr,
        new RegExp(
          `${box.configPath}:3:17: sockets\\[0\\]\\.linux_addr: path .* contains a control character`,
        ),
      );
    } finally {
      await box.cleanup();
    }
  });
});
