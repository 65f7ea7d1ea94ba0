/**
 * The watermark section of bench/RESULTS.md, between its own markers, so that bench/watermark.ts replaces
 * only its part and the delivery bench (which rewrites the whole file) can carry it over.
 */
import { loadavg } from 'node:os';
import { median } from './load.ts';
import { formatMiB, type Machine, type Row, rawTable, resultsTable } from './report.ts';
import type { PdfLibPhases } from './watermark-pdflib.ts';
import type { CopyCheck } from './watermark-setup.ts';
import type { DownloadTiming } from './watermark-stream.ts';

export const WATERMARK_START = '<!-- watermark:start -->';
export const WATERMARK_END = '<!-- watermark:end -->';

/** The watermark section of `text`, markers included, or null. */
export function watermarkSection(text: string): string | null {
  const start = text.indexOf(WATERMARK_START);
  const end = text.indexOf(WATERMARK_END, start);
  if (start < 0 || end < 0) return null;
  return text.slice(start, end + WATERMARK_END.length);
}

/** `text` with its watermark section replaced by `section` (markers included), or with it appended. */
export function spliceWatermarkSection(text: string, section: string): string {
  const start = text.indexOf(WATERMARK_START);
  const end = text.indexOf(WATERMARK_END, start);
  if (start >= 0 && end >= 0) {
    return text.slice(0, start) + section + text.slice(end + WATERMARK_END.length);
  }
  return `${text.trimEnd()}\n\n${section}\n`;
}

/** For the delivery bench: its freshly rendered file, with the watermark section of the old file kept. */
export function keepWatermarkSection(markdown: string, previous: string | null): string {
  const section = previous === null ? null : watermarkSection(previous);
  return section === null ? markdown : spliceWatermarkSection(markdown, section);
}

export const TARGETS = {
  ttfbMs: 50,
  totalRatio: 1.5,
  pdflibRatio: 10,
  rssBytes: 64 * 1024 * 1024,
};

export type TargetKey = 'bare' | 'plain' | 'wm' | 'pdflib';

/** One kind of download of one file: every measured run, and the server CPU they used. */
export interface DownloadSeriesResult {
  key: TargetKey;
  name: string;
  /** The unmeasured first download (for CloudSecure: loads the analysis, fonts, JIT). */
  warmup: DownloadTiming;
  runs: DownloadTiming[];
  /** Server process CPU (user + system) over the measured runs. */
  cpuSeconds: number;
}

export interface MemoryRun {
  /** What ran: "3 watermarked downloads, one after another", "10 watermarked downloads at once". */
  what: string;
  downloads: number;
  /** Median of VmRSS samples of the settled server just before. */
  idleBytes: number;
  /** max(sampled VmRSS, VmHWM after a reset). */
  peakBytes: number;
  sampledPeakBytes: number;
  samples: number;
  /** VmHWM after resetting it, or null when /proc refused the reset. */
  hwmBytes: number | null;
  /** First request start → last body byte. */
  wallMs: number;
  timings: DownloadTiming[];
}

export interface UploadResult {
  watermarkSeconds: number;
  plainSeconds: number;
  method: string;
  reason: string | null;
}

export interface PdfLibResult {
  /** Phases of the first (cold) answer of the pdf-lib server, and of each measured one. */
  cold: PdfLibPhases;
  runs: PdfLibPhases[];
  /**
   * The pdf-lib server's RSS: started fresh (pdf-lib imported, nothing watermarked yet), its peak over all
   * its answers (VmHWM, never reset), and where it stayed after them.
   */
  memory: { idleBytes: number; peakBytes: number; afterBytes: number };
}

export interface FileResult {
  key: 'text2000' | 'big-image';
  label: string;
  path: string;
  bytes: number;
  pages: number;
  /** Bytes of a watermarked copy (Content-Length). */
  copyBytes: number;
  upload: UploadResult;
  series: DownloadSeriesResult[];
  memory: MemoryRun;
  /** Only for the big file: 10 watermarked downloads at once, and 10 unwatermarked ones for comparison. */
  concurrent: { wm: MemoryRun; plain: MemoryRun } | null;
  pdflib: PdfLibResult;
  check: CopyCheck;
}

export interface WatermarkMeasurements {
  machine: Machine;
  elapsedSeconds: number;
  setupSeconds: number;
  corpus: { seconds: number; generated: Record<string, { ms: number; bytes: number }> };
  runs: number;
  buyers: number;
  parallel: number;
  pauseMs: number;
  files: FileResult[];
}

const MiB = 1024 * 1024;

function seriesOf(f: FileResult, key: TargetKey): DownloadSeriesResult | undefined {
  return f.series.find((s) => s.key === key);
}

function med(f: FileResult, key: TargetKey, field: 'ttfbMs' | 'totalMs' | 'headersMs'): number {
  const s = seriesOf(f, key);
  return s ? median(s.runs.map((r) => r[field])) : Number.NaN;
}

function ms(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n >= 100 ? `${n.toFixed(0)} ms` : `${n.toFixed(1)} ms`;
}

function mib(bytes: number): string {
  return formatMiB(bytes);
}

function aboveIdle(m: MemoryRun): number {
  return m.peakBytes - m.idleBytes;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

function short(f: FileResult): string {
  return f.key === 'text2000' ? `${count(f.pages)} pages` : `${(f.bytes / 1e6).toFixed(0)} MB`;
}

export function watermarkRows(m: WatermarkMeasurements): Row[] {
  const rows: Row[] = [];
  for (const f of m.files) {
    const ttfb = med(f, 'wm', 'ttfbMs');
    rows.push({
      id: 'W-TTFB',
      what: `${f.label}: time to first byte, watermarked download vs bare node:http streaming the unwatermarked file`,
      cloudsecure: ms(ttfb),
      baseline: ms(med(f, 'bare', 'ttfbMs')),
      ratio: ttfb / med(f, 'bare', 'ttfbMs'),
      target: `≤ ${TARGETS.ttfbMs} ms`,
      pass: ttfb <= TARGETS.ttfbMs,
    });
  }
  for (const f of m.files) {
    const ratio = med(f, 'wm', 'totalMs') / med(f, 'bare', 'totalMs');
    rows.push({
      id: 'W-total',
      what: `${f.label}: whole download, watermarked vs bare node:http streaming the unwatermarked file`,
      cloudsecure: ms(med(f, 'wm', 'totalMs')),
      baseline: ms(med(f, 'bare', 'totalMs')),
      ratio,
      target: `≤ ${TARGETS.totalRatio}×`,
      pass: ratio <= TARGETS.totalRatio,
    });
  }
  for (const f of m.files) {
    const ratio = med(f, 'pdflib', 'totalMs') / med(f, 'wm', 'totalMs');
    rows.push({
      id: 'W-pdflib',
      what: `${f.label}: whole download, watermarked vs a node:http server doing pdf-lib load + stamp + save (ratio: times faster)`,
      cloudsecure: ms(med(f, 'wm', 'totalMs')),
      baseline: ms(med(f, 'pdflib', 'totalMs')),
      ratio,
      target: `≥ ${TARGETS.pdflibRatio}×`,
      pass: ratio >= TARGETS.pdflibRatio,
    });
  }
  for (const f of m.files) {
    const above = aboveIdle(f.memory);
    rows.push({
      id: 'W-RSS',
      what: `${f.label}: server peak RSS above idle during ${f.memory.downloads} watermarked downloads (one at a time)`,
      cloudsecure: `${mib(f.memory.peakBytes)} = idle + ${mib(above)}`,
      baseline: `${mib(f.memory.idleBytes)} idle`,
      ratio: f.memory.peakBytes / f.memory.idleBytes,
      target: `≤ idle + ${mib(TARGETS.rssBytes)}`,
      pass: above <= TARGETS.rssBytes,
    });
  }
  for (const f of m.files) {
    if (!f.concurrent) continue;
    const c = f.concurrent.wm;
    rows.push({
      id: 'W-RSS10',
      what: `${f.label}: server peak RSS above idle during ${c.downloads} watermarked downloads at once`,
      cloudsecure: `${mib(c.peakBytes)} = idle + ${mib(aboveIdle(c))}`,
      baseline: `${mib(c.idleBytes)} idle`,
      ratio: c.peakBytes / c.idleBytes,
      target: `≤ idle + ${mib(TARGETS.rssBytes)}`,
      pass: aboveIdle(c) <= TARGETS.rssBytes,
    });
  }
  return rows;
}

function memoryRow(f: FileResult, m: MemoryRun): string[] {
  const ttfbs = m.timings.map((t) => t.ttfbMs);
  return [
    short(f),
    m.what,
    mib(m.idleBytes),
    mib(m.peakBytes),
    mib(aboveIdle(m)),
    m.hwmBytes === null ? 'refused' : mib(m.hwmBytes),
    String(m.samples),
    ms(m.wallMs),
    `${ms(Math.min(...ttfbs))} / ${ms(median(ttfbs))} / ${ms(Math.max(...ttfbs))}`,
  ];
}

export function renderWatermarkSection(m: WatermarkMeasurements): { section: string; rows: Row[] } {
  const rows = watermarkRows(m);
  const downloads = rawTable(
    [
      'File',
      'Target',
      'TTFB',
      'headers',
      'total',
      'throughput',
      'server CPU per download',
      'first (warm-up) download: TTFB / total',
    ],
    m.files.flatMap((f) =>
      f.series.map((s) => {
        const total = median(s.runs.map((r) => r.totalMs));
        const bytes = s.runs[0]?.bytes ?? 0;
        return [
          short(f),
          s.name,
          ms(median(s.runs.map((r) => r.ttfbMs))),
          ms(median(s.runs.map((r) => r.headersMs))),
          ms(total),
          `${(bytes / MiB / (total / 1000)).toFixed(0)} MiB/s`,
          ms((s.cpuSeconds / Math.max(s.runs.length, 1)) * 1000),
          `${ms(s.warmup.ttfbMs)} / ${ms(s.warmup.totalMs)}`,
        ];
      }),
    ),
  );
  const everyRun = rawTable(
    ['File', 'Target', 'Run', 'headers ms', 'TTFB ms', 'total ms', 'bytes'],
    m.files.flatMap((f) =>
      f.series.flatMap((s) =>
        s.runs.map((r, i) => [
          short(f),
          s.name,
          String(i + 1),
          r.headersMs.toFixed(1),
          r.ttfbMs.toFixed(1),
          r.totalMs.toFixed(1),
          count(r.bytes),
        ]),
      ),
    ),
  );
  const memory = rawTable(
    [
      'File',
      'Downloads',
      'idle RSS',
      'peak RSS',
      'above idle',
      'VmHWM after reset',
      'RSS samples',
      'wall',
      'TTFB min / median / max',
    ],
    m.files.flatMap((f) => [
      memoryRow(f, f.memory),
      ...(f.concurrent ? [memoryRow(f, f.concurrent.wm), memoryRow(f, f.concurrent.plain)] : []),
    ]),
  );
  const phaseCells = (p: PdfLibPhases[]): string =>
    `${ms(median(p.map((x) => x.readMs)))} / ${ms(median(p.map((x) => x.loadMs)))} / ${ms(
      median(p.map((x) => x.stampMs)),
    )} / ${ms(median(p.map((x) => x.saveMs)))}`;
  const pdflib = rawTable(
    [
      'File',
      'cold (first answer): read / load / stamp / save',
      'cold work',
      `warm (median of ${m.runs}): read / load / stamp / save`,
      'warm work',
      'output',
      'pdf-lib server RSS: fresh → peak (above fresh) → after',
    ],
    m.files.map((f) => [
      short(f),
      phaseCells([f.pdflib.cold]),
      ms(f.pdflib.cold.workMs),
      phaseCells(f.pdflib.runs),
      ms(median(f.pdflib.runs.map((x) => x.workMs))),
      mib(f.pdflib.cold.outputBytes),
      `${mib(f.pdflib.memory.idleBytes)} → ${mib(f.pdflib.memory.peakBytes)} (+${mib(
        f.pdflib.memory.peakBytes - f.pdflib.memory.idleBytes,
      )}) → ${mib(f.pdflib.memory.afterBytes)}`,
    ]),
  );
  const uploads = rawTable(
    [
      'File',
      'size',
      'pages',
      '`product create --file` with `--watermark on`',
      'without',
      'difference (upload-time analysis)',
      'method',
    ],
    m.files.map((f) => [
      f.label,
      mib(f.bytes),
      count(f.pages),
      `${f.upload.watermarkSeconds.toFixed(2)} s`,
      `${f.upload.plainSeconds.toFixed(2)} s`,
      `${(f.upload.watermarkSeconds - f.upload.plainSeconds).toFixed(2)} s`,
      f.upload.reason ? `${f.upload.method} (${f.upload.reason})` : f.upload.method,
    ]),
  );
  const checks = rawTable(
    [
      'File',
      'copy size',
      'added bytes',
      '`qpdf --check` original / copy',
      'pages searched (pdftotext)',
      'buyer name found on',
      'check',
    ],
    m.files.map((f) => [
      short(f),
      count(f.copyBytes),
      count(f.check.addedBytes),
      `${f.check.qpdfOriginal} / ${f.check.qpdfCopy}`,
      f.check.pagesChecked.join(', '),
      f.check.pagesWithName.join(', ') || 'none',
      f.check.ok ? 'ok' : `FAIL: ${f.check.problems.join('; ')}`,
    ]),
  );
  const generated = Object.entries(m.corpus.generated);
  const corpusLine = generated.length
    ? `The corpus files were generated in this run (${generated
        .map(([name, g]) => `${name} ${(g.ms / 1000).toFixed(1)} s`)
        .join(', ')}; not counted below).`
    : `The corpus files were already in ${'`os.tmpdir()/cloudsecure-pdf-corpus-<version>`'} (checked in ${m.corpus.seconds.toFixed(1)} s).`;
  const machine = rawTable(
    ['Fact', 'Value'],
    [
      ['Date', m.machine.date],
      ['nproc', String(m.machine.nproc)],
      ['CPU', m.machine.cpu],
      ['Memory', m.machine.memory],
      ['Kernel', m.machine.kernel],
      ['Node', m.machine.node],
      [
        'Load average (1/5/15 min) before / after',
        `${m.machine.loadBefore} — ${loadavg()
          .map((n) => n.toFixed(2))
          .join(' / ')}`,
      ],
    ],
  );
  const busy =
    m.machine.load1Before > m.machine.nproc / 2
      ? `\n> **Busy machine:** the 1-minute load average was ${m.machine.load1Before.toFixed(2)} on ${m.machine.nproc} cores before the run;\n> other processes competed for the CPU, so treat the times as rough (the server CPU per download is steadier).\n`
      : '';
  const big = m.files.find((f) => f.concurrent);
  const section = `${WATERMARK_START}

## Watermarking (PDF)

Written by \`npm run bench:watermark\` (bench/watermark.ts) on ${m.machine.date}; the run took
${m.elapsedSeconds.toFixed(0)} s, of which ${m.setupSeconds.toFixed(0)} s setting up through the CLI. Every ratio compares numbers measured in this
same run. ${corpusLine}
${busy}
${resultsTable(rows)}

${m.files
  .map((f) => {
    const bare = med(f, 'bare', 'totalMs');
    const lib = med(f, 'pdflib', 'totalMs');
    return `- ${f.label}: a watermarked download took ${ms(med(f, 'wm', 'totalMs'))} and ${ms(
      (seriesOf(f, 'wm')!.cpuSeconds / Math.max(seriesOf(f, 'wm')!.runs.length, 1)) * 1000,
    )} of server CPU (unwatermarked: ${ms(med(f, 'plain', 'totalMs'))}, ${ms(
      (seriesOf(f, 'plain')!.cpuSeconds / Math.max(seriesOf(f, 'plain')!.runs.length, 1)) * 1000,
    )}). If watermarking cost nothing (as fast as the bare stream), W-pdflib would be ${(lib / bare).toFixed(1)}×: the most this machine allows.`;
  })
  .join('\n')}

### Method (watermark)

- **Files** (tests/helpers/pdf-corpus.ts, \`ensureCorpus(['text2000', 'big-image'])\`): ${m.files
    .map((f) => `${f.label} (${count(f.bytes)} bytes, ${count(f.pages)} pages)`)
    .join(' and ')}, both made with Ghostscript.
- **Server.** One \`node bin/cloudsecure.mjs serve\` process on a fresh data dir with SQLite and local storage,
  \`CLOUDSECURE_OUTBOX=false\`, \`CLOUDSECURE_LOG_LEVEL=warn\`, \`NODE_ENV=production\`. Set up with the CLI only:
  for each file \`product create --name … --download-limit 0 --watermark on --file PATH\` (the upload-time analysis
  runs then; timed) and the same without \`--watermark on\` (the unwatermarked comparison and the time the
  analysis adds); then ${m.buyers} buyers, each \`order create --email … --name … --product …(all four) --no-notify --json\`,
  whose direct \`/d/<token>\` links are downloaded. Watermarking uses the product defaults: the footer
  \`Licensed to {name} <{email}> · Order {order} · {date}\`, 8 pt, opacity 0.6, plus the hidden marks.
- **Baseline for time** (bench/lib/watermark-stream.ts): a bare \`node:http\` server in its own process
  streaming the unwatermarked file with \`createReadStream(file, { highWaterMark: 1 MiB }).pipe(res)\` (the read size
  of CloudSecure's local store) and a Content-Length.
- **Client.** \`node:http\` GET over a fresh connection (no keep-alive) from the bench process; TTFB is request
  start → first body byte, total is → last body byte; the byte count must equal Content-Length and the
  status 200. Per file: one warm-up download of each target (CloudSecure's first download of a file loads its
  analysis and the font), then ${m.runs} rounds of bare → unwatermarked CloudSecure → watermarked CloudSecure (the
  watermarked runs rotate over the buyers), then the pdf-lib server's warm-up and ${m.runs} downloads in a block of
  their own (its garbage collection would otherwise run beside the next download); ${m.pauseMs} ms pause after every
  download; medians. Server CPU is the process's user + system time
  from /proc over the measured runs.
- **pdf-lib baseline** (bench/lib/watermark-pdflib.ts): a bare \`node:http\` server in its own process whose every
  \`GET\` reads the file, \`PDFDocument.load\`s it with pdf-lib 1.17.1, draws the same kind of footer (Helvetica, 8 pt,
  opacity 0.6) on every page, \`save()\`s (object streams on) and sends the bytes with a Content-Length — what a
  plain Node watermarking service does. It is downloaded by the same client in the same rounds (its first,
  cold answer is the warm-up), so W-pdflib compares two whole downloads.
- **Memory.** Idle: median of 10 VmRSS samples of the settled server (1 s after the last download, so the
  download path is warm). Peak: the larger of VmRSS sampled every 25 ms and VmHWM after resetting it through
  \`/proc/<pid>/clear_refs\`, while ${m.files[0]?.memory.downloads ?? 3} watermarked downloads ran one after another (W-RSS)${big ? `, or ${big.concurrent?.wm.downloads} at once (W-RSS10; rotating over the ${m.buyers} buyers' links, so some grants repeat; each copy is made anew, nothing is cached per grant); the same ${big.concurrent?.plain.downloads} at once without watermarking are shown for comparison; they run second, so their idle already holds what the first run left` : ''}. For comparison, the
  pdf-lib server's RSS right after it started (pdf-lib imported) and its peak over all its answers (VmHWM).
- **Correctness**, once per file, on the warm-up buyer's copy saved to disk: \`qpdf --check\` must exit 0 (or 3 only when
  the original also does), and \`pdftotext -f N -l N\` must find the buyer's name on the first, a middle and the last page.

### Raw numbers (watermark)

${downloads}

${everyRun}

${memory}

${pdflib}

${uploads}

${checks}

${machine}

${WATERMARK_END}`;
  return { section, rows };
}
