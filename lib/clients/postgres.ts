/** pg connection settings for the warehouse (PostgreSQL locally, the Redshift-compatible target). */
import pg from 'pg';
import type { Config } from '../config.ts';

export function postgresClientConfig(config: Config, database = config.postgresDatabase): pg.ClientConfig {
  return {
    host: config.postgresHost,
    port: config.postgresPort,
    user: config.postgresUser,
    password: config.postgresPassword,
    database,
    connectionTimeoutMillis: 3000,
  };
}

export function createPostgresPool(config: Config): pg.Pool {
  const pool = new pg.Pool({ ...postgresClientConfig(config), max: 10 });
  // An idle connection the server dropped (restart, pg_terminate_backend) is discarded by the
  // pool; without a listener its 'error' would crash the process. The next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Runs `work` inside `begin` … COMMIT on a pooled connection; any failure rolls back and is
 * rethrown. A connection dropped mid-transaction also emits 'error' on the checked-out client
 * (unhandled, that would crash the process), and a connection that failed is never returned
 * to the pool: its transaction state and role are unknown.
 */
export async function inPgTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error): void => void (broken ??= err);
  client.on('error', onError);
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    broken ??= err as Error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
