/**
 * First start of the embedded agent, as `start` pays it once per version:
 * decompress the blob, write the .exe, read it back, check its SHA-256.
 * One way per process, so that the peak RSS (VmHWM) is that way's own.
 *
 *     deno run -A bench/first_start.ts <new|old> <blob> <agent.exe>
 *     bun bench/first_start.ts <new|old> <blob> <agent.exe>
 *
 * `new` is placeAgent() fed by decompressAgent() (zstd, streamed); `old` is
 * what wsl2proxy did before (all in memory: gunzip with DecompressionStream,
 * hash, write, read back, hash). Prints one JSON line. Results:
 * docs/BENCHMARKS.md, "Download size".
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createReadStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { decompressAgent } from "../src/wsl/embedded_agent.ts";
import { placeAgent } from "../src/wsl/place_agent.ts";

const [way, blob, exe] = process.argv.slice(2);
if (!(way === "new" || way === "old") || !blob || !exe) {
  process.stderr.write("usage: first_start.ts <new|old> <blob> <agent.exe>\n");
  process.exit(2);
}
// Hashed in chunks: the agent's bytes must not count in this process's peak RSS.
const h = createHash("sha256");
let size = 0;
for await (const chunk of createReadStream(exe)) {
  h.update(chunk as Uint8Array);
  size += (chunk as Uint8Array).byteLength;
}
const sha256 = h.digest("hex");
const dir = mkdtempSync(join(tmpdir(), "w2p-first-start-"));

async function hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The blob as a stream of bytes in memory, as a compiled binary holds its embedded files. */
function blobFile(): ReadableStream<Uint8Array> {
  return new Blob([readFileSync(blob)]).stream();
}

const started = performance.now();
try {
  if (way === "new") {
    await placeAgent({
      sha256,
      size,
      open: () => decompressAgent(blobFile(), size),
      version: "bench",
      destDir: join(dir, "agent"),
      prune: false,
    });
  } else {
    const gunzipped = blobFile().pipeThrough(
      new DecompressionStream("gzip") as TransformStream<Uint8Array, Uint8Array>,
    );
    const bytes = new Uint8Array(await new Response(gunzipped).arrayBuffer());
    if ((await hex(bytes)) !== sha256) throw new Error("checksum");
    const dest = join(dir, "agent.exe");
    await writeFile(dest, bytes, { mode: 0o755 });
    if ((await hex(await readFile(dest))) !== sha256) throw new Error("read back");
  }
  const ms = Math.round(performance.now() - started);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  const runtime = "Bun" in globalThis ? "bun" : "deno";
  console.log(
    JSON.stringify({ runtime, way, blob, ms, peakRssMB: Math.round(Number(hwm) / 1024) }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
