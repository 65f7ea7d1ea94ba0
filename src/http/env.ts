import type { HttpBindings } from '@hono/node-server';
import type { ApiToken } from '../domain/model.ts';

/** Per-request values on the Hono context. Bindings are absent when the app is called in-process. */
export interface AppEnv {
  Bindings: Partial<HttpBindings>;
  Variables: {
    requestId: string;
    /** The client's IP, X-Forwarded-For believed only from trusted proxies; null when unknown. */
    ip: string | null;
    apiToken: ApiToken;
  };
}
