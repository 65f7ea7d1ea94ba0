import type { MiddlewareHandler } from 'hono';
import proxyaddr from 'proxy-addr';
import type { AppEnv } from '../env.ts';

/**
 * Sets `c.var.ip`. X-Forwarded-For is spoofable by anyone, so it is only followed through hops that
 * are configured trusted proxies (addresses, CIDRs, or `loopback`/`linklocal`/`uniquelocal`).
 */
export function clientIP(trustedProxies: string[]): MiddlewareHandler<AppEnv> {
  const trust = proxyaddr.compile(trustedProxies);
  return async (c, next) => {
    const incoming = c.env?.incoming;
    let ip: string | null = null;
    if (incoming?.socket?.remoteAddress) {
      ip = proxyaddr(incoming, trust);
      if (ip.startsWith('::ffff:')) ip = ip.slice(7);
    }
    c.set('ip', ip);
    await next();
  };
}
