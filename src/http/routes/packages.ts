import { Hono } from 'hono';
import type { AppContext } from '../../context.ts';
import { AppError } from '../../domain/errors.ts';
import type { AppEnv } from '../env.ts';
import { serveStoredFile } from '../serve-file.ts';

/**
 * GET /p/<token>: release packages for licensed sites, the `package` URL of an update check. The license
 * is re-checked for the site on every request (release-service / package-access.ts); then the file is
 * sent like any download: streamed with Range support from local storage, or a 302 to a presigned URL.
 */
export function packageRoutes(ctx: AppContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { releases, rateLimiter, blobs } = ctx;

  app.on(['GET', 'HEAD'], '/p/:token', async (c) => {
    const requester = { ip: c.var.ip, userAgent: c.req.header('user-agent') ?? null };
    // Unknown or tampered tokens count against the client's IP, as on /d/ links.
    const limitKey = `link:${requester.ip ?? 'unknown'}`;
    if (await rateLimiter.isLimited(limitKey)) throw new AppError('RATE_LIMITED');
    const authorized = await releases
      .authorizePackage(c.req.param('token'), requester)
      .catch(async (error) => {
        if (error instanceof AppError && error.code === 'NOT_FOUND') await rateLimiter.hit(limitKey);
        throw error;
      });
    return serveStoredFile(c, {
      file: authorized.file,
      store: await blobs.forKind(authorized.file.storage),
      async begin({ range, redirected }) {
        await releases.recordDownload({ ...authorized, ...requester, range, redirected });
        return ignore;
      },
    });
  });

  return app;
}

function ignore(): void {}
