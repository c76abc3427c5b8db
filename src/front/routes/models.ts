import { Router } from '@koa/router';
import type { ExampleBody, ModelSummary, ModelView, PublishResponse } from '../../api/types.js';
import { ServeError } from '../../errors.js';
import { requireAdmin } from '../auth/index.js';
import type { AppDeps } from '../deps.js';
import { fieldsOf, multipartToDisk, partsOf } from '../multipart.js';
import { publishModel } from '../dispatch/publish.js';
import { serverSizeLimits } from '../request-size.js';
import { modelVersion, modelVersions } from '../store-lookups.js';
import { evaluationView, samplePayload, versionView } from '../views.js';
import { exampleRecord, randomOf } from '../../model/index.js';

function assertNotDeployed(deps: AppDeps, name: string, version?: number): void {
  const users = deps.store.deployments.list().filter((d) => d.modelName === name && (version === undefined || d.modelVersion === version));
  if (users.length > 0) {
    const what = version === undefined ? `model "${name}"` : `model "${name}" version ${version}`;
    throw new ServeError('MODEL_IN_USE', `${what} is served by deployment(s) ${users.map((d) => d.name).join(', ')}; delete or move them first`);
  }
}

/** Publish, list, read and delete models and their versions. */
export function modelRoutes(deps: AppDeps): Router {
  const { store, workers, config } = deps;
  const router = new Router({ prefix: '/api/v1/models' });
  router.use(requireAdmin(deps.adminTokenHash));

  const upload = multipartToDisk(store.layout.uploadsDir, { fileBytes: config.limits.maxModelBytes, files: 64, fields: 16 });
  router.post('/', upload, async (ctx) => {
    const manifest = await publishModel({ store, workers, maxModelBytes: config.limits.maxModelBytes, sizeLimits: serverSizeLimits(config) }, fieldsOf(ctx), partsOf(ctx));
    ctx.status = 201;
    const body: PublishResponse = { model_name: manifest.name, model_version: String(manifest.version) };
    const evaluation = evaluationView(manifest.evaluation);
    if (evaluation !== null) body.evaluation = evaluation;
    ctx.body = body;
  });

  router.get('/', (ctx) => {
    ctx.body = store.models.list().map((versions) => {
      const latest = versions.at(-1)!;
      return {
        model_name: latest.name,
        latest_version: String(latest.version),
        versions: versions.map((v) => String(v.version)),
        format: latest.format,
        source_format: latest.sourceFormat ?? latest.format,
        description: latest.description,
        size: latest.bytes,
        created: versions[0]!.createdAt,
      } satisfies ModelSummary;
    });
  });

  router.get('/:name', async (ctx) => {
    const versions = await modelVersions(store, ctx.params.name!);
    ctx.body = { model_name: ctx.params.name!, latest_version: String(versions.at(-1)!.version), versions: versions.map(versionView) } satisfies ModelView;
  });

  router.get('/:name/versions/:version', async (ctx) => {
    ctx.body = versionView(await modelVersion(store, ctx.params.name!, ctx.params.version!));
  });

  // The body of a test call: the stored sample (zeros of each input's shape without one) or, with
  // ?random=true, random values of each input's dtype and shape, for models published without x_test.
  router.get('/:name/versions/:version/example', async (ctx) => {
    const manifest = await modelVersion(store, ctx.params.name!, ctx.params.version!);
    const random = ctx.query.random ?? 'false';
    if (random !== 'true' && random !== 'false') throw new ServeError('REQUEST_INVALID', 'random must be true or false', { field: 'random' });
    const record = random === 'true' ? exampleRecord(manifest.inputs.filter((i) => i.dtype !== null), randomOf) : samplePayload(manifest);
    ctx.body = { args: { model_name: manifest.name, model_version: String(manifest.version), X: [record] } } satisfies ExampleBody;
  });

  router.delete('/:name/versions/:version', async (ctx) => {
    const manifest = await modelVersion(store, ctx.params.name!, ctx.params.version!);
    assertNotDeployed(deps, manifest.name, manifest.version);
    await store.models.deleteVersion(manifest.name, manifest.version);
    await workers.broadcast({ t: 'evict', name: manifest.name, version: manifest.version });
    ctx.status = 204;
  });

  router.delete('/:name', async (ctx) => {
    const name = ctx.params.name!;
    await modelVersions(store, name);
    assertNotDeployed(deps, name);
    await store.models.deleteModel(name);
    await workers.broadcast({ t: 'evict', name });
    ctx.status = 204;
  });

  return router;
}
