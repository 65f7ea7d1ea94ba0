import { z } from '@hono/zod-openapi';

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'NOT_FOUND' }),
      message: z.string(),
      detail: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .openapi('Error');

export const errorResponses = {
  400: { description: 'Invalid request', content: { 'application/json': { schema: ErrorSchema } } },
  401: {
    description: 'Missing or wrong bearer token',
    content: { 'application/json': { schema: ErrorSchema } },
  },
  404: { description: 'Not found', content: { 'application/json': { schema: ErrorSchema } } },
} as const;

export const FileSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    size: z.number().int(),
    sha256: z.string(),
    content_type: z.string(),
    created_at: z.string(),
    watermark: z
      .object({
        method: z.string(),
        status: z.enum(['ok', 'unsupported', 'not_applicable']),
        reason: z.string().nullable(),
      })
      .optional()
      .openapi({ description: 'For watermarked products: whether and how buyers get stamped copies' }),
  })
  .openapi('File');

export const WatermarkSchema = z
  .object({
    text: z.string(),
    position: z.enum(['footer', 'header', 'diagonal']),
    opacity: z.number(),
    size: z.number(),
  })
  .openapi('Watermark');

export const WatermarkInputSchema = z
  .object({
    text: z
      .string()
      .min(1)
      .max(300)
      .optional()
      .openapi({ description: 'Template: {name} {email} {order} {date}' }),
    position: z.enum(['footer', 'header', 'diagonal']).optional(),
    opacity: z.number().gt(0).max(1).optional(),
    size: z.number().min(4).max(72).optional(),
  })
  .strict();

export const LicensePolicySchema = z
  .object({
    activation_limit: z.number().int(),
    duration_days: z.number().int().nullable(),
    until: z.string().nullable(),
    expiry_stops: z.enum(['updates', 'everything']),
    local_patterns: z.array(z.string()),
    quantity: z.enum(['licenses', 'multiply']),
    pre_expiry_releases: z.boolean(),
  })
  .openapi('LicensePolicy');

export const ProductSchema = z
  .object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    download_limit: z.number().int(),
    link_ttl_seconds: z.number().int(),
    access_days: z.number().int(),
    item_id: z.number().int().nullable(),
    license: LicensePolicySchema.nullable(),
    watermark: WatermarkSchema.nullable(),
    created_at: z.string(),
    files: z.array(FileSchema),
  })
  .openapi('Product');

const durationPattern = /^\d{1,9}[smhd]?$/;

export const CreateProductSchema = z
  .object({
    name: z.string().min(1).max(200),
    slug: z.string().min(1).max(64).optional(),
    download_limit: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .optional()
      .openapi({ description: '0 = unlimited' }),
    link_ttl: z
      .union([z.number().int().min(0), z.string().regex(durationPattern)])
      .optional()
      .openapi({
        description: 'Seconds, or a duration like 15m, 24h, 7d; 0 = until access ends',
        example: '24h',
      }),
    access_days: z.number().int().min(0).max(36_500).optional().openapi({ description: '0 = no end' }),
    item_id: z.number().int().min(1).max(2_147_483_647).optional().openapi({ description: 'EDD item id' }),
    license: z
      .object({
        activation_limit: z.number().int().min(0).max(1_000_000).optional(),
        duration_days: z.number().int().min(0).max(36_500).nullable().optional(),
        until: z.string().max(40).nullable().optional(),
        expiry_stops: z.enum(['updates', 'everything']).optional(),
        local_patterns: z.array(z.string().min(1).max(253)).max(100).optional(),
        quantity: z.enum(['licenses', 'multiply']).optional(),
        pre_expiry_releases: z.boolean().optional(),
      })
      .strict()
      .optional()
      .openapi({ description: 'Present to license purchases; fields override the defaults' }),
    watermark: WatermarkInputSchema.optional().openapi({
      description: 'Present to stamp every PDF, EPUB and ZIP with its buyer; fields override the defaults',
    }),
  })
  .strict()
  .openapi('CreateProduct');

export const DownloadLinkSchema = z
  .object({
    grant_id: z.string(),
    product: z.string(),
    file_id: z.string(),
    file: z.string(),
    size: z.number().int(),
    url: z.string().openapi({ description: 'Direct link: serves the file and counts it' }),
    access_url: z.string().openapi({ description: 'Access page: lists the files, never counts' }),
    expires_at: z.string().nullable(),
    access_expires_at: z.string().nullable(),
    downloads_left: z.number().int().nullable().openapi({ description: 'null = unlimited' }),
    revoked: z.boolean(),
  })
  .openapi('DownloadLink');

export const GrantSchema = z
  .object({
    id: z.string(),
    order_id: z.string(),
    customer_id: z.string(),
    product: z.string(),
    download_limit: z.number().int(),
    access_expires_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
    created_at: z.string(),
    status: z.enum(['active', 'GRANT_REVOKED', 'ACCESS_EXPIRED']),
  })
  .openapi('Grant');

export const OrderSummarySchema = z
  .object({ id: z.string(), source: z.string(), external_id: z.string().nullable(), created_at: z.string() })
  .openapi('OrderSummary');

export const OrderSchema = z
  .object({
    order: OrderSummarySchema,
    customer: z.object({ id: z.string(), email: z.string(), name: z.string().nullable() }),
    grants: z.array(GrantSchema),
    downloads: z.array(DownloadLinkSchema),
    licenses: z.array(
      z.object({
        id: z.string(),
        key: z.string(),
        product: z.string(),
        status: z.enum(['active', 'suspended', 'revoked']),
        expires_at: z.string().nullable(),
        activation_limit: z.number().int(),
      }),
    ),
    created: z.boolean(),
  })
  .openapi('Order');

export const CreateOrderSchema = z
  .object({
    email: z.string().min(3).max(254),
    name: z.string().max(200).optional(),
    products: z
      .array(
        z.union([
          z.string().min(1).max(64),
          z
            .object({ product: z.string().min(1).max(64), quantity: z.number().int().min(1).max(1000) })
            .strict(),
        ]),
      )
      .min(1)
      .max(100)
      .openapi({ description: 'Slugs, ids or item ids; `{ product, quantity }` for several units' }),
    external_id: z.string().min(1).max(200).optional(),
  })
  .strict()
  .openapi('CreateOrder');

export const DownloadEventSchema = z
  .object({
    id: z.string(),
    at: z.string(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    grant_id: z.string(),
    order_id: z.string(),
    customer_id: z.string(),
    file_id: z.string(),
    file: z.string(),
    bytes: z.number().int().nullable(),
    status: z.string(),
    counted: z.boolean(),
    range: z.string().nullable(),
  })
  .openapi('DownloadEvent');

export const StorageSchema = z
  .object({
    active: z.enum(['local', 's3']),
    s3: z
      .object({
        endpoint: z.string(),
        bucket: z.string(),
        region: z.string(),
        force_path_style: z.boolean(),
        credentials_hint: z.string().openapi({ description: 'Masked; credentials are never returned' }),
      })
      .nullable(),
  })
  .openapi('Storage');

export const UpdateStorageSchema = z
  .discriminatedUnion('active', [
    z.object({ active: z.literal('local') }).strict(),
    z
      .object({
        active: z.literal('s3'),
        endpoint: z.url({ protocol: /^https?$/ }),
        bucket: z.string().min(1).max(255),
        region: z.string().min(1).max(64).default('auto'),
        force_path_style: z.boolean().default(false),
        access_key_id: z.string().min(1).max(256),
        secret_access_key: z.string().min(1).max(256),
      })
      .strict(),
  ])
  .openapi('UpdateStorage');

export const IdParam = z.object({ id: z.string().min(1).max(64) });
