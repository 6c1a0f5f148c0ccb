/**
 * The baseline of bench/api.ts: the same rows straight from PostgreSQL with `pg`, from a
 * process of its own with as many connections as the HTTP run has, for as long.
 * Prints one JSON line: { p50, p99, rps, errors }.
 *
 *   tsx bench/load/pg.ts <connections> <seconds> <rate> <sql> <param sets as JSON>
 *
 * rate: queries per second over all connections (0: each connection as fast as it can).
 */
import pg from 'pg';
import { loadConfig } from '../../lib/config.ts';
import { postgresClientConfig } from '../../lib/clients/postgres.ts';
import { runPaced } from './paced.ts';

const [connections, seconds, rate, sql, paramsJson] = process.argv.slice(2);
if (!sql || !paramsJson) throw new Error('usage: pg.ts <connections> <seconds> <rate> <sql> <params JSON>');
const paramSets = JSON.parse(paramsJson) as unknown[][];
const n = Number(connections);
const pool = new pg.Pool({ ...postgresClientConfig(loadConfig()), max: n });
// Warm every connection first, as the HTTP side opens its connections before it measures.
await Promise.all(Array.from({ length: n }, () => pool.query('SELECT 1')));
const { rejected: _, ...figures } = await runPaced({
  connections: n,
  seconds: Number(seconds),
  rate: Number(rate),
  send: async (i) => {
    await pool.query({ text: sql, values: paramSets[i % paramSets.length] as unknown[] });
    return true;
  },
});
await pool.end();
console.log(JSON.stringify(figures));
