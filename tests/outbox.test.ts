import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_RETRY, nextDelayMs, type OutboxMessage } from '../src/domain/outbox/outbox.ts';
import { createOutboxService, enqueueSideEffect } from '../src/domain/outbox/outbox-service.ts';
import { cliFailure, cliJSON } from './helpers/cli.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

vi.setConfig({ testTimeout: 120_000 });

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h.close();
});

function enqueue(topic: string, key = randomUUID()): Promise<boolean> {
  return enqueueSideEffect(h.ctx.deps, h.ctx.deps.uow.repos, {
    topic,
    payload: { key },
    idempotencyKey: key,
  });
}

async function drain(topic: string): Promise<void> {
  // Deliver whatever else earlier tests left due, so each test sees only its own messages.
  await createOutboxService(h.ctx.deps, { handlers: { [topic]: async () => undefined } }).runOnce();
}

describe('enqueueSideEffect', () => {
  it('commits with the transaction, vanishes with a rollback, and is written once per idempotency key', async () => {
    const kept = randomUUID();
    await h.ctx.deps.uow.transaction((repos) =>
      enqueueSideEffect(h.ctx.deps, repos, { topic: 't.kept', payload: {}, idempotencyKey: kept }),
    );
    const lost = randomUUID();
    await expect(
      h.ctx.deps.uow.transaction(async (repos) => {
        await enqueueSideEffect(h.ctx.deps, repos, { topic: 't.lost', payload: {}, idempotencyKey: lost });
        throw new Error('the business change failed');
      }),
    ).rejects.toThrow('the business change failed');
    expect(await enqueue('t.kept', kept)).toBe(false);
    const all = await h.ctx.outbox.list({ limit: 1000 });
    expect(all.filter((m) => m.idempotencyKey === kept)).toHaveLength(1);
    expect(all.some((m) => m.idempotencyKey === lost)).toBe(false);
  });
});

describe('outbox delivery', () => {
  it('retries with growing, jittered delays, dead-letters after the last attempt, and can be retried by hand', async () => {
    await drain('t.flaky');
    await enqueue('t.flaky');
    let calls = 0;
    const worker = createOutboxService(h.ctx.deps, {
      handlers: {
        't.flaky': async () => {
          calls += 1;
          throw new Error(`provider down (${calls})`);
        },
      },
      retry: { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 60_000 },
    });
    expect(await worker.runOnce()).toEqual({ delivered: 0, retrying: 1, dead: 0 });
    expect(await worker.runOnce()).toEqual({ delivered: 0, retrying: 0, dead: 0 }); // not due yet
    h.clock.advance(1_000);
    expect((await worker.runOnce()).retrying).toBe(1);
    h.clock.advance(2_000);
    expect((await worker.runOnce()).dead).toBe(1);
    const [dead] = await h.ctx.outbox.list({ status: 'failed', limit: 1 });
    expect(dead).toMatchObject({ topic: 't.flaky', attempts: 3, lastError: 'provider down (3)' });

    const retried = await cliJSON<{ status: string; attempts: number }>(h.env, ['outbox', 'retry', dead!.id]);
    expect(retried).toMatchObject({ status: 'pending', attempts: 0 });
    // The CLI stamped "due now" with the real clock, which may be ahead of this test's clock.
    h.clock.advance(60_000);
    const ok = createOutboxService(h.ctx.deps, { handlers: { 't.flaky': async () => undefined } });
    expect((await ok.runOnce()).delivered).toBe(1);
    expect((await cliFailure(h.env, ['outbox', 'retry', dead!.id])).body.error.code).toBe('NOT_FOUND');
    const listed = await cliJSON<{ id: string; status: string }[]>(h.env, [
      'outbox',
      'list',
      '--status',
      'delivered',
    ]);
    expect(listed.some((m) => m.id === dead!.id)).toBe(true);
  });

  it('bounds the backoff and spreads it with jitter', () => {
    const policy = { ...DEFAULT_RETRY, baseDelayMs: 1_000, maxDelayMs: 10_000 };
    expect(nextDelayMs(1, policy, () => 0)).toBe(500);
    expect(nextDelayMs(1, policy, () => 1)).toBe(1_000);
    expect(nextDelayMs(3, policy, () => 1)).toBe(4_000);
    expect(nextDelayMs(20, policy, () => 1)).toBe(10_000);
  });

  it('takes a message again after a worker died holding it, counting the lost attempt', async () => {
    await drain('t.crash');
    await enqueue('t.crash');
    const now = h.clock.now();
    const [held] = await h.ctx.deps.uow.repos.outbox.claim({
      now: now.toISOString(),
      leaseUntil: new Date(now.getTime() + 60_000).toISOString(),
      limit: 1,
    });
    expect(held?.topic).toBe('t.crash');
    const delivered: string[] = [];
    const worker = createOutboxService(h.ctx.deps, {
      handlers: { 't.crash': async (m) => void delivered.push(m.id) },
    });
    expect((await worker.runOnce()).delivered).toBe(0); // still leased by the dead worker
    h.clock.advance(61_000);
    expect((await worker.runOnce()).delivered).toBe(1);
    expect(delivered).toEqual([held!.id]);
    expect((await h.ctx.deps.uow.repos.outbox.findById(held!.id))?.attempts).toBe(2);
  });

  it('lets concurrent workers share the queue without delivering a message twice', async () => {
    await drain('t.bulk');
    for (let i = 0; i < 120; i += 1) await enqueue('t.bulk');
    const seen: string[] = [];
    const handlers = {
      't.bulk': async (m: OutboxMessage) => {
        seen.push(m.id);
        await new Promise((r) => setTimeout(r, 1));
      },
    };
    const workers = Array.from({ length: 4 }, () =>
      createOutboxService(h.ctx.deps, { handlers, batchSize: 10 }),
    );
    await Promise.all(
      workers.map(async (w) => {
        while ((await w.runOnce()).delivered > 0);
      }),
    );
    expect(seen).toHaveLength(120);
    expect(new Set(seen).size).toBe(120);
  });
});
