/** Turns the measurements into the results table and bench/RESULTS.md. */
import { median, type WrkOptions, type WrkResult } from './load.ts';
import type { Child } from './procs.ts';
import {
  formatMiB,
  formatRate,
  formatSpeed,
  type Machine,
  machineTable,
  type Row,
  rawTable,
  resultsTable,
} from './report.ts';

export interface Target {
  key: 'bare' | 'cs' | 'cs-pg' | 'nginx' | 'healthz';
  name: string;
  url: string;
  child: Child;
  runs: Array<WrkResult & { cpuPercent: number; cpuMicrosPerRequest: number }>;
}

export interface DownloadSeries {
  name: string;
  url: string;
  child: Child;
  /** bytes/s of each measured download. */
  speeds: number[];
  /** Server CPU over the measured downloads. */
  cpuSeconds: number;
}

export interface MemoryResult {
  idle: number;
  peak: number;
  sampledPeak: number;
  samples: number;
  /** VmHWM after a reset, or null when the reset was refused. */
  hwm: number | null;
  parallel: number;
  seconds: number;
  slowest: number;
}

export interface Measurements {
  machine: Machine;
  elapsedSeconds: number;
  wrk: WrkOptions;
  warmupSeconds: number;
  rounds: number;
  dummyEndpoint: string;
  targets: Target[];
  fileSize: number;
  downloads: DownloadSeries[];
  memory: MemoryResult;
  events: { sqlite: Record<string, number>; pg: Record<string, number> | null };
}

const MiB = 1024 * 1024;

function rps(t: Target | undefined): number {
  return t ? median(t.runs.map((r) => r.requestsPerSecond)) : Number.NaN;
}

function cpuPerRequest(t: Target | undefined): number {
  return t ? median(t.runs.map((r) => r.cpuMicrosPerRequest)) : Number.NaN;
}

function eventLine(name: string, counts: Record<string, number>): string {
  const parts = Object.entries(counts).map(([status, n]) => `${formatRate(n)} \`${status}\``);
  return `- ${name}: ${parts.join(', ')} download events logged.`;
}

export function renderResults(m: Measurements): { markdown: string; rows: Row[] } {
  const byKey = (key: Target['key']): Target | undefined => m.targets.find((t) => t.key === key);
  const [bare, cs, csPg, nginx] = (['bare', 'cs', 'cs-pg', 'nginx'] as const).map(byKey);
  const [csDownload, nginxDownload] = m.downloads;
  const speed = (s: DownloadSeries | undefined): number => (s ? median(s.speeds) : Number.NaN);
  const { memory } = m;

  const rows: Row[] = [
    {
      id: '1a',
      what: '`/d/<token>` → 302 presigned (SQLite) vs bare node:http 302, req/s',
      cloudsecure: formatRate(rps(cs)),
      baseline: formatRate(rps(bare)),
      ratio: rps(cs) / rps(bare),
      target: '≥ 0.35',
      pass: rps(cs) / rps(bare) >= 0.35,
    },
    {
      id: '1b',
      what: '`/d/<token>` → 302 presigned (SQLite) vs nginx secure_link + return 302, req/s',
      cloudsecure: formatRate(rps(cs)),
      baseline: formatRate(rps(nginx)),
      ratio: rps(cs) / rps(nginx),
      target: 'report',
      pass: null,
    },
    ...(csPg
      ? [
          {
            id: '1c',
            what: '`/d/<token>` → 302 presigned (PostgreSQL) vs bare node:http 302, req/s',
            cloudsecure: formatRate(rps(csPg)),
            baseline: formatRate(rps(bare)),
            ratio: rps(csPg) / rps(bare),
            target: 'report',
            pass: null,
          },
        ]
      : []),
    {
      id: '2a',
      what: `one ${formatMiB(m.fileSize)} local download vs nginx sendfile, curl, median of ${csDownload?.speeds.length ?? 0}`,
      cloudsecure: formatSpeed(speed(csDownload)),
      baseline: formatSpeed(speed(nginxDownload)),
      ratio: speed(csDownload) / speed(nginxDownload),
      target: '≥ 0.70',
      pass: speed(csDownload) / speed(nginxDownload) >= 0.7,
    },
    {
      id: '2b',
      what: `peak RSS during ${memory.parallel} parallel downloads, above idle`,
      cloudsecure: `${formatMiB(memory.peak)} peak = idle + ${formatMiB(memory.peak - memory.idle)}`,
      baseline: `${formatMiB(memory.idle)} idle`,
      ratio: memory.peak / memory.idle,
      target: '< idle + 100 MiB',
      pass: memory.peak - memory.idle < 100 * MiB,
    },
  ];

  const summary = rawTable(
    ['Target', 'median req/s', 'median server CPU per request', 'socket errors (all rounds)'],
    m.targets.map((t) => [
      t.name,
      formatRate(rps(t)),
      `${cpuPerRequest(t).toFixed(0)} µs`,
      String(t.runs.reduce((sum, r) => sum + r.socketErrors, 0)),
    ]),
  );
  const runs = rawTable(
    ['Target', 'Round', 'req/s', 'requests', 'p50 ms', 'p99 ms', 'server CPU', 'CPU µs/request'],
    m.targets.flatMap((t) =>
      t.runs.map((r, i) => [
        t.name,
        String(i + 1),
        formatRate(r.requestsPerSecond),
        formatRate(r.requests),
        r.p50ms.toFixed(2),
        r.p99ms.toFixed(2),
        `${r.cpuPercent.toFixed(0)}%`,
        r.cpuMicrosPerRequest.toFixed(0),
      ]),
    ),
  );
  const downloads = rawTable(
    ['Server', 'each download', 'median', 'server CPU per GiB sent'],
    m.downloads.map((s) => [
      s.name,
      s.speeds.map(formatSpeed).join(', '),
      formatSpeed(speed(s)),
      `${((s.cpuSeconds / (s.speeds.length * m.fileSize)) * 1024 ** 3).toFixed(2)} s`,
    ]),
  );
  const totalRequests = (t: Target | undefined): string =>
    formatRate(t ? t.runs.reduce((sum, r) => sum + r.requests, 0) : 0);
  const { wrk } = m;

  const markdown = `# CloudSecure benchmark results

Written by \`npm run bench\` (bench/run.ts) on ${m.machine.date}; the run took ${m.elapsedSeconds.toFixed(0)} s. Every
ratio compares numbers measured in this same run on this same machine. On a shared or busy machine the
absolute numbers are noisy (see the load average below); the server CPU time per request is the steadier
figure.

## Results
${
  m.machine.load1Before > m.machine.nproc / 2
    ? `\n> **Busy machine:** the 1-minute load average was ${m.machine.load1Before.toFixed(2)} on ${m.machine.nproc} cores before the run;\n> other processes competed for the CPU, so treat these numbers as rough.\n`
    : ''
}
${resultsTable(rows)}

## Machine

${machineTable(m.machine)}

## How it was measured

- **Servers.** CloudSecure runs as \`node bin/cloudsecure.mjs serve\` (one process, one event loop) with a
  temp data dir and SQLite (or a fresh PostgreSQL database for 1c), \`CLOUDSECURE_LOG_LEVEL=warn\`, a
  random master key, on 127.0.0.1. S3 storage is configured with endpoint ${m.dummyEndpoint}, where nothing
  listens: presigning is local computation. The S3 file was uploaded beforehand to a short-lived s3rver.
  The bare baseline (bench/bare-node.mjs) answers \`302\` to the very URL CloudSecure presigned, and streams
  the file with \`createReadStream\` piped to the response. nginx runs with \`worker_processes 1\` (one core,
  like Node's one event loop), \`access_log off\`, \`sendfile on\`, \`keepalive_requests 1000000\`, and checks
  \`secure_link $arg_md5,$arg_expires\` with \`secure_link_md5 "$secure_link_expires$uri$remote_addr secret"\`
  before \`return 302\` to the same URL, or before serving the same blob file from disk.
- **1.** \`wrk -t${wrk.threads} -c${wrk.connections} -d${wrk.seconds}s --timeout 5s\`, one valid link repeated. The
  download limit is 0 (unlimited), so every request is checked, counted, logged and redirected. Each target
  gets ${m.warmupSeconds} s of warm-up, then ${m.rounds} rounds interleaved across targets; the table shows the median
  round. A non-2xx/3xx answer aborts the run. Server CPU is user+system time of the server process
  (nginx: master and worker) from /proc over the round; 100% is one core. wrk runs on the same ${m.machine.nproc}
  cores, so a very fast server is partly limited by wrk itself.
- **2a.** \`curl -s -o /dev/null -w '%{speed_download}'\` of the whole file: one warm-up each (page cache),
  then ${csDownload?.speeds.length ?? 0} rounds alternating between the servers; the table shows the medians.
- **2b.** Idle RSS: median of 10 VmRSS samples taken 2 s after the downloads above (so the download path
  is warm). Peak: VmRSS of the server process sampled every 50 ms${memory.hwm === null ? '' : ', and VmHWM after resetting it through `/proc/<pid>/clear_refs`'},
  while ${memory.parallel} curl downloads of the file ran at once.

## Raw numbers

### Redirects (and the app floor)

${summary}

"CloudSecure /healthz" is the same server answering its JSON health check: the cost of Node + Hono + the
global middleware, without any token check, database or presigning.

${runs}

### Downloads

${downloads}

${memory.parallel} parallel CloudSecure downloads: ${formatMiB(m.fileSize * memory.parallel)} in ${memory.seconds.toFixed(2)} s
(${formatSpeed((m.fileSize * memory.parallel) / memory.seconds)} together, slowest ${formatSpeed(memory.slowest)}). RSS sampled
${memory.samples} times: peak sampled ${formatMiB(memory.sampledPeak)}${memory.hwm === null ? '' : `, VmHWM ${formatMiB(memory.hwm)}`}; idle ${formatMiB(memory.idle)}.

### Logging check

${eventLine('SQLite server', m.events.sqlite)} wrk saw ${totalRequests(cs)} responses in the measured rounds
(plus warm-up and the checks), and ${(csDownload?.speeds.length ?? 0) + 1 + memory.parallel} downloads ran.
${m.events.pg ? `${eventLine('PostgreSQL server', m.events.pg)} wrk saw ${totalRequests(csPg)} responses in the measured rounds.` : ''}
`;
  return { markdown, rows };
}
