/**
 * The download side of the watermark bench.
 *
 * - The baseline server: the unwatermarked file streamed by a bare `node:http` server with
 *   `fs.createReadStream(file).pipe(res)` (Node's default 64 KiB reads unless `highWaterMark` says otherwise;
 *   the watermark bench asks for 1 MiB, the read size of CloudSecure's local store), in a child process of its own.
 * - The client: `timeDownload(url)` measures one download over a fresh connection — headers, first body
 *   byte (TTFB) and last byte — and checks the byte count against Content-Length. Use it for the
 *   watermarked downloads too, so both sides are measured the same way.
 *
 * From the bench:
 *   const server = await startStreamServer(file);
 *   const baseline = await timeDownloads(server.url, { runs: 5 });   // medians + every run
 *   const wm = await timeDownloads((i) => `${base}/d/${tokens[i]}`, { runs: 5 });
 *   await server.stop();
 * - `saveDownload(url, path)` writes one download to disk (for the correctness checks, not timed).
 * By hand: node --import tsx bench/lib/watermark-stream.ts serve PORT FILE [HIGH_WATER_MARK]
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './load.ts';
import { type Child, freePort, startChild, stopChild, waitForHTTP } from './procs.ts';

export interface DownloadTiming {
  status: number;
  /** Body bytes received. */
  bytes: number;
  /** The Content-Length header, or null without one. */
  contentLength: number | null;
  /** Request start → response headers. */
  headersMs: number;
  /** Request start → first body byte (the TTFB that matters for a download). */
  ttfbMs: number;
  /** Request start → last body byte. */
  totalMs: number;
  /** SHA-256 of the body (hex), only with `hash: true` (costs ~0.3 s per 100 MB in the client). */
  sha256?: string;
  /** The response headers named in `captureHeaders` (lower case) that were present. */
  captured?: Record<string, string>;
}

export interface DownloadOptions {
  headers?: Record<string, string>;
  hash?: boolean;
  /** Response headers to return in `captured` (lower-case names). */
  captureHeaders?: string[];
  /** Whole download; default 120 s. */
  timeoutMs?: number;
}

/**
 * One GET over a new connection (no keep-alive, like curl). Rejects on a network error, a timeout, or a
 * body shorter or longer than its Content-Length; a non-2xx status is returned, not thrown.
 */
export function timeDownload(url: string, options: DownloadOptions = {}): Promise<DownloadTiming> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const hash = options.hash ? createHash('sha256') : undefined;
    const req = httpRequest(url, { agent: false, headers: options.headers }, (res) => {
      const headersMs = performance.now() - started;
      const lengthHeader = res.headers['content-length'];
      const contentLength = lengthHeader === undefined ? null : Number(lengthHeader);
      let ttfbMs = Number.NaN;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        if (bytes === 0) ttfbMs = performance.now() - started;
        bytes += chunk.length;
        hash?.update(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        const totalMs = performance.now() - started;
        clearTimeout(timer);
        if (contentLength !== null && bytes !== contentLength) {
          reject(new Error(`${url}: got ${bytes} bytes, Content-Length said ${contentLength}`));
          return;
        }
        resolve({
          status: res.statusCode ?? 0,
          bytes,
          contentLength,
          headersMs,
          ttfbMs: bytes === 0 ? totalMs : ttfbMs,
          totalMs,
          ...(hash ? { sha256: hash.digest('hex') } : {}),
          ...(options.captureHeaders ? { captured: pick(res.headers, options.captureHeaders) } : {}),
        });
      });
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`${url}: no complete answer within ${options.timeoutMs ?? 120_000} ms`)),
      options.timeoutMs ?? 120_000,
    );
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end();
  });
}

function pick(
  headers: Record<string, string | string[] | undefined>,
  names: string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = headers[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export interface DownloadSeries {
  runs: DownloadTiming[];
  /** Medians over the measured runs. */
  headersMs: number;
  ttfbMs: number;
  totalMs: number;
}

/**
 * `warmup` unmeasured downloads (default 1), then `runs` measured ones (default 5), one after another.
 * `url` may be a function of the run index (warm-ups get negative indexes), e.g. a different buyer's
 * link per run. Throws unless every answer is 200.
 */
export async function timeDownloads(
  url: string | ((run: number) => string),
  options: DownloadOptions & { runs?: number; warmup?: number } = {},
): Promise<DownloadSeries> {
  const urlOf = typeof url === 'string' ? () => url : url;
  const warmup = options.warmup ?? 1;
  for (let i = -warmup; i < 0; i++) expectOk(await timeDownload(urlOf(i), options), urlOf(i));
  const runs: DownloadTiming[] = [];
  for (let i = 0; i < (options.runs ?? 5); i++)
    runs.push(expectOk(await timeDownload(urlOf(i), options), urlOf(i)));
  return {
    runs,
    headersMs: median(runs.map((run) => run.headersMs)),
    ttfbMs: median(runs.map((run) => run.ttfbMs)),
    totalMs: median(runs.map((run) => run.totalMs)),
  };
}

/** `count` downloads at once (url may depend on the index); wall time from the first start to the last end. */
export async function timeConcurrentDownloads(
  url: string | ((index: number) => string),
  count: number,
  options: DownloadOptions = {},
): Promise<{ wallMs: number; runs: DownloadTiming[] }> {
  const urlOf = typeof url === 'string' ? () => url : url;
  const started = performance.now();
  const runs = await Promise.all(
    Array.from({ length: count }, async (_, i) => expectOk(await timeDownload(urlOf(i), options), urlOf(i))),
  );
  return { wallMs: performance.now() - started, runs };
}

/**
 * Downloads `url` into `path` (not timed). Resolves with the status, the byte count and Content-Length;
 * rejects on a network error, a non-200 answer or a body whose length differs from Content-Length.
 */
export function saveDownload(
  url: string,
  path: string,
  timeoutMs = 120_000,
): Promise<{ bytes: number; contentLength: number | null; etag: string | null }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${url} answered ${res.statusCode}`));
        return;
      }
      const lengthHeader = res.headers['content-length'];
      const contentLength = lengthHeader === undefined ? null : Number(lengthHeader);
      const etag = typeof res.headers.etag === 'string' ? res.headers.etag : null;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      pipelineAsync(res, createWriteStream(path)).then(() => {
        if (contentLength !== null && bytes !== contentLength) {
          reject(new Error(`${url}: got ${bytes} bytes, Content-Length said ${contentLength}`));
        } else resolve({ bytes, contentLength, etag });
      }, reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no complete answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function expectOk(timing: DownloadTiming, url: string): DownloadTiming {
  if (timing.status !== 200) throw new Error(`${url} answered ${timing.status}`);
  return timing;
}

export interface StreamServer {
  /** URL of the file on the server. */
  url: string;
  pid: number;
  child: Child;
  stop(): Promise<void>;
}

const THIS_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Starts the bare baseline server in a child process (own process group, registered with procs.ts so
 * `stopAll()` ends it too) and waits until it answers.
 */
export async function startStreamServer(
  file: string,
  options: { logPath?: string; highWaterMark?: number } = {},
): Promise<StreamServer> {
  const port = await freePort();
  const child = startChild(
    'bare-stream',
    process.execPath,
    ['--import', 'tsx', THIS_FILE, 'serve', String(port), file, String(options.highWaterMark ?? 64 * 1024)],
    {
      cwd: REPO_ROOT,
      logPath: options.logPath ?? join(tmpdir(), `cloudsecure-bench-bare-stream-${port}.log`),
    },
  );
  const base = `http://127.0.0.1:${port}`;
  await waitForHTTP(child, `${base}/healthz`);
  return { url: `${base}/file`, pid: child.pid, child, stop: () => stopChild(child) };
}

/** The baseline measured in one call: start the server, `timeDownloads`, stop it. */
export async function measureStreamBaseline(
  file: string,
  options: { runs?: number; warmup?: number } = {},
): Promise<DownloadSeries & { bytes: number }> {
  const server = await startStreamServer(file);
  try {
    const series = await timeDownloads(server.url, options);
    return { ...series, bytes: statSync(file).size };
  } finally {
    await server.stop();
  }
}

/** The server itself (child mode). */
function serve(port: number, file: string, highWaterMark: number): void {
  const size = statSync(file).size;
  const server = createHttpServer((req, res) => {
    if (req.url === '/file') {
      res.writeHead(200, { 'Content-Type': 'application/pdf', 'Content-Length': String(size) });
      pipeline(createReadStream(file, { highWaterMark }), res, () => {});
      return;
    }
    res.writeHead(req.url === '/healthz' ? 200 : 404).end();
  });
  server.listen(port, '127.0.0.1');
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [mode, port, file, highWaterMark] = process.argv.slice(2);
  if (mode !== 'serve' || !port || !file) {
    console.error('usage: node --import tsx bench/lib/watermark-stream.ts serve PORT FILE [HIGH_WATER_MARK]');
    process.exit(2);
  }
  serve(Number(port), file, Number(highWaterMark ?? 64 * 1024));
}
