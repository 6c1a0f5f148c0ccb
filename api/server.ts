/**
 * The running API: warehouse pool, LISTEN connection for load notifications, a Temporal
 * client connected on first use, and the HTTP server. `close()` undoes all of it.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { Config } from '../lib/config.ts';
import { postgresClientConfig } from '../lib/clients/postgres.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { buildCatalog, type CatalogRequest } from '../lib/catalog/build.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';
import { createApp, type ApiDeps } from './app.ts';
import type { KeyCacheOptions } from './auth.ts';
import { LoadsListener } from './loads-listener.ts';
import type { OpenApiDocument } from './openapi.ts';
import { DEFAULT_REGION_CACHE, RegionCache } from './region-cache.ts';
import { lazyTemporal } from './temporal.ts';

export interface StartApiOptions {
  /** Overrides config.apiHost. */
  readonly host?: string;
  /** Overrides config.apiPort; 0 picks a free port (tests, benchmarks). */
  readonly port?: number;
  /** TTL of the case-1 cache when no load notification arrives (default 60 s). */
  readonly cacheTtlMs?: number;
  readonly keyCache?: KeyCacheOptions;
  /** Create the serving and meta schemas if missing (default true; needs DDL rights). */
  readonly ensureSchema?: boolean;
  readonly log?: (line: string) => void;
}

export interface ApiServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly docsUrl: string;
  readonly deps: ApiDeps;
  readonly loads: LoadsListener;
  readonly openapi: OpenApiDocument;
  close(): Promise<void>;
}

/** How long close() lets in-flight responses (streams) finish before cutting them. */
const CLOSE_GRACE_MS = 5_000;

export const API_APPLICATION_NAME = 'tempolake-api';

export async function startApi(config: Config, options: StartApiOptions = {}): Promise<ApiServer> {
  const log = options.log ?? ((line: string) => console.error(line));
  const clientConfig = postgresClientConfig(config);
  // Streams hold a connection for their whole transfer: size the pool for concurrent streams.
  const pool = new pg.Pool({ ...clientConfig, application_name: API_APPLICATION_NAME, max: 20 });
  // An idle pooled connection that breaks (server restart) must not crash the process.
  pool.on('error', (err) => log(`api: idle warehouse connection failed: ${err.message}`));
  if (options.ensureSchema ?? true) {
    // Best effort: a warehouse that is down at start-up is reported by /ready, not fatal.
    await ensurePostgresSchema(pool).catch((err: Error) => log(`api: could not ensure the warehouse schema (${err.message}); serving anyway`));
  }
  const regions = new RegionCache(pool, { ...DEFAULT_REGION_CACHE, ...(options.cacheTtlMs !== undefined ? { ttlMs: options.cacheTtlMs } : {}) });
  const loads = new LoadsListener({
    clientConfig,
    onLoad: (notice) => regions.invalidate(notice?.table),
    onReset: () => regions.invalidate(),
    log,
  });
  loads.start();
  const temporal = lazyTemporal(config);
  // Uploads (PUT /v1/datasets/{name}) are streamed into the lake store; the client connects on first use.
  const s3 = createS3Client(config);
  const store = createLakeStore(config, s3);
  // The admin API's catalog: the lake's metadata, and Temporal for running and failed days when it answers.
  const catalog = async (req: CatalogRequest) => {
    const client = await temporal.client().catch(() => undefined);
    return buildCatalog({ config, store, openSession: () => openLakeSession(config), ...(client ? { temporal: client } : {}) }, req);
  };
  const deps: ApiDeps = { config, pool, temporal, regions, store, catalog, log, ...(options.keyCache ? { keyCache: options.keyCache } : {}) };
  const api = createApp(deps);
  const { openapi } = api;

  const server = http.createServer(api.handler);
  server.listen(options.port ?? config.apiPort, options.host ?? config.apiHost);
  try {
    await once(server, 'listening');
  } catch (err) {
    api.close();
    s3.destroy();
    await Promise.all([loads.close(), temporal.close(), pool.end()]);
    throw err;
  }
  const address = server.address() as AddressInfo;
  const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
      api.close();
      s3.destroy();
      await Promise.all([loads.close(), temporal.close()]);
      await pool.end();
    })());
  return { url, docsUrl: `${url}/docs/`, deps, loads, openapi, close };
}
