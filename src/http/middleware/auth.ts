import type { MiddlewareHandler } from 'hono';
import type { RateLimiter } from '../../adapters/rate-limit/rate-limiter.ts';
import { AppError } from '../../domain/errors.ts';
import type { TokenService } from '../../domain/tokens/token-service.ts';
import type { AppEnv } from '../env.ts';

/** Admin API: `Authorization: Bearer cs_…`. Repeated failures from one IP are rate limited. */
export function requireToken(tokens: TokenService, limiter: RateLimiter): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = `auth:${c.var.ip ?? 'unknown'}`;
    if (await limiter.isLimited(key)) throw new AppError('RATE_LIMITED');
    const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    try {
      c.set('apiToken', await tokens.authenticate(match?.[1] ?? ''));
    } catch (error) {
      await limiter.hit(key);
      throw error;
    }
    await next();
  };
}
