import { escapeXml, scanTags } from './xml.ts';

export interface PageText {
  /** The visible line, e.g. `Licensed to José Müller <jose@example.com> · Order 1042 · 2026-11-29`. */
  text: string;
  token: string;
}

const FOOTER_STYLE = 'margin-top:2em;font-size:0.7em;color:#777;text-align:center';

/**
 * A content document with a small footer paragraph and a comment holding the token inserted before its last
 * `</body>`. Every other byte is kept: UTF-8 documents are edited as bytes, UTF-16 ones re-encoded as they came.
 */
export function addFooter(doc: Buffer, page: PageText): Buffer {
  const utf16 =
    doc[0] === 0xff && doc[1] === 0xfe ? 'le' : doc[0] === 0xfe && doc[1] === 0xff ? 'be' : undefined;
  if (utf16) {
    const text = new TextDecoder(`utf-16${utf16}`, { ignoreBOM: true }).decode(doc);
    const at = lastBodyEnd(text);
    const marked = at
      ? text.slice(0, at.offset) + footerMarkup(page, at.prefix) + text.slice(at.offset)
      : text + trailingComment(page);
    const out = Buffer.from(marked, 'utf16le');
    return utf16 === 'le' ? out : out.swap16();
  }
  // latin1 maps each byte to one char, so offsets found in the string are byte offsets of the UTF-8 document.
  const at = lastBodyEnd(doc.toString('latin1'));
  if (!at) return Buffer.concat([doc, Buffer.from(trailingComment(page), 'utf8')]);
  const footer = Buffer.from(footerMarkup(page, at.prefix), 'utf8');
  return Buffer.concat([doc.subarray(0, at.offset), footer, doc.subarray(at.offset)]);
}

/** Without a `</body>` (malformed or unusual markup) the token still goes in, as a comment after the root. */
function trailingComment(page: PageText): string {
  return `\n<!-- CloudSecure ${escapeXml(page.token)} -->\n`;
}

function lastBodyEnd(text: string): { offset: number; prefix: string } | undefined {
  let found: { offset: number; prefix: string } | undefined;
  for (const tag of scanTags(text)) {
    if (tag.kind === 'end' && tag.local === 'body') found = { offset: tag.start, prefix: tag.prefix };
  }
  return found;
}

function footerMarkup(page: PageText, prefix: string): string {
  const p = prefix ? `${prefix}:p` : 'p';
  return (
    `<${p} class="cloudsecure-watermark" style="${FOOTER_STYLE}">${escapeXml(page.text)}</${p}>` +
    `<!-- CloudSecure ${escapeXml(page.token)} -->\n`
  );
}

export interface WatermarkPageInput extends PageText {
  buyerName: string;
  title: string | undefined;
}

/** The ex-libris page: valid XHTML for EPUB 3 (HTML5 syntax) or EPUB 2 (XHTML 1.1). */
export function watermarkPage(version: 2 | 3, page: WatermarkPageInput): Buffer {
  const doctype =
    version === 3
      ? '<!DOCTYPE html>'
      : '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">';
  const copy = page.title ? `This copy of <em>${escapeXml(page.title)}</em>` : 'This copy';
  const token = escapeXml(page.token);
  return Buffer.from(
    [
      '<?xml version="1.0" encoding="UTF-8"?>',
      doctype,
      '<html xmlns="http://www.w3.org/1999/xhtml">',
      '<head>',
      '<title>License</title>',
      '</head>',
      '<body>',
      `<!-- CloudSecure ${token} -->`,
      '<div class="cloudsecure-watermark" style="margin-top:30%;text-align:center">',
      `<p>${copy} is licensed to ${escapeXml(page.buyerName)}.</p>`,
      `<p>${escapeXml(page.text)}</p>`,
      `<p style="font-size:0.75em;color:#777">Reference: ${token}</p>`,
      '</div>',
      '</body>',
      '</html>',
      '',
    ].join('\n'),
    'utf8',
  );
}
