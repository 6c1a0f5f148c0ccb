/**
 * `operational.region_summary`: one row per region with its metadata, its latest daily
 * weather and its market interest — case 1's answer precomputed, so the API serves it
 * with one indexed lookup instead of a join per request. Built in the lake (any engine
 * can read it) and loaded into the warehouse like the other operational tables.
 *
 * "Latest" weather is the latest complete day (24 observed hours), else the latest day:
 * today's row is partial until midnight. Market interest is the latest day's and its
 * 7-day average. Nothing time-of-run goes into a row, so rebuilding from the same inputs
 * gives the same table.
 */
import { publishPartition, type Lineage, type PublishResult } from '../lake/publish.ts';
import type { LakeSession } from '../lake/session.ts';
import { ensureTables, LINEAGE_COMMITS, qualified, REJECTED_RECORDS, type TableDef } from '../lake/tables.ts';
import { OPERATIONAL_MARKET_DAILY } from '../market/tables.ts';
import { OPERATIONAL_REGIONS, OPERATIONAL_WEATHER_DAILY, OPERATIONAL_WEATHER_ROLLING } from '../weather/tables.ts';

export const OPERATIONAL_REGION_SUMMARY: TableDef = {
  namespace: 'operational',
  name: 'region_summary',
  columns: [
    ['region_id', 'VARCHAR'],
    ['name', 'VARCHAR'],
    ['latitude', 'DOUBLE'],
    ['longitude', 'DOUBLE'],
    ['country', 'VARCHAR'],
    ['timezone', 'VARCHAR'],
    ['metadata', 'VARCHAR'],
    /** The UTC day the weather columns describe. */
    ['weather_day', 'DATE'],
    ['temperature_avg', 'DOUBLE'],
    ['temperature_min', 'DOUBLE'],
    ['temperature_max', 'DOUBLE'],
    ['precipitation_sum', 'DOUBLE'],
    ['wind_speed_avg', 'DOUBLE'],
    ['relative_humidity_avg', 'DOUBLE'],
    ['temperature_avg_7d', 'DOUBLE'],
    /** The UTC day the market columns describe. */
    ['market_day', 'DATE'],
    ['market_interest', 'DOUBLE'],
    ['market_interest_avg_7d', 'DOUBLE'],
    ['market_volume', 'DOUBLE'],
    ['market_events', 'BIGINT'],
  ],
};

/** Every input table must exist for the join, even before its first row arrives. */
const INPUTS = [OPERATIONAL_REGIONS, OPERATIONAL_WEATHER_DAILY, OPERATIONAL_WEATHER_ROLLING, OPERATIONAL_MARKET_DAILY];

export function regionSummarySql(): string {
  return `WITH w AS (
      SELECT *, row_number() OVER (PARTITION BY region_id ORDER BY (hours >= 24) DESC, "day" DESC) AS rn
      FROM ${qualified(OPERATIONAL_WEATHER_DAILY)}
    ), m AS (
      SELECT *, avg(market_interest) OVER (PARTITION BY region ORDER BY "day" RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW) AS interest_7d,
        row_number() OVER (PARTITION BY region ORDER BY "day" DESC) AS rn
      FROM ${qualified(OPERATIONAL_MARKET_DAILY)}
    )
    SELECT r.region_id, r.name, r.latitude, r.longitude, r.country, r.timezone, r.metadata,
      w."day", w.temperature_avg, w.temperature_min, w.temperature_max, w.precipitation_sum, w.wind_speed_avg, w.relative_humidity_avg,
      ro.temperature_avg_7d,
      m."day", m.market_interest, m.interest_7d, m.volume, m.events
    FROM ${qualified(OPERATIONAL_REGIONS)} r
    LEFT JOIN w ON w.region_id = r.region_id AND w.rn = 1
    LEFT JOIN ${qualified(OPERATIONAL_WEATHER_ROLLING)} ro ON ro.region_id = r.region_id AND ro."day" = w."day"
    LEFT JOIN m ON m.region = r.region_id AND m.rn = 1`;
}

/** Rebuilds the whole (small: one row per region) table in one Iceberg commit. */
export async function refreshRegionSummary(session: LakeSession, input: { lineage: Lineage }): Promise<PublishResult> {
  await ensureTables(session, [...INPUTS, OPERATIONAL_REGION_SUMMARY, LINEAGE_COMMITS, REJECTED_RECORDS]);
  return publishPartition(session, {
    table: OPERATIONAL_REGION_SUMMARY,
    source: 'serving',
    ingestDay: '1970-01-01',
    replaceWhere: 'true',
    scope: 'all',
    rowsSql: regionSummarySql(),
    lineage: input.lineage,
  });
}
