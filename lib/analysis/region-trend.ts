/**
 * `region_trend`: one region's (or every region's) weather and market series bucketed by day, ISO week or month
 * over up to 15 years, each bucket with its averages and sums, and the Pearson correlation
 * of the buckets' average temperature with their traded volume (the same value on every
 * row: the whole series'; NULL with fewer than two buckets having both).
 */
import { sqlString } from '../lake/session.ts';
import { qualified } from '../lake/tables.ts';
import { OPERATIONAL_MARKET_DAILY } from '../market/tables.ts';
import { OPERATIONAL_WEATHER_DAILY } from '../weather/tables.ts';
import type { AnalysisRequest } from './requests.ts';

type RegionTrend = Extract<AnalysisRequest, { type: 'region_trend' }>;

export function regionTrendSql(r: RegionTrend): string {
  const bucket = sqlString(r.bucket);
  const range = `"day" BETWEEN DATE ${sqlString(r.from)} AND DATE ${sqlString(r.to)}`;
  // One region, or every region when none is named: each its own series and correlation.
  const weatherRegion = r.region_id === undefined ? '' : ` AND region_id = ${sqlString(r.region_id)}`;
  const marketRegion = r.region_id === undefined ? '' : ` AND region = ${sqlString(r.region_id)}`;
  return `WITH w AS (
      SELECT region_id, CAST(date_trunc(${bucket}, "day") AS DATE) AS bucket_start, avg(temperature_avg) AS temperature_avg,
        min(temperature_min) AS temperature_min, max(temperature_max) AS temperature_max, sum(precipitation_sum) AS precipitation_sum,
        count(*) AS weather_days
      FROM ${qualified(OPERATIONAL_WEATHER_DAILY)} WHERE ${range}${weatherRegion} GROUP BY 1, 2
    ), m AS (
      SELECT region AS region_id, CAST(date_trunc(${bucket}, "day") AS DATE) AS bucket_start, sum(volume) AS market_volume, sum(events) AS market_events,
        avg(market_interest) AS market_interest_avg, count(*) AS market_days
      FROM ${qualified(OPERATIONAL_MARKET_DAILY)} WHERE ${range}${marketRegion} GROUP BY 1, 2
    ), series AS (
      SELECT coalesce(w.region_id, m.region_id) AS region_id, coalesce(w.bucket_start, m.bucket_start) AS bucket_start, w.temperature_avg,
        w.temperature_min, w.temperature_max, w.precipitation_sum, coalesce(w.weather_days, 0) AS weather_days, m.market_volume,
        m.market_events, m.market_interest_avg, coalesce(m.market_days, 0) AS market_days
      FROM w FULL OUTER JOIN m ON m.region_id = w.region_id AND m.bucket_start = w.bucket_start
    )
    SELECT CAST(region_id AS VARCHAR) AS region_id, ${bucket} AS bucket, bucket_start,
      temperature_avg, temperature_min, temperature_max, precipitation_sum, CAST(weather_days AS INTEGER) AS weather_days,
      market_volume, CAST(market_events AS BIGINT) AS market_events, market_interest_avg, CAST(market_days AS INTEGER) AS market_days,
      corr(temperature_avg, market_volume) OVER (PARTITION BY region_id) AS temperature_volume_correlation
    FROM series`;
}
