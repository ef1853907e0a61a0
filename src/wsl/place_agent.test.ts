import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AgentPlacementError } from "../errors.ts";
import { agentFileName, placeAgent, pruneOtherAgents, sha256Hex } from "./place_agent.ts";
import { tempDir } from "./_test_util.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);
const hexOf = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const AGENT = utf8("MZ pretend this is wsl2proxy-windows-x64.exe");
const NAME = `wsl2proxy-agent-1.2.3-${hexOf(AGENT).slice(0, 12)}.exe`;

describe("placeAgent", () => {
  test("sha256Hex - matches node:crypto and the FIPS 180-2 'abc' vector", async () => {
    assert.equal(
      await sha256Hex(utf8("abc")),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    assert.equal(await sha256Hex(AGENT), hexOf(AGENT));
  });

  test("agentFileName - holds the version and the first 12 hex of the checksum", () => {
    assert.equal(
      agentFileName("1.0.0", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
      "wsl2proxy-agent-1.0.0-ba7816bf8f01.exe",
    );
    assert.equal(
      agentFileName('1.0/x:y*"<>|?\\', "0123456789abcdef"),
      "wsl2proxy-agent-1.0_x_y_______-0123456789ab.exe",
    );
  });

  test("placeAgent - first placement creates the directory and an executable, checksum-named copy", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      const placed = await placeAgent({ bytes: AGENT, version: "1.2.3", destDir });
      assert.equal(placed, join(destDir, NAME));
      assert.deepEqual(new Uint8Array(await readFile(placed)), AGENT);
      assert.equal((await stat(placed)).mode & 0o777, 0o755);
      assert.ok((await stat(destDir)).isDirectory());
      assert.deepEqual(await readdir(destDir), [NAME]);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - different bytes or another version get another name", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      const a = await placeAgent({ bytes: AGENT, version: "1.2.3", destDir, prune: false });
      const b = await placeAgent({ bytes: utf8("other"), version: "1.2.3", destDir, prune: false });
      const c = await placeAgent({ bytes: AGENT, version: "1.2.4", destDir, prune: false });
      assert.equal(new Set([a, b, c]).size, 3);
      assert.ok(b.endsWith(`-${hexOf(utf8("other")).slice(0, 12)}.exe`));
      assert.ok(c.endsWith(`wsl2proxy-agent-1.2.4-${hexOf(AGENT).slice(0, 12)}.exe`));
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - an existing copy with the right checksum is reused, not rewritten", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      const first = await placeAgent({ bytes: AGENT, version: "1.2.3", destDir });
      const old = new Date("2020-01-02T03:04:05Z");
      await utimes(first, old, old);
      const before = await stat(first);
      const second = await placeAgent({ bytes: AGENT, version: "1.2.3", destDir });
      const after = await stat(second);
      assert.equal(second, first);
      assert.equal(after.ino, before.ino);
      assert.equal(after.mtimeMs, old.getTime());
      assert.deepEqual(await readdir(destDir), [NAME]);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - a same-named file of the wrong size (a truncated copy) is replaced by a fresh copy", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      await mkdir(destDir);
      const corrupt = join(destDir, NAME);
      await writeFile(corrupt, AGENT.slice(0, 10));
      const before = await stat(corrupt);
      const placed = await placeAgent({ bytes: AGENT, version: "1.2.3", destDir });
      assert.equal(placed, corrupt);
      assert.deepEqual(new Uint8Array(await readFile(placed)), AGENT);
      assert.notEqual((await stat(placed)).ino, before.ino);
      assert.deepEqual(await readdir(destDir), [NAME]);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - a known agent already in place is reused without loading its bytes", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      const first = await placeAgent({ ...known(), version: "1.2.3", destDir });
      assert.equal(first, join(destDir, NAME));
      assert.deepEqual(new Uint8Array(await readFile(first)), AGENT);
      const before = await stat(first);
      const notLoaded = (): ReadableStream<Uint8Array> => {
        throw new Error("the bytes were loaded");
      };
      const second = await placeAgent({ ...known(), open: notLoaded, version: "1.2.3", destDir });
      assert.equal(second, first);
      assert.equal((await stat(second)).ino, before.ino);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - a known agent arrives as a stream of chunks and is placed byte-exact", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      const placed = await placeAgent({ ...known(), version: "1.2.3", destDir });
      assert.deepEqual(new Uint8Array(await readFile(placed)), AGENT);
      assert.equal((await stat(placed)).mode & 0o777, 0o755);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - a stream that fails half way leaves no file, and its typed error passes through", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      const cause = new AgentPlacementError("AGENT_PLACE", "the embedded copy is corrupt");
      const half = AGENT.subarray(0, 20);
      await assert.rejects(
        placeAgent({ ...known(), open: () => streamOf(half, 2, cause), version: "1.2.3", destDir }),
        (error) => error === cause,
      );
      assert.deepEqual(await readdir(destDir), []);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - a stream that ends early is refused as damaged and leaves no file", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      const short = () => streamOf(AGENT.subarray(0, AGENT.length - 1));
      await assert.rejects(
        placeAgent({ ...known(), open: short, version: "1.2.3", destDir }),
        (error) => error instanceof AgentPlacementError && error.code === "AGENT_CHECKSUM",
      );
      assert.deepEqual(await readdir(destDir), []);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - a known agent whose bytes miss their recorded checksum is refused", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      const damaged = AGENT.slice();
      damaged[3] ^= 1; // same size, other content
      await assert.rejects(
        placeAgent({ ...known(), open: () => streamOf(damaged), version: "1.2.3", destDir }),
        (error) => {
          assert.ok(error instanceof AgentPlacementError);
          assert.equal(error.code, "AGENT_CHECKSUM");
          assert.ok(
            error.message.includes(`recorded SHA-256 ${hexOf(AGENT)} and size ${AGENT.byteLength}`),
            error.message,
          );
          return true;
        },
      );
      assert.deepEqual(await readdir(destDir), []);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - copies from sourcePath like from bytes", async () => {
    const dir = await tempDir();
    try {
      const source = join(dir.path, "wsl2proxy-windows-x64.exe");
      await writeFile(source, AGENT);
      const destDir = join(dir.path, "wsl2proxy");
      const placed = await placeAgent({ sourcePath: source, version: "1.2.3", destDir });
      assert.equal(placed, join(destDir, NAME));
      assert.deepEqual(new Uint8Array(await readFile(placed)), AGENT);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - other agent copies are pruned, other files are kept", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      const old = await placeAgent({ bytes: utf8("old agent"), version: "1.2.2", destDir });
      const sameVersion = await placeAgent({
        bytes: utf8("rebuilt"),
        version: "1.2.3",
        destDir,
        prune: false,
      });
      await writeFile(join(destDir, "notes.txt"), "mine");
      await writeFile(join(destDir, `${NAME}.123-abcd.tmp`), "someone else's partial copy");
      const placed = await placeAgent({ bytes: AGENT, version: "1.2.3", destDir });
      assert.deepEqual(
        (await readdir(destDir)).sort(),
        [NAME, `${NAME}.123-abcd.tmp`, "notes.txt"].sort(),
      );
      assert.equal(placed, join(destDir, NAME));
      assert.ok(!old.endsWith(NAME) && !sameVersion.endsWith(NAME));
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - prune: false keeps other versions", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      await placeAgent({ bytes: utf8("old agent"), version: "1.2.2", destDir });
      await placeAgent({ bytes: AGENT, version: "1.2.3", destDir, prune: false });
      assert.equal((await readdir(destDir)).length, 2);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - a copy that cannot be deleted does not fail placement", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "wsl2proxy");
      // A non-empty directory with an agent's name: unlink fails on it in both
      // runtimes (Deno's node:fs unlink does remove an *empty* directory), like
      // it fails on Windows for an .exe that is running.
      const stuck = join(destDir, "wsl2proxy-agent-0.0.1-aaaaaaaaaaaa.exe");
      await mkdir(stuck, { recursive: true });
      await writeFile(join(stuck, "in-use"), "");
      const placed = await placeAgent({ bytes: AGENT, version: "1.2.3", destDir });
      assert.deepEqual(new Uint8Array(await readFile(placed)), AGENT);
      assert.ok((await stat(stuck)).isDirectory());
      assert.deepEqual(await pruneOtherAgents(destDir, NAME), []);
      assert.deepEqual(await pruneOtherAgents(join(dir.path, "missing"), NAME), []);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - a missing parent directory is an error, not created", async () => {
    const dir = await tempDir();
    try {
      const destDir = join(dir.path, "no-such-localappdata", "wsl2proxy");
      await assert.rejects(placeAgent({ bytes: AGENT, version: "1.2.3", destDir }), (error) => {
        assert.ok(error instanceof AgentPlacementError);
        assert.equal(error.code, "AGENT_PLACE");
        assert.equal(
          error.message,
          `cannot create ${destDir}: its parent directory does not exist`,
        );
        return true;
      });
      assert.deepEqual(await readdir(dir.path), []);
    } finally {
      await dir.dispose();
    }
  });

  test("placeAgent - an unreadable sourcePath is an AgentPlacementError naming it", async () => {
    const dir = await tempDir();
    try {
      const source = join(dir.path, "missing.exe");
      const destDir = join(dir.path, "wsl2proxy");
      await assert.rejects(
        placeAgent({ sourcePath: source, version: "1.2.3", destDir }),
        (error) => {
          assert.ok(error instanceof AgentPlacementError);
          assert.equal(error.code, "AGENT_PLACE");
          assert.ok(error.message.startsWith(`cannot read the agent ${source}: `), error.message);
          return true;
        },
      );
    } finally {
      await dir.dispose();
    }
  });
});

/** AGENT as a known source: checksum and size up front, bytes on demand. */
function known(): { sha256: string; size: number; open: () => ReadableStream<Uint8Array> } {
  return { sha256: hexOf(AGENT), size: AGENT.byteLength, open: () => streamOf(AGENT) };
}

/** `bytes` as a stream of `chunks` pieces, then `end`: a close, or an error. */
function streamOf(
  bytes: Uint8Array,
  chunks = 3,
  end: Error | null = null,
): ReadableStream<Uint8Array> {
  let i = 0;
  const step = Math.ceil(bytes.byteLength / chunks);
  return new ReadableStream({
    pull(controller) {
      if (i < bytes.byteLength) {
        controller.enqueue(bytes.slice(i, i + step));
        i += step;
      } else if (end) controller.error(end);
      else controller.close();
    },
  });
}
