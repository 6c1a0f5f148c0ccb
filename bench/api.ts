/**
 * The REST API under concurrent load (cases 1 and 2), beside the same rows read straight
 * from PostgreSQL with `pg` in the same run. The load comes from a second process
 * (keep-alive HTTP connections, or a pg pool for the baseline) with the same connections and time.
 *
 *   npx tsx bench/api.ts [--connections 10] [--seconds 10] [--years 15]
 *   npm run bench:api
 *
 * Data: a database of its own (`tempolake_bench`) with 20 regions × `years` of synthetic
 * daily weather and market rows, loaded with COPY; the API runs in this process.
 * Target: case 1's p99 at most 2× the direct query's.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startApi } from '../api/server.ts';
import type { Figures as BaseFigures } from './load/paced.ts';
import { loadConfig, type Config } from '../lib/config.ts';
import { postgresClientConfig } from '../lib/clients/postgres.ts';
import { infraUp } from '../lib/infra/index.ts';
import { addDays } from '../lib/time/days.ts';
import { createCustomer, listCustomers, rotateCustomerKey } from '../lib/warehouse/customers.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';
import { readRegionsFile } from '../lib/weather/regions.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    connections: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '10' },
    years: { type: 'string', default: '15' },
  },
});
const CONNECTIONS = Number(values.connections);
const SECONDS = Number(values.seconds);
const TO = '2025-12-31';
const FROM = `${2025 - Number(values.years) + 1}-01-01`;
const DATABASE = 'tempolake_bench';

type Figures = BaseFigures & { readonly non2xx?: number };

function runChild(script: string, args: readonly string[], config: Config): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', new URL(script, import.meta.url).pathname, ...args], {
      env: { ...process.env, POSTGRES_DB: config.postgresDatabase },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) reject(new Error(`${script} exited with ${code}: ${out}`));
      else resolve(JSON.parse(line) as Figures);
    });
  });
}

async function prepareDatabase(base: Config): Promise<Config> {
  const admin = new pg.Client(postgresClientConfig(base, 'postgres'));
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  return { ...base, postgresDatabase: DATABASE, apiRateLimitPerMinute: 1_000_000_000 };
}

/** Deterministic synthetic rows: the values do not matter here, their number and shape do. */
async function seed(pool: pg.Pool, regionIds: readonly string[]): Promise<number> {
  const days: string[] = [];
  for (let d = FROM; d <= TO; d = addDays(d, 1)) days.push(d);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('TRUNCATE serving.regions, serving.weather_daily, serving.market_daily, serving.region_summary');
    const copy = async (sql: string, lines: () => Generator<string>): Promise<void> => {
      await pipeline(Readable.from(lines()), client.query(copyFrom(sql)));
    };
    await copy('COPY serving.regions (region_id, name, latitude, longitude, country, timezone, metadata, origin, first_seen) FROM STDIN (FORMAT csv)', function* () {
      for (const [i, id] of regionIds.entries()) yield `${id},Region ${i},${40 + i},${i},XX,UTC,{},config,2024-01-01 00:00:00+00\n`;
    });
    await copy('COPY serving.weather_daily FROM STDIN (FORMAT csv)', function* () {
      for (const [i, id] of regionIds.entries()) {
        for (const [j, day] of days.entries()) yield `${id},${day},${(i + j) % 30},${(i + j) % 30 - 5},${(i + j) % 30 + 5},${j % 7},${i % 9},${i % 9 + 3},${50 + (j % 40)},24\n`;
      }
    });
    await copy('COPY serving.market_daily FROM STDIN (FORMAT csv)', function* () {
      for (const [i, id] of regionIds.entries()) {
        for (const [j, day] of days.entries()) yield `${id},${day},${100 + (j % 50)},${1 + (i % 5)},${1000 + j},${50 + (j % 10)},${51 + (j % 10)},${1 + (j % 3) / 10}\n`;
      }
    });
    await client.query(`INSERT INTO serving.region_summary
      SELECT r.region_id, r.name, r.latitude, r.longitude, r.country, r.timezone, r.metadata,
        w.day, w.temperature_avg, w.temperature_min, w.temperature_max, w.precipitation_sum, w.wind_speed_avg, w.relative_humidity_avg, w.temperature_avg,
        m.day, m.market_interest, m.market_interest, m.volume, m.events
      FROM serving.regions r
      JOIN serving.weather_daily w ON w.region_id = r.region_id AND w.day = DATE '${TO}'
      JOIN serving.market_daily m ON m.region = r.region_id AND m.day = DATE '${TO}'`);
    await client.query('COMMIT');
    await client.query('ANALYZE serving.weather_daily; ANALYZE serving.market_daily; ANALYZE serving.region_summary');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  return days.length;
}

const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;

const base = loadConfig();
await infraUp(base, () => undefined, ['postgres']);
const config = await prepareDatabase(base);
const pool = new pg.Pool({ ...postgresClientConfig(config), max: 4 });
await ensurePostgresSchema(pool);
const regionIds = (await readRegionsFile(config.regionsFile)).map((r) => r.id);
const t0 = Date.now();
const days = await seed(pool, regionIds);
console.log(`seeded ${regionIds.length} regions × ${days} days (${FROM}..${TO}) of weather and market rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const existing = (await listCustomers(pool)).some((c) => c.id === 'bench');
const apiKey = existing ? await rotateCustomerKey(pool, 'bench') : (await createCustomer(pool, 'bench')).apiKey;
await pool.end();

const api = await startApi(config, { port: 0, log: () => undefined });
const loadAtStart = loadavg()[0] ?? 0;
try {
  const cases = [
    {
      name: 'case 1: region summary',
      rate: 1000,
      accept: 'application/json',
      paths: regionIds.map((id) => `/v1/regions/${id}/summary`),
      sql: 'SELECT * FROM serving.region_summary WHERE region_id = $1',
      params: regionIds.map((id) => [id]),
    },
    {
      name: 'case 2: daily weather, first page of 1000 (JSON)',
      rate: 100,
      accept: 'application/json',
      paths: regionIds.map((id) => `/v1/regions/${id}/weather/daily?from=${FROM}&to=${TO}&limit=1000`),
      sql: 'SELECT * FROM serving.weather_daily WHERE region_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day LIMIT 1000',
      params: regionIds.map((id) => [id, FROM, TO]),
    },
    {
      name: `case 2: all ${days} days streamed (CSV)`,
      rate: 20,
      accept: 'text/csv',
      paths: regionIds.map((id) => `/v1/regions/${id}/weather/daily?from=${FROM}&to=${TO}`),
      sql: 'SELECT * FROM serving.weather_daily WHERE region_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day',
      params: regionIds.map((id) => [id, FROM, TO]),
    },
  ];
  console.log(`\n${CONNECTIONS} connections, ${SECONDS} s per run, load from a second process; ${cpus().length} cores, load average ${loadAtStart.toFixed(2)} at start`);
  const header = `${'case'.padEnd(50)} ${'API p50'.padStart(10)} ${'API p99'.padStart(10)} ${'API req/s'.padStart(10)}   ${'pg p50'.padStart(10)} ${'pg p99'.padStart(10)} ${'pg req/s'.padStart(10)}   p99 ratio`;
  const results: string[] = [];
  for (const c of cases) {
    // A short warm-up run of each: JIT, connection pools and caches as in steady state.
    await runChild('./load/http.ts', [api.url, apiKey, c.accept, String(CONNECTIONS), '2', '0', ...c.paths], config);
    for (const rate of [c.rate, 0]) {
      const http = await runChild('./load/http.ts', [api.url, apiKey, c.accept, String(CONNECTIONS), String(SECONDS), String(rate), ...c.paths], config);
      const direct = await runChild('./load/pg.ts', [String(CONNECTIONS), String(SECONDS), String(rate), c.sql, JSON.stringify(c.params)], config);
      const name = `${c.name}, ${rate ? `${rate} req/s` : 'saturated'}`;
      if (http.errors || http.non2xx) results.push(`  (${http.errors} errors, ${http.non2xx} non-2xx answers in the API run)`);
      results.push(
        `${name.padEnd(50)} ${fmt(http.p50).padStart(10)} ${fmt(http.p99).padStart(10)} ${Math.round(http.rps).toString().padStart(10)}   ${fmt(direct.p50).padStart(10)} ${fmt(direct.p99).padStart(10)} ${Math.round(direct.rps).toString().padStart(10)}   ${(http.p99 / direct.p99).toFixed(2)}×`,
      );
      console.log(results[results.length - 1]);
    }
  }
  console.log(`\n${header}\n${results.join('\n')}`);
  console.log('\nA fixed rate both sides sustain measures what one request costs; "saturated" (each connection');
  console.log("back to back) measures capacity, where latency is the queue's length and the HTTP load generator");
  console.log('competes with the API for the same 2 cores.');
  console.log('Target: case 1 p99 at most 2× the direct query (ratio ≤ 2.00×) at a fixed rate.');
} finally {
  await api.close();
}
