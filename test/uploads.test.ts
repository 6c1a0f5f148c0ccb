/**
 * Case 4's engine on real servers, with the lake on S3 (MinIO): an uploaded CSV becomes the
 * customer's Iceberg table and warehouse table with the types DuckDB inferred; a re-upload
 * replaces it (same columns, and other columns); malformed CSV and NDJSON are refused with
 * their line numbers and publish nothing; deleting a dataset removes it from both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { createCustomer, rotateCustomerKey, withCustomerRole, type Customer } from '../lib/warehouse/customers.ts';
import { startApi } from '../api/server.ts';
import { loadContract } from './helpers/openapi-check.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';
import { customerUpload, deleteCustomerDataset, uploadWorkflowId, type UploadFormat, type UploadResult } from '../workflows/upload.ts';
import { withSession } from './helpers/file-env.ts';
import { CURATED_SOURCE_A, ensureTables } from '../lib/lake/tables.ts';
import { analysisWorkflowId, customerAnalysis } from '../workflows/analysis.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';
import { configForTestServer, startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';
import { createTestDatabase, dropTestCustomer, type TestDatabase } from './helpers/warehouse-db.ts';

describe('customer uploads (engine, lake on MinIO)', () => {
  let lake: TestLake;
  let db: TestDatabase;
  let temporal: TemporalTestServer;
  let pool: pg.Pool;
  let customer: Customer;
  let n = 0;

  before(async () => {
    lake = await startTestLake({ storage: 's3' });
    db = await createTestDatabase(lake.config);
    pool = createPostgresPool(db.config);
    await ensurePostgresSchema(pool);
    customer = (await createCustomer(pool, `uploader ${db.name.slice(-8)}`)).customer;
    temporal = await startTemporalTestServer(db.config);
  });
  after(async () => {
    await temporal?.teardown();
    await dropTestCustomer(pool, customer);
    await pool?.end();
    await db?.drop();
    await lake?.stop();
  });

  async function upload(name: string, format: UploadFormat, body: string): Promise<UploadResult> {
    const uploadId = `u${++n}`;
    const key = `personal_area/${customer.id}/uploads/${name}/${uploadId}.${format}`;
    const s3 = createS3Client(db.config);
    try {
      await createLakeStore(db.config, s3).put(key, Buffer.from(body));
    } finally {
      s3.destroy();
    }
    return temporal.withWorker(() =>
      temporal.client.workflow.execute(customerUpload, {
        taskQueue: TASK_QUEUES.analysis,
        workflowId: uploadWorkflowId(customer.id, name, uploadId),
        args: [{ customerId: customer.id, name, uploadId, key, format }],
      }),
    );
  }

  const asCustomer = (sql: string) => withCustomerRole(pool, customer, async (c) => (await c.query(sql)).rows);
  const invalidUpload = (err: unknown): { message: string; problems: unknown } => {
    assert.ok(err instanceof WorkflowFailedError, String(err));
    const cause = (err.cause as { cause?: unknown })?.cause ?? err.cause;
    assert.ok(cause instanceof ApplicationFailure, String(cause));
    assert.equal(cause.type, 'InvalidUpload');
    return { message: cause.message, problems: cause.details?.[0] };
  };

  it('publishes a CSV as typed tables in the lake and the customer schema; a re-upload replaces it', async () => {
    const r = await upload('stores', 'csv', 'Store Id,City,Opened,Area m2\n1,Oslo,2020-01-05,120.5\n2,Lima,2021-06-30,80\n');
    assert.equal(r.rows, 2);
    assert.deepEqual(r.columns, [
      { name: 'store_id', type: 'BIGINT' },
      { name: 'city', type: 'VARCHAR' },
      { name: 'opened', type: 'DATE' },
      { name: 'area_m2', type: 'DOUBLE' },
    ]);
    assert.deepEqual(await asCustomer(`SELECT store_id, city, opened::text AS opened, area_m2 FROM ${customer.schema}.stores ORDER BY store_id`), [
      { store_id: '1', city: 'Oslo', opened: '2020-01-05', area_m2: 120.5 },
      { store_id: '2', city: 'Lima', opened: '2021-06-30', area_m2: 80 },
    ]);
    // Same columns: rows replaced in one commit.
    await upload('stores', 'csv', 'Store Id,City,Opened,Area m2\n3,Rome,2022-02-02,99\n');
    assert.deepEqual(await asCustomer(`SELECT store_id, city FROM ${customer.schema}.stores`), [{ store_id: '3', city: 'Rome' }]);
    // Other columns: the table takes the new shape.
    const reshaped = await upload('stores', 'ndjson', '{"code":"A","open":true}\n{"code":"B","open":false}\n');
    assert.deepEqual(reshaped.columns, [{ name: 'code', type: 'VARCHAR' }, { name: 'open', type: 'BOOLEAN' }]);
    assert.deepEqual(await asCustomer(`SELECT code, open FROM ${customer.schema}.stores ORDER BY code`), [{ code: 'A', open: true }, { code: 'B', open: false }]);
    const lakeRows = await withSession(db.config, (s) => s.rows(`SELECT code FROM lake.personal_${customer.id}.stores ORDER BY code`));
    assert.deepEqual(lakeRows, [{ code: 'A' }, { code: 'B' }]);
  });

  it('refuses malformed CSV and NDJSON with their line numbers and publishes nothing', async () => {
    await assert.rejects(upload('broken_csv', 'csv', 'a,b\n1,2\n3,4,5\n6,7\n'), (err) => {
      const { message, problems } = invalidUpload(err);
      assert.match(message, /^1 row of the CSV does not fit/);
      assert.equal((problems as { line: number }[])[0]?.line, 3);
      return true;
    });
    await assert.rejects(upload('broken_json', 'ndjson', '{"a":1}\n{"a":2}\n{"a":\n[1,2]\n'), (err) => {
      const { problems } = invalidUpload(err);
      assert.deepEqual(problems, [
        { line: 3, reason: 'not valid JSON' },
        { line: 4, reason: 'not a JSON object' },
      ]);
      return true;
    });
    const tables = await withSession(db.config, (s) =>
      s.rows<{ t: string }>(`SELECT table_name AS t FROM duckdb_tables() WHERE database_name = 'lake' AND schema_name = 'personal_${customer.id}' ORDER BY 1`),
    );
    assert.deepEqual(tables.map((t) => t.t), ['stores'], 'neither broken upload became a table');
    assert.deepEqual((await pool.query(`SELECT to_regclass('${customer.schema}.broken_csv') AS a, to_regclass('${customer.schema}.broken_json') AS b`)).rows, [{ a: null, b: null }]);
  });

  it('joins an uploaded dataset with source A (dataset_join), grouped by a column of the dataset', async () => {
    await upload('tiers', 'csv', 'customer_id,tier\nc1,gold\nc2,gold\nc3,silver\nc9,silver\n');
    await withSession(db.config, async (s) => {
      await ensureTables(s, [CURATED_SOURCE_A]);
      const ev = (id: string, c: string, amount: number) =>
        `('${id}', '${c}', 'r01', TIMESTAMPTZ '2024-05-01 12:00:00+00', ${amount}, 'EUR', 'web', 'phone', NULL, NULL, [], DATE '2024-05-01', DATE '2024-05-01', 'k')`;
      await s.run(`INSERT INTO lake.curated.source_a VALUES ${[ev('e1', 'c1', 10), ev('e2', 'c1', 20), ev('e3', 'c2', 5), ev('e4', 'c3', 1), ev('e5', 'c3', 1), ev('e6', 'c3', 1), ev('e7', 'c4', 100)].join(', ')}`);
    });
    const request = { type: 'dataset_join' as const, dataset: 'tiers', dataset_key: 'customer_id', source: 'source_a' as const, source_key: 'customer_id', group_by: 'tier', aggregates: ['rows' as const, 'customers' as const, 'amount_sum' as const] };
    const result = await temporal.withWorker(() =>
      temporal.client.workflow.execute(customerAnalysis, { taskQueue: TASK_QUEUES.analysis, workflowId: analysisWorkflowId(customer.id, 'j1'), args: [{ customerId: customer.id, analysisId: 'j1', request }] }),
    );
    assert.equal(result.rows, 2);
    // gold: c1 (10 + 20) and c2 (5); silver: c3 (3 × 1) — c9 has no events, c4 is in no tier.
    assert.deepEqual(await asCustomer(`SELECT tier, rows, customers, amount_sum FROM ${customer.schema}.analysis_j1 ORDER BY tier`), [
      { tier: 'gold', rows: '3', customers: '2', amount_sum: 35 },
      { tier: 'silver', rows: '3', customers: '1', amount_sum: 3 },
    ]);
    // A column the dataset lacks is the customer's mistake: refused with the reason, not retried.
    await assert.rejects(
      temporal.withWorker(() =>
        temporal.client.workflow.execute(customerAnalysis, {
          taskQueue: TASK_QUEUES.analysis,
          workflowId: analysisWorkflowId(customer.id, 'j2'),
          args: [{ customerId: customer.id, analysisId: 'j2', request: { ...request, group_by: 'tier_name' } }],
        }),
      ),
      (err) => {
        assert.ok(err instanceof WorkflowFailedError);
        assert.match(String(((err.cause as { cause?: Error })?.cause ?? err.cause)?.message), /group_by: dataset "tiers" has no column "tier_name"/);
        return true;
      },
    );
  });

  it('takes an upload end to end over HTTP: 201 with the typed columns, 422 with the bad lines, listed, deleted', async () => {
    const apiKey = await rotateCustomerKey(pool, customer.id);
    const api = await startApi(
      configForTestServer(db.config, temporal),
      { host: '127.0.0.1', port: 0, ensureSchema: false, log: () => undefined },
    );
    try {
      const contract = await loadContract(api.openapi);
      const call = async (method: string, path: string, body?: string, type?: string) => {
        const res = await fetch(`${api.url}${path}`, { method, headers: { authorization: `Bearer ${apiKey}`, ...(type ? { 'content-type': type } : {}) }, ...(body ? { body } : {}) });
        const bytes = Buffer.from(await res.arrayBuffer());
        return { status: res.status, json: contract.check({ method, path, status: res.status, headers: Object.fromEntries(res.headers), body: bytes }) as Record<string, unknown> };
      };
      await temporal.withWorker(async () => {
        const created = await call('PUT', '/v1/datasets/orders', 'order_id,amount\n1,9.5\n2,20\n', 'text/csv');
        assert.equal(created.status, 201, JSON.stringify(created.json));
        assert.deepEqual([created.json['rows'], created.json['columns']], [2, [{ name: 'order_id', type: 'BIGINT' }, { name: 'amount', type: 'DOUBLE' }]]);
        const bad = await call('PUT', '/v1/datasets/orders_bad', '{"a":1}\nnot json\n', 'application/x-ndjson');
        assert.equal(bad.status, 422);
        assert.deepEqual(bad.json['invalid_rows'], [{ line: 2, reason: 'not valid JSON' }]);
        const list = await call('GET', '/v1/datasets');
        const names = (list.json['datasets'] as { name: string }[]).map((d) => d.name);
        assert.ok(names.includes('orders') && !names.includes('orders_bad'), JSON.stringify(names));
        assert.equal((await call('DELETE', '/v1/datasets/orders')).status, 204);

        // dataset_join over HTTP on a dataset uploaded over HTTP (source A's events of the join case above).
        assert.equal((await call('PUT', '/v1/datasets/tiers_http', 'customer_id,tier\nc1,gold\nc2,gold\nc3,silver\n', 'text/csv')).status, 201);
        const join = { type: 'dataset_join', dataset: 'tiers_http', dataset_key: 'customer_id', source: 'source_a', source_key: 'customer_id', group_by: 'tier', aggregates: ['rows', 'customers', 'amount_sum'] };
        const started = await call('POST', '/v1/analyses', JSON.stringify(join), 'application/json');
        assert.equal(started.status, 202, JSON.stringify(started.json));
        let status = started.json;
        for (let i = 0; i < 300 && status['status'] !== 'succeeded' && status['status'] !== 'failed'; i++) {
          await new Promise((r) => setTimeout(r, 100));
          status = (await call('GET', `/v1/analyses/${String(started.json['id'])}`)).json;
        }
        assert.equal(status['status'], 'succeeded', JSON.stringify(status));
        const table = await call('GET', `/v1/tables/${(status['result'] as { table: string }).table}`);
        assert.deepEqual(
          (table.json['rows'] as Record<string, unknown>[]).map((r) => [r['tier'], r['rows'], r['customers'], r['amount_sum']]).sort(),
          [['gold', 3, 2, 35], ['silver', 3, 1, 3]],
        );
      });
      const s3 = createS3Client(db.config);
      try {
        const left: string[] = [];
        for await (const o of createLakeStore(db.config, s3).list(`personal_area/${customer.id}/uploads/orders`)) left.push(o.key);
        assert.deepEqual(left, [], 'neither the rejected nor the deleted upload left a file');
      } finally {
        s3.destroy();
      }
    } finally {
      await api.close();
    }
  });

  it('deletes a dataset from the lake and the warehouse', async () => {
    await upload('temp_data', 'csv', 'x\n1\n');
    await temporal.withWorker(() =>
      temporal.client.workflow.execute(deleteCustomerDataset, { taskQueue: TASK_QUEUES.analysis, workflowId: `delete:${customer.id}:temp_data`, args: [{ customerId: customer.id, name: 'temp_data' }] }),
    );
    assert.deepEqual((await pool.query(`SELECT to_regclass('${customer.schema}.temp_data') AS t`)).rows, [{ t: null }]);
    const left = await withSession(db.config, (s) =>
      s.rows(`SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake' AND schema_name = 'personal_${customer.id}' AND table_name = 'temp_data'`),
    );
    assert.deepEqual(left, []);
  });
});
