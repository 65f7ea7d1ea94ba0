/**
 * `npm run bench`: CloudSecure against baselines measured in the same run, written to bench/RESULTS.md.
 *
 * 1. `/d/<token>` for an S3 file (link check + count + log + 302 to a presigned URL), req/s with wrk,
 *    against a bare node:http 302 server and nginx `secure_link` + `return 302`.
 * 2. One 200 MiB local-storage download, curl throughput against nginx sendfile of the same file, and the
 *    server's peak RSS during 10 parallel downloads against its idle RSS.
 *
 * Knobs (environment): BENCH_SECONDS (8), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50), BENCH_THREADS (2),
 * BENCH_FILE_MB (200), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/postgres), BENCH_PG=0 to skip
 * the PostgreSQL variant, BENCH_KEEP=1 to keep the temp directory (with setup.json, see breakdown.ts) and
 * the PostgreSQL database.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { keepLicensingSection } from './lib/licensing-report.ts';
import {
  cpuSeconds,
  curlDownload,
  median,
  procStatusBytes,
  resetPeakRSS,
  runWrk,
  sampleRSS,
  type WrkOptions,
} from './lib/load.ts';
import { writeNginxConfig } from './lib/nginx.ts';
import { countEvents, prepareLocalFile, prepareS3Link } from './lib/prepare.ts';
import {
  type Child,
  freePort,
  runCommand,
  startChild,
  stopAll,
  stopChild,
  tailOf,
  waitForHTTP,
} from './lib/procs.ts';
import { describeMachine, formatMiB, formatRate, resultsTable } from './lib/report.ts';
import { type DownloadSeries, type MemoryResult, renderResults, type Target } from './lib/results.ts';
import { keepWatermarkSection } from './lib/watermark-report.ts';
import { spliceWebhooksSection, WEBHOOKS_END, WEBHOOKS_START } from './lib/webhooks-report.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(BENCH_DIR);
const MiB = 1024 * 1024;

const env = process.env;
const WRK: WrkOptions = {
  seconds: Number(env.BENCH_SECONDS ?? 8),
  threads: Number(env.BENCH_THREADS ?? 2),
  connections: Number(env.BENCH_CONNECTIONS ?? 50),
};
const WARMUP_SECONDS = 3;
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const FILE_BYTES = Number(env.BENCH_FILE_MB ?? 200) * MiB;
const DOWNLOAD_RUNS = 5;
const PARALLEL_DOWNLOADS = 10;
const PG_ADMIN_URL = env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** Nothing listens there: the server only presigns URLs for it. */
const DUMMY_S3 = { endpoint: 'http://127.0.0.1:9', bucket: 'bench' };

function log(message: string): void {
  process.stdout.write(`[bench] ${message}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function serverEnv(
  dataDir: string,
  port: number,
  masterKey: string,
  databaseURL?: string,
): Record<string, string> {
  return {
    CLOUDSECURE_DATA_DIR: dataDir,
    CLOUDSECURE_HOST: '127.0.0.1',
    CLOUDSECURE_PORT: String(port),
    CLOUDSECURE_PUBLIC_URL: `http://127.0.0.1:${port}`,
    CLOUDSECURE_MASTER_KEY: masterKey,
    CLOUDSECURE_LOG_LEVEL: 'warn',
    // No outbox worker: these benches measure request paths, not e-mail delivery in the background.
    CLOUDSECURE_OUTBOX: 'false',
    ...(databaseURL ? { CLOUDSECURE_DATABASE_URL: databaseURL } : {}),
  };
}

async function startCloudSecure(name: string, root: string, vars: Record<string, string>): Promise<Child> {
  const inherited = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('CLOUDSECURE_')));
  const child = startChild(name, process.execPath, [join(REPO, 'bin', 'cloudsecure.mjs'), 'serve'], {
    cwd: REPO,
    env: { ...inherited, ...vars, NODE_ENV: 'production' },
    logPath: join(root, `${name}.log`),
  });
  await waitForHTTP(child, `${vars.CLOUDSECURE_PUBLIC_URL}/healthz`);
  return child;
}

async function redirectOf(url: string): Promise<{ status: number; location: string }> {
  const res = await fetch(url, { redirect: 'manual' });
  await res.body?.cancel();
  return { status: res.status, location: res.headers.get('location') ?? '' };
}

async function expectRedirect(name: string, url: string, locationPrefix: string): Promise<string> {
  const { status, location } = await redirectOf(url);
  if (status !== 302 || !location.startsWith(locationPrefix)) {
    throw new Error(`${name}: expected 302 to ${locationPrefix}…, got ${status} ${location}`);
  }
  return location;
}

/** A fresh PostgreSQL database, or null (with the reason logged) when PostgreSQL is not reachable. */
async function createPgDatabase(): Promise<{ url: string; drop(): Promise<void> } | null> {
  if (env.BENCH_PG === '0') return null;
  const name = `cs_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (error) {
    log(`PostgreSQL variant skipped: ${(error as Error).message}`);
    return null;
  } finally {
    await admin.end().catch(() => undefined);
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function measure(target: Target, seconds: number): Promise<Target['runs'][number]> {
  const cpuBefore = cpuSeconds(target.child.pid);
  const result = await runWrk(target.url, { ...WRK, seconds });
  const cpu = cpuSeconds(target.child.pid) - cpuBefore;
  // Wrong answers abort the run; socket errors (timeouts on a saturated machine) are reported.
  if (result.bad > 0) {
    throw new Error(`${target.name}: ${result.bad} non-2xx/3xx responses\n${tailOf(target.child.logPath)}`);
  }
  return { ...result, cpuPercent: (cpu / seconds) * 100, cpuMicrosPerRequest: (cpu / result.requests) * 1e6 };
}

async function download(series: DownloadSeries, size: number): Promise<number> {
  const d = await curlDownload(series.url);
  if (d.status !== 200 || d.bytes !== size) {
    throw new Error(
      `${series.name}: download answered ${d.status} with ${d.bytes} bytes, expected 200 and ${size}`,
    );
  }
  return d.bytesPerSecond;
}

/** 10 downloads at once, VmRSS sampled every 50 ms (and VmHWM when /proc lets us reset it). */
async function measureMemory(server: Child, url: string, size: number): Promise<MemoryResult> {
  await sleep(2000);
  const idleSamples: number[] = [];
  for (let i = 0; i < 10; i++) {
    idleSamples.push(procStatusBytes(server.pid, 'VmRSS'));
    await sleep(50);
  }
  const hwmReset = resetPeakRSS(server.pid);
  const sampler = sampleRSS(server.pid, 50);
  const started = performance.now();
  const speeds = await Promise.all(
    Array.from({ length: PARALLEL_DOWNLOADS }, () =>
      download({ name: 'CloudSecure (parallel)', url, child: server, speeds: [], cpuSeconds: 0 }, size),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const sampled = sampler.stop();
  const hwm = hwmReset ? procStatusBytes(server.pid, 'VmHWM') : 0;
  return {
    idle: median(idleSamples),
    peak: Math.max(sampled.peak, hwm),
    sampledPeak: sampled.peak,
    samples: sampled.samples,
    hwm: hwmReset ? hwm : null,
    parallel: PARALLEL_DOWNLOADS,
    seconds,
    slowest: Math.min(...speeds),
  };
}

async function main(): Promise<void> {
  for (const tool of ['wrk', 'nginx', 'curl']) {
    const found = await runCommand('sh', ['-c', `command -v ${tool}`], 5000);
    if (found.code !== 0) {
      throw new Error(`${tool} is missing: apt-get update && apt-get install -y wrk nginx curl`);
    }
  }
  const machine = await describeMachine();
  const root = mkdtempSync(join(tmpdir(), 'cloudsecure-bench-'));
  let pgDb: Awaited<ReturnType<typeof createPgDatabase>> = null;
  const started = Date.now();
  try {
    const masterKey = randomBytes(32).toString('base64');
    const [csPort, csPgPort, barePort, nginxPort, s3Port] = await Promise.all(
      Array.from({ length: 5 }, () => freePort()),
    );
    const sqliteEnv = serverEnv(join(root, 'data-sqlite'), csPort!, masterKey);

    log('preparing data (s3rver only for the upload; presigning later needs no S3 server)');
    const s3rver = startChild(
      's3rver',
      process.execPath,
      [
        join(REPO, 'node_modules', 's3rver', 'bin', 's3rver.js'),
        ...['-d', join(root, 's3'), '-a', '127.0.0.1', '-p', String(s3Port), '--silent'],
        ...['--configure-bucket', DUMMY_S3.bucket],
      ],
      { cwd: REPO, logPath: join(root, 's3rver.log') },
    );
    const s3URL = `http://127.0.0.1:${s3Port}`;
    await waitForHTTP(s3rver, `${s3URL}/`);
    const upload = { endpoint: s3URL, bucket: DUMMY_S3.bucket };
    const s3Link = await prepareS3Link(sqliteEnv, upload, DUMMY_S3);
    pgDb = await createPgDatabase();
    const pgEnv = pgDb ? serverEnv(join(root, 'data-pg'), csPgPort!, masterKey, pgDb.url) : null;
    const pgLink = pgEnv ? await prepareS3Link(pgEnv, upload, DUMMY_S3) : null;
    await stopChild(s3rver);
    log(`writing the ${formatMiB(FILE_BYTES)} file to local storage`);
    const local = await prepareLocalFile(sqliteEnv, FILE_BYTES);
    // With BENCH_KEEP=1 this lets one start the same servers by hand (profiling, bench/breakdown.ts).
    writeFileSync(
      join(root, 'setup.json'),
      JSON.stringify(
        { sqliteEnv, pgEnv, s3Link, pgLink, localLink: local.link, localPath: local.path },
        null,
        2,
      ),
    );

    log('starting servers');
    const csSqlite = await startCloudSecure('cloudsecure-sqlite', root, sqliteEnv);
    const csPg = pgEnv ? await startCloudSecure('cloudsecure-pg', root, pgEnv) : null;
    const location = await expectRedirect('CloudSecure', s3Link, `${DUMMY_S3.endpoint}/${DUMMY_S3.bucket}/`);
    if (!location.includes('X-Amz-Signature=')) throw new Error(`not a presigned URL: ${location}`);
    if (pgLink) await expectRedirect('CloudSecure (PostgreSQL)', pgLink, `${DUMMY_S3.endpoint}/`);

    const bare = startChild(
      'bare-node',
      process.execPath,
      [join(BENCH_DIR, 'bare-node.mjs'), String(barePort), location, local.path],
      { logPath: join(root, 'bare-node.log') },
    );
    const bareURL = `http://127.0.0.1:${barePort}/d/x`;
    await waitForHTTP(bare, bareURL);
    await expectRedirect('bare node:http', bareURL, location);

    const nginxSetup = writeNginxConfig({
      prefix: join(root, 'nginx'),
      port: nginxPort!,
      location,
      filePath: local.path,
    });
    const nginx = startChild(
      'nginx',
      'nginx',
      [
        ...['-p', nginxSetup.prefix, '-c', nginxSetup.configPath],
        ...['-e', join(nginxSetup.prefix, 'logs', 'error.log'), '-g', 'daemon off;'],
      ],
      { logPath: join(root, 'nginx.log') },
    );
    await waitForHTTP(nginx, `http://127.0.0.1:${nginxPort}/`);
    await expectRedirect('nginx', nginxSetup.redirectURL, location);
    const forged = await redirectOf(
      nginxSetup.redirectURL.replace(/md5=[^&]+/, 'md5=AAAAAAAAAAAAAAAAAAAAAA'),
    );
    if (forged.status !== 403) throw new Error(`nginx accepted a forged secure link (${forged.status})`);

    const targets: Target[] = [
      { key: 'bare', name: 'bare node:http 302', url: bareURL, child: bare, runs: [] },
      { key: 'cs', name: 'CloudSecure /d (SQLite)', url: s3Link, child: csSqlite, runs: [] },
      ...(csPg && pgLink
        ? [{ key: 'cs-pg' as const, name: 'CloudSecure /d (PostgreSQL)', url: pgLink, child: csPg, runs: [] }]
        : []),
      { key: 'nginx', name: 'nginx secure_link 302', url: nginxSetup.redirectURL, child: nginx, runs: [] },
      {
        key: 'healthz',
        name: 'CloudSecure /healthz (app floor, no DB)',
        url: `${sqliteEnv.CLOUDSECURE_PUBLIC_URL}/healthz`,
        child: csSqlite,
        runs: [],
      },
    ];
    log(`warm-up ${WARMUP_SECONDS}s each, then ${ROUNDS} interleaved rounds of ${WRK.seconds}s`);
    for (const t of targets) await measure(t, WARMUP_SECONDS);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        const r = await measure(t, WRK.seconds);
        t.runs.push(r);
        log(
          `round ${round} ${t.name}: ${formatRate(r.requestsPerSecond)} req/s, ` +
            `server CPU ${r.cpuPercent.toFixed(0)}%, ${r.cpuMicrosPerRequest.toFixed(0)} µs/request`,
        );
      }
    }

    log(`downloads: one warm-up each, then ${DOWNLOAD_RUNS} rounds alternating between the servers`);
    const series: DownloadSeries[] = [
      { name: 'CloudSecure /d (local storage)', url: local.link, child: csSqlite, speeds: [], cpuSeconds: 0 },
      {
        name: 'nginx secure_link + sendfile',
        url: nginxSetup.fileURL,
        child: nginx,
        speeds: [],
        cpuSeconds: 0,
      },
      {
        name: 'bare node:http createReadStream',
        url: `http://127.0.0.1:${barePort}/file`,
        child: bare,
        speeds: [],
        cpuSeconds: 0,
      },
    ];
    for (const s of series) await download(s, local.size);
    for (let i = 0; i < DOWNLOAD_RUNS; i++) {
      for (const s of series) {
        const before = cpuSeconds(s.child.pid);
        s.speeds.push(await download(s, local.size));
        s.cpuSeconds += cpuSeconds(s.child.pid) - before;
      }
    }

    log(`memory: idle RSS, then ${PARALLEL_DOWNLOADS} downloads at once`);
    const memory = await measureMemory(csSqlite, local.link, local.size);
    // Let the server record the end of the last downloads before it is stopped.
    await sleep(1000);

    await stopAll();
    const events = { sqlite: await countEvents(sqliteEnv), pg: pgEnv ? await countEvents(pgEnv) : null };
    const { markdown, rows } = renderResults({
      machine,
      elapsedSeconds: (Date.now() - started) / 1000,
      wrk: WRK,
      warmupSeconds: WARMUP_SECONDS,
      rounds: ROUNDS,
      dummyEndpoint: DUMMY_S3.endpoint,
      targets,
      fileSize: local.size,
      downloads: series,
      memory,
      events,
    });
    const resultsPath = join(BENCH_DIR, 'RESULTS.md');
    // The licensing, webhooks and watermark benches keep their own sections in this file: carry them over.
    const previous = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8') : null;
    const webhooks = previous
      ? previous.slice(previous.indexOf(WEBHOOKS_START), previous.indexOf(WEBHOOKS_END))
      : '';
    const kept = keepLicensingSection(markdown, previous);
    const withWebhooks = webhooks.startsWith(WEBHOOKS_START)
      ? spliceWebhooksSection(kept, `${webhooks}${WEBHOOKS_END}`)
      : kept;
    writeFileSync(resultsPath, keepWatermarkSection(withWebhooks, previous));
    // The repository's formatter aligns markdown tables; format the file so `biome check .` stays clean.
    const biome = join(REPO, 'node_modules', '.bin', 'biome');
    const formatted = await runCommand(biome, ['format', '--write', resultsPath], 30_000);
    if (formatted.code !== 0) log(`biome could not format RESULTS.md: ${formatted.stderr.trim()}`);
    const text = readFileSync(resultsPath, 'utf8');
    const summary = text.slice(text.indexOf('## Results'), text.indexOf('## How it was measured'));
    process.stdout.write(`\n${summary.trim() || resultsTable(rows)}\n\nWrote bench/RESULTS.md\n`);
  } finally {
    await stopAll();
    if (env.BENCH_KEEP === '1') {
      log(`kept ${root}${pgDb ? ` and the database ${pgDb.url} (drop it by hand)` : ''}`);
    } else {
      await pgDb?.drop().catch((error: unknown) => log(`could not drop the PostgreSQL database: ${error}`));
      rmSync(root, { recursive: true, force: true });
    }
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
    `[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  await stopAll();
  process.exit(1);
});
