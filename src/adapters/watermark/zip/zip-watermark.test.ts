import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OutputPlan, streamPlan } from '../plan.ts';
import { bufferReader } from '../range-reader.ts';
import { readCentralDirectory } from './central-directory.ts';
import { findZipMarks } from './find-marks.ts';
import {
  fileOpenRange,
  fileReader,
  flatten,
  hasTool,
  layoutZip,
  planOverSparse,
  readAll,
  run,
  sparseReader,
  writeSparse,
} from './zip-test-helpers.ts';
import { planZipWatermark } from './zip-watermark.ts';

const TOKEN = 'WMK7Q2ZP4XJ3D3M5T6R2AB';
const OTHER = 'WMAAAAAAAAAAAAAAAAAAAA';
const TEXT = 'This licence is granted to José Müller <jose@example.com> for order 1042.\n';
const haveZip = hasTool('zip') && hasTool('unzip');
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zipwm-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function materialize(plan: OutputPlan, source: string, target: string): Promise<Buffer> {
  const out = await readAll(streamPlan(plan, fileOpenRange(source)));
  writeFileSync(target, out);
  return out;
}

function entriesOf(path: string): string[] {
  return run('unzip', ['-Z1', path]).stdout.toString().split('\n').filter(Boolean);
}

function makeCliZip(name: string, withComment: boolean): string {
  const src = join(dir, `${name}-src`);
  mkdirSync(join(src, 'assets'), { recursive: true });
  writeFileSync(join(src, 'readme.txt'), 'Hello plugin\n'.repeat(200));
  writeFileSync(join(src, 'assets', 'blob.bin'), randomBytes(40_000));
  writeFileSync(join(src, 'assets', 'style.css'), 'body { color: red }\n'.repeat(50));
  writeFileSync(join(src, 'empty.txt'), '');
  const zip = join(dir, `${name}.zip`);
  // blob.bin stored (-n .bin), the rest deflated.
  const r = run('zip', ['-q', '-r', '-n', '.bin', zip, 'readme.txt', 'assets', 'empty.txt'], { cwd: src });
  expect(r.status, r.stderr).toBe(0);
  if (withComment) {
    expect(run('zip', ['-q', '-z', zip], { input: 'Original archive comment\n' }).status).toBe(0);
  }
  return zip;
}

describe.skipIf(!haveZip)('planZipWatermark on archives made by the zip CLI', () => {
  it('appends the licence, keeps every original byte before the central directory, passes unzip -t', async () => {
    const zip = makeCliZip('plain', true);
    const original = readFileSync(zip);
    const reader = await fileReader(zip);
    const cd = await readCentralDirectory(reader);
    expect(cd.entries.map((e) => [e.name, e.method])).toEqual(
      expect.arrayContaining([
        ['assets/blob.bin', 0],
        ['readme.txt', 8],
      ]),
    );
    const plan = await planZipWatermark(reader, {
      licenseName: 'LICENSE-1042.txt',
      licenseText: TEXT,
      token: TOKEN,
    });
    await reader.close();
    const outPath = join(dir, 'plain-wm.zip');
    const out = await materialize(plan, zip, outPath);
    expect(out.length).toBe(plan.length);
    expect(out.subarray(0, cd.offset).equals(original.subarray(0, cd.offset))).toBe(true);

    const t = run('unzip', ['-t', outPath]);
    expect(t.status, t.stdout.toString() + t.stderr).toBe(0);
    expect(entriesOf(outPath)).toEqual([...entriesOf(zip), 'LICENSE-1042.txt']);
    for (const name of entriesOf(zip)) {
      expect(run('unzip', ['-p', outPath, name]).stdout.equals(run('unzip', ['-p', zip, name]).stdout)).toBe(
        true,
      );
    }
    const licence = run('unzip', ['-p', outPath, 'LICENSE-1042.txt']).stdout.toString('utf8');
    expect(licence).toContain('José Müller <jose@example.com>');
    expect(licence).toContain(TOKEN);
    const comment = run('unzip', ['-z', outPath]).stdout.toString();
    expect(comment).toContain('Original archive comment');
    expect(comment).toContain(`CloudSecure license ${TOKEN}`);
    // Extracted with ordinary permissions.
    expect(run('zipinfo', [outPath, 'LICENSE-1042.txt']).stdout.toString()).toMatch(/^-rw-r--r--/);

    expect(await findZipMarks(bufferReader(out))).toEqual([TOKEN]);
    expect(await findZipMarks(bufferReader(original))).toEqual([]);
  });

  it('is deterministic, differs per token, and any Range slice equals the same slice of the whole', async () => {
    const zip = makeCliZip('det', false);
    const reader = await fileReader(zip);
    const input = { licenseName: 'LICENSE-7.txt', licenseText: TEXT, token: TOKEN };
    const a = await readAll(streamPlan(await planZipWatermark(reader, input), fileOpenRange(zip)));
    const plan = await planZipWatermark(reader, input);
    const b = await readAll(streamPlan(plan, fileOpenRange(zip)));
    const c = await readAll(
      streamPlan(await planZipWatermark(reader, { ...input, token: OTHER }), fileOpenRange(zip)),
    );
    await reader.close();
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    const cuts = [0, 1, 17, 100, a.length - 300, a.length - 40, a.length - 1, a.length];
    for (const from of cuts) {
      for (const to of cuts) {
        if (to <= from) continue;
        const slice = await readAll(streamPlan(plan, fileOpenRange(zip), from, to));
        expect(slice.equals(a.subarray(from, to)), `${from}-${to}`).toBe(true);
      }
    }
  });

  it('picks another name when the archive already has the licence file', async () => {
    const src = join(dir, 'collide-src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'LICENSE-1042.txt'), 'seller licence\n');
    writeFileSync(join(src, 'license-1042-2.txt'), 'also taken (case differs)\n');
    const zip = join(dir, 'collide.zip');
    run('zip', ['-q', zip, 'LICENSE-1042.txt', 'license-1042-2.txt'], { cwd: src });
    const reader = await fileReader(zip);
    const plan = await planZipWatermark(reader, {
      licenseName: 'LICENSE-1042.txt',
      licenseText: TEXT,
      token: TOKEN,
    });
    await reader.close();
    const outPath = join(dir, 'collide-wm.zip');
    await materialize(plan, zip, outPath);
    expect(run('unzip', ['-t', outPath]).status).toBe(0);
    expect(entriesOf(outPath)).toEqual(['LICENSE-1042.txt', 'license-1042-2.txt', 'LICENSE-1042-3.txt']);
    expect(run('unzip', ['-p', outPath, 'LICENSE-1042.txt']).stdout.toString()).toBe('seller licence\n');
  });

  it('handles entries with data descriptors (zip reading from a pipe)', async () => {
    const zip = join(dir, 'stream.zip');
    const r = run('sh', ['-c', `printf 'piped content\\n%.0s' $(seq 1 300) | zip -q - - | cat > ${zip}`]);
    expect(r.status, r.stderr).toBe(0);
    const reader = await fileReader(zip);
    const cd = await readCentralDirectory(reader);
    expect(cd.entries[0]!.flags & 0x8).toBe(0x8);
    const plan = await planZipWatermark(reader, {
      licenseName: 'LICENSE-1.txt',
      licenseText: TEXT,
      token: TOKEN,
    });
    await reader.close();
    const outPath = join(dir, 'stream-wm.zip');
    await materialize(plan, zip, outPath);
    expect(run('unzip', ['-t', outPath]).status).toBe(0);
    expect(run('unzip', ['-p', outPath, '-']).stdout.equals(run('unzip', ['-p', zip, '-']).stdout)).toBe(
      true,
    );
  });

  it('reads Zip64 archives written by zip -fz, and refuses the broken one zip -fz writes to a pipe', async () => {
    const src = join(dir, 'fz-src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'zip64 forced\n'.repeat(100));
    const zip = join(dir, 'fz.zip');
    expect(run('zip', ['-q', '-fz', zip, 'a.txt'], { cwd: src }).status).toBe(0);
    const reader = await fileReader(zip);
    expect((await readCentralDirectory(reader)).zip64).toBe(true);
    const plan = await planZipWatermark(reader, {
      licenseName: 'LICENSE-1.txt',
      licenseText: TEXT,
      token: TOKEN,
    });
    await reader.close();
    const outPath = join(dir, 'fz-wm.zip');
    await materialize(plan, zip, outPath);
    const t = run('unzip', ['-t', outPath]);
    expect(t.status, t.stdout.toString()).toBe(0);
    expect(run('unzip', ['-p', outPath, 'a.txt']).stdout.toString()).toBe('zip64 forced\n'.repeat(100));

    // Streamed, zip marks the offset as Zip64 (0xFFFFFFFF) but writes no Zip64 end record; unzip fails it too.
    const piped = join(dir, 'fz-pipe.zip');
    expect(run('sh', ['-c', `cd ${src} && zip -q -fz - a.txt | cat > ${piped}`]).status).toBe(0);
    expect(run('unzip', ['-t', piped]).status).not.toBe(0);
    const bad = await fileReader(piped);
    await expect(readCentralDirectory(bad)).rejects.toMatchObject({ name: 'ZipError', code: 'BROKEN' });
    await bad.close();
  });
});

describe('planZipWatermark and Zip64', () => {
  it('writes Zip64 end records for more than 65,535 entries (unzip -t agrees)', async () => {
    const entries = Array.from({ length: 70_000 }, (_, i) => ({
      name: `f/${i}.txt`,
      data: Buffer.from(`${i}\n`),
    }));
    const input = flatten(layoutZip(entries));
    const cdIn = await readCentralDirectory(bufferReader(input));
    expect(cdIn.zip64).toBe(true);
    const plan = await planZipWatermark(bufferReader(input), {
      licenseName: 'LICENSE-9.txt',
      licenseText: TEXT,
      token: TOKEN,
    });
    const out = await readAll(streamPlan(plan, async (s, e) => Readable.from([input.subarray(s, e)])));
    const cd = await readCentralDirectory(bufferReader(out));
    expect(cd.zip64).toBe(true);
    expect(cd.entries).toHaveLength(70_001);
    expect(cd.entries.at(-1)!.name).toBe('LICENSE-9.txt');
    if (haveZip) {
      const outPath = join(dir, 'many-wm.zip');
      writeFileSync(outPath, out);
      const t = run('unzip', ['-tq', outPath]);
      expect(t.status, t.stdout.toString() + t.stderr).toBe(0);
      expect(run('unzip', ['-p', outPath, 'f/69999.txt']).stdout.toString()).toBe('69999\n');
    }
  });

  it('watermarks an archive larger than 4 GB (sparse, never in memory)', async () => {
    const big = 2 ** 32 + 4096;
    const layout = layoutZip([
      { name: 'a.txt', data: Buffer.from('first entry\n') },
      { name: 'b.txt', data: Buffer.from('second entry\n'.repeat(100)), method: 8 },
      { name: 'c.txt', data: Buffer.from('beyond four gigabytes\n'), at: big },
    ]);
    const reader = sparseReader(layout);
    const cdIn = await readCentralDirectory(reader);
    expect(cdIn.entries[2]!.localHeaderOffset).toBe(big);
    expect(cdIn.offset).toBeGreaterThan(2 ** 32);
    // Only the tail and the central directory were read.
    expect(reader.reads.reduce((n, [a, b]) => n + b - a, 0)).toBeLessThan(100_000);

    const plan = await planZipWatermark(reader, {
      licenseName: 'LICENSE-5.txt',
      licenseText: TEXT,
      token: TOKEN,
    });
    expect(plan.segments[0]).toEqual({ kind: 'copy', start: 0, end: cdIn.offset });
    const output = planOverSparse(plan, layout);
    expect(output.size).toBe(plan.length);
    const outCd = await readCentralDirectory(sparseReader(output));
    expect(outCd.zip64).toBe(true);
    expect(outCd.entries.map((e) => [e.name, e.localHeaderOffset])).toEqual([
      ['a.txt', 0],
      ['b.txt', cdIn.entries[1]!.localHeaderOffset],
      ['c.txt', big],
      ['LICENSE-5.txt', cdIn.offset],
    ]);
    expect(await findZipMarks(sparseReader(output))).toEqual([TOKEN]);

    if (haveZip) {
      const inPath = join(dir, 'big.zip');
      const outPath = join(dir, 'big-wm.zip');
      await writeSparse(inPath, layout);
      expect(run('unzip', ['-tq', inPath]).status).toBe(0);
      await writeSparse(outPath, output);
      try {
        const t = run('unzip', ['-t', outPath]);
        expect(t.status, t.stdout.toString() + t.stderr).toBe(0);
        expect(run('unzip', ['-p', outPath, 'c.txt']).stdout.toString()).toBe('beyond four gigabytes\n');
        expect(run('unzip', ['-p', outPath, 'LICENSE-5.txt']).stdout.toString()).toContain(TOKEN);
      } finally {
        rmSync(inPath, { force: true });
        rmSync(outPath, { force: true });
      }
    }
  });

  it('rejects unsafe licence names and tokens (caller bugs, not archive problems)', async () => {
    const input = bufferReader(flatten(layoutZip([{ name: 'a', data: Buffer.from('a') }])));
    await expect(
      planZipWatermark(input, { licenseName: '../x.txt', licenseText: '', token: TOKEN }),
    ).rejects.toThrow(/unsafe/);
    await expect(
      planZipWatermark(input, { licenseName: 'LICENSE-1.txt', licenseText: '', token: 'bad token\n' }),
    ).rejects.toThrow(/token/);
  });
});
