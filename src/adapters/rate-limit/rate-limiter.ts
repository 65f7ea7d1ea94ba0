import { Redis } from 'ioredis';

/** Counts failures per key in fixed one-minute windows; shared across nodes when Redis is configured. */
export interface RateLimiter {
  /** Whether `key` has already used up its allowance in the current window. */
  isLimited(key: string): Promise<boolean>;
  /** Records one failure for `key`. */
  hit(key: string): Promise<void>;
  close(): Promise<void>;
}

const WINDOW_MS = 60_000;

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
    async close() {
      await redis.quit();
    },
  };
}
