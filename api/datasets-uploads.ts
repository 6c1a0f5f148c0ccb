/**
 * Case 4 from the API's side: a dataset is a table of the caller's schema (not an analysis
 * result), filled by one `customerUpload` workflow per upload. The body is streamed into the
 * lake store under a fresh key (never buffered whole, capped at UPLOAD_MAX_BYTES), then the
 * workflow runs while the request waits. Whatever fails, the uploaded object is deleted again.
 */
import { catalog } from './routes/account.ts';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { ApplicationFailure, isGrpcServiceError, WorkflowFailedError, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import pg from 'pg';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { DATASET, ZONE } from '../lib/temporal/search-attributes.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { withCustomerRole, type Customer } from '../lib/warehouse/customers.ts';
import {
  uploadWorkflowId,
  type customerUpload,
  type deleteCustomerDataset,
  type UploadFormat,
  type UploadInput,
  type UploadProblem,
  type UploadResult,
} from '../workflows/upload.ts';
import { withTemporal } from './analyses-runs.ts';
import { apiQuery } from './pg-types.ts';
import { HttpProblem, type ProblemBody } from './problem.ts';
import { ANALYSIS_TABLE_PREFIX } from './schemas.ts';
import { TemporalUnavailableError, type TemporalAccess } from './temporal.ts';

/** Content-Type (media type only) → the upload's format. */
export const UPLOAD_CONTENT_TYPES: Readonly<Record<string, UploadFormat>> = {
  'text/csv': 'csv',
  'application/x-ndjson': 'ndjson',
  'application/vnd.apache.parquet': 'parquet',
};

const UPLOAD_ID_BYTES = 8;
/** How many rejected rows a 422 lists (the activity sends about 100; the detail has the count). */
const MAX_INVALID_ROWS = 100;

// gRPC status codes (the API has no direct dependency on grpc-js).
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;

export const newUploadId = (): string => randomBytes(UPLOAD_ID_BYTES).toString('hex');

export const uploadPrefix = (customerId: string, name: string): string => `personal_area/${customerId}/uploads/${name}/`;

export const uploadKey = (customerId: string, name: string, uploadId: string, format: UploadFormat): string =>
  `${uploadPrefix(customerId, name)}${uploadId}.${format}`;

/** Not in the contract of workflows/upload.ts: one id per DELETE, under the caller's prefix. */
export const datasetDeleteWorkflowId = (customerId: string, name: string, requestId: string): string => `upload-delete:${customerId}:${name}:${requestId}`;

export const datasetHref = (name: string): string => `/v1/tables/${name}`;

const tooLarge = (maxBytes: number): HttpProblem =>
  new HttpProblem(413, `the upload is larger than the limit of ${maxBytes} bytes`, { headers: { Connection: 'close' } });

const temporalUnavailable = (): HttpProblem => new HttpProblem(503, 'Temporal is unavailable; try again shortly', { headers: { 'Retry-After': '5' } });

class UploadTooLargeError extends Error {
  override name = 'UploadTooLargeError';
}

/** 422: the file was read, but rows of it do not fit; `invalid_rows` says which and why. */
export class InvalidUploadProblem extends HttpProblem {
  override name = 'InvalidUploadProblem';
  constructor(
    detail: string,
    readonly invalidRows: readonly UploadProblem[],
  ) {
    super(422, detail, { type: 'urn:tempolake:problem:invalid-upload' });
  }

  override body(instance: string): ProblemBody & { invalid_rows: UploadProblem[] } {
    return { ...super.body(instance), title: 'Invalid upload', invalid_rows: [...this.invalidRows] };
  }
}

/**
 * The request body, counted on its way through: over `maxBytes` the stream fails (the store then
 * discards what it had). The request itself is never destroyed, so the 413 can still be sent.
 */
function cappedBody(req: IncomingMessage, maxBytes: number): Readable {
  let seen = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > maxBytes) done(new UploadTooLargeError(`over ${maxBytes} bytes`));
      else done(null, chunk);
    },
  });
  // pipe() unpipes on the destination's error but passes on neither errors nor an aborted upload.
  req.on('error', (err) => counted.destroy(err));
  req.on('close', () => {
    if (!req.complete) counted.destroy(Object.assign(new Error('the client aborted the upload'), { code: 'ECONNRESET' }));
  });
  req.pipe(counted);
  return counted;
}

/** Streams the request body to `key`; 413 (nothing stored) when it is over `maxBytes`. */
export async function storeUpload(req: IncomingMessage, store: ObjectStore, key: string, maxBytes: number): Promise<void> {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (declared !== undefined && declared > maxBytes) throw tooLarge(maxBytes);
  try {
    await store.put(key, cappedBody(req, maxBytes), declared !== undefined && Number.isSafeInteger(declared) ? { contentLength: declared } : {});
  } catch (err) {
    // A failed write is never visible; delete anyway, so nothing can be left under the key.
    await store.delete(key).catch(() => undefined);
    if (err instanceof UploadTooLargeError) throw tooLarge(maxBytes);
    throw err;
  }
}

function grpcCode(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isGrpcServiceError(e)) return e.code;
  }
  return undefined;
}

function invalidUploadOf(err: unknown): ApplicationFailure | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ApplicationFailure && e.type === 'InvalidUpload') return e;
  }
  return undefined;
}

/** UploadProblem[] as the workflow sent it, kept to what the contract documents. */
function problemsOf(details: unknown): UploadProblem[] {
  if (!Array.isArray(details)) return [];
  return details.slice(0, MAX_INVALID_ROWS).map((p: unknown) => {
    const { line, reason } = (p ?? {}) as { line?: unknown; reason?: unknown };
    return { line: typeof line === 'number' && Number.isInteger(line) ? line : null, reason: typeof reason === 'string' ? reason : String(reason ?? 'invalid') };
  });
}

/**
 * Starts `workflowType` (under the API's call budget) and waits for its result without one: an
 * upload may take minutes. A failed run becomes `onFailure(err)`; Temporal unreachable, 503.
 */
async function execute<T>(
  access: TemporalAccess,
  start: (client: Client) => Promise<{ result(): Promise<T> }>,
  onFailure: (err: WorkflowFailedError) => HttpProblem,
): Promise<T> {
  const handle = await withTemporal(access, start);
  try {
    return await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw onFailure(err);
    const code = grpcCode(err);
    if (err instanceof TemporalUnavailableError || code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED) throw temporalUnavailable();
    throw err;
  }
}

/** Runs `customerUpload` for the stored file and waits for it: 422 for a rejected file. */
export function runUpload(access: TemporalAccess, input: UploadInput): Promise<UploadResult> {
  return execute(
    access,
    (client) =>
      client.workflow.start<typeof customerUpload>('customerUpload', {
        taskQueue: TASK_QUEUES.analysis,
        workflowId: uploadWorkflowId(input.customerId, input.name, input.uploadId),
        args: [input],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: [
          { key: DATASET, value: `upload.${input.name}` },
          { key: ZONE, value: 'personal' },
        ],
      }),
    (err) => {
      const invalid = invalidUploadOf(err);
      if (invalid) return new InvalidUploadProblem(invalid.message, problemsOf(invalid.details?.[0]));
      return new HttpProblem(500, 'the upload failed because of an internal error; try again later');
    },
  );
}

/** Runs `deleteCustomerDataset` and waits for it. */
export async function runDelete(access: TemporalAccess, customerId: string, name: string): Promise<void> {
  await execute(
    access,
    (client) =>
      client.workflow.start<typeof deleteCustomerDataset>('deleteCustomerDataset', {
        taskQueue: TASK_QUEUES.analysis,
        workflowId: datasetDeleteWorkflowId(customerId, name, newUploadId()),
        args: [{ customerId, name }],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: [
          { key: DATASET, value: `upload.${name}` },
          { key: ZONE, value: 'personal' },
        ],
      }),
    () => new HttpProblem(500, 'deleting the dataset failed because of an internal error; try again later'),
  );
}

/** Removes every uploaded file of the dataset from the lake store. */
export async function deleteUploads(store: ObjectStore, customerId: string, name: string): Promise<void> {
  const keys: string[] = [];
  for await (const o of store.list(uploadPrefix(customerId, name))) keys.push(o.key);
  for (const key of keys) await store.delete(key);
}

// ---- the warehouse side: which datasets the caller has ---------------------------------------

export interface DatasetView {
  name: string;
  rows: number;
  columns: { name: string; type: string }[];
  table: string;
  href: string;
}


/**
 * The caller's datasets (tables of their schema the caller may read, named as a table may be,
 * not analysis results) with columns and row counts, under the caller's role. `only`: just that one;
 * `counts: false` leaves `rows` at 0 (a mere existence check).
 */
export async function listDatasets(pool: pg.Pool, customer: Customer, options: { only?: string; counts?: boolean } = {}): Promise<DatasetView[]> {
  const { only, counts = true } = options;
  return withCustomerRole(pool, customer, async (client) => {
    // /v1/tables' catalog, less the analysis results.
    const found = (await catalog(client, customer.schema, only)).filter((t) => !t.name.startsWith(ANALYSIS_TABLE_PREFIX));
    const tables = new Map<string, DatasetView>(
      found.map((t) => [t.name, { name: t.name, rows: 0, columns: t.columns, table: t.name, href: datasetHref(t.name) }]),
    );
    for (const t of counts ? tables.values() : []) {
      const relation = `${pg.escapeIdentifier(customer.schema)}.${pg.escapeIdentifier(t.name)}`;
      const [count] = await apiQuery<{ n: string }>(client, `SELECT count(*)::text AS n FROM ${relation}`);
      t.rows = Number(count?.n ?? 0);
    }
    return [...tables.values()];
  });
}
