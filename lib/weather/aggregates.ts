/**
 * The operational weather datasets, recomputed from the curated hours: per region and
 * UTC day (`operational.weather_daily`) and trailing 7/30-day averages of those days
 * (`operational.weather_rolling`). Each refresh replaces a range of days (and optionally
 * of regions) in one Iceberg commit through publishPartition, so a re-run gives the same
 * rows instead of doubling them.
 *
 * The hourly run refreshes daily for [today-1, today] (yesterday's last hours arrive after
 * midnight) and then rolling for [today-1, today+7]: past the last observed day the rolling
 * rows come from the latest forecast, so `to` lies in the future on purpose. A backfill
 * refreshes daily for the whole range first, then rolling for the same range.
 */
import { publishPartition, type Lineage } from '../lake/publish.ts';
import { sqlString, type LakeSession } from '../lake/session.ts';
import { ensureTables, LINEAGE_COMMITS, qualified, REJECTED_RECORDS } from '../lake/tables.ts';
import { addDays, assertDay } from '../time/days.ts';
import { CURATED_WEATHER_FORECAST, CURATED_WEATHER_OBSERVED, OPERATIONAL_WEATHER_DAILY, OPERATIONAL_WEATHER_ROLLING } from './tables.ts';

export interface WeatherRefresh {
  /** First UTC day recomputed, YYYY-MM-DD. */
  readonly from: string;
  /** Last UTC day recomputed (included). */
  readonly to: string;
  /** Only these regions (their other rows are left alone); every region when omitted; none (no commit) when empty. */
  readonly regions?: readonly string[];
  readonly lineage: Lineage;
}

export interface WeatherRefreshResult {
  readonly rows: number;
}

/** The longest window: a day's 30-day average reads it and the 29 days before. */
const LONG_WINDOW_DAYS = 30;
const SHORT_WINDOW_DAYS = 7;

/**
 * Open-Meteo forecasts reach at most 16 days past the day they are issued: a forecast
 * issued before `from - 29 - 16` has no day inside any window, which bounds the forecast
 * scan (the table grows by every hourly run) without changing which run is the latest.
 */
const FORECAST_HORIZON_DAYS = 16;

/**
 * Aggregates are source C's data, published without `rejectedSql`: publishPartition then
 * leaves source C's rejected records alone (it replaces those of (source, ingestDay) only
 * along with new ones). The lineage row is filed under `to`, the last day recomputed,
 * which for the hourly rolling refresh is a day of the forecast's future.
 */
const SOURCE = 'source_c';

/**
 * Recomputes operational.weather_daily for the days from..to from curated.weather_observed.
 * A day with no observed hour gets no row; `hours` tells a partial day from a complete one.
 */
export async function refreshWeatherDaily(session: LakeSession, opts: WeatherRefresh): Promise<WeatherRefreshResult> {
  const range = checkedRange(opts);
  if (opts.regions?.length === 0) return { rows: 0 };
  await ensureTables(session, [LINEAGE_COMMITS, REJECTED_RECORDS, CURATED_WEATHER_OBSERVED, OPERATIONAL_WEATHER_DAILY]);
  const result = await publishPartition(session, {
    table: OPERATIONAL_WEATHER_DAILY,
    source: SOURCE,
    ingestDay: range.to,
    replaceWhere: scopeWhere(range, opts.regions),
    scope: scopeText(range, opts.regions),
    rowsSql: weatherDailySql(range, opts.regions),
    lineage: opts.lineage,
  });
  return { rows: result.rows };
}

/**
 * Recomputes operational.weather_rolling for the days from..to from operational.weather_daily
 * (refresh it first) and, for each region's days after its last observed day, the latest
 * forecast. Only days with a value of their own get a row.
 */
export async function refreshWeatherRolling(session: LakeSession, opts: WeatherRefresh): Promise<WeatherRefreshResult> {
  const range = checkedRange(opts);
  if (opts.regions?.length === 0) return { rows: 0 };
  await ensureTables(session, [LINEAGE_COMMITS, REJECTED_RECORDS, CURATED_WEATHER_FORECAST, OPERATIONAL_WEATHER_DAILY, OPERATIONAL_WEATHER_ROLLING]);
  const result = await publishPartition(session, {
    table: OPERATIONAL_WEATHER_ROLLING,
    source: SOURCE,
    ingestDay: range.to,
    replaceWhere: scopeWhere(range, opts.regions),
    scope: scopeText(range, opts.regions),
    rowsSql: weatherRollingSql(range, opts.regions),
    lineage: opts.lineage,
  });
  return { rows: result.rows };
}

export interface DayRange {
  readonly from: string;
  readonly to: string;
}

function checkedRange(opts: WeatherRefresh): DayRange {
  const from = assertDay(opts.from, 'from');
  const to = assertDay(opts.to, 'to');
  if (from > to) throw new RangeError(`from (${from}) is after to (${to})`);
  return { from, to };
}

const dateLiteral = (day: string): string => `DATE ${sqlString(day)}`;

const daysWhere = (column: string, from: string, to: string): string => `${column} BETWEEN ${dateLiteral(from)} AND ${dateLiteral(to)}`;

/** `AND region_id IN (…)`, or nothing for every region. */
const regionsAnd = (regions: readonly string[] | undefined, column = 'region_id'): string =>
  regions === undefined ? '' : ` AND ${column} IN (${regions.map(sqlString).join(', ')})`;

function scopeWhere(range: DayRange, regions: readonly string[] | undefined): string {
  return `${daysWhere('"day"', range.from, range.to)}${regionsAnd(regions)}`;
}

/** e.g. `day=2011-01-01..2011-12-31 regions=r01,r02`, recorded in lineage (the Spark jobs record the same). */
export function scopeText(range: DayRange, regions: readonly string[] | undefined): string {
  return `day=${range.from}..${range.to}${regions === undefined ? '' : ` regions=${regions.join(',')}`}`;
}

/*
 * Sums and averages of doubles depend on the order they are added in, and DuckDB's parallel
 * aggregation combines partial states in whatever order its threads finish: `ORDER BY "time"`
 * inside the aggregate fixes the order, so a re-run gives bit-identical rows.
 */

/** Rows of weather_daily (in its column order) for the days and regions. */
export function weatherDailySql(range: DayRange, regions?: readonly string[]): string {
  return `
    SELECT region_id, "day",
      avg(temperature_2m ORDER BY "time") AS temperature_avg,
      min(temperature_2m) AS temperature_min,
      max(temperature_2m) AS temperature_max,
      sum(precipitation ORDER BY "time") AS precipitation_sum,
      avg(wind_speed_10m ORDER BY "time") AS wind_speed_avg,
      max(wind_speed_10m) AS wind_speed_max,
      avg(relative_humidity_2m ORDER BY "time") AS relative_humidity_avg,
      CAST(count(*) AS INTEGER) AS hours
    FROM ${qualified(CURATED_WEATHER_OBSERVED)}
    WHERE ${daysWhere('"day"', range.from, range.to)}${regionsAnd(regions)}
    GROUP BY region_id, "day"`;
}

/** Each region's last observed day, over all of weather_daily: later days may take forecast values. */
function lastObservedSql(regions: readonly string[] | undefined): string {
  return `
    SELECT region_id, max("day") AS last_day
    FROM ${qualified(OPERATIONAL_WEATHER_DAILY)}
    WHERE true${regionsAnd(regions)}
    GROUP BY region_id`;
}

/** The daily values of each region's latest forecast run, aggregated like weather_daily. */
function latestForecastDaysSql(read: DayRange, regions: readonly string[] | undefined): string {
  const forecast = qualified(CURATED_WEATHER_FORECAST);
  const issuedSince = dateLiteral(addDays(read.from, -FORECAST_HORIZON_DAYS));
  // CAST to DATE takes the UTC day: the session's TimeZone is UTC.
  return `
    SELECT f.region_id, CAST(f."time" AS DATE) AS "day",
      avg(f.temperature_2m ORDER BY f."time") AS temperature_avg,
      sum(f.precipitation ORDER BY f."time") AS precipitation_sum,
      avg(f.wind_speed_10m ORDER BY f."time") AS wind_speed_avg
    FROM ${forecast} f
    JOIN (
      SELECT region_id, max(issued_at) AS issued_at FROM ${forecast}
      WHERE issued_day >= ${issuedSince}${regionsAnd(regions)}
      GROUP BY region_id
    ) latest ON f.region_id = latest.region_id AND f.issued_at = latest.issued_at
    WHERE f.issued_day >= ${issuedSince}${regionsAnd(regions, 'f.region_id')}
      AND ${daysWhere('CAST(f."time" AS DATE)', read.from, read.to)}
    GROUP BY f.region_id, CAST(f."time" AS DATE)`;
}

/**
 * Rows of weather_rolling (in its column order). The windows are RANGE frames over the
 * date, so a missing day leaves a gap (and a smaller days_in_*) instead of pulling an
 * older day into the window; the days before `from` are read so the first days' windows
 * are whole.
 */
export function weatherRollingSql(range: DayRange, regions?: readonly string[]): string {
  const read: DayRange = { from: addDays(range.from, -(LONG_WINDOW_DAYS - 1)), to: range.to };
  const window = (days: number): string =>
    `(PARTITION BY region_id ORDER BY "day" RANGE BETWEEN INTERVAL ${days - 1} DAYS PRECEDING AND CURRENT ROW)`;
  return `
    WITH observed AS (
      SELECT region_id, "day", temperature_avg, precipitation_sum, wind_speed_avg
      FROM ${qualified(OPERATIONAL_WEATHER_DAILY)}
      WHERE ${daysWhere('"day"', read.from, read.to)}${regionsAnd(regions)}
    ),
    last_observed AS (${lastObservedSql(regions)}
    ),
    forecast AS (${latestForecastDaysSql(read, regions)}
    ),
    days AS (
      SELECT region_id, "day", false AS is_forecast, temperature_avg, precipitation_sum, wind_speed_avg FROM observed
      UNION ALL
      SELECT f.region_id, f."day", true, f.temperature_avg, f.precipitation_sum, f.wind_speed_avg
      FROM forecast f LEFT JOIN last_observed l ON f.region_id = l.region_id
      WHERE l.last_day IS NULL OR f."day" > l.last_day
    ),
    rolling AS (
      SELECT region_id, "day", is_forecast,
        avg(temperature_avg) OVER w7 AS temperature_avg_7d,
        avg(temperature_avg) OVER w30 AS temperature_avg_30d,
        avg(precipitation_sum) OVER w7 AS precipitation_avg_7d,
        avg(precipitation_sum) OVER w30 AS precipitation_avg_30d,
        avg(wind_speed_avg) OVER w7 AS wind_speed_avg_7d,
        avg(wind_speed_avg) OVER w30 AS wind_speed_avg_30d,
        CAST(count(*) OVER w7 AS INTEGER) AS days_in_7d,
        CAST(count(*) OVER w30 AS INTEGER) AS days_in_30d
      FROM days
      WINDOW w7 AS ${window(SHORT_WINDOW_DAYS)}, w30 AS ${window(LONG_WINDOW_DAYS)}
    )
    SELECT * FROM rolling WHERE ${daysWhere('"day"', range.from, range.to)}`;
}
