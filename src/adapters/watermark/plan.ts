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

/** Neighbouring copies whose source bytes fit in one window are read with one open (and one read). */
const WINDOW_BYTES = 1 << 20;

/** The pieces of bytes [from, to) of the plan, in output order. */
function slice(plan: OutputPlan, from: number, to: number): Segment[] {
  const pieces: Segment[] = [];
  let offset = 0;
  for (const s of plan.segments) {
    const size = s.kind === 'copy' ? s.end - s.start : s.data.length;
    const lo = Math.max(from, offset) - offset;
    const hi = Math.min(to, offset + size) - offset;
    offset += size;
    if (lo >= hi) continue;
    pieces.push(
      s.kind === 'copy'
        ? { kind: 'copy', start: s.start + lo, end: s.start + hi }
        : { kind: 'bytes', data: s.data.subarray(lo, hi) },
    );
    if (offset >= to) break;
  }
  return pieces;
}

/**
 * Streams bytes [from, to) of the plan (the whole of it by default). A PDF copy skips thousands of page
 * objects, so it is thousands of short copies: runs of them that lie within a 1 MiB window of the master
 * are read with one range read and sliced, longer copies are piped range by range. Memory stays at a
 * window plus the stream buffers however large the file.
 */
export function streamPlan(plan: OutputPlan, open: OpenRange, from = 0, to = plan.length): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const write = async (chunk: Buffer) => {
    if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
  };
  (async () => {
    const pieces = slice(plan, from, to);
    for (let i = 0; i < pieces.length && !out.destroyed; ) {
      const first = pieces[i]!;
      if (first.kind === 'bytes') {
        await write(first.data);
        i += 1;
        continue;
      }
      // Extend the window over the following pieces while their copies go forward inside it.
      let j = i + 1;
      let end = first.end;
      while (j < pieces.length) {
        const next = pieces[j]!;
        if (next.kind === 'copy') {
          if (next.start < end || next.end - first.start > WINDOW_BYTES) break;
          end = next.end;
        }
        j += 1;
      }
      if (end - first.start > WINDOW_BYTES) {
        const source = await open(first.start, first.end);
        for await (const chunk of source) {
          if (out.destroyed) {
            source.destroy();
            return;
          }
          await write(chunk as Buffer);
        }
        i += 1;
        continue;
      }
      const parts: Buffer[] = [];
      for await (const chunk of await open(first.start, end)) parts.push(chunk as Buffer);
      const window = Buffer.concat(parts);
      for (let k = i; k < j; k++) {
        const piece = pieces[k]!;
        await write(
          piece.kind === 'copy'
            ? window.subarray(piece.start - first.start, piece.end - first.start)
            : piece.data,
        );
      }
      i = j;
    }
    out.end();
  })().catch((error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))));
  return out;
}
