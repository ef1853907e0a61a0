import { test } from "node:test";
import assert from "node:assert/strict";
import { AgentPlacementError } from "../errors.ts";
import { decompressAgent, EMBEDDED_AGENT_FILE, embeddedAgent } from "./embedded_agent.ts";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getRuntime } from "../runtime/mod.ts";
import { placeAgent } from "./place_agent.ts";
import { compressAgentBytes } from "../../scripts/_compress_agent.ts";

function streamOf(bytes: Uint8Array, chunkSize = 64 << 10): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at += chunkSize));
    },
  });
}

// Many 0xE8 bytes, so a missing or wrong E8 decoding shows.
const PLAIN = new Uint8Array(3 << 20).map((_, i) => (i * 31 + (i >> 12)) & 0xff);
const FRAME = 1 << 20;

/** PLAIN as the build compresses it, in 1 MiB frames (three of them). */
const { blob: ZST, layout: LAYOUT } = await compressAgentBytes(PLAIN, 3, FRAME);

async function read(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function rejectsAsDamaged(stream: ReadableStream<Uint8Array>, why: RegExp): Promise<void> {
  await assert.rejects(read(stream), (error) => {
    assert.ok(error instanceof AgentPlacementError, String(error));
    assert.equal(error.code, "AGENT_PLACE");
    assert.match(error.message, /embedded in this executable: .*download it again/);
    assert.match(error.message, why);
    return true;
  });
}

test("embeddedAgent - running from source there is no embedded agent", async () => {
  assert.equal(await embeddedAgent(), null);
});

test("readEmbeddedFile - from source there is no such file", async () => {
  assert.equal(await getRuntime().readEmbeddedFile(EMBEDDED_AGENT_FILE), null);
});

test("decompressAgent - restores 3 MiB in three frames byte-exact, fed in 64 KiB chunks", async () => {
  assert.equal(LAYOUT.frames.length, 3);
  assert.deepEqual(await read(decompressAgent(streamOf(ZST), LAYOUT)), PLAIN);
});

test("decompressAgent - the blob as one chunk (as a compiled Deno reads it), or 1000-byte ones", async () => {
  assert.deepEqual(
    await read(decompressAgent(Promise.resolve(streamOf(ZST, ZST.length)), LAYOUT)),
    PLAIN,
  );
  assert.deepEqual(await read(decompressAgent(streamOf(ZST, 1000), LAYOUT)), PLAIN);
});

test("decompressAgent - level 19, and a last frame shorter than the others", async () => {
  const plain = PLAIN.subarray(0, (256 << 10) + 1234); // level 19 is slow
  const { blob, layout } = await compressAgentBytes(plain, 19, 128 << 10);
  assert.equal(layout.frames.length, 3);
  assert.deepEqual(await read(decompressAgent(streamOf(blob), layout)), plain);
});

test("decompressAgent - a truncated blob errors as damaged instead of ending short", async () => {
  for (const keep of [0, 100, ZST.length >> 1, ZST.length - 2]) {
    await rejectsAsDamaged(decompressAgent(streamOf(ZST.subarray(0, keep)), LAYOUT), /truncated/);
  }
});

test("decompressAgent - a corrupt blob never yields the agent, and placeAgent places nothing", async () => {
  const dir = await mkdtemp(join(tmpdir(), "w2p-corrupt-"));
  try {
    for (const at of [0, 10, ZST.length >> 2, ZST.length >> 1, ZST.length - 10, ZST.length - 1]) {
      const bad = new Uint8Array(ZST); // a copy (ZST is a Buffer: its slice() is a view)
      bad[at] ^= 0x55;
      // brotli has no checksum, and Deno's returns short output where Bun's throws: either
      // the frame sizes catch it here, or the bytes differ and the SHA-256 catches it below.
      const out = await read(decompressAgent(streamOf(bad), LAYOUT)).catch((e) => e);
      if (out instanceof Error) assert.ok(out instanceof AgentPlacementError, String(out));
      else assert.notDeepEqual(out, PLAIN, `damage at ${at} went unnoticed`);
      await assert.rejects(
        placeAgent({
          sha256: createHash("sha256").update(PLAIN).digest("hex"),
          size: PLAIN.length,
          open: () => decompressAgent(streamOf(bad), LAYOUT),
          version: "1.0.0",
          destDir: dir,
        }),
        (error) => error instanceof AgentPlacementError,
      );
      assert.deepEqual(await readdir(dir), [], "a damaged agent was left behind");
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await rejectsAsDamaged(
    decompressAgent(streamOf(new TextEncoder().encode("not brotli")), {
      frameSize: 11,
      frames: [10],
      size: 11,
    }),
    /./,
  );
});

test("decompressAgent - a blob longer than its frames, or a wrong recorded size, errors as damaged", async () => {
  const longer = new Uint8Array(ZST.length + 1);
  longer.set(ZST);
  await rejectsAsDamaged(decompressAgent(streamOf(longer), LAYOUT), /longer/);
  await rejectsAsDamaged(
    decompressAgent(streamOf(ZST), { ...LAYOUT, size: PLAIN.length - 1 }),
    /./,
  );
  await rejectsAsDamaged(
    decompressAgent(streamOf(ZST), { ...LAYOUT, size: PLAIN.length + 1 }),
    /./,
  );
});

test("decompressAgent - an unreadable blob errors as damaged", async () => {
  await rejectsAsDamaged(decompressAgent(Promise.reject(new Error("gone")), LAYOUT), /gone/);
});
