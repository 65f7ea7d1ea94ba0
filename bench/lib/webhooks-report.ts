/**
 * The webhooks section of bench/RESULTS.md, between its own markers, so that bench/webhooks.ts replaces
 * only its part and leaves the delivery and licensing sections as they are.
 */
import { loadavg } from 'node:os';
import { median } from './load.ts';
import { formatRate, type Machine, type Row, rawTable, resultsTable } from './report.ts';
import type { LoadResult } from './webhooks-load.ts';
import type { WebhookRows } from './webhooks-setup.ts';

export const WEBHOOKS_START = '<!-- webhooks:start -->';
export const WEBHOOKS_END = '<!-- webhooks:end -->';

/** `text` with its webhooks section replaced by `section` (markers included), or with it appended. */
export function spliceWebhooksSection(text: string, section: string): string {
  const start = text.indexOf(WEBHOOKS_START);
  const end = text.indexOf(WEBHOOKS_END, start);
  if (start >= 0 && end >= 0) {
    return text.slice(0, start) + section + text.slice(end + WEBHOOKS_END.length);
  }
  return `${text.trimEnd()}\n\n${section}\n`;
}

export type WebhookKey = 'bare' | 'sqlite' | 'pg';

export interface WebhookRun extends LoadResult {
  cpuPercent: number;
  cpuMicrosPerRequest: number;
}

export interface WebhookTarget {
  key: WebhookKey;
  name: string;
  runs: WebhookRun[];
}

export interface RowCheck {
  name: string;
  /** Webhooks answered 200 `fulfilled` over the whole run (checks, warm-up and measured rounds). */
  accepted: number;
  rows: WebhookRows;
  ok: boolean;
}

export interface MailRun {
  name: string;
  sent: number;
  /** First to last arrival at the SMTP server. */
  seconds: number;
  perSecond: number;
  distinctIds: number;
  bytes: number;
  /** Sender CPU (user + system) per e-mail, from /proc. */
  cpuMicrosPerMessage: number;
  /** From starting the sender process to the last arrival. */
  wallSeconds: number;
}

export interface MailMeasurements {
  count: number;
  queueSeconds: number;
  cloudsecure: MailRun;
  baseline: MailRun;
  outbox: Record<string, number>;
}

export interface WebhookMeasurements {
  machine: Machine;
  postgres: string;
  elapsedSeconds: number;
  senders: number;
  seconds: number;
  rounds: number;
  targets: WebhookTarget[];
  pgSkipped: string | null;
  checks: RowCheck[];
  bareRows: { accepted: number; rows: number };
  mail: MailMeasurements | null;
  mailSkipped: string | null;
  setupSeconds: number;
  bodyBytes: number;
  targetRate: number;
}

function rate(t: WebhookTarget | undefined): number {
  return t && t.runs.length > 0 ? median(t.runs.map((r) => r.perSecond)) : Number.NaN;
}

function cpu(t: WebhookTarget | undefined): number {
  return t && t.runs.length > 0 ? median(t.runs.map((r) => r.cpuMicrosPerRequest)) : Number.NaN;
}

function ms(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)} ms` : 'n/a';
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

export function webhookRows(m: WebhookMeasurements): Row[] {
  const byKey = (key: WebhookKey) => m.targets.find((t) => t.key === key);
  const [bare, sqlite, pg] = (['bare', 'sqlite', 'pg'] as const).map(byKey);
  const s = m.senders;
  const rows: Row[] = [
    {
      id: 'W1',
      what: `signed WooCommerce webhook → order + grant + license + outbox rows (SQLite), ${s} senders, webhooks/s vs raw HMAC + 1 INSERT`,
      cloudsecure: formatRate(rate(sqlite)),
      baseline: formatRate(rate(bare)),
      ratio: rate(sqlite) / rate(bare),
      target: `≥ ${m.targetRate}/s`,
      pass: rate(sqlite) >= m.targetRate,
    },
    {
      id: 'W2',
      what: `the same on PostgreSQL, ${s} senders, webhooks/s vs the same raw baseline`,
      cloudsecure: m.pgSkipped ? 'skipped' : formatRate(rate(pg)),
      baseline: formatRate(rate(bare)),
      ratio: m.pgSkipped ? Number.NaN : rate(pg) / rate(bare),
      target: 'report',
      pass: null,
    },
  ];
  if (m.mail) {
    rows.push({
      id: 'W3',
      what: `outbox order e-mails (${count(m.mail.count)} queued) → local SMTP, e-mails/s vs nodemailer pool of pre-rendered mails`,
      cloudsecure: formatRate(m.mail.cloudsecure.perSecond),
      baseline: formatRate(m.mail.baseline.perSecond),
      ratio: m.mail.cloudsecure.perSecond / m.mail.baseline.perSecond,
      target: 'report',
      pass: null,
    });
  } else {
    rows.push({
      id: 'W3',
      what: 'outbox order e-mails → local SMTP, e-mails/s',
      cloudsecure: 'skipped',
      baseline: 'n/a',
      ratio: Number.NaN,
      target: 'report',
      pass: null,
    });
  }
  return rows;
}

export function renderWebhooksSection(m: WebhookMeasurements): { section: string; rows: Row[] } {
  const rows = webhookRows(m);
  const bare = m.targets.find((t) => t.key === 'bare');
  const summary = rawTable(
    [
      'Target',
      'median webhooks/s',
      'p50',
      'p99',
      'server CPU per webhook',
      'CPU ratio to raw',
      'wrong answers',
      'errors',
    ],
    m.targets.map((t) => [
      t.name,
      formatRate(rate(t)),
      ms(median(t.runs.map((r) => r.p50ms))),
      ms(median(t.runs.map((r) => r.p99ms))),
      `${cpu(t).toFixed(0)} µs`,
      (cpu(bare) / cpu(t)).toFixed(3),
      String(t.runs.reduce((sum, r) => sum + r.wrong, 0)),
      String(t.runs.reduce((sum, r) => sum + r.errors, 0)),
    ]),
  );
  const runs = rawTable(
    [
      'Target',
      'Round',
      'webhooks/s',
      'requests',
      'seconds',
      'p50 ms',
      'p99 ms',
      'server CPU',
      'CPU µs/webhook',
    ],
    m.targets.flatMap((t) =>
      t.runs.map((r, i) => [
        t.name,
        String(i + 1),
        formatRate(r.perSecond),
        count(r.requests),
        r.seconds.toFixed(1),
        r.p50ms.toFixed(2),
        r.p99ms.toFixed(2),
        `${r.cpuPercent.toFixed(0)}%`,
        r.cpuMicrosPerRequest.toFixed(0),
      ]),
    ),
  );
  const checks = rawTable(
    [
      'Database',
      'webhooks answered 200 fulfilled',
      'orders',
      'order lines',
      'grants',
      'licenses',
      'outbox e-mails',
      'outbox write-backs',
      'other outbox rows',
      'check',
    ],
    [
      ...m.checks.map((c) => [
        c.name,
        count(c.accepted),
        count(c.rows.orders),
        count(c.rows.orderLines),
        count(c.rows.grants),
        count(c.rows.licenses),
        count(c.rows.outboxEmail),
        count(c.rows.outboxWriteback),
        count(c.rows.outboxOther),
        c.ok ? 'ok' : 'MISMATCH',
      ]),
      [
        'raw baseline (deliveries table)',
        count(m.bareRows.accepted),
        '—',
        '—',
        '—',
        '—',
        '—',
        '—',
        `${count(m.bareRows.rows)} rows`,
        m.bareRows.rows === m.bareRows.accepted ? 'ok' : 'MISMATCH',
      ],
    ],
  );
  const mail = m.mail;
  const mailTable = mail
    ? rawTable(
        [
          'Sender',
          'e-mails',
          'first → last arrival',
          'e-mails/s',
          'distinct Message-IDs',
          'bytes per e-mail',
          'sender CPU per e-mail',
          'from process start',
        ],
        [mail.cloudsecure, mail.baseline].map((r) => [
          r.name,
          count(r.sent),
          `${r.seconds.toFixed(2)} s`,
          formatRate(r.perSecond),
          count(r.distinctIds),
          count(Math.round(r.bytes / Math.max(r.sent, 1))),
          `${r.cpuMicrosPerMessage.toFixed(0)} µs`,
          `${r.wallSeconds.toFixed(2)} s`,
        ]),
      )
    : `W3 was skipped: ${m.mailSkipped ?? 'unknown reason'}`;
  const machine = rawTable(
    ['Fact', 'Value'],
    [
      ['Date', m.machine.date],
      ['nproc', String(m.machine.nproc)],
      ['CPU', m.machine.cpu],
      ['Memory', m.machine.memory],
      ['Kernel', m.machine.kernel],
      ['Node', m.machine.node],
      ['PostgreSQL', m.postgres],
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
      ? `\n> **Busy machine:** the 1-minute load average was ${m.machine.load1Before.toFixed(2)} on ${m.machine.nproc} cores before the run;\n> other processes competed for the CPU, so treat these numbers as rough (the CPU per webhook is steadier).\n`
      : '';
  const sqlite = m.targets.find((t) => t.key === 'sqlite');
  const section = `${WEBHOOKS_START}

## Webhooks and outbox

Written by \`npm run bench:webhooks\` (bench/webhooks.ts) on ${m.machine.date}; the run took
${m.elapsedSeconds.toFixed(0)} s, of which ${m.setupSeconds.toFixed(0)} s setting up through the CLI. Every ratio compares numbers measured in this
same run.
${busy}
${resultsTable(rows)}
${m.pgSkipped ? `\nW2 was skipped: ${m.pgSkipped}\n` : ''}
W1 needs ${formatRate(m.targetRate)} webhooks/s; this run's server CPU per webhook on SQLite was ${cpu(sqlite).toFixed(0)} µs, a ceiling of
about ${formatRate(1e6 / cpu(sqlite))} webhooks/s on one fully used core.

### Method (webhooks)

- **Servers.** \`node bin/cloudsecure.mjs serve\` (one process) on a fresh data dir with SQLite, and a second
  one on a fresh PostgreSQL database (created for the run, dropped after), with \`CLOUDSECURE_OUTBOX=false\`
  (no outbox worker: only the webhook path runs), \`CLOUDSECURE_RECONCILE_MINUTES=0\`,
  \`CLOUDSECURE_EXPIRY_NOTICE_DAYS=0\` and \`CLOUDSECURE_LOG_LEVEL=warn\`. Each was set up with the CLI:
  \`woocommerce connect … --json\`, \`product create --license --file\` and \`product map bench-plugin
  --woocommerce-product 93\`.
- **Baseline** (bench/lib/webhooks-bare.ts): a bare \`node:http\` server that checks the same
  \`X-WC-Webhook-Signature\` (HMAC-SHA256 over the raw body, constant-time compare) and stores each delivery
  with one \`INSERT\` (signature, body, time) into a better-sqlite3 table with CloudSecure's pragmas (WAL,
  \`synchronous=NORMAL\`), then answers 200 with a small JSON body.
- **Load** (bench/lib/webhooks-load.ts). ${m.senders} concurrent senders on keep-alive \`node:http\` connections, each
  sending its next delivery when the previous one is answered. Every delivery is a different paid order
  (\`processing\` with \`date_paid_gmt\`, a new order id and buyer, one line of WooCommerce product 93), encoded
  like \`wp_json_encode\` (\`\\/\` and \`\\uXXXX\` escapes, ${count(m.bodyBytes)} bytes) and signed; all of them are built and
  signed before the clock starts, with WooCommerce's headers (\`order.created\`). Each target gets a
  warm-up, then ${m.rounds} round(s) of ${m.seconds} s (interleaved across targets); the number of prepared deliveries
  follows from the warm-up rate. An answer counts only if it is 200 and says \`"outcome":"fulfilled"\`; any
  other answer aborts the run. Server CPU is the server process's user + system time from /proc (PostgreSQL's
  own processes are not included). The load generator runs in the bench process on the same machine.
- **Check.** After the rounds, the rows in each database are counted: for every accepted webhook one order,
  one order line, one grant, one license and two outbox rows (the buyer's e-mail and the WooCommerce
  write-back); the raw baseline must hold one row per accepted delivery.
- **W3.** ${mail ? count(mail.count) : 'N'} orders of the licensed product are created in-process on a fresh SQLite data dir
  (no worker runs, so each leaves its e-mail pending in the outbox${mail ? `; ${mail.queueSeconds.toFixed(1)} s` : ''}); \`cloudsecure mail use smtp
  --host 127.0.0.1 --port P --from …\` points mail at an smtp-server in the bench process (no STARTTLS, no auth).
  Then \`cloudsecure outbox work\` runs until the SMTP server has received them all. The baseline
  (bench/lib/webhooks-mailer-bare.ts) is nodemailer with \`pool: true, maxConnections: 4\` (CloudSecure's SMTP
  settings) handed the same number of messages, pre-rendered with CloudSecure's own templates. The rate is
  (e-mails − 1) / (last arrival − first arrival), which leaves out process start; the outbox must end with
  every message delivered and the SMTP server must see as many distinct Message-IDs as e-mails.

### Raw numbers (webhooks)

${summary}

${runs}

${checks}

${mailTable}
${
  mail
    ? `\nOutbox after W3: ${Object.entries(mail.outbox)
        .map(([status, n]) => `${count(n)} ${status}`)
        .join(', ')}.\n`
    : ''
}
${machine}

${WEBHOOKS_END}`;
  return { section, rows };
}
