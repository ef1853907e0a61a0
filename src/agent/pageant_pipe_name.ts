/**
 * The name of the named pipe that Pageant (PuTTY 0.75+) serves, computed as
 * PuTTY's `windows/utils/agent_named_pipe_name.c` and
 * `capi_obfuscate_string()` in `windows/utils/cryptoapi.c` do:
 *
 *     \\.\pipe\pageant.<user>.<hex>
 *
 * - `<user>`: `GetUserNameExA(NameUserPrincipal)` cut at `@`, else
 *   `GetUserNameA` (PuTTY's `get_username()`);
 * - `<hex>`: the lowercase SHA-256 of `u32be(16) ‖ X`, where X is the 16
 *   bytes `"Pageant\0"` plus zero padding to CRYPTPROTECTMEMORY_BLOCK_SIZE,
 *   after `CryptProtectMemory(X, 16, CRYPTPROTECTMEMORY_CROSS_PROCESS)`.
 *   The length prefix is there because PuTTY hashes it with `put_string`.
 *
 * The Win32 calls are the runtime's ({@linkcode PageantWin32}); what is done
 * with their results is here, pure, so it can be unit-tested with a fixed
 * CryptProtectMemory output.
 *
 * @module
 */

/** CRYPTPROTECTMEMORY_BLOCK_SIZE: CryptProtectMemory works on whole blocks. */
export const CRYPT_BLOCK_SIZE = 16;

/**
 * The block that CryptProtectMemory must encrypt: `"Pageant"`, its NUL, and
 * zeros up to a whole block (a fresh copy, since the call works in place).
 */
export function pageantNameBlock(): Uint8Array<ArrayBuffer> {
  const text = new TextEncoder().encode("Pageant");
  const length = Math.ceil((text.byteLength + 1) / CRYPT_BLOCK_SIZE) * CRYPT_BLOCK_SIZE;
  const block = new Uint8Array(length);
  block.set(text);
  return block;
}

/** PuTTY's `get_username()` from the two Win32 answers (`undefined` = that call failed). */
export function pageantUserName(
  principal: string | undefined,
  account: string | undefined,
): string {
  if (principal !== undefined && principal !== "") {
    const at = principal.indexOf("@");
    return at >= 0 ? principal.slice(0, at) : principal;
  }
  return account ?? "";
}

/**
 * `\\.\pipe\pageant.<user>.<hex>` from the user name and the block after
 * CryptProtectMemory (or untouched, where that call is missing or failed:
 * PuTTY goes on without it too).
 */
export async function pageantPipeName(user: string, protectedBlock: Uint8Array): Promise<string> {
  const input = new Uint8Array(4 + protectedBlock.byteLength);
  new DataView(input.buffer).setUint32(0, protectedBlock.byteLength, false);
  input.set(protectedBlock, 4);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  return `\\\\.\\pipe\\pageant.${user}.${hex}`;
}
