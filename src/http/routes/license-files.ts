import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppContext } from '../../context.ts';
import { MAX_FILE_TTL, MIN_FILE_TTL } from '../../domain/licenses/license-file.ts';
import type { AppEnv } from '../env.ts';
import { enforceLicenseRateLimit } from '../middleware/license-rate-limit.ts';
import { errorResponses } from '../schemas.ts';

const CheckoutRequestSchema = z
  .object({
    key: z.string().min(1).max(200),
    product: z.union([z.string().min(1).max(64), z.number().int().positive()]).optional(),
    fingerprint: z.string().min(1).max(255).optional(),
    ttl: z
      .number()
      .int()
      .min(MIN_FILE_TTL)
      .max(MAX_FILE_TTL)
      .optional()
      .openapi({ description: 'Seconds the file stays valid (1 hour to 365 days; default 30 days).' }),
    version: z.string().max(50).optional(),
    nonce: z.union([z.string().max(128), z.number().int()]).optional(),
  })
  .strict()
  .openapi('LicenseCheckoutRequest');

const CheckoutResponseSchema = z
  .object({
    valid: z.boolean(),
    code: z.string().openapi({ example: 'VALID' }),
    detail: z.string(),
    nonce: z.union([z.string(), z.number()]).nullable(),
    ts: z.string(),
    certificate: z.string().optional().openapi({ description: 'The armored license file (when valid).' }),
    issued_at: z.string().optional(),
    expires_at: z.string().optional().openapi({ description: "The file's own expiry (issued_at + ttl)." }),
    ttl: z.number().int().optional(),
  })
  .openapi('LicenseCheckoutResponse');

const checkoutRoute = createRoute({
  method: 'post',
  path: '/licenses/checkout',
  tags: ['licenses'],
  description:
    'Issues a signed offline license file (optionally bound to an activated machine fingerprint) that ' +
    'software verifies with the public key and no network. Refusals answer 200 with valid: false and ' +
    'the same codes as validate; the body is signed like every public license response.',
  request: { body: { required: true, content: { 'application/json': { schema: CheckoutRequestSchema } } } },
  responses: {
    200: { description: 'Outcome', content: { 'application/json': { schema: CheckoutResponseSchema } } },
    400: errorResponses[400],
  },
});

/** POST /api/v1/licenses/checkout: signed offline license files (public, like the license API). */
export function licenseFileRoutes(ctx: AppContext): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(checkoutRoute, async (c) => {
    const body = c.req.valid('json');
    await enforceLicenseRateLimit(ctx, c, body.key);
    const result = await ctx.licenseFiles.checkout({
      key: body.key,
      product: body.product === undefined ? undefined : String(body.product),
      fingerprint: body.fingerprint,
      ttlSeconds: body.ttl,
      version: body.version,
    });
    return c.json({ ...result, nonce: body.nonce ?? null, ts: ctx.clock.now().toISOString() }, 200);
  });
  return app;
}
