/**
 * A single-instance named pipe server for the busy-pipe tests, made with
 * Deno FFI to kernel32 (node:net cannot cap a pipe's instances, so it never
 * looks busy). Windows and Deno only; not part of the library.
 *
 * @module
 */

const PIPE_ACCESS_DUPLEX = 0x3;
const PIPE_TYPE_BYTE_WAIT = 0x0; // PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT
const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;

function openKernel32() {
  return Deno.dlopen(
    "kernel32.dll",
    {
      CreateNamedPipeW: {
        parameters: ["buffer", "u32", "u32", "u32", "u32", "u32", "u32", "pointer"],
        result: "pointer",
      },
      ConnectNamedPipe: { parameters: ["pointer", "pointer"], result: "i32", nonblocking: true },
      DisconnectNamedPipe: { parameters: ["pointer"], result: "i32" },
      CancelIoEx: { parameters: ["pointer", "pointer"], result: "i32" },
      CloseHandle: { parameters: ["pointer"], result: "i32" },
    } as const,
  );
}

let kernel32: ReturnType<typeof openKernel32>["symbols"] | undefined;

/** UTF-16LE, NUL-terminated. */
function wide(s: string): Uint8Array<ArrayBuffer> {
  const units = new Uint16Array(s.length + 1);
  for (let i = 0; i < s.length; i++) units[i] = s.charCodeAt(i);
  return new Uint8Array(units.buffer);
}

/** A pipe with room for exactly one client at a time. */
export interface SingleInstancePipe {
  /** Wait for a client on the one instance (ConnectNamedPipe on a pool thread). */
  listen(): Promise<void>;
  /** Drop the connected client so the instance can be listened on again. */
  disconnect(): void;
  /** Cancel a pending listen and close the instance; the pipe name disappears. */
  close(): Promise<void>;
}

/** Create `\\.\pipe\NAME` with `nMaxInstances = 1`. */
export function singleInstancePipe(path: string): SingleInstancePipe {
  kernel32 ??= openKernel32().symbols;
  const k = kernel32;
  const handle = k.CreateNamedPipeW(
    wide(path),
    PIPE_ACCESS_DUPLEX,
    PIPE_TYPE_BYTE_WAIT,
    1,
    65536,
    65536,
    0,
    null,
  );
  if (handle === null || BigInt(Deno.UnsafePointer.value(handle)) === INVALID_HANDLE_VALUE) {
    throw new Error(`CreateNamedPipeW failed for ${path}`);
  }
  let pending: Promise<number> | undefined;
  return {
    listen() {
      // 0 with ERROR_PIPE_CONNECTED means a client came in first: connected all the same.
      pending = k.ConnectNamedPipe(handle, null);
      return pending.then(() => {
        pending = undefined;
      });
    },
    disconnect() {
      k.DisconnectNamedPipe(handle);
    },
    async close() {
      if (pending) {
        k.CancelIoEx(handle, null);
        await pending.catch(() => {});
      }
      k.DisconnectNamedPipe(handle);
      k.CloseHandle(handle);
    },
  };
}
