import { Redis } from 'ioredis';

/** Counts failures per key in fixed one-minute windows; shared across nodes when Redis is configured. */
export interface RateLimiter {
  /** Whether `key` has already used up its allowance in the current window. */
  isLimited(key: string): Promise<boolean>;
  /** Records one failure for `key`. */
  hit(key: string): Promise<void>;
  /**
   * Counts one request against every key (one round trip on Redis) and says whether all of them are
   * still within the allowance, and if not, how many seconds until the window resets.
   */
  consume(keys: string[]): Promise<{ allowed: boolean; retryAfterSeconds: number }>;
  close(): Promise<void>;
}

const WINDOW_MS = 60_000;

/** Seconds until the current fixed window ends: the Retry-After of a refusal. */
export function secondsToNextWindow(nowMs: number): number {
  return Math.max(1, Math.ceil((WINDOW_MS - (nowMs % WINDOW_MS)) / 1000));
}

export function createMemoryRateLimiter(limit: number, now: () => number = Date.now): RateLimiter {
  const windows = new Map<string, { start: number; count: number }>();
  function window(key: string): { start: number; count: number } {
    const start = Math.floor(now() / WINDOW_MS) * WINDOW_MS;
    let w = windows.get(key);
    if (!w || w.start !== start) {
      if (windows.size > 100_000) windows.clear(); // bounded memory under a flood of distinct IPs
      w = { start, count: 0 };
      windows.set(key, w);
    }
    return w;
  }
  return {
    isLimited: async (key) => window(key).count >= limit,
    hit: async (key) => {
      window(key).count += 1;
    },
    consume: async (keys) => {
      let allowed = true;
      for (const key of keys) {
        const w = window(key);
        w.count += 1;
        if (w.count > limit) allowed = false;
      }
      return { allowed, retryAfterSeconds: allowed ? 0 : secondsToNextWindow(now()) };
    },
    close: async () => undefined,
  };
}

export function createRedisRateLimiter(
  url: string,
  limit: number,
  prefix: string,
  now: () => number = Date.now,
): RateLimiter {
  const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
  const keyOf = (key: string): string => `${prefix}${Math.floor(now() / WINDOW_MS)}:${key}`;
  return {
    async isLimited(key) {
      const count = await redis.get(keyOf(key));
      return Number(count ?? 0) >= limit;
    },
    async hit(key) {
      const k = keyOf(key);
      await redis
        .multi()
        .incr(k)
        .pexpire(k, WINDOW_MS * 2)
        .exec();
    },
    async consume(keys) {
      const multi = redis.multi();
      for (const key of keys) {
        const k = keyOf(key);
        multi.incr(k).pexpire(k, WINDOW_MS * 2);
      }
      const results = (await multi.exec()) ?? [];
      // Results alternate INCR, PEXPIRE; an INCR above the limit means this request is over.
      const allowed = keys.every((_, i) => Number(results[i * 2]?.[1] ?? 0) <= limit);
      return { allowed, retryAfterSeconds: allowed ? 0 : secondsToNextWindow(now()) };
    },
    async close() {
      await redis.quit();
    },
  };
}
