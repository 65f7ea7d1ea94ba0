import type { Context } from 'hono';
import type { AppContext } from '../../context.ts';
import { AppError } from '../../domain/errors.ts';
import { hashLicenseKey } from '../../domain/licenses/license-key.ts';
import type { AppEnv } from '../env.ts';

/**
 * The public license endpoints answer whether a key exists, so they are rate limited per client IP and
 * per license key (a key hammered from many IPs is being shared or brute-forced). Keys are counted by
 * their keyed hash, so Redis never sees one. Refusals are 429 RATE_LIMITED with Retry-After.
 */
export async function enforceLicenseRateLimit(
  ctx: AppContext,
  c: Context<AppEnv>,
  licenseKey: string | undefined,
): Promise<void> {
  const keys = [`ip:${c.var.ip ?? 'unknown'}`];
  if (licenseKey) keys.push(`key:${hashLicenseKey(ctx.deps.licenseLookupKey, licenseKey).slice(0, 32)}`);
  const { allowed, retryAfterSeconds } = await ctx.licenseRateLimiter.consume(keys);
  if (!allowed) {
    c.header('Retry-After', String(retryAfterSeconds));
    throw new AppError('RATE_LIMITED', {
      message: `Too many license requests. Retry in ${retryAfterSeconds} s.`,
    });
  }
}
