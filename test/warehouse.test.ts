/**
 * The PostgreSQL warehouse loaded from a real lake (Iceberg catalog + DuckDB) into a real
 * PostgreSQL database of the test's own: region_summary against values worked by hand,
 * loads that are atomic, idempotent (a repeat writes nothing), range-scoped, safe to run
 * concurrently, that survive a connection killed mid-load, refuse duplicate keys, and
 * notify listeners only when they commit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createPostgresPool, postgresClientConfig } from '../lib/clients/postgres.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import { ensureTables, LINEAGE_COMMITS } from '../lib/lake/tables.ts';
import { MARKET_TABLES } from '../lib/market/tables.ts';
import { createPostgresWarehouse, type PostgresWarehouseDeps } from '../lib/warehouse/postgres-warehouse.ts';
import { refreshRegionSummary } from '../lib/warehouse/region-summary.ts';
import { WAREHOUSE_TABLES, warehouseTable, type WarehouseTable } from '../lib/warehouse/tables.ts';
import { DuplicateKeyError, LOADS_CHANNEL, type Warehouse } from '../lib/warehouse/warehouse.ts';
import { WEATHER_TABLES } from '../lib/weather/tables.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';
import { createTestDatabase, type TestDatabase } from './helpers/warehouse-db.ts';

const lineage = { workflowId: 'warehouse-test', runId: 'r', inputs: [] };

describe('PostgreSQL warehouse loads', () => {
  let lake: TestLake;
  let db: TestDatabase;
  let s: LakeSession;
  let pool: pg.Pool;
  let n = 0;
  const warehouse = (extra: Partial<PostgresWarehouseDeps> = {}): Warehouse =>
    createPostgresWarehouse({ pool, openLake: () => openLakeSession(lake.config), tmpDir: `${lake.dir}/tmp`, ...extra });
  const loadId = () => `test:${++n}`;
  const loadAll = async (w: Warehouse = warehouse()) => {
    const out = [];
    for (const table of WAREHOUSE_TABLES) out.push(await w.load({ table, loadId: loadId() }));
    return out;
  };
  const rows = async (sql: string) => (await pool.query(sql)).rows;

  before(async () => {
    lake = await startTestLake();
    db = await createTestDatabase(lake.config);
    pool = createPostgresPool(db.config);
    s = await openLakeSession(lake.config);
    await ensureTables(s, [...WEATHER_TABLES, ...MARKET_TABLES, LINEAGE_COMMITS]);
    await s.run(`INSERT INTO lake.operational.regions VALUES
      ('r01', 'Oslo', 59.91, 10.75, 'NO', 'Europe/Oslo', '{"population":700000}', 'config', TIMESTAMPTZ '2024-01-01 00:00:00+00'),
      ('r02', 'Lima', -12.05, -77.04, 'PE', 'America/Lima', '{}', 'config', TIMESTAMPTZ '2024-01-01 00:00:00+00')`);
    // r01: 03-01 and 03-02 complete, 03-03 partial (5 hours): the summary takes 03-02.
    await s.run(`INSERT INTO lake.operational.weather_daily VALUES
      ('r01', DATE '2024-03-01', 1.5, -2.0, 4.0, 0.0, 3.0, 6.0, 80.0, 24),
      ('r01', DATE '2024-03-02', 2.5, -1.0, 5.5, 1.25, 4.0, 7.0, 75.0, 24),
      ('r01', DATE '2024-03-03', 9.0, 8.0, 10.0, 0.0, 1.0, 2.0, 60.0, 5),
      ('r02', DATE '2024-03-01', 21.0, 18.0, 25.0, 0.5, 2.0, 3.0, 70.0, 24)`);
    await s.run(`INSERT INTO lake.operational.weather_rolling VALUES
      ('r01', DATE '2024-03-02', false, 2.0, 2.0, 0.625, 0.625, 3.5, 3.5, 2, 2),
      ('r01', DATE '2024-03-03', false, 4.33, 4.33, 0.4, 0.4, 2.6, 2.6, 3, 3)`);
    // r01 interest 1, 2, 3 on three days → latest 3, 7-day average 2; r02 has no market data.
    await s.run(`INSERT INTO lake.operational.market_daily VALUES
      ('r01', DATE '2024-03-01', 10, 2, 100.0, 50.0, 51.0, 1.0),
      ('r01', DATE '2024-03-02', 20, 2, 200.0, 52.0, 53.0, 2.0),
      ('r01', DATE '2024-03-03', 30, 3, 300.0, 54.0, 55.0, 3.0)`);
    await refreshRegionSummary(s, { lineage });
    await warehouse().ensureSchema();
  });
  after(async () => {
    s?.close();
    await pool?.end();
    await db?.drop();
    await lake?.stop();
  });

  it('builds region_summary from the latest complete weather day and the market interest', async () => {
    const summary = await s.rows(`SELECT region_id, CAST(weather_day AS VARCHAR) AS weather_day, temperature_avg, precipitation_sum, temperature_avg_7d,
      CAST(market_day AS VARCHAR) AS market_day, market_interest, market_interest_avg_7d, market_volume, market_events
      FROM lake.operational.region_summary ORDER BY region_id`);
    assert.deepEqual(summary, [
      { region_id: 'r01', weather_day: '2024-03-02', temperature_avg: 2.5, precipitation_sum: 1.25, temperature_avg_7d: 2, market_day: '2024-03-03', market_interest: 3, market_interest_avg_7d: 2, market_volume: 300, market_events: '30' },
      { region_id: 'r02', weather_day: '2024-03-01', temperature_avg: 21, precipitation_sum: 0.5, temperature_avg_7d: null, market_day: null, market_interest: null, market_interest_avg_7d: null, market_volume: null, market_events: null },
    ]);
  });

  it('loads every table with the lake values, one row per key, and a repeat writes nothing', async () => {
    const first = await loadAll();
    assert.deepEqual(first.map((l) => [l.table, l.rows, l.unchanged]), [
      ['regions', 2, false],
      ['weather_daily', 4, false],
      ['weather_rolling', 2, false],
      ['market_daily', 3, false],
      ['region_summary', 2, false],
    ]);
    assert.deepEqual(await rows(`SELECT region_id, day::text, temperature_avg, hours FROM serving.weather_daily WHERE region_id = 'r01' ORDER BY day`), [
      { region_id: 'r01', day: '2024-03-01', temperature_avg: 1.5, hours: 24 },
      { region_id: 'r01', day: '2024-03-02', temperature_avg: 2.5, hours: 24 },
      { region_id: 'r01', day: '2024-03-03', temperature_avg: 9, hours: 5 },
    ]);
    assert.deepEqual(await rows(`SELECT region_id, name, metadata, first_seen FROM serving.regions WHERE region_id = 'r01'`), [
      { region_id: 'r01', name: 'Oslo', metadata: '{"population":700000}', first_seen: new Date('2024-01-01T00:00:00Z') },
    ]);
    assert.deepEqual(await rows(`SELECT region_id, weather_day::text, market_interest, market_interest_avg_7d FROM serving.region_summary ORDER BY region_id`), [
      { region_id: 'r01', weather_day: '2024-03-02', market_interest: 3, market_interest_avg_7d: 2 },
      { region_id: 'r02', weather_day: '2024-03-01', market_interest: null, market_interest_avg_7d: null },
    ]);
    await assertOneRowPerKey();

    // The same loads again: nothing differs, so no row version is rewritten (xmin stays).
    const versions = await rows('SELECT xmin::text AS x, region_id, day::text FROM serving.weather_daily ORDER BY region_id, day');
    const again = await loadAll();
    assert.ok(again.every((l) => l.unchanged), 'a repeated load changes nothing');
    assert.deepEqual(await rows('SELECT xmin::text AS x, region_id, day::text FROM serving.weather_daily ORDER BY region_id, day'), versions);
    await assertOneRowPerKey();
  });

  it('a ranged load replaces only the days of its range', async () => {
    await loadAll();
    const before = await rows(`SELECT xmin::text AS x, day::text FROM serving.weather_daily WHERE region_id = 'r01' ORDER BY day`);
    await s.run(`UPDATE lake.operational.weather_daily SET temperature_avg = 3.75 WHERE region_id = 'r01' AND "day" = DATE '2024-03-02'`);
    const r = await warehouse().load({ table: warehouseTable('weather_daily'), range: { from: '2024-03-02', to: '2024-03-02' }, loadId: loadId() });
    assert.deepEqual([r.rows, r.replaced, r.unchanged], [1, 1, false]);
    const after = await rows(`SELECT xmin::text AS x, day::text, temperature_avg FROM serving.weather_daily WHERE region_id = 'r01' ORDER BY day`);
    assert.equal(after[1].temperature_avg, 3.75);
    assert.equal(after[0].x, before[0].x, 'the day before the range was not rewritten');
    assert.equal(after[2].x, before[2].x, 'the day after the range was not rewritten');
    assert.deepEqual(await rows(`SELECT table_name, range_from::text, range_to::text, rows, replaced FROM tempolake_meta.loads ORDER BY loaded_at DESC LIMIT 1`), [
      { table_name: 'weather_daily', range_from: '2024-03-02', range_to: '2024-03-02', rows: '1', replaced: '1' },
    ]);
    await assertOneRowPerKey();
  });

  it('a connection killed mid-load leaves the table as it was, and the retry loads it whole', async () => {
    await loadAll();
    await s.run(`UPDATE lake.operational.market_daily SET volume = volume + 1`);
    const snapshot = await rows('SELECT region, day::text, volume FROM serving.market_daily ORDER BY day');
    const admin = createPostgresPool(db.config);
    try {
      const crashing = warehouse({
        beforeCommit: async (client) => {
          const { rows: [me] } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          await admin.query('SELECT pg_terminate_backend($1)', [me?.pid]);
        },
      });
      await assert.rejects(crashing.load({ table: warehouseTable('market_daily'), loadId: 'crash:1' }), /terminat|Connection/i);
    } finally {
      await admin.end();
    }
    assert.deepEqual(await rows('SELECT region, day::text, volume FROM serving.market_daily ORDER BY day'), snapshot, 'nothing of the killed load is visible');
    const retried = await warehouse().load({ table: warehouseTable('market_daily'), loadId: 'crash:1' });
    assert.equal(retried.rows, 3);
    assert.deepEqual(
      (await rows('SELECT volume FROM serving.market_daily ORDER BY day')).map((r) => r.volume),
      [101, 201, 301],
    );
    await assertOneRowPerKey();
  });

  it('readers see the old rows until the load commits, and concurrent loads of a table never double rows', async () => {
    await loadAll();
    await s.run(`UPDATE lake.operational.weather_daily SET hours = 23 WHERE region_id = 'r02'`);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let staged!: () => void;
    const reachedStage = new Promise<void>((r) => (staged = r));
    const slow = warehouse({
      beforeCommit: async () => {
        staged();
        await held;
      },
    });
    const table = warehouseTable('weather_daily');
    const loading = slow.load({ table, loadId: loadId() });
    await reachedStage;
    // A second load of the same table runs alongside and must wait for the first's lock.
    const second = warehouse().load({ table, loadId: loadId() });
    await sleep(300);
    assert.deepEqual(await rows(`SELECT hours FROM serving.weather_daily WHERE region_id = 'r02'`), [{ hours: 24 }], 'mid-load, readers see the old row');
    release();
    const [a, b] = await Promise.all([loading, second]);
    assert.equal(a.unchanged || b.unchanged, true, 'the later of the two found the rows already there');
    assert.deepEqual(await rows(`SELECT hours FROM serving.weather_daily WHERE region_id = 'r02'`), [{ hours: 23 }]);
    await assertOneRowPerKey();
  });

  it('refuses a lake table with a key twice and loads nothing of it', async () => {
    await loadAll();
    await s.run(`INSERT INTO lake.operational.weather_rolling VALUES ('r01', DATE '2024-03-02', false, 9, 9, 9, 9, 9, 9, 1, 1)`);
    try {
      await assert.rejects(warehouse().load({ table: warehouseTable('weather_rolling'), loadId: loadId() }), (err: Error) => {
        assert.ok(err instanceof DuplicateKeyError);
        assert.match(err.message, /r01\/2024-03-02 ×2/);
        return true;
      });
      assert.deepEqual(await rows(`SELECT count(*)::int AS n FROM serving.weather_rolling`), [{ n: 2 }]);
    } finally {
      await s.run(`DELETE FROM lake.operational.weather_rolling WHERE temperature_avg_7d = 9`);
    }
  });

  it('notifies listeners of a committed load only', async () => {
    await loadAll();
    const listener = new pg.Client(postgresClientConfig(db.config));
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => heard.push(m.payload ?? ''));
    await listener.query(`LISTEN ${LOADS_CHANNEL}`);
    try {
      await warehouse().load({ table: warehouseTable('regions'), loadId: 'quiet' });
      await s.run(`UPDATE lake.operational.regions SET name = 'Oslo (NO)' WHERE region_id = 'r01'`);
      await warehouse().load({ table: warehouseTable('regions'), loadId: 'loud' });
      await sleep(200);
      assert.deepEqual(heard.map((p) => JSON.parse(p)), [{ table: 'regions', loadId: 'loud' }], 'the unchanged load said nothing');
    } finally {
      await listener.end();
    }
  });

  async function assertOneRowPerKey(): Promise<void> {
    for (const t of WAREHOUSE_TABLES as readonly WarehouseTable[]) {
      const key = t.key.join(', ');
      const dupes = await rows(`SELECT ${key}, count(*) FROM serving.${t.name} GROUP BY ${key} HAVING count(*) > 1`);
      assert.deepEqual(dupes, [], `serving.${t.name} has one row per (${key})`);
    }
  }
});
