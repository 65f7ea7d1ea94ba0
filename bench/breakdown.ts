/**
 * Where the CPU of one `/d/<token>` redirect goes, step by step, in process (no HTTP): token and grant
 * check, store lookup, presigning, counting + logging. Runs against the data of a kept bench run:
 *
 *   BENCH_KEEP=1 npm run bench            # prints "kept /tmp/cloudsecure-bench-XXXX"
 *   npx tsx bench/breakdown.ts /tmp/cloudsecure-bench-XXXX/setup.json [sqlite|pg] [iterations]
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { createAppContext } from '../src/context.ts';

interface Setup {
  sqliteEnv: Record<string, string>;
  pgEnv: Record<string, string> | null;
  s3Link: string;
  pgLink: string | null;
}

const STEPS = ['authorize', 'forKind', 'presignGet', 'begin'] as const;
type Step = (typeof STEPS)[number];

async function main(): Promise<void> {
  const [setupPath, dialect = 'sqlite', iterations = '3000'] = process.argv.slice(2);
  if (!setupPath) throw new Error('usage: breakdown.ts SETUP_JSON [sqlite|pg] [iterations]');
  const setup = JSON.parse(readFileSync(setupPath, 'utf8')) as Setup;
  const env = dialect === 'pg' ? setup.pgEnv : setup.sqliteEnv;
  const link = dialect === 'pg' ? setup.pgLink : setup.s3Link;
  if (!env || !link) throw new Error(`no ${dialect} data in ${setupPath}`);
  const ctx = await createAppContext(loadConfig(env), pino({ level: 'warn' }));
  const token = new URL(link).pathname.slice('/d/'.length);
  const requester = { ip: '127.0.0.1', userAgent: 'wrk/4.1' };
  const cpu: Record<Step, number> = { authorize: 0, forKind: 0, presignGet: 0, begin: 0 };

  let mark = process.cpuUsage();
  function lap(step: Step, measured: boolean): void {
    const used = process.cpuUsage(mark);
    if (measured) cpu[step] += used.user + used.system;
    mark = process.cpuUsage();
  }

  async function once(measured: boolean): Promise<void> {
    mark = process.cpuUsage();
    const authorized = await ctx.downloads.authorize(token, requester);
    lap('authorize', measured);
    const store = await ctx.blobs.forKind(authorized.file.storage);
    lap('forKind', measured);
    const url = await store.presignGet(authorized.file.objectKey, {
      expiresInSeconds: 300,
      contentDisposition: `attachment; filename="${authorized.file.name}"`,
      contentType: authorized.file.contentType,
    });
    if (!url) throw new Error('the file is not in S3 storage');
    lap('presignGet', measured);
    await ctx.downloads.begin({ ...authorized, ...requester, range: null, redirected: true });
    lap('begin', measured);
  }

  try {
    const n = Number(iterations);
    for (let i = 0; i < 300; i++) await once(false);
    const total = process.cpuUsage();
    for (let i = 0; i < n; i++) await once(true);
    const all = process.cpuUsage(total);
    const parts = STEPS.map((s) => `${s} ${(cpu[s] / n).toFixed(0)} µs`).join(', ');
    process.stdout.write(
      `${dialect}, ${n} iterations, CPU per redirect: ${parts}; all ${((all.user + all.system) / n).toFixed(0)} µs\n`,
    );
  } finally {
    await ctx.close();
  }
}

await main();
