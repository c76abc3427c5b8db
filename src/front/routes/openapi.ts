import { Router } from '@koa/router';
import { openApiDocument } from '../openapi.js';

/** `GET /openapi.json`: the REST contract as OpenAPI 3.1, built once from ROUTE_DOCS and the zod schemas. No token: it holds no data. */
export function openApiRoutes(): Router {
  const router = new Router();
  let text: string | undefined;
  router.get('/openapi.json', (ctx) => {
    text ??= JSON.stringify(openApiDocument(), null, 2);
    ctx.type = 'application/json';
    ctx.body = text;
  });
  return router;
}
