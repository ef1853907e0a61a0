import { test } from "node:test";
import assert from "node:assert/strict";
import { embeddedAgent, gunzip } from "./embedded_agent.ts";
import { getRuntime } from "../runtime/mod.ts";

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const gz = streamOf(bytes).pipeThrough(
    new CompressionStream("gzip") as TransformStream<Uint8Array, Uint8Array>,
  );
  return new Uint8Array(await new Response(gz).arrayBuffer());
}

test("embeddedAgent - running from source there is no embedded agent", async () => {
  assert.equal(await embeddedAgent(), null);
});

test("readEmbeddedFile - from source there is no such file", async () => {
  assert.equal(await getRuntime().readEmbeddedFile("wsl2proxy-agent.exe.gz"), null);
});

test("gunzip - restores 3 MiB compressed with CompressionStream byte-exact", async () => {
  const plain = new Uint8Array(3 << 20);
  for (let i = 0; i < plain.length; i++) plain[i] = (i * 31 + (i >> 12)) & 0xff;
  assert.deepEqual(await gunzip(streamOf(await gzip(plain))), plain);
});

test("gunzip - a damaged CRC rejects instead of returning wrong bytes", async () => {
  const gz = await gzip(new TextEncoder().encode("the agent"));
  gz[gz.length - 8] ^= 0xff; // first byte of the CRC-32 trailer
  await assert.rejects(gunzip(streamOf(gz)));
});

test("gunzip - a truncated stream rejects", async () => {
  const gz = await gzip(new Uint8Array(100_000).fill(7));
  await assert.rejects(gunzip(streamOf(gz.subarray(0, gz.length - 20))));
});
