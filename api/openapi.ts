/** The OpenAPI 3.1 document, generated from the same route definitions the app serves. */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { ApiRoute } from './route.ts';

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

export function buildOpenApiDocument(routes: readonly ApiRoute[]): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'Your API key (`lake customers create <name>` prints it once): `Authorization: Bearer tlk_…`',
  });
  registry.registerComponent('securitySchemes', 'adminKey', { type: 'apiKey', in: 'header', name: 'X-Admin-Key', description: 'The operators\' key (API_ADMIN_KEY) for /v1/admin/…' });
  registry.registerComponent('securitySchemes', 'headerKey', { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same API key in a header of its own' });
  for (const r of routes) registry.registerPath(r.openapi);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'tempolake API',
      version: '1.0.0',
      description:
        'Regions, their summaries (case 1) and 15 years of daily weather and market history (case 2) from the tempolake warehouse, ' +
        'on-demand analyses whose results land in your own schema (case 3), datasets you upload into it (case 4), and the tables of that schema. Errors are RFC 9457 problem details. Requests are limited per API key.',
    },
    tags: [
      { name: 'regions', description: 'Case 1: region metadata and summaries' },
      { name: 'history', description: 'Case 2: daily history, paged or streamed' },
      { name: 'analyses', description: 'Case 3: on-demand analyses of the lake, their results in your own schema' },
      { name: 'datasets', description: 'Case 4: your own files (CSV, NDJSON, Parquet) uploaded as tables of your schema' },
      { name: 'account', description: 'You and your own tables' },
      { name: 'operations', description: 'Health, readiness and this documentation' },
      { name: 'admin', description: 'Operators: the partition catalog of every dataset (X-Admin-Key)' },
    ],
  });
}
