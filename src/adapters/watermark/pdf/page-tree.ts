import { PdfError } from './errors.ts';
import type { LoadedObject, ObjectLoader } from './objects.ts';
import { nameOf, type PdfObject, pdfName, sourceOf } from './syntax.ts';

/** A leaf page with its effective (inherited) attributes, as stored in the analysis. */
export interface PdfPage {
  num: number;
  gen: number;
  /** Where the page dictionary lives: `N G obj … endobj` at [start, end), or inside an object stream. */
  location:
    | { kind: 'offset'; start: number; end: number }
    | { kind: 'objstm'; stream: number; index: number };
  /**
   * Source text of the page dictionary's entries except /Contents and /Resources (those are stored
   * resolved below), e.g. `/Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]`: the writer wraps it as
   * `<<… /Contents […] /Resources <<…>>>>` without parsing anything per download.
   */
  entries: string;
  /** Effective /Resources as a dictionary source (indirect /Resources and /XObject resolved inline). */
  resources: string;
  /** The /Contents items as source text (references), in order; indirect arrays resolved. */
  contents: string[];
  mediaBox: [number, number, number, number];
  /** Effective crop box: /CropBox (default MediaBox) intersected with the MediaBox. */
  cropBox: [number, number, number, number];
  rotate: 0 | 90 | 180 | 270;
}

export interface PageTreeLimits {
  maxPages: number;
  maxObjects: number;
}

const MAX_DEPTH = 128;
const LETTER: [number, number, number, number] = [0, 0, 612, 792];

interface Inherited {
  resources?: { value: PdfObject; buf: Buffer };
  mediaBox?: { value: PdfObject; buf: Buffer };
  cropBox?: { value: PdfObject; buf: Buffer };
  rotate?: { value: PdfObject; buf: Buffer };
}

/** Walks /Pages from the root node depth-first, in page order, with loop, depth and count limits. */
export async function collectPages(
  loader: ObjectLoader,
  pagesRef: PdfObject,
  limits: PageTreeLimits,
): Promise<PdfPage[]> {
  if (pagesRef.type !== 'ref') throw new PdfError('BROKEN', '/Pages is not an indirect reference');
  const pages: PdfPage[] = [];
  const visited = new Set<number>();
  const stack: { num: number; inherited: Inherited; depth: number }[] = [
    { num: pagesRef.num, inherited: {}, depth: 0 },
  ];
  while (stack.length > 0) {
    const { num, inherited, depth } = stack.pop()!;
    if (visited.has(num)) throw new PdfError('BROKEN', `page tree loop or shared node at object ${num}`);
    visited.add(num);
    if (visited.size > limits.maxObjects) throw new PdfError('LIMIT', 'page tree too large');
    if (depth > MAX_DEPTH) throw new PdfError('LIMIT', `page tree deeper than ${MAX_DEPTH} levels`);
    const node = await loader.get(num);
    if (node?.value.type !== 'dict') throw new PdfError('BROKEN', `page tree node ${num} is missing`);
    const entries = node.value.entries;
    const own = (key: string) => {
      const value = entries.get(key);
      return value && value.type !== 'null' ? { value, buf: node.buf } : undefined;
    };
    const here: Inherited = {
      resources: own('Resources') ?? inherited.resources,
      mediaBox: own('MediaBox') ?? inherited.mediaBox,
      cropBox: own('CropBox') ?? inherited.cropBox,
      rotate: own('Rotate') ?? inherited.rotate,
    };
    const type = nameOf(entries.get('Type'));
    const kids = entries.get('Kids');
    if (type === 'Page' || (type !== 'Pages' && !kids)) {
      if (pages.length >= limits.maxPages) throw new PdfError('LIMIT', `more than ${limits.maxPages} pages`);
      pages.push(await describePage(loader, node, here));
      continue;
    }
    const list = await loader.resolve(kids, node.buf);
    if (list?.value.type !== 'array')
      throw new PdfError('BROKEN', `page tree node ${num} has no /Kids array`);
    for (let i = list.value.items.length - 1; i >= 0; i--) {
      const kid = list.value.items[i]!;
      if (kid.type !== 'ref') throw new PdfError('BROKEN', `page tree node ${num} has a direct kid`);
      stack.push({ num: kid.num, inherited: here, depth: depth + 1 });
      if (stack.length > limits.maxObjects) throw new PdfError('LIMIT', 'page tree too large');
    }
  }
  return pages;
}

async function describePage(loader: ObjectLoader, node: LoadedObject, attrs: Inherited): Promise<PdfPage> {
  const entries = node.value.type === 'dict' ? node.value.entries : new Map<string, PdfObject>();
  const mediaBox = (await box(loader, attrs.mediaBox)) ?? LETTER;
  const crop = (await box(loader, attrs.cropBox)) ?? mediaBox;
  const cropBox: PdfPage['cropBox'] = [
    Math.max(crop[0], mediaBox[0]),
    Math.max(crop[1], mediaBox[1]),
    Math.min(crop[2], mediaBox[2]),
    Math.min(crop[3], mediaBox[3]),
  ];
  const rotation = attrs.rotate ? await loader.resolve(attrs.rotate.value, attrs.rotate.buf) : undefined;
  const degrees = rotation?.value.type === 'number' ? Math.round(rotation.value.value / 90) * 90 : 0;
  return {
    num: node.num,
    gen: node.gen,
    location: node.location,
    entries: [...entries]
      .filter(([key]) => key !== 'Contents' && key !== 'Resources')
      .map(([key, value]) => `${pdfName(key)} ${sourceOf(node.buf, value)}`)
      .join(''),
    resources: await resourcesSource(loader, attrs.resources),
    contents: await contentsOf(loader, entries.get('Contents'), node.buf),
    mediaBox,
    cropBox: cropBox[0] < cropBox[2] && cropBox[1] < cropBox[3] ? cropBox : mediaBox,
    rotate: (((degrees % 360) + 360) % 360) as PdfPage['rotate'],
  };
}

async function box(
  loader: ObjectLoader,
  attr: { value: PdfObject; buf: Buffer } | undefined,
): Promise<[number, number, number, number] | undefined> {
  const array = attr ? await loader.resolve(attr.value, attr.buf) : undefined;
  if (array?.value.type !== 'array' || array.value.items.length !== 4) return undefined;
  const n: number[] = [];
  for (const item of array.value.items) {
    const v = await loader.resolve(item, array.buf);
    if (v?.value.type !== 'number') return undefined;
    n.push(v.value.value);
  }
  const [a, b, c, d] = n as [number, number, number, number];
  const result: [number, number, number, number] = [
    Math.min(a, c),
    Math.min(b, d),
    Math.max(a, c),
    Math.max(b, d),
  ];
  return result[0] < result[2] && result[1] < result[3] ? result : undefined;
}

/** The effective resources as one dictionary source, with an indirect /XObject dictionary inlined. */
async function resourcesSource(loader: ObjectLoader, attr: Inherited['resources']): Promise<string> {
  const res = attr ? await loader.resolve(attr.value, attr.buf) : undefined;
  if (res?.value.type !== 'dict') return '<<>>';
  let out = '<<';
  for (const [key, value] of res.value.entries) {
    let text = sourceOf(res.buf, value);
    if (key === 'XObject' && value.type === 'ref') {
      const xobjects = await loader.resolve(value, res.buf);
      text = xobjects?.value.type === 'dict' ? sourceOf(xobjects.buf, xobjects.value) : '<<>>';
    }
    out += `${pdfName(key)} ${text}`;
  }
  return `${out}>>`;
}

async function contentsOf(
  loader: ObjectLoader,
  contents: PdfObject | undefined,
  buf: Buffer,
): Promise<string[]> {
  if (!contents || contents.type === 'null') return [];
  if (contents.type === 'array')
    return contents.items.filter((i) => i.type === 'ref').map((i) => sourceOf(buf, i));
  if (contents.type !== 'ref') return [];
  const target = await loader.get(contents.num, { streamExtent: false });
  if (!target) return [];
  if (target.stream) return [`${contents.num} ${contents.gen} R`];
  if (target.value.type !== 'array') return [];
  return target.value.items.filter((i) => i.type === 'ref').map((i) => `${i.num} ${i.gen} R`);
}
