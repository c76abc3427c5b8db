import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Router, type RouterContext } from '@koa/router';
import { ServeError } from '../../errors.js';
import { PACKAGE_ROOT } from '../../package-info.js';

/** What src/console/build.mjs writes; `npm run build` (and so `npm start`) runs it. */
export const CONSOLE_DIR = join(PACKAGE_ROOT, 'dist', 'console');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page may load only its own script and styles and talk only to this server. CodeMirror
 * injects its styles as <style> elements, hence 'unsafe-inline' for styles (never for scripts).
 */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

interface Asset {
  readonly body: Buffer;
  /** The same bytes gzipped once: the bundle is ~570 KB, ~180 KB gzipped. */
  readonly gzip: Buffer;
  readonly etag: string;
}

/**
 * The web console: `/` is its page and `/console/*` its assets, read from dist/console/ once and
 * kept in memory with their gzip and ETag. The page is public (it holds no data); every call it
 * makes needs the admin token like any client's.
 */
export function consoleRoutes(dir = CONSOLE_DIR): Router {
  const router = new Router();
  const cache = new Map<string, Asset>();
  const load = async (name: string): Promise<Asset> => {
    let asset = cache.get(name);
    if (asset === undefined) {
      const path = join(dir, name);
      if (!existsSync(path)) {
        if (name === 'index.html') throw new ServeError('ROUTE_NOT_FOUND', `the web console is not built (${path} is missing): run npm run build, or npm start, which builds it`);
        throw new ServeError('ROUTE_NOT_FOUND', `no console asset ${name}`);
      }
      const body = await readFile(path);
      asset = { body, gzip: gzipSync(body), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
      cache.set(name, asset);
    }
    return asset;
  };
  const send = async (ctx: RouterContext, name: string, type: string) => {
    const asset = await load(name);
    ctx.type = type;
    ctx.set('X-Content-Type-Options', 'nosniff');
    // Names are not content-hashed, so browsers revalidate, and get 304 while the build is the same.
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('Vary', 'Accept-Encoding');
    ctx.etag = asset.etag;
    ctx.status = 200;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    if (ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = asset.gzip;
    } else ctx.body = asset.body;
  };

  router.get('/', async (ctx) => {
    ctx.set('Content-Security-Policy', CSP);
    await send(ctx, 'index.html', TYPES['.html']!);
  });

  // Only names the build writes: no path from the URL reaches the file system.
  router.get('/console/:file', async (ctx) => {
    const file = ctx.params.file!;
    const ext = /\.[a-z]+$/.exec(file)?.[0] ?? '';
    if (!/^app\.(js|css)(\.map)?$|^app\.js\.LEGAL\.txt$/.test(file) || TYPES[ext] === undefined) throw new ServeError('ROUTE_NOT_FOUND', `no console asset ${file}`);
    await send(ctx, file, TYPES[ext]!);
  });
  return router;
}
