import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimiter, createRedisRateLimiter, type RateLimiter } from './rate-limiter.ts';

// biome-ignore lint/style/noProcessEnv: the Redis tests run only when the test environment provides one
const REDIS_URL = process.env.TEST_REDIS_URL;

/** A settable clock starting at the beginning of a one-minute window. */
function manualClock(): { now: () => number; set(ms: number): void } {
  const start = Math.floor(Date.now() / 60_000) * 60_000;
  let t = start;
  return { now: () => t, set: (ms) => (t = start + ms) };
}

async function hitTimes(limiter: RateLimiter, key: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await limiter.hit(key);
}

/** The behaviour both limiters must have; `make` builds limiters sharing one store. */
function sharedBehaviour(make: (limit: number, now: () => number) => RateLimiter): void {
  it('allows a key until it has used up its allowance in the window', async () => {
    const clock = manualClock();
    const limiter = make(3, clock.now);
    expect(await limiter.isLimited('203.0.113.1')).toBe(false);
    await hitTimes(limiter, '203.0.113.1', 2);
    expect(await limiter.isLimited('203.0.113.1')).toBe(false);
    await limiter.hit('203.0.113.1');
    expect(await limiter.isLimited('203.0.113.1')).toBe(true);
  });

  it('counts each key on its own', async () => {
    const clock = manualClock();
    const limiter = make(2, clock.now);
    await hitTimes(limiter, '203.0.113.1', 2);
    expect(await limiter.isLimited('203.0.113.1')).toBe(true);
    expect(await limiter.isLimited('203.0.113.2')).toBe(false);
    expect(await limiter.isLimited('2001:db8::1')).toBe(false);
  });

  it('starts counting afresh in the next one-minute window', async () => {
    const clock = manualClock();
    const limiter = make(2, clock.now);
    await hitTimes(limiter, 'k', 2);
    clock.set(59_999);
    expect(await limiter.isLimited('k')).toBe(true);
    clock.set(60_000);
    expect(await limiter.isLimited('k')).toBe(false);
    await limiter.hit('k');
    expect(await limiter.isLimited('k')).toBe(false);
    await limiter.hit('k');
    expect(await limiter.isLimited('k')).toBe(true);
  });

  it('does not limit on lookups alone', async () => {
    const clock = manualClock();
    const limiter = make(1, clock.now);
    for (let i = 0; i < 5; i++) expect(await limiter.isLimited('k')).toBe(false);
  });
}

describe('memory rate limiter', () => {
  sharedBehaviour((limit, now) => createMemoryRateLimiter(limit, now));

  it('keeps counts per instance (one node only)', async () => {
    const clock = manualClock();
    const a = createMemoryRateLimiter(1, clock.now);
    const b = createMemoryRateLimiter(1, clock.now);
    await a.hit('k');
    expect(await a.isLimited('k')).toBe(true);
    expect(await b.isLimited('k')).toBe(false);
  });
});

describe.skipIf(!REDIS_URL)('Redis rate limiter', () => {
  const prefix = `cstest:rl:${randomBytes(6).toString('hex')}:`;
  const opened: RateLimiter[] = [];
  let counter = 0;
  /** Limiters from one call share a prefix (as nodes of one install do); each call gets a new one. */
  function makeGroup(): (limit: number, now: () => number) => RateLimiter {
    const groupPrefix = `${prefix}${counter++}:`;
    return (limit, now) => {
      const limiter = createRedisRateLimiter(REDIS_URL!, limit, groupPrefix, now);
      opened.push(limiter);
      return limiter;
    };
  }

  afterAll(async () => {
    await Promise.all(opened.map((l) => l.close()));
    const redis = new Redis(REDIS_URL!);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  sharedBehaviour((limit, now) => makeGroup()(limit, now));

  it('shares counts between two instances on the same Redis, as nodes of one install do', async () => {
    const clock = manualClock();
    const make = makeGroup();
    const nodeA = make(3, clock.now);
    const nodeB = make(3, clock.now);
    await hitTimes(nodeA, '198.51.100.7', 2);
    expect(await nodeB.isLimited('198.51.100.7')).toBe(false);
    await nodeB.hit('198.51.100.7');
    expect(await nodeA.isLimited('198.51.100.7')).toBe(true);
    expect(await nodeB.isLimited('198.51.100.7')).toBe(true);
  });

  it('keeps installs with different prefixes apart', async () => {
    const clock = manualClock();
    const installA = makeGroup()(1, clock.now);
    const installB = makeGroup()(1, clock.now);
    await installA.hit('k');
    expect(await installA.isLimited('k')).toBe(true);
    expect(await installB.isLimited('k')).toBe(false);
  });

  it('lets its counters expire instead of keeping them forever', async () => {
    const clock = manualClock();
    const limiter = makeGroup()(5, clock.now);
    await limiter.hit('ttl-check');
    const redis = new Redis(REDIS_URL!);
    try {
      const [key] = await redis.keys(`${prefix}*ttl-check`);
      expect(key).toBeDefined();
      const ttl = await redis.pttl(key!);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(120_000);
    } finally {
      await redis.quit();
    }
  });
});
