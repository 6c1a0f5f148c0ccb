/**
 * Case 3's engine on real servers (Temporal dev server, a lake of its own, PostgreSQL): a
 * region_trend analysis against values worked by hand, landing in the customer's personal
 * Iceberg namespace and in the customer's warehouse schema, readable by that customer's
 * role only; a bad region fails at once with the reason; a cancelled analysis leaves no
 * table behind in the lake or the warehouse.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import pg from 'pg';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { ensureTables } from '../lib/lake/tables.ts';
import { MARKET_TABLES } from '../lib/market/tables.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { createCustomer, withCustomerRole, type Customer } from '../lib/warehouse/customers.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';
import { WEATHER_TABLES } from '../lib/weather/tables.ts';
import { createActivities } from '../workers/activities.ts';
import { createWorkerDeps } from '../workers/deps.ts';
import { bundleWorkflows } from '../workers/worker.ts';
import { analysisWorkflowId, customerAnalysis, type AnalysisInput } from '../workflows/analysis.ts';
import { withSession } from './helpers/file-env.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';
import { startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';
import { createTestDatabase, type TestDatabase } from './helpers/warehouse-db.ts';

describe('customer analyses (engine)', () => {
  let lake: TestLake;
  let db: TestDatabase;
  let temporal: TemporalTestServer;
  let pool: pg.Pool;
  let customer: Customer;
  let other: Customer;

  before(async () => {
    lake = await startTestLake();
    db = await createTestDatabase(lake.config);
    pool = createPostgresPool(db.config);
    await ensurePostgresSchema(pool);
    const suffix = db.name.slice(-8);
    customer = (await createCustomer(pool, `analyst ${suffix}`)).customer;
    other = (await createCustomer(pool, `other ${suffix}`)).customer;
    const s = await openLakeSession(lake.config);
    try {
      await ensureTables(s, [...WEATHER_TABLES, ...MARKET_TABLES]);
      await s.run(`INSERT INTO lake.operational.regions VALUES ('r01', 'Oslo', 59.9, 10.7, 'NO', 'Europe/Oslo', '{}', 'config', now())`);
      // January: temperatures 1 and 3 (avg 2), volume 10 + 30; February: 5, volume 20; March: 7, no trading.
      await s.run(`INSERT INTO lake.operational.weather_daily VALUES
        ('r01', DATE '2024-01-01', 1, 0, 2, 0.5, 1, 1, 50, 24), ('r01', DATE '2024-01-02', 3, 2, 4, 0.25, 1, 1, 50, 24),
        ('r01', DATE '2024-02-01', 5, 4, 6, 0, 1, 1, 50, 24), ('r01', DATE '2024-03-01', 7, 6, 8, 0, 1, 1, 50, 24),
        ('r01', DATE '2024-04-01', 9, 8, 10, 0, 1, 1, 50, 24)`);
      await s.run(`INSERT INTO lake.operational.market_daily VALUES
        ('r01', DATE '2024-01-01', 5, 1, 10, 1, 1, 1.0), ('r01', DATE '2024-01-15', 7, 1, 30, 1, 1, 3.0), ('r01', DATE '2024-02-10', 2, 1, 20, 1, 1, 2.0)`);
    } finally {
      s.close();
    }
    temporal = await startTemporalTestServer(db.config);
  });
  after(async () => {
    await temporal?.teardown();
    for (const c of [customer, other]) {
      if (!c) continue;
      await pool.query(`DROP SCHEMA IF EXISTS ${c.schema} CASCADE`);
      await pool.query(`DROP OWNED BY ${c.role}`);
      await pool.query(`DROP ROLE IF EXISTS ${c.role}`);
    }
    await pool?.end();
    await db?.drop();
    await lake?.stop();
  });

  const input = (analysisId: string, over: Partial<AnalysisInput['request']> = {}): AnalysisInput => ({
    customerId: customer.id,
    analysisId,
    request: { type: 'region_trend', region_id: 'r01', from: '2024-01-01', to: '2024-03-31', bucket: 'month', ...over },
  });

  it('computes region_trend by month into the lake and the customer schema, readable by that customer only', async () => {
    const result = await temporal.withWorker(() =>
      temporal.client.workflow.execute(customerAnalysis, { taskQueue: TASK_QUEUES.analysis, workflowId: analysisWorkflowId(customer.id, 'a1'), args: [input('a1')] }),
    );
    assert.deepEqual(result, { table: 'analysis_a1', lakeTable: `personal_${customer.id}.analysis_a1`, rows: 3 });
    const expected = [
      // corr over the months with both series: (2, 40) and (5, 20) → exactly -1.
      { bucket_start: '2024-01-01', temperature_avg: 2, weather_days: 2, market_volume: 40, market_events: '12', market_interest_avg: 2, market_days: 2, temperature_volume_correlation: -1 },
      { bucket_start: '2024-02-01', temperature_avg: 5, weather_days: 1, market_volume: 20, market_events: '2', market_interest_avg: 2, market_days: 1, temperature_volume_correlation: -1 },
      { bucket_start: '2024-03-01', temperature_avg: 7, weather_days: 1, market_volume: null, market_events: null, market_interest_avg: null, market_days: 0, temperature_volume_correlation: -1 },
    ];
    const cols = 'bucket_start, temperature_avg, weather_days, market_volume, market_events, market_interest_avg, market_days, temperature_volume_correlation';
    const lakeRows = await withSession(lake.config, (s) =>
      s.rows(`SELECT ${cols.replace('bucket_start', 'CAST(bucket_start AS VARCHAR) AS bucket_start')} FROM lake.personal_${customer.id}.analysis_a1 ORDER BY bucket_start`),
    );
    assert.deepEqual(lakeRows, expected);
    const own = await withCustomerRole(pool, customer, async (c) =>
      (await c.query(`SELECT ${cols.replace('bucket_start', 'bucket_start::text')} FROM ${customer.schema}.analysis_a1 ORDER BY bucket_start`)).rows,
    );
    assert.deepEqual(own, expected);
    await assert.rejects(
      withCustomerRole(pool, other, (c) => c.query(`SELECT * FROM ${customer.schema}.analysis_a1`)),
      /permission denied/,
      "another customer's role cannot read it",
    );

    // The same analysis again replaces its result instead of adding to it.
    const again = await temporal.withWorker(() =>
      temporal.client.workflow.execute(customerAnalysis, { taskQueue: TASK_QUEUES.analysis, workflowId: `${analysisWorkflowId(customer.id, 'a1')}:again`, args: [input('a1')] }),
    );
    assert.equal(again.rows, 3);
    assert.deepEqual((await pool.query(`SELECT count(*)::int AS n FROM ${customer.schema}.analysis_a1`)).rows, [{ n: 3 }]);
  });

  it('fails at once, with the reason, for a region that does not exist', async () => {
    await assert.rejects(
      temporal.withWorker(() =>
        temporal.client.workflow.execute(customerAnalysis, {
          taskQueue: TASK_QUEUES.analysis,
          workflowId: analysisWorkflowId(customer.id, 'bad'),
          args: [input('bad', { region_id: 'r99' })],
        }),
      ),
      (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError);
        const cause = (err.cause as { cause?: Error })?.cause ?? err.cause;
        assert.match(String(cause?.message), /unknown region "r99"/);
        return true;
      },
    );
  });

  it('a cancelled analysis leaves no table in the lake or the warehouse', async () => {
    const deps = createWorkerDeps(db.config);
    let loading!: () => void;
    const reachedLoad = new Promise<void>((r) => (loading = r));
    const activities = {
      ...createActivities(deps),
      // The real compute has written the lake table; the load hangs (heartbeating) until cancelled.
      async loadAnalysisResult(): Promise<never> {
        loading();
        const ctx = Context.current();
        for (;;) {
          ctx.heartbeat();
          await Promise.race([sleep(200), ctx.cancelled]);
        }
      },
    };
    const worker = await Worker.create({
      connection: temporal.env.nativeConnection,
      namespace: temporal.env.namespace ?? 'default',
      taskQueue: TASK_QUEUES.analysis,
      workflowBundle: await bundleWorkflows(),
      activities,
    });
    const workflowId = analysisWorkflowId(customer.id, 'c1');
    // A stale warehouse table of the same name, as a crashed earlier attempt could leave.
    await pool.query(`CREATE TABLE ${customer.schema}.analysis_c1 (x int)`);
    const outcome = worker.runUntil(async () => {
      const handle = await temporal.client.workflow.start(customerAnalysis, { taskQueue: TASK_QUEUES.analysis, workflowId, args: [input('c1')] });
      await reachedLoad;
      await handle.cancel();
      await assert.rejects(handle.result(), /cancel/i);
    });
    try {
      await outcome;
    } finally {
      await deps.close();
    }
    const lakeTables = await withSession(lake.config, (s) =>
      s.rows<{ n: string }>(`SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = 'lake' AND schema_name = 'personal_${customer.id}' AND table_name = 'analysis_c1'`),
    );
    assert.deepEqual(lakeTables, [{ n: '0' }], 'the lake table the compute wrote is gone');
    assert.deepEqual((await pool.query('SELECT to_regclass($1) AS t', [`${customer.schema}.analysis_c1`])).rows, [{ t: null }], 'no warehouse table either');
  });
});
