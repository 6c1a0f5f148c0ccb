/**
 * An in-process DuckDB attached to the lake's Iceberg catalog as `lake`. Extensions
 * come from the cache (PyPI wheels), never downloaded at run time; S3 access uses the
 * same endpoint and keys as every other client.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { warehouseLocation, type Config } from '../config.ts';
import { duckdbExtensionDir, ensureDuckdbExtensions } from '../infra/duckdb-extensions.ts';

/** Name of the attached Iceberg catalog in SQL: `lake.curated.source_a`. */
export const LAKE = 'lake';

export interface LakeSession {
  run(sql: string, params?: readonly unknown[]): Promise<void>;
  /** Rows as plain JSON-friendly objects (BIGINT and DECIMAL as strings, dates as ISO text). */
  rows<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  readonly connection: DuckDBConnection;
  close(): void;
}

export interface LakeSessionOptions {
  /** Attach the Iceberg catalog (default true); false for raw-only work. */
  readonly attach?: boolean;
  readonly memoryLimit?: string;
  readonly threads?: number;
}

/** A SQL string literal (DuckDB has no bind parameters in ATTACH, SECRET or read_csv options). */
export const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

export async function openLakeSession(config: Config, opts: LakeSessionOptions = {}): Promise<LakeSession> {
  await ensureDuckdbExtensions(config);
  const tmp = path.join(config.dataDir, 'tmp', 'duckdb');
  mkdirSync(tmp, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:', {
    extension_directory: duckdbExtensionDir(config),
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'true',
    memory_limit: opts.memoryLimit ?? config.duckdbMemoryLimit,
    temp_directory: tmp,
    ...(opts.threads ? { threads: String(opts.threads) } : {}),
  });
  const connection = await instance.connect();
  const run = async (sql: string, params?: readonly unknown[]): Promise<void> => {
    await connection.run(sql, params as DuckDBValue[] | undefined);
  };
  const rows = async <T>(sql: string, params?: readonly unknown[]): Promise<T[]> =>
    (await connection.runAndReadAll(sql, params as DuckDBValue[] | undefined)).getRowObjectsJson() as T[];

  await run("SET TimeZone = 'UTC'");
  const endpoint = config.s3Endpoint;
  await run(`CREATE OR REPLACE SECRET lake_s3 (TYPE s3, KEY_ID ${sqlString(config.s3AccessKeyId)}, SECRET ${sqlString(config.s3SecretAccessKey)},
    REGION ${sqlString(config.s3Region)}, ENDPOINT ${sqlString(endpoint.host)}, URL_STYLE 'path', USE_SSL ${endpoint.protocol === 'https:'})`);
  if (opts.attach !== false) {
    await run(`ATTACH ${sqlString(warehouseLocation(config))} AS ${LAKE} (TYPE iceberg, ENDPOINT ${sqlString(config.icebergCatalogUrl.toString().replace(/\/$/, ''))},
      AUTHORIZATION_TYPE 'none', ACCESS_DELEGATION_MODE 'none', READ_ONLY false)`);
  }
  return {
    run,
    rows,
    connection,
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

