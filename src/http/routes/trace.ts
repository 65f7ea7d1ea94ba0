import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppContext } from '../../context.ts';
import { AppError } from '../../domain/errors.ts';
import { MAX_TRACE_BYTES, traceMessage } from '../../domain/watermark/watermark-service.ts';
import type { AppEnv } from '../env.ts';
import { errorResponses } from '../schemas.ts';

const TraceSchema = z
  .object({
    found: z.boolean(),
    message: z.string(),
    unknown_tokens: z.array(z.string()),
    matches: z.array(
      z.object({
        token: z.string(),
        grant_id: z.string(),
        order_id: z.string(),
        order_reference: z.string(),
        customer: z.object({ id: z.string(), name: z.string().nullable(), email: z.string() }),
        product: z.string(),
        file: z.string(),
        issued_at: z.string(),
        downloads: z.array(z.object({ at: z.string(), ip: z.string().nullable(), status: z.string() })),
      }),
    ),
  })
  .openapi('TraceResult');

const trace = createRoute({
  method: 'post',
  path: '/trace',
  tags: ['watermarks'],
  security: [{ bearer: [] }],
  description:
    'Reads a leaked PDF, EPUB or ZIP (the raw body) and answers whose copy it was: grant, order, buyer and ' +
    'downloads. Works when the visible line was removed or the file re-saved by another tool.',
  request: {
    body: {
      required: true,
      content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
    },
  },
  responses: {
    200: { description: 'What was found', content: { 'application/json': { schema: TraceSchema } } },
    ...errorResponses,
  },
});

export function traceRoutes(ctx: AppContext): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(trace, async (c) => {
    const limit = Math.min(ctx.config.maxUploadBytes, MAX_TRACE_BYTES);
    const chunks: Buffer[] = [];
    let size = 0;
    const body = c.req.raw.body;
    if (body) {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.length;
        if (size > limit)
          throw new AppError('PAYLOAD_TOO_LARGE', {
            message: `A file to trace may be at most ${limit} bytes.`,
          });
        chunks.push(Buffer.from(chunk));
      }
    }
    if (size === 0) throw new AppError('INVALID_REQUEST', { message: 'Send the file as the request body.' });
    const result = await ctx.watermarks.trace(Buffer.concat(chunks));
    return c.json({ ...result, message: traceMessage(result.found) }, 200);
  });
  return app;
}
