import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileChunks, writeFileFromStream } from "./file_stream.ts";

function streamOf(chunks: Uint8Array[], end: Error | null = null): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else if (end) controller.error(end);
      else controller.close();
    },
  });
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "w2p-file-stream-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const A = new Uint8Array(3000).map((_, i) => i & 0xff);
const B = new Uint8Array(5).fill(9);

test("writeFileFromStream - writes every chunk in order, with the mode asked for", () =>
  withDir(async (dir) => {
    const path = join(dir, "agent.exe");
    await writeFileFromStream(path, streamOf([A, B]), { mode: 0o755 });
    assert.deepEqual(new Uint8Array(await readFile(path)), new Uint8Array([...A, ...B]));
    assert.equal((await stat(path)).mode & 0o777, 0o755);
  }));

test("writeFileFromStream - an existing file is refused, not overwritten", () =>
  withDir(async (dir) => {
    const path = join(dir, "taken");
    await writeFile(path, "mine");
    await assert.rejects(writeFileFromStream(path, streamOf([A])), { code: "EEXIST" });
    assert.equal(await readFile(path, "utf8"), "mine");
  }));

test("writeFileFromStream - a stream that fails half way leaves no file and rethrows", () =>
  withDir(async (dir) => {
    const cause = new Error("cut off");
    await assert.rejects(
      writeFileFromStream(join(dir, "half"), streamOf([A], cause)),
      (e) => e === cause,
    );
    assert.deepEqual(await readdir(dir), []);
  }));

test("readFileChunks - reads a file back in chunks of the size asked for", () =>
  withDir(async (dir) => {
    const path = join(dir, "f");
    await writeFile(path, A);
    const sizes: number[] = [];
    const seen: number[] = [];
    for await (const chunk of readFileChunks(path, 1024)) {
      sizes.push(chunk.byteLength);
      seen.push(...chunk); // each chunk is valid until the next is asked for
    }
    assert.deepEqual(sizes, [1024, 1024, 952]);
    assert.deepEqual(new Uint8Array(seen), A);
  }));
