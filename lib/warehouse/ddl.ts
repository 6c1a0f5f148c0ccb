/**
 * The table definitions of tables.ts rendered per dialect. Redshift gets its physical
 * layout (DISTSTYLE/DISTKEY, compound SORTKEY, column ENCODE); PostgreSQL gets the same
 * columns plus indexes. Identifiers come from code, never from requests.
 */
import type { ColumnType, WarehouseColumn, WarehouseTable } from './tables.ts';

export type Dialect = 'postgres' | 'redshift';

const POSTGRES_TYPES: Record<ColumnType, string> = {
  text: 'text',
  date: 'date',
  double: 'double precision',
  integer: 'integer',
  bigint: 'bigint',
  boolean: 'boolean',
  timestamptz: 'timestamptz',
};

const REDSHIFT_TYPES: Record<ColumnType, string> = {
  text: 'VARCHAR',
  date: 'DATE',
  double: 'DOUBLE PRECISION',
  integer: 'INTEGER',
  bigint: 'BIGINT',
  boolean: 'BOOLEAN',
  timestamptz: 'TIMESTAMPTZ',
};

/** AZ64 where Redshift supports it, ZSTD elsewhere; sort key columns stay RAW (AWS's advice: compressed sort keys scan more blocks). */
function redshiftEncoding(c: WarehouseColumn, table: WarehouseTable): string {
  if (table.redshift.sortKey[0] === c.name) return 'RAW';
  if (c.type === 'integer' || c.type === 'bigint' || c.type === 'date' || c.type === 'timestamptz') return 'AZ64';
  return 'ZSTD';
}

export function columnTypeSql(c: WarehouseColumn, dialect: Dialect): string {
  if (dialect === 'postgres') return POSTGRES_TYPES[c.type];
  return c.type === 'text' ? `VARCHAR(${c.maxLength ?? 256})` : REDSHIFT_TYPES[c.type];
}

/** `CREATE TABLE IF NOT EXISTS` of `table` as `schema.name` (or `schema.nameOverride`, for staging tables). */
export function createTableSql(table: WarehouseTable, schema: string, dialect: Dialect, nameOverride?: string): string {
  const name = `${schema}.${nameOverride ?? table.name}`;
  if (dialect === 'postgres') {
    const cols = table.columns.map((c) => `  ${c.name} ${columnTypeSql(c, dialect)}`).join(',\n');
    return `CREATE TABLE IF NOT EXISTS ${name} (\n${cols}\n)`;
  }
  const cols = table.columns.map((c) => `    ${c.name} ${columnTypeSql(c, dialect)} ENCODE ${redshiftEncoding(c, table)}`).join(',\n');
  const dist = table.redshift.distKey ? `DISTSTYLE KEY\nDISTKEY (${table.redshift.distKey})` : 'DISTSTYLE ALL';
  return `CREATE TABLE IF NOT EXISTS ${name} (\n${cols}\n)\n${dist}\nCOMPOUND SORTKEY (${table.redshift.sortKey.join(', ')})`;
}

/** PostgreSQL indexes of `table` (Redshift has none: sort keys and zone maps instead). */
export function createIndexesSql(table: WarehouseTable, schema: string): string[] {
  return table.postgresIndexes.map(
    (cols) => `CREATE INDEX IF NOT EXISTS ${table.name}_${cols.join('_')}_idx ON ${schema}.${table.name} (${cols.join(', ')})`,
  );
}
