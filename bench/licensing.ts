/**
 * `npm run bench:licensing` (and the second half of `npm run bench`): the license server under load,
 * against a bare node:http server answering the same JSON bytes, in the same run. Writes its section of
 * bench/RESULTS.md (between `<!-- licensing:start -->` and `<!-- licensing:end -->`).
 *
 * L1. `POST /api/v1/licenses/validate` with 100,000 licenses in the database: req/s against the bare
 *     server (target ≥ 0.35×), and p99 latency at 64 connections.
 * L2. The same for the EDD-compatible `check_license` (`POST /`, form-encoded); skipped when `/` does not
 *     answer it yet.
 * L3. `validate` throughput with 1,000,000 licenses against 1,000 (target ≥ 0.8).
 *
 * Knobs (environment): BENCH_SECONDS (8), BENCH_ROUNDS (3), BENCH_THREADS (2), BENCH_LICENSING_CONNECTIONS
 * (64), BENCH_LICENSES (100000), BENCH_LICENSES_SMALL (1000), BENCH_LICENSES_LARGE (1000000),
 * BENCH_LICENSING_SAMPLE (20000 keys rotated per database), BENCH_KEEP=1 to keep the temp directory.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWrkScript, type ScriptedRequest, writeWrkScript } from './lib/licensing-load.ts';
import {
  type LicensingKey,
  type LicensingRun,
  type LicensingTarget,
  renderLicensingSection,
  spliceLicensingSection,
} from './lib/licensing-report.ts';
import {
  BENCH_PRODUCT,
  BENCH_SITE,
  type SeededDatabase,
  seedLicenseDatabases,
} from './lib/licensing-seed.ts';
import { cpuSeconds, type WrkOptions } from './lib/load.ts';
import { type Child, freePort, runCommand, startChild, stopAll, tailOf, waitForHTTP } from './lib/procs.ts';
import { describeMachine, resultsTable } from './lib/report.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(BENCH_DIR);

const env = process.env;
const WRK: WrkOptions = {
  seconds: Number(env.BENCH_SECONDS ?? 8),
  threads: Number(env.BENCH_THREADS ?? 2),
  connections: Number(env.BENCH_LICENSING_CONNECTIONS ?? 64),
};
const WARMUP_SECONDS = 3;
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const SIZES = {
  small: Number(env.BENCH_LICENSES_SMALL ?? 1_000),
  main: Number(env.BENCH_LICENSES ?? 100_000),
  large: Number(env.BENCH_LICENSES_LARGE ?? 1_000_000),
};
const SAMPLE = Number(env.BENCH_LICENSING_SAMPLE ?? 20_000);
const VALIDATE_PATH = '/api/v1/licenses/validate';
const FORM = 'application/x-www-form-urlencoded';

function log(message: string): void {
  process.stdout.write(`[bench:licensing] ${message}\n`);
}

function serverEnv(dataDir: string, port: number, masterKey: string): Record<string, string> {
  return {
    CLOUDSECURE_DATA_DIR: dataDir,
    CLOUDSECURE_HOST: '127.0.0.1',
    CLOUDSECURE_PORT: String(port),
    CLOUDSECURE_PUBLIC_URL: `http://127.0.0.1:${port}`,
    CLOUDSECURE_MASTER_KEY: masterKey,
    CLOUDSECURE_LOG_LEVEL: 'warn',
    // No outbox worker: these benches measure request paths, not e-mail delivery in the background.
    CLOUDSECURE_OUTBOX: 'false',
    // wrk is one client address sending thousands of requests a second: the per-IP limits must not stop
    // it. They still run (and cost what they cost) on every request.
    CLOUDSECURE_RATE_LIMIT_PER_MINUTE: '1000000000',
    CLOUDSECURE_LICENSE_RATE_LIMIT_PER_MINUTE: '1000000000',
  };
}

interface Server {
  child: Child;
  origin: string;
  db: SeededDatabase;
}

async function startServer(root: string, db: SeededDatabase, masterKey: string): Promise<Server> {
  const port = await freePort();
  const vars = serverEnv(db.dataDir, port, masterKey);
  const inherited = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('CLOUDSECURE_')));
  const name = `cloudsecure-${db.size}`;
  const child = startChild(name, process.execPath, [join(REPO, 'bin', 'cloudsecure.mjs'), 'serve'], {
    cwd: REPO,
    env: { ...inherited, ...vars, NODE_ENV: 'production' },
    logPath: join(root, `${name}.log`),
  });
  const origin = vars.CLOUDSECURE_PUBLIC_URL!;
  await waitForHTTP(child, `${origin}/healthz`);
  return { child, origin, db };
}

async function post(
  url: string,
  contentType: string,
  body: string,
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, text: await res.text() };
}

function validateBody(key: string, extra: Record<string, string> = {}): string {
  return JSON.stringify({ key, product: BENCH_PRODUCT.slug, ...extra });
}

function eddBody(key: string): string {
  return new URLSearchParams({
    edd_action: 'check_license',
    license: key,
    item_id: String(BENCH_PRODUCT.itemId),
    url: BENCH_SITE,
  }).toString();
}

function firstKey(db: SeededDatabase): string {
  const key = readFileSync(db.keysFile, 'utf8').split('\n')[0];
  if (!key) throw new Error(`no keys in ${db.keysFile}`);
  return key;
}

/** Checks, before any load, that a server finds the bulk-written licenses and their activations. */
async function checkServer(server: Server, realKey: string): Promise<string> {
  const url = `${server.origin}${VALIDATE_PATH}`;
  const expect = async (what: string, body: string, test: (answer: Record<string, unknown>) => boolean) => {
    const res = await post(url, 'application/json', body);
    const answer = JSON.parse(res.text) as Record<string, unknown>;
    if (res.status !== 200 || !test(answer)) {
      throw new Error(`${server.child.name}: ${what} answered ${res.status} ${res.text.slice(0, 300)}`);
    }
    return res.text;
  };
  await expect('the real license', validateBody(realKey), (a) => a.code === 'VALID');
  await expect(
    'a bulk license on its site',
    validateBody(firstKey(server.db), { site_url: BENCH_SITE }),
    (a) => a.code === 'VALID' && a.activation !== null,
  );
  await expect(
    'an unknown key',
    validateBody('CS-00000-00000-00000-00000-00000'),
    (a) => a.code === 'NOT_FOUND',
  );
  return expect('a bulk license', validateBody(firstKey(server.db)), (a) => a.code === 'VALID');
}

/** The check_license answer for a sampled key, or the reason the row is skipped. */
async function checkEdd(server: Server): Promise<{ body: string } | { skipped: string }> {
  const res = await post(`${server.origin}/`, FORM, eddBody(firstKey(server.db)));
  if (res.status === 404)
    return { skipped: '`POST /` answered 404: the EDD endpoint (src/http/routes/edd.ts) has not landed.' };
  let answer: Record<string, unknown> | null = null;
  try {
    answer = JSON.parse(res.text) as Record<string, unknown>;
  } catch {
    // Reported below.
  }
  if (res.status !== 200 || answer?.license !== 'valid') {
    return {
      skipped: `\`check_license\` answered ${res.status} \`${res.text.slice(0, 200)}\`, not \`"license":"valid"\`.`,
    };
  }
  return { body: res.text };
}

interface Target extends LicensingTarget {
  child: Child;
  origin: string;
  script: string;
  request: ScriptedRequest;
}

/** One request as wrk sends it (first key), to show what a server answers when the load saw errors. */
async function probe(target: Target): Promise<string> {
  const { request } = target;
  const key = request.keysFile ? (readFileSync(request.keysFile, 'utf8').split('\n')[0] ?? '') : '';
  try {
    const res = await fetch(`${target.origin}${request.path}`, {
      method: request.method,
      headers: request.contentType ? { 'Content-Type': request.contentType } : {},
      body: request.method === 'POST' ? (request.bodyTemplate ?? '').replace('{KEY}', key) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    return `${res.status} ${(await res.text()).slice(0, 300)}`;
  } catch (error) {
    return String(error);
  }
}

async function measure(target: Target, seconds: number): Promise<LicensingRun> {
  const cpuBefore = cpuSeconds(target.child.pid);
  const result = await runWrkScript(target.origin, target.script, { ...WRK, seconds });
  const cpu = cpuSeconds(target.child.pid) - cpuBefore;
  if (result.bad > 0 || result.wrong > 0) {
    throw new Error(
      `${target.name}: ${result.wrong} wrong answers (${result.bad} non-2xx/3xx; a 429 means a rate limit ` +
        `applies to the bench: raise it in serverEnv). One request now answers: ${await probe(target)}\n` +
        tailOf(target.child.logPath),
    );
  }
  return { ...result, cpuPercent: (cpu / seconds) * 100, cpuMicrosPerRequest: (cpu / result.requests) * 1e6 };
}

async function main(): Promise<void> {
  const found = await runCommand('sh', ['-c', 'command -v wrk'], 5000);
  if (found.code !== 0) throw new Error('wrk is missing: apt-get update && apt-get install -y wrk');
  const sizes = [...new Set([SIZES.small, SIZES.main, SIZES.large])].sort((a, b) => a - b);
  const machine = await describeMachine();
  const root = mkdtempSync(join(tmpdir(), 'cloudsecure-bench-licensing-'));
  const started = Date.now();
  try {
    const masterKey = randomBytes(32).toString('base64');
    log(`preparing ${sizes.map((s) => s.toLocaleString('en-US')).join(' / ')}-license SQLite databases`);
    const seed = await seedLicenseDatabases({
      root,
      masterKey,
      sizes,
      sampleSize: SAMPLE,
      envFor: (dataDir) => serverEnv(dataDir, 0, masterKey),
      log,
    });
    log(`databases ready in ${seed.seconds.toFixed(1)} s`);
    // With BENCH_KEEP=1 this lets one start a server by hand (profiling) and reuse the wrk scripts.
    writeFileSync(
      join(root, 'setup.json'),
      JSON.stringify(
        {
          masterKey,
          databases: seed.databases.map((d) => ({
            size: d.size,
            keysFile: d.keysFile,
            env: serverEnv(d.dataDir, 8080, masterKey),
          })),
        },
        null,
        2,
      ),
    );

    log('starting servers');
    const servers = new Map<number, Server>();
    for (const db of seed.databases) servers.set(db.size, await startServer(root, db, masterKey));
    const main = servers.get(SIZES.main)!;
    let validateAnswer = '';
    for (const server of servers.values()) {
      const answer = await checkServer(server, seed.realKey);
      if (server === main) validateAnswer = answer;
    }
    const edd = await checkEdd(main);
    if ('skipped' in edd) log(`check_license skipped: ${edd.skipped}`);

    const barePort = await freePort();
    const bodiesPath = join(root, 'bare-bodies.json');
    writeFileSync(
      bodiesPath,
      JSON.stringify({ [VALIDATE_PATH]: validateAnswer, '/': 'body' in edd ? edd.body : validateAnswer }),
    );
    const bare = startChild(
      'bare-node-json',
      process.execPath,
      ['--import', 'tsx', join(BENCH_DIR, 'lib', 'licensing-bare.ts'), String(barePort), bodiesPath],
      { cwd: REPO, logPath: join(root, 'bare-node-json.log') },
    );
    const bareOrigin = `http://127.0.0.1:${barePort}`;
    await waitForHTTP(bare, `${bareOrigin}/healthz`);

    const validateRequest = (db: SeededDatabase): ScriptedRequest => ({
      method: 'POST',
      path: VALIDATE_PATH,
      contentType: 'application/json',
      bodyTemplate: validateBody('{KEY}'),
      keysFile: db.keysFile,
      marker: '"code":"VALID"',
    });
    const script = (name: string, request: ScriptedRequest): string =>
      writeWrkScript(join(root, `${name}.lua`), request);
    const target = (
      key: LicensingKey,
      name: string,
      server: { child: Child; origin: string },
      licenses: number | null,
      request: ScriptedRequest,
    ): Target => ({
      key,
      name,
      licenses,
      runs: [],
      child: server.child,
      origin: server.origin,
      script: script(key, request),
      request,
    });
    const small = servers.get(SIZES.small)!;
    const large = servers.get(SIZES.large)!;
    const targets: Target[] = [
      target(
        'bare',
        'bare node:http JSON',
        { child: bare, origin: bareOrigin },
        null,
        validateRequest(main.db),
      ),
      target('validate', 'CloudSecure validate', main, SIZES.main, validateRequest(main.db)),
      ...('body' in edd
        ? [
            target('edd', 'CloudSecure EDD check_license', main, SIZES.main, {
              method: 'POST',
              path: '/',
              contentType: FORM,
              bodyTemplate: eddBody('{KEY}').replace(encodeURIComponent('{KEY}'), '{KEY}'),
              keysFile: main.db.keysFile,
              marker: '"license":"valid"',
            }),
          ]
        : []),
      target('validate-small', 'CloudSecure validate', small, SIZES.small, validateRequest(small.db)),
      target('validate-large', 'CloudSecure validate', large, SIZES.large, validateRequest(large.db)),
      target('healthz', 'CloudSecure /healthz (app floor)', main, SIZES.main, {
        method: 'GET',
        path: '/healthz',
        marker: '"status":"ok"',
      }),
    ];

    log(
      `warm-up ${WARMUP_SECONDS}s each, then ${ROUNDS} interleaved rounds of ${WRK.seconds}s at -c${WRK.connections}`,
    );
    for (const t of targets) await measure(t, WARMUP_SECONDS);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        const r = await measure(t, WRK.seconds);
        t.runs.push(r);
        log(
          `round ${round} ${t.name}${t.licenses === null ? '' : ` (${t.licenses.toLocaleString('en-US')})`}: ` +
            `${Math.round(r.requestsPerSecond).toLocaleString('en-US')} req/s, p99 ${r.p99ms.toFixed(2)} ms, ` +
            `server CPU ${r.cpuPercent.toFixed(0)}%, ${r.cpuMicrosPerRequest.toFixed(0)} µs/request`,
        );
      }
    }
    await stopAll();

    const { section, rows } = renderLicensingSection({
      machine,
      elapsedSeconds: (Date.now() - started) / 1000,
      wrk: WRK,
      warmupSeconds: WARMUP_SECONDS,
      rounds: ROUNDS,
      targets: targets.map(({ key, name, licenses, runs }) => ({ key, name, licenses, runs })),
      eddSkipped: 'skipped' in edd ? edd.skipped : null,
      seed: {
        databases: seed.databases.map(({ size, sampled, seedSeconds, bytes }) => ({
          size,
          sampled,
          seedSeconds,
          bytes,
        })),
        seconds: seed.seconds,
        rowsPerSecond: seed.rowsPerSecond,
      },
      sizes: SIZES,
      bodyBytes: {
        validate: Buffer.byteLength(validateAnswer),
        edd: 'body' in edd ? Buffer.byteLength(edd.body) : null,
      },
    });
    const resultsPath = join(BENCH_DIR, 'RESULTS.md');
    const previous = existsSync(resultsPath)
      ? readFileSync(resultsPath, 'utf8')
      : '# CloudSecure benchmark results\n\nThe delivery results appear here after `npm run bench`.\n';
    writeFileSync(resultsPath, spliceLicensingSection(previous, section));
    // The repository's formatter aligns markdown tables; format the file so `biome check .` stays clean.
    const biome = join(REPO, 'node_modules', '.bin', 'biome');
    const formatted = await runCommand(biome, ['format', '--write', resultsPath], 30_000);
    if (formatted.code !== 0) log(`biome could not format RESULTS.md: ${formatted.stderr.trim()}`);
    process.stdout.write(`\n${resultsTable(rows)}\n\nWrote the licensing section of bench/RESULTS.md\n`);
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
    `[bench:licensing] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  await stopAll();
  process.exit(1);
});
