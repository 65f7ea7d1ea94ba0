import { Hono } from 'hono';
import type { AppContext } from '../../context.ts';
import { AppError } from '../../domain/errors.ts';
import type { AppEnv } from '../env.ts';
import {
  decideRange,
  dispositionOf,
  fileHeaders,
  openLocalFile,
  sendLocalFile,
  sendStream,
} from '../send-file.ts';

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
    const { file } = authorized;
    const store = await blobs.forKind(file.storage);
    const isHead = c.req.method === 'HEAD';

    if (store.kind !== 'local') {
      const url = await store.presignGet(file.objectKey, {
        expiresInSeconds: 300,
        contentDisposition: dispositionOf(file),
        contentType: file.contentType,
      });
      if (!url) throw new AppError('FILE_UNAVAILABLE');
      if (!isHead)
        await releases.recordDownload({ ...authorized, ...requester, range: null, redirected: true });
      c.header('Cache-Control', 'no-store');
      c.header('Referrer-Policy', 'no-referrer');
      return c.redirect(url, 302);
    }

    const decision = decideRange(file, c.req.header('range'), c.req.header('if-range'));
    const headers = fileHeaders(file);
    if (decision.kind === 'unsatisfiable') {
      c.header('Content-Range', `bytes */${file.size}`);
      throw new AppError('RANGE_NOT_SATISFIABLE', { message: `The file has ${file.size} bytes.` });
    }
    const range = decision.kind === 'partial' ? decision.range : undefined;
    const status = range ? 206 : 200;
    headers['Content-Length'] = String(range ? range.end - range.start + 1 : file.size);
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${file.size}`;
    if (isHead) return c.body(null, status, headers);

    const path = store.localPath?.(file.objectKey);
    const outgoing = c.env?.outgoing;
    // Open before logging, so a missing file is a 503 and not a download on record.
    const handle = path && outgoing ? await openLocalFile(path).catch(unavailable) : undefined;
    const body = handle ? undefined : await store.read(file.objectKey, range).catch(unavailable);
    try {
      await releases.recordDownload({
        ...authorized,
        ...requester,
        range: range ? (c.req.header('range') ?? null) : null,
        redirected: false,
      });
    } catch (error) {
      await handle?.close();
      body?.destroy();
      throw error;
    }
    if (handle && outgoing) {
      return sendLocalFile(
        outgoing,
        status,
        headers,
        handle,
        range ?? { start: 0, end: file.size - 1 },
        ignore,
      );
    }
    return sendStream(c, status, headers, body!, ignore);
  });

  return app;
}

function ignore(): void {}

function unavailable(error: unknown): never {
  throw new AppError('FILE_UNAVAILABLE', { cause: error });
}
