/**
 * The PostgreSQL warehouse (local default and test server). A load reads the Iceberg
 * table through DuckDB into a CSV file (DuckDB's parallel writer), streams it with
 * `COPY … FROM STDIN` into a temporary staging table, and replaces the target's scope in
 * the same transaction: readers see the old rows until COMMIT, then the new.
 *
 * Loads of one table are serialised by a table lock that readers do not wait for (two
 * concurrent DELETE+INSERTs of the same days would both insert). A load whose staged rows
 * equal the target's scope writes nothing: re-running a day changes nothing, not even
 * row versions, and the API's caches are left warm.
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { inPgTransaction } from '../clients/postgres.ts';
import { from as copyFrom } from 'pg-copy-streams';
import type { LakeSession } from '../lake/session.ts';
import { LAKE as LAKE_NAME, sqlString } from '../lake/session.ts';
import { ensureTables, qualified } from '../lake/tables.ts';
import { assertDay } from '../time/days.ts';
import { ensurePostgresSchema, LOADS_TABLE } from './postgres-schema.ts';
import { SERVING_SCHEMA, type WarehouseTable } from './tables.ts';
import { DuplicateKeyError, LOADS_CHANNEL, WarehouseError, type LoadRequest, type LoadResult, type ReplaceTableRequest, type Warehouse } from './warehouse.ts';

export interface PostgresWarehouseDeps {
  readonly pool: pg.Pool;
  /** Opens a DuckDB session attached to the lake; closed after each load. */
  readonly openLake: () => Promise<LakeSession>;
  /** Folder for the CSV hand-over files (deleted after each load). */
  readonly tmpDir: string;
  /** Runs after the target's rows are replaced, just before COMMIT (tests crash or stall a load here). */
  readonly beforeCommit?: (client: pg.PoolClient, table: WarehouseTable) => Promise<void>;
}

export function createPostgresWarehouse(deps: PostgresWarehouseDeps): Warehouse {
  return {
    dialect: 'postgres',
    ensureSchema: () => ensurePostgresSchema(deps.pool),
    load: (request) => loadTable(deps, request),
    replaceTable: (request) => replaceCustomerTable(deps, request),
    async dropTable(schema, table) {
      await deps.pool.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`);
    },
    close: async () => undefined,
  };
}

/** The scope of a load as SQL over the table's own columns (PostgreSQL and DuckDB agree on this form). */
function scopeSql(table: WarehouseTable, request: LoadRequest): string {
  if (!request.range || !table.rangeColumn) return 'true';
  assertDay(request.range.from, 'from');
  assertDay(request.range.to, 'to');
  if (request.range.from > request.range.to) throw new WarehouseError(`load of ${table.name}: from ${request.range.from} is after to ${request.range.to}`);
  return `"${table.rangeColumn}" BETWEEN DATE ${sqlString(request.range.from)} AND DATE ${sqlString(request.range.to)}`;
}

async function exportFromLake(deps: PostgresWarehouseDeps, table: WarehouseTable, where: string, file: string): Promise<void> {
  const session = await deps.openLake();
  try {
    await ensureTables(session, [table.source]);
    const cols = table.columns.map((c) => `"${c.name}"`).join(', ');
    await session.run(`COPY (SELECT ${cols} FROM ${qualified(table.source)} WHERE ${where}) TO ${sqlString(file)} (FORMAT csv, HEADER false)`);
  } finally {
    session.close();
  }
}

async function loadTable(deps: PostgresWarehouseDeps, request: LoadRequest): Promise<LoadResult> {
  const t0 = Date.now();
  const table = request.table;
  const where = scopeSql(table, request);
  const progress = request.onProgress ?? (() => undefined);
  await mkdir(deps.tmpDir, { recursive: true });
  const file = path.join(deps.tmpDir, `load-${table.name}-${randomUUID()}.csv`);
  try {
    progress(`reading ${qualified(table.source)} from the lake`);
    await exportFromLake(deps, table, where, file);
    const target = `${SERVING_SCHEMA}.${table.name}`;
    const cols = table.columns.map((c) => c.name).join(', ');
    return await inPgTransaction(deps.pool, async (client) => {
      await client.query(`CREATE TEMP TABLE stage_load (LIKE ${target}) ON COMMIT DROP`);
      progress(`copying into the staging table of ${target}`);
      await pipeline(createReadStream(file), client.query(copyFrom(`COPY stage_load (${cols}) FROM STDIN (FORMAT csv)`)));
      await assertUniqueKeys(client, table);
      // Readers (ACCESS SHARE) pass; another load of this table waits here until we commit.
      await client.query(`LOCK TABLE ${target} IN SHARE ROW EXCLUSIVE MODE`);
      const differing = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ((TABLE stage_load EXCEPT ALL SELECT ${cols} FROM ${target} WHERE ${where})
          UNION ALL (SELECT ${cols} FROM ${target} WHERE ${where} EXCEPT ALL TABLE stage_load)) d`,
      );
      const staged = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM stage_load')).rows[0]?.n ?? 0);
      if (Number(differing.rows[0]?.n) === 0) {
        // Nothing to write: the commit only drops the staging table and releases the lock.
        progress(`${target}: unchanged (${staged} rows)`);
        return { table: table.name, rows: staged, replaced: 0, unchanged: true, ms: Date.now() - t0 };
      }
      progress(`replacing ${target} (${staged} rows)`);
      const deleted = await client.query(`DELETE FROM ${target} WHERE ${where}`);
      await client.query(`INSERT INTO ${target} (${cols}) SELECT ${cols} FROM stage_load`);
      await client.query(`INSERT INTO ${LOADS_TABLE} (load_id, table_name, range_from, range_to, rows, replaced) VALUES ($1, $2, $3, $4, $5, $6)`, [
        request.loadId,
        table.name,
        table.rangeColumn ? (request.range?.from ?? null) : null,
        table.rangeColumn ? (request.range?.to ?? null) : null,
        staged,
        deleted.rowCount ?? 0,
      ]);
      // Delivered on COMMIT only: listeners never hear of a load that rolled back.
      await client.query('SELECT pg_notify($1, $2)', [LOADS_CHANNEL, JSON.stringify({ table: table.name, loadId: request.loadId })]);
      await deps.beforeCommit?.(client, table);
      return { table: table.name, rows: staged, replaced: deleted.rowCount ?? 0, unchanged: false, ms: Date.now() - t0 };
    });
  } finally {
    await rm(file, { force: true });
  }
}

async function assertUniqueKeys(client: pg.PoolClient, table: WarehouseTable): Promise<void> {
  const key = table.key.join(', ');
  const { rows } = await client.query<{ k: string; n: string }>(
    `SELECT concat_ws('/', ${key}) AS k, count(*) AS n FROM stage_load GROUP BY ${key} HAVING count(*) > 1 LIMIT 3`,
  );
  if (rows.length > 0) {
    throw new DuplicateKeyError(`${qualified(table.source)} has more than one row per (${key}): ${rows.map((r) => `${r.k} ×${r.n}`).join(', ')}; nothing loaded`);
  }
}

/** DuckDB column types and the PostgreSQL type each is loaded as; anything else travels as text. */
const POSTGRES_TYPE_OF: Record<string, string> = {
  VARCHAR: 'text',
  DOUBLE: 'double precision',
  FLOAT: 'real',
  BIGINT: 'bigint',
  INTEGER: 'integer',
  SMALLINT: 'smallint',
  TINYINT: 'smallint',
  BOOLEAN: 'boolean',
  DATE: 'date',
  'TIMESTAMP WITH TIME ZONE': 'timestamptz',
  TIMESTAMP: 'timestamp',
  HUGEINT: 'numeric',
};

function postgresTypeOf(duckType: string): string | undefined {
  const decimal = /^DECIMAL\((\d+),(\d+)\)$/.exec(duckType);
  return decimal ? `numeric(${decimal[1]},${decimal[2]})` : POSTGRES_TYPE_OF[duckType];
}

async function replaceCustomerTable(deps: PostgresWarehouseDeps, request: ReplaceTableRequest): Promise<LoadResult> {
  const t0 = Date.now();
  const progress = request.onProgress ?? (() => undefined);
  const source = `${LAKE_NAME}.${request.source.namespace}.${request.source.name}`;
  await mkdir(deps.tmpDir, { recursive: true });
  const file = path.join(deps.tmpDir, `replace-${request.table}-${randomUUID()}.csv`);
  try {
    progress(`reading ${source} from the lake`);
    const session = await deps.openLake();
    let columns: { name: string; type: string }[];
    try {
      const described = await session.rows<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM ${source}`);
      columns = described.map((c) => ({ name: c.column_name, type: postgresTypeOf(c.column_type) ?? 'text' }));
      // Lists, structs and the like arrive as DuckDB's text form rather than failing the load.
      const select = described.map((c) => (postgresTypeOf(c.column_type) ? `"${c.column_name}"` : `CAST("${c.column_name}" AS VARCHAR) AS "${c.column_name}"`)).join(', ');
      await session.run(`COPY (SELECT ${select} FROM ${source}) TO ${sqlString(file)} (FORMAT csv, HEADER false)`);
    } finally {
      session.close();
    }
    const target = `${pg.escapeIdentifier(request.schema)}.${pg.escapeIdentifier(request.table)}`;
    const cols = columns.map((c) => pg.escapeIdentifier(c.name));
    return await inPgTransaction(deps.pool, async (client) => {
      progress(`replacing ${target}`);
      // Readers wait for the lock and then see the new table whole; nobody sees it half loaded.
      const existed = (await client.query('SELECT to_regclass($1) AS t', [`${request.schema}.${request.table}`])).rows[0]?.t;
      const replaced = existed ? Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${target}`)).rows[0]?.n ?? 0) : 0;
      await client.query(`DROP TABLE IF EXISTS ${target}`);
      await client.query(`CREATE TABLE ${target} (${columns.map((c, i) => `${cols[i]} ${c.type}`).join(', ')})`);
      await pipeline(createReadStream(file), client.query(copyFrom(`COPY ${target} (${cols.join(', ')}) FROM STDIN (FORMAT csv)`)));
      await client.query(`GRANT SELECT ON ${target} TO ${pg.escapeIdentifier(request.readerRole)}`);
      const rows = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${target}`)).rows[0]?.n ?? 0);
      await client.query(`INSERT INTO ${LOADS_TABLE} (load_id, table_name, rows, replaced) VALUES ($1, $2, $3, $4)`, [
        request.loadId,
        `${request.schema}.${request.table}`,
        rows,
        replaced,
      ]);
      return { table: `${request.schema}.${request.table}`, rows, replaced, ms: Date.now() - t0 };
    });
  } finally {
    await rm(file, { force: true });
  }
}
