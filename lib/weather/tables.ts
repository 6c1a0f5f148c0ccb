/**
 * Iceberg tables of source C (weather) and of the regions every source shares.
 * Weather is small per row and arrives hourly: monthly and yearly partitions keep the
 * files few (a day partition would hold 24 rows per region).
 */
import type { TableDef } from '../lake/tables.ts';

/** The measured variables, in the order of the API request and of the table columns. */
export const WEATHER_VARIABLES = ['temperature_2m', 'relative_humidity_2m', 'precipitation', 'wind_speed_10m', 'weather_code'] as const;
export type WeatherVariable = (typeof WEATHER_VARIABLES)[number];

const VARIABLE_COLUMNS: readonly (readonly [string, string])[] = [
  ['temperature_2m', 'DOUBLE'],
  ['relative_humidity_2m', 'DOUBLE'],
  ['precipitation', 'DOUBLE'],
  ['wind_speed_10m', 'DOUBLE'],
  ['weather_code', 'INTEGER'],
];

/** Regions seeded from REGIONS_FILE and extended by regions first seen in source D. */
export const OPERATIONAL_REGIONS: TableDef = {
  namespace: 'operational',
  name: 'regions',
  columns: [
    ['region_id', 'VARCHAR'],
    ['name', 'VARCHAR'],
    ['latitude', 'DOUBLE'],
    ['longitude', 'DOUBLE'],
    ['country', 'VARCHAR'],
    ['timezone', 'VARCHAR'],
    /** Anything else the seed carries, as JSON text. */
    ['metadata', 'VARCHAR'],
    /** `config` (the seed file) or `source_d` (first seen in market events). */
    ['origin', 'VARCHAR'],
    ['first_seen', 'TIMESTAMPTZ'],
  ],
};

/** One row per region and hour actually observed: hourly `current` runs and the archive backfill. */
export const CURATED_WEATHER_OBSERVED: TableDef = {
  namespace: 'curated',
  name: 'weather_observed',
  columns: [
    ['region_id', 'VARCHAR'],
    /** Start of the hour, UTC. */
    ['time', 'TIMESTAMPTZ'],
    ...VARIABLE_COLUMNS,
    /** `current` (hourly poll) or `archive` (historical backfill). */
    ['origin', 'VARCHAR'],
    ['day', 'DATE'],
    ['_raw_key', 'VARCHAR'],
  ],
  partitionBy: 'month("day")',
};

/** Every hourly forecast value of every run: (region, issued_at, time) is unique. */
export const CURATED_WEATHER_FORECAST: TableDef = {
  namespace: 'curated',
  name: 'weather_forecast',
  columns: [
    ['region_id', 'VARCHAR'],
    /** The hour of the run that fetched it, UTC. */
    ['issued_at', 'TIMESTAMPTZ'],
    /** The forecast hour, UTC. */
    ['time', 'TIMESTAMPTZ'],
    ...VARIABLE_COLUMNS,
    ['issued_day', 'DATE'],
    ['_raw_key', 'VARCHAR'],
  ],
  partitionBy: 'month("issued_day")',
};

/** Per region and UTC day, from the observed hours. */
export const OPERATIONAL_WEATHER_DAILY: TableDef = {
  namespace: 'operational',
  name: 'weather_daily',
  columns: [
    ['region_id', 'VARCHAR'],
    ['day', 'DATE'],
    ['temperature_avg', 'DOUBLE'],
    ['temperature_min', 'DOUBLE'],
    ['temperature_max', 'DOUBLE'],
    ['precipitation_sum', 'DOUBLE'],
    ['wind_speed_avg', 'DOUBLE'],
    ['wind_speed_max', 'DOUBLE'],
    ['relative_humidity_avg', 'DOUBLE'],
    /** Hours observed that day (24 when complete). */
    ['hours', 'INTEGER'],
  ],
  partitionBy: 'year("day")',
};

/**
 * 7- and 30-day trailing averages of the daily values per region, over observed days and,
 * past the last observed day, the latest forecast's days (`is_forecast`).
 */
export const OPERATIONAL_WEATHER_ROLLING: TableDef = {
  namespace: 'operational',
  name: 'weather_rolling',
  columns: [
    ['region_id', 'VARCHAR'],
    ['day', 'DATE'],
    /** The day's own values come from a forecast, not observations. */
    ['is_forecast', 'BOOLEAN'],
    ['temperature_avg_7d', 'DOUBLE'],
    ['temperature_avg_30d', 'DOUBLE'],
    ['precipitation_avg_7d', 'DOUBLE'],
    ['precipitation_avg_30d', 'DOUBLE'],
    ['wind_speed_avg_7d', 'DOUBLE'],
    ['wind_speed_avg_30d', 'DOUBLE'],
    /** Days with data inside each window (7 and 30 when there is no gap). */
    ['days_in_7d', 'INTEGER'],
    ['days_in_30d', 'INTEGER'],
  ],
  partitionBy: 'year("day")',
};

export const WEATHER_TABLES: readonly TableDef[] = [
  OPERATIONAL_REGIONS,
  CURATED_WEATHER_OBSERVED,
  CURATED_WEATHER_FORECAST,
  OPERATIONAL_WEATHER_DAILY,
  OPERATIONAL_WEATHER_ROLLING,
];
