/**
 * Bounded fuzzing of everything that parses untrusted bytes: the frame
 * decoder (100,000 random and mutated frame streams, checked against a
 * reference decoder written from docs/PROTOCOL.md), live sessions fed
 * mutated peers (5,000 cases), and the config loader (100,000 YAML texts).
 * Seeds are printed by fast-check on failure; set WSL2PROXY_FUZZ_SEED to replay.
 * An unhandled rejection anywhere fails the running test under both runners.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { ProtocolError } from "../src/errors.ts";
import { type Frame, HEADER_SIZE, MAX_REASON_BYTES, MAX_TARGET_BYTES } from "../src/mux/frame.ts";
import { FrameDecoder } from "../src/mux/frame_decoder.ts";
import { fuzzParseConfig } from "../src/config/fuzz_parse_config.ts";
import {
  applyMutations,
  chunkRandomly,
  encodeFrames,
  type FrameSpec,
  mutationArbitrary,
  referenceDecode,
  validFrameArbitrary,
  wildFrameArbitrary,
} from "./helpers/frame_fuzz.ts";
import { memoryNow, mib } from "./helpers/memory.ts";
import {
  newSessionFuzzStats,
  runSessionCase,
  sessionCaseArbitrary,
} from "./helpers/session_fuzz.ts";

const SEED = process.env.WSL2PROXY_FUZZ_SEED ? Number(process.env.WSL2PROXY_FUZZ_SEED) : undefined;
const MAX_PAYLOADS = [1024, 16384, 65536];
const EMPTY = new Uint8Array(0);
/** Each test takes 2 to 25 s on a 2-core machine; the rest is room for a busy CI runner. */
const TIMEOUT_MS = 300_000;

/** What a decoder made of a byte stream. */
interface Decoded {
  frames: Frame[];
  error: ProtocolError | null;
  buffered: number;
}

/** Feed `chunks` to a fresh decoder, draining after each; only ProtocolError may escape `next()`. */
function decode(chunks: Uint8Array[], maxPayload: number): Decoded {
  const d = new FrameDecoder({ maxPayload });
  // Once drained, what is left is less than one header, or one header's payload that is still short.
  const bound = Math.max(maxPayload, MAX_TARGET_BYTES, 4 + MAX_REASON_BYTES) + HEADER_SIZE;
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    d.push(chunk);
    for (;;) {
      let f: Frame | null;
      try {
        f = d.next();
      } catch (e) {
        if (e instanceof ProtocolError) return { frames, error: e, buffered: d.buffered };
        throw new Error(`decoder threw ${(e as Error)?.name}, not ProtocolError`, { cause: e });
      }
      if (f === null) break;
      frames.push(f);
    }
    if (d.buffered > bound) {
      throw new Error(`decoder holds ${d.buffered} bytes after draining (bound ${bound})`);
    }
  }
  return { frames, error: null, buffered: d.buffered };
}

/** The decoder agrees with the reference on frames, on where the first violation is, and on what is left. */
function checkDecoderCase(bytes: Uint8Array, maxPayload: number, chunkSeed: number): void {
  const ref = referenceDecode(bytes, maxPayload);
  for (
    const got of [decode([bytes], maxPayload), decode(chunkRandomly(bytes, chunkSeed), maxPayload)]
  ) {
    assert.equal(got.frames.length, ref.frames.length, "frame count");
    for (let i = 0; i < got.frames.length; i++) {
      const f = got.frames[i];
      const want = ref.frames[i];
      if (
        f.type !== want.type || f.flags !== want.flags || f.streamId !== want.streamId ||
        f.length !== want.length
      ) {
        assert.deepEqual(f, want, `frame ${i}`);
      }
      if (Buffer.compare(f.payload, want.payload ?? EMPTY) !== 0) {
        assert.fail(`frame ${i}: payload differs`);
      }
    }
    if (ref.errorAt === null) {
      assert.equal(got.error, null, "no protocol error");
      // A header whose payload is still short has been taken out already.
      assert.equal(
        got.buffered,
        ref.rest - (ref.headerPending ? HEADER_SIZE : 0),
        "bytes left over",
      );
    } else {
      assert.ok(got.error, `a ProtocolError for the header at byte ${ref.errorAt}`);
      assert.match(
        got.error.message,
        new RegExp(`\\(at byte ${ref.errorAt} of the frame stream\\)$`),
      );
    }
  }
}

const decoderCase = fc.constantFrom(...MAX_PAYLOADS).chain((maxPayload) =>
  fc.record({
    maxPayload: fc.constant(maxPayload),
    frames: fc.array(
      fc.oneof({ weight: 9, arbitrary: validFrameArbitrary(maxPayload) }, wildFrameArbitrary()),
      { maxLength: 8 },
    ),
    donor: fc.array(validFrameArbitrary(maxPayload), { maxLength: 2 }),
    mutations: fc.oneof(
      fc.constant([]),
      {
        weight: 4,
        arbitrary: fc.array(mutationArbitrary(maxPayload), { minLength: 1, maxLength: 4 }),
      },
    ),
    chunkSeed: fc.nat(),
  })
);

function caseBytes(
  c: { frames: FrameSpec[]; donor: FrameSpec[]; mutations: Parameters<typeof applyMutations>[1] },
): Uint8Array {
  return applyMutations(encodeFrames(c.frames), c.mutations, encodeFrames(c.donor).bytes);
}

describe("fuzz: frame decoder", () => {
  test(
    "FrameDecoder - 100,000 random and mutated frame streams give the reference's frames or a ProtocolError at the same byte, in any chunking, within bounded memory",
    { timeout: TIMEOUT_MS },
    () => {
      const started = performance.now();
      // Warm-up batch first, so the baseline includes JIT code and fast-check's own tables.
      fc.assert(
        fc.property(decoderCase, (c) => checkDecoderCase(caseBytes(c), c.maxPayload, c.chunkSeed)),
        {
          numRuns: 10_000,
          seed: SEED,
        },
      );
      const before = memoryNow();
      let maxBuffered = 0;
      fc.assert(
        fc.property(decoderCase, (c) => {
          const bytes = caseBytes(c);
          maxBuffered = Math.max(maxBuffered, bytes.byteLength);
          checkDecoderCase(bytes, c.maxPayload, c.chunkSeed);
        }),
        { numRuns: 90_000, seed: SEED === undefined ? undefined : SEED + 1 },
      );
      const after = memoryNow();
      const ms = performance.now() - started;
      console.log(
        `frame decoder fuzz: 100000 cases in ${(ms / 1000).toFixed(1)} s; heap ${
          mib(before.heapUsed)
        } -> ${mib(after.heapUsed)}, ` +
          `rss ${mib(before.rss)} -> ${
            mib(after.rss)
          } (forced gc: ${after.gc}); largest input ${maxBuffered} bytes`,
      );
      // Nothing is retained between cases, so after a collection the heap is back near the baseline;
      // 32 MiB is far below what 90,000 retained cases (inputs of up to ~200 KiB each) would take.
      if (after.gc) {
        assert.ok(
          after.heapUsed - before.heapUsed < 32 << 20,
          `heap grew by ${mib(after.heapUsed - before.heapUsed)}`,
        );
      }
      assert.ok(after.rss - before.rss < 128 << 20, `rss grew by ${mib(after.rss - before.rss)}`);
    },
  );
});

describe("fuzz: session", () => {
  test(
    "Session - 5,000 scripted, violating and mutated peers end in a peer close, a clean ProtocolError with GO_AWAY and its reason, or a normal close, never anything else",
    { timeout: TIMEOUT_MS },
    async () => {
      const started = performance.now();
      const stats = newSessionFuzzStats();
      const run = (numRuns: number, seed: number | undefined) =>
        fc.assert(fc.asyncProperty(sessionCaseArbitrary(), (c) => runSessionCase(c, stats)), {
          numRuns,
          seed,
        });
      await run(500, SEED);
      const before = memoryNow();
      await run(4500, SEED === undefined ? undefined : SEED + 1);
      const after = memoryNow();
      console.log(
        `session fuzz: ${JSON.stringify(stats)} in ${
          ((performance.now() - started) / 1000).toFixed(1)
        } s; ` +
          `heap ${mib(before.heapUsed)} -> ${mib(after.heapUsed)}, rss ${mib(before.rss)} -> ${
            mib(after.rss)
          }`,
      );
      assert.equal(stats.cases, 5000);
      // Every kind of ending happened, so the checks above were exercised.
      for (const k of ["protocolErrors", "peerClosed", "peerGoAway", "localClose"] as const) {
        assert.ok(stats[k] > 0, k);
      }
      if (after.gc) {
        assert.ok(
          after.heapUsed - before.heapUsed < 32 << 20,
          `heap grew by ${mib(after.heapUsed - before.heapUsed)}`,
        );
      }
    },
  );
});

describe("fuzz: config loader", () => {
  test(
    "parseConfig - 100,000 random and mutated YAML files give a valid config or a well-formed ConfigError, each quickly",
    { timeout: TIMEOUT_MS },
    () => {
      const started = performance.now();
      // Only ConfigError may be thrown, and no case may take over a second (fuzzParseConfig checks both).
      fuzzParseConfig({ numRuns: 100_000, seed: SEED, maxMillisPerCase: 1000 });
      console.log(
        `config fuzz: 100000 cases in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    },
  );
});
