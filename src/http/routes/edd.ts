import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppContext } from '../../context.ts';
import { AppError } from '../../domain/errors.ts';
import { type FormParams, isEddAction, sanitizeKey } from '../../domain/licenses/edd.ts';
import { createEddService } from '../../domain/licenses/edd-service.ts';
import { encodePHPJSON } from '../../domain/licenses/php.ts';
import type { AppEnv } from '../env.ts';
import { enforceLicenseRateLimit } from '../middleware/license-rate-limit.ts';

/** EDD clients send a handful of short fields; a batch of `get_version` stays far below this. */
const MAX_BODY_BYTES = 64 * 1024;

/** The request's form fields: POST body, then the query string, which wins (b.1). */
async function readParams(c: Context<AppEnv>): Promise<FormParams> {
  const params: FormParams = Object.create(null);
  const type = c.req.header('content-type') ?? '';
  if (c.req.method === 'POST' && (type === '' || /^application\/x-www-form-urlencoded/i.test(type))) {
    for (const [name, value] of new URLSearchParams(await c.req.text())) params[name] = value;
  }
  for (const [name, value] of new URL(c.req.url).searchParams) params[name] = value;
  return params;
}

/**
 * EDD Software Licensing compatible endpoint at the site root: `edd_action` requests as a GET query or
 * a form POST, always answered 200 with PHP-style JSON (shared/contracts/licensing.md, b.1–b.6).
 */
export function eddRoutes(ctx: AppContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const actions = createEddService(ctx);
  const handle: MiddlewareHandler<AppEnv> = async (c, next) => {
    const params = await readParams(c);
    const action = sanitizeKey(params.edd_action ?? '');
    if (!isEddAction(action)) return next();
    // Beyond the allowance the answer is a 429: EDD's updater treats any non-200 as "try again in an hour".
    await enforceLicenseRateLimit(ctx, c, params.license?.trim() || undefined);
    const body = await actions[action](params, c.req.header('user-agent') ?? '');
    return c.body(encodePHPJSON(body), 200, {
      'Content-Type': 'application/json; charset=UTF-8',
      'Cache-Control': 'no-store',
    });
  };
  app.get('/', handle);
  const tooLarge = (): never => {
    throw new AppError('PAYLOAD_TOO_LARGE', { message: `Bodies may be at most ${MAX_BODY_BYTES} bytes.` });
  };
  const streamedLimit = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  // A declared length is checked from the header; only chunked bodies go through the streaming limit
  // (which makes the Node adapter build a web body stream for the request).
  app.post(
    '/',
    (c, next) => {
      const declared = c.req.header('content-length');
      if (declared === undefined || c.req.header('transfer-encoding') !== undefined)
        return streamedLimit(c, next);
      if (Number(declared) > MAX_BODY_BYTES) tooLarge();
      return next();
    },
    handle,
  );
  return app;
}
