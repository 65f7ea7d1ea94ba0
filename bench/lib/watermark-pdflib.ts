/**
 * Baseline for the watermark bench: what a plain Node watermarking service does — pdf-lib 1.17 loads the
 * whole PDF, draws a footer line on every page (StandardFonts.Helvetica, `drawText`) and saves it again
 * (pdf-lib's defaults: object streams on).
 *
 * - As a server (what the bench uses): `startPdfLibServer(file)` runs a bare `node:http` server in a child
 *   process of its own; each `GET /file` reads the file, loads, stamps and saves it, then sends the bytes
 *   with a Content-Length, the way such a service answers a download. It is downloaded with the same client
 *   as CloudSecure (watermark-stream.ts `timeDownload`), so both sides are whole downloads measured alike.
 *   The phases of each answer are in its `X-Pdflib-Phases` header (JSON of `PdfLibPhases`).
 * - By hand, one run in a fresh process, one JSON line on stdout (with the peak RSS of the process):
 *     node --import tsx bench/lib/watermark-pdflib.ts INPUT [OUTPUT|-] [TEXT]
 *   or as a server: node --import tsx bench/lib/watermark-pdflib.ts serve PORT FILE [TEXT]
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Child, freePort, startChild, stopChild, waitForHTTP } from './procs.ts';

export const DEFAULT_FOOTER = 'Licensed to José Müller <jose@example.com> · Order 1042 · 2026-11-29';

export const PHASES_HEADER = 'x-pdflib-phases';

/** Where one watermark's time went (ms). */
export interface PdfLibPhases {
  pages: number;
  inputBytes: number;
  outputBytes: number;
  readMs: number;
  loadMs: number;
  stampMs: number;
  saveMs: number;
  /** read + load + stamp + save: until the watermarked bytes are in memory, ready to send. */
  workMs: number;
}

/** What one by-hand run reports about itself. */
export interface PdfLibChildReport extends PdfLibPhases {
  /** 0 when no output file was asked for. */
  writeMs: number;
  /** VmRSS after Node start-up and the imports, before reading the input. */
  idleRssBytes: number;
  /** VmHWM at the end of the run (peak RSS of the whole process). */
  peakRssBytes: number;
}

function statusBytes(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** One read + load + stamp + save of `input`: the watermarked bytes and where the time went. */
export async function stampWithPdfLib(
  input: string,
  text = DEFAULT_FOOTER,
): Promise<{ bytes: Uint8Array; phases: PdfLibPhases }> {
  const { PDFDocument, StandardFonts, rgb } = await import('pdf-lib');
  const t0 = performance.now();
  const bytes = await readFile(input);
  const t1 = performance.now();
  const doc = await PDFDocument.load(bytes);
  const t2 = performance.now();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const color = rgb(0.4, 0.4, 0.4);
  for (const page of doc.getPages()) {
    const box = page.getCropBox();
    page.drawText(text, { x: box.x + 24, y: box.y + 12, size: 8, font, color, opacity: 0.6 });
  }
  const t3 = performance.now();
  const saved = await doc.save();
  const t4 = performance.now();
  return {
    bytes: saved,
    phases: {
      pages: doc.getPageCount(),
      inputBytes: bytes.length,
      outputBytes: saved.length,
      readMs: t1 - t0,
      loadMs: t2 - t1,
      stampMs: t3 - t2,
      saveMs: t4 - t3,
      workMs: t4 - t0,
    },
  };
}

/** One by-hand run, measured from inside (peak RSS is the whole process's). */
export async function watermarkWithPdfLib(
  input: string,
  output: string | undefined,
  text = DEFAULT_FOOTER,
): Promise<PdfLibChildReport> {
  await import('pdf-lib');
  const idleRssBytes = statusBytes('VmRSS');
  const { bytes, phases } = await stampWithPdfLib(input, text);
  const t0 = performance.now();
  if (output) await writeFile(output, bytes);
  const writeMs = output ? performance.now() - t0 : 0;
  return { ...phases, writeMs, idleRssBytes, peakRssBytes: statusBytes('VmHWM') };
}

export interface PdfLibServer {
  /** GET it for one freshly watermarked copy. */
  url: string;
  pid: number;
  child: Child;
  stop(): Promise<void>;
}

const THIS_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Starts the pdf-lib server in a child process (own process group, registered with procs.ts so `stopAll()`
 * ends it too) and waits until it answers. Its first download is cold (pdf-lib not yet compiled by V8).
 */
export async function startPdfLibServer(
  file: string,
  options: { logPath?: string; text?: string } = {},
): Promise<PdfLibServer> {
  const port = await freePort();
  const child = startChild(
    'pdflib-server',
    process.execPath,
    ['--import', 'tsx', THIS_FILE, 'serve', String(port), file, options.text ?? DEFAULT_FOOTER],
    { cwd: REPO_ROOT, logPath: options.logPath ?? join(tmpdir(), `cloudsecure-bench-pdflib-${port}.log`) },
  );
  const base = `http://127.0.0.1:${port}`;
  await waitForHTTP(child, `${base}/healthz`);
  return { url: `${base}/file`, pid: child.pid, child, stop: () => stopChild(child) };
}

/** The server itself (child mode): one watermark per request, sent once it is complete. */
async function serve(port: number, file: string, text: string): Promise<void> {
  await import('pdf-lib');
  const server = createHttpServer((req, res) => {
    if (req.url !== '/file') {
      res.writeHead(req.url === '/healthz' ? 200 : 404).end();
      return;
    }
    stampWithPdfLib(file, text).then(
      ({ bytes, phases }) => {
        res.writeHead(200, {
          'Content-Type': 'application/pdf',
          'Content-Length': String(bytes.length),
          [PHASES_HEADER]: JSON.stringify(phases),
        });
        res.end(bytes);
      },
      (error: unknown) => {
        console.error(error);
        res.writeHead(500).end();
      },
    );
  });
  server.listen(port, '127.0.0.1');
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  if (args[0] === 'serve' && args[1] && args[2]) {
    await serve(Number(args[1]), args[2], args[3] ?? DEFAULT_FOOTER);
  } else if (args[0] && args[0] !== 'serve') {
    const [input, output, text] = args;
    const report = await watermarkWithPdfLib(input!, output && output !== '-' ? output : undefined, text);
    console.log(JSON.stringify(report));
  } else {
    console.error(
      'usage: node --import tsx bench/lib/watermark-pdflib.ts INPUT [OUTPUT|-] [TEXT]\n' +
        '       node --import tsx bench/lib/watermark-pdflib.ts serve PORT FILE [TEXT]',
    );
    process.exit(2);
  }
}
