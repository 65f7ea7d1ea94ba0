/**
 * The nginx reference (shared/contracts/delivery.md §6.5): `secure_link` checks an MD5 over expiry, URI,
 * client address and a secret, then either answers 302 (the presign case) or serves the file from disk
 * with sendfile (the local-storage case). One worker process, like the single Node event loop.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface NginxSetup {
  prefix: string;
  configPath: string;
  /** A valid secure link that answers 302 to `location`. */
  redirectURL: string;
  /** A valid secure link that serves the local file. */
  fileURL: string;
}

/** `base64url(md5(expires + uri + remote_addr + " " + secret))`, unpadded, as nginx computes it. */
export function secureLinkHash(expires: number, uri: string, remoteAddr: string, secret: string): string {
  return createHash('md5').update(`${expires}${uri}${remoteAddr} ${secret}`).digest('base64url');
}

function quote(value: string): string {
  if (/["\\$\s]/.test(value)) throw new Error(`cannot put ${value} in an nginx string`);
  return `"${value}"`;
}

export function writeNginxConfig(options: {
  prefix: string;
  port: number;
  location: string;
  filePath: string;
}): NginxSetup {
  const { prefix, port } = options;
  for (const dir of ['logs', 'tmp']) mkdirSync(join(prefix, dir), { recursive: true });
  const secret = randomBytes(16).toString('hex');
  const expires = Math.floor(Date.now() / 1000) + 86_400;
  const fileName = options.filePath.split('/').pop() ?? '';
  const link = (uri: string): string =>
    `http://127.0.0.1:${port}${uri}?md5=${secureLinkHash(expires, uri, '127.0.0.1', secret)}&expires=${expires}`;
  const tmp = join(prefix, 'tmp');
  // Running as root, workers would drop to `nobody` and could not read the 0600 blob in a 0700 temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const config = `${user}worker_processes 1;
pid ${join(prefix, 'logs', 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  server {
    listen 127.0.0.1:${port};
    secure_link $arg_md5,$arg_expires;
    secure_link_md5 "$secure_link_expires$uri$remote_addr ${secret}";
    location = /s/ebook.pdf {
      if ($secure_link = "") { return 403; }
      if ($secure_link = "0") { return 410; }
      return 302 ${quote(options.location)};
    }
    location /f/ {
      if ($secure_link = "") { return 403; }
      if ($secure_link = "0") { return 410; }
      root ${quote(dirname(dirname(options.filePath)))};
    }
  }
}
`;
  const configPath = join(prefix, 'nginx.conf');
  writeFileSync(configPath, config);
  return { prefix, configPath, redirectURL: link('/s/ebook.pdf'), fileURL: link(`/f/${fileName}`) };
}
