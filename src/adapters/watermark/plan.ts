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
 * Streams bytes [from, to) of the plan (the whole of it by default). Copies whose master ranges follow each
 * other closely (gaps ≤ MAX_GAP: the replaced objects and cut xref sections between them) are read as ONE
 * ranged stream, the gap bytes skipped, so a 2,000-page rewrite opens the master a few times instead of once
 * per page (and makes a few ranged GETs on S3/R2, not thousands); small pieces are batched into ≥ BATCH
 * writes. Memory stays at a few stream buffers however large the file.
 */
export function streamPlan(plan: OutputPlan, open: OpenRange, from = 0, to = plan.length): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const MAX_GAP = 256 << 10;
  const BATCH = 256 << 10;
  const segs: Segment[] = [];
  let offset = 0;
  for (const s of plan.segments) {
    const size = s.kind === 'copy' ? s.end - s.start : s.data.length;
    const a = Math.max(from, offset);
    const b = Math.min(to, offset + size);
    const base = offset;
    offset += size;
    if (a >= b) continue;
    if (s.kind === 'bytes') segs.push({ kind: 'bytes', data: s.data.subarray(a - base, b - base) });
    else segs.push({ kind: 'copy', start: s.start + a - base, end: s.start + b - base });
  }
  (async () => {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (force: boolean) => {
      if (pendingBytes === 0 || (!force && pendingBytes < BATCH)) return;
      const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      if (out.destroyed) throw new Error('the response was closed');
      if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
    };
    const push = async (b: Buffer) => {
      pending.push(b);
      pendingBytes += b.length;
      await flush(false);
    };
    let i = 0;
    while (i < segs.length) {
      const s = segs[i]!;
      if (s.kind === 'bytes') {
        await push(s.data);
        i++;
        continue;
      }
      let j = i;
      let last = s;
      for (let k = i + 1; k < segs.length; k++) {
        const t = segs[k]!;
        if (t.kind === 'bytes') continue;
        if (t.start < last.end || t.start - last.end > MAX_GAP) break;
        j = k;
        last = t;
      }
      const source = await open(s.start, last.end);
      const chunks = source[Symbol.asyncIterator]();
      let buf: Buffer = Buffer.alloc(0);
      let bufAt = s.start;
      const take = async (start: number, end: number, keep: boolean) => {
        let pos = start;
        while (pos < end) {
          if (pos >= bufAt + buf.length) {
            const r = await chunks.next();
            if (r.done) throw new Error('short read of the master');
            bufAt += buf.length;
            buf = r.value as Buffer;
            continue;
          }
          const e = Math.min(end, bufAt + buf.length);
          if (keep) await push(buf.subarray(pos - bufAt, e - bufAt));
          pos = e;
        }
      };
      try {
        let at = s.start;
        for (let k = i; k <= j; k++) {
          const t = segs[k]!;
          if (t.kind === 'bytes') {
            await push(t.data);
            continue;
          }
          await take(at, t.start, false);
          await take(t.start, t.end, true);
          at = t.end;
        }
      } finally {
        source.destroy();
      }
      i = j + 1;
    }
    await flush(true);
    out.end();
  })().catch((error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))));
  return out;
}
