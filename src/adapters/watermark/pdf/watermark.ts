import { createHash } from 'node:crypto';
import type { OutputPlan } from '../plan.ts';
import type { RangeReader } from '../range-reader.ts';
import type { PdfAnalysis } from './analyze.ts';
import { PdfError } from './errors.ts';
import { ObjectStreamCache, rebuildObjectStreams } from './object-streams.ts';
import type { PdfPage } from './page-tree.ts';
import { finishRewrite, type PreparedRewrite, prepareRewrite, type Replacement } from './rewrite.ts';
import { displaySize, formMatrix, type Geometry, type PdfStamp, STAMP_NAMES, stampContent } from './stamp.ts';
import { type PdfDict, parseObjectSource, pdfName, pdfNumber, pdfString, sourceOf } from './syntax.ts';

/** The hex /ID[1] of a copy stamped with `token`: the token's own bytes, so a tracer can read it back. */
export function idForToken(token: string): string {
  return Buffer.from(token, 'utf8').toString('hex');
}

/** The /Info key holding the trace token. */
export const INFO_MARK_KEY = 'CloudSecureMark';

export { ObjectStreamCache };

export interface PdfPlanOptions {
  /** Shares rebuilt object streams between downloads of the same file. */
  cache?: ObjectStreamCache;
  /** Shares the buyer-independent part of the plan (and parsed page resources) between downloads. */
  templates?: PlanTemplateCache;
}

/**
 * Everything of a copy that is the same for every buyer of a file: the numbering of the objects the pages
 * point at, the replaced pages and object streams, the copy layout and the xref rows of existing objects.
 */
interface PlanTemplate {
  open: { num: number; body: Buffer };
  close: { num: number; body: Buffer };
  forms: { num: number; g: Geometry }[];
  /** First object number after the forms: the per-buyer objects start here. */
  next: number;
  rewrite: PreparedRewrite;
}

/**
 * Buyer-independent plan parts per analysis (an LRU bounded by entries and approximate bytes), plus the
 * parsed page-resource templates. Keyed by the analysis object itself: analyses are never mutated, and
 * the caller keeps one per file in memory, so a hit costs one map lookup. Create one at the composition
 * root and pass it with every plan.
 */
export class PlanTemplateCache {
  readonly #entries = new Map<PdfAnalysis, { template: Promise<PlanTemplate>; bytes: number }>();
  readonly #resources = new Map<string, string>();
  readonly #maxBytes: number;
  readonly #maxEntries: number;
  #bytes = 0;

  constructor(options: { maxBytes?: number; maxEntries?: number } = {}) {
    this.#maxBytes = options.maxBytes ?? 64 << 20;
    this.#maxEntries = options.maxEntries ?? 64;
  }

  /** The cached template, or `make()`'s (concurrent callers share one build; a failed build is dropped). */
  template(analysis: PdfAnalysis, make: () => Promise<PlanTemplate>): Promise<PlanTemplate> {
    const hit = this.#entries.get(analysis);
    if (hit) {
      this.#entries.delete(analysis);
      this.#entries.set(analysis, hit);
      return hit.template;
    }
    const entry = { template: make(), bytes: 0 };
    this.#entries.set(analysis, entry);
    entry.template.then(
      (t) => {
        if (this.#entries.get(analysis) !== entry) return;
        entry.bytes = t.rewrite.bytes;
        this.#bytes += entry.bytes;
        this.#evict();
      },
      () => {
        if (this.#entries.get(analysis) === entry) this.#entries.delete(analysis);
      },
    );
    this.#evict();
    return entry.template;
  }

  /** The resource dictionary with the placeholder XObject entry (see withXObject). */
  resources(source: string, make: (source: string) => string): string {
    let template = this.#resources.get(source);
    if (template === undefined) {
      template = make(source);
      if (this.#resources.size >= 100_000) this.#resources.clear();
      this.#resources.set(source, template);
    }
    return template;
  }

  #evict(): void {
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= 1) break;
      if (this.#bytes <= this.#maxBytes && this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(key);
      this.#bytes -= entry.bytes;
    }
  }
}

/**
 * Plans one buyer's copy: every page gets `/Contents [q …original… tail]` where the tail draws a Form
 * XObject per page geometry; page dicts are replaced in place (or their object streams rebuilt), old
 * xref sections are cut, and one fresh xref ends the file. Reads only the object streams holding pages;
 * every output byte is a function of (analysis, master, stamp).
 *
 * The objects the page dictionaries point at (the q and tail streams, the forms) are numbered first and
 * the XObject name comes from the file, so the rewritten pages and object streams are the same for every
 * buyer: the per-buyer bytes are the new objects (forms content, fonts, /Info) and the xref/trailer. That
 * part is made once per file when `options.templates` is given.
 */
export async function planPdfWatermark(
  analysis: PdfAnalysis,
  reader: RangeReader,
  stamp: PdfStamp,
  options: PdfPlanOptions = {},
): Promise<OutputPlan> {
  if (analysis.version !== 1) throw new Error(`unknown PDF analysis version ${String(analysis.version)}`);
  if (reader.size !== analysis.size) throw new Error('the PDF analysis was made for a different file');
  if (analysis.encrypted) {
    throw new PdfError('ENCRYPTED', 'encrypted PDFs must be decrypted before watermarking');
  }
  if (!/^[\x21-\x7e]+$/.test(stamp.token)) throw new Error('the trace token must be printable ASCII');

  const { templates } = options;
  const template = templates
    ? await templates.template(analysis, () => planTemplate(analysis, reader, options))
    : await planTemplate(analysis, reader, options);

  let next = template.next;
  const newObjects: { num: number; body: Buffer }[] = [template.open, template.close];
  const add = (body: string | Buffer, num = next++) => {
    newObjects.push({ num, body: typeof body === 'string' ? Buffer.from(body, 'latin1') : body });
    return `${num} 0 R`;
  };

  // Per-buyer objects.
  const info = add(infoDict(analysis.info, stamp.token));
  const tokenFont = add('<</Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding>>');
  const opacity = pdfNumber(clamp(stamp.opacity));
  const gs = add(`<</Type /ExtGState /ca ${opacity} /CA ${opacity}>>`);
  const fontBase = next;
  next += stamp.font.objects.length;
  stamp.font.objects.forEach((o, i) => {
    const dict = o.dict.replace(/\{\{ref:(\d+)\}\}/g, (_, n: string) => `${fontBase + Number(n)} 0 R`);
    add(o.stream ? streamBody(dict, o.stream) : dict, fontBase + i);
  });
  const font = `${fontBase + stamp.font.root} 0 R`;
  for (const { num, g } of template.forms) {
    const { width, height } = displaySize(g);
    const n = STAMP_NAMES;
    const dict =
      `<</Type /XObject /Subtype /Form /FormType 1 /BBox [0 0 ${pdfNumber(width)} ${pdfNumber(height)}]` +
      ` /Matrix [${formMatrix(g).map(pdfNumber).join(' ')}]` +
      ` /Resources <</Font <</${n.font} ${font} /${n.token} ${tokenFont}>> /ExtGState <</${n.gs} ${gs}>>>>>>`;
    add(streamBody(dict, Buffer.from(stampContent(stamp, width, height), 'latin1')), num);
  }
  newObjects.sort((a, b) => a.num - b.num);

  const id0 = analysis.trailer.id?.[0] ?? derivedId(analysis);
  const root = analysis.trailer.root;
  const trailer = ` /Root ${root.num} ${root.gen} R /Info ${info} /ID [<${id0}> <${idForToken(stamp.token)}>]`;
  return finishRewrite(template.rewrite, newObjects, trailer);
}

/** The buyer-independent part of a copy (see PlanTemplate). */
async function planTemplate(
  analysis: PdfAnalysis,
  reader: RangeReader,
  options: PdfPlanOptions,
): Promise<PlanTemplate> {
  let next = analysis.maxObjectNumber + 1;
  // Buyer-independent numbering: q stream, tail stream, one form per geometry (in page order).
  const name = xobjectName(analysis);
  const open = { num: next++, body: streamBody('<<>>', Buffer.from('q\n')) };
  const close = { num: next++, body: streamBody('<<>>', Buffer.from(`\nQ q /${name} Do Q\n`)) };
  const geometries = new Map<string, { num: number; g: Geometry }>();
  const formOf = analysis.pages.map((page) => {
    const g: Geometry = { box: page.cropBox, rotate: page.rotate };
    const key = `${g.rotate}:${g.box.map(pdfNumber).join(',')}`;
    let entry = geometries.get(key);
    if (!entry) {
      entry = { num: next++, g };
      geometries.set(key, entry);
    }
    return `${entry.num} 0 R`;
  });

  const openRef = `${open.num} 0 R`;
  const closeRef = `${close.num} 0 R`;
  const replacements: Replacement[] = [];
  const inStreams = new Map<number, Map<number, string>>();
  // Pages mostly share their resources: extend each distinct dictionary once.
  const extended = new Map<string, string>();
  const resourceTemplate = (source: string) =>
    options.templates ? options.templates.resources(source, templateOf) : templateOf(source);
  analysis.pages.forEach((page, i) => {
    const contents = `[${[openRef, ...page.contents, closeRef].join(' ')}]`;
    const key = `${formOf[i]}|${page.resources}`;
    let resources = extended.get(key);
    if (resources === undefined) {
      resources = withXObject(resourceTemplate(page.resources), name, formOf[i]!);
      extended.set(key, resources);
    }
    const dict = pageDict(page, contents, resources);
    if (page.location.kind === 'offset') {
      const bytes = Buffer.from(`${page.num} ${page.gen} obj\n${dict}\nendobj`, 'latin1');
      replacements.push({ start: page.location.start, end: page.location.end, bytes, num: page.num });
    } else {
      const map = inStreams.get(page.location.stream) ?? new Map<number, string>();
      map.set(page.num, dict);
      inStreams.set(page.location.stream, map);
    }
  });
  replacements.push(...(await rebuildObjectStreams(analysis, reader, inStreams, options.cache)));

  const kind =
    analysis.xrefKind === 'table' && !analysis.objects.some((o) => o[1] === 2) ? 'table' : 'stream';
  if (kind === 'stream' && Number(analysis.pdfVersion) < 1.5) {
    replacements.push({ start: 0, end: 8, bytes: Buffer.from('%PDF-1.5') });
  }
  return {
    open,
    close,
    forms: [...geometries.values()],
    next,
    rewrite: prepareRewrite(analysis, replacements, kind),
  };
}

function clamp(opacity: number): number {
  return Number.isFinite(opacity) ? Math.min(1, Math.max(0, opacity)) : 1;
}

function streamBody(dict: string, data: Buffer): Buffer {
  const withLength = dict.replace(/>>\s*$/, ` /Length ${data.length}>>`);
  return Buffer.concat([Buffer.from(`${withLength}\nstream\n`, 'latin1'), data, Buffer.from('\nendstream')]);
}

function parseDict(source: string): { dict: PdfDict; buf: Buffer } {
  const buf = Buffer.from(source, 'latin1');
  const dict = parseObjectSource(buf);
  if (dict.type !== 'dict') throw new PdfError('BROKEN', 'expected a dictionary in the stored analysis');
  return { dict, buf };
}

/** A dictionary source with some entries replaced or added (others copied verbatim, in order). */
function editDict(source: string, changes: Map<string, string>): string {
  const { dict, buf } = parseDict(source);
  let out = '<<';
  const done = new Set<string>();
  for (const [key, value] of dict.entries) {
    const change = changes.get(key);
    out += `${pdfName(key)} ${change ?? sourceOf(buf, value)}`;
    if (change !== undefined) done.add(key);
  }
  for (const [key, value] of changes) if (!done.has(key)) out += `${pdfName(key)} ${value}`;
  return `${out}>>`;
}

function infoDict(source: string | null, token: string): string {
  return editDict(source ?? '<<>>', new Map([[INFO_MARK_KEY, pdfString(token)]]));
}

function pageDict(page: PdfPage, contents: string, resources: string): string {
  return `<<${page.entries}/Contents ${contents}/Resources ${resources}>>`;
}

// Pages share few distinct resource dictionaries, and every buyer's copy extends them the same way:
// parse each once (per PlanTemplateCache) and fill in the name and the form reference.
const NAME_SLOT = 'CSwmNAME';
const FORM_SLOT = 'CSwmFORM';
function templateOf(resources: string): string {
  return extendResources(resources, NAME_SLOT, FORM_SLOT);
}

function withXObject(template: string, name: string, form: string): string {
  return template.replace(`/${NAME_SLOT}`, `/${name}`).replace(FORM_SLOT, form);
}

function extendResources(resources: string, name: string, form: string): string {
  const { dict, buf } = parseDict(resources);
  const current = dict.entries.get('XObject');
  const inner = current?.type === 'dict' ? sourceOf(buf, current) : '<<>>';
  return editDict(resources, new Map([['XObject', editDict(inner, new Map([[name, form]]))]]));
}

/** `/CSwm` + 8 hex digits derived from the file, extended until no page already uses it. */
const XOBJECT_NAMES = new WeakMap<PdfAnalysis, string>();
function xobjectName(analysis: PdfAnalysis): string {
  let name = XOBJECT_NAMES.get(analysis);
  if (name === undefined) {
    name = pickXObjectName(analysis);
    XOBJECT_NAMES.set(analysis, name);
  }
  return name;
}

function pickXObjectName(analysis: PdfAnalysis): string {
  const used = new Set<string>();
  for (const resources of new Set(analysis.pages.map((p) => p.resources))) {
    const xobjects = parseDict(resources).dict.entries.get('XObject');
    if (xobjects?.type === 'dict') for (const key of xobjects.entries.keys()) used.add(key);
  }
  const seed = `${analysis.size}/${analysis.maxObjectNumber}/${analysis.pages.length}`;
  let name = `CSwm${createHash('sha256').update(seed).digest('hex').slice(0, 8)}`;
  while (used.has(name)) name += 'x';
  return name;
}

function derivedId(analysis: PdfAnalysis): string {
  const seed = `CloudSecure/${analysis.size}/${analysis.trailer.root.num}/${analysis.maxObjectNumber}/${analysis.pages.length}`;
  return createHash('sha256').update(seed).digest('hex').slice(0, 32);
}
