/**
 * The least a daemon or an agent does in Bun, as a compiled program to hold
 * their memory against: a Unix-socket listener, 200 connections echoed
 * through it, 20,000 chunks through Web Streams (enough for the JIT to
 * compile the loop), one child process; then it idles. bench/NOTES.md
 * records its RSS. Build and measure it with the release flags:
 *
 *   bun build $(flags of BUN_FLAGS in scripts/build.ts) bench/mem_floor.ts --outfile /tmp/floor
 *   /tmp/floor & sleep 4; grep -E 'VmRSS|RssAnon|RssFile' /proc/$!/status; kill $!
 *
 * Bun only (`Bun.listen`, `Bun.connect`, `Bun.spawn`).
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// deno-lint-ignore no-explicit-any
const bun = (globalThis as any).Bun;
const dir = mkdtempSync(join(tmpdir(), "w2p-floor-"));
const path = join(dir, "s.sock");
bun.listen({
  unix: path,
  socket: { data: (s: { write(d: Uint8Array): void }, d: Uint8Array) => s.write(d) },
});
for (let i = 0; i < 200; i++) {
  await new Promise<void>((resolve) => {
    bun.connect({
      unix: path,
      socket: {
        open: (s: { write(t: string): void }) => s.write("x".repeat(64)),
        data: (s: { end(): void }) => {
          s.end();
          resolve();
        },
      },
    });
  });
}
const reader = new ReadableStream<Uint8Array>({
  pull: (c) => c.enqueue(new Uint8Array(1024)),
}).getReader();
const writer = new WritableStream<Uint8Array>({ write() {} }).getWriter();
for (let i = 0; i < 20_000; i++) {
  const { value } = await reader.read();
  await writer.write(value!);
}
await bun.spawn(["true"], { stdout: "pipe" }).exited;
rmSync(dir, { recursive: true, force: true });
console.log("idle");
setInterval(() => {}, 1 << 30);
