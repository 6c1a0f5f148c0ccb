/**
 * Same transforms, same lake, same result: each aggregate runs on DuckDB (lib/) and as its
 * Spark job (deploy/spark/jobs/) on the same lake state, and the rows each engine publishes
 * are compared as sets, read back by DuckDB from the same Iceberg table — weather_daily,
 * weather_rolling, compact_market_hour, market_daily and the region_trend analysis — on
 * generated data with nulls, duplicates, gaps, hours around midnight UTC and the 2024 DST
 * days (10 March in the US, 31 March in Europe), with the lineage rows and, for the tables
 * Spark creates, their columns and partition spec. Then Spark's maintenance job compacts,
 * expires and removes orphans, and DuckDB reads the same rows afterwards.
 *
 * Doubles are equal bit for bit wherever DuckDB fixes the order of a sum (`avg(x ORDER BY
 * "time")`, `ORDER BY event_id`): the jobs add in that order too. A small relative tolerance
 * (1e-12; 1e-9 for the correlation) applies only where DuckDB's order is its own — window
 * averages (its segment tree), `sum(volume)` (scan order) and what derives from it (vwap,
 * market_interest), region_trend's unordered sums, averages and corr. The test reports how
 * many values in those columns actually differed.
 *
 * Each Spark job costs about 10-15 s here (JVM and session start, and Iceberg commits), so the
 * file runs 13 jobs, each checking several things; Spark gets 4 shuffle partitions (its default
 * of 200 costs 4-5 s per job on these few hundred rows).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { AnalysisRequest } from '../lib/analysis/requests.ts';
import { computeAnalysis } from '../lib/analysis/compute.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import { createTableSql, ensureTables, LINEAGE_COMMITS, REJECTED_RECORDS, type TableDef } from '../lib/lake/tables.ts';
import { compactMarketHour, refreshMarketDaily, type CompactedHour } from '../lib/market/compact.ts';
import { CURATED_MARKET_EVENTS, OPERATIONAL_MARKET_DAILY } from '../lib/market/tables.ts';
import { ensureSpark } from '../lib/spark/provision.ts';
import { runSparkJob } from '../lib/spark/submit.ts';
import { createLocalStore, type ObjectStore } from '../lib/storage/index.ts';
import { addDays, daysBetween } from '../lib/time/days.ts';
import { refreshWeatherDaily, refreshWeatherRolling } from '../lib/weather/aggregates.ts';
import {
  CURATED_WEATHER_FORECAST,
  CURATED_WEATHER_OBSERVED,
  OPERATIONAL_REGIONS,
  OPERATIONAL_WEATHER_DAILY,
  OPERATIONAL_WEATHER_ROLLING,
} from '../lib/weather/tables.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';
import { assertSameRows, random, reportDrift, sparkJobRunner, type Compare, type Row } from './helpers/spark-parity.ts';

const sql = (v: unknown): string => {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : `'${v}'::DOUBLE`;
  if (Array.isArray(v)) return `[${v.map(sql).join(', ')}]`;
  return `'${String(v).replaceAll("'", "''")}'`;
};

const hourIso = (day: string, h: number): string => `${day} ${String(h).padStart(2, '0')}:00:00+00`;

// ------------------------------------------------------------------ the lake

const WEATHER_REGIONS = ['r01', 'r02', 'r03', 'r05'];
const OBSERVED_FROM = '2024-01-25';
const OBSERVED_TO = '2024-03-31';
/** Each region's last observed day: r03 and r05 stop early, so forecast days follow them. */
const LAST_OBSERVED: Record<string, string> = { r01: '2024-03-31', r02: '2024-03-31', r03: '2024-03-20', r05: '2024-03-28' };

/** The hours of curated.weather_observed: gaps, nulls, a duplicated hour, partial days. */
function observedRows(): Row[] {
  const rnd = random(7);
  const rows: Row[] = [];
  for (const region of WEATHER_REGIONS) {
    for (const day of daysBetween(OBSERVED_FROM, LAST_OBSERVED[region] as string)) {
      // r02: five missing days, and one more in March.
      if (region === 'r02' && ((day >= '2024-02-10' && day <= '2024-02-14') || day === '2024-03-05')) continue;
      for (let h = 0; h < 24; h++) {
        // Partial days: r02 lacks the night hours of DST day 2024-03-10, r05 most of 2024-03-31 (not observed).
        if (region === 'r02' && day === '2024-03-10' && h < 6) continue;
        if (region === 'r01' && day === '2024-03-31' && h > 20) continue;
        const base = 4 + 9 * Math.sin(((h - 9) * Math.PI) / 12) + (region === 'r03' ? 6 : 0);
        rows.push({
          region_id: region,
          time: hourIso(day, h),
          temperature_2m: region === 'r01' && day === '2024-02-20' && h % 5 === 0 ? null : base + rnd() * 3.7,
          relative_humidity_2m: 35 + rnd() * 60,
          // A day of r02 with no precipitation reading at all: its sum is NULL.
          precipitation: region === 'r02' && day === '2024-03-02' ? null : rnd() < 0.25 ? rnd() * 2.3 : 0,
          wind_speed_10m: rnd() * 27.1,
          weather_code: Math.floor(rnd() * 4),
          origin: day < '2024-03-01' ? 'archive' : 'current',
          day,
          _raw_key: `raw/source_c/x/day=${day}/k.json`,
        });
      }
    }
  }
  // The same hour delivered twice (the same values): counted twice by both engines.
  const dup = rows.find((r) => r['region_id'] === 'r01' && r['time'] === hourIso('2024-03-10', 7));
  assert.ok(dup);
  rows.push({ ...dup });
  return rows;
}

/** Forecast runs: the latest per region counts; r06 has forecasts only, r07 only one older than the horizon. */
function forecastRows(): Row[] {
  const rnd = random(11);
  const runs: [string, string][] = [
    ['r01', '2024-03-20T06'],
    ['r01', '2024-03-31T18'],
    ['r03', '2024-03-18T00'],
    ['r03', '2024-03-21T23'],
    ['r05', '2024-03-28T12'],
    ['r05', '2024-03-30T05'],
    ['r06', '2024-03-29T00'],
    ['r07', '2024-01-02T00'],
  ];
  const rows: Row[] = [];
  for (const [region, issued] of runs) {
    const issuedMs = Date.parse(`${issued}:00:00Z`);
    for (let i = 0; i < 7 * 24; i++) {
      const t = new Date(issuedMs + i * 3_600_000).toISOString();
      rows.push({
        region_id: region,
        issued_at: `${issued.replace('T', ' ')}:00:00+00`,
        time: `${t.slice(0, 10)} ${t.slice(11, 19)}+00`,
        temperature_2m: 3 + rnd() * 12.3,
        relative_humidity_2m: 50 + rnd() * 20,
        precipitation: i % 17 === 3 ? null : rnd() * 1.1,
        wind_speed_10m: rnd() * 15,
        weather_code: 1,
        issued_day: issued.slice(0, 10),
        _raw_key: `raw/source_c/forecast/day=${issued.slice(0, 10)}/k.json`,
      });
    }
  }
  return rows;
}

async function insertRows(session: LakeSession, table: TableDef, rows: readonly Row[]): Promise<void> {
  const columns = table.columns.map(([c]) => c);
  for (let i = 0; i < rows.length; i += 2000) {
    const values = rows.slice(i, i + 2000).map((r) => `(${columns.map((c) => sql(r[c])).join(', ')})`);
    await session.run(`INSERT INTO lake.${table.namespace}.${table.name} VALUES ${values.join(',\n')}`);
  }
}

const HOURS = [
  { day: '2024-03-30', hour: 23 },
  { day: '2024-03-31', hour: 0 },
  { day: '2024-03-31', hour: 1 },
] as const;

/** Raw files of the consumer for the three hours around midnight (and Europe's DST change, 01:00 UTC). */
function marketRawFiles(): { key: string; text: string }[] {
  const rnd = random(23);
  const files: { key: string; text: string }[] = [];
  let seq = 1000;
  const line = (partition: number, offset: number, event: Record<string, unknown>): string =>
    JSON.stringify({ partition, offset: String(offset), timestamp: String(Date.parse(String(event['ts']))), key: event['region'] ?? null, event });
  for (const { day, hour } of HOURS) {
    const hh = String(hour).padStart(2, '0');
    const prefix = `raw/source_d/day=${day}/hour=${hh}/`;
    const start = Date.parse(`${day}T${hh}:00:00Z`);
    const events: Record<string, unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      const region = ['r01', 'r02', 'r03', 'r04'][i % 4] as string;
      const attributes = i % 7 === 0 ? undefined : i % 7 === 1 ? { venue: 'LME' } : { venue: ['LME', 'CME', 'ICE'][i % 3], side: i % 2 ? 'buy' : 'sell', tags: i % 5 ? ['a', `t${i % 3}`] : [] };
      // The first and last millisecond of the hour, the rest anywhere in it.
      const at = i === 0 ? start : i === 1 ? start + 3_599_999 : start + Math.floor(rnd() * 3_600_000);
      events.push({
        event_id: `e-${day}-${hh}-${i}`,
        seq: seq++,
        region,
        instrument: ['GOLD', 'OIL', 'WHEAT', 'COPPER'][Math.floor(rnd() * 4)],
        price: i % 9 === 0 ? 100 : Math.round(rnd() * 1e6) / 1e3,
        volume: i % 11 === 0 ? 0 : rnd() * 50,
        ts: new Date(at).toISOString(),
        ...(attributes ? { attributes } : {}),
      });
    }
    if (hour === 0) {
      // A region first seen here, and a timestamp with an offset: 01:30+01:00 is 00:30 UTC.
      events.push({ event_id: `e-${day}-${hh}-new`, seq: seq++, region: 'r08', instrument: 'GOLD', price: 10, volume: 1.5, ts: `${day}T01:30:00.250+01:00`, attributes: {} });
    }
    // Partition 0 holds events 0-19 at offsets 100+, partition 1 the rest at 40+; events 3 and 25
    // come again (a producer retry) on the other partition, event 7 twice on its own.
    const p0 = events.slice(0, 20).map((e, i) => line(0, 100 + i, e));
    const p1 = events.slice(20).map((e, i) => line(1, 40 + i, e));
    const retry0 = [line(0, 150, events[25] as Record<string, unknown>), line(0, 151, events[7] as Record<string, unknown>)];
    const retry1 = [line(1, 90, events[3] as Record<string, unknown>)];
    // A misfiled event (its timestamp is the hour before): never this hour's row.
    const stray = { ...(events[5] as Record<string, unknown>), event_id: `e-${day}-${hh}-stray`, ts: new Date(start - 1).toISOString() };
    files.push({ key: `${prefix}market.events+0+000000000100.jsonl`, text: p0.slice(0, 12).join('\n') + '\n' });
    files.push({ key: `${prefix}market.events+0+000000000112.jsonl`, text: [...p0.slice(12), ...retry0].join('\n') + '\n' });
    files.push({ key: `${prefix}market.events+1+000000000040.jsonl`, text: [...p1, ...retry1, line(1, 91, stray)].join('\n') + '\n' });
  }
  return files;
}

/** Curated market events of the days before the compacted hours, one DuckDB commit per day (small files). */
function marketEventRows(day: string, rnd: () => number): Row[] {
  const rows: Row[] = [];
  const regions = ['r01', 'r02', 'r03', 'r04'].filter((r) => {
    if (r === 'r02' && (day === '2024-03-03' || day === '2024-03-04')) return false; // gaps
    if (r === 'r03' && day < '2024-03-01') return false; // March only: one month with both sides
    return true;
  });
  for (const region of regions) {
    const n = 3 + Math.floor(rnd() * 6);
    for (let i = 0; i < n; i++) {
      const h = Math.floor(rnd() * 24);
      // r04 trades nothing until 2024-02-25 (zero history: Infinity, then NaN on a zero day).
      const volume = region === 'r04' && (day < '2024-02-25' || day === '2024-03-07') ? 0 : rnd() * 80;
      rows.push({
        event_id: `h-${day}-${region}-${String(i).padStart(2, '0')}`,
        seq: i,
        region,
        instrument: ['GOLD', 'OIL', 'WHEAT'][Math.floor(rnd() * 3)],
        price: rnd() * 500,
        volume,
        ts: `${day} ${String(h).padStart(2, '0')}:${String(Math.floor(rnd() * 60)).padStart(2, '0')}:00+00`,
        venue: 'LME',
        side: 'buy',
        tags: ['x'],
        day,
        hour: h,
        _kafka_partition: 0,
        _offset: i,
        _raw_key: 'synthetic',
      });
    }
  }
  return rows;
}

// ------------------------------------------------------------------ the test

describe('Spark jobs publish what the DuckDB transforms publish (parity)', () => {
  let lake: TestLake;
  let session: LakeSession;
  let store: ObjectStore;
  let sparkConfDir: string;
  const jobTimes: string[] = [];

  let spark: ReturnType<typeof sparkJobRunner>;
  const rows = (query: string): Promise<Row[]> => session.rows<Row>(query);
  const all = (table: TableDef, where = 'true'): Promise<Row[]> => rows(`SELECT * FROM lake.${table.namespace}.${table.name} WHERE ${where}`);
  const lineageOf = async (runId: string): Promise<Row[]> =>
    rows(`SELECT table_name, scope, CAST(ingest_day AS VARCHAR) AS ingest_day, workflow_id, inputs, "rows", rejected FROM lake.lineage.commits WHERE run_id = '${runId}' ORDER BY committed_at`);
  const lineage = (runId: string, inputs: { key: string; sha256: string }[] = []) => ({ workflowId: 'parity', runId, inputs });
  const describeTable = async (name: string): Promise<Row[]> =>
    (await rows(`DESCRIBE lake.${name}`)).map((r) => ({ column: r['column_name'], type: r['column_type'] }));
  const partitionSpec = async (namespace: string, name: string): Promise<string[]> => {
    const res = await fetch(new URL(`v1/namespaces/${namespace}/tables/${name}`, `${lake.config.icebergCatalogUrl.toString().replace(/\/$/, '')}/`));
    assert.equal(res.status, 200);
    const { metadata } = (await res.json()) as {
      metadata: { 'default-spec-id': number; 'partition-specs': { 'spec-id': number; fields: { transform: string; 'source-id': number }[] }[]; schemas: { fields: { id: number; name: string }[] }[] };
    };
    const spec = metadata['partition-specs'].find((s) => s['spec-id'] === metadata['default-spec-id']);
    const names = new Map(metadata.schemas.flatMap((s) => s.fields.map((f) => [f.id, f.name] as const)));
    return (spec?.fields ?? []).map((f) => `${f.transform}(${names.get(f['source-id'])})`);
  };

  /** A table Spark created has the columns, types and partition spec DuckDB's own DDL gives it. */
  const assertCreatedLikeDuckdb = async (table: TableDef): Promise<void> => {
    const twin = { ...table, namespace: `twin_${table.namespace}` };
    await session.run(`CREATE SCHEMA IF NOT EXISTS lake.${twin.namespace}`);
    await session.run(createTableSql(twin));
    assert.deepEqual(await describeTable(`${table.namespace}.${table.name}`), await describeTable(`${twin.namespace}.${twin.name}`), `columns of ${table.name}`);
    assert.deepEqual(await partitionSpec(table.namespace, table.name), await partitionSpec(twin.namespace, twin.name), `partition spec of ${table.name}`);
  };

  before(async () => {
    lake = await startTestLake();
    await ensureSpark(lake.config);
    session = await openLakeSession(lake.config);
    store = createLocalStore(lake.config.lakeLocalRoot);
    // Days of a few hundred rows: 4 shuffle partitions instead of Spark's 200 take 4-5 s off each job here.
    sparkConfDir = path.join(lake.dir, 'spark-conf');
    mkdirSync(sparkConfDir, { recursive: true });
    writeFileSync(path.join(sparkConfDir, 'spark-defaults.conf'), 'spark.sql.shuffle.partitions 4\n');
    spark = sparkJobRunner(lake.config, sparkConfDir, jobTimes);
    // The curated inputs only: the tables the transforms write are created by whichever engine runs first.
    await ensureTables(session, [CURATED_WEATHER_OBSERVED, CURATED_WEATHER_FORECAST]);
    await insertRows(session, CURATED_WEATHER_OBSERVED, observedRows());
    await insertRows(session, CURATED_WEATHER_FORECAST, forecastRows());
    for (const f of marketRawFiles()) await store.put(f.key, f.text);
  });

  after(async () => {
    session?.close();
    await lake?.stop();
    console.log(`Spark jobs: ${jobTimes.join('; ')}`);
  });

  it('weather_daily: the same rows bit for bit, and the same lineage', async (t) => {
    const input = { from: OBSERVED_FROM, to: OBSERVED_TO };
    // Spark first, on a lake without the table: it creates it (and lineage.commits, rejected.records).
    const sparkResult = await spark(t, 'weather_daily.py', { ...input, lineage: lineage('spark-daily') });
    const bySpark = await all(OPERATIONAL_WEATHER_DAILY);
    for (const table of [OPERATIONAL_WEATHER_DAILY, LINEAGE_COMMITS, REJECTED_RECORDS]) await assertCreatedLikeDuckdb(table);

    const duck = await refreshWeatherDaily(session, { ...input, lineage: lineage('duckdb-daily') });
    const byDuckdb = await all(OPERATIONAL_WEATHER_DAILY);
    assert.deepEqual(sparkResult, { rows: duck.rows, rejected: 0, retries: 0 });
    assert.ok(duck.rows > 200, `${duck.rows} rows`);
    reportDrift(t, 'weather_daily', assertSameRows('weather_daily', bySpark, byDuckdb, { key: ['region_id', 'day'] }));
    // The edges are in the data: a NULL sum, a duplicated hour, partial days.
    const at = (region: string, day: string): Row | undefined => byDuckdb.find((r) => r['region_id'] === region && r['day'] === day);
    assert.equal(at('r02', '2024-03-02')?.['precipitation_sum'], null);
    assert.equal(at('r01', '2024-03-10')?.['hours'], 25);
    assert.equal(at('r02', '2024-03-10')?.['hours'], 18);
    assert.equal(at('r02', '2024-02-12'), undefined);
    assert.deepEqual((await lineageOf('spark-daily')).map((r) => ({ ...r })), await lineageOf('duckdb-daily'));
  });

  it('weather_rolling: the same rows (window averages within 1e-12), forecast days, a region-scoped refresh', async (t) => {
    const input = { from: '2024-03-01', to: '2024-04-07' };
    const sparkResult = await spark(t, 'weather_rolling.py', { ...input, lineage: lineage('spark-rolling') });
    const bySpark = await all(OPERATIONAL_WEATHER_ROLLING);
    await assertCreatedLikeDuckdb(OPERATIONAL_WEATHER_ROLLING);
    const duck = await refreshWeatherRolling(session, { ...input, lineage: lineage('duckdb-rolling') });
    const byDuckdb = await all(OPERATIONAL_WEATHER_ROLLING);
    assert.deepEqual(sparkResult, { rows: duck.rows, rejected: 0, retries: 0 });
    const averages = Object.fromEntries(
      ['temperature', 'precipitation', 'wind_speed'].flatMap((m) => [`${m}_avg_7d`, `${m}_avg_30d`]).map((c) => [c, 1e-12] as const),
    );
    reportDrift(t, 'weather_rolling', assertSameRows('weather_rolling', bySpark, byDuckdb, { key: ['region_id', 'day'], approx: averages }));
    // Forecast days follow each region's last observed day; r06 is forecast only; r07's run is too old.
    const flags = (region: string): string => byDuckdb.filter((r) => r['region_id'] === region).map((r) => (r['is_forecast'] ? 'F' : 'O')).join('');
    assert.match(flags('r03'), /^O{20}F+$/);
    assert.match(flags('r06'), /^F+$/);
    assert.equal(flags('r07'), '');
    assert.ok(byDuckdb.some((r) => r['region_id'] === 'r02' && (r['days_in_7d'] as number) < 7), 'a gap shrinks a window');
    assert.deepEqual(await lineageOf('spark-rolling'), await lineageOf('duckdb-rolling'));

    // Two regions over part of the range, on a table DuckDB wrote (one data file per year
    // holding every region): Spark rewrites the partition, the rows outside the scope unchanged.
    const scoped = { from: '2024-03-15', to: '2024-04-03', regions: ['r02', 'r03'] };
    const inScope = (r: Row): boolean => scoped.regions.includes(r['region_id'] as string) && (r['day'] as string) >= scoped.from && (r['day'] as string) <= scoped.to;
    const scopedResult = await spark<Row>(t, 'weather_rolling.py', { ...scoped, lineage: lineage('spark-rolling-scoped') });
    assert.equal(scopedResult['rows'], byDuckdb.filter(inScope).length);
    const after = await all(OPERATIONAL_WEATHER_ROLLING);
    assertSameRows('weather_rolling after a scoped Spark refresh', after, byDuckdb, { key: ['region_id', 'day'], approx: averages, approxWhere: inScope });
    assert.deepEqual(await lineageOf('spark-rolling-scoped'), [
      {
        table_name: 'operational.weather_rolling',
        scope: 'day=2024-03-15..2024-04-03 regions=r02,r03',
        ingest_day: '2024-04-03',
        workflow_id: 'parity',
        inputs: '[]',
        rows: String(scopedResult['rows']),
        rejected: '0',
      },
    ]);
  });

  it('compact_market_hour: each event once, the same rows, regions and lineage, hour by hour around midnight', async (t) => {
    for (const [i, { day, hour }] of HOURS.entries()) {
      const prefix = `raw/source_d/day=${day}/hour=${String(hour).padStart(2, '0')}/`;
      const keys: string[] = [];
      for await (const { key } of store.list(prefix)) if (key.endsWith('.jsonl')) keys.push(key);
      const files = keys.map((key) => ({ key, location: store.locationOf(key) }));
      const scope = `"day" = DATE '${day}' AND "hour" = ${hour}`;
      const runSpark = () => spark<Row>(t, 'compact_market_hour.py', { day, hour, files, lineage: lineage(`spark-hour-${i}`) });
      const runDuckdb = () => compactMarketHour(session, store, { day, hour, lineage: lineage(`duckdb-hour-${i}`) });
      // Spark first on the first hour (it creates the tables), DuckDB first on the second (it
      // adds the new region), and each engine's rows replace the other's.
      const sparkFirst = i !== 1;
      const first = sparkFirst ? await runSpark() : await runDuckdb();
      const byFirst = await all(CURATED_MARKET_EVENTS, scope);
      const second = sparkFirst ? await runDuckdb() : await runSpark();
      const bySecond = await all(CURATED_MARKET_EVENTS, scope);
      const sparkResult = (sparkFirst ? first : second) as Row;
      const duck = (sparkFirst ? second : first) as CompactedHour;
      const [bySpark, byDuckdb] = sparkFirst ? [byFirst, bySecond] : [bySecond, byFirst];
      if (i === 0) for (const table of [CURATED_MARKET_EVENTS, OPERATIONAL_MARKET_DAILY, OPERATIONAL_REGIONS]) await assertCreatedLikeDuckdb(table);
      assert.deepEqual(
        { ...sparkResult, regionsAdded: [] },
        { day, hour, files: 3, rawEvents: duck.rawEvents, regionsAdded: [], rows: duck.rows, rejected: 0, retries: 0 },
      );
      // 40 events (41 at 00:00), 3 copies and 1 misfiled line in the files.
      assert.equal(duck.rawEvents, hour === 0 ? 45 : 44);
      assert.equal(duck.rows, hour === 0 ? 41 : 40);
      assert.deepEqual([...(sparkResult['regionsAdded'] as string[]), ...(duck.regionsAdded ?? [])].sort(), i === 0 ? ['r01', 'r02', 'r03', 'r04'] : i === 1 ? ['r08'] : []);
      reportDrift(t, `market_events ${day} ${hour}h`, assertSameRows(`market_events ${day} ${hour}h`, bySpark, byDuckdb, { key: ['event_id'] }));
      // The first copy is kept: the lowest partition, then the lowest offset.
      const kept = byDuckdb.find((r) => r['event_id'] === `e-${day}-${String(hour).padStart(2, '0')}-25`);
      assert.deepEqual([kept?.['_kafka_partition'], kept?.['_offset']], [0, '150']);
      assert.deepEqual(await lineageOf(`spark-hour-${i}`), await lineageOf(`duckdb-hour-${i}`));
    }
    // Regions first seen in source D, whichever engine added them: no coordinates, origin source_d.
    const regions = await rows(`SELECT region_id, name, latitude, longitude, country, timezone, metadata, origin FROM lake.operational.regions ORDER BY region_id`);
    assert.deepEqual(
      regions,
      ['r01', 'r02', 'r03', 'r04', 'r08'].map((id) => ({ region_id: id, name: id, latitude: null, longitude: null, country: null, timezone: null, metadata: '{}', origin: 'source_d' })),
    );
  });

  it('market_daily: the same rows (volume, vwap and market_interest within 1e-12), zero-volume history included', async (t) => {
    // The days before the compacted hours, one commit per region and day: many small files for the maintenance test.
    const rnd = random(31);
    for (const day of daysBetween('2024-02-19', '2024-03-29')) {
      const events = marketEventRows(day, rnd);
      for (const region of new Set(events.map((e) => e['region']))) await insertRows(session, CURATED_MARKET_EVENTS, events.filter((e) => e['region'] === region));
    }
    const approx = { volume: 1e-12, vwap: 1e-12, market_interest: 1e-12 };
    for (const [i, range] of [
      { from: '2024-02-19', to: '2024-03-10' },
      // The second range reads the days before it from market_daily itself.
      { from: '2024-03-11', to: '2024-03-31' },
    ].entries()) {
      const scope = `"day" BETWEEN DATE '${range.from}' AND DATE '${range.to}'`;
      const sparkResult = await spark(t, 'market_daily.py', { ...range, lineage: lineage(`spark-market-daily-${i}`) });
      const bySpark = await all(OPERATIONAL_MARKET_DAILY, scope);
      const duck = await refreshMarketDaily(session, { ...range, lineage: lineage(`duckdb-market-daily-${i}`) });
      const byDuckdb = await all(OPERATIONAL_MARKET_DAILY, scope);
      assert.deepEqual(sparkResult, { ...duck });
      reportDrift(t, `market_daily ${range.from}..${range.to}`, assertSameRows(`market_daily ${range.from}`, bySpark, byDuckdb, { key: ['region', 'day'], approx }));
      assert.deepEqual(await lineageOf(`spark-market-daily-${i}`), await lineageOf(`duckdb-market-daily-${i}`));
    }
    const interest = await rows(`SELECT CAST("day" AS VARCHAR) AS day, market_interest AS i FROM lake.operational.market_daily WHERE region = 'r04' AND "day" IN ('2024-02-19', '2024-02-20', '2024-02-25') ORDER BY 1`);
    // No history, then a history of zero volume (0/0), then volume over a zero average.
    assert.deepEqual(interest.map((r) => r['i']), [null, 'NaN', 'Infinity']);
  });

  it('region_trend: the same result rows and column types, for one region and for every region', async (t) => {
    const requests: Extract<AnalysisRequest, { type: 'region_trend' }>[] = [
      { type: 'region_trend', region_id: 'r01', from: '2024-01-25', to: '2024-03-31', bucket: 'week' },
      { type: 'region_trend', from: '2024-01-01', to: '2024-04-30', bucket: 'month' },
      { type: 'region_trend', region_id: 'r03', from: '2024-02-20', to: '2024-03-31', bucket: 'day' },
    ];
    const approx = {
      temperature_avg: 1e-12,
      precipitation_sum: 1e-12,
      market_volume: 1e-12,
      market_interest_avg: 1e-12,
      temperature_volume_correlation: 1e-9,
    };
    for (const [i, request] of requests.entries()) {
      const sparkResult = await spark<Row>(t, 'region_trend.py', { customerId: 'parity', table: `analysis_spark_${i}`, request });
      const duck = await computeAnalysis(session, { customerId: 'parity', table: `analysis_duckdb_${i}`, request });
      assert.deepEqual(sparkResult, { lakeTable: `personal_parity.analysis_spark_${i}`, rows: duck.rows });
      assert.deepEqual(await describeTable(`personal_parity.analysis_spark_${i}`), await describeTable(`personal_parity.analysis_duckdb_${i}`));
      assert.deepEqual(await partitionSpec('personal_parity', `analysis_spark_${i}`), await partitionSpec('personal_parity', `analysis_duckdb_${i}`));
      const bySpark = await rows(`SELECT * FROM lake.personal_parity.analysis_spark_${i}`);
      const byDuckdb = await rows(`SELECT * FROM lake.personal_parity.analysis_duckdb_${i}`);
      assert.ok(byDuckdb.length > 3, `${byDuckdb.length} rows`);
      reportDrift(t, `region_trend ${request.bucket}`, assertSameRows(`region_trend ${i}`, bySpark, byDuckdb, { key: ['region_id', 'bucket_start'], approx }));
      if (i === 1) {
        const corr = (region: string): unknown => byDuckdb.find((r) => r['region_id'] === region)?.['temperature_volume_correlation'];
        // r03: one month with both sides (NaN, as DuckDB's corr of one pair); r04/r05: one side only.
        assert.deepEqual([corr('r03'), corr('r04'), corr('r05')], ['NaN', null, null]);
      }
    }
    // A region that does not exist is bad input (exit 2), as computeAnalysis' InvalidAnalysisError.
    await assert.rejects(
      spark(t, 'region_trend.py', { customerId: 'parity', table: 'analysis_x', request: { type: 'region_trend', region_id: 'nowhere', from: '2024-01-01', to: '2024-01-02' } }),
      (err: unknown) => /BadInputError: unknown region "nowhere"/.test(String(err)),
    );
  });

  it('maintain_tables: compaction keeps the rows, expiration keeps the last N snapshots, old orphans go; DuckDB reads the same', async (t) => {
    // market_events' layout, with many more hourly files than the parity runs above left.
    const HOURLY: TableDef = { ...CURATED_MARKET_EVENTS, namespace: 'maint', name: 'events' };
    await ensureTables(session, [HOURLY]);
    const rnd = random(47);
    for (const day of ['2024-03-01', '2024-03-02', '2024-03-03']) {
      const events = marketEventRows(day, rnd);
      // One small file per commit, as the hourly compaction makes them.
      for (let h = 0; h < 24; h += 3) await insertRows(session, HOURLY, events.filter((e) => (e['hour'] as number) >= h && (e['hour'] as number) < h + 3));
    }
    // DuckDB's delete leaves a position-delete file: compaction applies it.
    await session.run(`DELETE FROM lake.maint.events WHERE "day" = DATE '2024-03-02' AND region = 'r02'`);

    const tables = ['maint.events', 'curated.market_events', 'operational.weather_daily'];
    const read = async (s: LakeSession, name: string): Promise<string[]> => (await s.rows<Row>(`SELECT * FROM lake.${name}`)).map((r) => JSON.stringify(r)).sort();
    const rowsBefore = Object.fromEntries(await Promise.all(tables.map(async (name) => [name, await read(session, name)] as const)));
    const liveFiles = async (s: LakeSession, name: string, content: 'DATA' | 'DELETE'): Promise<string[]> =>
      (await s.rows<{ file_path: string }>(`SELECT DISTINCT file_path FROM iceberg_metadata(lake.${name}) WHERE manifest_content = '${content}' AND status <> 'DELETED'`)).map((r) => r.file_path);
    const hourlyFiles = (await liveFiles(session, 'maint.events', 'DATA')).length;
    assert.ok(hourlyFiles >= 20, `${hourlyFiles} data files`);
    assert.ok((await liveFiles(session, 'maint.events', 'DELETE')).length >= 1);

    const location = async (name: string): Promise<string> => {
      const [ns, tn] = name.split('.') as [string, string];
      const res = await fetch(new URL(`v1/namespaces/${ns}/tables/${tn}`, `${lake.config.icebergCatalogUrl.toString().replace(/\/$/, '')}/`));
      const body = (await res.json()) as { metadata: { location: string } };
      return fileURLToPath(body.metadata.location.replace(/^file:\/*/, 'file:///'));
    };
    const filesUnder = (dir: string): string[] => (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(path.join(dir, f)).isFile());
    const aged = new Date(Date.now() - 48 * 3_600_000);
    const ORPHAN_TEXT = 'not referenced by any snapshot\n';
    const orphans: { old: string; recent: string }[] = [];
    for (const name of ['maint.events', 'curated.market_events']) {
      const dir = await location(name);
      // Every file looks two days old: only reachability can save it.
      for (const f of filesUnder(dir)) utimesSync(path.join(dir, f), aged, aged);
      const old = path.join(dir, 'data', 'day=2024-03-01', 'crashed-writer.parquet');
      const recent = path.join(dir, 'data', 'day=2024-03-02', 'in-flight.parquet');
      for (const f of [old, recent]) {
        mkdirSync(path.dirname(f), { recursive: true });
        writeFileSync(f, ORPHAN_TEXT);
      }
      utimesSync(old, aged, aged);
      orphans.push({ old, recent });
    }

    const result = await spark<{ tables: Row[] }>(t, 'maintain_tables.py', { tables, retainHours: 0, keepLast: 2, orphanMarginHours: 24, rewrite: true });
    for (const r of result.tables) t.diagnostic(JSON.stringify(r));
    const [hourly, events, daily] = result.tables;
    assert.deepEqual(result.tables.map((r) => r['table']), tables);
    // Compaction: one file per day partition, the delete file applied and dropped.
    assert.equal(hourly?.['dataFilesBefore'], hourlyFiles);
    assert.equal(hourly?.['dataFilesAfter'], 3);
    assert.equal(hourly?.['rewrittenDataFiles'], hourlyFiles);
    assert.equal(hourly?.['deleteFilesAfter'], 0);
    assert.equal(daily?.['dataFilesAfter'], 1, 'weather_daily: the DuckDB and Spark files of 2024 become one');
    // curated.market_events itself is compacted too (its hours above sit in files of their own days).
    assert.equal(events?.['rewriteSkipped'], undefined);
    assert.ok((events?.['dataFilesAfter'] as number) <= (events?.['dataFilesBefore'] as number), `market_events: ${events?.['dataFilesBefore']} → ${events?.['dataFilesAfter']} files`);
    for (const r of result.tables) {
      assert.ok((r['snapshotsBefore'] as number) > 2, `${r['table']}: ${r['snapshotsBefore']} snapshots before`);
      assert.equal(r['snapshotsAfter'], 2, `${r['table']}: the last 2 snapshots stay`);
      assert.ok((r['expiredFilesDeleted'] as number) > 0);
    }
    for (const { old, recent } of orphans) {
      assert.equal(existsSync(old), false, 'an old orphan is deleted');
      assert.equal(existsSync(recent), true, 'an orphan younger than the margin stays');
    }
    assert.equal(hourly?.['orphanFilesDeleted'], 1);
    assert.equal(hourly?.['orphanBytesDeleted'], Buffer.byteLength(ORPHAN_TEXT));
    // market_events had over 100 commits: the metadata files older than the last 100 (Iceberg's
    // write.metadata.previous-versions-max) left its metadata log and are orphans too.
    assert.ok((events?.['orphanFilesDeleted'] as number) > 1);

    // A fresh DuckDB reads the same rows, two snapshots, and every file it references exists.
    const reader = await openLakeSession(lake.config);
    try {
      for (const name of tables) {
        assert.deepEqual(await read(reader, name), rowsBefore[name], `${name} reads the same`);
        assert.equal(Number((await reader.rows<Row>(`SELECT count(*) AS n FROM iceberg_snapshots(lake.${name})`))[0]?.['n']), 2);
        for (const f of [...(await liveFiles(reader, name, 'DATA')), ...(await liveFiles(reader, name, 'DELETE'))]) {
          assert.ok(existsSync(fileURLToPath(f.replace(/^file:\/*/, 'file:///'))), `referenced file missing: ${f}`);
        }
      }
      assert.equal((await liveFiles(reader, 'maint.events', 'DATA')).length, 3);
    } finally {
      reader.close();
    }
  });
});

/** Days a test names, checked once: the fixtures above assume them. */
assert.equal(addDays('2024-03-01', -29), '2024-02-01');
