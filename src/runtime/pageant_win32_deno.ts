/**
 * {@linkcode Win32Calls} through `Deno.dlopen` (Windows). SendMessageTimeoutA
 * is a `nonblocking` symbol, so it runs on Deno's blocking thread pool, off
 * the event loop. GetLastError cannot be read from that thread, so a failed
 * call that took the whole timeout is reported as ERROR_TIMEOUT.
 *
 * Only type-checked on Linux: Deno does not run under Wine 8, so this runs
 * on the windows-latest CI job only.
 *
 * @module
 */

import { type CopyDataResult, pageantWin32, type Win32Calls } from "./pageant_win32.ts";
import type { PageantWin32 } from "./types.ts";

const ERROR_TIMEOUT = 1460;

const USER32 = {
  FindWindowA: { parameters: ["usize", "usize"], result: "usize" },
  SendMessageTimeoutA: {
    parameters: ["usize", "u32", "usize", "usize", "u32", "u32", "buffer"],
    result: "usize",
    nonblocking: true,
  },
} as const;
const SECUR32 = {
  GetUserNameExA: { parameters: ["i32", "usize", "usize"], result: "u8" },
} as const;
const CRYPT32 = {
  CryptProtectMemory: { parameters: ["usize", "u32", "u32"], result: "i32" },
} as const;
const ADVAPI32 = {
  GetUserNameA: { parameters: ["usize", "usize"], result: "i32" },
  OpenProcessToken: { parameters: ["usize", "u32", "usize"], result: "i32" },
  GetTokenInformation: { parameters: ["usize", "i32", "usize", "u32", "usize"], result: "i32" },
  GetLengthSid: { parameters: ["usize"], result: "u32" },
  InitializeAcl: { parameters: ["usize", "u32", "u32"], result: "i32" },
  AddAccessAllowedAce: { parameters: ["usize", "u32", "u32", "usize"], result: "i32" },
  InitializeSecurityDescriptor: { parameters: ["usize", "u32"], result: "i32" },
  SetSecurityDescriptorOwner: { parameters: ["usize", "usize", "i32"], result: "i32" },
  SetSecurityDescriptorDacl: { parameters: ["usize", "i32", "usize", "i32"], result: "i32" },
} as const;
const KERNEL32 = {
  GetCurrentProcess: { parameters: [], result: "usize" },
  GetCurrentProcessId: { parameters: [], result: "u32" },
  CreateFileMappingA: {
    parameters: ["usize", "usize", "u32", "u32", "u32", "usize"],
    result: "usize",
  },
  MapViewOfFile: { parameters: ["usize", "u32", "u32", "u32", "usize"], result: "usize" },
  UnmapViewOfFile: { parameters: ["usize"], result: "i32" },
  CloseHandle: { parameters: ["usize"], result: "i32" },
  GetLastError: { parameters: [], result: "u32" },
} as const;
const NTDLL = {
  RtlMoveMemory: { parameters: ["usize", "usize", "usize"], result: "void" },
} as const;

let loaded: PageantWin32 | null | undefined;

/** The Pageant calls through `Deno.dlopen`; `undefined` off Windows or without FFI permission. */
export function loadDenoPageantWin32(): PageantWin32 | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  loaded = null;
  if (Deno.build.os !== "windows") return undefined;
  try {
    loaded = pageantWin32(bind());
  } catch {
    return undefined; // no --allow-ffi, or a DLL that would not load
  }
  return loaded;
}

function bind(): Win32Calls {
  const user32 = Deno.dlopen("user32.dll", USER32).symbols;
  const secur32 = Deno.dlopen("secur32.dll", SECUR32).symbols;
  const crypt32 = Deno.dlopen("crypt32.dll", CRYPT32).symbols;
  const advapi32 = Deno.dlopen("advapi32.dll", ADVAPI32).symbols;
  const kernel32 = Deno.dlopen("kernel32.dll", KERNEL32).symbols;
  const ntdll = Deno.dlopen("ntdll.dll", NTDLL).symbols;
  return {
    addressOf: (buffer) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer))),
    GetUserNameExA: (f, b, s) => secur32.GetUserNameExA(f, b, s),
    GetUserNameA: (b, s) => advapi32.GetUserNameA(b, s),
    CryptProtectMemory: (d, n, f) => crypt32.CryptProtectMemory(d, n, f),
    FindWindowA: (c, t) => BigInt(user32.FindWindowA(c, t)),
    GetCurrentProcess: () => BigInt(kernel32.GetCurrentProcess()),
    GetCurrentProcessId: () => kernel32.GetCurrentProcessId(),
    OpenProcessToken: (p, a, t) => advapi32.OpenProcessToken(p, a, t),
    GetTokenInformation: (t, c, i, n, g) => advapi32.GetTokenInformation(t, c, i, n, g),
    GetLengthSid: (s) => advapi32.GetLengthSid(s),
    InitializeAcl: (a, n, r) => advapi32.InitializeAcl(a, n, r),
    AddAccessAllowedAce: (a, r, m, s) => advapi32.AddAccessAllowedAce(a, r, m, s),
    InitializeSecurityDescriptor: (sd, r) => advapi32.InitializeSecurityDescriptor(sd, r),
    SetSecurityDescriptorOwner: (sd, o, d) => advapi32.SetSecurityDescriptorOwner(sd, o, d),
    SetSecurityDescriptorDacl: (sd, p, a, d) => advapi32.SetSecurityDescriptorDacl(sd, p, a, d),
    CreateFileMappingA: (f, a, p, h, l, n) => BigInt(kernel32.CreateFileMappingA(f, a, p, h, l, n)),
    MapViewOfFile: (m, a, h, l, n) => BigInt(kernel32.MapViewOfFile(m, a, h, l, n)),
    UnmapViewOfFile: (v) => kernel32.UnmapViewOfFile(v),
    CloseHandle: (h) => kernel32.CloseHandle(h),
    RtlMoveMemory: (d, s, n) => ntdll.RtlMoveMemory(d, s, n),
    GetLastError: () => kernel32.GetLastError(),
    async sendCopyData(hwnd, cds, timeoutMs): Promise<CopyDataResult> {
      const out = new BigUint64Array(new ArrayBuffer(8));
      const started = performance.now();
      // SMTO_ABORTIFHUNG (2), WM_COPYDATA (0x4a).
      const sent = BigInt(
        await user32.SendMessageTimeoutA(hwnd, 0x4a, 0n, cds, 2, timeoutMs, out),
      ) !== 0n;
      const tookAll = performance.now() - started >= timeoutMs * 0.95;
      return { sent, result: out[0], error: sent ? 0 : tookAll ? ERROR_TIMEOUT : 0 };
    },
  };
}
