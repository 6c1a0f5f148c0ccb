/**
 * A lake of the test's own: a fresh Iceberg REST catalog (SQLite file) on a free
 * port with its warehouse in a temp folder, or under a unique prefix of the MinIO
 * bucket. Started by the same service code as `lake infra up`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../lib/config.ts';
import { freePort } from '../../lib/infra/process.ts';
import { icebergService } from '../../lib/infra/services/iceberg.ts';

export interface TestLake {
  readonly config: Config;
  readonly dir: string;
  stop(): Promise<void>;
}

export async function startTestLake(opts: { storage?: 'local' | 's3'; env?: Record<string, string> } = {}): Promise<TestLake> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tempolake-lake-'));
  const port = await freePort();
  const config = loadConfig({
    ...process.env,
    TEMPOLAKE_DATA_DIR: dir,
    LAKE_STORAGE: opts.storage ?? 'local',
    LAKE_LOCAL_ROOT: path.join(dir, 'lake'),
    LAKE_S3_PREFIX: `test-${randomUUID().slice(0, 8)}`,
    ICEBERG_CATALOG_URL: `http://127.0.0.1:${port}`,
    ICEBERG_CATALOG_JDBC_URI: `jdbc:sqlite:file:${path.join(dir, 'catalog.db')}?busy_timeout=30000&journal_mode=DELETE`,
    ...opts.env,
  });
  const ctx = { config, progress: () => undefined };
  await icebergService.provision(ctx);
  await icebergService.start(ctx);
  return {
    config,
    dir,
    async stop() {
      await icebergService.stop(ctx);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
