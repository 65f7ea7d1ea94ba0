import { Hono } from 'hono';
import type { AppContext } from '../../context.ts';
import type { AppEnv } from '../env.ts';

/** EDD Software Licensing compatible endpoint at the site root (`/?edd_action=…`). Being built. */
export function eddRoutes(_ctx: AppContext): Hono<AppEnv> {
  return new Hono<AppEnv>();
}
