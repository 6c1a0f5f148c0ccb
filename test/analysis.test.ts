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
import { CURATED_SOURCE_A, CURATED_SOURCE_B, ensureTables } from '../lib/lake/tables.ts';
import { MARKET_TABLES } from '../lib/market/tables.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { createCustomer, rotateCustomerKey, withCustomerRole, type Customer } from '../lib/warehouse/customers.ts';
import { startApi } from '../api/server.ts';
import { loadContract } from './helpers/openapi-check.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';
import { WEATHER_TABLES } from '../lib/weather/tables.ts';
import { createActivities } from '../workers/activities.ts';
import { createWorkerDeps } from '../workers/deps.ts';
import { bundleWorkflows } from '../workers/worker.ts';
import { analysisWorkflowId, customerAnalysis, type AnalysisInput } from '../workflows/analysis.ts';
import { withSession } from './helpers/file-env.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';
import { configForTestServer, startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';
import { createTestDatabase, dropTestCustomer, type TestDatabase } from './helpers/warehouse-db.ts';

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
      await ensureTables(s, [...WEATHER_TABLES, ...MARKET_TABLES, CURATED_SOURCE_A, CURATED_SOURCE_B]);
      await s.run(`INSERT INTO lake.operational.regions VALUES ('r01', 'Oslo', 59.9, 10.7, 'NO', 'Europe/Oslo', '{}', 'config', now())`);
      // January: temperatures 1 and 3 (avg 2), volume 10 + 30; February: 5, volume 20; March: 7, no trading.
      await s.run(`INSERT INTO lake.operational.weather_daily VALUES
        ('r01', DATE '2024-01-01', 1, 0, 2, 0.5, 1, 1, 50, 24), ('r01', DATE '2024-01-02', 3, 2, 4, 0.25, 1, 1, 50, 24),
        ('r01', DATE '2024-02-01', 5, 4, 6, 0, 1, 1, 50, 24), ('r01', DATE '2024-03-01', 7, 6, 8, 0, 1, 1, 50, 24),
        ('r01', DATE '2024-04-01', 9, 8, 10, 0, 1, 1, 50, 24)`);
      await s.run(`INSERT INTO lake.operational.market_daily VALUES
        ('r01', DATE '2024-01-01', 5, 1, 10, 1, 1, 1.0), ('r01', DATE '2024-01-15', 7, 1, 30, 1, 1, 3.0), ('r01', DATE '2024-02-10', 2, 1, 20, 1, 1, 2.0)`);
      // May 1-4: rain (precipitation_sum > 1) on the 2nd and 4th only.
      await s.run(`INSERT INTO lake.operational.weather_daily VALUES
        ('r01', DATE '2024-05-01', 10, 8, 12, 0, 1, 1, 50, 24), ('r01', DATE '2024-05-02', 10, 8, 12, 5, 1, 1, 50, 24),
        ('r01', DATE '2024-05-03', 10, 8, 12, 0, 1, 1, 50, 24), ('r01', DATE '2024-05-04', 10, 8, 12, 8, 1, 1, 50, 24)`);
      // c1: 2 events (10 each) on dry days, 4 (5 each) on rainy days → events/day 4 vs 2: +100 %.
      // c2: one event a day → no change. c3: one event on a rainy day only → no baseline.
      // c4: as c1 but in another region → not counted.
      const ev = (id: string, customer: string, region: string, day: string, amount: number): string =>
        `('${id}', '${customer}', '${region}', TIMESTAMPTZ '${day} 12:00:00+00', ${amount}, 'EUR', 'web', 'phone', NULL, NULL, [], DATE '${day}', DATE '${day}', 'k')`;
      const events: string[] = [];
      for (const [day, n, amount] of [['2024-05-01', 2, 10], ['2024-05-02', 4, 5], ['2024-05-03', 2, 10], ['2024-05-04', 4, 5]] as const) {
        for (let i = 0; i < n; i++) {
          events.push(ev(`c1-${day}-${i}`, 'c1', 'r01', day, amount));
          events.push(ev(`c4-${day}-${i}`, 'c4', 'r02', day, amount));
        }
        events.push(ev(`c2-${day}`, 'c2', 'r01', day, 1));
      }
      events.push(ev('c3-1', 'c3', 'r01', '2024-05-02', 7));
      await s.run(`INSERT INTO lake.curated.source_a VALUES ${events.join(', ')}`);
      // c1's attributes changed: the latest row (gold) wins.
      await s.run(`INSERT INTO lake.curated.source_b VALUES
        ('c1', 'Ann', 'ann@x', 'r01', 'silver', DATE '2020-01-01', TIMESTAMPTZ '2023-01-01 00:00:00+00', DATE '2023-01-01', DATE '2023-01-01', 'k', 1),
        ('c1', 'Ann', 'ann@x', 'r01', 'gold', DATE '2020-01-01', TIMESTAMPTZ '2024-01-01 00:00:00+00', DATE '2024-01-01', DATE '2024-01-01', 'k', 1),
        ('c2', 'Bob', 'bob@x', 'r01', 'bronze', DATE '2021-01-01', TIMESTAMPTZ '2024-01-01 00:00:00+00', DATE '2024-01-01', DATE '2024-01-01', 'k', 2)`);
    } finally {
      s.close();
    }
    temporal = await startTemporalTestServer(db.config);
  });
  after(async () => {
    await temporal?.teardown();
    for (const c of [customer, other]) await dropTestCustomer(pool, c);
    await pool?.end();
    await db?.drop();
    await lake?.stop();
  });

  const input = (analysisId: string, over: Partial<Extract<AnalysisInput['request'], { type: 'region_trend' }>> = {}): AnalysisInput => ({
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

  it('computes region_trend for every region when none is named, each region its own series and correlation', async () => {
    await withSession(lake.config, async (s) => {
      // r09: January temperature 10, volume 5; February 20, volume 15 → corr +1 (r01's stays -1).
      // A market-only region r08 gets a series of its own with no weather.
      await s.run(`INSERT INTO lake.operational.weather_daily VALUES
        ('r09', DATE '2024-01-03', 10, 9, 11, 0, 1, 1, 50, 24), ('r09', DATE '2024-02-03', 20, 19, 21, 0, 1, 1, 50, 24)`);
      await s.run(`INSERT INTO lake.operational.market_daily VALUES
        ('r09', DATE '2024-01-03', 1, 1, 5, 1, 1, 1.0), ('r09', DATE '2024-02-03', 1, 1, 15, 1, 1, 1.0), ('r08', DATE '2024-03-03', 4, 1, 8, 1, 1, 1.0)`);
    });
    const { region_id: _omitted, ...everyRegion } = input('all1').request as Extract<AnalysisInput['request'], { type: 'region_trend' }>;
    const result = await temporal.withWorker(() =>
      temporal.client.workflow.execute(customerAnalysis, {
        taskQueue: TASK_QUEUES.analysis,
        workflowId: analysisWorkflowId(customer.id, 'all1'),
        args: [{ customerId: customer.id, analysisId: 'all1', request: everyRegion }],
      }),
    );
    assert.equal(result.rows, 3 + 2 + 1);
    const rows = await withCustomerRole(pool, customer, async (c) =>
      (await c.query(`SELECT region_id, bucket_start::text, temperature_avg, market_volume, temperature_volume_correlation
        FROM ${customer.schema}.analysis_all1 ORDER BY region_id, bucket_start`)).rows,
    );
    assert.deepEqual(rows, [
      { region_id: 'r01', bucket_start: '2024-01-01', temperature_avg: 2, market_volume: 40, temperature_volume_correlation: -1 },
      { region_id: 'r01', bucket_start: '2024-02-01', temperature_avg: 5, market_volume: 20, temperature_volume_correlation: -1 },
      { region_id: 'r01', bucket_start: '2024-03-01', temperature_avg: 7, market_volume: null, temperature_volume_correlation: -1 },
      { region_id: 'r08', bucket_start: '2024-03-01', temperature_avg: null, market_volume: 8, temperature_volume_correlation: null },
      { region_id: 'r09', bucket_start: '2024-01-01', temperature_avg: 10, market_volume: 5, temperature_volume_correlation: 1 },
      { region_id: 'r09', bucket_start: '2024-02-01', temperature_avg: 20, market_volume: 15, temperature_volume_correlation: 1 },
    ]);
  });

  it('finds the customers whose activity changed on rainy days (weather_impact), with their latest attributes', async () => {
    const request = {
      type: 'weather_impact' as const,
      region_id: 'r01',
      from: '2024-05-01',
      to: '2024-05-04',
      condition: { metric: 'precipitation_sum' as const, operator: 'gt' as const, threshold: 1 },
      min_change: 0.2,
    };
    const result = await temporal.withWorker(() =>
      temporal.client.workflow.execute(customerAnalysis, {
        taskQueue: TASK_QUEUES.analysis,
        workflowId: analysisWorkflowId(customer.id, 'w1'),
        args: [{ customerId: customer.id, analysisId: 'w1', request }],
      }),
    );
    assert.equal(result.rows, 2);
    const rows = await withCustomerRole(pool, customer, async (c) =>
      (await c.query(`SELECT customer_id, name, segment, condition_days, baseline_days, events_condition, events_baseline,
          events_per_day_condition, events_per_day_baseline, amount_per_day_condition, amount_per_day_baseline, activity_change
        FROM ${customer.schema}.analysis_w1 ORDER BY customer_id`)).rows,
    );
    assert.deepEqual(rows, [
      // 8 events on 2 rainy days vs 4 on 2 dry days; amounts 4×5 a rainy day, 2×10 a dry one.
      { customer_id: 'c1', name: 'Ann', segment: 'gold', condition_days: 2, baseline_days: 2, events_condition: '8', events_baseline: '4',
        events_per_day_condition: 4, events_per_day_baseline: 2, amount_per_day_condition: 20, amount_per_day_baseline: 20, activity_change: 1 },
      // Active only on a rainy day: no baseline to compare with, listed with no ratio.
      { customer_id: 'c3', name: null, segment: null, condition_days: 2, baseline_days: 2, events_condition: '1', events_baseline: '0',
        events_per_day_condition: 0.5, events_per_day_baseline: 0, amount_per_day_condition: 3.5, amount_per_day_baseline: 0, activity_change: null },
    ]);
  });

  it('runs end to end over HTTP: POST, poll until succeeded, read the result table', async () => {
    const apiKey = await rotateCustomerKey(pool, customer.id);
    const api = await startApi(
      configForTestServer(db.config, temporal),
      { host: '127.0.0.1', port: 0, ensureSchema: false, log: () => undefined },
    );
    try {
      const contract = await loadContract(api.openapi);
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${api.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': `http-e2e-${JSON.stringify(body ?? '').length}` },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        const bytes = Buffer.from(await res.arrayBuffer());
        return { status: res.status, json: contract.check({ method, path, status: res.status, headers: Object.fromEntries(res.headers), body: bytes }) as Record<string, unknown> };
      };
      const run = (request: unknown) =>
        temporal.withWorker(async () => {
          const started = await call('POST', '/v1/analyses', request);
          assert.equal(started.status, 202);
          const id = String(started.json['id']);
          for (let i = 0; i < 300; i++) {
            const status = await call('GET', `/v1/analyses/${id}`);
            if (status.json['status'] === 'succeeded' || status.json['status'] === 'failed') return status.json;
            await sleep(100);
          }
          throw new Error('the analysis did not finish in 30 s');
        });
      const resultRows = async (done: Record<string, unknown>) => {
        assert.equal(done['status'], 'succeeded', JSON.stringify(done));
        const table = await call('GET', `/v1/tables/${(done['result'] as { table: string }).table}`);
        return table.json['rows'] as Record<string, unknown>[];
      };

      const trend = await resultRows(await run({ type: 'region_trend', region_id: 'r01', from: '2024-01-01', to: '2024-03-31', bucket: 'month' }));
      assert.deepEqual(trend.map((r) => [r['bucket_start'], r['temperature_avg'], r['market_volume']]).sort(), [['2024-01-01', 2, 40], ['2024-02-01', 5, 20], ['2024-03-01', 7, null]]);

      const impact = await resultRows(
        await run({ type: 'weather_impact', region_id: 'r01', from: '2024-05-01', to: '2024-05-04', condition: { metric: 'precipitation_sum', operator: 'gt', threshold: 1 } }),
      );
      // As worked by hand in the weather_impact case above: c1 doubles its events on rainy days; c3 is active only then.
      assert.deepEqual(impact.map((r) => [r['customer_id'], r['segment'], r['activity_change']]).sort(), [['c1', 'gold', 1], ['c3', null, null]]);
    } finally {
      await api.close();
    }
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
