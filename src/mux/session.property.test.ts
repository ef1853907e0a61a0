import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { IncomingStream, MuxStream, Session } from "./mod.ts";
import { StreamResetError } from "../errors.ts";
import { PIPE_KINDS } from "../../tests/helpers/pipes.ts";
import { concat, pattern, sessionPair, within } from "../../tests/helpers/mux.ts";

/** What one side of one stream does: write these chunks, then FIN or reset. */
interface SidePlan {
  chunks: number[];
  end: "fin" | "reset";
}
interface StreamPlan {
  openerIsClient: boolean;
  opener: SidePlan;
  acceptor: SidePlan;
}

const sidePlan = fc.record({
  chunks: fc.array(
    fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 300_000 })),
    { maxLength: 6 },
  ),
  end: fc.constantFrom<"fin" | "reset">("fin", "fin", "fin", "reset"),
});
const streamPlan = fc.record({
  openerIsClient: fc.boolean(),
  opener: sidePlan,
  acceptor: sidePlan,
});
const scenario = fc.record({
  streams: fc.array(streamPlan, { minLength: 1, maxLength: 6 }),
  // The order in which (stream, side) steps are issued: indexes into a pool of pending steps.
  schedule: fc.array(fc.nat(), { maxLength: 80 }),
});

interface Received {
  bytes: Uint8Array;
  error: unknown;
}

async function readSide(s: MuxStream): Promise<Received> {
  const chunks: Uint8Array[] = [];
  try {
    for await (const c of s.readable) chunks.push(c);
    return { bytes: concat(chunks), error: null };
  } catch (error) {
    return { bytes: concat(chunks), error };
  }
}

/** Bytes a side writes, deterministic per stream/side. */
function payload(streamIndex: number, opener: boolean, plan: SidePlan): Uint8Array {
  const total = plan.chunks.reduce((a, b) => a + b, 0);
  return pattern(total, streamIndex * 2 + (opener ? 1 : 2));
}

async function run(
  client: Session,
  server: Session,
  plans: StreamPlan[],
  schedule: number[],
  accepted: { set(target: string, h: (i: IncomingStream) => void): void },
) {
  type Side = {
    stream: Promise<MuxStream>;
    plan: SidePlan;
    data: Uint8Array;
    step: number;
    offset: number;
    chain: Promise<void>;
    ended: boolean;
  };
  const sides: Side[] = [];
  const reads: Promise<Received>[][] = [];
  plans.forEach((plan, i) => {
    const target = `s${i}`;
    const opener = plan.openerIsClient ? client : server;
    const acceptorStream = new Promise<MuxStream>((resolve) =>
      accepted.set(target, (inc) => resolve(inc.accept()))
    );
    const openerStream = opener.open(target);
    reads.push([openerStream.then(readSide), acceptorStream.then(readSide)]);
    sides.push({
      stream: openerStream,
      plan: plan.opener,
      data: payload(i, true, plan.opener),
      step: 0,
      offset: 0,
      chain: Promise.resolve(),
      ended: false,
    });
    sides.push({
      stream: acceptorStream,
      plan: plan.acceptor,
      data: payload(i, false, plan.acceptor),
      step: 0,
      offset: 0,
      chain: Promise.resolve(),
      ended: false,
    });
  });
  const stepOnce = (side: Side) => {
    if (side.ended) return;
    if (side.step < side.plan.chunks.length) {
      const n = side.plan.chunks[side.step++];
      const bytes = side.data.subarray(side.offset, side.offset + n);
      side.offset += n;
      side.chain = side.chain.then(async () => {
        const s = await side.stream;
        const w = s.writable.getWriter();
        try {
          await w.write(bytes);
        } finally {
          w.releaseLock();
        }
      });
    } else {
      side.ended = true;
      const end = side.plan.end;
      side.chain = side.chain.then(async () => {
        const s = await side.stream;
        if (end === "fin") await s.writable.close();
        else s.reset(7, "planned reset");
      });
    }
    side.chain = side.chain.catch(() => {}); // a write may fail once the peer resets: that's allowed
  };
  for (const pick of schedule) {
    const live = sides.filter((s) => !s.ended);
    if (live.length === 0) break;
    stepOnce(live[pick % live.length]);
  }
  for (const s of sides) while (!s.ended) stepOnce(s);
  await Promise.all(sides.map((s) => s.chain));
  const results = await Promise.all(reads.map((pair) => Promise.all(pair)));
  plans.forEach((plan, i) => {
    const [atOpener, atAcceptor] = results[i];
    const sentByOpener = payload(i, true, plan.opener);
    const sentByAcceptor = payload(i, false, plan.acceptor);
    const anyReset = plan.opener.end === "reset" || plan.acceptor.end === "reset";
    for (const [got, sent] of [[atAcceptor, sentByOpener], [atOpener, sentByAcceptor]] as const) {
      if (!anyReset) {
        assert.equal(got.error, null, `stream ${i}: no error without a reset`);
        assert.deepEqual(
          got.bytes,
          sent,
          `stream ${i}: everything written is delivered exactly once, in order`,
        );
      } else {
        assert.deepEqual(
          got.bytes,
          sent.subarray(0, got.bytes.byteLength),
          `stream ${i}: what arrives is a prefix`,
        );
        if (got.error !== null) {
          assert.ok(
            got.error instanceof StreamResetError,
            `stream ${i}: ends with StreamResetError`,
          );
        } else {assert.equal(
            got.bytes.byteLength,
            sent.byteLength,
            `stream ${i}: a clean end means all bytes`,
          );}
      }
    }
  });
}

for (const kind of PIPE_KINDS) {
  describe(`mux properties over ${kind.name}`, () => {
    test("random interleavings of open, write, close and reset on both sides deliver exactly once, in order", async () => {
      const accepted = new Map<string, (i: IncomingStream) => void>();
      const onStream = (i: IncomingStream) => {
        const h = accepted.get(i.target)!;
        accepted.delete(i.target);
        h(i);
      };
      const p = await sessionPair(kind, { onStream }, { onStream });
      try {
        let round = 0;
        await fc.assert(
          fc.asyncProperty(scenario, async ({ streams, schedule }) => {
            const prefix = `r${round++}-`;
            const register = {
              set: (t: string, h: (i: IncomingStream) => void) => accepted.set(prefix + t, h),
            };
            await within(
              60000,
              run(
                wrapOpen(p.client, prefix),
                wrapOpen(p.server, prefix),
                streams,
                schedule,
                register,
              ),
              "scenario",
            );
            assert.equal(
              p.client.stats().bufferedIn + p.server.stats().bufferedIn,
              0,
              "all credit returned",
            );
          }),
          { numRuns: 40 },
        );
        assert.equal(p.client.stats().openStreams, 0, "every stream ended");
        assert.equal(p.server.stats().openStreams, 0, "every stream ended");
      } finally {
        await p.dispose();
      }
    });
  });
}

/** A view of a session whose open() prefixes targets, so rounds never collide. */
function wrapOpen(s: Session, prefix: string): Session {
  return { open: (t: string) => s.open(prefix + t) } as unknown as Session;
}
