import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionResetError, PageantError } from "../errors.ts";
import type { PageantWin32 } from "../runtime/types.ts";
import { readAll } from "../../tests/helpers/mux.ts";
import { pageantCopyDataConn } from "./pageant_conn.ts";

/**
 * The Win32 layer, replaced by a table of replies: what is under test is how
 * the stream is cut into WM_COPYDATA exchanges, not Windows (that runs under Wine).
 */
function fakeWindow(answer: (frame: Uint8Array) => Uint8Array | Error) {
  const seen: Uint8Array[] = [];
  const api: PageantWin32 = {
    principalName: () => undefined,
    accountName: () => "tester",
    protectCrossProcess: () => true,
    windowExists: () => true,
    query(frame, timeoutMs) {
      assert.equal(timeoutMs, 5000);
      seen.push(frame.slice());
      const r = answer(frame);
      return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    },
  };
  return { api, seen };
}

const frame = (...body: number[]) => Uint8Array.from([0, 0, 0, body.length, ...body]);

test("pageantCopyDataConn - sends each whole request once, however the bytes are cut", async () => {
  const { api, seen } = fakeWindow((f) => frame(12, f[4])); // echoes the type in a reply
  const conn = pageantCopyDataConn(api, 5000);
  const w = conn.writable.getWriter();
  const two = new Uint8Array([...frame(11), ...frame(13, 1, 2)]);
  await w.write(two.subarray(0, 2)); // half a header
  await w.write(two.subarray(2, 7)); // the first request and a byte of the second
  await w.write(two.subarray(7));
  await w.close();
  assert.deepEqual(seen, [frame(11), frame(13, 1, 2)]);
  assert.deepEqual(
    await readAll(conn.readable),
    Uint8Array.from([...frame(12, 11), ...frame(12, 13)]),
  );
  await conn.closed;
});

test("pageantCopyDataConn - a timed-out request fails the stream with Pageant's reason", async () => {
  const { api } = fakeWindow(() =>
    new PageantError("TIMEOUT", "Pageant did not answer within 120 s (a passphrase prompt)")
  );
  const conn = pageantCopyDataConn(api, 5000);
  const w = conn.writable.getWriter();
  await assert.rejects(w.write(frame(11)), (e) => {
    assert.ok(e instanceof ConnectionResetError, String(e));
    assert.match(e.message, /Pageant did not answer within 120 s/);
    return true;
  });
  await assert.rejects(readAll(conn.readable), ConnectionResetError);
  await conn.closed;
});

test("pageantCopyDataConn - a request larger than Pageant's 256 KiB mapping is refused unsent", async () => {
  const { api, seen } = fakeWindow(() => frame(6));
  const conn = pageantCopyDataConn(api, 5000);
  const w = conn.writable.getWriter();
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 256 * 1024 - 3, false); // 4 + body > 256 KiB
  await assert.rejects(w.write(header), (e) => {
    assert.ok(e instanceof ConnectionResetError, String(e));
    assert.match(e.message, /larger than the 262140-byte limit/);
    return true;
  });
  assert.equal(seen.length, 0);
  conn.close();
});
