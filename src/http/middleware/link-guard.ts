import type { RateLimiter } from '../../adapters/rate-limit/rate-limiter.ts';
import { AppError } from '../../domain/errors.ts';

/**
 * Runs a token lookup for a buyer's link (`/a/`, `/d/`, `/p/`). A token that names nothing counts as a
 * failure for the client IP; past the allowance every link from that IP is refused outright, so guessing
 * is slow even before 128 bits of MAC make it hopeless.
 */
export async function guardLinkToken<T>(
  limiter: RateLimiter,
  ip: string | null,
  lookup: () => Promise<T>,
): Promise<T> {
  const key = `link:${ip ?? 'unknown'}`;
  if (await limiter.isLimited(key)) throw new AppError('RATE_LIMITED');
  try {
    return await lookup();
  } catch (error) {
    if (error instanceof AppError && error.code === 'NOT_FOUND') await limiter.hit(key);
    throw error;
  }
}
