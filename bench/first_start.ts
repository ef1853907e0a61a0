/**
 * First start of the embedded agent, as `start` pays it once per version:
 * decompress the blob, write the .exe, read it back, check its SHA-256.
 * One way per process, so that the peak RSS (VmHWM) is that way's own.
 *
 *     deno run -A bench/first_start.ts prepare <agent.exe> <dir>   # dir/{gz6, brotli5, brotli11}
 *     deno run -A bench/first_start.ts <old|new> <dir>/<blob> <agent.exe>
 *     bun bench/first_start.ts <old|new> <dir>/<blob> <agent.exe>
 *
 * `new` is placeAgent() fed by decompressAgent() (E8 filter, brotli frames,
 * streamed); `old` is what wsl2proxy did before (all in memory: gunzip with
 * DecompressionStream, hash, write, read back, hash). Prints one JSON line.
 * Results: docs/DEVELOPMENT.md, "Binary and download sizes".
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { gzipSync } from "node:zlib";
import { AGENT_QUALITY, compressAgentBytes } from "../scripts/_compress_agent.ts";
import { decompressAgent } from "../src/wsl/embedded_agent.ts";
import { placeAgent } from "../src/wsl/place_agent.ts";

const [way, blob, exe] = process.argv.slice(2);
if (way === "prepare") {
  const plain = readFileSync(blob);
  mkdirSync(exe, { recursive: true });
  let t = performance.now();
  writeFileSync(join(exe, "gz6"), gzipSync(plain, { level: 6 }));
  console.log(`gz6: ${Math.round(performance.now() - t)} ms`);
  for (const quality of Object.values(AGENT_QUALITY)) {
    t = performance.now();
    const { blob: packed, layout } = await compressAgentBytes(plain, quality);
    writeFileSync(join(exe, `brotli${quality}`), packed);
    writeFileSync(join(exe, `brotli${quality}.json`), JSON.stringify(layout));
    const ms = Math.round(performance.now() - t);
    console.log(`brotli${quality}: ${packed.byteLength} bytes in ${ms} ms`);
  }
  process.exit(0);
}
if (!(way === "new" || way === "old") || !blob || !exe) {
  process.stderr.write(
    "usage: first_start.ts prepare <agent.exe> <dir> | <new|old> <blob> <agent.exe>\n",
  );
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

/** The blob as one chunk in memory, as a compiled binary holds its embedded files. */
function blobStream(): ReadableStream<Uint8Array> {
  const bytes = new Uint8Array(readFileSync(blob));
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

const started = performance.now();
try {
  if (way === "new") {
    const layout = JSON.parse(readFileSync(`${blob}.json`, "utf8"));
    await placeAgent({
      sha256,
      size,
      open: () => decompressAgent(blobStream(), layout),
      version: "bench",
      destDir: join(dir, "agent"),
      prune: false,
    });
  } else {
    const gunzipped = blobStream().pipeThrough(
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
  const name = blob.split("/").pop();
  console.log(
    JSON.stringify({ runtime, way, blob: name, ms, peakRssMB: Math.round(Number(hwm) / 1024) }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
