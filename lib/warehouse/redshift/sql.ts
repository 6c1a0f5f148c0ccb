/**
 * The Redshift SQL of the warehouse, as pure functions: what ensureSchema and a load send
 * through the Data API, and the Spectrum queries analysts run on the lake's history.
 *
 * Redshift reads the lake's Iceberg tables through external schemas over the AWS Glue Data
 * Catalog (the lake's Iceberg REST catalog in production). A load INSERTs … SELECTs from
 * them: Redshift plans the scan from the Iceberg metadata and applies delete files, which a
 * `COPY` of the data files would silently ignore (replaced partitions would come back).
 *
 * The Data API's BatchExecuteStatement takes no parameters, so values are rendered as
 * literals: dates are validated, strings escaped. Identifiers come from code and are checked.
 */
import { createTableSql } from '../ddl.ts';
import { META_SCHEMA, SERVING_SCHEMA, WAREHOUSE_TABLES, type WarehouseTable } from '../tables.ts';
import { WarehouseError, type DayRange } from '../warehouse.ts';

/** External schema over the Glue database of the lake's `operational` namespace. */
export const LAKE_OPERATIONAL_SCHEMA = 'lake_operational';
/** External schema over the Glue database of the lake's `curated` namespace. */
export const LAKE_CURATED_SCHEMA = 'lake_curated';
export const LOADS_TABLE = `${META_SCHEMA}.loads`;

/**
 * Data API limit per statement. AWS writes "100 KB" and answers "larger than 100kB": the
 * smaller reading (10^5 bytes) is taken, so nothing this accepts is refused there.
 */
export const MAX_STATEMENT_BYTES = 100_000;
/** Data API limit on the `Sqls` of one BatchExecuteStatement. */
export const MAX_BATCH_STATEMENTS = 40;
/** Longest load id recorded (tempolake_meta.loads.load_id is VARCHAR(1024), in bytes). */
export const MAX_LOAD_ID_BYTES = 1024;

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const IAM_ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
/** Glue database names: lowercase letters, digits, underscore, hyphen. */
const GLUE_DATABASE = /^[a-z0-9_-]{1,255}$/;

function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new WarehouseError(`"${name}" is not a plain lowercase SQL identifier`);
  return name;
}

/**
 * A Redshift string literal. Redshift treats a backslash in a literal as an escape (its
 * QUOTE_LITERAL doubles both quotes and backslashes), unlike PostgreSQL's standard strings.
 */
export function sqlString(value: string): string {
  // Control characters have no business in ids or names, and a NUL would cut the statement.
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new WarehouseError(`refusing a control character in SQL literal ${JSON.stringify(value)}`);
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** `DATE 'YYYY-MM-DD'` for a real calendar day, or a WarehouseError. */
export function sqlDate(value: string): string {
  const m = DATE.exec(value);
  const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!d || d.toISOString().slice(0, 10) !== value) throw new WarehouseError(`"${value}" is not a day (YYYY-MM-DD)`);
  return `DATE '${value}'`;
}

function checkRange(range: DayRange): void {
  sqlDate(range.from);
  sqlDate(range.to);
  if (range.from > range.to) throw new WarehouseError(`empty day range: ${range.from} is after ${range.to}`);
}

export interface LakeCatalog {
  /** IAM role Redshift assumes to read Glue and the lake bucket (REDSHIFT_IAM_ROLE). */
  readonly iamRole: string;
  /** Prefix of the Glue databases (REDSHIFT_GLUE_DATABASE_PREFIX): database = prefix + namespace. */
  readonly glueDatabasePrefix: string;
}

/** Checks what goes into the external schemas' literals; throws naming the variable. */
export function checkLakeCatalog(lake: LakeCatalog): void {
  if (!IAM_ROLE_ARN.test(lake.iamRole)) {
    throw new WarehouseError(`REDSHIFT_IAM_ROLE must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), got "${lake.iamRole}"`);
  }
  if (!GLUE_DATABASE.test(`${lake.glueDatabasePrefix}curated`)) {
    throw new WarehouseError(`REDSHIFT_GLUE_DATABASE_PREFIX may hold lowercase letters, digits, "_" and "-" only, got "${lake.glueDatabasePrefix}"`);
  }
}

function externalSchemaSql(schema: string, glueDatabase: string, iamRole: string): string {
  return [
    `CREATE EXTERNAL SCHEMA IF NOT EXISTS ${ident(schema)}`,
    'FROM DATA CATALOG',
    `DATABASE ${sqlString(glueDatabase)}`,
    `IAM_ROLE ${sqlString(iamRole)}`,
  ].join('\n');
}

/**
 * `lake_operational` and `lake_curated`. Sent one ExecuteStatement each, outside any
 * transaction: Redshift refuses external-table DDL inside a transaction block, and the
 * schema statement is not documented as an exception.
 */
export function externalSchemasSql(lake: LakeCatalog): string[] {
  checkLakeCatalog(lake);
  return [
    externalSchemaSql(LAKE_OPERATIONAL_SCHEMA, `${lake.glueDatabasePrefix}operational`, lake.iamRole),
    externalSchemaSql(LAKE_CURATED_SCHEMA, `${lake.glueDatabasePrefix}curated`, lake.iamRole),
  ];
}

/**
 * One row per committed load, the same columns as the PostgreSQL side. Redshift enforces
 * NOT NULL (not keys). Grows by a row per load: EVEN, sorted by time for "latest load" reads.
 */
export function loadsTableSql(): string {
  return [
    `CREATE TABLE IF NOT EXISTS ${LOADS_TABLE} (`,
    `    load_id VARCHAR(${MAX_LOAD_ID_BYTES}) NOT NULL ENCODE ZSTD,`,
    '    table_name VARCHAR(128) NOT NULL ENCODE ZSTD,',
    '    range_from DATE ENCODE AZ64,',
    '    range_to DATE ENCODE AZ64,',
    '    rows BIGINT NOT NULL ENCODE AZ64,',
    '    replaced BIGINT NOT NULL ENCODE AZ64,',
    '    loaded_at TIMESTAMPTZ NOT NULL ENCODE RAW',
    ')',
    'DISTSTYLE EVEN',
    'COMPOUND SORTKEY (loaded_at)',
  ].join('\n');
}

/** The ensureSchema batch: serving and meta schemas, every warehouse table, the loads table. */
export function ensureSchemaBatch(): string[] {
  return checkBatch([
    `CREATE SCHEMA IF NOT EXISTS ${ident(SERVING_SCHEMA)}`,
    `CREATE SCHEMA IF NOT EXISTS ${ident(META_SCHEMA)}`,
    ...WAREHOUSE_TABLES.map((t) => createTableSql(t, SERVING_SCHEMA, 'redshift')),
    loadsTableSql(),
  ]);
}

/** UTF-8 bytes, as the Data API counts them. */
export function statementBytes(sql: string): number {
  return Buffer.byteLength(sql, 'utf8');
}

/** Enforces the Data API's limits before anything is sent; returns the batch unchanged. */
export function checkBatch(sqls: string[]): string[] {
  if (sqls.length === 0) throw new WarehouseError('empty Redshift batch');
  if (sqls.length > MAX_BATCH_STATEMENTS) {
    throw new WarehouseError(`Redshift batch of ${sqls.length} statements exceeds the Data API's ${MAX_BATCH_STATEMENTS} per BatchExecuteStatement`);
  }
  sqls.forEach((sql, i) => checkStatement(sql, `statement ${i + 1}`));
  return sqls;
}

export function checkStatement(sql: string, what = 'statement'): string {
  const bytes = statementBytes(sql);
  if (bytes > MAX_STATEMENT_BYTES) {
    throw new WarehouseError(`Redshift ${what} is ${bytes} bytes, over the Data API's ${MAX_STATEMENT_BYTES}-byte limit: ${sql.slice(0, 80)}…`);
  }
  return sql;
}

export interface LoadBatchRequest {
  readonly table: WarehouseTable;
  readonly range?: DayRange;
  readonly loadId: string;
}

export interface LoadBatch {
  readonly sqls: string[];
  /** Index in `sqls` of the one-row-per-key check of the staged rows (fails the batch on a repeat). */
  readonly keyCheckIndex: number;
  /** Index in `sqls` of the DELETE of the target's scope (its ResultRows = rows replaced). */
  readonly deleteIndex: number;
  /** Index in `sqls` of the INSERT into the target (its ResultRows = rows loaded). */
  readonly insertIndex: number;
  /** The range actually replaced: none for a table without a range column. */
  readonly range?: DayRange;
}

/** Name of the session's staging table for `table` (temp tables live as long as the batch's session). */
export function stagingTable(table: WarehouseTable): string {
  return `stage_${ident(table.name)}`;
}

/**
 * Fails the batch when the staged rows repeat a key: Redshift declares no key and would
 * load the repeat. There is no RAISE outside procedures, so the failure is a cast of text
 * to INTEGER that only a duplicate group evaluates (it depends on COUNT, so the planner
 * cannot fold it away); the warehouse recognises this statement by its index.
 */
function keyCheckSql(table: WarehouseTable, stage: string): string {
  const key = table.key.map(ident).join(', ');
  return [
    'SELECT',
    '    CAST(',
    "        'duplicate key ' || CAST(COUNT(*) AS VARCHAR) AS INTEGER",
    '    ) AS duplicate_key',
    `FROM ${stage}`,
    `GROUP BY ${key}`,
    'HAVING COUNT(*) > 1',
  ].join('\n');
}

/**
 * One load as ONE transaction (BatchExecuteStatement runs its statements as one, so there
 * is no BEGIN/COMMIT here; a failure rolls everything back and readers keep the old rows):
 * stage the lake rows, check their keys, record the load, replace the target's scope with
 * the staged rows. DELETE, never TRUNCATE: TRUNCATE commits the open transaction on Redshift.
 */
export function loadBatch(request: LoadBatchRequest): LoadBatch {
  const { table, loadId } = request;
  if (loadId === '' || statementBytes(loadId) > MAX_LOAD_ID_BYTES) {
    throw new WarehouseError(`load id must be 1 to ${MAX_LOAD_ID_BYTES} bytes, got ${statementBytes(loadId)}`);
  }
  const range = table.rangeColumn && request.range ? request.range : undefined;
  if (request.range) checkRange(request.range);
  const target = `${ident(SERVING_SCHEMA)}.${ident(table.name)}`;
  const source = `${LAKE_OPERATIONAL_SCHEMA}.${ident(table.source.name)}`;
  const stage = stagingTable(table);
  const cols = table.columns.map((c) => ident(c.name));
  const colList = cols.map((c) => `    ${c}`).join(',\n');
  const scope = range ? `\nWHERE ${ident(table.rangeColumn as string)} BETWEEN ${sqlDate(range.from)} AND ${sqlDate(range.to)}` : '';
  const scopeIndented = scope.replace(/\n/g, '\n    ');

  const sqls = [
    `CREATE TEMP TABLE ${stage} (LIKE ${target})`,
    `INSERT INTO ${stage} (\n${colList}\n)\nSELECT\n${colList}\nFROM ${source}${scope}`,
    keyCheckSql(table, stage),
    // Keeps one row per load id even when the batch runs again after the ClientToken expired (8 h).
    `DELETE FROM ${LOADS_TABLE}\nWHERE load_id = ${sqlString(loadId)}`,
    [
      `INSERT INTO ${LOADS_TABLE} (`,
      '    load_id, table_name, range_from, range_to, rows, replaced, loaded_at',
      ')',
      'WITH staged AS (',
      `    SELECT COUNT(*) AS staged_rows FROM ${stage}`,
      '),',
      '',
      'current_scope AS (',
      `    SELECT COUNT(*) AS replaced_rows FROM ${target}${scopeIndented}`,
      ')',
      '',
      'SELECT',
      `    ${sqlString(loadId)} AS load_id,`,
      `    ${sqlString(table.name)} AS target_table,`,
      `    ${range ? sqlDate(range.from) : 'NULL'} AS scope_from,`,
      `    ${range ? sqlDate(range.to) : 'NULL'} AS scope_to,`,
      '    staged.staged_rows,',
      '    current_scope.replaced_rows,',
      // SYSDATE: the transaction's start in UTC, computed on compute nodes (NOW() is leader-node only).
      '    SYSDATE AS loaded_at',
      'FROM staged',
      'CROSS JOIN current_scope',
    ].join('\n'),
  ];
  const deleteIndex = sqls.push(`DELETE FROM ${target}${scope}`) - 1;
  const insertIndex = sqls.push(`INSERT INTO ${target} (\n${colList}\n)\nSELECT\n${colList}\nFROM ${stage}`) - 1;
  sqls.push(`DROP TABLE ${stage}`);
  return { sqls: checkBatch(sqls), keyCheckIndex: 2, deleteIndex, insertIndex, ...(range ? { range } : {}) };
}

/** Reads back what a load recorded (when the Data API reports no row counts). */
export function loadRecordSql(loadId: string): string {
  return checkStatement(
    [
      'SELECT',
      '    rows,',
      '    replaced',
      `FROM ${LOADS_TABLE}`,
      `WHERE load_id = ${sqlString(loadId)}`,
      'ORDER BY loaded_at DESC',
      'LIMIT 1',
    ].join('\n'),
  );
}

/** External schema over the Glue database of a customer's personal namespace (`personal_<customer>`). */
export const personalExternalSchema = (namespace: string): string => `lake_${ident(namespace)}`;

/**
 * `lake_personal_<customer>` over the Glue database of the customer's namespace: analysis
 * results and uploads are Iceberg tables there, registered in Glue like the serving ones.
 * One ExecuteStatement, outside any transaction (external DDL).
 */
export function personalExternalSchemaSql(lake: LakeCatalog, namespace: string): string {
  checkLakeCatalog(lake);
  return checkStatement(externalSchemaSql(personalExternalSchema(namespace), `${lake.glueDatabasePrefix}${ident(namespace)}`, lake.iamRole));
}

/** 1 when the role exists (Redshift has no CREATE ROLE IF NOT EXISTS). */
export function roleExistsSql(role: string): string {
  return checkStatement(['SELECT COUNT(*) AS role_count', 'FROM svv_roles', `WHERE role_name = ${sqlString(ident(role))}`].join('\n'));
}

export function createRoleSql(role: string): string {
  return checkStatement(`CREATE ROLE ${ident(role)}`);
}

/** 1 when `schema.table` exists. */
export function tableExistsSql(schema: string, table: string): string {
  return checkStatement(
    ['SELECT COUNT(*) AS table_count', 'FROM svv_tables', 'WHERE', `    table_schema = ${sqlString(ident(schema))}`, `    AND table_name = ${sqlString(ident(table))}`].join('\n'),
  );
}

/** The columns Glue holds for a personal Iceberg table, in table order (none: not registered). */
export function externalColumnsSql(namespace: string, table: string): string {
  return checkStatement(
    [
      'SELECT columnname',
      'FROM svv_external_columns',
      'WHERE',
      `    schemaname = ${sqlString(personalExternalSchema(namespace))}`,
      `    AND tablename = ${sqlString(ident(table))}`,
      'ORDER BY columnnum',
    ].join('\n'),
  );
}

export function dropTableSql(schema: string, table: string): string {
  return checkStatement(`DROP TABLE IF EXISTS ${ident(schema)}.${ident(table)}`);
}

export interface ReplaceTableBatchRequest {
  /** The Iceberg table, `personal_<customer>.<name>`. */
  readonly source: { readonly namespace: string; readonly name: string };
  readonly schema: string;
  readonly table: string;
  readonly readerRole: string;
  readonly loadId: string;
  /** The source's columns, in order (as Glue lists them). */
  readonly columns: readonly string[];
  /** The table is there already: its row count is recorded as replaced. */
  readonly exists: boolean;
}

export interface ReplaceTableBatch {
  readonly sqls: string[];
  /** Index in `sqls` of the CREATE TABLE … AS (its ResultRows = rows loaded, when reported). */
  readonly createIndex: number;
}

/**
 * A customer table (analysis result, upload) replaced as ONE transaction: the schema and its
 * grant, the old table dropped, the new one created from the Iceberg table through the
 * external schema (delete files applied), readable by the customer's role, the load recorded.
 * Readers wait on the DROP's lock and then see the new table whole.
 */
export function replaceTableBatch(request: ReplaceTableBatchRequest): ReplaceTableBatch {
  const { loadId } = request;
  if (loadId === '' || statementBytes(loadId) > MAX_LOAD_ID_BYTES) {
    throw new WarehouseError(`load id must be 1 to ${MAX_LOAD_ID_BYTES} bytes, got ${statementBytes(loadId)}`);
  }
  const schema = ident(request.schema);
  const target = `${schema}.${ident(request.table)}`;
  const role = ident(request.readerRole);
  const source = `${personalExternalSchema(request.source.namespace)}.${ident(request.source.name)}`;
  const sqls = [`CREATE SCHEMA IF NOT EXISTS ${schema}`, `GRANT USAGE ON SCHEMA ${schema} TO ROLE ${role}`];
  if (request.exists) sqls.push(`CREATE TEMP TABLE replaced_rows AS\nSELECT COUNT(*) AS n\nFROM ${target}`);
  sqls.push(`DROP TABLE IF EXISTS ${target}`);
  if (request.columns.length === 0) throw new WarehouseError(`${source} has no columns`);
  const colList = request.columns.map((c) => `    ${ident(c)}`).join(',\n');
  const createIndex = sqls.push(`CREATE TABLE ${target} AS\nSELECT\n${colList}\nFROM ${source}`) - 1;
  sqls.push(
    `GRANT SELECT ON ${target} TO ROLE ${role}`,
    `DELETE FROM ${LOADS_TABLE}\nWHERE load_id = ${sqlString(loadId)}`,
    [
      `INSERT INTO ${LOADS_TABLE} (`,
      '    load_id, table_name, range_from, range_to, rows, replaced, loaded_at',
      ')',
      'SELECT',
      `    ${sqlString(loadId)} AS load_id,`,
      `    ${sqlString(`${request.schema}.${request.table}`)} AS target_table,`,
      '    NULL AS scope_from,',
      '    NULL AS scope_to,',
      '    COUNT(*) AS loaded_rows,',
      `    ${request.exists ? '(SELECT MAX(replaced_rows.n) FROM replaced_rows)' : '0'} AS replaced_rows,`,
      '    SYSDATE AS loaded_at',
      `FROM ${target}`,
    ].join('\n'),
  );
  if (request.exists) sqls.push('DROP TABLE replaced_rows');
  return { sqls: checkBatch(sqls), createIndex };
}

export interface SpectrumQuery {
  readonly name: string;
  readonly doc: string;
  readonly sql: string;
}

/**
 * Case 2 straight from the lake: the daily weather of one region over any span (15 years
 * fit), without loading it. Scans only the yearly Iceberg partitions the range touches.
 */
export function spectrumWeatherHistorySql(regionId: string, range: DayRange): string {
  checkRange(range);
  return checkStatement(
    [
      'SELECT',
      '    w.day,',
      '    w.temperature_avg,',
      '    w.temperature_min,',
      '    w.temperature_max,',
      '    w.precipitation_sum,',
      '    w.wind_speed_avg,',
      '    w.hours',
      `FROM ${LAKE_OPERATIONAL_SCHEMA}.weather_daily AS w`,
      'WHERE',
      `    w.region_id = ${sqlString(regionId)}`,
      `    AND w.day BETWEEN ${sqlDate(range.from)} AND ${sqlDate(range.to)}`,
      'ORDER BY w.day',
    ].join('\n'),
  );
}

/**
 * Curated hourly observations (never loaded into the warehouse) rolled up by month and
 * joined with the loaded regions table: lake and warehouse in one query.
 */
export function spectrumMonthlyObservedSql(regionId: string, range: DayRange): string {
  checkRange(range);
  return checkStatement(
    [
      'SELECT',
      '    r.name AS region_name,',
      "    DATE_TRUNC('month', o.day) AS month_start,",
      '    MIN(o.temperature_2m) AS temperature_min,',
      '    MAX(o.temperature_2m) AS temperature_max,',
      '    SUM(o.precipitation) AS precipitation_sum,',
      '    COUNT(*) AS hours_observed',
      `FROM ${LAKE_CURATED_SCHEMA}.weather_observed AS o`,
      `INNER JOIN ${SERVING_SCHEMA}.regions AS r ON o.region_id = r.region_id`,
      'WHERE',
      `    o.region_id = ${sqlString(regionId)}`,
      `    AND o.day BETWEEN ${sqlDate(range.from)} AND ${sqlDate(range.to)}`,
      "GROUP BY r.name, DATE_TRUNC('month', o.day)",
      'ORDER BY month_start',
    ].join('\n'),
  );
}

/**
 * Market events of one region and day from the curated table (source D's full detail,
 * of which the warehouse holds only the daily aggregate).
 */
export function spectrumMarketVenuesSql(region: string, day: string): string {
  return checkStatement(
    [
      'SELECT',
      '    e.venue,',
      '    COUNT(*) AS events,',
      '    SUM(e.volume) AS volume,',
      '    SUM(e.price * e.volume) / NULLIF(SUM(e.volume), 0) AS vwap',
      `FROM ${LAKE_CURATED_SCHEMA}.market_events AS e`,
      'WHERE',
      `    e.region = ${sqlString(region)}`,
      `    AND e.day = ${sqlDate(day)}`,
      'GROUP BY e.venue',
      'ORDER BY volume DESC',
    ].join('\n'),
  );
}

/** The documented examples (README, lint test), with sample arguments. */
export function spectrumExamples(): SpectrumQuery[] {
  return [
    {
      name: 'weather_history_15y',
      doc: '15 years of daily weather for one region, from lake_operational',
      sql: spectrumWeatherHistorySql('eu-west-paris', { from: '2010-01-01', to: '2024-12-31' }),
    },
    {
      name: 'observed_monthly',
      doc: 'monthly extremes from the curated hourly observations, joined with serving.regions',
      sql: spectrumMonthlyObservedSql('eu-west-paris', { from: '2010-01-01', to: '2024-12-31' }),
    },
    {
      name: 'market_venues_day',
      doc: "one region's market activity per venue on one day, from lake_curated",
      sql: spectrumMarketVenuesSql('eu-west-paris', '2021-10-04'),
    },
  ];
}
