/**
 * Just enough XML for rewriting an OPF or XHTML document in place: a tag scanner that reports where each tag
 * sits in the text (so insertions keep every other byte), skipping comments, CDATA, processing instructions
 * and the doctype.
 */
export interface XmlAttribute {
  name: string;
  value: string;
  /** Where the raw (still escaped) value sits, between its quotes. */
  valueStart: number;
  valueEnd: number;
}

export interface XmlTag {
  kind: 'start' | 'end';
  /** Qualified name, its prefix ('' if none) and local part. */
  name: string;
  prefix: string;
  local: string;
  attributes: XmlAttribute[];
  selfClosing: boolean;
  /** [start, end) of the whole tag; `close` is where its `>` or `/>` begins. */
  start: number;
  end: number;
  close: number;
}

const NAME = /[^\s/>=]+/y;
const SPACE = /\s*/y;

/** Tags in document order; stops quietly at the first malformed construct. */
export function* scanTags(text: string): Generator<XmlTag> {
  let i = 0;
  for (;;) {
    const lt = text.indexOf('<', i);
    if (lt < 0) return;
    if (text.startsWith('<!--', lt)) {
      const e = text.indexOf('-->', lt + 4);
      if (e < 0) return;
      i = e + 3;
    } else if (text.startsWith('<![CDATA[', lt)) {
      const e = text.indexOf(']]>', lt + 9);
      if (e < 0) return;
      i = e + 3;
    } else if (text.startsWith('<?', lt)) {
      const e = text.indexOf('?>', lt + 2);
      if (e < 0) return;
      i = e + 2;
    } else if (text.startsWith('<!', lt)) {
      const e = skipDeclaration(text, lt + 2);
      if (e < 0) return;
      i = e;
    } else {
      const tag = readTag(text, lt);
      if (!tag) return;
      yield tag;
      i = tag.end;
    }
  }
}

function skipDeclaration(text: string, from: number): number {
  let depth = 0;
  let quote = '';
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === '>' && depth <= 0) return i + 1;
  }
  return -1;
}

function readTag(text: string, lt: number): XmlTag | undefined {
  const kind = text[lt + 1] === '/' ? 'end' : 'start';
  NAME.lastIndex = kind === 'end' ? lt + 2 : lt + 1;
  const m = NAME.exec(text);
  if (!m) return undefined;
  const name = m[0];
  const colon = name.indexOf(':');
  const attributes: XmlAttribute[] = [];
  let i = NAME.lastIndex;
  for (;;) {
    SPACE.lastIndex = i;
    SPACE.exec(text);
    i = SPACE.lastIndex;
    if (i >= text.length) return undefined;
    if (text[i] === '>' || text.startsWith('/>', i)) {
      const selfClosing = text[i] === '/';
      return {
        kind,
        name,
        prefix: colon > 0 ? name.slice(0, colon) : '',
        local: colon > 0 ? name.slice(colon + 1) : name,
        attributes,
        selfClosing,
        start: lt,
        end: i + (selfClosing ? 2 : 1),
        close: i,
      };
    }
    NAME.lastIndex = i;
    const a = NAME.exec(text);
    if (!a) return undefined;
    SPACE.lastIndex = NAME.lastIndex;
    SPACE.exec(text);
    i = SPACE.lastIndex;
    if (text[i] !== '=') return undefined;
    SPACE.lastIndex = i + 1;
    SPACE.exec(text);
    i = SPACE.lastIndex;
    const quote = text[i];
    if (quote !== '"' && quote !== "'") return undefined;
    const close = text.indexOf(quote, i + 1);
    if (close < 0) return undefined;
    attributes.push({
      name: a[0],
      value: decodeXml(text.slice(i + 1, close)),
      valueStart: i + 1,
      valueEnd: close,
    });
    i = close + 1;
  }
}

/** The (decoded) value of an attribute, by its exact name. */
export function attribute(tag: XmlTag, name: string): string | undefined {
  return tag.attributes.find((a) => a.name === name)?.value;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (all, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    }
    return ENTITIES[e] ?? all;
  });
}

/** Escapes text for content and attribute values, dropping characters XML 1.0 forbids. */
export function escapeXml(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}
