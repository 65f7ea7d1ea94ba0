/**
 * Test support (not product code): writes small PDFs by hand (classic or stream xref, object streams,
 * incremental updates), runs the Debian tools, and reads files through a positional RangeReader.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { deflateSync } from 'node:zlib';
import type { RangeReader } from '../range-reader.ts';

export interface HandObject {
  num: number;
  /** Dictionary (or other object) source. */
  body: string;
  /** Stream data (a /Length is added to the dictionary). */
  stream?: Buffer;
}

export interface WriteOptions {
  version?: string;
  root: number;
  info?: number;
  /** 'hybrid': a classic table whose trailer points (/XRefStm) to a stream listing the packed objects. */
  xref: 'table' | 'stream' | 'hybrid';
  /** Objects (non-streams) to pack into one object stream (xref 'stream' or 'hybrid'). */
  inObjectStream?: number[];
  id?: [string, string];
  /** Replaces the compressed object stream data (hostile-input tests). */
  objectStreamData?: Buffer;
}

function objectBytes(o: HandObject): Buffer {
  if (!o.stream) return Buffer.from(`${o.num} 0 obj\n${o.body}\nendobj\n`, 'latin1');
  const dict = o.body.replace(/>>\s*$/, ` /Length ${o.stream.length}>>`);
  return Buffer.concat([
    Buffer.from(`${o.num} 0 obj\n${dict}\nstream\n`, 'latin1'),
    o.stream,
    Buffer.from('\nendstream\nendobj\n'),
  ]);
}

/** Writes a complete PDF from the given objects. */
export function writePdf(objects: HandObject[], options: WriteOptions): Buffer {
  const parts: Buffer[] = [Buffer.from(`%PDF-${options.version ?? '1.7'}\n%\xe2\xe3\xcf\xd3\n`, 'latin1')];
  let at = parts[0]!.length;
  const offsets = new Map<number, number>();
  const packed = new Set(options.inObjectStream ?? []);
  let max = Math.max(...objects.map((o) => o.num));
  const emit = (o: HandObject) => {
    offsets.set(o.num, at);
    const b = objectBytes(o);
    parts.push(b);
    at += b.length;
  };
  for (const o of objects) if (!packed.has(o.num)) emit(o);
  const compressed = new Map<number, [number, number]>();
  if (packed.size > 0) {
    const stm = ++max;
    const inside = objects.filter((o) => packed.has(o.num));
    let body = '';
    const header: string[] = [];
    inside.forEach((o, i) => {
      header.push(`${o.num} ${body.length}`);
      body += `${o.body}\n`;
      compressed.set(o.num, [stm, i]);
    });
    const head = `${header.join(' ')}\n`;
    const data = options.objectStreamData ?? deflateSync(Buffer.from(head + body, 'latin1'));
    emit({
      num: stm,
      body: `<</Type /ObjStm /N ${inside.length} /First ${head.length} /Filter /FlateDecode>>`,
      stream: data,
    });
  }
  const trailer = `/Root ${options.root} 0 R${options.info ? ` /Info ${options.info} 0 R` : ''}${
    options.id ? ` /ID [<${options.id[0]}> <${options.id[1]}>]` : ''
  }`;
  let hybrid = '';
  if (options.xref === 'hybrid') {
    const stmAt = at;
    const index = [...compressed.keys()].sort((a, b) => a - b);
    const data = Buffer.alloc(index.length * 7);
    index.forEach((n, i) => {
      const [stm, k] = compressed.get(n)!;
      data[i * 7] = 2;
      data.writeUInt32BE(stm, i * 7 + 1);
      data.writeUInt16BE(k, i * 7 + 5);
    });
    emit({
      num: ++max,
      body: `<</Type /XRef /Size ${max + 1} /W [1 4 2] /Index [${index.map((n) => `${n} 1`).join(' ')}]>>`,
      stream: data,
    });
    hybrid = ` /XRefStm ${stmAt}`;
  }
  if (options.xref !== 'stream') {
    const size = max + 1;
    let table = `xref\n0 ${size}\n0000000000 65535 f\r\n`;
    for (let n = 1; n < size; n++) {
      const off = offsets.get(n);
      table += off === undefined ? '0000000000 00001 f\r\n' : `${String(off).padStart(10, '0')} 00000 n\r\n`;
    }
    parts.push(
      Buffer.from(`${table}trailer\n<</Size ${size} ${trailer}${hybrid}>>\nstartxref\n${at}\n%%EOF\n`),
    );
    return Buffer.concat(parts);
  }
  const xrefNum = ++max;
  offsets.set(xrefNum, at);
  const size = max + 1;
  // Rows of [type, offset(4), gen/index(2)] with the PNG Up predictor, as pdfTeX and qpdf write them.
  const raw = Buffer.alloc(size * 8);
  let prev = Buffer.alloc(7);
  for (let n = 0; n < size; n++) {
    const row = Buffer.alloc(7);
    const off = offsets.get(n);
    const c = compressed.get(n);
    if (c) {
      row[0] = 2;
      row.writeUInt32BE(c[0], 1);
      row.writeUInt16BE(c[1], 5);
    } else if (off !== undefined) {
      row[0] = 1;
      row.writeUInt32BE(off, 1);
    } else row.writeUInt16BE(n === 0 ? 65535 : 0, 5);
    raw[n * 8] = 2;
    for (let i = 0; i < 7; i++) raw[n * 8 + 1 + i] = (row[i]! - prev[i]!) & 0xff;
    prev = row;
  }
  const xref = objectBytes({
    num: xrefNum,
    body: `<</Type /XRef /Size ${size} /W [1 4 2] ${trailer} /Filter /FlateDecode /DecodeParms <</Predictor 12 /Columns 7>>>>`,
    stream: deflateSync(raw),
  });
  parts.push(xref, Buffer.from(`startxref\n${at}\n%%EOF\n`));
  return Buffer.concat(parts);
}

/** Appends an incremental update (classic table) replacing or adding `objects`. */
export function appendUpdate(pdf: Buffer, objects: HandObject[], trailer: string): Buffer {
  const prev = Number(/startxref\s+(\d+)\s+%%EOF\s*$/.exec(pdf.toString('latin1', pdf.length - 64))![1]);
  const parts: Buffer[] = [pdf];
  let at = pdf.length;
  let table = 'xref\n';
  for (const o of objects) {
    table += `${o.num} 1\n${String(at).padStart(10, '0')} 00000 n\r\n`;
    const b = objectBytes(o);
    parts.push(b);
    at += b.length;
  }
  const size = Math.max(...objects.map((o) => o.num)) + 1;
  const sizeMatch = /\/Size (\d+)/.exec(pdf.toString('latin1'));
  const total = Math.max(size, Number(sizeMatch?.[1] ?? 0));
  parts.push(
    Buffer.from(`${table}trailer\n<</Size ${total} ${trailer} /Prev ${prev}>>\nstartxref\n${at}\n%%EOF\n`),
  );
  return Buffer.concat(parts);
}

/** A content stream writing `text` in Helvetica (/F1) at (x, y). */
export function textContent(text: string, x = 72, y = 700): Buffer {
  return Buffer.from(`BT /F1 14 Tf ${x} ${y} Td (${text}) Tj ET`, 'latin1');
}

/** Whether an executable is on the PATH (tests that need it skip otherwise). */
export function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

export function run(tool: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(tool, args, { encoding: 'latin1', maxBuffer: 256 << 20 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs gs on a PostScript program and returns the PDF path. */
export function ghostscript(
  ps: string,
  psPath: string,
  pdfPath: string,
  writeFile: (p: string, d: string) => void,
): string {
  writeFile(psPath, ps);
  execFileSync('gs', ['-q', '-dNOPAUSE', '-dBATCH', '-sDEVICE=pdfwrite', '-o', pdfPath, psPath]);
  return pdfPath;
}

/** PostScript for `pages` pages of text (each page says `Page N`). */
export function textPostScript(pages: number): string {
  return `%!PS
/Helvetica findfont 12 scalefont setfont
1 1 ${pages} { /n exch def
  72 720 moveto (Page ) show n 10 string cvs show
  0 1 30 { /l exch def 72 690 l 20 mul sub moveto (The quick brown fox jumps over the lazy dog, line ) show l 10 string cvs show } for
  showpage } for
`;
}

/** A RangeReader over a file, with positional reads (counts the bytes it reads). */
export async function fileReader(
  path: string,
): Promise<RangeReader & { bytesRead: number; close(): Promise<void> }> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  const reader = {
    size,
    bytesRead: 0,
    async read(start: number, end: number): Promise<Buffer> {
      start = Math.max(0, start);
      end = Math.min(size, end);
      if (end <= start) return Buffer.alloc(0);
      const buf = Buffer.alloc(end - start);
      const { bytesRead } = await handle.read(buf, 0, buf.length, start);
      reader.bytesRead += bytesRead;
      return buf.subarray(0, bytesRead);
    },
    close: () => handle.close(),
  };
  return reader;
}

/** OpenRange over a file for streamPlan. */
export function fileOpener(path: string): (start: number, end: number) => Promise<Readable> {
  return async (start, end) => createReadStream(path, { start, end: end - 1 });
}

/** Text of every page as pdf.js (pdfjs-dist) extracts it. */
export async function pdfjsPageTexts(data: Buffer): Promise<string[]> {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const doc = await pdfjs.getDocument({ data: new Uint8Array(data), verbosity: 0, isEvalSupported: false })
    .promise;
  try {
    const texts: string[] = [];
    for (let i = 1; i <= doc.numPages; i++) {
      const content = await (await doc.getPage(i)).getTextContent();
      texts.push(content.items.map((item) => ('str' in item ? item.str : '')).join(' '));
    }
    return texts;
  } finally {
    await doc.destroy();
  }
}
