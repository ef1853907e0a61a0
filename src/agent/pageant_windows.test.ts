/**
 * The Win32 calls behind `pageant://`, on the windows-latest CI job
 * (`deno test src/agent/` and `bun test src/agent/` on Windows): the user
 * name, a real CryptProtectMemory, the computed pipe name (served here with
 * `rt.listenPipe`, which `dial` must then reach), and the reasons when no
 * Pageant runs. Skipped elsewhere; the WM_COPYDATA exchange itself is
 * tested under Wine (tests/wine/pageant_wine.test.ts, Bun build only).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DialError, PageantError } from "../errors.ts";
import { ResetCode } from "../mux/mod.ts";
import { getRuntime } from "../runtime/mod.ts";
import type { PageantWin32 } from "../runtime/types.ts";
import { REAL_WINDOWS_ONLY, skipNote, WINDOWS_ONLY } from "../../tests/helpers/agent.ts";
import { readAll, within } from "../../tests/helpers/mux.ts";
import { dial } from "./dial.ts";
import { pageantNameBlock, pageantPipeName, pageantUserName } from "./pageant_pipe_name.ts";

const rt = getRuntime();

async function api(): Promise<PageantWin32> {
  const loaded = await rt.pageantWin32();
  assert.ok(loaded, `${rt.name} on Windows loads the Pageant calls`);
  return loaded;
}

function computedName(a: PageantWin32): Promise<string> {
  const block = pageantNameBlock();
  assert.equal(a.protectCrossProcess(block), true, "CryptProtectMemory succeeds");
  return pageantPipeName(pageantUserName(a.principalName(), a.accountName()), block);
}

describe(`pageant:// on Windows${skipNote(WINDOWS_ONLY)}`, { skip: WINDOWS_ONLY }, () => {
  test("pageantWin32 - names the user and computes a stable pipe name", async () => {
    const a = await api();
    const account = a.accountName();
    assert.ok(account !== undefined && account.length > 0, "GetUserNameA answers");
    const name = await computedName(a);
    assert.match(name, /^\\\\\.\\pipe\\pageant\.[^.\\]+\.[0-9a-f]{64}$/);
    assert.equal(await computedName(a), name, "CRYPTPROTECTMEMORY_CROSS_PROCESS is deterministic");
  });

  test(
    `pageantWin32 - CryptProtectMemory really changes the block${skipNote(REAL_WINDOWS_ONLY)}`,
    { skip: REAL_WINDOWS_ONLY },
    async () => {
      const block = pageantNameBlock();
      assert.equal((await api()).protectCrossProcess(block), true);
      assert.notDeepEqual(block, pageantNameBlock());
    },
  );

  test("pageantWin32 - with no Pageant window, a query fails with NO_WINDOW", async () => {
    const a = await api();
    if (a.windowExists()) return; // a developer's machine running Pageant
    await assert.rejects(a.query(Uint8Array.of(0, 0, 0, 1, 11), 5000), (e) => {
      assert.ok(e instanceof PageantError && e.code === "NO_WINDOW", String(e));
      return true;
    });
  });

  test("dial - pageant:// with no Pageant is NOT_FOUND naming the pipe it tried", async () => {
    const a = await api();
    if (a.windowExists()) return;
    const name = await computedName(a);
    await assert.rejects(dial(rt, { kind: "pageant", url: "pageant://" }), (e) => {
      assert.ok(e instanceof DialError, String(e));
      assert.equal(e.resetCode, ResetCode.NOT_FOUND);
      assert.ok(e.message.includes(`Pageant is not running: no pipe ${name}`), e.message);
      return true;
    });
  });

  test("dial - pageant:// reaches a server on the computed pipe name", async () => {
    const name = await computedName(await api());
    const listener = await rt.listenPipe(name);
    const serving = (async () => {
      for await (const conn of listener) {
        const w = conn.writable.getWriter();
        await w.write(new TextEncoder().encode("pageant pipe"));
        await w.close().catch(() => {});
        conn.close();
        break;
      }
    })();
    try {
      const conn = await dial(rt, { kind: "pageant", url: "pageant://" });
      const got = await within(10_000, readAll(conn.readable), "the greeting");
      conn.close();
      assert.equal(new TextDecoder().decode(got), "pageant pipe");
    } finally {
      await listener.close();
      await serving;
    }
  });
});
