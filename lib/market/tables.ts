/** Iceberg tables of source D (market events) and its daily aggregate. */
import type { TableDef } from '../lake/tables.ts';

/** Every valid event once (by event_id), from the raw hours the consumer wrote. */
export const CURATED_MARKET_EVENTS: TableDef = {
  namespace: 'curated',
  name: 'market_events',
  columns: [
    ['event_id', 'VARCHAR'],
    ['seq', 'BIGINT'],
    ['region', 'VARCHAR'],
    ['instrument', 'VARCHAR'],
    ['price', 'DOUBLE'],
    ['volume', 'DOUBLE'],
    ['ts', 'TIMESTAMPTZ'],
    ['venue', 'VARCHAR'],
    ['side', 'VARCHAR'],
    ['tags', 'VARCHAR[]'],
    ['day', 'DATE'],
    ['hour', 'INTEGER'],
    /** Kafka coordinates of the copy kept (the first, when the stream carried it twice). */
    ['_kafka_partition', 'INTEGER'],
    ['_offset', 'BIGINT'],
    ['_raw_key', 'VARCHAR'],
  ],
  partitionBy: 'day',
};

/**
 * Per region and UTC day. `market_interest` is the day's traded volume over the region's
 * average daily volume of the 30 days before (1.0 = a usual day, 2.0 = twice the usual
 * activity; NULL until there is a day of history): a scale-free signal of how much the
 * market is paying attention to the region, comparable across regions of any size.
 */
export const OPERATIONAL_MARKET_DAILY: TableDef = {
  namespace: 'operational',
  name: 'market_daily',
  columns: [
    ['region', 'VARCHAR'],
    ['day', 'DATE'],
    ['events', 'BIGINT'],
    ['instruments', 'INTEGER'],
    ['volume', 'DOUBLE'],
    ['avg_price', 'DOUBLE'],
    /** Volume-weighted average price. */
    ['vwap', 'DOUBLE'],
    ['market_interest', 'DOUBLE'],
  ],
  partitionBy: 'year("day")',
};

export const MARKET_TABLES: readonly TableDef[] = [CURATED_MARKET_EVENTS, OPERATIONAL_MARKET_DAILY];
