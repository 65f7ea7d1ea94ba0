import { randomUUID } from 'node:crypto';
import { OpenAPIHono } from '@hono/zod-openapi';
import { secureHeaders } from 'hono/secure-headers';
import type { AppContext } from '../context.ts';
import { AppError } from '../domain/errors.ts';
import type { AppEnv } from './env.ts';
import { renderError, toAppError } from './errors.ts';
import { requireToken } from './middleware/auth.ts';
import { limitBody } from './middleware/body-limit.ts';
import { clientIP } from './middleware/client-ip.ts';
import { adminMiscRoutes } from './routes/admin-misc.ts';
import { eddRoutes } from './routes/edd.ts';
import { licenseFileRoutes } from './routes/license-files.ts';
import { licenseRoutes, PUBLIC_LICENSE_PATHS, signResponses } from './routes/licenses.ts';
import { orderRoutes } from './routes/orders.ts';
import { packageRoutes } from './routes/packages.ts';
import { productRoutes } from './routes/products.ts';
import { publicDownloadRoutes } from './routes/public-downloads.ts';
import { storeWebhookRoutes } from './routes/store-webhooks.ts';
import { traceRoutes } from './routes/trace.ts';

/** Builds the HTTP app from the context; no ports are opened here (see server.ts). */
export function createApp(ctx: AppContext): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const issues = result.error.issues;
        // An unknown field is reported on its parent object; name the field itself instead.
        const pathOf = (i: (typeof issues)[number]): string =>
          [...i.path, ...(i.code === 'unrecognized_keys' ? i.keys.slice(0, 1) : [])].join('.');
        const issue = issues[0];
        const path = issue ? pathOf(issue) : '';
        throw new AppError('INVALID_REQUEST', {
          message: `${path ? `${path}: ` : ''}${issue?.message ?? 'invalid input'}`,
          detail: {
            path,
            issues: issues.slice(0, 10).map((i) => ({ path: pathOf(i), message: i.message })),
          },
        });
      }
    },
  });

  app.use('*', async (c, next) => {
    c.set('requestId', c.req.header('x-request-id')?.slice(0, 64) ?? randomUUID());
    await next();
  });
  app.use('*', clientIP(ctx.config.trustedProxies));
  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        styleSrc: ["'unsafe-inline'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    }),
  );
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    // Link tokens are bearer secrets: only route patterns are logged and measured, never the raw path.
    const route = c.req.routePath;
    const status = c.res.status;
    ctx.logger.debug(
      { reqId: c.var.requestId, method: c.req.method, route, status, ms: Math.round(seconds * 1000) },
      'request',
    );
    ctx.metrics.observeRequest({ method: c.req.method, route, status }, seconds);
    if (route === '/d/:token' && c.req.method !== 'HEAD') {
      ctx.metrics.countDownload(c.error ? toAppError(c.error).code : status >= 300 ? 'redirected' : 'served');
    }
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const checks = { database: 'ok', storage: 'ok' };
    try {
      await ctx.database.ping();
    } catch {
      checks.database = 'unavailable';
    }
    try {
      await (await ctx.blobs.active()).check();
    } catch {
      checks.storage = 'unavailable';
    }
    const ready = checks.database === 'ok' && checks.storage === 'ok';
    return c.json({ status: ready ? 'ready' : 'unavailable', checks }, ready ? 200 : 503);
  });

  if (ctx.config.metrics) {
    app.get('/metrics', requireToken(ctx.tokens, ctx.rateLimiter), async (c) =>
      c.text(await ctx.metrics.registry.metrics(), 200, { 'Content-Type': ctx.metrics.registry.contentType }),
    );
  }

  app.route('/', publicDownloadRoutes(ctx));
  app.route('/', packageRoutes(ctx));
  app.route('/', eddRoutes(ctx));
  app.route('/', storeWebhookRoutes(ctx));

  const api = new OpenAPIHono<AppEnv>({ defaultHook: app.defaultHook });
  const auth = requireToken(ctx.tokens, ctx.rateLimiter);
  // The license API is called by the seller's software in the field: it carries no secret.
  api.use('*', (c, next) => (PUBLIC_LICENSE_PATHS.test(c.req.path) ? next() : auth(c, next)));
  api.use('*', signResponses(ctx));
  const jsonLimit = limitBody(ctx.config.maxJsonBytes, 'JSON bodies');
  api.use('*', (c, next) => {
    // JSON bodies are small; file uploads and files to trace stream and enforce their own limits.
    if (/\/(files|trace)$/.test(c.req.path)) return next();
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    return jsonLimit(c, next);
  });
  api.route('/', productRoutes(ctx));
  api.route('/', orderRoutes(ctx));
  api.route('/', adminMiscRoutes(ctx));
  api.route('/', licenseFileRoutes(ctx));
  api.route('/', licenseRoutes(ctx));
  api.route('/', traceRoutes(ctx));
  app.route('/api/v1', api);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.doc31('/api/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'CloudSecure admin API', version: '1' },
    servers: [{ url: ctx.config.publicUrl }],
  });

  app.notFound((c) => renderError(c, new AppError('NOT_FOUND')));
  app.onError((error, c) => {
    const appError = toAppError(error);
    if (appError.code === 'INTERNAL')
      ctx.logger.error({ err: error, reqId: c.var.requestId }, 'unhandled error');
    return renderError(c, appError);
  });
  return app;
}
