import { Hono } from 'hono';
import type { AppContext } from '../../context.ts';
import type { AppEnv } from '../env.ts';

/** GET /p/<token>: release package downloads for licensed sites. Being built. */
export function packageRoutes(_ctx: AppContext): Hono<AppEnv> {
  return new Hono<AppEnv>();
}
