import { ZipError } from '../zip/zip-error.ts';
import { attribute, decodeXml, escapeXml, scanTags, type XmlTag } from './xml.ts';

/**
 * An IRI naming our metadata vocabulary in EPUB 3 `prefix` declarations. Reading systems never dereference it;
 * `.invalid` makes sure it cannot point at anybody else's site.
 */
export const CLOUDSECURE_PREFIX_IRI = 'https://cloudsecure.invalid/ns/epub#';
export const MARK_PROPERTY = 'cloudsecure:mark';

export interface ManifestItem {
  id: string;
  href: string;
  mediaType: string;
  properties: string[];
  /** The ZIP entry the href points to, or undefined for remote resources. */
  path: string | undefined;
}

export interface PackageDocument {
  version: 2 | 3;
  items: ManifestItem[];
  ids: Set<string>;
  /** Text of the first dc:title. */
  title: string | undefined;
  packageTag: XmlTag;
  metadataEnd: XmlTag;
  manifestEnd: XmlTag;
  spineStart: XmlTag;
  spineEnd: XmlTag;
  /** Where the first itemref element starts and ends. */
  firstItemref: { start: number; end: number } | undefined;
}

/** Finds what we need in an OPF: version, manifest, the places we insert into. Throws ZipError('BROKEN'). */
export function parsePackage(text: string, opfPath: string): PackageDocument {
  const dir = opfPath.includes('/') ? opfPath.slice(0, opfPath.lastIndexOf('/') + 1) : '';
  let packageTag: XmlTag | undefined;
  let metadataEnd: XmlTag | undefined;
  let manifestEnd: XmlTag | undefined;
  let spineStart: XmlTag | undefined;
  let spineEnd: XmlTag | undefined;
  let firstItemref: { start: number; end: number } | undefined;
  let inFirstItemref = false;
  let inMetadata = false;
  let titleStart: number | undefined;
  let title: string | undefined;
  const items: ManifestItem[] = [];
  const ids = new Set<string>();

  for (const tag of scanTags(text)) {
    const id = attribute(tag, 'id');
    if (id !== undefined) ids.add(id);
    if (tag.kind === 'start') {
      if (tag.local === 'package' && !packageTag) packageTag = tag;
      else if (tag.local === 'metadata' && !tag.selfClosing) inMetadata = true;
      else if (tag.local === 'title' && inMetadata && title === undefined && titleStart === undefined) {
        titleStart = tag.selfClosing ? undefined : tag.end;
      } else if (tag.local === 'item' && !manifestEnd) {
        const href = attribute(tag, 'href') ?? '';
        items.push({
          id: id ?? '',
          href,
          mediaType: (attribute(tag, 'media-type') ?? '').trim().toLowerCase(),
          properties: (attribute(tag, 'properties') ?? '').split(/\s+/).filter(Boolean),
          path: resolveHref(dir, href),
        });
      } else if (tag.local === 'spine' && !spineStart) {
        spineStart = tag;
      } else if (tag.local === 'itemref' && spineStart && !spineEnd && firstItemref === undefined) {
        firstItemref = { start: tag.start, end: tag.end };
        inFirstItemref = !tag.selfClosing;
      }
    } else {
      if (tag.local === 'metadata' && !metadataEnd) {
        metadataEnd = tag;
        inMetadata = false;
      } else if (tag.local === 'title' && titleStart !== undefined && title === undefined) {
        title = decodeXml(text.slice(titleStart, tag.start).replace(/<[^>]*>/g, '')).trim();
      } else if (tag.local === 'manifest' && !manifestEnd) manifestEnd = tag;
      else if (tag.local === 'itemref' && inFirstItemref && firstItemref) {
        firstItemref.end = tag.end;
        inFirstItemref = false;
      } else if (tag.local === 'spine' && spineStart && !spineEnd) spineEnd = tag;
    }
  }
  if (packageTag?.local !== 'package') throw new ZipError('BROKEN', 'EPUB: the OPF has no <package>');
  if (!metadataEnd || !manifestEnd || !spineStart || spineStart.selfClosing || !spineEnd) {
    throw new ZipError('BROKEN', 'EPUB: the OPF lacks <metadata>, <manifest> or <spine>');
  }
  const version = (attribute(packageTag, 'version') ?? '').trim().startsWith('3') ? 3 : 2;
  return {
    version,
    items,
    ids,
    title: title || undefined,
    packageTag,
    metadataEnd,
    manifestEnd,
    spineStart,
    spineEnd,
    firstItemref,
  };
}

export interface PackageMark {
  token: string;
  /** Manifest id and href (relative to the OPF) of the watermark page. */
  pageId: string;
  pageHref: string;
}

/**
 * The OPF with the watermark page in the manifest and in the spine after the first item, the token in a
 * metadata `meta` (EPUB 3: `property`, declared with a `prefix`; EPUB 2: `name`/`content`) and in a comment.
 * Everything else stays as it was.
 */
export function markPackage(text: string, pkg: PackageDocument, mark: PackageMark): string {
  const pre = (tag: XmlTag): string => (tag.prefix ? `${tag.prefix}:` : '');
  const token = escapeXml(mark.token);
  const edits: Array<{ at: number; insert: string }> = [];
  /** Puts `element` on its own line before a closing tag, indented one step deeper than the tag. */
  const before = (tag: XmlTag, element: string): void => {
    const indent = lineIndent(text, tag.start);
    if (indent === undefined) edits.push({ at: tag.start, insert: element });
    else edits.push({ at: tag.start - indent.length, insert: `${indent}  ${element}\n` });
  };
  before(
    pkg.metadataEnd,
    pkg.version === 3
      ? `<${pre(pkg.metadataEnd)}meta property="${MARK_PROPERTY}">${token}</${pre(pkg.metadataEnd)}meta>`
      : `<${pre(pkg.metadataEnd)}meta name="${MARK_PROPERTY}" content="${token}"/>`,
  );
  const metadataIndent = lineIndent(text, pkg.metadataEnd.start) ?? '';
  edits.push({ at: pkg.metadataEnd.end, insert: `\n${metadataIndent}<!-- CloudSecure ${token} -->` });
  if (pkg.version === 3) {
    const prefix = pkg.packageTag.attributes.find((a) => a.name === 'prefix');
    if (!prefix) {
      edits.push({ at: pkg.packageTag.close, insert: ` prefix="cloudsecure: ${CLOUDSECURE_PREFIX_IRI}"` });
    } else if (!/(^|\s)cloudsecure:\s/.test(prefix.value)) {
      edits.push({ at: prefix.valueEnd, insert: ` cloudsecure: ${CLOUDSECURE_PREFIX_IRI}` });
    }
  }
  const id = escapeXml(mark.pageId);
  before(
    pkg.manifestEnd,
    `<${pre(pkg.manifestEnd)}item id="${id}" href="${escapeXml(mark.pageHref)}" media-type="application/xhtml+xml"/>`,
  );
  const itemref = `<${pre(pkg.spineEnd)}itemref idref="${id}"/>`;
  if (pkg.firstItemref) {
    const indent = lineIndent(text, pkg.firstItemref.start) ?? '';
    edits.push({ at: pkg.firstItemref.end, insert: `\n${indent}${itemref}` });
  } else {
    before(pkg.spineEnd, itemref);
  }

  edits.sort((a, b) => b.at - a.at);
  let out = text;
  for (const e of edits) out = out.slice(0, e.at) + e.insert + out.slice(e.at);
  return out;
}

/** The whitespace before `at` on its line, if nothing else precedes it there. */
function lineIndent(text: string, at: number): string | undefined {
  const lineStart = text.lastIndexOf('\n', at - 1) + 1;
  const lead = text.slice(lineStart, at);
  return /^[ \t]*$/.test(lead) ? lead : undefined;
}

/** The ZIP entry an OPF href names: fragment dropped, percent-decoded, resolved against the OPF's folder. */
export function resolveHref(dir: string, href: string): string | undefined {
  const bare = href.split('#')[0]!.split('?')[0]!;
  if (bare === '' || /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(bare) || bare.startsWith('/')) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(bare);
  } catch {
    decoded = bare;
  }
  const parts: string[] = [];
  for (const p of `${dir}${decoded}`.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return parts.join('/');
}
