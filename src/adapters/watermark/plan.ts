import { PassThrough, type Readable } from 'node:stream';

/**
 * A watermarked file as a list of pieces: byte ranges copied from the stored master, and bytes made for
 * this buyer. Its length is known before the first byte is sent, every byte is a function of (grant,
 * file version), and any slice of it can be produced without making the rest (HTTP Range, resume).
 */
export type Segment =
  | { kind: 'copy' /** first byte, inclusive */; start: number /** exclusive */; end: number }
  | { kind: 'bytes'; data: Buffer };

export interface OutputPlan {
  segments: Segment[];
  length: number;
}

/** Builds a plan, merging adjacent copies and dropping empty pieces. */
export function makePlan(segments: Segment[]): OutputPlan {
  const merged: Segment[] = [];
  let length = 0;
  for (const s of segments) {
    const size = s.kind === 'copy' ? s.end - s.start : s.data.length;
    if (size <= 0) continue;
    const last = merged.at(-1);
    if (s.kind === 'copy' && last?.kind === 'copy' && last.end === s.start) last.end = s.end;
    else merged.push(s.kind === 'copy' ? { ...s } : s);
    length += size;
  }
  return { segments: merged, length };
}

/** Opens a stream over [start, end) of the stored master. */
export type OpenRange = (start: number, end: number) => Promise<Readable>;

/**
 * Streams bytes [from, to) of the plan (the whole of it by default): copies are piped from the master
 * range by range, so memory stays at a few stream buffers however large the file.
 */
export function streamPlan(plan: OutputPlan, open: OpenRange, from = 0, to = plan.length): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  (async () => {
    let offset = 0;
    for (const s of plan.segments) {
      const size = s.kind === 'copy' ? s.end - s.start : s.data.length;
      const a = Math.max(from, offset);
      const b = Math.min(to, offset + size);
      offset += size;
      if (a >= b) continue;
      const lo = a - (offset - size);
      const hi = b - (offset - size);
      if (s.kind === 'bytes') {
        if (!out.write(s.data.subarray(lo, hi))) await new Promise((r) => out.once('drain', r));
        continue;
      }
      const source = await open(s.start + lo, s.start + hi);
      for await (const chunk of source) {
        if (out.destroyed) {
          source.destroy();
          return;
        }
        if (!out.write(chunk as Buffer)) await new Promise((r) => out.once('drain', r));
      }
      if (offset >= to) break;
    }
    out.end();
  })().catch((error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))));
  return out;
}
