/**
 * The warehouse the API serves from: PostgreSQL locally (postgres-warehouse.ts), Amazon
 * Redshift in production (redshift/). Both load the operational Iceberg tables the same
 * way: fill a staging table, then replace the target's rows (a day range, or all) in one
 * transaction, so readers see the old rows or the new and a repeated load changes nothing.
 */
import type { Dialect } from './ddl.ts';
import type { WarehouseTable } from './tables.ts';

export interface DayRange {
  /** First day replaced, YYYY-MM-DD. */
  readonly from: string;
  /** Last day replaced (included). */
  readonly to: string;
}

export interface LoadRequest {
  readonly table: WarehouseTable;
  /**
   * Replace only the rows whose range column lies in the range (and load only those from the
   * lake); the whole table when omitted or when the table has no range column.
   */
  readonly range?: DayRange;
  /**
   * Unique per workflow and step (e.g. `<workflowId>:weather_daily`): recorded with the load,
   * and Redshift's ClientToken, so an activity retry never runs a finished load twice.
   */
  readonly loadId: string;
  /** Called on long steps (the activity heartbeats with it). */
  readonly onProgress?: (detail: string) => void;
}

export interface LoadResult {
  readonly table: string;
  /** Rows the target holds for the load's scope after it. */
  readonly rows: number;
  /** Rows the load removed before inserting (the previous version of the scope). */
  readonly replaced: number;
  /** The scope already held exactly these rows: nothing was written (a repeated load). */
  readonly unchanged?: boolean;
  readonly ms: number;
}

/** A whole lake table copied into a customer's schema (analysis results, uploads). */
export interface ReplaceTableRequest {
  /** The Iceberg table: `personal_<customer>.<name>`. */
  readonly source: { readonly namespace: string; readonly name: string };
  readonly schema: string;
  readonly table: string;
  /** The customer role that may read it (and nobody else but the platform). */
  readonly readerRole: string;
  readonly loadId: string;
  readonly onProgress?: (detail: string) => void;
}

export interface Warehouse {
  readonly dialect: Dialect;
  /** Creates the serving and meta schemas and every table (idempotent). */
  ensureSchema(): Promise<void>;
  load(request: LoadRequest): Promise<LoadResult>;
  /** Creates or replaces `schema.table` with the source's columns and rows, in one transaction. */
  replaceTable(request: ReplaceTableRequest): Promise<LoadResult>;
  /** Drops `schema.table` if it exists. */
  dropTable(schema: string, table: string): Promise<void>;
  close(): Promise<void>;
}

/** Channel a committed load notifies (PostgreSQL NOTIFY; payload JSON `{ table, loadId }`): API caches drop what it changed. */
export const LOADS_CHANNEL = 'tempolake_loads';

export class WarehouseError extends Error {
  override name = 'WarehouseError';
}

/** Staged rows repeat a key: the lake table is wrong, and loading it would break the one-row-per-key promise. Not retryable. */
export class DuplicateKeyError extends WarehouseError {
  override name = 'DuplicateKeyError';
}
