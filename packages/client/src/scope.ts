/** The form a key is looked up by on the server: trimmed, upper-case, without separators or spaces. */
export function normalizeLicenseKey(key: string): string {
  return key
    .trim()
    .toUpperCase()
    .replace(/[\s\-_.]/g, '');
}

/**
 * The server's site normalization (EDD's rules): lower-case, no scheme, no `www.`, no port, no query,
 * trailing slash. `https://WWW.Example.com:8443/shop` → `example.com/shop/`.
 */
export function normalizeSiteURL(raw: string): string | null {
  let site = raw.trim().toLowerCase();
  site = site.replace('://www.', '://').replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  if (site.startsWith('www.')) site = site.slice(4);
  site = site.replace(/^([^/:?#]+|\[[^\]]+\]):\d+/, '$1');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters never belong in a site
  site = site.replace(/[?#].*$/, '').replace(/[\u0000-\u001f\u007f\s<>"'`]/g, '');
  if (!site || site.length > 500) return null;
  return site.endsWith('/') ? site : `${site}/`;
}
