import { test } from "node:test";
import assert from "node:assert/strict";
import { e8Filter } from "./e8_filter.ts";

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

test("e8Filter - a CALL's relative target becomes one counted from the start, and back", () => {
  // At offset 10: E8 with rel32 = 0x100; the target counts from offset 15.
  const code = new Uint8Array(20);
  code[10] = 0xe8;
  code[12] = 0x01;
  const encoded = code.slice();
  e8Filter(encoded, "encode");
  assert.deepEqual([...encoded.subarray(10, 15)], [0xe8, 0x0f, 0x01, 0x00, 0x00]);
  e8Filter(encoded, "decode");
  assert.deepEqual(encoded, code);
});

test("e8Filter - decode undoes encode over 1 MiB dense with 0xE8, negative targets included", () => {
  const plain = sample(1 << 20);
  const b = plain.slice();
  e8Filter(b, "encode");
  assert.notDeepEqual(b, plain);
  e8Filter(b, "decode");
  assert.deepEqual(b, plain);
  const back = new Uint8Array([0xe8, 0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0]); // CALL -16
  e8Filter(back, "encode");
  assert.deepEqual([...back.subarray(1, 5)], [0xf5, 0xff, 0xff, 0xff]); // -16 + 5
});

test("e8Filter - the last four bytes and inputs under five bytes pass unchanged", () => {
  const tail = new Uint8Array([1, 0xe8, 0xe8, 0xe8, 0xe8]);
  const b = tail.slice();
  e8Filter(b, "encode");
  assert.deepEqual(b, tail);
  e8Filter(new Uint8Array(0), "encode");
});
