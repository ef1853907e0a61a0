import { test } from "node:test";
import assert from "node:assert/strict";
import { pageantNameBlock, pageantPipeName, pageantUserName } from "./pageant_pipe_name.ts";

test("pageantNameBlock - is Pageant, its NUL and zeros to one 16-byte block", () => {
  assert.deepEqual(
    Array.from(pageantNameBlock()),
    [0x50, 0x61, 0x67, 0x65, 0x61, 0x6e, 0x74, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  );
});

test("pageantPipeName - hashes u32be(16) and the protected block, as PuTTY's put_string does", async () => {
  // A fixed CryptProtectMemory output; the digest was computed independently with
  // `printf '\x00\x00\x00\x10\x8d\x1f...' | sha256sum`.
  const protectedBlock = Uint8Array.from([
    0x8d,
    0x1f,
    0x2a,
    0x93,
    0x44,
    0xbe,
    0x07,
    0xc5,
    0x61,
    0x3e,
    0xd0,
    0x9a,
    0x5b,
    0x77,
    0x02,
    0xee,
  ]);
  assert.equal(
    await pageantPipeName("alice", protectedBlock),
    "\\\\.\\pipe\\pageant.alice.ecc625330b93dba92f8dccdc91842d95e90ee9df0b58a7ca8b47cd2f8c826801",
  );
});

test("pageantPipeName - with the block left as is (Wine 8's CryptProtectMemory), the hash is of the plain block", async () => {
  assert.equal(
    await pageantPipeName("root", pageantNameBlock()),
    "\\\\.\\pipe\\pageant.root.2e9e7389b30cd8240bf15518e9a228d6537dc38d64b2070a189ca2fe5452d492",
  );
});

test("pageantUserName - takes the principal name up to its @, else the account name", () => {
  assert.equal(pageantUserName("alice@example.com", "ALICE"), "alice");
  assert.equal(pageantUserName("bob", "x"), "bob");
  assert.equal(pageantUserName(undefined, "carol"), "carol");
  assert.equal(pageantUserName("", "dave"), "dave");
  assert.equal(pageantUserName(undefined, undefined), "");
});
