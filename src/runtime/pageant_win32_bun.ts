/**
 * {@linkcode Win32Calls} through `bun:ffi` (Windows). `bun:ffi` calls are
 * synchronous, so the one that blocks, SendMessageTimeoutA, runs in a
 * Worker: one per request in flight, kept (unreferenced) for the next one
 * when idle. The worker's source is a string turned into a Blob URL, which
 * works in a compiled binary with no extra file to ship (tested under Wine).
 *
 * @module
 */

import type { BunFfi } from "./bun_types.d.ts";
import { type CopyDataResult, pageantWin32, type Win32Calls } from "./pageant_win32.ts";
import type { PageantWin32 } from "./types.ts";

const BUN_FFI = "bun:ffi";

/** The worker: SendMessageTimeoutA(WM_COPYDATA, SMTO_ABORTIFHUNG) and GetLastError on its own thread. */
const WORKER_SOURCE = `
import { dlopen, ptr } from "bun:ffi";
const user32 = dlopen("user32.dll", {
  SendMessageTimeoutA: { args: ["u64", "u32", "u64", "u64", "u32", "u32", "u64"], returns: "u64" },
}).symbols;
const kernel32 = dlopen("kernel32.dll", { GetLastError: { args: [], returns: "u32" } }).symbols;
const out = new BigUint64Array(new ArrayBuffer(8));
const outAddress = BigInt(ptr(out));
self.onmessage = (event) => {
  const { hwnd, cds, timeoutMs } = event.data;
  out[0] = 0n;
  const sent = BigInt(user32.SendMessageTimeoutA(hwnd, 0x4a, 0n, cds, 2, timeoutMs, outAddress)) !== 0n;
  const error = sent ? 0 : kernel32.GetLastError();
  self.postMessage({ sent, result: out[0], error });
};
`;

/** The worker objects as Bun has them (a web Worker with ref/unref). */
interface BunWorker {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: CopyDataResult }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  ref(): void;
  unref(): void;
  terminate(): void;
}

/** Idle workers kept for the next request. */
const MAX_IDLE = 2;

let loaded: Promise<PageantWin32 | undefined> | undefined;

/** The Pageant calls through `bun:ffi`; `undefined` off Windows or without FFI. */
export function loadBunPageantWin32(): Promise<PageantWin32 | undefined> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<PageantWin32 | undefined> {
  if (globalThis.process?.platform !== "win32") return undefined;
  let ffi: BunFfi;
  try {
    ffi = (await import(BUN_FFI)) as BunFfi;
  } catch {
    return undefined;
  }
  const u64 = "u64";
  const i32 = "i32";
  const u32 = "u32";
  const open = (lib: string, symbols: Record<string, { args: string[]; returns: string }>) =>
    ffi.dlopen(lib, symbols).symbols as Record<string, (...args: unknown[]) => unknown>;
  const user32 = open("user32.dll", { FindWindowA: { args: [u64, u64], returns: u64 } });
  const secur32 = open("secur32.dll", {
    GetUserNameExA: { args: [i32, u64, u64], returns: "u8" },
  });
  const crypt32 = open("crypt32.dll", {
    CryptProtectMemory: { args: [u64, u32, u32], returns: i32 },
  });
  const advapi32 = open("advapi32.dll", {
    GetUserNameA: { args: [u64, u64], returns: i32 },
    OpenProcessToken: { args: [u64, u32, u64], returns: i32 },
    GetTokenInformation: { args: [u64, i32, u64, u32, u64], returns: i32 },
    GetLengthSid: { args: [u64], returns: u32 },
    InitializeAcl: { args: [u64, u32, u32], returns: i32 },
    AddAccessAllowedAce: { args: [u64, u32, u32, u64], returns: i32 },
    InitializeSecurityDescriptor: { args: [u64, u32], returns: i32 },
    SetSecurityDescriptorOwner: { args: [u64, u64, i32], returns: i32 },
    SetSecurityDescriptorDacl: { args: [u64, i32, u64, i32], returns: i32 },
  });
  const kernel32 = open("kernel32.dll", {
    GetCurrentProcess: { args: [], returns: u64 },
    GetCurrentProcessId: { args: [], returns: u32 },
    CreateFileMappingA: { args: [u64, u64, u32, u32, u32, u64], returns: u64 },
    MapViewOfFile: { args: [u64, u32, u32, u32, u64], returns: u64 },
    UnmapViewOfFile: { args: [u64], returns: i32 },
    CloseHandle: { args: [u64], returns: i32 },
    GetLastError: { args: [], returns: u32 },
  });
  const ntdll = open("ntdll.dll", { RtlMoveMemory: { args: [u64, u64, u64], returns: "void" } });
  const big = (f: (...args: unknown[]) => unknown) => (...args: unknown[]) =>
    BigInt(f(...args) as number);
  const num = (f: (...args: unknown[]) => unknown) => (...args: unknown[]) => Number(f(...args));
  const calls: Win32Calls = {
    addressOf: (buffer) => BigInt(ffi.ptr(buffer)),
    GetUserNameExA: num(secur32.GetUserNameExA),
    GetUserNameA: num(advapi32.GetUserNameA),
    CryptProtectMemory: num(crypt32.CryptProtectMemory),
    FindWindowA: big(user32.FindWindowA),
    GetCurrentProcess: big(kernel32.GetCurrentProcess),
    GetCurrentProcessId: num(kernel32.GetCurrentProcessId),
    OpenProcessToken: num(advapi32.OpenProcessToken),
    GetTokenInformation: num(advapi32.GetTokenInformation),
    GetLengthSid: num(advapi32.GetLengthSid),
    InitializeAcl: num(advapi32.InitializeAcl),
    AddAccessAllowedAce: num(advapi32.AddAccessAllowedAce),
    InitializeSecurityDescriptor: num(advapi32.InitializeSecurityDescriptor),
    SetSecurityDescriptorOwner: num(advapi32.SetSecurityDescriptorOwner),
    SetSecurityDescriptorDacl: num(advapi32.SetSecurityDescriptorDacl),
    CreateFileMappingA: big(kernel32.CreateFileMappingA),
    MapViewOfFile: big(kernel32.MapViewOfFile),
    UnmapViewOfFile: num(kernel32.UnmapViewOfFile),
    CloseHandle: num(kernel32.CloseHandle),
    RtlMoveMemory: (dest, src, size) => void ntdll.RtlMoveMemory(dest, src, size),
    GetLastError: num(kernel32.GetLastError),
    sendCopyData: workerSend(),
  };
  return pageantWin32(calls);
}

/** SendMessageTimeoutA on a pooled Worker thread. */
function workerSend(): Win32Calls["sendCopyData"] {
  const idle: BunWorker[] = [];
  let url: string | undefined;
  const WorkerClass = (globalThis as unknown as { Worker: new (url: string) => BunWorker }).Worker;
  return (hwnd, cds, timeoutMs) => {
    url ??= URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
    const worker = idle.pop() ?? new WorkerClass(url);
    worker.ref();
    return new Promise<CopyDataResult>((resolve, reject) => {
      worker.onmessage = (event) => {
        worker.onmessage = worker.onerror = null;
        worker.unref();
        if (idle.length < MAX_IDLE) idle.push(worker);
        else worker.terminate();
        resolve(event.data);
      };
      worker.onerror = (event) => {
        worker.onmessage = worker.onerror = null;
        worker.terminate();
        reject(new Error(`the WM_COPYDATA worker failed: ${event.message ?? "unknown error"}`));
      };
      worker.postMessage({ hwnd, cds, timeoutMs });
    });
  };
}
