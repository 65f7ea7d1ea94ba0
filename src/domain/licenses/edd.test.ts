import { domainToASCII, domainToUnicode } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  changelogHTML,
  eddActivationError,
  eddCheckStatus,
  eddChecksum,
  eddLicenseFields,
  formatEddExpires,
  itemNameMatches,
  parseBatchProducts,
  parseLicenseRequest,
  rawEddExpires,
  sanitizeKey,
  siteFromUserAgent,
  siteVariants,
} from './edd.ts';
import type { License } from './license.ts';
import {
  absint,
  encodeEmoji,
  encodePHPJSON,
  phpBool,
  phpURLDecode,
  phpVersionCompare,
  sanitizeTitle,
  serializePHP,
} from './php.ts';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const KEY = 'cc22c1ec86304b36883440e2e84cddff';

function license(changes: Partial<License> = {}): License {
  return {
    id: 'l1',
    productId: 'p1',
    customerId: 'c1',
    orderId: null,
    status: 'active',
    expiresAt: '2026-05-01T23:59:59.000Z',
    activationLimit: 5,
    expiryStops: 'updates',
    keyHint: 'DDFF',
    createdAt: NOW.toISOString(),
    ...changes,
  };
}

describe('encodePHPJSON', () => {
  it('escapes slashes and non-ASCII the way PHP json_encode does', () => {
    expect(encodePHPJSON({ url: 'https://example.com/a', name: 'Café € 😀' })).toBe(
      '{"url":"https:\\/\\/example.com\\/a","name":"Caf\\u00e9 \\u20ac \\ud83d\\ude00"}',
    );
  });

  it('writes control characters, quotes and backslashes as JSON escapes', () => {
    expect(encodePHPJSON('a"b\\c\n\r\t\b\f\u0001\u007f')).toBe('"a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007f"');
  });

  it('keeps numbers, booleans, null, arrays and skips undefined members', () => {
    expect(encodePHPJSON({ a: 1, b: false, c: null, d: [], e: undefined, f: ['x', 2] })).toBe(
      '{"a":1,"b":false,"c":null,"d":[],"f":["x",2]}',
    );
  });

  it('produces output that JSON.parse reads back unchanged', () => {
    const value = { s: 'ü/<tag>&\'"\u2028', n: [1, 2, { x: true }] };
    expect(JSON.parse(encodePHPJSON(value))).toEqual(value);
  });
});

describe('eddChecksum', () => {
  const base = { key: KEY, url: 'https://example.com', itemId: 123 as const, environment: 'production' };

  it('matches the activate test vector of the contract', () => {
    expect(eddChecksum('activate_license', { ...base, itemName: 'Sample Plugin' })).toBe(
      '0e4ca58d2a5b7c4ab350f698e61481d0',
    );
  });

  it('matches the check test vector of the contract', () => {
    expect(eddChecksum('check_license', { ...base, itemName: 'Sample Plugin' })).toBe(
      '58bf5aa160678d58fc1ad0b6ee749774',
    );
  });

  it('counts an absent item_name (false) as length 0', () => {
    expect(eddChecksum('check_license', { ...base, itemName: false })).toBe(
      '62fc643eddba9a1b1423aea2daea1dfc',
    );
  });

  it('is 32 hex characters for deactivation too', () => {
    expect(eddChecksum('deactivate_license', { ...base, itemName: false })).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('parseLicenseRequest', () => {
  it('decodes license and url once more (urldecode) and item_name with rawurldecode, then trims', () => {
    const req = parseLicenseRequest(
      { license: ` ${KEY} `, url: 'https%3A%2F%2Fexample.com', item_name: 'Sample%20Plugin+Pro' },
      '',
    );
    expect(req).toEqual({
      key: KEY,
      itemId: false,
      itemName: 'Sample Plugin+Pro',
      url: 'https://example.com',
      environment: 'production',
    });
  });

  it('reads item_id as absint and defaults the environment to production', () => {
    const req = parseLicenseRequest({ item_id: '0123', environment: ' staging ' }, '');
    expect(req.itemId).toBe(123);
    expect(req.environment).toBe('staging');
    expect(parseLicenseRequest({}, '').environment).toBe('production');
  });

  it('falls back to the site in a WordPress User-Agent when url is missing', () => {
    expect(parseLicenseRequest({}, 'WordPress/6.5; https://ua.example').url).toBe('https://ua.example');
    expect(parseLicenseRequest({ url: '' }, 'WordPress/6.5; https://ua.example').url).toBe(
      'https://ua.example',
    );
  });
});

describe('phpURLDecode', () => {
  it('decodes a double-encoded name once more, as rawurldecode does', () => {
    expect(phpURLDecode('Sample%20Plugin', { plus: false })).toBe('Sample Plugin');
    expect(phpURLDecode('a+b', { plus: false })).toBe('a+b');
    expect(phpURLDecode('a+b', { plus: true })).toBe('a b');
  });

  it('decodes UTF-8 octets and leaves malformed escapes alone', () => {
    expect(phpURLDecode('Caf%C3%A9 100%', { plus: true })).toBe('Café 100%');
    expect(phpURLDecode('%zz%4', { plus: true })).toBe('%zz%4');
  });
});

describe('absint, phpBool, sanitizeKey', () => {
  it.each([
    ['123', 123],
    [' 42abc', 42],
    ['-7', 7],
    ['', 0],
    ['false', 0],
    ['0', 0],
  ])('absint(%j) is %d', (input, expected) => {
    expect(absint(input)).toBe(expected);
  });

  it('reads booleans leniently', () => {
    expect([undefined, '', '0', 'false', 'FALSE', 'off'].map(phpBool)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(['1', 'true', 'yes'].map(phpBool)).toEqual([true, true, true]);
  });

  it('keeps only [a-z0-9_-] of an action, in lower case', () => {
    expect(sanitizeKey('Check_License!')).toBe('check_license');
  });
});

describe('siteFromUserAgent', () => {
  it('takes the second ;-separated part only when it is an http(s) URL', () => {
    expect(siteFromUserAgent('WordPress/6.5; https://ua.example')).toBe('https://ua.example');
    expect(siteFromUserAgent('Mozilla/5.0 (X11; Linux x86_64)')).toBe('');
    expect(siteFromUserAgent('curl/8.0')).toBe('');
  });
});

describe('sanitizeTitle and itemNameMatches', () => {
  it.each([
    ['Sample Plugin', 'sample-plugin'],
    ['  sample   plugin ', 'sample-plugin'],
    ['Café Ünïcode', 'cafe-unicode'],
    ['Foo & Bar', 'foo-bar'],
    ['Foo &amp; Bar', 'foo-bar'],
    ['<b>Pro</b> v2.0', 'pro-v2-0'],
    ['Straße', 'strasse'],
  ])('sanitize_title(%j) is %j', (input, expected) => {
    expect(sanitizeTitle(input)).toBe(expected);
  });

  it('matches names that differ in case, spacing and accents only', () => {
    expect(itemNameMatches('sample plugin', 'Sample Plugin')).toBe(true);
    expect(itemNameMatches('Sample-Plugin', 'Sample Plugin')).toBe(true);
    expect(itemNameMatches('Other Plugin', 'Sample Plugin')).toBe(false);
    expect(itemNameMatches(false, 'Sample Plugin')).toBe(false);
    expect(itemNameMatches('!!!', '???')).toBe(false);
  });
});

describe('expires formats', () => {
  it('formats activate/check expiry as Y-m-d H:i:s or lifetime', () => {
    expect(formatEddExpires('2026-05-01T23:59:59.000Z')).toBe('2026-05-01 23:59:59');
    expect(formatEddExpires(null)).toBe('lifetime');
  });

  it('gives deactivate the raw Unix timestamp or lifetime', () => {
    expect(rawEddExpires('2026-05-01T23:59:59.000Z')).toBe(1777679999);
    expect(rawEddExpires(null)).toBe('lifetime');
  });
});

describe('eddLicenseFields', () => {
  it('computes activations_left, or "unlimited" when the limit is 0', () => {
    const limited = eddLicenseFields({ activationLimit: 5, siteCount: 2, expiresAt: null });
    expect(limited).toMatchObject({
      license_limit: 5,
      site_count: 2,
      activations_left: 3,
      expires: 'lifetime',
    });
    const unlimited = eddLicenseFields({ activationLimit: 0, siteCount: 9, expiresAt: null });
    expect(unlimited.activations_left).toBe('unlimited');
  });

  it('carries no personal data of the buyer', () => {
    const fields = eddLicenseFields({ activationLimit: 1, siteCount: 0, expiresAt: null });
    expect(fields).toMatchObject({ payment_id: 0, customer_name: '', customer_email: '', price_id: false });
  });
});

describe('eddActivationError', () => {
  it.each([
    ['NOT_FOUND', true, 'missing'],
    ['PRODUCT_MISMATCH', true, 'invalid_item_id'],
    ['PRODUCT_MISMATCH', false, 'item_name_mismatch'],
    ['SUSPENDED', true, 'disabled'],
    ['REVOKED', true, 'disabled'],
    ['EXPIRED', true, 'expired'],
    ['NO_ACTIVATIONS_LEFT', true, 'no_activations_left'],
  ] as const)('maps %s (by item id: %s) to %s', (code, byItemId, expected) => {
    expect(eddActivationError(code, byItemId)).toBe(expected);
  });
});

describe('eddCheckStatus', () => {
  const base = { itemMatches: true, byItemId: true, now: NOW, activeCount: 1, siteActive: true };

  it('answers in the contract order, first match wins', () => {
    expect(eddCheckStatus({ ...base, license: undefined })).toBe('invalid');
    expect(eddCheckStatus({ ...base, license: license(), itemMatches: false })).toBe('invalid_item_id');
    expect(eddCheckStatus({ ...base, license: license(), itemMatches: false, byItemId: false })).toBe(
      'item_name_mismatch',
    );
    const expiredAndSuspended = license({ expiresAt: '2025-01-01T00:00:00.000Z', status: 'suspended' });
    expect(eddCheckStatus({ ...base, license: expiredAndSuspended })).toBe('expired');
    expect(eddCheckStatus({ ...base, license: license({ status: 'revoked' }) })).toBe('disabled');
    expect(eddCheckStatus({ ...base, license: license(), activeCount: 0, siteActive: false })).toBe(
      'inactive',
    );
    expect(eddCheckStatus({ ...base, license: license(), siteActive: false })).toBe('site_inactive');
    expect(eddCheckStatus({ ...base, license: license({ expiresAt: null }) })).toBe('valid');
  });
});

describe('siteVariants', () => {
  it('adds the punycode and Unicode spellings of the host', () => {
    expect(siteVariants('bücher.example/shop/', domainToASCII, domainToUnicode)).toEqual([
      'bücher.example/shop/',
      'xn--bcher-kva.example/shop/',
    ]);
    expect(siteVariants('xn--bcher-kva.example/', domainToASCII, domainToUnicode)).toEqual([
      'xn--bcher-kva.example/',
      'bücher.example/',
    ]);
  });
});

describe('parseBatchProducts', () => {
  it('groups products[<slug>][<field>] by slug', () => {
    const batch = parseBatchProducts({
      edd_action: 'get_version',
      'products[a][item_id]': '1',
      'products[a][license]': 'K',
      'products[b][item_id]': '2',
    });
    expect(batch && Object.fromEntries(batch)).toEqual({
      a: { item_id: '1', license: 'K' },
      b: { item_id: '2' },
    });
  });

  it('returns null for a single request and caps the batch size', () => {
    expect(parseBatchProducts({ item_id: '1' })).toBeNull();
    const many = Object.fromEntries(
      Array.from({ length: 5 }, (_, i) => [`products[p${i}][item_id]`, String(i)]),
    );
    expect(parseBatchProducts(many, 3)?.size).toBe(3);
  });
});

describe('phpVersionCompare', () => {
  it.each([
    ['1.0', '1.0.0', -1],
    ['1.0.1', '1.0', 1],
    ['2.3.1', '2.3.1', 0],
    ['1.10', '1.9', 1],
    ['1.0rc1', '1.0', -1],
    ['1.0-beta.2', '1.0-beta.1', 1],
    ['1.0alpha', '1.0beta', -1],
    ['1.0', '1.0pl1', -1],
    ['1.0-dev', '1.0a1', -1],
  ])('version_compare(%s, %s) is %d', (a, b, expected) => {
    expect(phpVersionCompare(a, b)).toBe(expected);
  });
});

describe('serializePHP', () => {
  it('serializes the contract example with UTF-8 byte lengths', () => {
    expect(serializePHP({ description: '<p>My plugin</p>\n', changelog: '<p>2.3.1: bug fix.</p>\n' })).toBe(
      'a:2:{s:11:"description";s:17:"<p>My plugin</p>\n";s:9:"changelog";s:23:"<p>2.3.1: bug fix.</p>\n";}',
    );
    expect(serializePHP({ high: '', low: '' })).toBe('a:2:{s:4:"high";s:0:"";s:3:"low";s:0:"";}');
    expect(serializePHP({})).toBe('a:0:{}');
    expect(serializePHP({ name: 'é' })).toBe('a:1:{s:4:"name";s:2:"é";}');
  });
});

describe('HTML helpers', () => {
  it('encodes emoji as HTML entities, as EDD sends names', () => {
    expect(encodeEmoji('Rocket 🚀 Plugin')).toBe('Rocket &#x1f680; Plugin');
  });

  it('keeps a changelog written in HTML and turns plain text into escaped paragraphs', () => {
    expect(changelogHTML('<ul><li>Fix</li></ul>')).toBe('<ul><li>Fix</li></ul>');
    expect(changelogHTML('2.0: <new> API\nfaster\n\n1.0: first')).toBe(
      '<p>2.0: &lt;new&gt; API<br />\nfaster</p>\n<p>1.0: first</p>\n',
    );
    expect(changelogHTML(null)).toBe('');
  });
});
