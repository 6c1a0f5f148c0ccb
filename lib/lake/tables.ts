/**
 * Iceberg table definitions of the curated, rejected and lineage zones, written
 * once and created idempotently. Partitioning is Iceberg's partition spec (hidden
 * from readers), not folder names.
 */
import { LAKE, type LakeSession } from './session.ts';

export interface TableDef {
  readonly namespace: string;
  readonly name: string;
  readonly columns: readonly (readonly [name: string, type: string])[];
  /** A column name, or Iceberg partition transforms as DuckDB writes them: `month("day")`. */
  readonly partitionBy?: string;
}

export const qualified = (t: TableDef): string => `${LAKE}.${t.namespace}.${t.name}`;

export const CURATED_SOURCE_A: TableDef = {
  namespace: 'curated',
  name: 'source_a',
  columns: [
    ['event_id', 'VARCHAR'],
    ['customer_id', 'VARCHAR'],
    ['region', 'VARCHAR'],
    ['event_time', 'TIMESTAMPTZ'],
    ['amount', 'DOUBLE'],
    ['currency', 'VARCHAR'],
    ['channel', 'VARCHAR'],
    ['device', 'VARCHAR'],
    ['campaign_id', 'VARCHAR'],
    ['campaign_name', 'VARCHAR'],
    ['tags', 'VARCHAR[]'],
    ['day', 'DATE'],
    ['_ingest_day', 'DATE'],
    ['_raw_key', 'VARCHAR'],
  ],
  partitionBy: 'day',
};

export const CURATED_SOURCE_B: TableDef = {
  namespace: 'curated',
  name: 'source_b',
  columns: [
    ['customer_id', 'VARCHAR'],
    ['name', 'VARCHAR'],
    ['email', 'VARCHAR'],
    ['region', 'VARCHAR'],
    ['segment', 'VARCHAR'],
    ['signup_date', 'DATE'],
    ['updated_at', 'TIMESTAMPTZ'],
    ['day', 'DATE'],
    ['_ingest_day', 'DATE'],
    ['_raw_key', 'VARCHAR'],
    ['_raw_line', 'BIGINT'],
  ],
  partitionBy: 'day',
};

/** Malformed records of every source, with the reason, kept for inspection and replay. */
export const REJECTED_RECORDS: TableDef = {
  namespace: 'rejected',
  name: 'records',
  columns: [
    ['source', 'VARCHAR'],
    ['ingest_day', 'DATE'],
    ['raw_key', 'VARCHAR'],
    ['line', 'BIGINT'],
    ['reason', 'VARCHAR'],
    ['record', 'VARCHAR'],
  ],
  partitionBy: 'ingest_day',
};

/**
 * One row per publish, written in the same Iceberg commit as the data: DuckDB cannot
 * set snapshot summary properties, so lineage lives in a table of its own.
 */
export const LINEAGE_COMMITS: TableDef = {
  namespace: 'lineage',
  name: 'commits',
  columns: [
    ['table_name', 'VARCHAR'],
    ['scope', 'VARCHAR'],
    ['ingest_day', 'DATE'],
    ['workflow_id', 'VARCHAR'],
    ['run_id', 'VARCHAR'],
    ['inputs', 'VARCHAR'],
    ['rows', 'BIGINT'],
    ['rejected', 'BIGINT'],
    ['committed_at', 'TIMESTAMPTZ'],
  ],
  partitionBy: 'ingest_day',
};

export const ALL_TABLES: readonly TableDef[] = [CURATED_SOURCE_A, CURATED_SOURCE_B, REJECTED_RECORDS, LINEAGE_COMMITS];

export function createTableSql(t: TableDef): string {
  const cols = t.columns.map(([n, type]) => `"${n}" ${type}`).join(', ');
  const partition = t.partitionBy === undefined ? '' : ` PARTITIONED BY (${/^\w+$/.test(t.partitionBy) ? `"${t.partitionBy}"` : t.partitionBy})`;
  return `CREATE TABLE IF NOT EXISTS ${qualified(t)} (${cols})${partition}`;
}

/** Creates namespaces and tables that do not exist yet; safe to run from many workers. */
export async function ensureTables(session: LakeSession, tables: readonly TableDef[]): Promise<void> {
  for (const ns of new Set(tables.map((t) => t.namespace))) {
    await createIfMissing(session, `CREATE SCHEMA IF NOT EXISTS ${LAKE}.${ns}`);
  }
  for (const t of tables) await createIfMissing(session, createTableSql(t));
}

/**
 * IF NOT EXISTS is checked before DuckDB's commit: a worker that loses the race to create
 * the same namespace or table gets 409 AlreadyExists at commit. Once more finds it there.
 */
async function createIfMissing(session: LakeSession, sql: string): Promise<void> {
  try {
    await session.run(sql);
  } catch (err) {
    if (!/AlreadyExists|already exists|Conflict_409/.test(String((err as Error).message))) throw err;
    await session.run(sql);
  }
}
