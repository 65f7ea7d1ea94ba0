import type { RangeReader } from '../range-reader.ts';
import { type CentralDirectory, readCentralDirectory, type ZipEntry } from './central-directory.ts';
import { readEntryData } from './entry-data.ts';

/** The shape of our trace tokens: `WM` + 20 base32 characters. */
export const TRACE_TOKEN_PATTERN = /WM[A-Z2-7]{20}/;

export interface FindMarksOptions {
  /** What a token looks like (default TRACE_TOKEN_PATTERN). */
  pattern?: RegExp;
  /** How many entries to open and how many bytes to inflate at most. */
  maxDocuments?: number;
  maxTotalBytes?: number;
}

const SEARCHED = /(^|\/)LICENSE[^/]*\.txt$|\.(opf|xhtml|html|htm|ncx)$/i;

/**
 * Trace tokens found in a ZIP or EPUB: in the archive comment, the entry names (`wm-<token>.xhtml`), licence
 * files, and the OPF and content documents. Unreadable entries are skipped (a leaked copy may be damaged); an
 * unreadable archive throws ZipError. Tokens come back once each, in the order first seen.
 */
export async function findZipMarks(reader: RangeReader, options: FindMarksOptions = {}): Promise<string[]> {
  const cd: CentralDirectory = await readCentralDirectory(reader);
  const pattern = new RegExp((options.pattern ?? TRACE_TOKEN_PATTERN).source, 'g');
  const found = new Set<string>();
  const scan = (text: string): void => {
    for (const m of text.matchAll(pattern)) found.add(m[0]);
  };
  scan(cd.comment.toString('latin1'));
  for (const e of cd.entries) scan(e.name);

  let documents = options.maxDocuments ?? 2000;
  let budget = options.maxTotalBytes ?? 64 * 1024 * 1024;
  const wanted: ZipEntry[] = cd.entries.filter((e) => SEARCHED.test(e.name));
  for (const e of wanted) {
    if (documents-- <= 0) break;
    if (e.uncompressedSize > budget) continue;
    budget -= e.uncompressedSize;
    try {
      scan((await readEntryData(reader, e)).toString('utf8'));
    } catch {
      // A damaged or encrypted entry holds no readable mark; the others still count.
    }
  }
  return [...found];
}
