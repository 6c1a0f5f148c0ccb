/**
 * A PostgreSQL database of the test's own on the shared local server, so tests never touch
 * the `tempolake` warehouse a developer loaded, nor each other's tables. Roles are
 * server-wide: tests name their customers uniquely.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config } from '../../lib/config.ts';
import { postgresClientConfig } from '../../lib/clients/postgres.ts';

export interface TestDatabase {
  /** `base` pointed at the new database. */
  readonly config: Config;
  readonly name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(base: Config = loadConfig()): Promise<TestDatabase> {
  const name = `tempolake_test_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client(postgresClientConfig(base, 'postgres'));
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    config: { ...base, postgresDatabase: name },
    async drop() {
      const c = new pg.Client(postgresClientConfig(base, 'postgres'));
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Removes a test's customer: its schema, what its role owns, and the role (roles outlive databases). */
export async function dropTestCustomer(pool: pg.Pool, customer: { schema: string; role: string } | undefined): Promise<void> {
  if (!customer) return;
  await pool.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(customer.schema)} CASCADE`);
  await pool.query(`DROP OWNED BY ${pg.escapeIdentifier(customer.role)}`);
  await pool.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(customer.role)}`);
}
