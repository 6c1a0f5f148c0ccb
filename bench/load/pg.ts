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

const [connections, seconds, rate, sql, paramsJson] = process.argv.slice(2);
if (!sql || !paramsJson) throw new Error('usage: pg.ts <connections> <seconds> <rate> <sql> <params JSON>');
const interval = Number(rate) > 0 ? (1000 * Number(connections)) / Number(rate) : 0;
const paramSets = JSON.parse(paramsJson) as unknown[][];
const n = Number(connections);
const pool = new pg.Pool({ ...postgresClientConfig(loadConfig()), max: n });
const latencies: number[] = [];
let errors = 0;
let next = 0;
const until = Date.now() + Number(seconds) * 1000;
// Warm every connection first, as autocannon's connections are open before it measures.
await Promise.all(Array.from({ length: n }, () => pool.query('SELECT 1')));
await Promise.all(
  Array.from({ length: n }, async (_, w) => {
    // Paced connections start spread over one interval, as autocannon's do.
    let due = Date.now() + (interval * w) / n;
    while (Date.now() < until) {
      if (interval > 0) {
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        due += interval;
      }
      const t0 = process.hrtime.bigint();
      try {
        await pool.query({ text: sql, values: paramSets[next++ % paramSets.length] as unknown[] });
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch {
        errors++;
      }
    }
  }),
);
await pool.end();
latencies.sort((a, b) => a - b);
const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
console.log(JSON.stringify({ p50: at(0.5), p99: at(0.99), rps: latencies.length / Number(seconds), errors }));
