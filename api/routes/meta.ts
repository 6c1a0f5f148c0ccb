/** Health, readiness, the OpenAPI document and its rendered docs page: no API key needed. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type pg from 'pg';
import { HttpProblem, PROBLEM_TYPES } from '../problem.ts';
import { defineRoute, problemResponse, type ApiRoute } from '../route.ts';
import { HealthSchema, ReadySchema } from '../schemas.ts';
import type { TemporalAccess } from '../temporal.ts';

export interface ReadinessDeps {
  readonly pool: pg.Pool;
  readonly temporal: TemporalAccess;
  /** Each check's time budget: a probe must answer quickly, even when a dependency hangs. */
  readonly readyTimeoutMs: number;
  readonly log: (line: string) => void;
}

function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

export function healthRoutes(deps: ReadinessDeps): ApiRoute[] {
  const checks: Record<string, () => Promise<unknown>> = {
    warehouse: () => within(deps.pool.query('SELECT 1'), deps.readyTimeoutMs),
    temporal: () => deps.temporal.check(deps.readyTimeoutMs),
  };
  // Probes run every few seconds: log a dependency's state when it changes, not on every probe.
  const lastState = new Map<string, 'up' | 'down'>();

  const health = defineRoute(
    {
      method: 'get',
      path: '/health',
      operationId: 'health',
      summary: 'The process is up (liveness)',
      tags: ['operations'],
      auth: false,
      responses: { 200: { description: 'Up', content: { 'application/json': { schema: HealthSchema } } } },
    },
    ({ res }) => {
      res.setHeader('Cache-Control', 'no-store');
      res.json({ status: 'ok' });
    },
  );

  const ready = defineRoute(
    {
      method: 'get',
      path: '/ready',
      operationId: 'ready',
      summary: 'The warehouse and Temporal answer (readiness)',
      tags: ['operations'],
      auth: false,
      responses: {
        200: { description: 'Every dependency answers', content: { 'application/json': { schema: ReadySchema } } },
        503: problemResponse('A dependency is down: `checks` names each one and its state'),
      },
    },
    async ({ res }) => {
      const names = Object.keys(checks);
      const results = await Promise.allSettled(names.map((n) => (checks[n] as () => Promise<unknown>)()));
      const state: Record<string, 'up' | 'down'> = {};
      results.forEach((r, i) => {
        const name = names[i] as string;
        state[name] = r.status === 'fulfilled' ? 'up' : 'down';
        const before = lastState.get(name);
        if (before !== state[name] && (before !== undefined || state[name] === 'down')) {
          deps.log(`api: ${name} is ${state[name]}${r.status === 'rejected' ? ` (${r.reason instanceof Error ? r.reason.message : String(r.reason)})` : ''}`);
        }
        lastState.set(name, state[name]);
      });
      const down = names.filter((n) => state[n] === 'down');
      if (down.length > 0) throw new HttpProblem(503, `not ready: ${down.join(' and ')} ${down.length > 1 ? 'are' : 'is'} down`, { type: PROBLEM_TYPES.notReady, checks: state });
      res.setHeader('Cache-Control', 'no-store');
      res.json({ status: 'ready', checks: state });
    },
  );
  return [health, ready];
}

export function openapiRoute(document: () => unknown): ApiRoute {
  return defineRoute(
    {
      method: 'get',
      path: '/openapi.json',
      operationId: 'openapi',
      summary: 'This OpenAPI 3.1 document',
      tags: ['operations'],
      auth: false,
      responses: { 200: { description: 'The document', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
    },
    ({ res }) => {
      res.setHeader('Cache-Control', 'no-cache');
      res.json(document());
    },
  );
}

const here = path.dirname(fileURLToPath(import.meta.url));
const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/absolute-path.js'));

/** The files the docs page loads: ours (HTML, initializer) and Swagger UI's, served from node_modules. */
const DOCS_ASSETS: Record<string, { file: string; type: string }> = {
  'init.js': { file: path.join(here, '..', 'docs', 'init.js'), type: 'text/javascript; charset=utf-8' },
  'docs.css': { file: path.join(here, '..', 'docs', 'docs.css'), type: 'text/css; charset=utf-8' },
  'swagger-ui.css': { file: path.join(swaggerUiDir, 'swagger-ui.css'), type: 'text/css; charset=utf-8' },
  'swagger-ui-bundle.js': { file: path.join(swaggerUiDir, 'swagger-ui-bundle.js'), type: 'text/javascript; charset=utf-8' },
  'favicon-32x32.png': { file: path.join(swaggerUiDir, 'favicon-32x32.png'), type: 'image/png' },
  'favicon-16x16.png': { file: path.join(swaggerUiDir, 'favicon-16x16.png'), type: 'image/png' },
};

export function docsRoutes(): ApiRoute[] {
  const indexHtml = readFileSync(path.join(here, '..', 'docs', 'index.html'));
  // Read once on first use (about 2 MB in all), never per request.
  const loaded = new Map<string, Buffer>();
  const load = (file: string): Buffer => {
    let bytes = loaded.get(file);
    if (!bytes) loaded.set(file, (bytes = readFileSync(file)));
    return bytes;
  };
  const redirect = defineRoute(
    {
      method: 'get',
      path: '/docs',
      operationId: 'docsRedirect',
      summary: 'Redirects to /docs/ (the page loads its assets relative to it)',
      tags: ['operations'],
      auth: false,
      responses: { 301: { description: 'To /docs/', headers: { Location: { description: 'docs/', schema: { type: 'string' } } } } },
    },
    ({ res }) => {
      res.status(301).location('docs/').end();
    },
  );
  const page = defineRoute(
    {
      method: 'get',
      path: '/docs/',
      operationId: 'docs',
      summary: 'Rendered documentation of this API (Swagger UI)',
      tags: ['operations'],
      auth: false,
      responses: { 200: { description: 'The page', content: { 'text/html': { schema: z.string() } } } },
    },
    ({ res }) => {
      res.setHeader('Cache-Control', 'no-cache');
      res.type('text/html; charset=utf-8').send(indexHtml);
    },
  );
  const asset = defineRoute(
    {
      method: 'get',
      path: '/docs/{asset}',
      operationId: 'docsAsset',
      summary: 'A file of the documentation page',
      tags: ['operations'],
      auth: false,
      params: z.object({ asset: z.enum(Object.keys(DOCS_ASSETS) as [string, ...string[]]) }),
      invalidPathIsNotFound: true,
      responses: {
        200: {
          description: 'The file',
          content: {
            'text/javascript': { schema: z.string() },
            'text/css': { schema: z.string() },
            'image/png': { schema: z.string().meta({ format: 'binary' }) },
          },
        },
        404: problemResponse('No such file'),
      },
    },
    ({ params, res }) => {
      const a = DOCS_ASSETS[params.asset] as { file: string; type: string };
      res.setHeader('Cache-Control', 'public, max-age=3600');
      res.type(a.type).send(load(a.file));
    },
  );
  return [redirect, page, asset];
}
