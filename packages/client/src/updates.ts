/**
 * The update check, through the server's EDD Software Licensing compatible endpoint (`edd_action=
 * get_version`, a form-encoded POST to the server root). It sends the key, the product (item id, or
 * name), the site URL or machine fingerprint, and the installed version: nothing else.
 *
 * EDD answers are not signed (the EDD protocol has no signature), unlike the license API: treat the
 * answer as a hint, fetch packages over HTTPS only, and verify what you install.
 */
import { LicenseClientError } from './errors.ts';
import { type FetchLike, isUnavailable, post } from './transport.ts';

export interface UpdateInfo {
  /** Whether `version` is newer than the installed version. */
  available: boolean;
  /** The newest version this license may see, or null when the server offered none. */
  version: string | null;
  /** A short-lived download URL; empty without a valid license. */
  package: string | null;
  name: string | null;
  lastUpdated: string | null;
  /** HTML sections (description, changelog) when the server sent them. */
  sections: Record<string, string>;
  /** The server's message (e.g. why no package is offered). */
  message: string | null;
}

/** Compares dotted versions numerically (`1.10.0` > `1.9.2`); a pre-release sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const split = (v: string): [number[], string] => {
    const [core = '', pre = ''] = v.trim().replace(/^v/i, '').split(/-(.*)/s, 2);
    return [core.split('.').map((n) => Number.parseInt(n, 10) || 0), pre];
  };
  const [ca, pa] = split(a);
  const [cb, pb] = split(b);
  for (let i = 0; i < Math.max(ca.length, cb.length); i++) {
    const d = (ca[i] ?? 0) - (cb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (pa === pb) return 0;
  if (!pa) return 1;
  if (!pb) return -1;
  return pa < pb ? -1 : 1;
}

/** Reads a PHP-serialized array of strings (`a:2:{s:11:"description";s:…}`), as EDD sends `sections`. */
export function parsePHPStringArray(text: string): Record<string, string> {
  const bytes = Buffer.from(text, 'utf8');
  const out: Record<string, string> = {};
  let at = 0;
  const expect = (literal: string): boolean => {
    if (bytes.toString('utf8', at, at + literal.length) !== literal) return false;
    at += literal.length;
    return true;
  };
  const readString = (): string | null => {
    const head = /^s:(\d+):"/.exec(bytes.toString('latin1', at, at + 24));
    if (!head?.[1]) return null;
    at += head[0].length;
    const value = bytes.toString('utf8', at, at + Number(head[1]));
    at += Number(head[1]);
    return expect('";') ? value : null;
  };
  const head = /^a:(\d+):\{/.exec(text);
  if (!head?.[1]) return out;
  at = Buffer.byteLength(head[0]);
  for (let i = 0; i < Number(head[1]); i++) {
    const name = readString();
    const value = readString();
    if (name === null || value === null) return {};
    out[name] = value;
  }
  return out;
}

function sectionsOf(value: unknown): Record<string, string> {
  if (typeof value === 'string') return parsePHPStringArray(value);
  if (typeof value !== 'object' || value === null) return {};
  return Object.fromEntries(
    Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

export async function checkForUpdate(input: {
  fetch: FetchLike;
  serverUrl: string;
  key: string;
  product: string;
  siteUrl: string | undefined;
  fingerprint: string | undefined;
  version: string | undefined;
  timeoutMs: number;
}): Promise<UpdateInfo> {
  const form = new URLSearchParams({ edd_action: 'get_version', license: input.key });
  if (/^\d+$/.test(input.product)) form.set('item_id', input.product);
  else form.set('item_name', input.product);
  if (input.siteUrl !== undefined) form.set('url', input.siteUrl);
  if (input.fingerprint !== undefined) form.set('fingerprint', input.fingerprint);
  if (input.version !== undefined) form.set('version', input.version);
  const raw = await post(input.fetch, `${input.serverUrl}/`, {
    body: form.toString(),
    contentType: 'application/x-www-form-urlencoded',
    timeoutMs: input.timeoutMs,
  });
  if (isUnavailable(raw.status))
    throw new LicenseClientError('SERVER_UNREACHABLE', `The update check answered HTTP ${raw.status}.`, {
      status: raw.status,
    });
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.from(raw.body).toString('utf8')) as Record<string, unknown>;
  } catch {
    body = {};
  }
  if (raw.status !== 200 || typeof body !== 'object' || body === null || !('sections' in body)) {
    throw new LicenseClientError(
      'INVALID_RESPONSE',
      'The update check did not answer a get_version response.',
      {
        status: raw.status,
      },
    );
  }
  const version = text(body.new_version);
  return {
    available: version !== null && input.version !== undefined && compareVersions(version, input.version) > 0,
    version,
    package: text(body.package) ?? text(body.download_link),
    name: text(body.name),
    lastUpdated: text(body.last_updated),
    sections: sectionsOf(body.sections),
    message: text(body.msg),
  };
}
