/**
 * The licensing baseline: a bare node:http server that reads the request body to its end (as any server
 * answering a POST must) and answers 200 with a fixed JSON body: the exact bytes CloudSecure answered to
 * the same kind of request, so both send the same amount. No parsing, no lookup, no signature.
 *
 * Usage: node --import tsx bench/lib/licensing-bare.ts PORT BODIES.json, where BODIES.json maps request
 * paths to bodies (`{ "/api/v1/licenses/validate": "…", "/": "…" }`); other paths get the first body.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [port, bodiesPath] = process.argv.slice(2);
if (!port || !bodiesPath) throw new Error('usage: licensing-bare.ts PORT BODIES.json');
const bodies = new Map(
  Object.entries(JSON.parse(readFileSync(bodiesPath, 'utf8')) as Record<string, string>).map(
    ([path, body]) => [path, Buffer.from(body, 'utf8')] as const,
  ),
);
const fallback = [...bodies.values()][0] ?? Buffer.from('{}');

const server = createServer((req, res) => {
  const body = bodies.get((req.url ?? '/').split('?')[0] ?? '/') ?? fallback;
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, {
      'Content-Type': 'application/json; charset=UTF-8',
      'Content-Length': String(body.length),
    });
    res.end(body);
  });
});
server.listen(Number(port), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
