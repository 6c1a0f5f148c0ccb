/**
 * The Express app, built from its dependencies and never listening itself (server.ts does),
 * so tests run the real app in process against real servers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import helmet from 'helmet';
import type pg from 'pg';
import type { Config } from '../lib/config.ts';
import { findCustomerByKey } from '../lib/warehouse/customers.ts';
import { authenticate, authenticateAdmin, DEFAULT_KEY_CACHE, KeyCache, type KeyCacheOptions } from './auth.ts';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi.ts';
import { HttpProblem, notFoundHandler, problemMiddleware } from './problem.ts';
import { KeyRateLimiter, perKeyRateLimit } from './key-rate-limiter.ts';
import { headersSetBy, summaryFastPath } from './summary-fast-path.ts';
import type { RegionCache } from './region-cache.ts';
import type { ApiRoute } from './route.ts';
import { accountRoutes } from './routes/account.ts';
import { analysisRoutes } from './routes/analyses.ts';
import { dailyRoutes } from './routes/daily.ts';
import { docsRoutes, healthRoutes, openapiRoute } from './routes/meta.ts';
import { regionRoutes } from './routes/regions.ts';
import { datasetRoutes } from './routes/datasets.ts';
import { adminRoutes } from './routes/admin.ts';
import type { Catalog, CatalogRequest } from '../lib/catalog/build.ts';
import { datasets as catalogDatasets } from '../lib/catalog/datasets.ts';
import type { TemporalAccess } from './temporal.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';

const ALLOW_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'];

export interface ApiDeps {
  /** apiRateLimitPerMinute, apiBodyLimit and apiPageSize are read from it. */
  readonly config: Config;
  /** The warehouse, logged in as the API's own role (customer queries switch role per transaction). */
  readonly pool: pg.Pool;
  readonly temporal: TemporalAccess;
  /** Case 1's cache; whoever listens for loads invalidates it (server.ts). */
  readonly regions: RegionCache;
  /** The lake store uploads are streamed into; without one, PUT/DELETE /v1/datasets answer 503. */
  readonly store?: ObjectStore;
  /** The partition catalog for /v1/admin/…; without it those answer 503. */
  readonly catalog?: (req: CatalogRequest) => Promise<Catalog>;
  readonly log?: (line: string) => void;
  readonly keyCache?: KeyCacheOptions;
  /** Time budget of each /ready check (default 3 s). */
  readonly readyTimeoutMs?: number;
}

export interface ApiApp {
  readonly app: express.Express;
  /** What the HTTP server runs: case 1's fast path, else the Express app. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  readonly openapi: OpenApiDocument;
  /** Stops the app's timers (the rate limiter's sweep). */
  close(): void;
}

export function createApp(deps: ApiDeps): ApiApp {
  const log = deps.log ?? ((line: string) => console.error(line));
  const { config, pool } = deps;
  const app = express();
  app.disable('x-powered-by');
  // ETags are set where they mean something (case 1); Express's own would hash every page.
  app.set('etag', false);
  // Paths are exactly those of the OpenAPI document: no trailing-slash or case variants.
  app.set('strict routing', true);
  app.set('case sensitive routing', true);
  // Plain HTTP on loopback locally; TLS is terminated in front in production (and HSTS set there).
  const securityHeaders = helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } });
  app.use(securityHeaders);
  // Only JSON bodies are read (POST /v1/analyses); the limit stops a large one before anything parses it.
  // PUT bodies are uploads (PUT /v1/datasets/{name}): the route streams them itself, so no parser may touch them.
  const json = express.json({ limit: config.apiBodyLimit });
  app.use((req, res, next) => (req.method === 'PUT' ? next() : json(req, res, next)));

  const keys = new KeyCache((key) => findCustomerByKey(pool, key), deps.keyCache ?? DEFAULT_KEY_CACHE);
  const limiter = new KeyRateLimiter(config.apiRateLimitPerMinute);
  const guard = [authenticate(keys), perKeyRateLimit(limiter)];

  let openapi: OpenApiDocument | undefined;
  const routes: ApiRoute[] = [
    ...healthRoutes({ pool, temporal: deps.temporal, readyTimeoutMs: deps.readyTimeoutMs ?? 3_000, log }),
    openapiRoute(() => openapi),
    ...docsRoutes(),
    ...regionRoutes(deps.regions),
    ...dailyRoutes({ pool, regions: deps.regions, pageSize: config.apiPageSize }),
    ...accountRoutes({ pool, pageSize: config.apiPageSize }),
    ...analysisRoutes({ temporal: deps.temporal }),
    ...datasetRoutes({ pool, temporal: deps.temporal, ...(deps.store ? { store: deps.store } : {}), maxBytes: config.uploadMaxBytes }),
    ...adminRoutes({ ...(deps.catalog ? { catalog: deps.catalog } : {}), datasetNames: catalogDatasets(config).map((d) => d.name), windowDays: config.catalogWindowDays }),
  ];
  openapi = buildOpenApiDocument(routes);

  const adminGuard = [authenticateAdmin(config.apiAdminKey)];
  for (const r of routes) app[r.method](r.expressPath, ...(r.auth === 'admin' ? adminGuard : r.auth ? guard : []), r.handler);
  // A known path asked with another method: 405 naming the methods it has (GET brings HEAD).
  const methods = new Map<string, Set<string>>();
  for (const r of routes) {
    const allowed = methods.get(r.expressPath) ?? new Set<string>();
    for (const m of r.method === 'get' ? ['GET', 'HEAD'] : [r.method.toUpperCase()]) allowed.add(m);
    methods.set(r.expressPath, allowed);
  }
  for (const [expressPath, allowed] of methods) {
    const allow = ALLOW_ORDER.filter((m) => allowed.has(m)).join(', ');
    app.all(expressPath, (req, _res, next) => next(new HttpProblem(405, `${req.method} is not supported here`, { headers: { Allow: allow } })));
  }
  app.use(notFoundHandler);
  app.use(problemMiddleware(log));
  const fast = summaryFastPath({ keys, regions: deps.regions, limiter, headers: headersSetBy(securityHeaders) });
  return {
    app,
    handler: (req, res) => {
      if (!fast(req, res)) app(req, res);
    },
    openapi,
    close: () => limiter.close(),
  };
}
