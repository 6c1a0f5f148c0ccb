/**
 * A lake of the test's own: a fresh Iceberg REST catalog (SQLite file) on a free
 * port with its warehouse in a temp folder, or under a unique prefix of the MinIO
 * bucket. Started by the same service code as `lake infra up`.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * `dir`: a folder to keep the lake in (benchmarks that fill once and measure many times); it is
 * left in place by stop(), and a second start on it finds the same catalog, warehouse and S3 prefix.
 */
export async function startTestLake(opts: { storage?: 'local' | 's3'; env?: Record<string, string>; dir?: string } = {}): Promise<TestLake> {
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'tempolake-lake-'));
  const prefixFile = path.join(dir, 's3-prefix');
  if (opts.dir) mkdirSync(dir, { recursive: true });
  const prefix = opts.dir && existsSync(prefixFile) ? readFileSync(prefixFile, 'utf8').trim() : `test-${randomUUID().slice(0, 8)}`;
  if (opts.dir) writeFileSync(prefixFile, prefix);
  const port = await freePort();
  const config = loadConfig({
    ...process.env,
    TEMPOLAKE_DATA_DIR: dir,
    LAKE_STORAGE: opts.storage ?? 'local',
    LAKE_LOCAL_ROOT: path.join(dir, 'lake'),
    LAKE_S3_PREFIX: prefix,
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
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The settings that point a config at `lake` (local storage) and a weather simulator at
 * `weatherUrl`, with `regions` written as the lake's regions file: what the weather tests share.
 */
export function weatherLakeEnv(lake: TestLake, weatherUrl: string, regions: readonly unknown[]): Record<string, string> {
  const regionsFile = path.join(lake.dir, 'regions.json');
  writeFileSync(regionsFile, JSON.stringify({ regions }));
  return {
    TEMPOLAKE_DATA_DIR: lake.dir,
    LAKE_STORAGE: 'local',
    LAKE_LOCAL_ROOT: lake.config.lakeLocalRoot,
    ICEBERG_CATALOG_URL: lake.config.icebergCatalogUrl.toString(),
    ICEBERG_CATALOG_JDBC_URI: lake.config.icebergCatalogJdbcUri,
    WEATHER_FORECAST_URL: `${weatherUrl}/v1/forecast`,
    WEATHER_ARCHIVE_URL: `${weatherUrl}/v1/archive`,
    REGIONS_FILE: regionsFile,
  };
}
