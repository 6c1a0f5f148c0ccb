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
