import { test } from "node:test";
import assert from "node:assert/strict";
import { E8Filter, e8Filter } from "./e8_filter.ts";

/** Deterministic bytes with many 0xE8s, some near the end, some in each other's operands. */
function sample(length: number, seed = 1): Uint8Array {
  const b = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = (x & 7) === 0 ? 0xe8 : x & 0xff;
  }
  return b;
}

function chunked(bytes: Uint8Array, sizes: number[], direction: "encode" | "decode"): Uint8Array {
  const filter = new E8Filter(direction);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length];
    parts.push(filter.push(bytes.subarray(at, at + n)));
    at += n;
  }
  parts.push(filter.end());
  const out = new Uint8Array(bytes.length);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  assert.equal(o, bytes.length);
  return out;
}

test("e8Filter - a CALL's relative target becomes absolute, and back", () => {
  // At offset 10: E8 with rel32 = 0x100; the target counts from offset 15.
  const code = new Uint8Array(20);
  code[10] = 0xe8;
  code[11] = 0x00;
  code[12] = 0x01;
  const encoded = e8Filter(code, "encode");
  assert.deepEqual([...encoded.subarray(10, 15)], [0xe8, 0x0f, 0x01, 0x00, 0x00]);
  assert.deepEqual(e8Filter(encoded, "decode"), code);
});

test("e8Filter - decode undoes encode over 256 KiB dense with 0xE8, whole or in any chunks", () => {
  const plain = sample(256 << 10);
  const encoded = e8Filter(plain, "encode");
  assert.notDeepEqual(encoded, plain);
  assert.deepEqual(e8Filter(encoded, "decode"), plain);
  for (const sizes of [[3, 7, 1, 4], [4096], [65536, 5, 100003]]) {
    assert.deepEqual(chunked(plain, sizes, "encode"), encoded, `encode in ${sizes}`);
    assert.deepEqual(chunked(encoded, sizes, "decode"), plain, `decode in ${sizes}`);
  }
});

test("e8Filter - the last four bytes and inputs under five bytes pass unchanged", () => {
  const tail = new Uint8Array([1, 0xe8, 0xe8, 0xe8, 0xe8]);
  assert.deepEqual(e8Filter(tail.subarray(1), "encode"), tail.subarray(1));
  assert.deepEqual(e8Filter(new Uint8Array(0), "encode"), new Uint8Array(0));
  const encoded = e8Filter(tail, "encode");
  assert.equal(encoded[0], 1);
  assert.equal(encoded[1], 0xe8);
});

test("e8Filter - the input is not modified, even a Buffer (whose slice() is a view)", async () => {
  const { Buffer } = await import("node:buffer");
  const input = Buffer.from(sample(4096, 3));
  const before = new Uint8Array(input);
  e8Filter(input, "encode");
  assert.deepEqual(new Uint8Array(input), before);
});
