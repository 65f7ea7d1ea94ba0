/**
 * Independent checks of PDF files for the watermark tests: qpdf, poppler (pdftotext, pdfinfo), Ghostscript,
 * pdf.js and pdf-lib. External tools run through `execFile` with a hard timeout (SIGKILL), so a file that makes
 * a tool hang fails the test instead of stalling it. pdf-lib runs in a child process for the same reason.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RangeReader } from '../../src/adapters/watermark/range-reader.ts';

export interface ToolOptions {
  /** Hard limit; the tool is killed (SIGKILL) after it. Default 120 s. */
  timeoutMs?: number;
  /** Password for encrypted input (user or owner). */
  password?: string;
}

export interface ToolRun {
  /** Exit code (a tool killed by a signal other than the timeout gives -1). */
  code: number;
  stdout: string;
  stderr: string;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** Runs `command` and resolves with its exit code and output, whatever the code; rejects on timeout. */
export function runTool(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; cwd?: string } = {},
): Promise<ToolRun> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      { cwd: options.cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 30, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new Error(`${command} is not installed`));
          return;
        }
        if (error && 'killed' in error && error.killed) {
          reject(new Error(`${command} ${args.join(' ')} timed out after ${timeoutMs} ms`));
          return;
        }
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Which of the given command-line tools are not on PATH (sync, for `describe.skipIf`). */
export function missingTools(tools: readonly string[] = ['gs', 'qpdf', 'pdftotext', 'pdfinfo']): string[] {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return tools.filter(
    (tool) =>
      !dirs.some((dir) => {
        try {
          accessSync(join(dir, tool), fsConstants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
  );
}

function passwordArgs(flag: string, options: ToolOptions): string[] {
  return options.password === undefined ? [] : [flag, options.password];
}

export interface QpdfCheck {
  /** Exit code 0 and no warnings. */
  ok: boolean;
  /** qpdf's exit code: 0 clean, 2 errors, 3 warnings. */
  exitCode: number;
  /** Lines `qpdf: …` (fatal errors such as "invalid password"), without "operation succeeded with warnings". */
  errors: string[];
  /** Lines `WARNING: …`. */
  warnings: string[];
  /** stdout + stderr, for failure messages. */
  output: string;
}

/** `qpdf --check FILE`. */
export async function qpdfCheck(path: string, options: ToolOptions = {}): Promise<QpdfCheck> {
  const args = [
    ...(options.password === undefined ? [] : [`--password=${options.password}`]),
    '--check',
    path,
  ];
  const run = await runTool('qpdf', args, options);
  const lines = `${run.stdout}\n${run.stderr}`.split('\n').map((line) => line.trim());
  const warnings = lines.filter((line) => line.startsWith('WARNING:'));
  const errors = lines.filter(
    (line) => line.startsWith('qpdf:') && !line.includes('operation succeeded with warnings'),
  );
  if (run.code === 2 && errors.length === 0) errors.push(run.stderr.trim() || 'qpdf exited with code 2');
  return {
    ok: run.code === 0 && warnings.length === 0,
    exitCode: run.code,
    errors,
    warnings,
    output: `${run.stdout}${run.stderr}`,
  };
}

/**
 * Text of every page by `pdftotext -layout` (one run; pages split at the form feeds it writes), so
 * `result[i]` is page i + 1. Throws when pdftotext fails.
 */
export async function pdftotextPages(
  path: string,
  options: ToolOptions & { layout?: boolean } = {},
): Promise<string[]> {
  const args = [
    ...(options.layout === false ? [] : ['-layout']),
    '-enc',
    'UTF-8',
    ...passwordArgs('-upw', options),
    path,
    '-',
  ];
  const run = await runTool('pdftotext', args, options);
  if (run.code !== 0) throw new Error(`pdftotext failed (${run.code}) on ${path}: ${run.stderr.trim()}`);
  const pages = run.stdout.split('\f');
  if (pages.at(-1) === '') pages.pop();
  return pages;
}

/** `pdfinfo FILE` as key → value ("Pages" → "2000", "Encrypted" → "yes (…)", …). */
export async function pdfInfo(path: string, options: ToolOptions = {}): Promise<Record<string, string>> {
  const run = await runTool('pdfinfo', [...passwordArgs('-upw', options), path], options);
  if (run.code !== 0) throw new Error(`pdfinfo failed (${run.code}) on ${path}: ${run.stderr.trim()}`);
  const info: Record<string, string> = {};
  for (const line of run.stdout.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) info[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return info;
}

/** Page count by pdfinfo. */
export async function pageCount(path: string, options: ToolOptions = {}): Promise<number> {
  const pages = Number((await pdfInfo(path, options)).Pages);
  if (!Number.isInteger(pages)) throw new Error(`pdfinfo reported no page count for ${path}`);
  return pages;
}

/** `qpdf --show-object=trailer` (the trailer dictionary as qpdf prints it, e.g. to look at /ID and /Info). */
export async function qpdfTrailer(path: string, options: ToolOptions = {}): Promise<string> {
  const args = [
    ...(options.password === undefined ? [] : [`--password=${options.password}`]),
    '--show-object=trailer',
    path,
  ];
  const run = await runTool('qpdf', args, options);
  if (run.code !== 0 && run.code !== 3)
    throw new Error(`qpdf failed (${run.code}) on ${path}: ${run.stderr.trim()}`);
  return run.stdout.trim();
}

const EOF_MARKER = Buffer.from('%%EOF', 'latin1');

/** How many times `%%EOF` occurs in the bytes. */
export function eofCount(data: Buffer): number {
  let count = 0;
  for (let at = data.indexOf(EOF_MARKER); at !== -1; at = data.indexOf(EOF_MARKER, at + EOF_MARKER.length))
    count++;
  return count;
}

/**
 * Every prefix of the bytes that ends right after a `%%EOF` marker, first to last (views, not copies). For a
 * file that ends with `%%EOF\n` the last prefix is the whole file minus that newline. Used for the
 * "cut at an earlier %%EOF gives back the unmarked original" revert attack.
 */
export function prefixesAtEof(data: Buffer): Buffer[] {
  const prefixes: Buffer[] = [];
  for (let at = data.indexOf(EOF_MARKER); at !== -1; at = data.indexOf(EOF_MARKER, at + EOF_MARKER.length)) {
    prefixes.push(data.subarray(0, at + EOF_MARKER.length));
  }
  return prefixes;
}

/** `qpdf IN OUT` (a plain re-save: new xref, new /ID). Resolves with qpdf's warnings; throws on errors. */
export async function qpdfResave(
  input: string,
  output: string,
  options: ToolOptions & { args?: string[] } = {},
): Promise<{ warnings: string[] }> {
  const args = [
    ...(options.password === undefined ? [] : [`--password=${options.password}`]),
    ...(options.args ?? []),
    input,
    output,
  ];
  const run = await runTool('qpdf', args, options);
  if (run.code !== 0 && run.code !== 3)
    throw new Error(`qpdf failed (${run.code}) on ${input}: ${run.stderr.trim()}`);
  return { warnings: run.stderr.split('\n').filter((line) => line.startsWith('WARNING:')) };
}

/** Ghostscript re-distil (`gs -sDEVICE=pdfwrite`), like "print to PDF". */
export async function gsResave(input: string, output: string, options: ToolOptions = {}): Promise<void> {
  const args = [
    '-q',
    '-dNOPAUSE',
    '-dBATCH',
    '-dSAFER',
    ...(options.password === undefined ? [] : [`-sPDFPassword=${options.password}`]),
    '-sDEVICE=pdfwrite',
    '-o',
    output,
    input,
  ];
  const run = await runTool('gs', args, options);
  if (run.code !== 0)
    throw new Error(`gs failed (${run.code}) on ${input}: ${(run.stderr || run.stdout).trim()}`);
}

/**
 * Renders pages with Ghostscript's `nullpage` device (parses and interprets every content stream, draws
 * nothing). `messages` holds what gs printed: compare an output's messages with its original's.
 */
export async function gsRender(
  path: string,
  options: ToolOptions & { firstPage?: number; lastPage?: number } = {},
): Promise<{ ok: boolean; messages: string[] }> {
  const args = [
    '-q',
    '-dNOPAUSE',
    '-dBATCH',
    '-dSAFER',
    '-sDEVICE=nullpage',
    ...(options.firstPage === undefined ? [] : [`-dFirstPage=${options.firstPage}`]),
    ...(options.lastPage === undefined ? [] : [`-dLastPage=${options.lastPage}`]),
    ...(options.password === undefined ? [] : [`-sPDFPassword=${options.password}`]),
    path,
  ];
  const run = await runTool('gs', args, options);
  const messages = `${run.stdout}\n${run.stderr}`
    .split('\n')
    .map((line) => line.trimEnd())
    .filter(Boolean);
  return { ok: run.code === 0, messages };
}

const require = createRequire(import.meta.url);

// The child that runs pdf-lib: argv = [pdf-lib entry URL, input, output, useObjectStreams].
const PDFLIB_RESAVE_SCRIPT = `
const [entry, input, output, objectStreams] = process.argv.slice(1);
const { PDFDocument } = await import(entry);
const { readFile, writeFile } = await import('node:fs/promises');
const doc = await PDFDocument.load(await readFile(input));
await writeFile(output, await doc.save({ useObjectStreams: objectStreams === 'true' }));
`;

/** pdf-lib `PDFDocument.load` + `save()` in a child process (pdf-lib's defaults: object streams on). */
export async function pdflibResave(
  input: string,
  output: string,
  options: { timeoutMs?: number; useObjectStreams?: boolean } = {},
): Promise<void> {
  const entry = pathToFileURL(require.resolve('pdf-lib')).href;
  const args = [
    '--input-type=module',
    '-e',
    PDFLIB_RESAVE_SCRIPT,
    entry,
    input,
    output,
    String(options.useObjectStreams ?? true),
  ];
  const run = await runTool(process.execPath, args, options);
  if (run.code !== 0)
    throw new Error(`pdf-lib re-save failed (${run.code}) on ${input}: ${run.stderr.trim()}`);
}

// pdf.js, loaded once per process. The legacy build is the one meant for Node; in Node it runs its
// "fake worker" in the same thread, so no worker setup is needed.
type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');
let pdfjsModule: Promise<PdfJs> | undefined;

function loadPdfJs(): Promise<PdfJs> {
  pdfjsModule ??= import('pdfjs-dist/legacy/build/pdf.mjs');
  return pdfjsModule;
}

function pdfjsAssetDir(name: string): string {
  return `${join(dirname(require.resolve('pdfjs-dist/package.json')), name)}/`;
}

/**
 * Text of pages as pdf.js (`pdfjs-dist`) extracts it: the `str` of every text item, a newline where pdf.js
 * reports an end of line. Without `pages`, returns every page (result[i] is page i + 1); with `pages`
 * (1-based), returns those pages in that order. pdf.js needs ~10 ms per text page, so pick pages on big
 * files. Throws when pdf.js cannot open the file.
 */
export async function pdfjsText(
  path: string,
  options: { pages?: readonly number[]; password?: string } = {},
): Promise<string[]> {
  const pdfjs = await loadPdfJs();
  const data = new Uint8Array(await readFile(path));
  const task = pdfjs.getDocument({
    data,
    password: options.password,
    standardFontDataUrl: pdfjsAssetDir('standard_fonts'),
    cMapUrl: pdfjsAssetDir('cmaps'),
    cMapPacked: true,
    isEvalSupported: false,
    verbosity: 0,
  });
  const doc = await task.promise;
  try {
    const wanted = options.pages ?? Array.from({ length: doc.numPages }, (_, i) => i + 1);
    const texts: string[] = new Array(wanted.length).fill('');
    // A few pages in flight at once: pdf.js overlaps parsing with our awaits.
    let next = 0;
    async function work(): Promise<void> {
      while (next < wanted.length) {
        const index = next++;
        const page = await doc.getPage(wanted[index]!);
        const content = await page.getTextContent();
        texts[index] = content.items
          .map((item) => ('str' in item ? item.str + (item.hasEOL ? '\n' : '') : ''))
          .join('');
        page.cleanup();
      }
    }
    await Promise.all(Array.from({ length: 8 }, () => work()));
    return texts;
  } finally {
    await task.destroy();
  }
}

/** Page count as pdf.js sees it. */
export async function pdfjsPageCount(path: string, options: { password?: string } = {}): Promise<number> {
  const pdfjs = await loadPdfJs();
  const task = pdfjs.getDocument({
    data: new Uint8Array(await readFile(path)),
    password: options.password,
    isEvalSupported: false,
    verbosity: 0,
  });
  try {
    return (await task.promise).numPages;
  } finally {
    await task.destroy();
  }
}

/** A RangeReader over a file on disk (positional reads); close it when done. */
export async function fileRangeReader(path: string): Promise<RangeReader & { close(): Promise<void> }> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  return {
    size,
    async read(start, end) {
      const from = Math.max(0, start);
      const to = Math.min(size, end);
      if (to <= from) return Buffer.alloc(0);
      const buffer = Buffer.alloc(to - from);
      let filled = 0;
      while (filled < buffer.length) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, from + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return buffer.subarray(0, filled);
    },
    close: () => handle.close(),
  };
}
