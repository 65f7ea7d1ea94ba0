import { constants, inflateSync } from 'node:zlib';
import { PdfError } from './errors.ts';
import { dictGet, nameOf, numberOf, type PdfDict, type PdfObject } from './syntax.ts';

/**
 * Stream decoding for the streams this engine must read itself (xref streams and object streams):
 * FlateDecode with optional PNG predictors, nothing else. Inflation is capped (`maxOutputLength`), so a
 * decompression bomb fails fast with LIMIT instead of exhausting memory.
 */
export function decodeStream(dict: PdfDict, data: Buffer, maxBytes: number): Buffer {
  const filters = listOf(dict.entries.get('Filter') ?? dict.entries.get('F'));
  const parms = listOf(dict.entries.get('DecodeParms') ?? dict.entries.get('DP'));
  if (filters.length === 0) {
    if (data.length > maxBytes) throw new PdfError('LIMIT', `stream larger than ${maxBytes} bytes`);
    return data;
  }
  if (filters.length > 1) throw new PdfError('UNSUPPORTED', 'chained stream filters');
  const filter = nameOf(filters[0]);
  if (filter !== 'FlateDecode' && filter !== 'Fl') {
    throw new PdfError('UNSUPPORTED', `stream filter /${filter ?? '?'} (only FlateDecode is supported)`);
  }
  return unpredict(inflateBounded(data, maxBytes), parms[0], maxBytes);
}

function listOf(obj: PdfObject | undefined): PdfObject[] {
  if (!obj || obj.type === 'null') return [];
  return obj.type === 'array' ? obj.items : [obj];
}

/** Inflates zlib data, tolerating a missing end (as readers do), capped at maxBytes of output. */
export function inflateBounded(data: Buffer, maxBytes: number): Buffer {
  try {
    return inflateSync(data, { maxOutputLength: maxBytes, finishFlush: constants.Z_SYNC_FLUSH });
  } catch (error) {
    if (error instanceof RangeError || (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new PdfError('LIMIT', `stream inflates to more than ${maxBytes} bytes`);
    }
    throw new PdfError('BROKEN', `cannot inflate stream: ${(error as Error).message}`);
  }
}

/** Reverses a PNG (10–15) predictor; TIFF predictors are not used by xref or object streams. */
function unpredict(data: Buffer, parms: PdfObject | undefined, maxBytes: number): Buffer {
  const predictor = numberOf(dictGet(parms, 'Predictor')) ?? 1;
  if (predictor === 1) return data;
  if (predictor < 10) throw new PdfError('UNSUPPORTED', `predictor ${predictor}`);
  const colors = numberOf(dictGet(parms, 'Colors')) ?? 1;
  const bits = numberOf(dictGet(parms, 'BitsPerComponent')) ?? 8;
  const columns = numberOf(dictGet(parms, 'Columns')) ?? 1;
  const rowLength = Math.ceil((colors * bits * columns) / 8);
  const bpp = Math.max(1, Math.ceil((colors * bits) / 8));
  if (!(rowLength > 0 && rowLength <= maxBytes && colors <= 32 && bits <= 16)) {
    throw new PdfError('BROKEN', 'bad predictor parameters');
  }
  const rows = Math.floor(data.length / (rowLength + 1));
  const out = Buffer.alloc(rows * rowLength);
  let prev = Buffer.alloc(rowLength);
  for (let r = 0; r < rows; r++) {
    const inAt = r * (rowLength + 1);
    const type = data[inAt]!;
    const row = out.subarray(r * rowLength, (r + 1) * rowLength);
    data.copy(row, 0, inAt + 1, inAt + 1 + rowLength);
    for (let i = 0; i < rowLength; i++) {
      const left = i >= bpp ? row[i - bpp]! : 0;
      const up = prev[i]!;
      const upLeft = i >= bpp ? prev[i - bpp]! : 0;
      if (type === 1) row[i] = row[i]! + left;
      else if (type === 2) row[i] = row[i]! + up;
      else if (type === 3) row[i] = row[i]! + ((left + up) >> 1);
      else if (type === 4) row[i] = row[i]! + paeth(left, up, upLeft);
      else if (type !== 0) throw new PdfError('BROKEN', `bad PNG predictor row type ${type}`);
    }
    prev = row;
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}
