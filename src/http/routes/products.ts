import { pipeline, Readable, Transform } from 'node:stream';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { guessContentType } from '../../adapters/content-type.ts';
import type { AppContext } from '../../context.ts';
import { parseDuration } from '../../domain/duration.ts';
import { AppError } from '../../domain/errors.ts';
import type { LicensePolicy } from '../../domain/licenses/license.ts';
import type { WatermarkSettings } from '../../domain/watermark/watermark.ts';
import type { AppEnv } from '../env.ts';
import {
  CreateProductSchema,
  errorResponses,
  FileSchema,
  ProductSchema,
  WatermarkInputSchema,
} from '../schemas.ts';

const security = [{ bearer: [] }];

const createProduct = createRoute({
  method: 'post',
  path: '/products',
  tags: ['products'],
  security,
  request: { body: { required: true, content: { 'application/json': { schema: CreateProductSchema } } } },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: ProductSchema } } },
    ...errorResponses,
  },
});

const listProducts = createRoute({
  method: 'get',
  path: '/products',
  tags: ['products'],
  security,
  responses: {
    200: {
      description: 'All products',
      content: { 'application/json': { schema: z.object({ products: z.array(ProductSchema) }) } },
    },
    ...errorResponses,
  },
});

const RefParam = z.object({ ref: z.string().min(1).max(64).openapi({ description: 'Slug or id' }) });

const getProduct = createRoute({
  method: 'get',
  path: '/products/{ref}',
  tags: ['products'],
  security,
  request: { params: RefParam },
  responses: {
    200: { description: 'The product', content: { 'application/json': { schema: ProductSchema } } },
    ...errorResponses,
  },
});

const UpdateProductSchema = CreateProductSchema.omit({ slug: true })
  .partial()
  .extend({
    license: CreateProductSchema.shape.license.unwrap().or(z.literal(false)).optional(),
    watermark: WatermarkInputSchema.or(z.literal(false)).optional(),
  })
  .strict()
  .openapi('UpdateProduct');

const updateProduct = createRoute({
  method: 'patch',
  path: '/products/{ref}',
  tags: ['products'],
  security,
  description:
    'Changes a product. `license: false` turns licensing off; licenses already issued keep their terms.',
  request: {
    params: RefParam,
    body: { required: true, content: { 'application/json': { schema: UpdateProductSchema } } },
  },
  responses: {
    200: { description: 'The product', content: { 'application/json': { schema: ProductSchema } } },
    ...errorResponses,
  },
});

const uploadFile = createRoute({
  method: 'post',
  path: '/products/{ref}/files',
  tags: ['products'],
  security,
  description: 'Streams the raw request body into storage; it is never held in memory whole.',
  request: {
    params: RefParam,
    query: z.object({
      name: z.string().min(1).max(255).openapi({ description: 'File name shown to buyers' }),
    }),
    body: {
      required: true,
      content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
    },
  },
  responses: {
    201: { description: 'Stored', content: { 'application/json': { schema: FileSchema } } },
    ...errorResponses,
  },
});

export function productRoutes(ctx: AppContext): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(createProduct, async (c) => {
    const body = c.req.valid('json');
    const product = await ctx.products.create({
      name: body.name,
      ...(body.slug === undefined ? {} : { slug: body.slug }),
      ...(body.download_limit === undefined ? {} : { downloadLimit: body.download_limit }),
      ...(body.link_ttl === undefined
        ? {}
        : {
            linkTtlSeconds: typeof body.link_ttl === 'number' ? body.link_ttl : parseDuration(body.link_ttl),
          }),
      ...(body.access_days === undefined ? {} : { accessDays: body.access_days }),
      ...(body.item_id === undefined ? {} : { itemId: body.item_id }),
      ...(body.license === undefined ? {} : { license: toPolicyChanges(body.license) }),
      ...(body.watermark === undefined ? {} : { watermark: toWatermarkChanges(body.watermark) }),
    });
    return c.json(product, 201);
  });

  app.openapi(listProducts, async (c) => c.json({ products: await ctx.products.list() }, 200));

  app.openapi(getProduct, async (c) => c.json(await ctx.products.get(c.req.valid('param').ref), 200));

  app.openapi(updateProduct, async (c) => {
    const body = c.req.valid('json');
    const product = await ctx.products.update({
      product: c.req.valid('param').ref,
      ...(body.name === undefined ? {} : { name: body.name }),
      ...(body.download_limit === undefined ? {} : { downloadLimit: body.download_limit }),
      ...(body.link_ttl === undefined
        ? {}
        : {
            linkTtlSeconds: typeof body.link_ttl === 'number' ? body.link_ttl : parseDuration(body.link_ttl),
          }),
      ...(body.access_days === undefined ? {} : { accessDays: body.access_days }),
      ...(body.item_id === undefined ? {} : { itemId: body.item_id }),
      ...(body.license === undefined
        ? {}
        : { license: body.license === false ? false : toPolicyChanges(body.license) }),
      ...(body.watermark === undefined
        ? {}
        : { watermark: body.watermark === false ? false : toWatermarkChanges(body.watermark) }),
    });
    return c.json(product, 200);
  });

  app.openapi(uploadFile, async (c) => {
    const { ref } = c.req.valid('param');
    const { name } = c.req.valid('query');
    const max = ctx.config.maxUploadBytes;
    const declared = Number(c.req.header('content-length') ?? Number.NaN);
    if (declared > max)
      throw new AppError('PAYLOAD_TOO_LARGE', { message: `Files may be at most ${max} bytes.` });
    const source =
      c.env?.incoming ?? (c.req.raw.body ? Readable.fromWeb(c.req.raw.body as never) : Readable.from([]));
    let seen = 0;
    // Chunked bodies carry no length: the limit is enforced while streaming, and the partial object removed.
    const limiter = new Transform({
      transform(chunk: Buffer, _enc, next) {
        seen += chunk.length;
        if (seen > max)
          next(new AppError('PAYLOAD_TOO_LARGE', { message: `Files may be at most ${max} bytes.` }));
        else next(null, chunk);
      },
    });
    const declaredType = c.req.header('x-file-content-type') ?? '';
    const contentType = /^[\w.+-]{1,64}\/[\w.+-]{1,128}$/.test(declaredType)
      ? declaredType
      : guessContentType(name);
    const file = await ctx.products.addFile({
      product: ref,
      fileName: name,
      body: pipeline(source, limiter, () => undefined),
      contentType,
      ...(Number.isFinite(declared) ? { size: declared } : {}),
    });
    return c.json(file, 201);
  });

  return app;
}

type PolicyBody = NonNullable<z.infer<typeof CreateProductSchema>['license']>;

function toPolicyChanges(body: PolicyBody): Partial<LicensePolicy> {
  return {
    ...(body.activation_limit === undefined ? {} : { activationLimit: body.activation_limit }),
    ...(body.duration_days === undefined
      ? {}
      : { durationDays: body.duration_days === 0 ? null : body.duration_days }),
    ...(body.until === undefined ? {} : { until: body.until }),
    ...(body.expiry_stops === undefined ? {} : { expiryStops: body.expiry_stops }),
    ...(body.local_patterns === undefined ? {} : { localPatterns: body.local_patterns }),
    ...(body.quantity === undefined ? {} : { quantity: body.quantity }),
    ...(body.pre_expiry_releases === undefined ? {} : { preExpiryReleases: body.pre_expiry_releases }),
  };
}

function toWatermarkChanges(input: z.infer<typeof WatermarkInputSchema>): Partial<WatermarkSettings> {
  return {
    ...(input.text === undefined ? {} : { text: input.text }),
    ...(input.position === undefined ? {} : { position: input.position }),
    ...(input.opacity === undefined ? {} : { opacity: input.opacity }),
    ...(input.size === undefined ? {} : { sizePt: input.size }),
  };
}
