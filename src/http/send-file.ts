import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import contentDisposition from 'content-disposition';
import type { Context } from 'hono';
import rangeParser from 'range-parser';
import type { ProductFile } from '../domain/model.ts';
import type { ByteRange } from '../domain/ports.ts';
import type { AppEnv } from './env.ts';

export type RangeDecision =
  | { kind: 'full' }
  | { kind: 'partial'; range: ByteRange }
  | { kind: 'unsatisfiable' };

export function etagOf(file: ProductFile): string {
  return `"${file.sha256.slice(0, 32)}"`;
}

export function dispositionOf(file: ProductFile): string {
  // RFC 6266: an ASCII fallback plus filename* in UTF-8, so non-ASCII names survive every browser.
  return contentDisposition(file.name, { type: 'attachment', fallback: asciiFallback(file.name) });
}

/**
 * Decides what part of the file to send. One range is honoured; several ranges, a malformed header
 * or an If-Range that no longer matches get the whole file (RFC 9110 allows ignoring Range), and a
 * range wholly outside the file gets 416.
 */
export function decideRange(
  file: ProductFile,
  rangeHeader: string | undefined,
  ifRange: string | undefined,
): RangeDecision {
  if (!rangeHeader) return { kind: 'full' };
  if (ifRange !== undefined && !ifRangeMatches(file, ifRange)) return { kind: 'full' };
  const parsed = rangeParser(file.size, rangeHeader, { combine: true });
  if (parsed === -1) return { kind: 'unsatisfiable' };
  if (parsed === -2 || parsed.type !== 'bytes' || parsed.length !== 1) return { kind: 'full' };
  const [range] = parsed;
  return range ? { kind: 'partial', range: { start: range.start, end: range.end } } : { kind: 'full' };
}

/** The plain-ASCII name for old clients: accents dropped, anything else non-ASCII replaced by `_`. */
export function asciiFallback(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]|["\\%]/g, '_');
}

function ifRangeMatches(file: ProductFile, ifRange: string): boolean {
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return value === etagOf(file);
  const date = Date.parse(value);
  // Last-Modified has one-second precision; a date validator matches when the file is not newer.
  return !Number.isNaN(date) && Math.floor(Date.parse(file.createdAt) / 1000) * 1000 <= date;
}

export function fileHeaders(file: ProductFile): Record<string, string> {
  return {
    'Accept-Ranges': 'bytes',
    'Content-Type': file.contentType,
    'Content-Disposition': dispositionOf(file),
    ETag: etagOf(file),
    'Last-Modified': new Date(file.createdAt).toUTCString(),
    'Cache-Control': 'private, no-store',
    'X-Content-Type-Options': 'nosniff',
    'X-Robots-Tag': 'noindex, nofollow',
    'Referrer-Policy': 'no-referrer',
  };
}

export interface SendResult {
  bytes: number;
  completed: boolean;
}

/**
 * Streams `body` as the response. On Node, the bytes go straight from the file stream to the socket
 * with backpressure (no web-stream detour, memory stays flat); in-process calls get a web Response.
 */
export async function sendStream(
  c: Context<AppEnv>,
  status: 200 | 206,
  headers: Record<string, string>,
  body: Readable,
  onDone: (result: SendResult) => void,
): Promise<Response> {
  const outgoing = c.env?.outgoing;
  let bytes = 0;
  body.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  if (!outgoing) {
    body.on('end', () => onDone({ bytes, completed: true }));
    body.on('error', () => onDone({ bytes, completed: false }));
    return new Response(Readable.toWeb(body) as ReadableStream, { status, headers });
  }
  outgoing.writeHead(status, headers);
  const length = Number(headers['Content-Length']);
  pipeline(body, outgoing).then(
    () => onDone({ bytes, completed: true }),
    () => {
      // Clients close the connection as soon as the last byte has arrived, which can come before the file
      // stream's 'end' and makes pipeline report a premature close: judge by what was delivered.
      const sent = Math.max(0, bytes - outgoing.writableLength);
      onDone({ bytes: sent, completed: sent === length });
    },
  );
  return RESPONSE_ALREADY_SENT;
}
