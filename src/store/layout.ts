import { join, resolve } from 'node:path';

/**
 * The only place that joins store paths. Triton-style model/version folders:
 *
 *   <data>/models/<name>/model.json                the last version number given (never reused)
 *   <data>/models/<name>/<version>/manifest.json   signature, files, sample, timestamps
 *   <data>/models/<name>/<version>/<model files>   e.g. model.onnx
 *   <data>/models/<name>/<version>/script.js       the version's saved custom script
 *   <data>/deployments/<name>.json                 model@version, script, token hash, limits
 *   <data>/secrets/admin-token.json                sha-256 of the admin token
 *   <data>/tmp/                                    staging; emptied at start
 *   <data>/instance.lock                           pid, host and start of the one instance using it
 *
 * With the PostgreSQL store the data directory holds only tmp/ and the artifact cache:
 *
 *   <data>/cache/<sha256>-<name>-<version>/        a version's files fetched from the database
 */
export class StoreLayout {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = resolve(dataDir);
  }

  get modelsDir(): string {
    return join(this.root, 'models');
  }
  modelDir(name: string): string {
    return join(this.modelsDir, name);
  }
  /** Per-model facts that outlive versions: the last version number given. */
  modelInfoPath(name: string): string {
    return join(this.modelDir(name), 'model.json');
  }
  versionDir(name: string, version: number): string {
    return join(this.modelDir(name), String(version));
  }
  manifestPath(name: string, version: number): string {
    return join(this.versionDir(name, version), 'manifest.json');
  }
  scriptPath(name: string, version: number): string {
    return join(this.versionDir(name, version), 'script.js');
  }
  get deploymentsDir(): string {
    return join(this.root, 'deployments');
  }
  deploymentPath(name: string): string {
    return join(this.deploymentsDir, `${name}.json`);
  }
  get secretsDir(): string {
    return join(this.root, 'secrets');
  }
  get adminTokenPath(): string {
    return join(this.secretsDir, 'admin-token.json');
  }
  /** Held by the running instance: a second one on the same directory is refused (data-dir-lock.ts). */
  get lockPath(): string {
    return join(this.root, 'instance.lock');
  }
  /** The PostgreSQL store's local copy of a version's files, named after its sha256. */
  cachedVersionDir(name: string, version: number, sha256: string): string {
    return join(this.root, 'cache', `${sha256}-${name}-${version}`);
  }
  get cacheDir(): string {
    return join(this.root, 'cache');
  }
  get tmpDir(): string {
    return join(this.root, 'tmp');
  }
  /** Where multipart model uploads stream before a publish moves them into a staging folder. */
  get uploadsDir(): string {
    return join(this.tmpDir, 'uploads');
  }
}
