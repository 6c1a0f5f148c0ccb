/**
 * The operational weather datasets against numbers worked out by hand: daily aggregates
 * of the observed hours (a partial day, a gap day), trailing windows over calendar days
 * (a gap shrinks the window instead of shifting it), the latest forecast past the last
 * observed day only, idempotent re-runs and region-scoped refreshes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openLakeSession, sqlString, type LakeSession } from '../lib/lake/session.ts';
import { ensureTables, REJECTED_RECORDS } from '../lib/lake/tables.ts';
import { refreshWeatherDaily, refreshWeatherRolling } from '../lib/weather/aggregates.ts';
import { WEATHER_TABLES } from '../lib/weather/tables.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';

interface Hour {
  readonly time: string;
  readonly temperature: number;
  readonly humidity: number;
  readonly precipitation: number;
  readonly wind: number;
}

interface DailyRow {
  region_id: string;
  day: string;
  temperature_avg: number;
  temperature_min: number;
  temperature_max: number;
  precipitation_sum: number;
  wind_speed_avg: number;
  wind_speed_max: number;
  relative_humidity_avg: number;
  hours: number;
}

interface RollingRow {
  region_id: string;
  day: string;
  is_forecast: boolean;
  temperature_avg_7d: number;
  temperature_avg_30d: number;
  precipitation_avg_7d: number;
  precipitation_avg_30d: number;
  wind_speed_avg_7d: number;
  wind_speed_avg_30d: number;
  days_in_7d: number;
  days_in_30d: number;
}

const day = (d: number): string => `2024-03-${String(d).padStart(2, '0')}`;
const at = (d: number, h: number): string => `${day(d)} ${String(h).padStart(2, '0')}:00:00+00`;
const lineage = (runId: string) => ({ workflowId: 'weather-aggregates-test', runId, inputs: [] });

/**
 * A complete observed day d (24 hours): temperature d-1 before noon and d+1 after
 * (avg d, min d-1, max d+1), wind 2d and 2d+2 alternating (avg 2d+1, max 2d+2),
 * humidity 50+d, precipitation d mod 3 in the first hour only (sum d mod 3).
 */
const completeDay = (d: number): Hour[] =>
  Array.from({ length: 24 }, (_, h) => ({
    time: at(d, h),
    temperature: h < 12 ? d - 1 : d + 1,
    humidity: 50 + d,
    precipitation: h === 0 ? d % 3 : 0,
    wind: h % 2 === 0 ? 2 * d : 2 * d + 2,
  }));

const constantDay = (d: number, v: Omit<Hour, 'time'>): Hour[] => Array.from({ length: 24 }, (_, h) => ({ time: at(d, h), ...v }));

const close = (actual: number | undefined, expected: number, what: string): void =>
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);

describe('weather aggregates', () => {
  let lake: TestLake;
  let session: LakeSession;
  before(async () => {
    lake = await startTestLake();
    session = await openLakeSession(lake.config);
    await ensureTables(session, [...WEATHER_TABLES, REJECTED_RECORDS]);
    // Source C's curation rejected a record on the day the refreshes are filed under.
    await session.run(`INSERT INTO lake.rejected.records VALUES ('source_c', DATE '2024-03-12', 'raw/test', 1, 'bad', '{}')`);

    // r01: March 1-4 and 6-9 complete, the 5th missing (a gap), the 10th only hours 0-5.
    const r01 = [1, 2, 3, 4, 6, 7, 8, 9].flatMap(completeDay);
    // The 10th, 6 hours: temperature 10..15 (avg 12.5), wind 20,22,… (avg 21, max 22),
    // humidity 60, precipitation 10 mod 3 = 1 in hour 0.
    for (let h = 0; h < 6; h++) r01.push({ time: at(10, h), temperature: 10 + h, humidity: 60, precipitation: h === 0 ? 1 : 0, wind: h % 2 === 0 ? 20 : 22 });
    // r02: March 1-10 complete, constant values; precipitation 1 an hour on the 1st only (sum 24).
    const r02 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].flatMap((d) => constantDay(d, { temperature: 20, humidity: 70, precipitation: d === 1 ? 1 : 0, wind: 3 }));
    await insertObserved('r01', r01);
    await insertObserved('r02', r02);

    // r01's older run (temperature 100) must lose to the later one; the later run's 10th
    // overlaps an observed day and must not replace it.
    const older = '2024-03-09 00:00:00+00';
    const latest = '2024-03-10 06:00:00+00';
    await insertForecast('r01', older, [9, 10, 11, 12, 13].flatMap((d) => fourHours(d, [100, 100, 100, 100], [9, 9, 9, 9], [9, 9, 9, 9])));
    await insertForecast('r01', latest, [
      ...fourHours(10, [50, 50, 50, 50], [50, 50, 50, 50], [50, 50, 50, 50]),
      // 11th: temperature avg (11+13+11+13)/4 = 12, precipitation sum 0.5+0.5 = 1, wind avg (4+6+4+6)/4 = 5.
      ...fourHours(11, [11, 13, 11, 13], [0.5, 0.5, 0, 0], [4, 6, 4, 6]),
      // 12th: temperature 14, precipitation sum 3, wind 8.
      ...fourHours(12, [14, 14, 14, 14], [0, 0, 0, 3], [8, 8, 8, 8]),
    ]);
    // r03 has no observation at all: every day of its latest forecast counts.
    // 11th: temperature avg (1+2+3+4)/4 = 2.5, precipitation 0, wind 1.
    await insertForecast('r03', latest, fourHours(11, [1, 2, 3, 4], [0, 0, 0, 0], [1, 1, 1, 1]));
  });
  after(async () => {
    session?.close();
    await lake?.stop();
  });

  function fourHours(d: number, temperature: number[], precipitation: number[], wind: number[]): Hour[] {
    return [0, 6, 12, 18].map((h, i) => ({ time: at(d, h), temperature: temperature[i]!, humidity: 80, precipitation: precipitation[i]!, wind: wind[i]! }));
  }
  async function insertObserved(region: string, hours: readonly Hour[]): Promise<void> {
    const values = hours.map(
      (h) =>
        `(${sqlString(region)}, TIMESTAMPTZ ${sqlString(h.time)}, ${h.temperature}, ${h.humidity}, ${h.precipitation}, ${h.wind}, 0, 'archive', DATE ${sqlString(h.time.slice(0, 10))}, 'raw/test')`,
    );
    await session.run(`INSERT INTO lake.curated.weather_observed VALUES ${values.join(', ')}`);
  }
  async function insertForecast(region: string, issuedAt: string, hours: readonly Hour[]): Promise<void> {
    const values = hours.map(
      (h) =>
        `(${sqlString(region)}, TIMESTAMPTZ ${sqlString(issuedAt)}, TIMESTAMPTZ ${sqlString(h.time)}, ${h.temperature}, ${h.humidity}, ${h.precipitation}, ${h.wind}, 0, DATE ${sqlString(issuedAt.slice(0, 10))}, 'raw/test')`,
    );
    await session.run(`INSERT INTO lake.curated.weather_forecast VALUES ${values.join(', ')}`);
  }
  const daily = (where = 'true'): Promise<DailyRow[]> =>
    session.rows<DailyRow>(`SELECT * FROM lake.operational.weather_daily WHERE ${where} ORDER BY region_id, "day"`);
  const rolling = (where = 'true'): Promise<RollingRow[]> =>
    session.rows<RollingRow>(`SELECT * FROM lake.operational.weather_rolling WHERE ${where} ORDER BY region_id, "day"`);
  const find = <T extends { region_id: string; day: string }>(rows: readonly T[], region: string, d: number): T | undefined =>
    rows.find((r) => r.region_id === region && r.day === day(d));

  it('aggregates each observed day, partial days included and gap days left out', async () => {
    const result = await refreshWeatherDaily(session, { from: day(1), to: day(12), lineage: lineage('daily-1') });
    // r01: 1-4, 6-10 = 9 days; r02: 1-10 = 10 days.
    assert.equal(result.rows, 19);
    const rows = await daily();
    assert.equal(rows.length, 19);
    assert.deepEqual(find(rows, 'r01', 1), {
      region_id: 'r01',
      day: day(1),
      temperature_avg: 1, // (12×0 + 12×2)/24
      temperature_min: 0,
      temperature_max: 2,
      precipitation_sum: 1, // 1 mod 3
      wind_speed_avg: 3, // (12×2 + 12×4)/24
      wind_speed_max: 4,
      relative_humidity_avg: 51,
      hours: 24,
    });
    assert.deepEqual(find(rows, 'r01', 10), {
      region_id: 'r01',
      day: day(10),
      temperature_avg: 12.5, // (10+11+12+13+14+15)/6
      temperature_min: 10,
      temperature_max: 15,
      precipitation_sum: 1,
      wind_speed_avg: 21, // (3×20 + 3×22)/6
      wind_speed_max: 22,
      relative_humidity_avg: 60,
      hours: 6,
    });
    assert.equal(find(rows, 'r01', 5), undefined, 'a day without observed hours has no row');
    assert.equal(find(rows, 'r01', 11), undefined, 'forecast hours never reach weather_daily');
    assert.equal(find(rows, 'r02', 1)?.precipitation_sum, 24);
    assert.equal(find(rows, 'r02', 2)?.precipitation_sum, 0);

    const [commit] = await session.rows<{ scope: string; ingest_day: string; rows: string }>(
      `SELECT scope, ingest_day, "rows" FROM lake.lineage.commits WHERE run_id = 'daily-1'`,
    );
    assert.deepEqual(commit, { scope: `day=${day(1)}..${day(12)}`, ingest_day: day(12), rows: '19' });
    const rejected = await session.rows(`SELECT source, ingest_day FROM lake.rejected.records`);
    assert.deepEqual(rejected, [{ source: 'source_c', ingest_day: day(12) }], "source C's rejected records of that day are left alone");
  });

  it('averages over calendar-day windows, with the latest forecast past the last observed day', async () => {
    // from..to reaches the 14th: the older run's 13th must not come back.
    const result = await refreshWeatherRolling(session, { from: day(1), to: day(14), lineage: lineage('rolling-1') });
    // r01: 9 observed + 11th, 12th forecast; r02: 10 observed; r03: 11th forecast.
    assert.equal(result.rows, 22);
    const rows = await rolling();
    assert.equal(rows.length, 22);
    assert.deepEqual(
      rows.filter((r) => r.region_id === 'r01').map((r) => [r.day.slice(8), r.is_forecast]),
      [['01', false], ['02', false], ['03', false], ['04', false], ['06', false], ['07', false], ['08', false], ['09', false], ['10', false], ['11', true], ['12', true]],
    );
    // r01's daily values — temperature: 1 2 3 4 _ 6 7 8 9 12.5 | 12f 14f;
    // precipitation: 1 2 0 1 _ 0 1 2 0 1 | 1f 3f; wind: 3 5 7 9 _ 13 15 17 19 21 | 5f 8f.

    // 4th: the window 02-27..03-04 holds 1-4 only.
    const d4 = find(rows, 'r01', 4);
    assert.equal(d4?.days_in_7d, 4);
    assert.equal(d4?.days_in_30d, 4);
    close(d4?.temperature_avg_7d, 2.5, 'r01 4th temperature 7d'); // (1+2+3+4)/4

    // 7th: window 03-01..03-07 with the 5th missing: 6 days, averaged over the 6.
    const d7 = find(rows, 'r01', 7);
    assert.equal(d7?.days_in_7d, 6);
    close(d7?.temperature_avg_7d, 23 / 6, 'r01 7th temperature 7d'); // (1+2+3+4+6+7)/6
    close(d7?.precipitation_avg_7d, 5 / 6, 'r01 7th precipitation 7d'); // (1+2+0+1+0+1)/6
    close(d7?.wind_speed_avg_7d, 52 / 6, 'r01 7th wind 7d'); // (3+5+7+9+13+15)/6

    // 10th: observed (the forecast's 50 does not override it); window 03-04..03-10 = 4,6,7,8,9,10.
    const d10 = find(rows, 'r01', 10);
    assert.equal(d10?.is_forecast, false);
    assert.equal(d10?.days_in_7d, 6);
    assert.equal(d10?.days_in_30d, 9);
    close(d10?.temperature_avg_7d, 46.5 / 6, 'r01 10th temperature 7d'); // (4+6+7+8+9+12.5)/6 = 7.75
    close(d10?.temperature_avg_30d, 52.5 / 9, 'r01 10th temperature 30d'); // (1+2+3+4+6+7+8+9+12.5)/9
    close(d10?.precipitation_avg_30d, 8 / 9, 'r01 10th precipitation 30d'); // (1+2+0+1+0+1+2+0+1)/9

    // 12th: forecast; window 03-06..03-12 = 6,7,8,9,10 observed + 11,12 from the latest run.
    const d12 = find(rows, 'r01', 12);
    assert.equal(d12?.is_forecast, true);
    assert.equal(d12?.days_in_7d, 7);
    assert.equal(d12?.days_in_30d, 11);
    close(d12?.temperature_avg_7d, 68.5 / 7, 'r01 12th temperature 7d'); // (6+7+8+9+12.5+12+14)/7
    close(d12?.temperature_avg_30d, 78.5 / 11, 'r01 12th temperature 30d'); // (1+2+3+4+6+7+8+9+12.5+12+14)/11
    close(d12?.precipitation_avg_7d, 8 / 7, 'r01 12th precipitation 7d'); // (0+1+2+0+1+1+3)/7
    close(d12?.wind_speed_avg_7d, 14, 'r01 12th wind 7d'); // (13+15+17+19+21+5+8)/7 = 98/7
    close(d12?.wind_speed_avg_30d, 122 / 11, 'r01 12th wind 30d'); // (3+5+7+9+13+15+17+19+21+5+8)/11

    assert.equal(find(rows, 'r01', 13), undefined, 'only the latest run counts: it stops at the 12th');

    // r02: no forecast, so nothing past its last observed day.
    const r02d10 = find(rows, 'r02', 10);
    assert.equal(r02d10?.days_in_7d, 7);
    assert.equal(r02d10?.days_in_30d, 10);
    close(r02d10?.temperature_avg_7d, 20, 'r02 10th temperature 7d');
    close(r02d10?.precipitation_avg_30d, 2.4, 'r02 10th precipitation 30d'); // (24+0×9)/10
    close(find(rows, 'r02', 7)?.precipitation_avg_7d, 24 / 7, 'r02 7th precipitation 7d'); // window 1-7: 24/7
    close(find(rows, 'r02', 8)?.precipitation_avg_7d, 0, 'r02 8th precipitation 7d'); // window 2-8: the 24 fell out
    assert.equal(find(rows, 'r02', 11), undefined);

    // r03: never observed, its latest forecast's day stands alone.
    const r03 = rows.filter((r) => r.region_id === 'r03');
    assert.equal(r03.length, 1);
    assert.equal(r03[0]?.is_forecast, true);
    assert.equal(r03[0]?.days_in_7d, 1);
    close(r03[0]?.temperature_avg_7d, 2.5, 'r03 11th temperature 7d');
  });

  it('gives identical rows when re-run, without duplicates', async () => {
    const dailyBefore = await daily();
    const rollingBefore = await rolling();
    await refreshWeatherDaily(session, { from: day(1), to: day(12), lineage: lineage('daily-2') });
    await refreshWeatherRolling(session, { from: day(1), to: day(14), lineage: lineage('rolling-2') });
    assert.deepEqual(await daily(), dailyBefore);
    assert.deepEqual(await rolling(), rollingBefore);
    // A narrower rolling range near the end still reads the 29 days before `from`.
    await refreshWeatherRolling(session, { from: day(10), to: day(12), lineage: lineage('rolling-3') });
    assert.deepEqual(await rolling(), rollingBefore);
  });

  it('leaves the other regions alone when refreshing some', async () => {
    const r01Daily = await daily(`region_id = 'r01'`);
    const r01Rolling = await rolling(`region_id = 'r01'`);
    // New hours for both: r01's gap day and r02's 11th. Only r02 (and r03) are refreshed.
    await insertObserved('r01', constantDay(5, { temperature: 5, humidity: 55, precipitation: 0, wind: 11 }));
    await insertObserved('r02', constantDay(11, { temperature: 31, humidity: 70, precipitation: 0, wind: 3 }));

    const d = await refreshWeatherDaily(session, { from: day(1), to: day(12), regions: ['r02'], lineage: lineage('daily-r02') });
    assert.equal(d.rows, 11);
    const r = await refreshWeatherRolling(session, { from: day(1), to: day(14), regions: ['r02', 'r03'], lineage: lineage('rolling-r02') });
    assert.equal(r.rows, 12); // r02's 1-11 + r03's 11th

    assert.deepEqual(await daily(`region_id = 'r01'`), r01Daily, 'r01 daily untouched (its 5th not yet aggregated)');
    assert.deepEqual(await rolling(`region_id = 'r01'`), r01Rolling, 'r01 rolling untouched');
    assert.equal((await daily(`region_id = 'r02'`)).length, 11);
    const r02d11 = (await rolling(`region_id = 'r02' AND "day" = DATE '2024-03-11'`))[0];
    assert.equal(r02d11?.is_forecast, false);
    close(r02d11?.temperature_avg_7d, 151 / 7, 'r02 11th temperature 7d'); // (20×6 + 31)/7 = 151/7
    assert.equal((await rolling(`region_id = 'r03'`)).length, 1);

    const [commit] = await session.rows<{ scope: string }>(`SELECT scope FROM lake.lineage.commits WHERE run_id = 'rolling-r02'`);
    assert.equal(commit?.scope, `day=${day(1)}..${day(14)} regions=r02,r03`);

    // A refresh of every region picks r01's 5th up.
    await refreshWeatherDaily(session, { from: day(5), to: day(5), lineage: lineage('daily-all') });
    assert.equal(find(await daily(), 'r01', 5)?.hours, 24);
    assert.equal((await daily()).length, 21);
  });
});
