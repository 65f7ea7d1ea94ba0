import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError } from '../../domain/errors.ts';
import type { AppEnv } from '../env.ts';

/**
 * Refuses bodies over `maxBytes` with PAYLOAD_TOO_LARGE. A declared Content-Length is judged from the
 * header: hono's bodyLimit reads c.req.raw.body, which makes @hono/node-server build a full web Request
 * and body stream for every request. Only chunked bodies are counted as they arrive.
 */
export function limitBody(maxBytes: number, what: string): MiddlewareHandler<AppEnv> {
  const tooLarge = () =>
    new AppError('PAYLOAD_TOO_LARGE', { message: `${what} may be at most ${maxBytes} bytes.` });
  const streamed = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw tooLarge();
    },
  });
  return async (c, next) => {
    const declared = c.req.header('content-length');
    if (declared === undefined || c.req.header('transfer-encoding') !== undefined) return streamed(c, next);
    if (Number(declared) > maxBytes) throw tooLarge();
    return next();
  };
}
