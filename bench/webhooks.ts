/**
 * `npm run bench:webhooks` (also the last part of `npm run bench`): the issue-4 paths against baselines
 * measured in the same run, written to the webhooks section of bench/RESULTS.md.
 *
 * W1. Signed WooCommerce order webhooks per second, from receipt to the committed order, grant, license and
 *     outbox rows, on SQLite, from 8 concurrent keep-alive senders (target ≥ 300/s). Baseline: a raw
 *     node:http server that checks the same HMAC and does one INSERT into a better-sqlite3 table.
 * W2. The same on PostgreSQL (a fresh database, dropped after), against the same baseline.
 * W3. The outbox's order e-mails per second to a local SMTP server (`cloudsecure outbox work`), against
 *     nodemailer sending pre-rendered messages through a pooled transport.
 *
 * Knobs (environment): BENCH_WEBHOOK_SECONDS (10), BENCH_WEBHOOK_ROUNDS (1), BENCH_WEBHOOK_SENDERS (8),
 * BENCH_WEBHOOK_EMAILS (2000; 0 skips W3), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/postgres),
 * BENCH_PG=0 to skip W2, BENCH_KEEP=1 to keep the temp directory and the PostgreSQL database.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import { cpuSeconds } from './lib/load.ts';
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
import { describeMachine, resultsTable } from './lib/report.ts';
import {
  type Delivery,
  type LoadResult,
  makeDeliveries,
  orderIds,
  sendDeliveries,
} from './lib/webhooks-load.ts';
import { preRenderMails, type SmtpSink, startSmtpSink } from './lib/webhooks-mail.ts';
import {
  type MailMeasurements,
  type MailRun,
  type RowCheck,
  renderWebhooksSection,
  spliceWebhooksSection,
  type WebhookKey,
  type WebhookRun,
  type WebhookTarget,
} from './lib/webhooks-report.ts';
import {
  BENCH_PRODUCT,
  cliJSON,
  countWebhookRows,
  createPgDatabase,
  inheritedEnv,
  outboxByStatus,
  type PgDatabase,
  pgVersion,
  queueOrderMails,
  serverEnv,
  setupStore,
  type WebhookRows,
} from './lib/webhooks-setup.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(BENCH_DIR);
const BIN = join(REPO, 'bin', 'cloudsecure.mjs');

const env = process.env;
const SECONDS = Number(env.BENCH_WEBHOOK_SECONDS ?? 10);
const ROUNDS = Number(env.BENCH_WEBHOOK_ROUNDS ?? 1);
const SENDERS = Number(env.BENCH_WEBHOOK_SENDERS ?? 8);
const EMAILS = Number(env.BENCH_WEBHOOK_EMAILS ?? 2000);
const PG_ADMIN_URL = env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const WARMUP_SECONDS = 3;
/** Deliveries prepared for a warm-up (a run also ends after WARMUP_SECONDS). */
const WARMUP_DELIVERIES = { bare: 20_000, cloudsecure: 1_500 };
/** At most this many deliveries are prepared for one round (about 2.3 KiB each). */
const MAX_DELIVERIES = 250_000;
const TARGET_RATE = 300;
const MARKER = '"outcome":"fulfilled"';
const FROM = 'CloudSecure Bench <shop@example.com>';

function log(message: string): void {
  process.stdout.write(`[bench:webhooks] ${message}\n`);
}

interface Target extends WebhookTarget {
  url: string;
  child: Child;
  /** Webhooks answered 200 `fulfilled` so far, checks and warm-up included. */
  accepted: number;
  /** Warm-up rate, to size the rounds' deliveries. */
  estimate: number;
}

async function startCloudSecure(name: string, root: string, vars: Record<string, string>): Promise<Child> {
  const child = startChild(name, process.execPath, [BIN, 'serve'], {
    cwd: REPO,
    env: { ...inheritedEnv(), ...vars, NODE_ENV: 'production' },
    logPath: join(root, `${name}.log`),
  });
  await waitForHTTP(child, `${vars.CLOUDSECURE_PUBLIC_URL}/healthz`);
  return child;
}

async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

/** Before any load: a ping answers 200, a forged signature 401, and one real delivery is fulfilled. */
async function checkTarget(target: Target, secret: string, ids: ReturnType<typeof orderIds>): Promise<void> {
  const fail = (what: string, answer: { status: number; text: string }): never => {
    throw new Error(
      `${target.name}: ${what} answered ${answer.status} ${answer.text.slice(0, 300)}\n${tailOf(target.child.logPath)}`,
    );
  };
  if (target.key !== 'bare') {
    const ping = await post(target.url, 'webhook_id=5', {
      'Content-Type': 'application/x-www-form-urlencoded',
    });
    if (ping.status !== 200) fail('the WooCommerce ping', ping);
  }
  const [d] = makeDeliveries(ids.take(1), 1, secret) as [Delivery];
  const headers = { 'Content-Type': 'application/json', 'X-WC-Webhook-Topic': 'order.created' };
  const forged = await post(target.url, d.body.toString(), {
    ...headers,
    'X-WC-Webhook-Signature': Buffer.alloc(32).toString('base64'),
  });
  if (forged.status !== 401) fail('a forged signature', forged);
  const real = await post(target.url, d.body.toString(), {
    ...headers,
    'X-WC-Webhook-Signature': d.signature,
  });
  if (real.status !== 200 || !real.text.includes(MARKER)) fail('a signed paid order', real);
  target.accepted += 1;
}

async function measure(target: Target, deliveries: Delivery[], seconds: number): Promise<WebhookRun> {
  const cpuBefore = cpuSeconds(target.child.pid);
  const result: LoadResult = await sendDeliveries(deliveries, {
    url: target.url,
    senders: SENDERS,
    seconds,
    marker: MARKER,
  });
  const cpu = cpuSeconds(target.child.pid) - cpuBefore;
  target.accepted += result.accepted;
  if (result.wrong > 0 || result.errors > 0) {
    throw new Error(
      `${target.name}: ${result.wrong} wrong answers and ${result.errors} errors of ${result.requests + result.errors}; ` +
        `first: ${result.firstProblem}\n${tailOf(target.child.logPath)}`,
    );
  }
  return {
    ...result,
    cpuPercent: (cpu / result.seconds) * 100,
    cpuMicrosPerRequest: (cpu / result.requests) * 1e6,
  };
}

function rowsMatch(rows: WebhookRows, accepted: number): boolean {
  return (
    rows.orders === accepted &&
    rows.orderLines === accepted &&
    rows.grants === accepted &&
    rows.licenses === accepted &&
    rows.outboxEmail === accepted &&
    rows.outboxWriteback === accepted &&
    rows.outboxOther === 0
  );
}

/** Waits for `count` e-mails from `sender`, sampling its CPU at the first arrival and at the last. */
async function timeMails(input: {
  name: string;
  sink: SmtpSink;
  count: number;
  sender: Child;
  startedAt: number;
}): Promise<MailRun> {
  const { sink, sender } = input;
  let cpuAtFirst: number | null = null;
  const sampler = setInterval(() => {
    if (cpuAtFirst === null && sink.count() > 0) cpuAtFirst = cpuSeconds(sender.pid);
  }, 10);
  try {
    await sink.waitFor(input.count, Math.max(120_000, input.count * 100), sender.exited);
  } catch (error) {
    throw new Error(`${input.name}: ${(error as Error).message}\n${tailOf(sender.logPath)}`);
  } finally {
    clearInterval(sampler);
  }
  const cpuAtLast = cpuSeconds(sender.pid);
  const span = sink.span();
  if (!span) throw new Error(`${input.name}: no e-mail arrived`);
  const seconds = (span.last - span.first) / 1000;
  return {
    name: input.name,
    sent: sink.count(),
    seconds,
    perSecond: (sink.count() - 1) / seconds,
    distinctIds: sink.distinctIds(),
    bytes: sink.bytes(),
    cpuMicrosPerMessage: ((cpuAtLast - (cpuAtFirst ?? cpuAtLast)) / Math.max(sink.count() - 1, 1)) * 1e6,
    wallSeconds: (span.last - input.startedAt) / 1000,
  };
}

async function measureMail(root: string, masterKey: string): Promise<MailMeasurements> {
  const vars = serverEnv({ dataDir: join(root, 'data-mail'), port: await freePort(), masterKey });
  log(`W3: queueing ${EMAILS} order e-mails (orders created in-process, no worker running)`);
  const queued = await queueOrderMails(vars, EMAILS);
  if (queued.pending !== EMAILS) throw new Error(`W3: ${queued.pending} e-mails pending, expected ${EMAILS}`);
  log(`W3: queued in ${queued.seconds.toFixed(1)} s`);
  const sink = await startSmtpSink();
  try {
    await cliJSON(BIN, REPO, vars, [
      ...['mail', 'use', 'smtp', '--host', '127.0.0.1', '--port', String(sink.port)],
      ...['--from', FROM],
    ]);

    log('W3: cloudsecure outbox work → local SMTP');
    sink.reset();
    const startedAt = performance.now();
    const worker = startChild('outbox-worker', process.execPath, [BIN, 'outbox', 'work'], {
      cwd: REPO,
      env: { ...inheritedEnv(), ...vars, NODE_ENV: 'production' },
      logPath: join(root, 'outbox-worker.log'),
    });
    const cloudsecure = await timeMails({
      name: 'CloudSecure outbox (`outbox work`)',
      sink,
      count: EMAILS,
      sender: worker,
      startedAt,
    });
    // SIGTERM lets the worker finish its pass (marking the last messages delivered) before it exits.
    await stopChild(worker);
    const outbox = await outboxByStatus(vars);
    if ((outbox.delivered ?? 0) !== EMAILS || cloudsecure.distinctIds !== EMAILS) {
      throw new Error(
        `W3: outbox ${JSON.stringify(outbox)}, ${cloudsecure.distinctIds} distinct Message-IDs; expected ${EMAILS} delivered once each\n${tailOf(worker.logPath)}`,
      );
    }
    log(`W3: CloudSecure ${Math.round(cloudsecure.perSecond)} e-mails/s`);

    log('W3: nodemailer pool of pre-rendered messages → local SMTP');
    const messagesPath = join(root, 'mails.json');
    writeFileSync(
      messagesPath,
      JSON.stringify(
        preRenderMails({
          count: EMAILS,
          from: FROM,
          sellerName: 'CloudSecure',
          publicUrl: vars.CLOUDSECURE_PUBLIC_URL!,
          productName: BENCH_PRODUCT.name,
          fileName: BENCH_PRODUCT.file,
        }),
      ),
    );
    sink.reset();
    const bareStarted = performance.now();
    const bare = startChild(
      'nodemailer-baseline',
      process.execPath,
      ['--import', 'tsx', join(BENCH_DIR, 'lib', 'webhooks-mailer-bare.ts'), String(sink.port), messagesPath],
      { cwd: REPO, logPath: join(root, 'nodemailer-baseline.log') },
    );
    const baseline = await timeMails({
      name: 'nodemailer pool (pre-rendered)',
      sink,
      count: EMAILS,
      sender: bare,
      startedAt: bareStarted,
    });
    const code = await bare.exited;
    if (code !== 0 || baseline.distinctIds !== EMAILS) {
      throw new Error(
        `W3 baseline exited ${code} with ${baseline.distinctIds} distinct Message-IDs\n${tailOf(bare.logPath)}`,
      );
    }
    log(`W3: nodemailer ${Math.round(baseline.perSecond)} e-mails/s`);
    return { count: EMAILS, queueSeconds: queued.seconds, cloudsecure, baseline, outbox };
  } finally {
    await sink.close();
  }
}

async function main(): Promise<void> {
  const machine = await describeMachine();
  const root = mkdtempSync(join(tmpdir(), 'cloudsecure-bench-webhooks-'));
  const started = Date.now();
  let pgDb: PgDatabase | null = null;
  try {
    const masterKey = randomBytes(32).toString('base64');
    const secret = `wh_${randomBytes(16).toString('hex')}`;
    const filePath = join(root, BENCH_PRODUCT.file);
    writeFileSync(filePath, randomBytes(64 * 1024));
    const [sqlitePort, pgPort, barePort] = await Promise.all([freePort(), freePort(), freePort()]);

    let pgSkipped: string | null = null;
    if (env.BENCH_PG === '0') pgSkipped = 'BENCH_PG=0.';
    else {
      const created = await createPgDatabase(PG_ADMIN_URL);
      if ('skipped' in created) pgSkipped = `PostgreSQL is not reachable (${created.skipped}).`;
      else pgDb = created;
    }
    if (pgSkipped) log(`W2 skipped: ${pgSkipped}`);
    const postgres = pgDb ? await pgVersion(pgDb.url) : 'not used';

    const sqliteVars = serverEnv({ dataDir: join(root, 'data-sqlite'), port: sqlitePort!, masterKey });
    const pgVars = pgDb
      ? serverEnv({ dataDir: join(root, 'data-pg'), port: pgPort!, masterKey, databaseURL: pgDb.url })
      : null;
    log('setting up the stores with the CLI (woocommerce connect, product create --license, product map)');
    const setupStarted = performance.now();
    const store = (vars: Record<string, string>) =>
      setupStore({ bin: BIN, cwd: REPO, vars, webhookSecret: secret, filePath });
    const [sqliteStore, pgStore] = await Promise.all([store(sqliteVars), pgVars ? store(pgVars) : null]);
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    log(`set up in ${setupSeconds.toFixed(1)} s`);

    log('starting servers');
    const bareDb = join(root, 'bare.sqlite');
    const [csSqlite, csPg, bare] = await Promise.all([
      startCloudSecure('cloudsecure-sqlite', root, sqliteVars),
      pgVars ? startCloudSecure('cloudsecure-pg', root, pgVars) : null,
      (async () => {
        const child = startChild(
          'webhooks-bare',
          process.execPath,
          ['--import', 'tsx', join(BENCH_DIR, 'lib', 'webhooks-bare.ts'), String(barePort), bareDb, secret],
          { cwd: REPO, logPath: join(root, 'webhooks-bare.log') },
        );
        await waitForHTTP(child, `http://127.0.0.1:${barePort}/`);
        return child;
      })(),
    ]);
    const target = (key: WebhookKey, name: string, url: string, child: Child): Target => ({
      key,
      name,
      url,
      child,
      runs: [],
      accepted: 0,
      estimate: 0,
    });
    const targets: Target[] = [
      target(
        'bare',
        'raw node:http HMAC + 1 INSERT',
        `http://127.0.0.1:${barePort}/webhooks/woocommerce`,
        bare,
      ),
      target('sqlite', 'CloudSecure (SQLite)', sqliteStore.webhookUrl, csSqlite),
      ...(csPg && pgStore ? [target('pg', 'CloudSecure (PostgreSQL)', pgStore.webhookUrl, csPg)] : []),
    ];
    const ids = orderIds(100_000);
    for (const t of targets) await checkTarget(t, secret, ids);

    log(`warm-up ${WARMUP_SECONDS} s each, then ${ROUNDS} round(s) of ${SECONDS} s with ${SENDERS} senders`);
    let bodyBytes = 0;
    for (const t of targets) {
      const n = t.key === 'bare' ? WARMUP_DELIVERIES.bare : WARMUP_DELIVERIES.cloudsecure;
      const deliveries = makeDeliveries(ids.take(n), n, secret);
      bodyBytes = deliveries[0]?.body.length ?? 0;
      const warm = await measure(t, deliveries, WARMUP_SECONDS);
      t.estimate = warm.perSecond;
      log(`warm-up ${t.name}: ${Math.round(warm.perSecond)} webhooks/s`);
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        const n = Math.min(MAX_DELIVERIES, Math.ceil(t.estimate * SECONDS * 1.6) + 200);
        const deliveries = makeDeliveries(ids.take(n), n, secret);
        const r = await measure(t, deliveries, SECONDS);
        t.runs.push(r);
        log(
          `round ${round} ${t.name}: ${Math.round(r.perSecond)} webhooks/s (${r.requests} in ${r.seconds.toFixed(1)} s` +
            `${r.exhausted ? ', all prepared deliveries sent' : ''}), p99 ${r.p99ms.toFixed(1)} ms, ` +
            `server CPU ${r.cpuPercent.toFixed(0)}%, ${r.cpuMicrosPerRequest.toFixed(0)} µs/webhook`,
        );
      }
    }

    log('checking the rows every accepted webhook left');
    const checks: RowCheck[] = [];
    for (const [t, vars, s] of [
      [targets.find((x) => x.key === 'sqlite'), sqliteVars, sqliteStore],
      [targets.find((x) => x.key === 'pg'), pgVars, pgStore],
    ] as const) {
      if (!t || !vars || !s) continue;
      const rows = await countWebhookRows(vars, s.connectionId);
      checks.push({ name: t.name, accepted: t.accepted, rows, ok: rowsMatch(rows, t.accepted) });
    }
    await stopAll();
    const bareTarget = targets.find((x) => x.key === 'bare')!;
    const bareCount = new SQLite(bareDb, { readonly: true });
    const bareRows = {
      accepted: bareTarget.accepted,
      rows: (bareCount.prepare('SELECT count(*) AS n FROM deliveries').get() as { n: number }).n,
    };
    bareCount.close();

    let mail: MailMeasurements | null = null;
    let mailSkipped: string | null = null;
    if (EMAILS > 0) mail = await measureMail(root, masterKey);
    else mailSkipped = 'BENCH_WEBHOOK_EMAILS=0.';
    await stopAll();

    const { section, rows } = renderWebhooksSection({
      machine,
      postgres,
      elapsedSeconds: (Date.now() - started) / 1000,
      senders: SENDERS,
      seconds: SECONDS,
      rounds: ROUNDS,
      targets: targets.map(({ key, name, runs }) => ({ key, name, runs })),
      pgSkipped,
      checks,
      bareRows,
      mail,
      mailSkipped,
      setupSeconds,
      bodyBytes,
      targetRate: TARGET_RATE,
    });
    const resultsPath = join(BENCH_DIR, 'RESULTS.md');
    const previous = existsSync(resultsPath)
      ? readFileSync(resultsPath, 'utf8')
      : '# CloudSecure benchmark results\n\nThe delivery results appear here after `npm run bench`.\n';
    writeFileSync(resultsPath, spliceWebhooksSection(previous, section));
    // The repository's formatter aligns markdown tables; format the file so `biome check .` stays clean.
    const biome = join(REPO, 'node_modules', '.bin', 'biome');
    const formatted = await runCommand(biome, ['format', '--write', resultsPath], 30_000);
    if (formatted.code !== 0) log(`biome could not format RESULTS.md: ${formatted.stderr.trim()}`);
    process.stdout.write(`\n${resultsTable(rows)}\n\nWrote the webhooks section of bench/RESULTS.md\n`);
    const mismatched = [...checks.filter((c) => !c.ok).map((c) => c.name)];
    if (bareRows.rows !== bareRows.accepted) mismatched.push('raw baseline');
    if (mismatched.length > 0) {
      throw new Error(`row counts do not match the accepted webhooks for: ${mismatched.join(', ')}`);
    }
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
    `[bench:webhooks] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  await stopAll();
  process.exit(1);
});
