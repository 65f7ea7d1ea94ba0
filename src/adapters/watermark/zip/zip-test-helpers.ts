/**
 * Test helpers for ZIP/EPUB watermarking (tests only): archives laid out by hand (including multi-GB ones with
 * sparse gaps that never touch memory or disk), file-backed readers, and the Info-ZIP / epubcheck CLIs.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { deflateRawSync } from 'node:zlib';
import type { OpenRange, OutputPlan } from '../plan.ts';
import type { RangeReader } from '../range-reader.ts';
import {
  crc32,
  DOS_EPOCH,
  MADE_BY_UNIX,
  UNIX_FILE_0644,
  writeCentralHeader,
  writeEndRecords,
} from './records.ts';

export interface HandEntry {
  name: string;
  data: Buffer;
  method?: 0 | 8;
  /** Put the local header at this absolute offset (a sparse gap of zeros before it). */
  at?: number;
}

/** Pieces of a file at absolute offsets; everything between them is zeros. */
export interface SparseFile {
  pieces: Array<{ at: number; data: Buffer }>;
  size: number;
}

/** Lays out a ZIP by hand (Zip64 records appear by themselves when counts or offsets need them). */
export function layoutZip(entries: HandEntry[], options: { comment?: Buffer } = {}): SparseFile {
  const pieces: SparseFile['pieces'] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    if (e.at !== undefined) {
      if (e.at < offset) throw new Error('entries must not overlap');
      offset = e.at;
    }
    const method = e.method ?? 0;
    const data = method === 8 ? deflateRawSync(e.data) : e.data;
    const name = Buffer.from(e.name, 'utf8');
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(method === 8 ? 20 : 10, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(DOS_EPOCH.time, 10);
    local.writeUInt16LE(DOS_EPOCH.date, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    pieces.push({ at: offset, data: Buffer.concat([local, name, data]) });
    central.push(
      writeCentralHeader({
        versionMadeBy: MADE_BY_UNIX,
        versionNeeded: method === 8 ? 20 : 10,
        flags: 0x0800,
        method,
        dosTime: DOS_EPOCH.time,
        dosDate: DOS_EPOCH.date,
        crc32: crc,
        compressedSize: data.length,
        uncompressedSize: e.data.length,
        name,
        extra: Buffer.alloc(0),
        comment: Buffer.alloc(0),
        internalAttributes: 0,
        externalAttributes: UNIX_FILE_0644,
        localHeaderOffset: offset,
      }),
    );
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = writeEndRecords({
    entries: entries.length,
    cdOffset: offset,
    cdSize: cd.length,
    comment: options.comment ?? Buffer.alloc(0),
  });
  pieces.push({ at: offset, data: Buffer.concat([cd, end]) });
  return { pieces, size: offset + cd.length + end.length };
}

/** A contiguous file from a layout without gaps. */
export function flatten(file: SparseFile): Buffer {
  const out = Buffer.alloc(file.size);
  for (const p of file.pieces) p.data.copy(out, p.at);
  return out;
}

/** A RangeReader over a sparse layout: a "4 GB" archive costs only its pieces. */
export function sparseReader(file: SparseFile): RangeReader & { reads: Array<[number, number]> } {
  const reads: Array<[number, number]> = [];
  return {
    size: file.size,
    reads,
    read: async (start, end) => {
      const a = Math.max(0, start);
      const b = Math.min(file.size, end);
      reads.push([a, b]);
      if (b - a > 256 * 1024 * 1024) throw new Error(`test reader: read of ${b - a} bytes`);
      const out = Buffer.alloc(Math.max(0, b - a));
      for (const p of file.pieces) {
        const lo = Math.max(a, p.at);
        const hi = Math.min(b, p.at + p.data.length);
        if (lo < hi) p.data.copy(out, lo - a, lo - p.at, hi - p.at);
      }
      return out;
    },
  };
}

/** Writes a sparse layout to disk (holes stay holes). */
export async function writeSparse(path: string, file: SparseFile): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(file.size);
    for (const p of file.pieces) await fh.write(p.data, 0, p.data.length, p.at);
  } finally {
    await fh.close();
  }
}

/** The plan's output as a sparse layout, when its source is one (copy ranges keep their holes). */
export function planOverSparse(plan: OutputPlan, source: SparseFile): SparseFile {
  const pieces: SparseFile['pieces'] = [];
  let out = 0;
  for (const s of plan.segments) {
    if (s.kind === 'bytes') {
      pieces.push({ at: out, data: s.data });
      out += s.data.length;
      continue;
    }
    for (const p of source.pieces) {
      const lo = Math.max(s.start, p.at);
      const hi = Math.min(s.end, p.at + p.data.length);
      if (lo < hi) pieces.push({ at: out + lo - s.start, data: p.data.subarray(lo - p.at, hi - p.at) });
    }
    out += s.end - s.start;
  }
  return { pieces, size: out };
}

/** A RangeReader over a file on disk (positional reads). */
export async function fileReader(path: string): Promise<RangeReader & { close(): Promise<void> }> {
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  return {
    size,
    read: async (start, end) => {
      const a = Math.max(0, start);
      const b = Math.min(size, end);
      const buf = Buffer.alloc(Math.max(0, b - a));
      if (buf.length > 0) await fh.read(buf, 0, buf.length, a);
      return buf;
    },
    close: () => fh.close(),
  };
}

export function fileOpenRange(path: string): OpenRange {
  return async (start, end) => createReadStream(path, { start, end: end - 1 });
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface RunResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

export function run(cmd: string, args: string[], options: { cwd?: string; input?: string } = {}): RunResult {
  const r = spawnSync(cmd, args, { cwd: options.cwd, input: options.input, maxBuffer: 512 * 1024 * 1024 });
  return {
    status: r.status,
    stdout: r.stdout ?? Buffer.alloc(0),
    stderr: (r.stderr ?? Buffer.alloc(0)).toString(),
  };
}

export function hasTool(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** The epubcheck jar (Debian package `epubcheck`), if it and java are installed. */
export function epubcheckJar(): string | undefined {
  if (!hasTool('java')) return undefined;
  const listed = spawnSync('dpkg', ['-L', 'epubcheck']);
  const fromDpkg = (listed.stdout?.toString() ?? '')
    .split('\n')
    .find((l) => /\/usr\/share\/java\/epubcheck\.jar$/.test(l));
  const jar = fromDpkg ?? '/usr/share/java/epubcheck.jar';
  return existsSync(jar) ? jar : undefined;
}

/** Runs epubcheck; `ok` is its verdict, `messages` the ERROR/FATAL lines. */
export function epubcheck(jar: string, path: string): { ok: boolean; messages: string[]; output: string } {
  const r = run('java', ['-jar', jar, path]);
  const output = r.stdout.toString() + r.stderr;
  return { ok: r.status === 0, messages: output.split('\n').filter((l) => /^(ERROR|FATAL)/.test(l)), output };
}
