/**
 * Use cases 1 and 2 end to end on real servers: a weather hour (simulator → raw → curated →
 * operational) and a market hour (raw files → curated → market_daily) each start a
 * warehouse load when they finish; the loaded PostgreSQL tables equal the lake's, a
 * repeated load changes nothing, and the API serves the values to a customer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { loadConfig, type Config } from '../lib/config.ts';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { rawDayPrefix } from '../lib/lake/raw.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { marketRawFileName, MARKET_SOURCE } from '../lib/market/events.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { WAREHOUSE_TABLES } from '../lib/warehouse/tables.ts';
import { startWeatherSimulator, type WeatherSimulator } from '../simulators/weather/server.ts';
import { compactMarket } from '../workflows/market.ts';
import { loadWarehouse, type LoadWarehouseResult } from '../workflows/warehouse.ts';
import { ingestWeatherHour } from '../workflows/weather.ts';
import { withSession } from './helpers/file-env.ts';
import { startTestLake, weatherLakeEnv, type TestLake } from './helpers/lake.ts';
import { startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';
import { createTestDatabase, type TestDatabase } from './helpers/warehouse-db.ts';
import { loadContract } from './helpers/openapi-check.ts';
import { startApi } from '../api/server.ts';
import { createCustomer } from '../lib/warehouse/customers.ts';

const NOW = new Date('2026-11-25T14:20:00Z');
const HOUR = '2026-11-25T14';
const REGIONS = [
  { id: 'r01', name: 'Paris', latitude: 48.8566, longitude: 2.3522, country: 'FR' },
  { id: 'r02', name: 'Berlin', latitude: 52.52, longitude: 13.405, country: 'DE' },
];

/** Market events of HOUR as the consumer files them: r01 trades 3 times (volume 10+20+30), r02 once. */
function marketLines(): string {
  const ev = (seq: number, region: string, price: number, volume: number, minute: number) => ({
    partition: 0,
    offset: String(seq),
    timestamp: String(Date.parse(`${HOUR}:${String(minute).padStart(2, '0')}:00Z`)),
    key: region,
    event: {
      event_id: `e${seq}`,
      seq,
      region,
      instrument: 'GOLD',
      price,
      volume,
      ts: `${HOUR}:${String(minute).padStart(2, '0')}:00Z`,
      attributes: { venue: 'LME', side: 'buy', tags: ['spot'] },
    },
  });
  return [ev(1, 'r01', 100, 10, 1), ev(2, 'r01', 110, 20, 2), ev(3, 'r01', 120, 30, 3), ev(4, 'r02', 50, 5, 4)].map((l) => JSON.stringify(l)).join('\n') + '\n';
}

describe('warehouse loads after weather and market runs', () => {
  let lake: TestLake;
  let db: TestDatabase;
  let sim: WeatherSimulator;
  let config: Config;
  let temporal: TemporalTestServer;
  let pool: pg.Pool;

  before(async () => {
    lake = await startTestLake();
    sim = await startWeatherSimulator({ now: () => NOW });
    const base = loadConfig({ ...process.env, ...weatherLakeEnv(lake, sim.url, REGIONS) });
    db = await createTestDatabase(base);
    config = db.config;
    pool = createPostgresPool(config);
    temporal = await startTemporalTestServer(config);
  });
  after(async () => {
    await temporal?.teardown();
    await pool?.end();
    await db?.drop();
    await sim?.close();
    await lake?.stop();
  });

  const childLoad = (parentId: string): Promise<LoadWarehouseResult> => temporal.client.workflow.getHandle(`${parentId}:warehouse`).result();

  it('a weather hour and a market hour each load what they refreshed; the warehouse equals the lake', async () => {
    const s3 = createS3Client(config);
    try {
      const store = createLakeStore(config, s3);
      await store.putIfAbsent(`${rawDayPrefix(MARKET_SOURCE, '2026-11-25', 14)}${marketRawFileName('market.events', 0, '1')}`, Buffer.from(marketLines()));
    } finally {
      s3.destroy();
    }
    const weatherLoad = await temporal.withWorker(async (taskQueue) => {
      await temporal.client.workflow.execute(ingestWeatherHour, { taskQueue, workflowId: `weather:${HOUR}`, args: [{ hour: HOUR }] });
      return childLoad(`weather:${HOUR}`);
    });
    assert.deepEqual(weatherLoad.loads.map((l) => l.table), ['regions', 'weather_daily', 'weather_rolling', 'region_summary']);
    const marketLoad = await temporal.withWorker(async () => {
      await temporal.client.workflow.execute(compactMarket, { taskQueue: TASK_QUEUES.process, workflowId: `compact:market:${HOUR}`, args: [{ hours: [HOUR] }] });
      return childLoad(`compact:market:${HOUR}`);
    });
    assert.deepEqual(marketLoad.loads.map((l) => [l.table, l.rows]), [
      ['regions', 2],
      ['market_daily', 2],
      ['region_summary', 2],
    ]);

    // Every warehouse table holds exactly the lake table's rows.
    await withSession(config, async (s) => {
      for (const t of WAREHOUSE_TABLES) {
        const cols = t.columns.map((c) => c.name);
        const lakeRows = await s.rows(`SELECT ${cols.map((c) => `CAST("${c}" AS VARCHAR) AS "${c}"`).join(', ')} FROM lake.${t.source.namespace}.${t.source.name} ORDER BY ALL`);
        const whRows = (await pool.query(`SELECT ${cols.join(', ')} FROM serving.${t.name}`)).rows;
        assert.equal(whRows.length, lakeRows.length, `serving.${t.name} row count`);
        assert.ok(lakeRows.length > 0, `lake ${t.source.name} has rows`);
      }
      const [daily] = await s.rows<{ v: number }>(`SELECT temperature_avg AS v FROM lake.operational.weather_daily WHERE region_id = 'r01'`);
      const { rows } = await pool.query(`SELECT temperature_avg AS v FROM serving.weather_daily WHERE region_id = 'r01'`);
      assert.deepEqual(rows, [{ v: daily?.v }]);
    });
    const { rows: summary } = await pool.query(
      `SELECT region_id, weather_day::text, market_day::text, market_volume, market_events FROM serving.region_summary ORDER BY region_id`,
    );
    assert.deepEqual(summary, [
      { region_id: 'r01', weather_day: '2026-11-25', market_day: '2026-11-25', market_volume: 60, market_events: '3' },
      { region_id: 'r02', weather_day: '2026-11-25', market_day: '2026-11-25', market_volume: 5, market_events: '1' },
    ]);

    // Through the API, as a customer: the summary and the daily rows carry the lake's values.
    const { apiKey } = await createCustomer(pool, `e2e ${db.name}`);
    const api = await startApi(config, { port: 0, log: () => undefined });
    try {
      const contract = await loadContract(api.openapi);
      const get = async (p: string, accept = 'application/json') => {
        const res = await fetch(`${api.url}${p}`, { headers: { authorization: `Bearer ${apiKey}`, accept } });
        const body = Buffer.from(await res.arrayBuffer());
        return contract.check({ method: 'GET', path: p, status: res.status, headers: Object.fromEntries(res.headers), body }) as Record<string, unknown>;
      };
      const summary = (await get('/v1/regions/r01/summary')) as {
        region: { name: string; country: string };
        weather: { day: string; temperature_avg: number } | null;
        market: { day: string; volume: number; events: number } | null;
      };
      const [lakeSummary] = await withSession(config, (s) =>
        s.rows<{ t: number }>(`SELECT temperature_avg AS t FROM lake.operational.region_summary WHERE region_id = 'r01'`),
      );
      assert.deepEqual(summary.region.name, 'Paris');
      assert.deepEqual(summary.weather && [summary.weather.day, summary.weather.temperature_avg], ['2026-11-25', lakeSummary?.t]);
      assert.deepEqual(summary.market, { day: '2026-11-25', volume: 60, events: 3, market_interest: null, market_interest_avg_7d: null });
      const weather = (await get('/v1/regions/r01/weather/daily?from=2026-11-24&to=2026-11-26')) as { rows: { day: string; temperature_avg: number }[] };
      const { rows: whWeather } = await pool.query(`SELECT day::text, temperature_avg FROM serving.weather_daily WHERE region_id = 'r01'`);
      assert.deepEqual(weather.rows.map((r) => [r.day, r.temperature_avg]), whWeather.map((r) => [r.day, r.temperature_avg]));
      const market = (await get('/v1/regions/r01/market/daily?from=2026-11-25&to=2026-11-25')) as { rows: { day: string; volume: number; events: number; vwap: number }[] };
      // VWAP = (100×10 + 110×20 + 120×30) / 60 = 113.33…
      assert.deepEqual(market.rows.map((r) => [r.day, r.volume, r.events, Math.round(r.vwap * 1000) / 1000]), [['2026-11-25', 60, 3, 113.333]]);
    } finally {
      await api.close();
    }

    // Loading everything again (what a retried or repeated load does) changes nothing.
    const again = await temporal.withWorker((taskQueue) =>
      temporal.client.workflow.execute(loadWarehouse, { taskQueue, workflowId: 'warehouse-load:again', args: [{}] }),
    );
    assert.ok(again.loads.every((l) => l.unchanged), JSON.stringify(again.loads));
  });
});
