/**
 * The Win32 side of Pageant's WM_COPYDATA protocol, as PuTTY's
 * `windows/agent-client.c` speaks it, written once over {@linkcode Win32Calls}
 * (which `pageant_win32_bun.ts` and `pageant_win32_deno.ts` bind through
 * each runtime's FFI):
 *
 * 1. `FindWindowA("Pageant", "Pageant")`;
 * 2. a named file mapping of 256 KiB (`AGENT_MAX_MSGLEN`), created with a
 *    security descriptor whose owner is the user's SID: Pageant reads the
 *    mapping's owner and refuses one owned by anyone else. Its DACL grants
 *    only the user (PuTTY leaves the DACL out, which lets anyone open it);
 * 3. the framed request copied in, then `SendMessageTimeoutA(WM_COPYDATA)`
 *    with `COPYDATASTRUCT { dwData = 0x804e50ba, cbData = strlen(name) + 1,
 *    lpData = name }`;
 * 4. a non-zero result: the reply (u32 BE length + body) is in the mapping.
 *
 * Every request gets its own mapping name (pid and a counter), because
 * streams run concurrently. The blocking SendMessageTimeoutA is the one call
 * made off the event loop (`sendCopyData`: a Bun Worker, or a Deno
 * nonblocking FFI call).
 *
 * @module
 */

import { PageantError } from "../errors.ts";
import type { PageantWin32 } from "./types.ts";

/** PuTTY's `AGENT_MAX_MSGLEN`: the mapping's size, which the length prefix must fit in too. */
export const PAGEANT_MAP_SIZE = 256 * 1024;
/** PuTTY's `AGENT_COPYDATA_ID`. */
export const AGENT_COPYDATA_ID = 0x804e50ba;

const NAME_USER_PRINCIPAL = 8;
const CRYPTPROTECTMEMORY_CROSS_PROCESS = 1;
const TOKEN_QUERY = 0x0008;
const TOKEN_USER = 1;
const SECURITY_DESCRIPTOR_REVISION = 1;
const ACL_REVISION = 2;
const PAGE_READWRITE = 0x04;
const FILE_MAP_WRITE = 0x0002;
const FILE_MAP_ALL_ACCESS = 0x000f001f;
const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;
const ERROR_TIMEOUT = 1460;
const ERROR_INVALID_WINDOW_HANDLE = 1400;

/** What the SendMessageTimeoutA call off the event loop reports. */
export interface CopyDataResult {
  /** SendMessageTimeoutA returned non-zero. */
  sent: boolean;
  /** The window procedure's result (`*lpdwResult`). */
  result: bigint;
  /** GetLastError() on the calling thread when `sent` is false (0 when unknown). */
  error: number;
}

/**
 * The Win32 functions used, bound by some FFI. Every pointer and handle is a
 * `bigint` address; a buffer is passed as `addressOf(buffer)`, and the
 * caller keeps the buffer alive across the call.
 */
export interface Win32Calls {
  /** The address of `buffer`'s bytes (which must not move while in use). */
  addressOf(buffer: Uint8Array<ArrayBuffer>): bigint;
  GetUserNameExA(format: number, buffer: bigint, size: bigint): number;
  GetUserNameA(buffer: bigint, size: bigint): number;
  CryptProtectMemory(data: bigint, size: number, flags: number): number;
  FindWindowA(className: bigint, title: bigint): bigint;
  GetCurrentProcess(): bigint;
  GetCurrentProcessId(): number;
  OpenProcessToken(process: bigint, access: number, token: bigint): number;
  GetTokenInformation(token: bigint, cls: number, info: bigint, size: number, got: bigint): number;
  GetLengthSid(sid: bigint): number;
  InitializeAcl(acl: bigint, size: number, revision: number): number;
  AddAccessAllowedAce(acl: bigint, revision: number, mask: number, sid: bigint): number;
  InitializeSecurityDescriptor(sd: bigint, revision: number): number;
  SetSecurityDescriptorOwner(sd: bigint, owner: bigint, defaulted: number): number;
  SetSecurityDescriptorDacl(sd: bigint, present: number, acl: bigint, defaulted: number): number;
  CreateFileMappingA(
    file: bigint,
    attributes: bigint,
    protect: number,
    sizeHigh: number,
    sizeLow: number,
    name: bigint,
  ): bigint;
  MapViewOfFile(map: bigint, access: number, offHigh: number, offLow: number, size: bigint): bigint;
  UnmapViewOfFile(view: bigint): number;
  CloseHandle(handle: bigint): number;
  RtlMoveMemory(dest: bigint, src: bigint, size: bigint): void;
  GetLastError(): number;
  /** `SendMessageTimeoutA(hwnd, WM_COPYDATA, 0, cds, SMTO_ABORTIFHUNG, timeoutMs, &result)`, off the event loop. */
  sendCopyData(hwnd: bigint, cds: bigint, timeoutMs: number): Promise<CopyDataResult>;
}

/** A fresh buffer whose bytes live outside the JS heap, so their address is stable. */
function alloc(size: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new ArrayBuffer(size));
}

function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(s);
  const out = alloc(bytes.byteLength + 1);
  out.set(bytes);
  return out;
}

function fromCString(buffer: Uint8Array): string {
  const end = buffer.indexOf(0);
  return new TextDecoder().decode(end < 0 ? buffer : buffer.subarray(0, end));
}

/** Buffers that native code may still touch; kept reachable until it is done. */
const inFlight = new Set<unknown>();

/** The mapping's security: owner and sole grantee the user (built once, kept for the process). */
interface Security {
  attributes: Uint8Array<ArrayBuffer>;
  keep: unknown[];
}

/** {@linkcode PageantWin32} over `calls`. */
export function pageantWin32(calls: Win32Calls): PageantWin32 {
  let security: Security | undefined;
  let counter = 0;
  const className = cString("Pageant");
  const at = (b: Uint8Array<ArrayBuffer>) => calls.addressOf(b);

  const win32Error = (what: string) => {
    const error = calls.GetLastError();
    return new PageantError("WIN32", `${what} failed (Windows error ${error})`);
  };

  const userSecurity = (): Security => {
    if (security) return security;
    const token = alloc(8);
    if (!calls.OpenProcessToken(calls.GetCurrentProcess(), TOKEN_QUERY, at(token))) {
      throw win32Error("OpenProcessToken");
    }
    const handle = new DataView(token.buffer).getBigUint64(0, true);
    const size = alloc(4);
    calls.GetTokenInformation(handle, TOKEN_USER, 0n, 0, at(size)); // asks for the size
    const info = alloc(Math.max(new DataView(size.buffer).getUint32(0, true), 64));
    const ok = calls.GetTokenInformation(handle, TOKEN_USER, at(info), info.byteLength, at(size));
    const failed = ok ? undefined : win32Error("GetTokenInformation(TokenUser)");
    calls.CloseHandle(handle);
    if (failed) throw failed;
    // TOKEN_USER starts with SID_AND_ATTRIBUTES, whose first field points at the SID (inside `info`).
    const sid = new DataView(info.buffer).getBigUint64(0, true);
    // sizeof(ACL) + sizeof(ACCESS_ALLOWED_ACE) - sizeof(DWORD) + the SID, DWORD-aligned.
    const aclSize = (8 + 12 - 4 + calls.GetLengthSid(sid) + 3) & ~3;
    const acl = alloc(aclSize);
    const sd = alloc(64); // SECURITY_DESCRIPTOR is 40 bytes on x64
    if (!calls.InitializeAcl(at(acl), aclSize, ACL_REVISION)) throw win32Error("InitializeAcl");
    if (!calls.AddAccessAllowedAce(at(acl), ACL_REVISION, FILE_MAP_ALL_ACCESS, sid)) {
      throw win32Error("AddAccessAllowedAce");
    }
    if (!calls.InitializeSecurityDescriptor(at(sd), SECURITY_DESCRIPTOR_REVISION)) {
      throw win32Error("InitializeSecurityDescriptor");
    }
    if (!calls.SetSecurityDescriptorOwner(at(sd), sid, 0)) {
      throw win32Error("SetSecurityDescriptorOwner");
    }
    if (!calls.SetSecurityDescriptorDacl(at(sd), 1, at(acl), 0)) {
      throw win32Error("SetSecurityDescriptorDacl");
    }
    // SECURITY_ATTRIBUTES { DWORD nLength; LPVOID lpSecurityDescriptor; BOOL bInheritHandle } on x64.
    const attributes = alloc(24);
    const view = new DataView(attributes.buffer);
    view.setUint32(0, 24, true);
    view.setBigUint64(8, at(sd), true);
    security = { attributes, keep: [info, acl, sd] };
    return security;
  };

  const readName = (call: (buffer: bigint, size: bigint) => number) => {
    const buffer = alloc(512);
    const size = alloc(4);
    new DataView(size.buffer).setUint32(0, buffer.byteLength, true);
    if (!call(at(buffer), at(size))) return undefined;
    return fromCString(buffer);
  };

  return {
    principalName: () => readName((b, s) => calls.GetUserNameExA(NAME_USER_PRINCIPAL, b, s)),
    accountName: () => readName((b, s) => calls.GetUserNameA(b, s)),
    protectCrossProcess(block) {
      const copy = alloc(block.byteLength);
      copy.set(block);
      if (!calls.CryptProtectMemory(at(copy), copy.byteLength, CRYPTPROTECTMEMORY_CROSS_PROCESS)) {
        return false;
      }
      block.set(copy);
      return true;
    },
    windowExists: () => calls.FindWindowA(at(className), at(className)) !== 0n,
    async query(frame, timeoutMs) {
      if (frame.byteLength > PAGEANT_MAP_SIZE) {
        throw new PageantError(
          "TOO_LARGE",
          `an ssh-agent request of ${frame.byteLength} bytes does not fit Pageant's ${PAGEANT_MAP_SIZE}-byte mapping`,
        );
      }
      const hwnd = calls.FindWindowA(at(className), at(className));
      if (hwnd === 0n) throw noWindow();
      const { attributes } = userSecurity();
      const name = cString(
        `WSL2ProxyPageantRequest.${calls.GetCurrentProcessId().toString(16)}.${
          (++counter)
            .toString(16)
        }`,
      );
      const map = calls.CreateFileMappingA(
        INVALID_HANDLE_VALUE,
        at(attributes),
        PAGE_READWRITE,
        0,
        PAGEANT_MAP_SIZE,
        at(name),
      );
      if (map === 0n) throw win32Error("CreateFileMapping");
      const keep = [name, attributes];
      inFlight.add(keep);
      let view = 0n;
      try {
        view = calls.MapViewOfFile(map, FILE_MAP_WRITE, 0, 0, 0n);
        if (view === 0n) throw win32Error("MapViewOfFile");
        const request = alloc(frame.byteLength);
        request.set(frame);
        calls.RtlMoveMemory(view, at(request), BigInt(request.byteLength));
        // COPYDATASTRUCT { ULONG_PTR dwData; DWORD cbData; PVOID lpData } on x64.
        const cds = alloc(24);
        const d = new DataView(cds.buffer);
        d.setBigUint64(0, BigInt(AGENT_COPYDATA_ID), true);
        d.setUint32(8, name.byteLength, true);
        d.setBigUint64(16, at(name), true);
        keep.push(cds);
        const r = await calls.sendCopyData(hwnd, at(cds), timeoutMs);
        if (!r.sent) {
          if (r.error === ERROR_TIMEOUT) {
            throw new PageantError(
              "TIMEOUT",
              `Pageant did not answer within ${Math.round(timeoutMs / 1000)} s ` +
                "(a passphrase or confirmation prompt left open, or a hung agent)",
            );
          }
          if (r.error === ERROR_INVALID_WINDOW_HANDLE) throw noWindow();
          throw new PageantError(
            "WIN32",
            `SendMessageTimeout(WM_COPYDATA) to Pageant failed (Windows error ${r.error})`,
          );
        }
        if (r.result === 0n) {
          throw new PageantError(
            "REFUSED",
            "Pageant refused the request (it answers only its own user, and only requests it can parse)",
          );
        }
        const header = alloc(4);
        calls.RtlMoveMemory(at(header), view, 4n);
        const length = new DataView(header.buffer).getUint32(0, false);
        if (length + 4 > PAGEANT_MAP_SIZE) {
          throw new PageantError(
            "TOO_LARGE",
            `Pageant's reply claims ${length} bytes, more than its ${PAGEANT_MAP_SIZE}-byte mapping`,
          );
        }
        const reply = alloc(4 + length);
        calls.RtlMoveMemory(at(reply), view, BigInt(reply.byteLength));
        return reply;
      } finally {
        if (view !== 0n) calls.UnmapViewOfFile(view);
        calls.CloseHandle(map);
        inFlight.delete(keep);
      }
    },
  };
}

function noWindow(): PageantError {
  return new PageantError(
    "NO_WINDOW",
    "Pageant is not running: no Pageant pipe and no window of class Pageant " +
      "(start Pageant, or KeeAgent / gpg4win with PuTTY support)",
  );
}
