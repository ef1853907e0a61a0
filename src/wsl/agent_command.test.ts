import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { AgentConfig } from "../config/types.ts";
import { AgentNotFoundError, InteropError, UnsupportedError } from "../errors.ts";
import { resolveAgentCommand, type ResolveAgentCommandInput } from "./agent_command.ts";
import type { EmbeddedAgent } from "./embedded_agent.ts";
import { tempDir } from "./_test_util.ts";

const AUTO: AgentConfig = { kind: "auto" };
const AGENT = new TextEncoder().encode("MZ embedded agent");
/** AGENT as the embedded agent: checksum and size recorded, bytes on demand. */
const EMBEDDED: EmbeddedAgent = {
  sha256: createHash("sha256").update(AGENT).digest("hex"),
  size: AGENT.byteLength,
  open: () => new Blob([AGENT]).stream(),
};

function input(overrides: Partial<ResolveAgentCommandInput>): ResolveAgentCommandInput {
  return {
    agent: AUTO,
    isWsl: true,
    version: "1.2.3",
    driveRoot: "/mnt/",
    embeddedAgent: () => Promise.reject(new Error("embeddedAgent must not be called")),
    localAppData: () => Promise.reject(new Error("localAppData must not be called")),
    ...overrides,
  };
}

const SLOW_WARNING = (path: string) =>
  `the agent ${path} is not on a Windows drive (under /mnt/): ` +
  "Windows takes 15-30 s to start a program from the Linux file system and ~0.2 s from a Windows drive; " +
  "copy it to a Windows drive, e.g. under /mnt/c/Users/<you>/";

describe("resolveAgentCommand", () => {
  test("resolveAgentCommand - agent.command runs that argv as given, in the daemon's directory", async () => {
    const command = ["wine", "/opt/wsl2proxy-windows-x64.exe", "agent"];
    for (const isWsl of [true, false]) {
      assert.deepEqual(
        await resolveAgentCommand(input({ agent: { kind: "command", command }, isWsl })),
        {
          argv: command,
          description: "agent.command: wine /opt/wsl2proxy-windows-x64.exe agent",
          warnings: [],
        },
      );
    }
  });

  test("resolveAgentCommand - on WSL an agent.command whose program is a .exe starts on the Windows drive", async () => {
    const command = ["deno.exe", "run", "-A", "https://example.test/wsl2proxy.js", "agent"];
    assert.deepEqual(
      await resolveAgentCommand(input({ agent: { kind: "command", command }, isWsl: true })),
      {
        argv: command,
        cwd: "/mnt/c",
        description: `agent.command: ${command.join(" ")}`,
        warnings: [],
      },
    );
    const off = await resolveAgentCommand(
      input({ agent: { kind: "command", command }, isWsl: false }),
    );
    assert.equal(off.cwd, undefined, "outside WSL the daemon's directory is kept");
  });

  test("resolveAgentCommand - agent.path on the Windows drive runs it from the C: drive without warnings", async () => {
    const path = "/mnt/c/Users/me/wsl2proxy-windows-x64.exe";
    assert.deepEqual(await resolveAgentCommand(input({ agent: { kind: "path", path } })), {
      argv: [path, "agent"],
      cwd: "/mnt/c",
      description: `agent.path ${path}`,
      warnings: [],
    });
  });

  test("resolveAgentCommand - the C: drive follows the automount root", async () => {
    const path = "/win/d/tools/agent.exe";
    const result = await resolveAgentCommand(
      input({ agent: { kind: "path", path }, driveRoot: "/win/" }),
    );
    assert.equal(result.cwd, "/win/c");
    assert.deepEqual(result.warnings, []);
  });

  test("resolveAgentCommand - an agent on the Linux file system earns a slow-start warning", async () => {
    for (const path of ["/home/me/wsl2proxy-windows-x64.exe", "/mnt/wsl/agent.exe"]) {
      const result = await resolveAgentCommand(input({ agent: { kind: "path", path } }));
      assert.deepEqual(result.argv, [path, "agent"]);
      assert.equal(result.cwd, "/mnt/c");
      assert.deepEqual(result.warnings, [SLOW_WARNING(path)]);
    }
  });

  test("resolveAgentCommand - --agent wins over agent.path and agent.command", async () => {
    const flag = "/mnt/c/tools/agent.exe";
    for (
      const agent of [
        { kind: "path", path: "/mnt/c/other.exe" },
        { kind: "command", command: ["other"] },
        AUTO,
      ] as AgentConfig[]
    ) {
      assert.deepEqual(await resolveAgentCommand(input({ agent, agentFlag: flag })), {
        argv: [flag, "agent"],
        cwd: "/mnt/c",
        description: `--agent ${flag}`,
        warnings: [],
      });
    }
  });

  test("resolveAgentCommand - a relative --agent is made absolute, since the agent runs elsewhere", async () => {
    const result = await resolveAgentCommand(input({ agentFlag: "bin/agent.exe" }));
    assert.deepEqual(result.argv, [resolve("bin/agent.exe"), "agent"]);
    assert.equal(result.description, "--agent bin/agent.exe");
  });

  test("resolveAgentCommand - outside WSL a path keeps the daemon's directory and earns no warning", async () => {
    const path = "/home/me/wsl2proxy";
    assert.deepEqual(
      await resolveAgentCommand(input({ agent: { kind: "path", path }, isWsl: false })),
      {
        argv: [path, "agent"],
        description: `agent.path ${path}`,
        warnings: [],
      },
    );
  });

  test("resolveAgentCommand - the automatic agent outside WSL is an UnsupportedError saying what to configure", async () => {
    await assert.rejects(resolveAgentCommand(input({ isWsl: false })), (error) => {
      assert.ok(error instanceof UnsupportedError);
      assert.equal(error.code, "UNSUPPORTED");
      assert.equal(
        error.message,
        "not running inside WSL, so there is no Windows side to start the agent on.\n" +
          "To run an agent anyway (for testing, e.g. the Linux build of wsl2proxy), set agent.command in the config file:\n" +
          "  agent:\n" +
          '    command: ["wsl2proxy", "agent"]',
      );
      return true;
    });
  });

  test("resolveAgentCommand - the automatic agent without an embedded one is an AgentNotFoundError saying what to do", async () => {
    const expected =
      "this build of wsl2proxy has no embedded Windows agent (as when running from source).\n" +
      "Download wsl2proxy-windows-x64.exe to a Windows drive and pass it with --agent PATH, or set it in the config file:\n" +
      "  agent:\n" +
      "    path: /mnt/c/Users/<you>/wsl2proxy-windows-x64.exe\n" +
      "or, with Deno installed on Windows, run the agent from source:\n" +
      "  agent:\n" +
      `    command: ["deno.exe", "run", "-A", "<URL of wsl2proxy's main.ts>", "agent"]`;
    for (const embeddedAgent of [undefined, () => Promise.resolve(null)]) {
      await assert.rejects(resolveAgentCommand(input({ embeddedAgent })), (error) => {
        assert.ok(error instanceof AgentNotFoundError);
        assert.equal(error.code, "NO_AGENT");
        assert.equal(error.message, expected);
        return true;
      });
    }
  });

  test("resolveAgentCommand - the automatic agent on WSL is placed under %LOCALAPPDATA%\\wsl2proxy and run from C:", async () => {
    const dir = await tempDir();
    try {
      const result = await resolveAgentCommand(input({
        embeddedAgent: () => Promise.resolve(EMBEDDED),
        localAppData: () => Promise.resolve(dir.path + "/"),
      }));
      const placed = result.argv[0];
      assert.match(placed, /\/wsl2proxy\/wsl2proxy-agent-1\.2\.3-[0-9a-f]{12}\.exe$/);
      assert.equal(placed.startsWith(join(dir.path, "wsl2proxy") + "/"), true);
      assert.deepEqual(new Uint8Array(await readFile(placed)), AGENT);
      assert.deepEqual(result, {
        argv: [placed, "agent"],
        cwd: "/mnt/c",
        description: `embedded agent 1.2.3 at ${placed}`,
        // The temp dir stands in for %LOCALAPPDATA% but is not under /mnt/.
        warnings: [SLOW_WARNING(placed)],
      });
    } finally {
      await dir.dispose();
    }
  });

  test("resolveAgentCommand - without an injected localAppData it asks cmd.exe, from the automount root's C: drive", async () => {
    const dir = await tempDir();
    try {
      const driveRoot = join(dir.path, "not-mounted") + "/";
      await assert.rejects(
        resolveAgentCommand(input({
          embeddedAgent: () => Promise.resolve(EMBEDDED),
          localAppData: undefined,
          driveRoot,
        })),
        (error) => {
          assert.ok(error instanceof InteropError);
          assert.equal(error.code, "INTEROP_FAILED");
          assert.equal(
            error.message,
            `cannot run cmd.exe /c echo %LOCALAPPDATA%: its working directory ${driveRoot}c does not exist ` +
              "(is the C: drive mounted? see [automount] in /etc/wsl.conf)",
          );
          return true;
        },
      );
    } finally {
      await dir.dispose();
    }
  });
});
