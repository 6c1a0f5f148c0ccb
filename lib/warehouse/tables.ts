/**
 * Warehouse tables, written once and rendered per dialect (dialect.ts). Each is loaded
 * from one operational Iceberg table of the lake. Neither PostgreSQL nor Redshift is
 * asked to enforce `key`: Redshift would not, so the loads themselves guarantee one row
 * per key (replace a range or the whole table in one transaction) and the tests check it.
 */
import type { TableDef } from '../lake/tables.ts';
import { OPERATIONAL_MARKET_DAILY } from '../market/tables.ts';
import { OPERATIONAL_REGION_SUMMARY } from './region-summary.ts';
import { WAREHOUSE_TABLE_NAMES } from './table-names.ts';
import { OPERATIONAL_REGIONS, OPERATIONAL_WEATHER_DAILY, OPERATIONAL_WEATHER_ROLLING } from '../weather/tables.ts';

export type ColumnType = 'text' | 'date' | 'double' | 'integer' | 'bigint' | 'boolean' | 'timestamptz';

export interface WarehouseColumn {
  readonly name: string;
  readonly type: ColumnType;
  /** Longest text expected, for Redshift's VARCHAR(n) (default 256); PostgreSQL uses `text`. */
  readonly maxLength?: number;
}

export interface WarehouseTable {
  /** Table name inside the serving schema. */
  readonly name: string;
  /** The Iceberg table it is loaded from; columns are copied by name. */
  readonly source: TableDef;
  readonly columns: readonly WarehouseColumn[];
  /** One row per key: guaranteed by the loads, checked by tests, declared nowhere. */
  readonly key: readonly string[];
  /**
   * A DATE column a ranged load replaces by (`from <= col <= to`); a table without one is
   * replaced whole on every load (small tables: regions, region_summary).
   */
  readonly rangeColumn?: string;
  /** Redshift layout: DISTSTYLE ALL for small tables everyone joins, else DISTKEY. */
  readonly redshift: { readonly distKey?: string; readonly sortKey: readonly string[] };
  /** PostgreSQL secondary indexes (the key gets a non-unique index for lookups). */
  readonly postgresIndexes: readonly (readonly string[])[];
}

/** Schema of the shared, loaded datasets (customers read it through their role's grants). */
export const SERVING_SCHEMA = 'serving';
/** Schema of the platform's own bookkeeping: loads and customers. Customers get no access. */
export const META_SCHEMA = 'tempolake_meta';

const col = (name: string, type: ColumnType, maxLength?: number): WarehouseColumn => ({ name, type, ...(maxLength ? { maxLength } : {}) });

/** A region's identity and metadata: the regions table's and the head of each summary row. */
const REGION_META: readonly WarehouseColumn[] = [
    col('region_id', 'text', 64),
    col('name', 'text'),
    col('latitude', 'double'),
    col('longitude', 'double'),
    col('country', 'text', 64),
    col('timezone', 'text', 64),
    col('metadata', 'text', 65535),
];

export const WH_REGIONS: WarehouseTable = {
  name: 'regions',
  source: OPERATIONAL_REGIONS,
  columns: [
    ...REGION_META,
    col('origin', 'text', 32),
    col('first_seen', 'timestamptz'),
  ],
  key: ['region_id'],
  redshift: { sortKey: ['region_id'] },
  postgresIndexes: [['region_id']],
};

export const WH_WEATHER_DAILY: WarehouseTable = {
  name: 'weather_daily',
  source: OPERATIONAL_WEATHER_DAILY,
  columns: [
    col('region_id', 'text', 64),
    col('day', 'date'),
    col('temperature_avg', 'double'),
    col('temperature_min', 'double'),
    col('temperature_max', 'double'),
    col('precipitation_sum', 'double'),
    col('wind_speed_avg', 'double'),
    col('wind_speed_max', 'double'),
    col('relative_humidity_avg', 'double'),
    col('hours', 'integer'),
  ],
  key: ['region_id', 'day'],
  rangeColumn: 'day',
  redshift: { distKey: 'region_id', sortKey: ['region_id', 'day'] },
  postgresIndexes: [['region_id', 'day'], ['day']],
};

export const WH_WEATHER_ROLLING: WarehouseTable = {
  name: 'weather_rolling',
  source: OPERATIONAL_WEATHER_ROLLING,
  columns: [
    col('region_id', 'text', 64),
    col('day', 'date'),
    col('is_forecast', 'boolean'),
    col('temperature_avg_7d', 'double'),
    col('temperature_avg_30d', 'double'),
    col('precipitation_avg_7d', 'double'),
    col('precipitation_avg_30d', 'double'),
    col('wind_speed_avg_7d', 'double'),
    col('wind_speed_avg_30d', 'double'),
    col('days_in_7d', 'integer'),
    col('days_in_30d', 'integer'),
  ],
  key: ['region_id', 'day'],
  rangeColumn: 'day',
  redshift: { distKey: 'region_id', sortKey: ['region_id', 'day'] },
  postgresIndexes: [['region_id', 'day'], ['day']],
};

export const WH_MARKET_DAILY: WarehouseTable = {
  name: 'market_daily',
  source: OPERATIONAL_MARKET_DAILY,
  columns: [
    col('region', 'text', 64),
    col('day', 'date'),
    col('events', 'bigint'),
    col('instruments', 'integer'),
    col('volume', 'double'),
    col('avg_price', 'double'),
    col('vwap', 'double'),
    col('market_interest', 'double'),
  ],
  key: ['region', 'day'],
  rangeColumn: 'day',
  redshift: { distKey: 'region', sortKey: ['region', 'day'] },
  postgresIndexes: [['region', 'day'], ['day']],
};

export const WH_REGION_SUMMARY: WarehouseTable = {
  name: 'region_summary',
  source: OPERATIONAL_REGION_SUMMARY,
  columns: [
    ...REGION_META,
    col('weather_day', 'date'),
    col('temperature_avg', 'double'),
    col('temperature_min', 'double'),
    col('temperature_max', 'double'),
    col('precipitation_sum', 'double'),
    col('wind_speed_avg', 'double'),
    col('relative_humidity_avg', 'double'),
    col('temperature_avg_7d', 'double'),
    col('market_day', 'date'),
    col('market_interest', 'double'),
    col('market_interest_avg_7d', 'double'),
    col('market_volume', 'double'),
    col('market_events', 'bigint'),
  ],
  key: ['region_id'],
  redshift: { sortKey: ['region_id'] },
  postgresIndexes: [['region_id']],
};

/** Load order: region_summary reads nothing from the warehouse, but is loaded last so it never names a region the regions table lacks. */
export const WAREHOUSE_TABLES: readonly WarehouseTable[] = [WH_REGIONS, WH_WEATHER_DAILY, WH_WEATHER_ROLLING, WH_MARKET_DAILY, WH_REGION_SUMMARY];

if (WAREHOUSE_TABLES.map((t) => t.name).join() !== WAREHOUSE_TABLE_NAMES.join()) {
  throw new Error('lib/warehouse/table-names.ts does not list the warehouse tables of tables.ts in their order');
}

export function warehouseTable(name: string): WarehouseTable {
  const t = WAREHOUSE_TABLES.find((x) => x.name === name);
  if (!t) throw new Error(`unknown warehouse table "${name}" (known: ${WAREHOUSE_TABLES.map((x) => x.name).join(', ')})`);
  return t;
}
