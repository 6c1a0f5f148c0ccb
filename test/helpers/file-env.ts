/**
 * Sources A/B test environment: a lake of its own (Iceberg catalog + storage), the FTP
 * and HTTP simulators over a temp folder, and a Temporal dev server with workers whose
 * config points at all of them.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../../lib/config.ts';
import { openLakeSession, type LakeSession } from '../../lib/lake/session.ts';
import { startFileSourceServers, type FileSourceServers } from '../../simulators/files/servers.ts';
import { ingestFileSource, ingestWorkflowId, type IngestFileSourceResult } from '../../workflows/file-ingest.ts';
import { startTestLake, type TestLake } from './lake.ts';
import { startTemporalTestServer, type TemporalTestServer } from './temporal.ts';

export interface FileEnv {
  lake: TestLake;
  servers: FileSourceServers;
  temporal: TemporalTestServer;
  config: Config;
  filesDir: string;
}

export async function startFileEnv(opts: { storage?: 'local' | 's3'; dropAfterBytes?: number; env?: Record<string, string> } = {}): Promise<FileEnv> {
  const lake = await startTestLake({ storage: opts.storage ?? 'local' });
  const filesDir = path.join(lake.dir, 'source-files');
  mkdirSync(path.join(filesDir, 'source_a'), { recursive: true });
  mkdirSync(path.join(filesDir, 'source_b'), { recursive: true });
  const servers = await startFileSourceServers({ rootDir: filesDir, ...(opts.dropAfterBytes ? { faults: { dropAfterBytes: opts.dropAfterBytes } } : {}) });
  const config = loadConfig({
    ...process.env,
    TEMPOLAKE_DATA_DIR: lake.dir,
    LAKE_STORAGE: lake.config.lakeStorage,
    LAKE_LOCAL_ROOT: lake.config.lakeLocalRoot,
    LAKE_S3_PREFIX: lake.config.lakeS3Prefix,
    ICEBERG_CATALOG_URL: lake.config.icebergCatalogUrl.toString(),
    SOURCE_A_URL: `${servers.ftpUrl}source_a/`,
    SOURCE_B_URL: `${servers.httpUrl}source_b/`,
    ...opts.env,
  });
  const temporal = await startTemporalTestServer(config);
  return { lake, servers, temporal, config, filesDir };
}

export async function stopFileEnv(env: FileEnv | undefined): Promise<void> {
  await env?.temporal.teardown();
  await env?.servers.close();
  await env?.lake.stop();
}

/** Runs one ingest:<source>:<day> workflow (with a unique suffix, so a test may repeat it). */
export function ingest(env: FileEnv, source: string, day: string) {
  return env.temporal.withWorker((taskQueue) =>
    env.temporal.client.workflow.execute(ingestFileSource, { taskQueue, workflowId: `${ingestWorkflowId(source, day)}:${Math.random()}`, args: [{ source, day }] }),
  ) as Promise<IngestFileSourceResult>;
}

export async function withSession<T>(config: Config, fn: (s: LakeSession) => Promise<T>): Promise<T> {
  const s = await openLakeSession(config);
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}

