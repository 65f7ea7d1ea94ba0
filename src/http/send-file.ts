import { type FileHandle, open } from 'node:fs/promises';
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

const CHUNK_BYTES = 1 << 20;

/** Opens a stored file for sending; fails before anything is counted when the file is gone. */
export function openLocalFile(path: string): Promise<FileHandle> {
  return open(path, 'r');
}

function ignore(): void {}

/**
 * Sends bytes [start, end] of a local file through two reused 1 MiB buffers, each refilled only after the
 * socket has taken it (the write callback). fs.createReadStream allocates a fresh buffer per chunk; in this
 * process (the AWS SDK loaded) that churn of external memory triggers a full GC every few chunks and halves
 * the throughput (bench/RESULTS.md).
 */
export function sendLocalFile(
  outgoing: NonNullable<AppEnv['Bindings']['outgoing']>,
  status: 200 | 206,
  headers: Record<string, string>,
  file: FileHandle,
  range: ByteRange,
  onDone: (result: SendResult) => void,
): Response {
  outgoing.writeHead(status, headers);
  const length = range.end - range.start + 1;
  let sent = 0;
  const send = async (): Promise<void> => {
    const buffers = [Buffer.allocUnsafeSlow(CHUNK_BYTES), Buffer.allocUnsafeSlow(CHUNK_BYTES)];
    const inFlight: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
    const closed = new Promise<never>((_, reject) => {
      outgoing.once('close', () => reject(new Error('the client went away')));
    });
    closed.catch(ignore);
    for (let position = range.start, turn = 0; position <= range.end; turn ^= 1) {
      await Promise.race([inFlight[turn], closed]);
      const buffer = buffers[turn]!;
      const { bytesRead } = await file.read(
        buffer,
        0,
        Math.min(buffer.length, range.end - position + 1),
        position,
      );
      if (bytesRead === 0) throw new Error('the file is shorter than its record');
      position += bytesRead;
      const write = new Promise<void>((resolve, reject) => {
        outgoing.write(buffer.subarray(0, bytesRead), (error) => {
          if (error) return reject(error);
          sent += bytesRead;
          resolve();
        });
      });
      write.catch(ignore);
      inFlight[turn] = write;
    }
    await Promise.race([Promise.all(inFlight), closed]);
    outgoing.end();
  };
  send()
    .catch(() => outgoing.destroy())
    .finally(() => {
      file.close().catch(ignore);
      onDone({ bytes: sent, completed: sent === length });
    });
  return RESPONSE_ALREADY_SENT;
}
