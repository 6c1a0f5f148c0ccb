/**
 * Names of the warehouse tables, in load order, without their definitions: workflow code
 * imports this (the definitions pull in the lake's DuckDB modules, which a workflow bundle
 * must not). tables.ts checks at import that both lists agree.
 */
export const WAREHOUSE_TABLE_NAMES = ['regions', 'weather_daily', 'weather_rolling', 'market_daily', 'region_summary'] as const;
export type WarehouseTableName = (typeof WAREHOUSE_TABLE_NAMES)[number];

/** The tables a weather run changes (regions first: the summary names them). */
export const WEATHER_LOAD_TABLES: readonly WarehouseTableName[] = ['regions', 'weather_daily', 'weather_rolling', 'region_summary'];
/** The tables a market compaction changes (it can add regions first seen in events). */
export const MARKET_LOAD_TABLES: readonly WarehouseTableName[] = ['regions', 'market_daily', 'region_summary'];
