/**
 * Set-up for the watermark bench, done the way a seller does it: `cloudsecure product create … --file`
 * (with and without `--watermark on`, timed, since the upload-time analysis runs then) and `cloudsecure
 * order create … --json` for each buyer, whose direct `/d/` links the bench downloads. Plus the checks of
 * one downloaded copy: qpdf and pdftotext.
 */
import { basename } from 'node:path';
import { runTool } from '../../tests/helpers/pdf-verify.ts';
import { cliJSON } from './webhooks-setup.ts';

export interface ProductFileView {
  id: string;
  name: string;
  size: number;
  watermark?: { method: string; status: string; reason: string | null } | null;
}

export interface CreatedProduct {
  slug: string;
  /** Wall time of `product create … --file` (Node start-up, upload and, with watermarking on, analysis). */
  seconds: number;
  file: ProductFileView;
}

/** `product create --name NAME --slug SLUG --download-limit 0 [--watermark on] --file PATH --json`, timed. */
export async function createProduct(input: {
  bin: string;
  cwd: string;
  vars: Record<string, string>;
  name: string;
  slug: string;
  file: string;
  watermark: boolean;
}): Promise<CreatedProduct> {
  const started = performance.now();
  const product = await cliJSON<{ slug: string; files: ProductFileView[] }>(
    input.bin,
    input.cwd,
    input.vars,
    [
      ...['product', 'create', '--name', input.name, '--slug', input.slug],
      // Unlimited downloads: every buyer's link is used for several runs.
      ...['--download-limit', '0'],
      ...(input.watermark ? ['--watermark', 'on'] : []),
      ...['--file', input.file],
    ],
  );
  const seconds = (performance.now() - started) / 1000;
  const file = product.files.find((f) => f.name === basename(input.file));
  if (!file) throw new Error(`product create ${input.slug}: the file ${basename(input.file)} is missing`);
  if (input.watermark && file.watermark?.status !== 'ok') {
    throw new Error(
      `product create ${input.slug}: ${file.name} cannot be watermarked (${JSON.stringify(file.watermark)})`,
    );
  }
  return { slug: product.slug, seconds, file };
}

export interface Buyer {
  name: string;
  email: string;
  /** product slug → direct `/d/<token>` URL of its (only) file. */
  links: Record<string, string>;
  /** Wall time of `order create`. */
  seconds: number;
}

/** `order create --email … --name … --product SLUG… --no-notify --json` → the buyer's direct links. */
export async function createBuyer(input: {
  bin: string;
  cwd: string;
  vars: Record<string, string>;
  name: string;
  email: string;
  products: string[];
}): Promise<Buyer> {
  const started = performance.now();
  const order = await cliJSON<{ downloads: { product: string; url: string }[] }>(
    input.bin,
    input.cwd,
    input.vars,
    [
      ...['order', 'create', '--email', input.email, '--name', input.name],
      ...input.products.flatMap((slug) => ['--product', slug]),
      '--no-notify',
    ],
  );
  const links: Record<string, string> = {};
  for (const d of order.downloads) links[d.product] = d.url;
  for (const slug of input.products) {
    if (!links[slug]) throw new Error(`order create for ${input.email}: no link for ${slug}`);
  }
  return { name: input.name, email: input.email, links, seconds: (performance.now() - started) / 1000 };
}

export interface CopyCheck {
  /** `qpdf --check` exit codes (0 clean, 3 warnings, 2 errors). */
  qpdfOriginal: number;
  qpdfCopy: number;
  /** Pages whose `pdftotext` text was searched, and those that had the buyer's name. */
  pagesChecked: number[];
  pagesWithName: number[];
  /** Copy bytes − original bytes. */
  addedBytes: number;
  ok: boolean;
  /** Why not, when not ok. */
  problems: string[];
}

/** Text of one page (`pdftotext -f N -l N -enc UTF-8`); whitespace runs folded to one space. */
async function pageText(path: string, page: number): Promise<string> {
  const run = await runTool('pdftotext', [
    '-f',
    String(page),
    '-l',
    String(page),
    '-enc',
    'UTF-8',
    path,
    '-',
  ]);
  if (run.code !== 0) throw new Error(`pdftotext -f ${page} failed (${run.code}) on ${path}: ${run.stderr}`);
  return run.stdout.replace(/\s+/g, ' ');
}

/**
 * The copy is a valid PDF (`qpdf --check` exits 0, or 3 only when the original also gives 3) and shows the
 * buyer's name (pdftotext) on the given pages.
 */
export async function checkCopy(input: {
  original: string;
  copy: string;
  originalBytes: number;
  copyBytes: number;
  buyerName: string;
  pages: number[];
}): Promise<CopyCheck> {
  const [original, copy] = await Promise.all([
    runTool('qpdf', ['--check', input.original], { timeoutMs: 300_000 }),
    runTool('qpdf', ['--check', input.copy], { timeoutMs: 300_000 }),
  ]);
  const problems: string[] = [];
  const qpdfOk = copy.code === 0 || (copy.code === 3 && original.code === 3);
  if (!qpdfOk) {
    const said = `${copy.stdout}${copy.stderr}`.trim().split('\n').slice(0, 5).join(' / ');
    problems.push(`qpdf --check exited ${copy.code} (original: ${original.code}): ${said}`);
  }
  const pagesWithName: number[] = [];
  for (const page of input.pages) {
    if ((await pageText(input.copy, page)).includes(input.buyerName)) pagesWithName.push(page);
  }
  if (pagesWithName.length !== input.pages.length) {
    const missing = input.pages.filter((p) => !pagesWithName.includes(p));
    problems.push(`pdftotext did not find "${input.buyerName}" on page(s) ${missing.join(', ')}`);
  }
  return {
    qpdfOriginal: original.code,
    qpdfCopy: copy.code,
    pagesChecked: input.pages,
    pagesWithName,
    addedBytes: input.copyBytes - input.originalBytes,
    ok: problems.length === 0,
    problems,
  };
}
