/**
 * Acceptance: a worker killed with SIGKILL in the middle of an SMTP delivery, then restarted, gets every
 * e-mail to the SMTP server exactly once (counted by Message-ID). The worker runs as its own process
 * (`cloudsecure outbox work`); the SMTP server here can hold a message after its DATA without accepting it.
 */
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { messageIdFor } from '../src/workers/outbox-handlers.ts';
import { BIN, ROOT, type ServerProcess, stopProcess } from './helpers/cli.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const ORDERS = 30;
const STALL_AFTER = 10;

/** What the SMTP server saw: accepted Message-IDs, and messages held mid-delivery (never accepted). */
const smtp = {
  accepted: [] as string[],
  stalled: [] as { messageId: string; sessionId: string }[],
  closedSessions: new Set<string>(),
  /** Accept this many messages, then hold every further one after its DATA. */
  stallAfter: Number.POSITIVE_INFINITY,
};

let h: Harness;
let server: SMTPServer;
const children: ServerProcess[] = [];

beforeAll(async () => {
  h = await createHarness({ CLOUDSECURE_OUTBOX_LEASE_MS: '1500', CLOUDSECURE_OUTBOX_POLL_MS: '200' });
  server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    closeTimeout: 1_000,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const data = Buffer.concat(chunks).toString('utf8');
        const messageId = /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(data)?.[1] ?? `(none in ${session.id})`;
        if (smtp.accepted.length >= smtp.stallAfter) {
          // Never answer: the worker waits for the 250 reply until it is killed.
          smtp.stalled.push({ messageId, sessionId: session.id });
          return;
        }
        smtp.accepted.push(messageId);
        callback();
      });
    },
    onClose(session) {
      smtp.closedSessions.add(session.id);
    },
  });
  // A worker killed mid-session resets its connection: expected here, and not a test failure.
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') throw error;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterEach(async () => {
  // A failed test must not leave a worker running (or hanging on SIGTERM).
  await Promise.all(children.map((child) => stopProcess(child, 'SIGKILL')));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await h.close();
});

/** `cloudsecure outbox work` against the harness's database, as its own process. */
function spawnWorker(): ServerProcess {
  const child = spawn(process.execPath, [BIN, 'outbox', 'work'], {
    cwd: ROOT,
    env: { ...process.env, ...h.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const worker = { child, output: () => output, exited };
  children.push(worker);
  return worker;
}

/** Polls `done` until it holds; fails after `timeoutMs` with what was being waited for. */
async function until(
  what: string,
  done: () => boolean | Promise<boolean>,
  worker: ServerProcess | null,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (worker && worker.child.exitCode !== null) {
      throw new Error(
        `worker exited (${worker.child.exitCode}) while waiting for ${what}:\n${worker.output()}`,
      );
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what} (accepted ${smtp.accepted.length}, stalled ${smtp.stalled.length})` +
          `\n${worker?.output() ?? ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function deliveredCount(): Promise<number> {
  return (await h.ctx.outbox.list({ status: 'delivered', limit: 1000 })).length;
}

describe('outbox worker crash', () => {
  it('delivers every e-mail exactly once after a worker is SIGKILLed mid-delivery and restarted', async () => {
    await h.ctx.messaging.useSMTP({
      host: '127.0.0.1',
      port: (server.server.address() as AddressInfo).port,
      secure: false,
      user: null,
      password: null,
      from: 'Shop <shop@example.com>',
    });
    const product = await h.ctx.products.create({ name: 'Crash Course' });
    for (let n = 1; n <= ORDERS; n++) {
      await h.ctx.orders.create({
        email: `buyer+${n}@example.com`,
        products: [product.slug],
        source: 'test',
      });
    }
    const queued = await h.ctx.outbox.list({ limit: 1000 });
    expect(queued.map((m) => m.topic)).toEqual(Array(ORDERS).fill('email'));
    const expected = queued.map((m) => messageIdFor(m.idempotencyKey, h.config.publicUrl)).sort();

    // First worker: accepts STALL_AFTER messages, then hangs on the next ones' 250 reply.
    smtp.stallAfter = STALL_AFTER;
    const first = spawnWorker();
    await until('a message held mid-delivery', () => smtp.stalled.length > 0, first);
    // Every accepted message recorded as delivered, so the kill lands only on unanswered deliveries.
    await until(
      'accepted messages marked delivered',
      async () => (await deliveredCount()) === STALL_AFTER,
      first,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    expect(first.child.signalCode).toBe('SIGKILL');
    await until(
      'held SMTP sessions to close',
      () => smtp.stalled.every((s) => smtp.closedSessions.has(s.sessionId)),
      null,
    );
    expect(smtp.accepted).toHaveLength(STALL_AFTER);

    // Second worker: takes over once the dead worker's lease on its claimed messages runs out.
    smtp.stallAfter = Number.POSITIVE_INFINITY;
    const second = spawnWorker();
    await until(
      'every message delivered',
      async () =>
        smtp.accepted.length >= ORDERS && (await h.ctx.outbox.list({ status: 'pending' })).length === 0,
      second,
    );
    expect(await stopProcess(second)).toBe(0);

    expect([...smtp.accepted].sort()).toEqual(expected);
    expect(new Set(smtp.accepted).size).toBe(smtp.accepted.length);
    for (const held of smtp.stalled) expect(expected).toContain(held.messageId);
    const final = await h.ctx.outbox.list({ limit: 1000 });
    expect(final.every((m) => m.status === 'delivered')).toBe(true);
    const retried = final.filter((m) => m.attempts >= 2);
    expect(retried.length).toBeGreaterThan(0);
    // The messages held at the kill were among those delivered on a second attempt.
    const heldIds = new Set(smtp.stalled.map((s) => s.messageId));
    const retriedIds = new Set(retried.map((m) => messageIdFor(m.idempotencyKey, h.config.publicUrl)));
    expect([...heldIds].every((id) => retriedIds.has(id))).toBe(true);
  });
});
