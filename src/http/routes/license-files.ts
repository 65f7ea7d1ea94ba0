import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppContext } from '../../context.ts';
import type { AppEnv } from '../env.ts';

/** POST /api/v1/licenses/checkout: signed offline license files. Being built. */
export function licenseFileRoutes(_ctx: AppContext): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>();
}
