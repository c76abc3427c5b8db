import type { Context } from 'koa';
import type { Config } from '../config.js';

/** The URL clients reach this server at: the configured public URL, else what the request used. */
export function baseUrl(ctx: Context, config: Config): string {
  return config.server.publicUrl !== '' ? config.server.publicUrl.replace(/\/+$/, '') : `${ctx.protocol}://${ctx.host}`;
}
