import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError } from '../domain/errors.ts';
import type { AppEnv } from './env.ts';
import { errorPage } from './html.ts';

/** Buyers' pages answer browsers in HTML; everything else, and any client asking for JSON, gets JSON. */
export function wantsHTML(c: Context<AppEnv>): boolean {
  const accept = c.req.header('accept') ?? '';
  if (accept.includes('application/json')) return false;
  return (
    /^\/[ad]\//.test(c.req.path) && (accept.includes('text/html') || accept === '' || accept.includes('*/*'))
  );
}

export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof HTTPException) {
    if (error.status === 413)
      return new AppError('PAYLOAD_TOO_LARGE', { message: 'The request body is too large.' });
    if (error.status === 401) return new AppError('UNAUTHORIZED');
    if (error.status < 500)
      return new AppError('INVALID_REQUEST', { message: error.message || 'Invalid request.' });
  }
  return new AppError('INTERNAL', { cause: error });
}

export function renderError(c: Context<AppEnv>, error: AppError): Response {
  const status = error.status as ContentfulStatusCode;
  c.header('Cache-Control', 'no-store');
  if (wantsHTML(c)) return c.html(errorPage(status, error.code, error.message), status);
  const body: { error: { code: string; message: string; detail?: Record<string, unknown> } } = {
    error: { code: error.code, message: error.message },
  };
  if (error.detail && error.code !== 'INTERNAL') body.error.detail = error.detail;
  return c.json(body, status);
}
