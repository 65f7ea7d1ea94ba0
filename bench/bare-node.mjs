// The baselines: a bare node:http server. GET /file streams FILE from disk the plain Node way
// (createReadStream piped to the response); every other request gets 302 to a fixed Location.
// Usage: node bench/bare-node.mjs PORT LOCATION FILE
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { pipeline } from 'node:stream';

const [port, location, file] = process.argv.slice(2);
if (!port || !location || !file) throw new Error('usage: bare-node.mjs PORT LOCATION FILE');
const size = statSync(file).size;
const server = createServer((req, res) => {
  if (req.url === '/file') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) });
    pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), res, () => {});
    return;
  }
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store' });
  res.end();
});
server.listen(Number(port), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
