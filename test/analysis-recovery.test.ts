/**
 * Case 3 through failures, on real servers: a worker process SIGKILLed while it runs an
 * analysis, and another worker finishing it with the result a clean run gives; and the
 * warehouse (the PostgreSQL server itself) stopped while an analysis waits to load, the
 * run finishing once it is started again.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../lib/config.ts';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { postgresService } from '../lib/infra/services/postgres.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { ensureTables } from '../lib/lake/tables.ts';
import { MARKET_TABLES } from '../lib/market/tables.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { addDays } from '../lib/time/days.ts';
import { createCustomer, type Customer } from '../lib/warehouse/customers.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';
import { WEATHER_TABLES } from '../lib/weather/tables.ts';
import { analysisWorkflowId, customerAnalysis, type AnalysisInput } from '../workflows/analysis.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';
import { startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';
import { createTestDatabase, dropTestCustomer, type TestDatabase } from './helpers/warehouse-db.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('customer analyses through failures', () => {
  let lake: TestLake;
  let db: TestDatabase;
  let temporal: TemporalTestServer;
  let pool: pg.Pool;
  let customer: Customer;

  before(async () => {
    lake = await startTestLake();
    db = await createTestDatabase(lake.config);
    pool = createPostgresPool(db.config);
    await ensurePostgresSchema(pool);
    customer = (await createCustomer(pool, `recovery ${db.name.slice(-8)}`)).customer;
    const s = await openLakeSession(lake.config);
    try {
      await ensureTables(s, [...WEATHER_TABLES, ...MARKET_TABLES]);
      await s.run(`INSERT INTO lake.operational.regions VALUES ('r01', 'Oslo', 59.9, 10.7, 'NO', 'Europe/Oslo', '{}', 'config', now())`);
      // 15 years of days, so a daily region_trend is a few thousand rows of real work.
      const rows: string[] = [];
      for (let d = '2011-01-01', i = 0; d <= '2025-12-31'; d = addDays(d, 1), i++) rows.push(`('r01', DATE '${d}', ${i % 30}, 0, 30, ${i % 7}, 1, 2, 50, 24)`);
      await s.run(`INSERT INTO lake.operational.weather_daily VALUES ${rows.join(', ')}`);
    } finally {
      s.close();
    }
    temporal = await startTemporalTestServer(db.config);
  });
  after(async () => {
    await temporal?.teardown();
    await dropTestCustomer(pool, customer).catch(() => undefined);
    await pool?.end();
    await db?.drop();
    await lake?.stop();
  });

  const input = (analysisId: string): AnalysisInput => ({
    customerId: customer.id,
    analysisId,
    request: { type: 'region_trend', region_id: 'r01', from: '2011-01-01', to: '2025-12-31', bucket: 'day' },
  });
  const resultRows = async (table: string) =>
    (await pool.query(`SELECT bucket_start::text, temperature_avg, precipitation_sum FROM ${customer.schema}.${table} ORDER BY bucket_start`)).rows;

  function workerProcess(): ChildProcess {
    const env = {
      TEMPOLAKE_DATA_DIR: lake.dir,
      LAKE_STORAGE: 'local',
      LAKE_LOCAL_ROOT: lake.config.lakeLocalRoot,
      ICEBERG_CATALOG_URL: lake.config.icebergCatalogUrl.toString(),
      ICEBERG_CATALOG_JDBC_URI: lake.config.icebergCatalogJdbcUri,
      POSTGRES_DB: db.name,
      TEMPORAL_ADDRESS: temporal.env.address,
    };
    return spawn(process.execPath, [path.join(REPO, 'bin', 'lake.js'), 'worker', '--queue', 'analysis'], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  }

  it('a worker killed mid-analysis: another finishes it with the same result as a clean run', async () => {
    const clean = await temporal.withWorker(() =>
      temporal.client.workflow.execute(customerAnalysis, { taskQueue: TASK_QUEUES.analysis, workflowId: analysisWorkflowId(customer.id, 'clean'), args: [input('clean')] }),
    );
    assert.equal(clean.rows, 5479);

    const handle = await temporal.client.workflow.start(customerAnalysis, { taskQueue: TASK_QUEUES.analysis, workflowId: analysisWorkflowId(customer.id, 'killed'), args: [input('killed')] });
    const first = workerProcess();
    try {
      // Killed the moment one of its activities is running.
      for (let i = 0; ; i++) {
        if (i > 1200) throw new Error('the worker process started no activity in 60 s');
        if (first.exitCode !== null) throw new Error(`the worker process exited early with ${first.exitCode}`);
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        if (pending.some((a) => String(a.state) === 'PENDING_ACTIVITY_STATE_STARTED' || a.state === 2)) break;
        await sleep(50);
      }
      first.kill('SIGKILL');
    } finally {
      if (first.exitCode === null) first.kill('SIGKILL');
    }
    // The attempt dies with its worker; after its heartbeat timeout the next worker redoes it.
    const done = await temporal.withWorker(() => handle.result());
    assert.equal(done.rows, clean.rows);
    assert.deepEqual(await resultRows('analysis_killed'), await resultRows('analysis_clean'));
  });

  it('the warehouse down while an analysis loads: the run finishes once it is back', async () => {
    // The shared local server (its data folder comes from the environment, not the test lake's).
    const ctx = { config: loadConfig(), progress: () => undefined };
    const handle = await temporal.client.workflow.start(customerAnalysis, { taskQueue: TASK_QUEUES.analysis, workflowId: analysisWorkflowId(customer.id, 'outage'), args: [input('outage')] });
    await postgresService.stop(ctx);
    let restarted = false;
    try {
      const done = await temporal.withWorker(async () => {
        // Wait until the load has failed at least twice against the stopped server, then bring it back.
        for (let i = 0; ; i++) {
          if (i > 600) throw new Error('the load did not retry within 60 s');
          const pending = (await handle.describe()).raw.pendingActivities ?? [];
          const load = pending.find((a) => a.activityType?.name === 'loadAnalysisResult');
          if (load && (load.attempt ?? 0) >= 2) break;
          await sleep(100);
        }
        await postgresService.start(ctx);
        restarted = true;
        return handle.result();
      });
      assert.equal(done.rows, 5479);
      assert.equal((await resultRows('analysis_outage')).length, 5479);
    } finally {
      if (!restarted) await postgresService.start(ctx);
    }
  });
});
