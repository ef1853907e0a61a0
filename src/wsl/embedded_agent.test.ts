import { test } from "node:test";
import assert from "node:assert/strict";
import { constants, zstdCompressSync } from "node:zlib";
import { AgentPlacementError } from "../errors.ts";
import { decompressAgent, EMBEDDED_AGENT_FILE, embeddedAgent } from "./embedded_agent.ts";
import { getRuntime } from "../runtime/mod.ts";

function streamOf(bytes: Uint8Array, chunkSize = 64 << 10): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at += chunkSize));
    },
  });
}

/** Compressed as scripts/build.ts does it (checksum, long-distance matching, 128 MiB window). */
function zstd(bytes: Uint8Array, level = 3): Uint8Array {
  return zstdCompressSync(bytes, {
    params: {
      [constants.ZSTD_c_compressionLevel]: level,
      [constants.ZSTD_c_checksumFlag]: 1,
      [constants.ZSTD_c_enableLongDistanceMatching]: 1,
      [constants.ZSTD_c_windowLog]: 27,
    },
  });
}

const PLAIN = new Uint8Array(3 << 20).map((_, i) => (i * 31 + (i >> 12)) & 0xff);

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

test("decompressAgent - restores 3 MiB byte-exact, fed in 64 KiB chunks", async () => {
  assert.deepEqual(await read(decompressAgent(streamOf(zstd(PLAIN)), PLAIN.length)), PLAIN);
});

test("decompressAgent - reads level 19 with long-distance matching, fed in 1000-byte chunks", async () => {
  const zst = zstd(PLAIN, 19);
  assert.deepEqual(
    await read(decompressAgent(Promise.resolve(streamOf(zst, 1000)), PLAIN.length)),
    PLAIN,
  );
});

test("decompressAgent - a truncated blob errors as damaged instead of ending short", async () => {
  const zst = zstd(PLAIN);
  // node:zlib ends quietly on a cut frame; the length check turns that into an error.
  // (Cut inside the 4-byte content checksum only, all content is there: placeAgent's SHA-256 checks it.)
  for (const keep of [0, 100, zst.length >> 1, zst.length - 12]) {
    await rejectsAsDamaged(
      decompressAgent(streamOf(zst.subarray(0, keep)), PLAIN.length),
      /truncated/,
    );
  }
});

test("decompressAgent - a corrupt blob errors as damaged", async () => {
  const zst = zstd(PLAIN);
  const bad = zst.slice();
  bad[bad.length >> 1] ^= 0x55;
  await rejectsAsDamaged(decompressAgent(streamOf(bad), PLAIN.length), /./);
  await rejectsAsDamaged(decompressAgent(streamOf(new TextEncoder().encode("not zstd")), 9), /./);
});

test("decompressAgent - more bytes than recorded errors as damaged", async () => {
  await rejectsAsDamaged(decompressAgent(streamOf(zstd(PLAIN)), PLAIN.length - 1), /more than/);
});

test("decompressAgent - an unreadable blob errors as damaged", async () => {
  await rejectsAsDamaged(
    decompressAgent(Promise.reject(new Error("gone")), PLAIN.length),
    /gone/,
  );
});
