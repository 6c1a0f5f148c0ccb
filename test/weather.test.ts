/**
 * Source C end to end on real servers: the weather simulator (Open-Meteo's shape), a lake
 * of its own, a Temporal dev server. An hourly run; a two-year backfill of three regions
 * with a worker process killed mid-way (no gap, no duplicate hour); a re-run that asks the
 * API nothing; a 429 storm the run rides out.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { loadConfig, type Config } from '../lib/config.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { weatherAt } from '../simulators/weather/model.ts';
import { startWeatherSimulator, type WeatherSimulator } from '../simulators/weather/server.ts';
import { backfillWeather, ingestWeatherHour, weatherBackfillWorkflowId, type WeatherBackfillState } from '../workflows/weather.ts';
import { withSession } from './helpers/file-env.ts';
import { startTestLake, weatherLakeEnv, type TestLake } from './helpers/lake.ts';
import { startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NOW = new Date('2026-11-25T14:20:00Z');
const REGIONS = [
  { id: 'r01', name: 'Paris', latitude: 48.8566, longitude: 2.3522, country: 'FR' },
  { id: 'r02', name: 'Berlin', latitude: 52.52, longitude: 13.405, country: 'DE' },
  { id: 'r03', name: 'Madrid', latitude: 40.4168, longitude: -3.7038, country: 'ES' },
  { id: 'r04', name: 'Rome', latitude: 41.9028, longitude: 12.4964, country: 'IT' },
];

describe('weather (source C)', () => {
  let lake: TestLake;
  let sim: WeatherSimulator;
  let config: Config;
  let env: Record<string, string>;
  let temporal: TemporalTestServer;

  before(async () => {
    lake = await startTestLake();
    sim = await startWeatherSimulator({ now: () => NOW });
    env = { ...weatherLakeEnv(lake, sim.url, REGIONS), WEATHER_MAX_ATTEMPTS: '3' };
    config = loadConfig({ ...process.env, ...env });
    temporal = await startTemporalTestServer(config);
  });
  after(async () => {
    await temporal?.teardown();
    await sim?.close();
    await lake?.stop();
  });

  const runHour = (hour: string, suffix: string) =>
    temporal.withWorker((taskQueue) => temporal.client.workflow.execute(ingestWeatherHour, { taskQueue, workflowId: `weather:${hour}:${suffix}`, args: [{ hour }] }));

  it('an hourly run lands current and forecast answers in raw, curated and the daily and rolling datasets', async () => {
    const r = await runHour('2026-11-25T14', 'first');
    assert.equal(r.regions, 4);
    assert.deepEqual(
      r.rawFiles.map((k) => k.replace(/^.*raw\//, 'raw/')),
      ['raw/source_c/current/day=2026-11-25/current_2026-11-25T14_b00.json', 'raw/source_c/forecast/day=2026-11-25/forecast_2026-11-25T14_b00.json'],
    );
    assert.equal(r.observedRows, 4, 'one current reading per region');
    assert.equal(r.forecastRows, 4 * 7 * 24, '7 days of hours per region');

    await withSession(config, async (s) => {
      const [obs] = await s.rows<{ time: string; temperature_2m: number; origin: string }>(
        `SELECT strftime(time, '%Y-%m-%dT%H:%M:%SZ') AS time, temperature_2m, origin FROM lake.curated.weather_observed WHERE region_id = 'r02'`,
      );
      // The simulator's 14:15 reading stands for hour 14; its value is the model's for that point.
      assert.equal(obs?.time, '2026-11-25T14:00:00Z');
      assert.equal(obs?.origin, 'current');
      const [f] = await s.rows<{ n: string; first: string; last: string; issued: string }>(
        `SELECT count(*) AS n, strftime(min(time), '%Y-%m-%dT%H') AS first, strftime(max(time), '%Y-%m-%dT%H') AS last, strftime(any_value(issued_at), '%Y-%m-%dT%H') AS issued
         FROM lake.curated.weather_forecast WHERE region_id = 'r01'`,
      );
      assert.deepEqual(f, { n: '168', first: '2026-11-25T00', last: '2026-12-01T23', issued: '2026-11-25T14' });
      const [value] = await s.rows<{ t: number }>(`SELECT temperature_2m AS t FROM lake.curated.weather_forecast WHERE region_id = 'r01' AND time = TIMESTAMPTZ '2026-11-27 06:00:00+00'`);
      assert.equal(value?.t, weatherAt(48.8566, 2.3522, Date.parse('2026-11-27T06:00:00Z')).temperature_2m);
      const daily = await s.rows<{ day: string; hours: number }>(`SELECT CAST("day" AS VARCHAR) AS day, hours FROM lake.operational.weather_daily WHERE region_id = 'r01'`);
      assert.deepEqual(daily, [{ day: '2026-11-25', hours: 1 }]);
      const rolling = await s.rows<{ day: string; f: boolean }>(
        `SELECT CAST("day" AS VARCHAR) AS day, is_forecast AS f FROM lake.operational.weather_rolling WHERE region_id = 'r01' ORDER BY "day"`,
      );
      // Observed on the 25th; past it the forecast's days, flagged as such.
      assert.deepEqual(rolling[0], { day: '2026-11-25', f: false });
      assert.ok(rolling.length >= 7 && rolling.slice(1).every((x) => x.f), JSON.stringify(rolling));
    });

    // The same hour again replaces, never doubles.
    await runHour('2026-11-25T14', 'again');
    await withSession(config, async (s) => {
      const [n] = await s.rows<{ obs: string; fc: string }>(
        `SELECT (SELECT count(*) FROM lake.curated.weather_observed) AS obs, (SELECT count(*) FROM lake.curated.weather_forecast) AS fc`,
      );
      assert.deepEqual(n, { obs: '4', fc: String(4 * 168) });
    });
  });

  it('rides out a 429 storm: Retry-After honoured, then Temporal retries the activity', async () => {
    sim.setFaults({ tooManyRequests: 7, retryAfterSeconds: 1 });
    const before = sim.stats();
    const r = await runHour('2026-11-25T15', 'storm');
    const after = sim.stats();
    sim.setFaults({});
    assert.equal(r.observedRows, 4);
    assert.equal(after.tooManyRequests - before.tooManyRequests, 7, 'every 429 of the storm was met');
    assert.ok(after.served - before.served >= 2);
  });

  it('backfills two years of three regions through a worker crash: no gap, no duplicate hour; a re-run asks the API nothing', async () => {
    const input = { from: '2024-01-01', to: '2025-12-31', regions: ['r01', 'r02', 'r03'], concurrency: 1, requestsPerChild: 1 };
    const workflowId = weatherBackfillWorkflowId(input);
    // A slow API so the kill lands while archive requests are in flight.
    sim.setFaults({ delayMs: 1500 });
    const requestsBefore = sim.stats().requests;
    const handle = await temporal.client.workflow.start(backfillWeather, { taskQueue: TASK_QUEUES.ingest, workflowId, args: [input] });

    // A worker in a process of its own, killed without warning once the backfill is under way.
    const worker = startWorkerProcess({ ...env, TEMPORAL_ADDRESS: temporal.env.address });
    try {
      for (let i = 0; sim.stats().requests - requestsBefore < 2; i++) {
        if (i > 240) throw new Error('the worker process made no archive request in 120 s');
        if (worker.exitCode !== null) throw new Error(`the worker process exited early with ${worker.exitCode}`);
        await sleep(500);
      }
      worker.kill('SIGKILL');
      // (No query here: with the only worker dead, nobody could answer it.)
      assert.ok(sim.stats().requests - requestsBefore < 6, 'the crash came before the last of the 6 archive requests');
    } finally {
      if (worker.exitCode === null) worker.kill('SIGKILL');
    }
    sim.setFaults({});

    // A new worker takes over: activities that died with the old one time out and run again.
    const state = await temporal.withWorker(() => handle.result());
    assert.equal(state.failed.length, 0, JSON.stringify(state.failed));
    assert.equal(state.succeeded, 2, 'one child per year');
    const hoursPerRegion = 366 * 24 + 365 * 24;
    assert.equal(state.hours, 3 * hoursPerRegion);
    await assertEveryHourOnce(['r01', 'r02', 'r03'], hoursPerRegion);

    // Re-run: the raw answers are reused, so no request reaches the API; the lake is unchanged.
    const requestsAtEnd = sim.stats().requests;
    const again: WeatherBackfillState = await temporal.withWorker(() =>
      temporal.client.workflow.execute(backfillWeather, { taskQueue: TASK_QUEUES.ingest, workflowId, args: [input] }),
    );
    assert.equal(sim.stats().requests, requestsAtEnd, 'a re-run asks the API nothing');
    assert.equal(again.hours, state.hours);
    await assertEveryHourOnce(['r01', 'r02', 'r03'], hoursPerRegion);
    await withSession(config, async (s) => {
      const [roll] = await s.rows<{ n: string; d30: number }>(
        `SELECT count(*) AS n, min(days_in_30d) FILTER (WHERE "day" >= DATE '2024-01-30') AS d30 FROM lake.operational.weather_rolling WHERE region_id = 'r02' AND NOT is_forecast AND "day" <= DATE '2025-12-31'`,
      );
      assert.equal(roll?.n, String(731), 'a rolling row per observed day of r02');
      assert.equal(roll?.d30, 30, 'full 30-day windows once 30 days are in, across the year boundary too');
    });
  });

  async function assertEveryHourOnce(regions: string[], hoursPerRegion: number): Promise<void> {
    await withSession(config, async (s) => {
      const rows = await s.rows<{ region_id: string; n: string; distinct_hours: string; first: string; last: string }>(
        `SELECT region_id, count(*) AS n, count(DISTINCT time) AS distinct_hours, strftime(min(time), '%Y-%m-%dT%H') AS first, strftime(max(time), '%Y-%m-%dT%H') AS last
         FROM lake.curated.weather_observed WHERE "day" BETWEEN DATE '2024-01-01' AND DATE '2025-12-31' GROUP BY region_id ORDER BY region_id`,
      );
      assert.deepEqual(
        rows,
        regions.map((region_id) => ({ region_id, n: String(hoursPerRegion), distinct_hours: String(hoursPerRegion), first: '2024-01-01T00', last: '2025-12-31T23' })),
      );
    });
  }
});

function startWorkerProcess(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [path.join(REPO, 'bin', 'lake.js'), 'worker'], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}
