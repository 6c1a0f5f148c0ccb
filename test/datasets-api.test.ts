/**
 * The datasets endpoints (case 4) against a Temporal test server, a PostgreSQL database of their
 * own and a local lake store in a temp folder: the real API, the real `customerUpload` and
 * `deleteCustomerDataset` workflows bundled from workflows/index.ts, and a worker on the analysis
 * queue whose upload activities the test controls (they read the uploaded file from the store,
 * create or drop the table in the customer's schema directly, and reject files by name). This
 * tests the API–workflow contract and the streaming into the store, not the lake SQL. Every
 * response is checked against the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import pg from 'pg';
import type { UploadActivities } from '../activities/upload.ts';
import { createApp } from '../api/app.ts';
import { RegionCache } from '../api/region-cache.ts';
import { startApi, type ApiServer } from '../api/server.ts';
import { lazyTemporal } from '../api/temporal.ts';
import { createPostgresPool, postgresClientConfig } from '../lib/clients/postgres.ts';
import { loadConfig, type Config } from '../lib/config.ts';
import { createLocalStore } from '../lib/storage/local-store.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { createCustomer, type Customer } from '../lib/warehouse/customers.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';
import { bundleWorkflows } from '../workers/worker.ts';
import type { UploadInput } from '../workflows/upload.ts';
import { loadContract, type Contract } from './helpers/openapi-check.ts';
import { configForTestServer, startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';
import { createTestDatabase, type TestDatabase } from './helpers/warehouse-db.ts';

const MAX_BYTES = 64 * 1024;
const run = randomBytes(4).toString('hex');

let lakeRoot: string;
let db: TestDatabase;
let admin: pg.Pool;
let temporal: TemporalTestServer;
let apiConfig: Config;
let server: ApiServer;
let contract: Contract;
let worker: Worker;
let workerRunning: Promise<void> | undefined;
let store: ObjectStore;
let customerA: Customer;
let customerB: Customer;
let keyA: string;
let keyB: string;
const logged: string[] = [];

// ---- activities the test controls, by the dataset's name -------------------------------------
//   bad…   rejected as InvalidUpload (2 malformed rows);   boom…  fails as an internal error;
//   else   a table `<name>` (n bigint) with as many rows as the file has non-empty lines (less a CSV header).

const published: { input: UploadInput; bytes: Buffer }[] = [];
const dropped: { customerId: string; name: string }[] = [];
const rowsByTable = new Map<string, number>();

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

const schemaOf = (customerId: string): string => `customer_${customerId}`;
const roleOf = (customerId: string): string => (customerId === customerA.id ? customerA.role : customerB.role);

const fakeActivities = {
  async publishUpload(input: UploadInput) {
    const bytes = await readAll(await store.get(input.key));
    published.push({ input, bytes });
    if (input.name.startsWith('bad')) {
      throw ApplicationFailure.nonRetryable('2 rows are malformed', 'InvalidUpload', [
        { line: 3, reason: 'expected 2 fields, found 3' },
        { line: null, reason: 'the file ends inside a quoted field' },
      ]);
    }
    if (input.name.startsWith('boom')) throw ApplicationFailure.nonRetryable('disk full', 'Boom');
    const lines = bytes.toString('utf8').split('\n').filter((l) => l !== '').length;
    const rows = input.format === 'csv' ? lines - 1 : lines;
    rowsByTable.set(`${input.customerId}.${input.name}`, rows);
    return { name: input.name, lakeTable: `personal_${input.customerId}.${input.name}`, rows, columns: [{ name: 'n', type: 'BIGINT' }] };
  },
  async loadUpload({ customerId, name }: { customerId: string; name: string; loadId: string }) {
    const table = `${pg.escapeIdentifier(schemaOf(customerId))}.${pg.escapeIdentifier(name)}`;
    const rows = rowsByTable.get(`${customerId}.${name}`) ?? 0;
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.query(`CREATE TABLE ${table} (n bigint)`);
    await admin.query(`INSERT INTO ${table} SELECT generate_series(1, $1::int)`, [rows]);
    await admin.query(`GRANT SELECT ON ${table} TO ${pg.escapeIdentifier(roleOf(customerId))}`);
    return { table: name, rows, replaced: 0, ms: 1 };
  },
  async dropUpload({ customerId, name }: { customerId: string; name: string }) {
    dropped.push({ customerId, name });
    await admin.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(schemaOf(customerId))}.${pg.escapeIdentifier(name)}`);
  },
};

// ---- requests ---------------------------------------------------------------------------------

interface Res {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  readonly json: any;
}

interface CallOptions {
  readonly method?: string;
  readonly key?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer | string;
  /** Send the body in chunks without Content-Length (Transfer-Encoding: chunked). */
  readonly chunked?: boolean;
}

/** One request with the raw path as given, checked against the contract. */
function call(baseUrl: string, requestPath: string, options: CallOptions = {}): Promise<Res> {
  const url = new URL(baseUrl);
  const method = options.method ?? 'GET';
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string> = {
    ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
    ...(body !== undefined && !options.chunked ? { 'content-length': String(body.length) } : {}),
    ...options.headers,
  };
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request({ host: url.hostname, port: url.port, path: requestPath, method, headers }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        try {
          const parsed = contract.check({ method, path: requestPath, status: res.statusCode ?? 0, headers: res.headers, body: raw });
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: raw.toString('utf8'), json: parsed });
        } catch (err) {
          reject(err);
        }
      });
    });
    // A server that answers 413 before reading the rest may close while we still write: the answer counts.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    if (body !== undefined && options.chunked) {
      for (let at = 0; at < body.length; at += 8192) req.write(body.subarray(at, at + 8192));
      req.end();
    } else req.end(body);
  });
}

const api = (p: string, options: CallOptions = {}): Promise<Res> => call(server.url, p, options);

const upload = (name: string, body: Buffer | string, contentType = 'text/csv', key = keyA, extra: Partial<CallOptions> = {}): Promise<Res> =>
  api(`/v1/datasets/${name}`, { method: 'PUT', key, body, headers: { 'content-type': contentType }, ...extra });

function assertProblem(res: Res, status: number, invalid?: string[]): void {
  assert.equal(res.status, status, res.text);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  if (invalid) assert.deepEqual(res.json.invalid_params.map((p: { name: string }) => p.name).sort(), [...invalid].sort(), res.text);
}

async function keysUnder(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

/** In-flight writes of the local store: none may be left after any request. */
async function tempFiles(): Promise<string[]> {
  return readdir(path.join(lakeRoot, '.tmp')).catch(() => []);
}

async function uploadRuns(customer: Customer, name: string): Promise<number> {
  let n = 0;
  for await (const _ of temporal.client.workflow.list({ query: `WorkflowId STARTS_WITH 'upload:${customer.id}:${name}:'` })) n++;
  return n;
}

const csv = (n: number): string => `n\n${Array.from({ length: n }, (_, i) => String(i + 1)).join('\n')}\n`;

before(async () => {
  lakeRoot = await mkdtemp(path.join(os.tmpdir(), 'tempolake-datasets-'));
  const base = loadConfig({ ...process.env, API_RATE_LIMIT_PER_MINUTE: '100000', LAKE_STORAGE: 'local', LAKE_LOCAL_ROOT: lakeRoot, UPLOAD_MAX_BYTES: String(MAX_BYTES) });
  store = createLocalStore(lakeRoot);
  db = await createTestDatabase(base);
  admin = createPostgresPool(db.config);
  await ensurePostgresSchema(admin);
  ({ customer: customerA, apiKey: keyA } = await createCustomer(admin, `dsapi ${run} a`));
  ({ customer: customerB, apiKey: keyB } = await createCustomer(admin, `dsapi ${run} b`));
  temporal = await startTemporalTestServer(db.config);
  apiConfig = configForTestServer(db.config, temporal);
  server = await startApi(apiConfig, { host: '127.0.0.1', port: 0, log: (l) => logged.push(l) });
  contract = await loadContract(server.openapi);
  worker = await Worker.create({
    connection: temporal.env.nativeConnection,
    namespace: temporal.env.namespace ?? 'default',
    taskQueue: TASK_QUEUES.analysis,
    workflowBundle: await bundleWorkflows(),
    activities: fakeActivities as unknown as UploadActivities,
    shutdownGraceTime: '2s',
  });
  workerRunning = worker.run();
});

after(async () => {
  if (workerRunning) {
    worker.shutdown();
    await workerRunning.catch(() => undefined);
  }
  await server?.close();
  await temporal?.teardown();
  await admin?.end();
  await db?.drop();
  const c = new pg.Client(postgresClientConfig(db.config, 'postgres'));
  await c.connect();
  try {
    for (const customer of [customerA, customerB]) if (customer) await c.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(customer.role)}`);
  } finally {
    await c.end();
  }
  if (lakeRoot) await rm(lakeRoot, { recursive: true, force: true });
});

describe('datasets: uploading', () => {
  it('creates a dataset with 201, the file byte-identical in the store at the key the workflow got', async () => {
    const body = csv(3);
    const res = await upload('orders', body);
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.json, { name: 'orders', rows: 3, columns: [{ name: 'n', type: 'BIGINT' }], table: 'orders', href: '/v1/tables/orders' });
    assert.equal(res.headers['cache-control'], 'no-store');

    const last = published.at(-1);
    assert.ok(last);
    const { input, bytes } = last;
    assert.equal(input.customerId, customerA.id);
    assert.equal(input.name, 'orders');
    assert.equal(input.format, 'csv');
    assert.match(input.uploadId, /^[0-9a-f]{16}$/);
    assert.equal(input.key, `personal_area/${customerA.id}/uploads/orders/${input.uploadId}.csv`);
    assert.ok(bytes.equals(Buffer.from(body)), 'the workflow read the bytes as sent');
    assert.ok((await readAll(await store.get(input.key))).equals(Buffer.from(body)), 'and they stay in the store');
    assert.deepEqual(await tempFiles(), []);

    const tables = await api('/v1/tables', { key: keyA });
    assert.equal(tables.status, 200, tables.text);
    assert.ok(tables.json.tables.some((t: { name: string }) => t.name === 'orders'));
  });

  it('replaces it with 200 on a re-upload (here NDJSON, sent chunked)', async () => {
    const body = '{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n{"n":5}\n';
    const res = await upload('orders', body, 'application/x-ndjson; charset=utf-8', keyA, { chunked: true });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.rows, 5);
    const { input, bytes } = published.at(-1) as { input: UploadInput; bytes: Buffer };
    assert.equal(input.format, 'ndjson');
    assert.match(input.key, new RegExp(`^personal_area/${customerA.id}/uploads/orders/[0-9a-f]{16}\\.ndjson$`));
    assert.ok(bytes.equals(Buffer.from(body)));
  });

  it('takes Parquet by its media type, and a body of exactly the limit', async () => {
    const body = randomBytes(MAX_BYTES);
    const res = await upload('blob_pq', body, 'application/vnd.apache.parquet');
    assert.equal(res.status, 201, res.text);
    const { input, bytes } = published.at(-1) as { input: UploadInput; bytes: Buffer };
    assert.equal(input.format, 'parquet');
    assert.ok(input.key.endsWith('.parquet'));
    assert.ok(bytes.equals(body), 'binary bytes arrive unchanged');
  });

  for (const chunked of [false, true]) {
    it(`answers 413 to a body over the limit ${chunked ? 'sent chunked (no Content-Length)' : 'declaring its Content-Length'}; nothing is stored, no workflow runs`, async () => {
      const before = published.length;
      const name = chunked ? 'big_chunked' : 'big_declared';
      const res = await upload(name, randomBytes(MAX_BYTES * 2), 'text/csv', keyA, { chunked });
      assertProblem(res, 413);
      assert.match(res.json.detail, new RegExp(String(MAX_BYTES)));
      assert.equal(published.length, before);
      assert.deepEqual(await keysUnder(`personal_area/${customerA.id}/uploads/${name}/`), []);
      assert.deepEqual(await tempFiles(), []);
      assert.equal(await uploadRuns(customerA, name), 0);
    });
  }

  it('answers 413 to one byte over the limit, sent chunked', async () => {
    const res = await upload('big_by_one', randomBytes(MAX_BYTES + 1), 'text/csv', keyA, { chunked: true });
    assertProblem(res, 413);
    assert.deepEqual(await keysUnder(`personal_area/${customerA.id}/uploads/big_by_one/`), []);
    assert.deepEqual(await tempFiles(), []);
  });

  it('answers 422 with invalid_rows to a file the workflow rejects; the file is deleted again', async () => {
    const res = await upload('bad_rows', 'a,b\n1,2\n3,4,5\n"x\n');
    assertProblem(res, 422);
    assert.equal(res.json.detail, '2 rows are malformed');
    assert.deepEqual(res.json.invalid_rows, [
      { line: 3, reason: 'expected 2 fields, found 3' },
      { line: null, reason: 'the file ends inside a quoted field' },
    ]);
    assert.equal(published.at(-1)?.input.name, 'bad_rows', 'the workflow did see the file');
    assert.deepEqual(await keysUnder(`personal_area/${customerA.id}/uploads/bad_rows/`), []);
    const list = await api('/v1/datasets', { key: keyA });
    assert.ok(!list.json.datasets.some((d: { name: string }) => d.name === 'bad_rows'));
  });

  it('answers 500 when the workflow fails otherwise; the file is deleted again', async () => {
    const res = await upload('boom', csv(1));
    assertProblem(res, 500);
    assert.doesNotMatch(res.json.detail, /disk full/, 'internal errors are not detailed');
    assert.deepEqual(await keysUnder(`personal_area/${customerA.id}/uploads/boom/`), []);
    assert.ok(logged.some((l) => /PUT \/v1\/datasets\/boom → 500/.test(l)));
  });

  it('answers 415 to any other Content-Type, or none', async () => {
    for (const type of ['application/json', 'text/plain', 'application/octet-stream']) {
      const res = await upload('orders', type === 'application/json' ? '{"n":1}' : 'n\n1\n', type);
      assertProblem(res, 415);
    }
    assertProblem(await api('/v1/datasets/orders', { method: 'PUT', key: keyA, body: 'n\n1\n' }), 415);
  });

  it('answers 400 naming `name` to a name that cannot be a dataset', async () => {
    for (const name of ['analysis_x', '..%2Fx', 'A', '1abc', 'a-b', 'x'.repeat(64)]) {
      const res = await upload(name, 'n\n1\n');
      assertProblem(res, 400, ['name']);
      assert.equal(res.json.invalid_params[0].in, 'path');
    }
    assert.deepEqual(await keysUnder(`personal_area/${customerA.id}/uploads/analysis_x/`), []);
  });

  it('needs an API key', async () => {
    assertProblem(await upload('orders', 'n\n1\n', 'text/csv', ''), 401);
  });

  it('answers 405 to PUT on the list and POST on a dataset', async () => {
    const list = await api('/v1/datasets', { method: 'PUT', key: keyA, body: 'n\n', headers: { 'content-type': 'text/csv' } });
    assertProblem(list, 405);
    assert.equal(list.headers.allow, 'GET, HEAD');
    const one = await api('/v1/datasets/orders', { method: 'POST', key: keyA });
    assertProblem(one, 405);
    assert.equal(one.headers.allow, 'PUT, DELETE');
  });
});

describe('datasets: listing and deleting', () => {
  it('lists the caller’s datasets with columns and row counts, not analysis results', async () => {
    // An analysis result in A's schema is a table, not a dataset.
    const result = `${pg.escapeIdentifier(customerA.schema)}.analysis_0123456789abcdef`;
    await admin.query(`CREATE TABLE ${result} (x int)`);
    await admin.query(`GRANT SELECT ON ${result} TO ${pg.escapeIdentifier(customerA.role)}`);
    const res = await api('/v1/datasets', { key: keyA });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    const blobRows = rowsByTable.get(`${customerA.id}.blob_pq`);
    assert.ok(blobRows !== undefined);
    assert.deepEqual(res.json.datasets, [
      { name: 'blob_pq', rows: blobRows, columns: [{ name: 'n', type: 'bigint' }], table: 'blob_pq', href: '/v1/tables/blob_pq' },
      { name: 'orders', rows: 5, columns: [{ name: 'n', type: 'bigint' }], table: 'orders', href: '/v1/tables/orders' },
    ]);
    const tables = await api('/v1/tables', { key: keyA });
    assert.ok(tables.json.tables.some((t: { name: string }) => t.name === 'analysis_0123456789abcdef'), 'while /v1/tables lists it');
  });

  it('shows customer B none of A’s datasets, and B cannot delete them (404)', async () => {
    const list = await api('/v1/datasets', { key: keyB });
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.datasets, []);
    assertProblem(await api('/v1/datasets/orders', { method: 'DELETE', key: keyB }), 404);
    assert.ok(!dropped.some((d) => d.name === 'orders'), 'no delete workflow ran');
    const stillThere = await api('/v1/datasets', { key: keyA });
    assert.ok(stillThere.json.datasets.some((d: { name: string }) => d.name === 'orders'));
  });

  it('answers 404 to DELETE of an analysis result, a malformed name or an unknown dataset', async () => {
    for (const name of ['analysis_0123456789abcdef', 'A', '..%2Fx', 'nope']) {
      assertProblem(await api(`/v1/datasets/${name}`, { method: 'DELETE', key: keyA }), 404);
    }
    assert.equal(dropped.length, 0);
  });

  it('deletes one with 204 (table and uploaded files gone), then 404', async () => {
    assert.ok((await keysUnder(`personal_area/${customerA.id}/uploads/orders/`)).length >= 2, 'both uploads of orders are in the store');
    const res = await api('/v1/datasets/orders', { method: 'DELETE', key: keyA });
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, '');
    assert.deepEqual(dropped, [{ customerId: customerA.id, name: 'orders' }]);
    assert.deepEqual(await keysUnder(`personal_area/${customerA.id}/uploads/orders/`), []);
    const list = await api('/v1/datasets', { key: keyA });
    assert.deepEqual(list.json.datasets.map((d: { name: string }) => d.name), ['blob_pq']);
    assertProblem(await api('/v1/tables/orders', { key: keyA }), 404);
    assertProblem(await api('/v1/datasets/orders', { method: 'DELETE', key: keyA }), 404);
  });

  it('uploads again after a delete with 201', async () => {
    const res = await upload('orders', csv(2));
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.rows, 2);
  });
});

describe('datasets: Temporal down', () => {
  it('answers 503 to an upload and leaves nothing in the store', async () => {
    const pool = createPostgresPool(db.config);
    const down = lazyTemporal({ ...apiConfig, temporalAddress: { host: '127.0.0.1', port: 1 } }, { connectTimeoutMs: 1_000 });
    const { app, close } = createApp({ config: apiConfig, pool, temporal: down, regions: new RegionCache(pool), store, log: () => undefined });
    const s = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((r) => s.once('listening', r));
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    try {
      const res = await call(url, '/v1/datasets/down_ds', { method: 'PUT', key: keyA, body: csv(2), headers: { 'content-type': 'text/csv' } });
      assertProblem(res, 503);
      assert.equal(res.headers['retry-after'], '5');
      assert.deepEqual(await keysUnder(`personal_area/${customerA.id}/uploads/down_ds/`), []);
      const del = await call(url, '/v1/datasets/orders', { method: 'DELETE', key: keyA });
      assertProblem(del, 503);
      assert.ok((await keysUnder(`personal_area/${customerA.id}/uploads/orders/`)).length > 0, 'a failed delete removes no file');
    } finally {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
      close();
      await down.close();
      await pool.end();
    }
  });

  it('logged no server error but the one provoked', () => {
    assert.deepEqual(logged.filter((l) => /→ 5\d\d|failed mid-response/.test(l) && !/datasets\/boom/.test(l)), []);
  });
});
