/**
 * Case 4: a customer's own datasets. PUT streams a file (CSV, NDJSON or Parquet) into the lake
 * and waits while `customerUpload` validates it, publishes it and loads it as the table `<name>`
 * of the caller's schema; GET lists them; DELETE removes one (lake, warehouse and uploaded files).
 * Everything is confined to the caller (from the key, never from the request).
 */
import pg from 'pg';
import { z } from 'zod';
import type { ObjectStore } from '../../lib/storage/object-store.ts';
import { customerOf } from '../auth.ts';
import {
  datasetHref,
  deleteUploads,
  listDatasets,
  newUploadId,
  runDelete,
  runUpload,
  storeUpload,
  UPLOAD_CONTENT_TYPES,
  uploadKey,
} from '../datasets-uploads.ts';
import { HttpProblem, notFound } from '../problem.ts';
import { defineRoute, problemResponse, requestMediaType, type ApiRoute } from '../route.ts';
import { DatasetListSchema, DatasetName, DatasetSchema } from '../schemas.ts';
import type { TemporalAccess } from '../temporal.ts';

export interface DatasetRouteDeps {
  readonly pool: pg.Pool;
  readonly temporal: TemporalAccess;
  /** The lake store; without one, uploads and deletes answer 503. */
  readonly store?: ObjectStore;
  /** Largest upload in bytes (UPLOAD_MAX_BYTES). */
  readonly maxBytes: number;
}

const json = { 'application/json': { schema: DatasetSchema } };

export function datasetRoutes(deps: DatasetRouteDeps): ApiRoute[] {
  const storeOf = (): ObjectStore => {
    if (!deps.store) throw new HttpProblem(503, 'the lake store is not configured for this API', { headers: { 'Retry-After': '60' } });
    return deps.store;
  };

  const put = defineRoute(
    {
      method: 'put',
      path: '/v1/datasets/{name}',
      operationId: 'putDataset',
      summary: 'Upload a file as a dataset: the table `name` of your schema',
      description:
        'The Content-Type says the format. The request waits while the file is checked, published to the lake and loaded into your ' +
        `schema, then answers 201 (a new dataset) or 200 (it replaced the one of that name). At most ${deps.maxBytes} bytes (413 above). ` +
        'A file with rows that do not fit is 422, listing them in `invalid_rows`; nothing of it is kept. Read the rows at /v1/tables/{name}.',
      tags: ['datasets'],
      auth: true,
      params: z.object({ name: DatasetName }),
      rawBody: {
        description: 'The file, streamed as it is',
        contentTypes: {
          'text/csv': 'CSV with a header row; the column types are inferred',
          'application/x-ndjson': 'One JSON object per line',
          'application/vnd.apache.parquet': 'A Parquet file; its own schema gives the columns',
        },
      },
      responses: {
        200: { description: 'The dataset was replaced by this upload', content: json },
        201: { description: 'The dataset was created', content: json },
        413: problemResponse(`The body is over the upload limit (${deps.maxBytes} bytes); nothing is kept`),
        422: problemResponse('Rows of the file do not fit: `invalid_rows` lists them (line and reason); nothing is kept'),
      },
    },
    async ({ params, req, res }) => {
      const customer = customerOf(res);
      const store = storeOf();
      // route.ts has checked the media type against rawBody.contentTypes.
      const format = UPLOAD_CONTENT_TYPES[requestMediaType(req) ?? ''];
      if (!format) throw new HttpProblem(415, `send the body as one of ${Object.keys(UPLOAD_CONTENT_TYPES).join(', ')}`);
      const uploadId = newUploadId();
      const key = uploadKey(customer.id, params.name, uploadId, format);
      await storeUpload(req, store, key, deps.maxBytes);
      let ok = false;
      try {
        const existed = (await listDatasets(deps.pool, customer, { only: params.name, counts: false })).length > 0;
        const result = await runUpload(deps.temporal, { customerId: customer.id, name: params.name, uploadId, key, format });
        ok = true;
        res.setHeader('Cache-Control', 'no-store');
        res.status(existed ? 200 : 201).json({
          name: result.name,
          rows: result.rows,
          columns: result.columns.map((c) => ({ name: c.name, type: c.type })),
          table: result.name,
          href: datasetHref(result.name),
        });
      } finally {
        // On any failure (a rejected file, Temporal gone, an internal error) the file goes too.
        if (!ok) await store.delete(key).catch(() => undefined);
      }
    },
  );

  const list = defineRoute(
    {
      method: 'get',
      path: '/v1/datasets',
      operationId: 'listDatasets',
      summary: 'Your datasets',
      description: 'The tables of your schema that are not analysis results, with their columns and row counts.',
      tags: ['datasets'],
      auth: true,
      responses: { 200: { description: 'Your datasets', content: { 'application/json': { schema: DatasetListSchema } } } },
    },
    async ({ res }) => {
      const customer = customerOf(res);
      const datasets = await listDatasets(deps.pool, customer);
      res.setHeader('Cache-Control', 'no-store');
      res.json({ datasets });
    },
  );

  const remove = defineRoute(
    {
      method: 'delete',
      path: '/v1/datasets/{name}',
      operationId: 'deleteDataset',
      summary: 'Delete one of your datasets',
      description: 'Removes its table from your schema and from the lake, and the files uploaded for it. Not one of your datasets: 404.',
      tags: ['datasets'],
      auth: true,
      params: z.object({ name: DatasetName }),
      invalidPathIsNotFound: true,
      responses: {
        204: { description: 'Deleted' },
        404: problemResponse('No such dataset of yours'),
      },
    },
    async ({ params, res }) => {
      const customer = customerOf(res);
      const store = storeOf();
      const [found] = await listDatasets(deps.pool, customer, { only: params.name, counts: false });
      if (!found) throw notFound(`no dataset "${params.name}"`);
      await runDelete(deps.temporal, customer.id, params.name);
      await deleteUploads(store, customer.id, params.name);
      res.setHeader('Cache-Control', 'no-store');
      res.status(204).end();
    },
  );

  return [list, put, remove];
}
