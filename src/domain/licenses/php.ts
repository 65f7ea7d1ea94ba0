/**
 * PHP and WordPress behaviours that EDD clients depend on, reproduced exactly: urldecode, absint,
 * sanitize_title, (bool), version_compare, json_encode's escaping, serialize and wp_encode_emoji.
 */

const isHex = (b: number | undefined): boolean =>
  b !== undefined && ((b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102));

/**
 * PHP `urldecode` (`plus`: `+` is a space) or `rawurldecode`. Clients often encode values before putting
 * them in a form body, so EDD decodes once more after form decoding; malformed `%` sequences stay as they are.
 */
export function phpURLDecode(value: string, options: { plus: boolean }): string {
  if (!value.includes('%') && !(options.plus && value.includes('+'))) return value;
  const src = new TextEncoder().encode(value);
  const out: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const b = src[i] as number;
    if (options.plus && b === 0x2b) out.push(0x20);
    else if (b === 0x25 && isHex(src[i + 1]) && isHex(src[i + 2])) {
      out.push(Number.parseInt(String.fromCharCode(src[i + 1] as number, src[i + 2] as number), 16));
      i += 2;
    } else out.push(b);
  }
  return new TextDecoder().decode(new Uint8Array(out));
}

/** PHP `absint`: the leading integer of a string, made non-negative; 0 when there is none. */
export function absint(value: string): number {
  const match = /^\s*[+-]?(\d{1,15})/.exec(value);
  return match ? Number(match[1]) : 0;
}

const ACCENT_FOLDS: Record<string, string> = {
  ß: 'ss',
  æ: 'ae',
  Æ: 'AE',
  ø: 'o',
  Ø: 'O',
  œ: 'oe',
  Œ: 'OE',
  ł: 'l',
  Ł: 'L',
  đ: 'd',
  Đ: 'D',
  ð: 'd',
  Ð: 'D',
  þ: 'th',
  Þ: 'TH',
};

/** WordPress `sanitize_title` (strip tags, remove accents, lower-case, dashes), enough to compare names. */
export function sanitizeTitle(title: string): string {
  let t = title.replace(/<[^>]*>/g, '');
  t = t
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[ßæÆøØœŒłŁđĐðÐþÞ]/g, (c) => ACCENT_FOLDS[c] ?? c);
  t = t.replace(/%(?![0-9a-fA-F]{2})/g, '').toLowerCase();
  t = t.replace(/[\u0080-\uffff]+/g, (m) => {
    try {
      return encodeURIComponent(m).toLowerCase();
    } catch {
      return ''; // a lone surrogate: not a character WordPress could have stored
    }
  });
  t = t.replace(/&.+?;/g, '').replace(/\./g, '-');
  t = t.replace(/[^%a-z0-9 _-]/g, '');
  return t
    .replace(/\s+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** PHP's `(bool)` of a form value, lenient about the spellings of false. */
export function phpBool(value: string | undefined): boolean {
  const v = (value ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false' && v !== 'no' && v !== 'off';
}

const FORMS: [string, number][] = [
  ['dev', 0],
  ['alpha', 1],
  ['a', 1],
  ['beta', 2],
  ['b', 2],
  ['RC', 3],
  ['rc', 3],
  ['#', 4],
  ['pl', 5],
  ['p', 5],
];

function formOrder(part: string): number {
  return FORMS.find(([name]) => part.startsWith(name))?.[1] ?? -6;
}

function versionParts(v: string): string[] {
  return v
    .replace(/[-_+]/g, '.')
    .replace(/(\d)(?=[^\d.])/g, '$1.')
    .replace(/([^\d.])(?=\d)/g, '$1.')
    .split('.')
    .filter((p) => p !== '');
}

/** PHP `version_compare($a, $b)`: -1, 0 or 1 (`1.0rc1` < `1.0` < `1.0.1` < `1.0pl1`). */
export function phpVersionCompare(a: string, b: string): number {
  const pa = versionParts(a);
  const pb = versionParts(b);
  const digit = (p: string): boolean => /^\d+$/.test(p);
  const sign = (n: number): number => (n > 0 ? 1 : n < 0 ? -1 : 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return y !== undefined && digit(y) ? -1 : sign(formOrder('#') - formOrder(y ?? '#'));
    if (y === undefined) return digit(x) ? 1 : sign(formOrder(x) - formOrder('#'));
    const c =
      digit(x) && digit(y)
        ? sign(Number(x) - Number(y))
        : sign(formOrder(digit(x) ? '#' : x) - formOrder(digit(y) ? '#' : y));
    if (c !== 0) return c;
  }
  return 0;
}

export type PHPJSONValue =
  | string
  | number
  | boolean
  | null
  | PHPJSONValue[]
  | { [key: string]: PHPJSONValue | undefined };

function encodeString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i] as string;
    if (ch === '"' || ch === '\\' || ch === '/') out += `\\${ch}`;
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** PHP `json_encode` without flags, as `wp_send_json` sends it: `/` as `\/`, non-ASCII as `\uXXXX`. */
export function encodePHPJSON(value: PHPJSONValue): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return encodeString(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '0';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(encodePHPJSON).join(',')}]`;
  const members = Object.entries(value).filter(
    (entry): entry is [string, PHPJSONValue] => entry[1] !== undefined,
  );
  return `{${members.map(([k, v]) => `${encodeString(k)}:${encodePHPJSON(v)}`).join(',')}}`;
}

/** PHP `serialize()` of an array of strings (`a:N:{s:len:"key";s:len:"value";…}`, UTF-8 byte lengths). */
export function serializePHP(value: Record<string, string>): string {
  const str = (s: string): string => `s:${new TextEncoder().encode(s).length}:"${s}";`;
  const entries = Object.entries(value);
  return `a:${entries.length}:{${entries.map(([k, v]) => `${str(k)}${str(v)}`).join('')}}`;
}

/** WordPress `wp_encode_emoji`: characters outside the BMP as HTML entities, as EDD sends `name`. */
export function encodeEmoji(text: string): string {
  return text.replace(/[\u{10000}-\u{10ffff}]/gu, (c) => `&#x${(c.codePointAt(0) ?? 0).toString(16)};`);
}
