import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppContext } from '../../context.ts';
import type { AppEnv } from '../env.ts';
import { enforceLicenseRateLimit } from '../middleware/license-rate-limit.ts';
import { errorResponses, IdParam } from '../schemas.ts';

/** Paths of the public license API: called by the seller's software, with no secret in the client. */
export const PUBLIC_LICENSE_PATHS =
  /^\/api\/v1\/licenses\/(validate|activate|deactivate|public-key|checkout)$/;

export const SIGNATURE_HEADER = 'CloudSecure-Signature';

const LicenseRequestSchema = z
  .object({
    key: z.string().min(1).max(200),
    product: z.union([z.string().min(1).max(64), z.number().int().positive()]),
    site_url: z.string().min(1).max(2000).optional(),
    fingerprint: z.string().min(1).max(255).optional(),
    name: z.string().max(200).optional(),
    version: z.string().max(50).optional(),
    environment: z.string().max(20).optional(),
    nonce: z.union([z.string().max(128), z.number().int()]).optional(),
  })
  .strict()
  .openapi('LicenseRequest');

const LicenseStateSchema = z.object({
  status: z.enum(['active', 'suspended', 'revoked']),
  expires_at: z.string().nullable(),
  expired: z.boolean(),
  product: z.string(),
  item_id: z.number().int().nullable(),
  activation_limit: z.number().int(),
  active_count: z.number().int(),
  activations_left: z.number().int().nullable(),
  key_hint: z.string(),
});

const ActivationSchema = z.object({
  kind: z.enum(['site', 'machine']),
  identifier: z.string(),
  name: z.string().nullable(),
  is_local: z.boolean(),
  activated_at: z.string(),
  last_seen_at: z.string(),
});

const LicenseResponseSchema = z
  .object({
    valid: z.boolean(),
    code: z.string().openapi({ example: 'VALID' }),
    detail: z.string(),
    nonce: z.union([z.string(), z.number()]).nullable(),
    ts: z.string(),
    license: LicenseStateSchema.nullable(),
    activation: ActivationSchema.nullable(),
  })
  .openapi('LicenseResponse');

const LicenseViewSchema = z
  .object({
    id: z.string(),
    key: z.string(),
    product: z.string(),
    status: z.enum(['active', 'suspended', 'revoked']),
    expires_at: z.string().nullable(),
    activation_limit: z.number().int(),
    order_id: z.string().nullable(),
    customer_id: z.string(),
    created_at: z.string(),
    activations: z.array(ActivationSchema),
    events: z.array(
      z.object({ type: z.string(), at: z.string(), detail: z.record(z.string(), z.unknown()) }),
    ),
  })
  .openapi('License');

function publicRoute(action: 'validate' | 'activate' | 'deactivate', description: string) {
  return createRoute({
    method: 'post',
    path: `/licenses/${action}`,
    tags: ['licenses'],
    description: `${description} Always 200 with a machine-readable \`code\`; the body is signed (Ed25519) in the ${SIGNATURE_HEADER} header.`,
    request: { body: { required: true, content: { 'application/json': { schema: LicenseRequestSchema } } } },
    responses: {
      200: { description: 'Outcome', content: { 'application/json': { schema: LicenseResponseSchema } } },
      400: errorResponses[400],
    },
  });
}

const publicKeyRoute = createRoute({
  method: 'get',
  path: '/licenses/public-key',
  tags: ['licenses'],
  responses: {
    200: {
      description: 'The Ed25519 key that signs license responses and license files',
      content: {
        'application/json': {
          schema: z.object({ algorithm: z.literal('ed25519'), public_key: z.string(), pem: z.string() }),
        },
      },
    },
  },
});

const security = [{ bearer: [] }];

const getLicense = createRoute({
  method: 'get',
  path: '/licenses/{id}',
  tags: ['licenses'],
  security,
  request: { params: IdParam },
  responses: {
    200: { description: 'The license', content: { 'application/json': { schema: LicenseViewSchema } } },
    ...errorResponses,
  },
});

function lifecycleRoute(action: 'suspend' | 'reinstate' | 'revoke') {
  return createRoute({
    method: 'post',
    path: `/licenses/{id}/${action}`,
    tags: ['licenses'],
    security,
    request: { params: IdParam },
    responses: {
      200: {
        description: 'The changed license',
        content: { 'application/json': { schema: LicenseViewSchema } },
      },
      ...errorResponses,
    },
  });
}

const renewLicense = createRoute({
  method: 'post',
  path: '/licenses/{id}/renew',
  tags: ['licenses'],
  security,
  request: {
    params: IdParam,
    body: {
      required: true,
      content: {
        'application/json': { schema: z.object({ days: z.number().int().min(1).max(36_500) }).strict() },
      },
    },
  },
  responses: {
    200: {
      description: 'The renewed license (same key)',
      content: { 'application/json': { schema: LicenseViewSchema } },
    },
    ...errorResponses,
  },
});

const transferLicense = createRoute({
  method: 'post',
  path: '/licenses/{id}/transfer',
  tags: ['licenses'],
  security,
  request: {
    params: IdParam,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .object({ email: z.string().min(3).max(254), name: z.string().max(200).optional() })
            .strict(),
        },
      },
    },
  },
  responses: {
    200: {
      description: 'The license, now owned by that customer',
      content: { 'application/json': { schema: LicenseViewSchema } },
    },
    ...errorResponses,
  },
});

/**
 * Signs every response of the public license API, errors included: an Ed25519 signature of the exact
 * body bytes. With the nonce the client sent echoed inside the body, a response cannot be forged, altered
 * or replayed from an earlier call.
 */
export function signResponses(ctx: AppContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    if (!PUBLIC_LICENSE_PATHS.test(c.req.path) || c.res.headers.has(SIGNATURE_HEADER)) return;
    const body = new Uint8Array(await c.res.clone().arrayBuffer());
    c.res.headers.set(SIGNATURE_HEADER, `ed25519=${ctx.licenseSigner.sign(body)}`);
  };
}

export function licenseRoutes(ctx: AppContext): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  for (const [action, description] of [
    ['validate', 'Checks a license (and, with site_url or fingerprint, that it is activated there).'],
    ['activate', 'Activates a license for a site or machine; re-activating the same one is idempotent.'],
    ['deactivate', 'Frees the activation of a site or machine.'],
  ] as const) {
    app.openapi(publicRoute(action, description), async (c) => {
      const body = c.req.valid('json');
      await enforceLicenseRateLimit(ctx, c, body.key);
      const result = await ctx.licenses[action]({
        key: body.key,
        product: String(body.product),
        siteUrl: body.site_url,
        fingerprint: body.fingerprint,
        name: body.name,
        version: body.version,
        environment: body.environment,
      });
      const payload = { ...result, nonce: body.nonce ?? null, ts: ctx.clock.now().toISOString() };
      // Signed here, over the same bytes c.json sends, rather than by cloning the response afterwards.
      c.header(SIGNATURE_HEADER, `ed25519=${ctx.licenseSigner.sign(Buffer.from(JSON.stringify(payload)))}`);
      return c.json(payload, 200);
    });
  }

  app.openapi(publicKeyRoute, (c) =>
    c.json(
      {
        algorithm: 'ed25519' as const,
        public_key: ctx.licenseSigner.publicKey,
        pem: ctx.licenseSigner.publicKeyPEM,
      },
      200,
    ),
  );

  app.openapi(getLicense, async (c) => c.json(await ctx.licenses.get(c.req.valid('param').id), 200));
  for (const action of ['suspend', 'reinstate', 'revoke'] as const) {
    app.openapi(lifecycleRoute(action), async (c) =>
      c.json(await ctx.licenses[action](c.req.valid('param').id), 200),
    );
  }
  app.openapi(transferLicense, async (c) => {
    const body = c.req.valid('json');
    return c.json(
      await ctx.licenses.transfer({ licenseId: c.req.valid('param').id, email: body.email, name: body.name }),
      200,
    );
  });
  app.openapi(renewLicense, async (c) =>
    c.json(
      await ctx.licenses.renew({ licenseId: c.req.valid('param').id, days: c.req.valid('json').days }),
      200,
    ),
  );
  return app;
}
