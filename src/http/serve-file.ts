import type { Context } from 'hono';
import { AppError } from '../domain/errors.ts';
import type { ProductFile } from '../domain/model.ts';
import type { BlobStore, WatermarkedCopy } from '../domain/ports.ts';
import type { AppEnv } from './env.ts';
import {
  decideRange,
  dispositionOf,
  fileHeaders,
  openLocalFile,
  type SendResult,
  sendLocalFile,
  sendStream,
} from './send-file.ts';

export interface ServeFileInput {
  file: ProductFile;
  store: BlobStore;
  /**
   * Called once it is certain that the file will be sent (not for HEAD, a refused range or an unreadable
   * file): counts and logs, or throws to refuse. Returns what to do when the transfer ends.
   */
  begin(info: { range: string | null; redirected: boolean }): Promise<(result: SendResult) => void>;
}

/**
 * Sends a stored file the one way every download route shares. An S3/R2 file is a 302 (303 after a POST)
 * to a presigned URL that lives at most 300 s and carries no customer data. A local file is streamed with
 * single-range support, and it is opened before `begin`, so a missing file is a 503 and never a counted
 * download.
 */
export async function serveStoredFile(
  c: Context<AppEnv>,
  { file, store, begin }: ServeFileInput,
): Promise<Response> {
  const isHead = c.req.method === 'HEAD';
  if (store.kind !== 'local') {
    const url = await store.presignGet(file.objectKey, {
      expiresInSeconds: 300,
      contentDisposition: dispositionOf(file),
      contentType: file.contentType,
    });
    if (!url) throw new AppError('FILE_UNAVAILABLE');
    if (!isHead) await begin({ range: null, redirected: true });
    c.header('Cache-Control', 'no-store');
    c.header('Referrer-Policy', 'no-referrer');
    return c.redirect(url, c.req.method === 'POST' ? 303 : 302);
  }

  const decision = decideRange(file, c.req.header('range'), c.req.header('if-range'));
  if (decision.kind === 'unsatisfiable') {
    c.header('Content-Range', `bytes */${file.size}`);
    throw new AppError('RANGE_NOT_SATISFIABLE', { message: `The file has ${file.size} bytes.` });
  }
  const range = decision.kind === 'partial' ? decision.range : undefined;
  const status = range ? 206 : 200;
  const headers = fileHeaders(file);
  headers['Content-Length'] = String(range ? range.end - range.start + 1 : file.size);
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${file.size}`;
  if (isHead) return c.body(null, status, headers);

  const path = store.localPath?.(file.objectKey);
  const outgoing = c.env?.outgoing;
  const handle = path && outgoing ? await openLocalFile(path).catch(unavailable) : undefined;
  const body = handle ? undefined : await store.read(file.objectKey, range).catch(unavailable);
  let onDone: (result: SendResult) => void;
  try {
    onDone = await begin({ range: range ? (c.req.header('range') ?? null) : null, redirected: false });
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
      onDone,
    );
  }
  return sendStream(c, status, headers, body!, onDone);
}

function unavailable(error: unknown): never {
  throw new AppError('FILE_UNAVAILABLE', { cause: error });
}

/**
 * Sends one buyer's watermarked copy: a file of its own size and validator, made on the fly, with the
 * same single-range, If-Range and HEAD behaviour as a stored file (a resumed download gets exactly the
 * bytes of the same slice of a full one, because every byte is a function of grant and file version).
 */
export async function serveWatermarkedCopy(
  c: Context<AppEnv>,
  { file, copy, begin }: { file: ProductFile; copy: WatermarkedCopy; begin: ServeFileInput['begin'] },
): Promise<Response> {
  const virtual: ProductFile = { ...file, size: copy.size, sha256: copy.sha256 };
  // A copy changes when the seller changes the watermark, which the upload date cannot tell: only its
  // entity tag validates a resume (an If-Range date gets the whole copy, never a mixed file).
  const ifRange = c.req.header('if-range');
  const validator = ifRange === undefined || /^(W\/)?"/.test(ifRange.trim()) ? ifRange : '"no-match"';
  const decision = decideRange(virtual, c.req.header('range'), validator);
  if (decision.kind === 'unsatisfiable') {
    c.header('Content-Range', `bytes */${virtual.size}`);
    throw new AppError('RANGE_NOT_SATISFIABLE', { message: `The file has ${virtual.size} bytes.` });
  }
  const range = decision.kind === 'partial' ? decision.range : undefined;
  const status = range ? 206 : 200;
  const headers = fileHeaders(virtual);
  delete headers['Last-Modified'];
  headers['Content-Length'] = String(range ? range.end - range.start + 1 : virtual.size);
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${virtual.size}`;
  if (c.req.method === 'HEAD') return c.body(null, status, headers);
  const body = await copy.open(range).catch(unavailable);
  let onDone: (result: SendResult) => void;
  try {
    onDone = await begin({ range: range ? (c.req.header('range') ?? null) : null, redirected: false });
  } catch (error) {
    body.destroy();
    throw error;
  }
  return sendStream(c, status, headers, body, onDone);
}
