/** The PostgreSQL warehouse's schemas and tables, created idempotently. */
import type pg from 'pg';
import { inPgTransaction } from '../clients/postgres.ts';
import { ensureCustomersTable, grantServingToCustomers } from './customers.ts';
import { createIndexesSql, createTableSql } from './ddl.ts';
import { META_SCHEMA, SERVING_SCHEMA, WAREHOUSE_TABLES } from './tables.ts';

export const LOADS_TABLE = `${META_SCHEMA}.loads`;

/** One row per committed load: what the API's caches and the tests read back. */
const LOADS_DDL = `CREATE TABLE IF NOT EXISTS ${LOADS_TABLE} (
  load_id text NOT NULL, table_name text NOT NULL, range_from date, range_to date,
  rows bigint NOT NULL, replaced bigint NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now())`;

/** Serialised by an advisory lock: two workers creating the same objects at once would collide on the catalog. */
export async function ensurePostgresSchema(pool: pg.Pool): Promise<void> {
  await inPgTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('tempolake_warehouse_schema'))");
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${SERVING_SCHEMA}`);
    for (const t of WAREHOUSE_TABLES) {
      await client.query(createTableSql(t, SERVING_SCHEMA, 'postgres'));
      for (const sql of createIndexesSql(t, SERVING_SCHEMA)) await client.query(sql);
    }
    await ensureCustomersTable(client);
    await client.query(LOADS_DDL);
    await grantServingToCustomers(client);
  });
}
