/** Small self-contained pages for buyers: no scripts, no external assets, every value escaped. */

export function escapeHTML(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow"><title>${escapeHTML(title)}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem}ul{list-style:none;padding:0}li{display:flex;justify-content:space-between;align-items:center;
padding:.75rem 0;border-bottom:1px solid #d0d7de;gap:1rem}.meta{color:#59636e;font-size:.875rem}
button{font:inherit;background:#1f6feb;color:#fff;border:0;border-radius:6px;padding:.5rem 1rem;cursor:pointer}
button[disabled]{background:#8c959f;cursor:default}.error{border-left:4px solid #cf222e;padding-left:1rem}
</style></head><body>${body}</body></html>`;
}

export function errorPage(status: number, code: string, message: string): string {
  return page(
    'Download unavailable',
    `<div class="error"><h1>Download unavailable</h1><p>${escapeHTML(message)}</p>
<p class="meta">Error ${status} · ${escapeHTML(code)}</p></div>`,
  );
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
