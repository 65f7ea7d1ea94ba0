import { describe, expect, it } from 'vitest';
import { bufferReader, type RangeReader } from '../range-reader.ts';
import { readCentralDirectory } from './central-directory.ts';
import { findZipMarks } from './find-marks.ts';
import { markedComment, writeEndRecords } from './records.ts';
import { ZipError } from './zip-error.ts';
import { flatten, layoutZip, sparseReader } from './zip-test-helpers.ts';
import { planZipWatermark } from './zip-watermark.ts';

const TOKEN = 'WMK7Q2ZP4XJ3D3M5T6R2AB';

function sample(comment = ''): Buffer {
  return flatten(
    layoutZip(
      [
        { name: 'a.txt', data: Buffer.from('alpha\n'.repeat(20)) },
        { name: 'dir/b.txt', data: Buffer.from('bravo\n'.repeat(50)), method: 8 },
        { name: 'c.bin', data: Buffer.alloc(300, 7) },
      ],
      { comment: Buffer.from(comment) },
    ),
  );
}

async function expectZipError(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ZipError);
  expect((error as ZipError).code).toBe(code);
  if (message) expect((error as ZipError).message).toMatch(message);
}

/** Offset of the end of central directory record in a buffer without a comment. */
function eocd(buf: Buffer): number {
  return buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
}

describe('readCentralDirectory', () => {
  it('reads names, methods, sizes, offsets and the comment', async () => {
    const cd = await readCentralDirectory(bufferReader(sample('hello')));
    expect(cd.entries.map((e) => [e.name, e.method, e.uncompressedSize])).toEqual([
      ['a.txt', 0, 120],
      ['dir/b.txt', 8, 300],
      ['c.bin', 0, 300],
    ]);
    expect(cd.entries[0]!.localHeaderOffset).toBe(0);
    expect(cd.entries[0]!.end).toBe(cd.entries[1]!.localHeaderOffset);
    expect(cd.entries[2]!.end).toBe(cd.offset);
    expect(cd.comment.toString()).toBe('hello');
    expect(cd.zip64).toBe(false);
  });

  it('finds the end record behind a 65,535-byte comment that itself contains a signature', async () => {
    const comment = `${'x'.repeat(1000)}PK\x05\x06${'y'.repeat(65535 - 1004)}`;
    const buf = sample(comment);
    const cd = await readCentralDirectory(bufferReader(buf));
    expect(cd.comment.length).toBe(65535);
    expect(cd.entries).toHaveLength(3);
    // The comment we write drops an original one that could fool backwards scans.
    expect(markedComment(cd.comment, TOKEN).toString()).toBe(`CloudSecure license ${TOKEN}`);
  });

  it('reads through positional reads only (tail + central directory)', async () => {
    const layout = layoutZip([
      { name: 'a', data: Buffer.alloc(10) },
      { name: 'b', data: Buffer.alloc(10), at: 50_000_000 },
    ]);
    const reader = sparseReader(layout);
    await readCentralDirectory(reader);
    expect(reader.reads.every(([a]) => a >= layout.size - 70_000)).toBe(true);
  });

  it('writes Zip64 end records only when needed, and reads them back', async () => {
    expect(writeEndRecords({ entries: 3, cdOffset: 100, cdSize: 50, comment: Buffer.alloc(0) })).toHaveLength(
      22,
    );
    const end = writeEndRecords({
      entries: 70_000,
      cdOffset: 2 ** 33,
      cdSize: 2 ** 32 + 5,
      comment: Buffer.from('c'),
    });
    expect(end).toHaveLength(56 + 20 + 22 + 1);
    expect(end.readUInt32LE(0)).toBe(0x06064b50);
    expect(end.readBigUInt64LE(32)).toBe(70_000n);
    expect(end.readBigUInt64LE(40)).toBe(BigInt(2 ** 32 + 5));
    expect(end.readBigUInt64LE(48)).toBe(BigInt(2 ** 33));
    expect(end.readUInt32LE(56)).toBe(0x07064b50);
    expect(end.readBigUInt64LE(64)).toBe(BigInt(2 ** 33 + 2 ** 32 + 5));
    expect(end.readUInt16LE(76 + 10)).toBe(0xffff);
    expect(end.readUInt32LE(76 + 12)).toBe(0xffffffff);
    expect(end.readUInt32LE(76 + 16)).toBe(0xffffffff);
  });
});

describe('hostile and broken archives', () => {
  it('refuses things that are not ZIPs', async () => {
    await expectZipError(readCentralDirectory(bufferReader(Buffer.alloc(0))), 'BROKEN');
    await expectZipError(readCentralDirectory(bufferReader(Buffer.from('%PDF-1.7\n'.repeat(100)))), 'BROKEN');
    await expectZipError(readCentralDirectory(bufferReader(Buffer.alloc(100_000))), 'BROKEN');
  });

  it('refuses every truncation of a valid archive', async () => {
    const buf = sample();
    for (let n = 0; n < buf.length; n++) {
      await expectZipError(readCentralDirectory(bufferReader(buf.subarray(0, n))), 'BROKEN');
    }
  });

  it('refuses a central directory offset past the end of the file', async () => {
    const buf = Buffer.from(sample());
    buf.writeUInt32LE(buf.length + 1000, eocd(buf) + 16);
    await expectZipError(readCentralDirectory(bufferReader(buf)), 'BROKEN', /outside/);
  });

  it('refuses entry counts the central directory cannot hold, before reading it', async () => {
    const buf = Buffer.from(sample());
    buf.writeUInt16LE(0xfffe, eocd(buf) + 8);
    buf.writeUInt16LE(0xfffe, eocd(buf) + 10);
    await expectZipError(readCentralDirectory(bufferReader(buf)), 'BROKEN', /count/);
  });

  it('refuses a Zip64 entry count above the limit, and a central directory above the size limit', async () => {
    const layout = layoutZip(
      Array.from({ length: 70_000 }, (_, i) => ({ name: `${i}`, data: Buffer.alloc(0) })),
    );
    const buf = flatten(layout);
    const rec = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x06, 0x06]));
    const huge = Buffer.from(buf);
    huge.writeBigUInt64LE(10n ** 12n, rec + 24);
    huge.writeBigUInt64LE(10n ** 12n, rec + 32);
    await expectZipError(readCentralDirectory(bufferReader(huge)), 'LIMIT', /too many entries/);
    await expectZipError(
      readCentralDirectory(bufferReader(buf), { maxEntries: 1_000_000, maxCentralDirectoryBytes: 1024 }),
      'LIMIT',
    );
    const beyond = Buffer.from(buf);
    beyond.writeBigUInt64LE(2n ** 62n, rec + 48);
    await expectZipError(readCentralDirectory(bufferReader(beyond)), 'BROKEN');
  });

  it('refuses a Zip64 locator pointing at itself or past the end', async () => {
    const buf = flatten(
      layoutZip(Array.from({ length: 66_000 }, (_, i) => ({ name: `${i}`, data: Buffer.alloc(0) }))),
    );
    const loc = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x06, 0x07]));
    for (const target of [BigInt(loc), BigInt(buf.length), 2n ** 63n, 0n]) {
      const bad = Buffer.from(buf);
      bad.writeBigUInt64LE(target, loc + 8);
      await expectZipError(readCentralDirectory(bufferReader(bad)), 'BROKEN');
    }
  });

  it('refuses overlapping entries (two names for the same bytes: the classic ZIP bomb)', async () => {
    const buf = Buffer.from(sample());
    const cd = await readCentralDirectory(bufferReader(buf));
    // Point entry 2's central header at entry 1's local header.
    const second = buf.indexOf(Buffer.from('dir/b.txt'), cd.offset) - 46;
    buf.writeUInt32LE(0, second + 42);
    await expectZipError(readCentralDirectory(bufferReader(buf)), 'BROKEN', /overlaps/);
  });

  it('refuses central directories that say fewer entries than they hold', async () => {
    const buf = Buffer.from(sample());
    buf.writeUInt16LE(2, eocd(buf) + 8);
    buf.writeUInt16LE(2, eocd(buf) + 10);
    await expectZipError(readCentralDirectory(bufferReader(buf)), 'BROKEN', /more entries/);
  });

  it('refuses multi-disk archives', async () => {
    const buf = Buffer.from(sample());
    buf.writeUInt16LE(1, eocd(buf) + 4);
    await expectZipError(readCentralDirectory(bufferReader(buf)), 'UNSUPPORTED');
  });

  it('survives random corruption: a ZipError or a consistent result, nothing else', async () => {
    const base = sample('comment');
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let refused = 0;
    for (let round = 0; round < 1500; round++) {
      const buf = Buffer.from(base);
      const flips = 1 + rand(4);
      // Aim most flips at the central directory and end record, where the parser looks.
      for (let k = 0; k < flips; k++) {
        const at = rand(3) === 0 ? rand(buf.length) : buf.length - 1 - rand(260);
        buf[at] = rand(256);
      }
      const reader = bufferReader(buf);
      for (const job of [
        () => readCentralDirectory(reader),
        () => planZipWatermark(reader, { licenseName: 'LICENSE-1.txt', licenseText: 'x', token: TOKEN }),
        () => findZipMarks(reader),
      ]) {
        try {
          await job();
        } catch (e) {
          if (!(e instanceof ZipError)) throw new Error(`round ${round}: ${String(e)}`);
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it('answers quickly for a reader that pretends to be a 1 TB file of zeros', async () => {
    const reader: RangeReader = {
      size: 2 ** 40,
      read: async (start, end) => Buffer.alloc(Math.min(end, 2 ** 40) - start),
    };
    await expectZipError(readCentralDirectory(reader), 'BROKEN');
  });
});
