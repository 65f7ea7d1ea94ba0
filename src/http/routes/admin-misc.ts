import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppContext } from '../../context.ts';
import type { AppEnv } from '../env.ts';
import { DownloadEventSchema, errorResponses, StorageSchema, UpdateStorageSchema } from '../schemas.ts';

const security = [{ bearer: [] }];

const listDownloads = createRoute({
  method: 'get',
  path: '/downloads',
  tags: ['downloads'],
  security,
  description:
    'Download events, newest first: every attempt with time, client IP, user agent, bytes and outcome.',
  request: {
    query: z.object({
      order_id: z.string().max(64).optional(),
      grant_id: z.string().max(64).optional(),
      customer_id: z.string().max(64).optional(),
      ip: z.string().max(64).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
  },
  responses: {
    200: {
      description: 'Events',
      content: { 'application/json': { schema: z.object({ downloads: z.array(DownloadEventSchema) }) } },
    },
    ...errorResponses,
  },
});

const getStorage = createRoute({
  method: 'get',
  path: '/storage',
  tags: ['storage'],
  security,
  responses: {
    200: {
      description: 'Storage settings, credentials masked',
      content: { 'application/json': { schema: StorageSchema } },
    },
    ...errorResponses,
  },
});

const putStorage = createRoute({
  method: 'put',
  path: '/storage',
  tags: ['storage'],
  security,
  description: 'Chooses where new uploads go. S3 credentials are stored encrypted and never returned.',
  request: { body: { required: true, content: { 'application/json': { schema: UpdateStorageSchema } } } },
  responses: {
    200: { description: 'Stored', content: { 'application/json': { schema: StorageSchema } } },
    ...errorResponses,
  },
});

export function adminMiscRoutes(ctx: AppContext): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(listDownloads, async (c) => {
    const q = c.req.valid('query');
    const downloads = await ctx.downloads.list({
      limit: q.limit,
      ...(q.order_id ? { orderId: q.order_id } : {}),
      ...(q.grant_id ? { grantId: q.grant_id } : {}),
      ...(q.customer_id ? { customerId: q.customer_id } : {}),
      ...(q.ip ? { ip: q.ip } : {}),
    });
    return c.json({ downloads }, 200);
  });

  app.openapi(getStorage, async (c) => c.json(await ctx.storage.describe(), 200));

  app.openapi(putStorage, async (c) => {
    const body = c.req.valid('json');
    const described =
      body.active === 'local'
        ? await ctx.storage.useLocal()
        : await ctx.storage.useS3({
            endpoint: body.endpoint,
            bucket: body.bucket,
            region: body.region,
            forcePathStyle: body.force_path_style,
            accessKeyId: body.access_key_id,
            secretAccessKey: body.secret_access_key,
          });
    return c.json(described, 200);
  });

  return app;
}
