/**
 * `npm run bench:watermark` (also the last part of `npm run bench`): per-buyer PDF watermarking on the
 * download path, against baselines measured in the same run, written to the watermark section of
 * bench/RESULTS.md. For the 2,000-page text PDF and the ≥ 100 MB image PDF of the test corpus:
 *
 * W-TTFB   time to first byte of a watermarked `/d/<token>` download (target ≤ 50 ms), also against
 *          streaming the unwatermarked file from a bare node:http server;
 * W-total  the whole watermarked download against that bare stream (target ≤ 1.5×);
 * W-pdflib the whole watermarked download against pdf-lib load + stamp + save (target ≥ 10× faster);
 * W-RSS    the server's peak RSS above idle while watermarking (target ≤ 64 MiB), and (W-RSS10) while
 *          10 watermarked downloads of the big PDF run at once.
 *
 * The server is a real `node bin/cloudsecure.mjs serve` on a fresh SQLite data dir, set up with the CLI.
 *
 * Knobs (environment): BENCH_WM_RUNS (5), BENCH_WM_BUYERS (3), BENCH_WM_PARALLEL (10),
 * BENCH_KEEP=1 to keep the temp directory
 * (data dir, server log, the checked copies, setup.json with the server environment and links).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORPUS, ensureCorpus, generationLog } from '../tests/helpers/pdf-corpus.ts';
import { missingTools } from '../tests/helpers/pdf-verify.ts';
import { cpuSeconds, median, procStatusBytes, resetPeakRSS, sampleRSS } from './lib/load.ts';
import { type Child, freePort, runCommand, startChild, stopAll, tailOf, waitForHTTP } from './lib/procs.ts';
import { describeMachine, resultsTable } from './lib/report.ts';
import {
  type PdfLibPhases,
  type PdfLibServer,
  PHASES_HEADER,
  startPdfLibServer,
} from './lib/watermark-pdflib.ts';
import {
  type DownloadSeriesResult,
  type FileResult,
  type MemoryRun,
  renderWatermarkSection,
  spliceWatermarkSection,
  type TargetKey,
} from './lib/watermark-report.ts';
import { type Buyer, checkCopy, createBuyer, createProduct } from './lib/watermark-setup.ts';
import {
  type DownloadTiming,
  type StreamServer,
  saveDownload,
  startStreamServer,
  timeDownload,
} from './lib/watermark-stream.ts';
import { inheritedEnv, serverEnv } from './lib/webhooks-setup.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(BENCH_DIR);
const BIN = join(REPO, 'bin', 'cloudsecure.mjs');

const env = process.env;
const RUNS = Math.max(1, Number(env.BENCH_WM_RUNS ?? 5));
const BUYERS = Math.max(1, Number(env.BENCH_WM_BUYERS ?? 3));
const PARALLEL = Math.max(1, Number(env.BENCH_WM_PARALLEL ?? 10));
/** Watermarked downloads one after another in the memory phase of each file. */
const MEMORY_DOWNLOADS = 3;
const RSS_SAMPLE_MS = 25;
/** Pause after every timed download, the same for every target, so one download's aftermath (GC, socket
 * teardown) does not land in the next one's time to first byte. */
const PAUSE_MS = 150;
const BARE_READ_BYTES = 1 << 20;

/** Buyers' names: Latin-1, so pdftotext prints them as given. */
const BUYER_NAMES = ['José Müller', 'Ana Lima', 'Björn Åström', 'Chloé Dubois', 'Ørjan Næss', 'Zoë Ruiz'];

function log(message: string): void {
  process.stdout.write(`[bench:watermark] ${message}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface FileSpec {
  key: 'text2000' | 'big-image';
  label: string;
  path: string;
  pages: number;
  wmSlug: string;
  plainSlug: string;
}

async function startCloudSecure(root: string, vars: Record<string, string>): Promise<Child> {
  const child = startChild('cloudsecure', process.execPath, [BIN, 'serve'], {
    cwd: REPO,
    env: { ...inheritedEnv(), ...vars, NODE_ENV: 'production' },
    logPath: join(root, 'cloudsecure.log'),
  });
  await waitForHTTP(child, `${vars.CLOUDSECURE_PUBLIC_URL}/healthz`);
  return child;
}

/** Median of 10 VmRSS samples of a settled process. */
async function idleRSS(pid: number, settleMs = 1000): Promise<number> {
  await sleep(settleMs);
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    samples.push(procStatusBytes(pid, 'VmRSS'));
    await sleep(50);
  }
  return median(samples);
}

/** Peak RSS of `pid` (VmHWM after a reset, and VmRSS sampled) while `work` runs, above its idle RSS. */
async function measureMemory(
  pid: number,
  what: string,
  work: () => Promise<DownloadTiming[]>,
): Promise<MemoryRun> {
  const idleBytes = await idleRSS(pid);
  const hwmReset = resetPeakRSS(pid);
  const sampler = sampleRSS(pid, RSS_SAMPLE_MS);
  const started = performance.now();
  const timings = await work();
  const wallMs = performance.now() - started;
  const sampled = sampler.stop();
  const hwmBytes = hwmReset ? procStatusBytes(pid, 'VmHWM') : null;
  return {
    what,
    downloads: timings.length,
    idleBytes,
    peakBytes: Math.max(sampled.peak, hwmBytes ?? 0),
    sampledPeakBytes: sampled.peak,
    samples: sampled.samples,
    hwmBytes,
    wallMs,
    timings,
  };
}

async function expectDownload(url: string, name: string): Promise<DownloadTiming> {
  const t = await timeDownload(url, { captureHeaders: [PHASES_HEADER] });
  if (t.status !== 200) throw new Error(`${name}: ${url} answered ${t.status}`);
  return t;
}

function phasesOf(t: DownloadTiming): PdfLibPhases {
  const header = t.captured?.[PHASES_HEADER];
  if (!header) throw new Error(`the pdf-lib server sent no ${PHASES_HEADER} header`);
  return JSON.parse(header) as PdfLibPhases;
}

interface Target {
  key: TargetKey;
  name: string;
  pid: number;
  url: (run: number) => string;
}

/** One download, then the pause; the server's CPU time over it is added to the series. */
async function measureOne(t: Target, s: DownloadSeriesResult, run: number): Promise<void> {
  const before = cpuSeconds(t.pid);
  s.runs.push(await expectDownload(t.url(run), t.name));
  s.cpuSeconds += cpuSeconds(t.pid) - before;
  await sleep(PAUSE_MS);
}

async function warmUp(t: Target, url: string): Promise<DownloadSeriesResult> {
  const warmup = await expectDownload(url, t.name);
  await sleep(PAUSE_MS);
  return { key: t.key, name: t.name, warmup, runs: [], cpuSeconds: 0 };
}

/**
 * Bare stream, unwatermarked CloudSecure and watermarked CloudSecure: a warm-up each, then RUNS interleaved
 * rounds. Then the pdf-lib server: a warm-up (its cold answer), then RUNS downloads. pdf-lib runs in a
 * block of its own so that its garbage collection (hundreds of MB per answer) does not run beside the
 * next CloudSecure download on the same two cores.
 */
async function measureDownloads(input: {
  spec: FileSpec;
  server: Child;
  bare: StreamServer;
  pdflib: PdfLibServer;
  buyers: Buyer[];
}): Promise<DownloadSeriesResult[]> {
  const { spec, server, bare, pdflib, buyers } = input;
  const targets: Target[] = [
    { key: 'bare', name: 'bare node:http stream (unwatermarked)', pid: bare.pid, url: () => bare.url },
    {
      key: 'plain',
      name: 'CloudSecure /d/ (watermarking off)',
      pid: server.pid,
      url: (run) => buyers[run % buyers.length]!.links[spec.plainSlug]!,
    },
    {
      key: 'wm',
      name: 'CloudSecure /d/ watermarked',
      pid: server.pid,
      // Buyer 0 warms up (and is the copy checked later); the measured runs start with buyer 1.
      url: (run) => buyers[(run + 1) % buyers.length]!.links[spec.wmSlug]!,
    },
  ];
  const series = new Map<TargetKey, DownloadSeriesResult>();
  for (const t of targets) {
    series.set(t.key, await warmUp(t, t.key === 'wm' ? buyers[0]!.links[spec.wmSlug]! : t.url(0)));
  }
  for (let run = 0; run < RUNS; run++) {
    for (const t of targets) await measureOne(t, series.get(t.key)!, run);
  }
  const lib: Target = {
    key: 'pdflib',
    name: 'pdf-lib load + stamp + save, then send',
    pid: pdflib.pid,
    url: () => pdflib.url,
  };
  const libSeries = await warmUp(lib, pdflib.url);
  for (let run = 0; run < RUNS; run++) await measureOne(lib, libSeries, run);
  series.set('pdflib', libSeries);

  const total = (key: TargetKey) => median(series.get(key)!.runs.map((r) => r.totalMs)).toFixed(0);
  const ttfb = median(series.get('wm')!.runs.map((r) => r.ttfbMs)).toFixed(1);
  log(
    `${spec.label}: watermarked TTFB ${ttfb} ms, total ${total('wm')} ms; bare stream ${total('bare')} ms, ` +
      `unwatermarked CloudSecure ${total('plain')} ms, pdf-lib ${total('pdflib')} ms`,
  );
  return [...targets, lib].map((t) => series.get(t.key)!);
}

async function main(): Promise<void> {
  const missing = missingTools(['gs', 'qpdf', 'pdftotext']);
  if (missing.length > 0) {
    throw new Error(`${missing.join(', ')} missing: apt-get install -y ghostscript qpdf poppler-utils`);
  }
  const machine = await describeMachine();
  const started = Date.now();
  log('corpus: ensureCorpus(text2000, big-image)');
  const corpusStarted = performance.now();
  const corpus = await ensureCorpus(['text2000', 'big-image']);
  const corpusSeconds = (performance.now() - corpusStarted) / 1000;
  const generated = Object.fromEntries(
    Object.entries(generationLog).filter(([name]) => name === 'text2000' || name === 'big-image'),
  );
  const specs: FileSpec[] = [
    {
      key: 'text2000',
      label: '2,000-page text PDF',
      path: corpus.text2000,
      pages: CORPUS.text2000.pages,
      wmSlug: 'wm-text2000',
      plainSlug: 'plain-text2000',
    },
    {
      key: 'big-image',
      label: `${(statSync(corpus['big-image']).size / 1e6).toFixed(0)} MB image PDF`,
      path: corpus['big-image'],
      pages: CORPUS['big-image'].pages,
      wmSlug: 'wm-big-image',
      plainSlug: 'plain-big-image',
    },
  ];
  const bigBytes = statSync(corpus['big-image']).size;
  if (bigBytes < 100e6) throw new Error(`big-image.pdf has ${bigBytes} bytes, expected ≥ 100 MB`);

  const root = mkdtempSync(join(tmpdir(), 'cloudsecure-bench-watermark-'));
  try {
    const masterKey = randomBytes(32).toString('base64');
    const vars = serverEnv({ dataDir: join(root, 'data'), port: await freePort(), masterKey });

    log('setting up with the CLI: product create (with and without --watermark on), order create');
    const setupStarted = performance.now();
    const uploads = new Map<string, FileResult['upload']>();
    for (const spec of specs) {
      const wm = await createProduct({
        bin: BIN,
        cwd: REPO,
        vars,
        name: `Watermarked ${spec.key}`,
        slug: spec.wmSlug,
        file: spec.path,
        watermark: true,
      });
      const plain = await createProduct({
        bin: BIN,
        cwd: REPO,
        vars,
        name: `Plain ${spec.key}`,
        slug: spec.plainSlug,
        file: spec.path,
        watermark: false,
      });
      uploads.set(spec.key, {
        watermarkSeconds: wm.seconds,
        plainSeconds: plain.seconds,
        method: wm.file.watermark?.method ?? 'unknown',
        reason: wm.file.watermark?.reason ?? null,
      });
      log(
        `${spec.label}: product create ${wm.seconds.toFixed(1)} s with --watermark on ` +
          `(${wm.file.watermark?.method}), ${plain.seconds.toFixed(1)} s without`,
      );
    }
    const buyers: Buyer[] = [];
    for (let i = 0; i < BUYERS; i++) {
      const name = BUYER_NAMES[i % BUYER_NAMES.length]!;
      buyers.push(
        await createBuyer({
          bin: BIN,
          cwd: REPO,
          vars,
          name: i < BUYER_NAMES.length ? name : `${name} ${i}`,
          email: `buyer${i + 1}@example.com`,
          products: specs.flatMap((s) => [s.wmSlug, s.plainSlug]),
        }),
      );
    }
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    log(`set up in ${setupSeconds.toFixed(1)} s (${BUYERS} buyers)`);
    writeFileSync(join(root, 'setup.json'), JSON.stringify({ vars, buyers, specs }, null, 2));

    log('starting CloudSecure and the bare stream servers');
    const server = await startCloudSecure(root, vars);
    const bares = new Map<string, StreamServer>();
    const pdflibs = new Map<string, PdfLibServer>();
    /** RSS of each pdf-lib server before its first watermark. */
    const pdflibIdle = new Map<string, number>();
    for (const spec of specs) {
      const logPath = (name: string) => join(root, `${name}-${spec.key}.log`);
      // 1 MiB reads, as CloudSecure's local store does (Node's default of 64 KiB costs the baseline CPU).
      bares.set(
        spec.key,
        await startStreamServer(spec.path, { logPath: logPath('bare'), highWaterMark: BARE_READ_BYTES }),
      );
      const pdflib = await startPdfLibServer(spec.path, { logPath: logPath('pdflib') });
      pdflibs.set(spec.key, pdflib);
      pdflibIdle.set(spec.key, await idleRSS(pdflib.pid, 200));
    }

    const partial: Omit<FileResult, 'check'>[] = [];
    const copies = new Map<string, { path: string; bytes: number }>();
    for (const spec of specs) {
      log(`${spec.label}: downloads (warm-up, then ${RUNS} rounds)`);
      const pdflibServer = pdflibs.get(spec.key)!;
      const series = await measureDownloads({
        spec,
        server,
        bare: bares.get(spec.key)!,
        pdflib: pdflibServer,
        buyers,
      });
      const pdflibSeries = series.find((s) => s.key === 'pdflib')!;
      const pdflibMemory = {
        idleBytes: pdflibIdle.get(spec.key)!,
        peakBytes: procStatusBytes(pdflibServer.pid, 'VmHWM'),
        afterBytes: procStatusBytes(pdflibServer.pid, 'VmRSS'),
      };
      await pdflibServer.stop();
      // The warm-up buyer's copy, saved for the correctness checks (after the servers stop).
      const copyPath = join(root, `${spec.key}-watermarked.pdf`);
      const saved = await saveDownload(buyers[0]!.links[spec.wmSlug]!, copyPath);
      copies.set(spec.key, { path: copyPath, bytes: saved.bytes });

      log(`${spec.label}: memory during ${MEMORY_DOWNLOADS} watermarked downloads`);
      const memory = await measureMemory(
        server.pid,
        `${MEMORY_DOWNLOADS} watermarked, one after another`,
        async () => {
          const timings: DownloadTiming[] = [];
          for (let i = 0; i < MEMORY_DOWNLOADS; i++) {
            timings.push(await expectDownload(buyers[i % buyers.length]!.links[spec.wmSlug]!, 'memory'));
          }
          return timings;
        },
      );
      let concurrent: FileResult['concurrent'] = null;
      if (spec.key === 'big-image') {
        log(`${spec.label}: ${PARALLEL} watermarked downloads at once, then ${PARALLEL} unwatermarked`);
        const atOnce = (slug: string) => () =>
          Promise.all(
            Array.from({ length: PARALLEL }, (_, i) =>
              expectDownload(buyers[i % buyers.length]!.links[slug]!, `${slug} ×${PARALLEL}`),
            ),
          );
        const wm = await measureMemory(server.pid, `${PARALLEL} watermarked at once`, atOnce(spec.wmSlug));
        const plain = await measureMemory(
          server.pid,
          `${PARALLEL} unwatermarked at once (comparison)`,
          atOnce(spec.plainSlug),
        );
        concurrent = { wm, plain };
      }
      partial.push({
        key: spec.key,
        label: spec.label,
        path: spec.path,
        bytes: statSync(spec.path).size,
        pages: spec.pages,
        copyBytes: saved.bytes,
        upload: uploads.get(spec.key)!,
        series,
        memory,
        concurrent,
        pdflib: {
          cold: phasesOf(pdflibSeries.warmup),
          runs: pdflibSeries.runs.map(phasesOf),
          memory: pdflibMemory,
        },
      });
    }
    const serverLog = tailOf(server.logPath, 10);
    await stopAll();

    const files: FileResult[] = [];
    for (const p of partial) {
      const copy = copies.get(p.key)!;
      log(`${p.label}: checking the copy (qpdf --check, pdftotext)`);
      const check = await checkCopy({
        original: p.path,
        copy: copy.path,
        originalBytes: p.bytes,
        copyBytes: copy.bytes,
        buyerName: buyers[0]!.name,
        pages: [...new Set([1, Math.ceil(p.pages / 2), p.pages])],
      });
      if (!check.ok) log(`${p.label}: copy check FAILED: ${check.problems.join('; ')}`);
      files.push({ ...p, check });
    }

    const { section, rows } = renderWatermarkSection({
      machine,
      elapsedSeconds: (Date.now() - started) / 1000,
      setupSeconds,
      corpus: { seconds: corpusSeconds, generated },
      runs: RUNS,
      buyers: BUYERS,
      parallel: PARALLEL,
      pauseMs: PAUSE_MS,
      files,
    });
    const resultsPath = join(BENCH_DIR, 'RESULTS.md');
    const previous = existsSync(resultsPath)
      ? readFileSync(resultsPath, 'utf8')
      : '# CloudSecure benchmark results\n\nThe delivery results appear here after `npm run bench`.\n';
    writeFileSync(resultsPath, spliceWatermarkSection(previous, section));
    // The repository's formatter aligns markdown tables; format the file so `biome check .` stays clean.
    const biome = join(REPO, 'node_modules', '.bin', 'biome');
    const formatted = await runCommand(biome, ['format', '--write', resultsPath], 30_000);
    if (formatted.code !== 0) log(`biome could not format RESULTS.md: ${formatted.stderr.trim()}`);
    process.stdout.write(`\n${resultsTable(rows)}\n\nWrote the watermark section of bench/RESULTS.md\n`);
    const failed = files.filter((f) => !f.check.ok);
    if (failed.length > 0) {
      throw new Error(
        `watermarked copies failed their checks: ${failed
          .map((f) => `${f.label}: ${f.check.problems.join('; ')}`)
          .join(' | ')}\n${serverLog}`,
      );
    }
  } finally {
    await stopAll();
    if (env.BENCH_KEEP === '1') log(`kept ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping child processes`);
    stopAll().finally(() => process.exit(130));
  });
}

main().catch(async (error: unknown) => {
  process.stderr.write(
    `[bench:watermark] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  await stopAll();
  process.exit(1);
});
