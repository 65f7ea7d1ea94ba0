import { createHash } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppContext } from '../../context.ts';
import type { AppEnv } from '../env.ts';
import {
  CreateOrderSchema,
  DownloadLinkSchema,
  errorResponses,
  GrantSchema,
  IdParam,
  OrderSchema,
  OrderSummarySchema,
} from '../schemas.ts';

const security = [{ bearer: [] }];
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const createOrder = createRoute({
  method: 'post',
  path: '/orders',
  tags: ['orders'],
  security,
  description:
    'Creates an order with one grant per product. With an Idempotency-Key, a repeated request returns the ' +
    'first order (200); the same key with a different body is refused (422).',
  request: {
    headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
    body: { required: true, content: { 'application/json': { schema: CreateOrderSchema } } },
  },
  responses: {
    201: json(OrderSchema, 'Created'),
    200: json(OrderSchema, 'Existing order'),
    ...errorResponses,
  },
});

const listOrders = createRoute({
  method: 'get',
  path: '/orders',
  tags: ['orders'],
  security,
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(500).default(50),
      before: z.string().max(40).optional().openapi({ description: 'created_at cursor' }),
    }),
  },
  responses: {
    200: json(z.object({ orders: z.array(OrderSummarySchema) }), 'Newest first'),
    ...errorResponses,
  },
});

const getOrder = createRoute({
  method: 'get',
  path: '/orders/{id}',
  tags: ['orders'],
  security,
  request: { params: IdParam },
  responses: { 200: json(OrderSchema, 'The order with fresh links'), ...errorResponses },
});

const getGrant = createRoute({
  method: 'get',
  path: '/grants/{id}',
  tags: ['grants'],
  security,
  request: { params: IdParam },
  responses: { 200: json(GrantSchema, 'The grant'), ...errorResponses },
});

function grantAction(action: 'revoke' | 'reset', description: string) {
  return createRoute({
    method: 'post',
    path: `/grants/{id}/${action}`,
    tags: ['grants'],
    security,
    description,
    request: { params: IdParam },
    responses: { 200: json(GrantSchema, 'The changed grant'), ...errorResponses },
  });
}

const extendGrant = createRoute({
  method: 'post',
  path: '/grants/{id}/extend',
  tags: ['grants'],
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
  responses: { 200: json(GrantSchema, 'The changed grant'), ...errorResponses },
});

const createLinks = createRoute({
  method: 'post',
  path: '/grants/{id}/links',
  tags: ['grants'],
  security,
  description: 'Mints fresh direct links for every file of the grant (nothing is used).',
  request: { params: IdParam },
  responses: {
    200: json(z.object({ downloads: z.array(DownloadLinkSchema) }), 'Fresh links'),
    ...errorResponses,
  },
});

export function orderRoutes(ctx: AppContext): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(createOrder, async (c) => {
    const body = c.req.valid('json');
    const key = c.req.valid('header')['idempotency-key'];
    const view = await ctx.orders.create({
      email: body.email,
      name: body.name,
      products: body.products,
      externalId: body.external_id,
      source: 'api',
      idempotency: key
        ? { key, requestHash: createHash('sha256').update(JSON.stringify(body)).digest('hex') }
        : undefined,
    });
    return c.json(view, view.created ? 201 : 200);
  });

  app.openapi(listOrders, async (c) => {
    const { limit, before } = c.req.valid('query');
    return c.json({ orders: await ctx.orders.list({ limit, before }) }, 200);
  });

  app.openapi(getOrder, async (c) => c.json(await ctx.orders.get(c.req.valid('param').id), 200));
  app.openapi(getGrant, async (c) => c.json(await ctx.grants.get(c.req.valid('param').id), 200));
  app.openapi(grantAction('revoke', 'Revokes the grant: every link stops working.'), async (c) =>
    c.json(await ctx.grants.revoke(c.req.valid('param').id), 200),
  );
  app.openapi(
    grantAction('reset', 'Gives back every download and, if access has ended, a fresh access period.'),
    async (c) => c.json(await ctx.grants.reset(c.req.valid('param').id), 200),
  );
  app.openapi(extendGrant, async (c) =>
    c.json(
      await ctx.grants.extend({ grantId: c.req.valid('param').id, days: c.req.valid('json').days }),
      200,
    ),
  );
  app.openapi(createLinks, async (c) =>
    c.json({ downloads: await ctx.grants.createLinks(c.req.valid('param').id) }, 200),
  );

  return app;
}
