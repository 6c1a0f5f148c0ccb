/**
 * The REST API in process against the real local PostgreSQL (and Temporal for /ready).
 * Serving rows are inserted with explicit values under region ids unique to this run,
 * customers are created with the real key machinery; everything is removed afterwards.
 * Every response a test receives is checked against the OpenAPI document (contract.check).
 */
// Dates must come out as stored whatever the process's zone: run west of UTC to prove it.
process.env['TZ'] = 'America/New_York';

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createApp } from '../api/app.ts';
import { RegionCache } from '../api/region-cache.ts';
import { API_APPLICATION_NAME, startApi, type ApiServer } from '../api/server.ts';
import { lazyTemporal } from '../api/temporal.ts';
import { loadConfig } from '../lib/config.ts';
import { addDays } from '../lib/time/days.ts';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { createCustomer, type Customer } from '../lib/warehouse/customers.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';
import { LOADS_CHANNEL } from '../lib/warehouse/warehouse.ts';
import { dropTestCustomer } from './helpers/warehouse-db.ts';
import { loadContract, type Contract } from './helpers/openapi-check.ts';

const config = loadConfig({ ...process.env, API_RATE_LIMIT_PER_MINUTE: '100000' });
const run = randomBytes(4).toString('hex');
const REGION_15Y = `t${run}-15y`;
const REGION_MARKET = `t${run}-mkt`;
const REGION_EMPTY = `t${run}-empty`;
const OUR_REGIONS = [REGION_15Y, REGION_MARKET, REGION_EMPTY];
const FIRST_DAY = '2010-01-01';
const LAST_DAY = '2024-12-31';
const DAYS_15Y = 5479;
const MARKET_DAYS = 400;
const BIG_ROWS = 300_000;

let admin: pg.Pool;
let server: ApiServer;
let contract: Contract;
let customerA: Customer;
let customerB: Customer;
let keyA: string;
let keyB: string;
const logged: string[] = [];

interface Res {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
  readonly json: any;
}

interface CallOptions {
  readonly method?: string;
  readonly key?: string | undefined;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

/** One request with the raw path as given (no URL normalisation), checked against the contract. */
function call(base: string, path: string, options: CallOptions = {}): Promise<Res> {
  const url = new URL(base);
  const headers: Record<string, string> = { ...(options.key ? { authorization: `Bearer ${options.key}` } : {}), ...options.headers };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, method: options.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        try {
          const parsed = contract.check({ method: options.method ?? 'GET', path, status: res.statusCode ?? 0, headers: res.headers, body });
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8'), json: parsed });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const get = (path: string, options: CallOptions = {}): Promise<Res> => call(server.url, path, options);

function assertProblem(res: Res, status: number, invalid?: string[]): void {
  assert.equal(res.status, status, res.text);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  if (invalid) assert.deepEqual(res.json.invalid_params.map((p: { name: string }) => p.name).sort(), [...invalid].sort(), res.text);
}

/** RFC 4180 rows; a bare empty field is null, a quoted one the empty string. */
function parseCsv(text: string): (string | null)[][] {
  const rows: (string | null)[][] = [];
  let row: (string | null)[] = [];
  let i = 0;
  while (i < text.length) {
    let cell: string | null;
    if (text[i] === '"') {
      let s = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        s += text.slice(i, q);
        i = q + 1;
        if (text[i] === '"') {
          s += '"';
          i++;
        } else break;
      }
      cell = s;
    } else {
      const end = text.slice(i).search(/,|\r\n/);
      const s = end < 0 ? text.slice(i) : text.slice(i, i + end);
      i += s.length;
      cell = s === '' ? null : s;
    }
    row.push(cell);
    if (text[i] === ',') i++;
    else if (text.startsWith('\r\n', i)) {
      rows.push(row);
      row = [];
      i += 2;
    }
  }
  return rows;
}

const csvText = (v: unknown): string | null => (v === null ? null : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** The CSV's rows as the JSON rows would print: proves the two formats carry the same values. */
function assertCsvEqualsRows(csv: string, rows: Record<string, unknown>[]): void {
  const [header, ...lines] = parseCsv(csv);
  assert.ok(header);
  assert.equal(lines.length, rows.length);
  lines.forEach((cells, r) => {
    const row = rows[r] as Record<string, unknown>;
    assert.deepEqual(header, Object.keys(row));
    assert.deepEqual(cells, Object.values(row).map(csvText), `CSV row ${r + 1}`);
  });
}

const ndjsonRows = (text: string): Record<string, unknown>[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

/** Follows `next` from `first` until null; returns every row and the number of pages. */
async function allPages(first: string, key: string): Promise<{ rows: Record<string, unknown>[]; pages: number }> {
  const rows: Record<string, unknown>[] = [];
  let next: string | null = first;
  let pages = 0;
  while (next) {
    const res = await get(next, { key });
    assert.equal(res.status, 200, res.text);
    rows.push(...res.json.rows);
    next = res.json.next;
    pages++;
  }
  return { rows, pages };
}

async function asRole<T>(customer: Customer, work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await admin.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL ROLE ${pg.escapeIdentifier(customer.role)}`);
    const out = await work(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

async function seedServing(): Promise<void> {
  await admin.query(
    `INSERT INTO serving.regions (region_id, name, latitude, longitude, country, timezone, metadata, origin, first_seen) VALUES
       ($1, 'Fifteen Years', 48.5, 2.25, 'FR', 'Europe/Paris', '{"currency":"EUR","population":2100000}', 'config', '2024-03-01T12:30:00Z'),
       ($2, 'Market Town', -33.75, 151.25, 'AU', 'Australia/Sydney', '{}', 'source_d', '2024-05-02T00:00:00Z'),
       ($3, NULL, NULL, NULL, NULL, NULL, NULL, 'source_d', NULL)`,
    OUR_REGIONS,
  );
  await admin.query(
    `INSERT INTO serving.region_summary VALUES
       ($1, 'Fifteen Years', 48.5, 2.25, 'FR', 'Europe/Paris', '{"currency":"EUR","population":2100000}',
        '2024-12-31', 4.5, -1.25, 9.75, 0.5, 3.5, 81.5, 5.25, '2024-12-30', 0.625, 0.5, 12345.5, 6000000000),
       ($2, 'Market Town', -33.75, 151.25, 'AU', 'Australia/Sydney', '{}',
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2024-06-30', 0.75, 0.7, 99.25, 42),
       ($3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
    OUR_REGIONS,
  );
  // Values follow the day number i, so any row can be recomputed; every 100th precipitation is NULL.
  await admin.query(
    `INSERT INTO serving.weather_daily
       SELECT $1, $2::date + i, (i % 40) - 10 + 0.5, (i % 40) - 15 + 0.5, (i % 40) - 5 + 0.5,
              CASE WHEN i % 100 = 0 THEN NULL ELSE (i % 7) * 0.25 END, (i % 13) + 0.5, (i % 13) + 3, 50 + (i % 20), 24
         FROM generate_series(0, $3 - 1) AS i`,
    [REGION_15Y, FIRST_DAY, DAYS_15Y],
  );
  await admin.query(
    `INSERT INTO serving.market_daily
       SELECT $1, '2023-06-01'::date + i, 5000000000 + i, 10 + (i % 5), 1000.5 + i, 20.25, 20.5, (i % 8) * 0.125
         FROM generate_series(0, $2 - 1) AS i`,
    [REGION_MARKET, MARKET_DAYS],
  );
}

async function seedCustomerTables(): Promise<void> {
  await asRole(customerA, async (c) => {
    const s = pg.escapeIdentifier(customerA.schema);
    await c.query(`CREATE TABLE ${s}.results (id integer PRIMARY KEY, label text, day date, score numeric, big bigint, at timestamptz)`);
    await c.query(
      `INSERT INTO ${s}.results VALUES
         (1, 'plain', '2024-01-01', 1.5, 9007199254740993, '2024-01-01T00:00:00Z'),
         (2, 'comma, "quoted"', '2024-01-02', NULL, 7, NULL),
         (3, E'two\\nlines', '2024-01-03', 2.25, NULL, '2024-06-01T10:00:00+02:00'),
         (4, '', NULL, 0, 0, NULL),
         (5, NULL, '2024-01-05', -3, -8, NULL)`,
    );
    // No primary key: pages follow the physical row id.
    await c.query(`CREATE TABLE ${s}.nokey AS SELECT i AS n, 'row ' || i AS label FROM generate_series(1, 2500) AS i`);
    await c.query(`CREATE TABLE ${s}.big AS SELECT i AS n, md5(i::text) AS h FROM generate_series(1, ${BIG_ROWS}) AS i`);
    await c.query(`CREATE TABLE ${s}.secret_of_a (v text)`);
    await c.query(`INSERT INTO ${s}.secret_of_a VALUES ('only A may read this')`);
  });
  await asRole(customerB, async (c) => {
    await c.query(`CREATE TABLE ${pg.escapeIdentifier(customerB.schema)}.b_table (v integer)`);
  });
}

async function dropCustomer(c: Customer | undefined): Promise<void> {
  if (!c) return;
  await dropTestCustomer(admin, c);
  await admin.query('DELETE FROM tempolake_meta.customers WHERE id = $1', [c.id]);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

before(async () => {
  admin = createPostgresPool(config);
  await ensurePostgresSchema(admin);
  ({ customer: customerA, apiKey: keyA } = await createCustomer(admin, `apitest ${run} a`));
  ({ customer: customerB, apiKey: keyB } = await createCustomer(admin, `apitest ${run} b`));
  await seedServing();
  await seedCustomerTables();
  server = await startApi(config, { host: '127.0.0.1', port: 0, log: (l) => logged.push(l) });
  contract = await loadContract(server.openapi);
  await server.loads.whenListening();
});

after(async () => {
  await server?.close();
  for (const t of ['regions', 'region_summary', 'weather_daily']) await admin.query(`DELETE FROM serving.${t} WHERE region_id = ANY($1)`, [OUR_REGIONS]);
  await admin.query('DELETE FROM serving.market_daily WHERE region = ANY($1)', [OUR_REGIONS]);
  await dropCustomer(customerA);
  await dropCustomer(customerB);
  await admin.end();
});

describe('contract and documentation', () => {
  it('serves a valid OpenAPI 3.1 document, the one the app is built from', async () => {
    const res = await get('/openapi.json');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, JSON.parse(JSON.stringify(server.openapi)));
    assert.equal(res.json.openapi, '3.1.0');
    await loadContract(res.json); // validates again, from the wire
    for (const p of ['/v1/regions', '/v1/regions/{id}/summary', '/v1/regions/{id}/weather/daily', '/v1/regions/{id}/market/daily', '/v1/me', '/v1/tables', '/v1/tables/{name}', '/health', '/ready']) {
      assert.ok(res.json.paths[p]?.get, `${p} is documented`);
    }
  });

  it('renders the docs page from local files only, with no inline script', async () => {
    const redirect = await get('/docs');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, 'docs/');
    const page = await get('/docs/');
    assert.equal(page.status, 200);
    const csp = String(page.headers['content-security-policy']);
    assert.ok(csp.split(';').includes("script-src 'self'"), csp);
    const scripts = [...page.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length >= 2);
    for (const [, attrs, inline] of scripts) {
      assert.match(String(attrs), /src="\.\/[\w.-]+"/, 'every script is a local file');
      assert.equal(String(inline).trim(), '', 'no inline script');
    }
    const assets = [...page.text.matchAll(/(?:src|href)="\.\/([\w.-]+)"/g)].map((m) => m[1] as string);
    assert.ok(assets.includes('swagger-ui-bundle.js') && assets.includes('init.js') && assets.includes('swagger-ui.css'));
    for (const a of assets) {
      const res = await get(`/docs/${a}`);
      assert.equal(res.status, 200, a);
      assert.ok(res.body.length > 0, a);
    }
    const init = await get('/docs/init.js');
    assert.match(init.text, /'\.\.\/openapi\.json'/);
    assert.match(init.text, /validatorUrl: null/);
    assertProblem(await get('/docs/index.html'), 404);
  });
});

describe('health and readiness', () => {
  it('/health answers while the process is up', async () => {
    const res = await get('/health');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'ok' });
  });

  it('/ready checks the warehouse and Temporal', async () => {
    const res = await get('/ready');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { status: 'ready', checks: { warehouse: 'up', temporal: 'up' } });
  });

  /** An app over deps whose servers are down, served on a port of its own. */
  async function appWith(overrides: Record<string, string>, realPool: boolean): Promise<{ url: string; close(): Promise<void> }> {
    const downConfig = loadConfig({ ...process.env, ...overrides });
    const pool = realPool ? createPostgresPool(config) : createPostgresPool(downConfig);
    pool.on('error', () => undefined);
    const temporal = lazyTemporal(downConfig, { connectTimeoutMs: 1_000 });
    const { app } = createApp({ config: downConfig, pool, temporal, regions: new RegionCache(pool), readyTimeoutMs: 1_500, log: () => undefined });
    const s = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((r) => s.once('listening', r));
    return {
      url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
      close: async () => {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
        await temporal.close();
        await pool.end();
      },
    };
  }

  it('/ready is 503 naming each dependency that is down', async () => {
    const bothDown = await appWith({ POSTGRES_PORT: '1', TEMPORAL_ADDRESS: '127.0.0.1:1' }, false);
    try {
      const res = await call(bothDown.url, '/ready');
      assertProblem(res, 503);
      assert.deepEqual(res.json.checks, { warehouse: 'down', temporal: 'down' });
      assert.match(res.json.detail, /warehouse and temporal are down/);
      // The process itself is fine.
      assert.equal((await call(bothDown.url, '/health')).status, 200);
      // A request that needs the warehouse is told to come back, not given a 500.
      const data = await call(bothDown.url, '/v1/me', { key: keyA });
      assertProblem(data, 503);
      assert.equal(data.headers['retry-after'], '5');
    } finally {
      await bothDown.close();
    }
    const temporalDown = await appWith({ TEMPORAL_ADDRESS: '127.0.0.1:1' }, true);
    try {
      const res = await call(temporalDown.url, '/ready');
      assertProblem(res, 503);
      assert.deepEqual(res.json.checks, { warehouse: 'up', temporal: 'down' });
      assert.match(res.json.detail, /temporal is down/);
    } finally {
      await temporalDown.close();
    }
  });
});

describe('authentication', () => {
  it('answers 401 without a key or with a bad one', async () => {
    const none = await get('/v1/me');
    assertProblem(none, 401);
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    for (const key of ['nonsense', `tlk_${customerA.id}_${'x'.repeat(43)}`, `${keyA}x`, keyA.slice(0, -1)]) {
      const res = await get('/v1/me', { key });
      assertProblem(res, 401);
      assert.match(String(res.headers['www-authenticate']), /invalid_token/);
    }
    assertProblem(await get('/v1/me', { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } }), 401);
    assertProblem(await get('/v1/regions', { headers: { 'x-api-key': 'tlk_nobody_' + 'y'.repeat(43) } }), 401);
  });

  it('accepts the key as a Bearer token or in X-API-Key, and says whose it is', async () => {
    const bearer = await get('/v1/me', { key: keyA });
    assert.equal(bearer.status, 200);
    assert.deepEqual(bearer.json, { id: customerA.id, name: customerA.name, schema: customerA.schema, created_at: customerA.createdAt });
    const header = await get('/v1/me', { headers: { 'x-api-key': keyB } });
    assert.equal(header.status, 200);
    assert.equal(header.json.id, customerB.id);
    assert.equal(header.json.schema, `customer_${customerB.id}`);
  });
});

describe('case 1: regions and summaries', () => {
  it('lists every region with its metadata', async () => {
    const res = await get('/v1/regions', { key: keyA });
    assert.equal(res.status, 200);
    const ours = (res.json.regions as { region_id: string }[]).filter((r) => OUR_REGIONS.includes(r.region_id));
    assert.deepEqual(ours, [
      { region_id: REGION_15Y, name: 'Fifteen Years', latitude: 48.5, longitude: 2.25, country: 'FR', timezone: 'Europe/Paris', metadata: { currency: 'EUR', population: 2100000 }, origin: 'config', first_seen: '2024-03-01T12:30:00.000Z' },
      { region_id: REGION_EMPTY, name: null, latitude: null, longitude: null, country: null, timezone: null, metadata: null, origin: 'source_d', first_seen: null },
      { region_id: REGION_MARKET, name: 'Market Town', latitude: -33.75, longitude: 151.25, country: 'AU', timezone: 'Australia/Sydney', metadata: {}, origin: 'source_d', first_seen: '2024-05-02T00:00:00.000Z' },
    ]);
  });

  it("returns a region's latest weather, market interest and metadata", async () => {
    const res = await get(`/v1/regions/${REGION_15Y}/summary`, { key: keyA });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, {
      region: { region_id: REGION_15Y, name: 'Fifteen Years', latitude: 48.5, longitude: 2.25, country: 'FR', timezone: 'Europe/Paris', metadata: { currency: 'EUR', population: 2100000 } },
      weather: { day: '2024-12-31', temperature_avg: 4.5, temperature_min: -1.25, temperature_max: 9.75, precipitation_sum: 0.5, wind_speed_avg: 3.5, relative_humidity_avg: 81.5, temperature_avg_7d: 5.25 },
      market: { day: '2024-12-30', market_interest: 0.625, market_interest_avg_7d: 0.5, volume: 12345.5, events: 6000000000 },
    });
    const market = await get(`/v1/regions/${REGION_MARKET}/summary`, { key: keyB });
    assert.equal(market.json.weather, null);
    assert.deepEqual(market.json.market, { day: '2024-06-30', market_interest: 0.75, market_interest_avg_7d: 0.7, volume: 99.25, events: 42 });
    const empty = await get(`/v1/regions/${REGION_EMPTY}/summary`, { key: keyB });
    assert.deepEqual(empty.json, { region: { region_id: REGION_EMPTY, name: null, latitude: null, longitude: null, country: null, timezone: null, metadata: null }, weather: null, market: null });
    assertProblem(await get(`/v1/regions/t${run}-nowhere/summary`, { key: keyA }), 404);
  });

  it("answers a cached summary on the fast path exactly as the Express route does", async () => {
    // A fresh key and region cache: the first request goes through Express and fills both.
    const api = await startApi(config, { host: '127.0.0.1', port: 0, ensureSchema: false, log: () => undefined });
    try {
      const path = `/v1/regions/${REGION_15Y}/summary`;
      const viaExpress = await call(api.url, path, { key: keyA });
      const viaFastPath = await call(api.url, path, { key: keyA });
      assert.equal(viaFastPath.status, viaExpress.status);
      assert.deepEqual(viaFastPath.body, viaExpress.body);
      // Same headers by name and value, but the clock's and the rate-limit counter's.
      const comparable = (h: http.IncomingHttpHeaders) =>
        Object.fromEntries(Object.entries(h).filter(([k]) => !['date', 'ratelimit', 'keep-alive', 'connection'].includes(k)));
      assert.deepEqual(comparable(viaFastPath.headers), comparable(viaExpress.headers));
      // One rate-limit budget across both paths: the counter went down by one per request.
      const remaining = (r: Res) => Number(/r=(\d+)/.exec(String(r.headers['ratelimit']))?.[1]);
      assert.equal(remaining(viaFastPath), remaining(viaExpress) - 1);
      // What the fast path cannot answer exactly goes to Express: a query string is a 400 there.
      assertProblem(await call(api.url, `${path}?x=1`, { key: keyA }), 400, ['x']);
      assertProblem(await call(api.url, path, { key: `${keyA}x` }), 401);
    } finally {
      await api.close();
    }
  });

  it('sends an ETag and Cache-Control, and 304 for If-None-Match', async () => {
    for (const path of ['/v1/regions', `/v1/regions/${REGION_15Y}/summary`]) {
      const first = await get(path, { key: keyA });
      const etag = String(first.headers.etag);
      assert.match(etag, /^"[\w-]+"$/);
      assert.match(String(first.headers['cache-control']), /^private, max-age=\d+, must-revalidate$/);
      const again = await get(path, { key: keyA });
      assert.equal(again.headers.etag, etag, 'same content, same ETag');
      const notModified = await get(path, { key: keyA, headers: { 'if-none-match': etag } });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.body.length, 0);
      assert.equal(notModified.headers.etag, etag);
      assert.equal((await get(path, { key: keyA, headers: { 'if-none-match': `"other", ${etag}` } })).status, 304);
      assert.equal((await get(path, { key: keyA, headers: { 'if-none-match': '"stale"' } })).status, 200);
    }
  });

  const summaryTemp = async (): Promise<number> => (await get(`/v1/regions/${REGION_15Y}/summary`, { key: keyA })).json.weather.temperature_avg as number;
  const setTemp = (v: number): Promise<unknown> => admin.query('UPDATE serving.region_summary SET temperature_avg = $2 WHERE region_id = $1', [REGION_15Y, v]);
  const notifyLoad = (table: string): Promise<unknown> => admin.query('SELECT pg_notify($1, $2)', [LOADS_CHANNEL, JSON.stringify({ table, loadId: `test-${run}` })]);

  it('serves from its cache until a load notifies, then reads the new row', async () => {
    const before = await get(`/v1/regions/${REGION_15Y}/summary`, { key: keyA });
    assert.equal(before.json.weather.temperature_avg, 4.5);
    await setTemp(11.5);
    assert.equal(await summaryTemp(), 4.5, 'cached: no query per request');
    await notifyLoad('weather_daily');
    await sleep(200);
    assert.equal(await summaryTemp(), 4.5, "a load of another table leaves the summaries' cache alone");
    await notifyLoad('region_summary');
    await until('the notification to drop the cached summary', async () => (await summaryTemp()) === 11.5);
    const after = await get(`/v1/regions/${REGION_15Y}/summary`, { key: keyA });
    assert.notEqual(after.headers.etag, before.headers.etag);
    assert.equal((await get(`/v1/regions/${REGION_15Y}/summary`, { key: keyA, headers: { 'if-none-match': String(before.headers.etag) } })).status, 200);
    // The regions list follows its own table's notifications.
    await admin.query('UPDATE serving.regions SET name = $2 WHERE region_id = $1', [REGION_EMPTY, 'Renamed']);
    await notifyLoad('regions');
    await until('the regions list to change', async () => (await get('/v1/regions', { key: keyA })).json.regions.some((r: { name: string }) => r.name === 'Renamed'));
    await setTemp(4.5);
    await notifyLoad('region_summary');
    await until('the summary to return to its value', async () => (await summaryTemp()) === 4.5);
  });

  it('re-LISTENs after losing its connection and drops the cache, as notifications may have been missed', async () => {
    assert.equal(await summaryTemp(), 4.5); // cached
    const pid = server.loads.backendPid;
    assert.ok(pid);
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await until('a new LISTEN connection', async () => server.loads.backendPid !== undefined && server.loads.backendPid !== pid);
    await setTemp(7.25); // no notification: only the drop on reconnect makes this visible
    assert.equal(await summaryTemp(), 7.25);
    await setTemp(4.5);
    await notifyLoad('region_summary');
    await until('notifications on the new connection', async () => (await summaryTemp()) === 4.5);
    assert.ok(logged.some((l) => /connection lost/.test(l)), 'the drop was logged');
  });

  it('falls back to a TTL when no notification comes', async () => {
    const cache = new RegionCache(admin, { ttlMs: 150, maxSummaries: 10 });
    const temp = async (): Promise<number> => JSON.parse((await cache.summary(REGION_15Y))?.json ?? 'null').weather.temperature_avg as number;
    assert.equal(await temp(), 4.5);
    await setTemp(3.25);
    assert.equal(await temp(), 4.5);
    await sleep(200);
    assert.equal(await temp(), 3.25);
    await setTemp(4.5);
    await notifyLoad('region_summary');
  });
});

describe('case 2: daily history', () => {
  const weatherPath = `/v1/regions/${REGION_15Y}/weather/daily`;

  it('pages JSON by day with a next link, values as stored', async () => {
    const res = await get(weatherPath, { key: keyA });
    assert.equal(res.status, 200);
    assert.equal(res.json.region_id, REGION_15Y);
    assert.equal(res.json.rows.length, config.apiPageSize);
    assert.deepEqual(res.json.rows[0], {
      region_id: REGION_15Y,
      day: FIRST_DAY,
      temperature_avg: -9.5,
      temperature_min: -14.5,
      temperature_max: -4.5,
      precipitation_sum: null,
      wind_speed_avg: 0.5,
      wind_speed_max: 3,
      relative_humidity_avg: 50,
      hours: 24,
    });
    assert.match(res.json.next, new RegExp(`^${weatherPath}\\?limit=${config.apiPageSize}&cursor=[\\w-]+$`));
  });

  it('pages through 15 years (5,479 days) to exactly the rows streamed as CSV and NDJSON', async () => {
    const { rows, pages } = await allPages(`${weatherPath}?limit=1000`, keyA);
    assert.equal(pages, 6);
    assert.equal(rows.length, DAYS_15Y);
    assert.equal(rows[0]?.['day'], FIRST_DAY);
    assert.equal(rows.at(-1)?.['day'], LAST_DAY);
    assert.equal(new Set(rows.map((r) => r['day'])).size, DAYS_15Y, 'no day twice');
    const i = 1234;
    assert.deepEqual(rows[i], { region_id: REGION_15Y, day: addDays(FIRST_DAY, i), temperature_avg: (i % 40) - 10 + 0.5, temperature_min: (i % 40) - 15 + 0.5, temperature_max: (i % 40) - 5 + 0.5, precipitation_sum: (i % 7) * 0.25, wind_speed_avg: (i % 13) + 0.5, wind_speed_max: (i % 13) + 3, relative_humidity_avg: 50 + (i % 20), hours: 24 });

    const ndjson = await get(weatherPath, { key: keyA, headers: { accept: 'application/x-ndjson' } });
    assert.equal(ndjson.status, 200);
    assert.equal(ndjson.headers['content-length'], undefined, 'streamed (chunked), not buffered');
    assert.deepEqual(ndjsonRows(ndjson.text), rows);

    const csv = await get(weatherPath, { key: keyA, headers: { accept: 'text/csv' } });
    assert.equal(csv.status, 200);
    assert.match(String(csv.headers['content-disposition']), new RegExp(`attachment; filename="${REGION_15Y}-weather-daily.csv"`));
    assertCsvEqualsRows(csv.text, rows);
  });

  it('filters by from/to, and pages the filtered range the same way', async () => {
    const res = await get(`${weatherPath}?from=2016-02-27&to=2016-03-02&limit=2`, { key: keyA });
    assert.deepEqual(res.json.rows.map((r: { day: string }) => r.day), ['2016-02-27', '2016-02-28']);
    const { rows } = await allPages(`${weatherPath}?from=2016-02-27&to=2016-03-02&limit=2`, keyA);
    assert.deepEqual(rows.map((r) => r['day']), ['2016-02-27', '2016-02-28', '2016-02-29', '2016-03-01', '2016-03-02']);
    const streamed = await get(`${weatherPath}?from=2016-02-27&to=2016-03-02`, { key: keyA, headers: { accept: 'application/x-ndjson' } });
    assert.deepEqual(ndjsonRows(streamed.text), rows);
    const last = await get(`${weatherPath}?from=2024-12-31`, { key: keyA });
    assert.equal(last.json.rows.length, 1);
    assert.equal(last.json.next, null);
    const none = await get(`${weatherPath}?from=2030-01-01`, { key: keyA });
    assert.deepEqual([none.json.rows, none.json.next], [[], null]);
    const noneCsv = await get(`${weatherPath}?from=2030-01-01`, { key: keyA, headers: { accept: 'text/csv' } });
    assert.equal(noneCsv.text.split('\r\n').filter(Boolean).length, 1, 'just the header');
  });

  it('serves market history with bigint counts as numbers, paged equal to streamed', async () => {
    const path = `/v1/regions/${REGION_MARKET}/market/daily`;
    const first = await get(`${path}?limit=1`, { key: keyB });
    assert.deepEqual(first.json.rows, [{ region: REGION_MARKET, day: '2023-06-01', events: 5000000000, instruments: 10, volume: 1000.5, avg_price: 20.25, vwap: 20.5, market_interest: 0 }]);
    const { rows, pages } = await allPages(`${path}?limit=150`, keyB);
    assert.equal(pages, 3);
    assert.equal(rows.length, MARKET_DAYS);
    assert.deepEqual(ndjsonRows((await get(path, { key: keyB, headers: { accept: 'application/x-ndjson' } })).text), rows);
    assertCsvEqualsRows((await get(path, { key: keyB, headers: { accept: 'text/csv' } })).text, rows);
    // A region with no history is an empty list, not an error.
    const empty = await get(`/v1/regions/${REGION_EMPTY}/market/daily`, { key: keyB });
    assert.deepEqual([empty.json.rows, empty.json.next], [[], null]);
  });

  it('is 404 for an unknown region and 406 for a media type it does not offer', async () => {
    assertProblem(await get(`/v1/regions/t${run}-nowhere/weather/daily`, { key: keyA }), 404);
    assertProblem(await get(`/v1/regions/t${run}-nowhere/market/daily`, { key: keyA, headers: { accept: 'text/csv' } }), 404);
    assertProblem(await get(weatherPath, { key: keyA, headers: { accept: 'application/xml' } }), 406);
  });
});

describe('bad parameters', () => {
  const weather = `/v1/regions/${REGION_15Y}/weather/daily`;
  const market = `/v1/regions/${REGION_MARKET}/market/daily`;
  const forged = Buffer.from(JSON.stringify(['not a date'])).toString('base64url');
  const cases: [string, string[]][] = [
    [`${weather}?from=2024-13-01`, ['from']],
    [`${weather}?from=2023-02-29`, ['from']],
    [`${weather}?from=0000-01-01`, ['from']],
    [`${weather}?to=yesterday`, ['to']],
    [`${weather}?from=2024-02-01&to=2024-01-01`, ['from']],
    [`${weather}?from=2024-01-01&from=2024-01-02`, ['from']],
    [`${weather}?limit=0`, ['limit']],
    [`${weather}?limit=10001`, ['limit']],
    [`${weather}?limit=ten`, ['limit']],
    [`${weather}?limit=2.5`, ['limit']],
    [`${weather}?cursor=%21%21`, ['cursor']],
    [`${weather}?cursor=${Buffer.from('["2020-01-01","x"]').toString('base64url')}`, ['cursor']],
    [`${weather}?cursor=${forged}`, ['cursor']],
    [`${weather}?form=2024-01-01&limit=-1`, ['form', 'limit']],
    [`${market}?to=2024-1-1`, ['to']],
    [`/v1/regions/${'x'.repeat(65)}/weather/daily`, ['id']],
    [`/v1/regions/bad%20id/summary`, ['id']],
    [`/v1/regions/%2E%2E/market/daily`, ['id']],
    ['/v1/regions?limit=5', ['limit']],
    [`/v1/regions/${REGION_15Y}/summary?fields=all`, ['fields']],
    ['/v1/me?verbose=1', ['verbose']],
    ['/v1/tables?schema=customer_x', ['schema']],
    ['/v1/tables/results?limit=0', ['limit']],
    ['/v1/tables/results?cursor=%2A', ['cursor']],
    [`/v1/tables/results?cursor=${Buffer.from('["not a number"]').toString('base64url')}`, ['cursor']],
    ['/v1/tables/nokey?cursor=' + Buffer.from('["(x,y)"]').toString('base64url'), ['cursor']],
  ];
  for (const [path, names] of cases) {
    it(`${path} → 400 naming ${names.join(', ')}`, async () => {
      assertProblem(await get(path, { key: keyA }), 400, names);
    });
  }
  it('the public endpoints refuse unknown parameters too', async () => {
    for (const path of ['/health?x=1', '/ready?x=1', '/openapi.json?x=1']) assertProblem(await get(path), 400, ['x']);
  });
});

describe("customers' own tables and isolation", () => {
  it("lists only the caller's tables", async () => {
    const a = await get('/v1/tables', { key: keyA });
    assert.equal(a.json.schema, customerA.schema);
    assert.deepEqual(a.json.tables.map((t: { name: string }) => t.name), ['big', 'nokey', 'results', 'secret_of_a']);
    assert.deepEqual(a.json.tables[2].columns, [
      { name: 'id', type: 'integer' },
      { name: 'label', type: 'text' },
      { name: 'day', type: 'date' },
      { name: 'score', type: 'numeric' },
      { name: 'big', type: 'bigint' },
      { name: 'at', type: 'timestamp with time zone' },
    ]);
    const b = await get('/v1/tables', { key: keyB });
    assert.deepEqual(b.json, { schema: customerB.schema, tables: [{ name: 'b_table', columns: [{ name: 'v', type: 'integer' }] }] });
  });

  it('pages a table by its primary key, equal to the streamed CSV and NDJSON', async () => {
    const expected = [
      { id: 1, label: 'plain', day: '2024-01-01', score: 1.5, big: '9007199254740993', at: '2024-01-01T00:00:00.000Z' },
      { id: 2, label: 'comma, "quoted"', day: '2024-01-02', score: null, big: 7, at: null },
      { id: 3, label: 'two\nlines', day: '2024-01-03', score: 2.25, big: null, at: '2024-06-01T08:00:00.000Z' },
      { id: 4, label: '', day: null, score: 0, big: 0, at: null },
      { id: 5, label: null, day: '2024-01-05', score: -3, big: -8, at: null },
    ];
    const first = await get('/v1/tables/results?limit=2', { key: keyA });
    assert.equal(first.json.table, 'results');
    assert.equal(first.json.columns.length, 6);
    assert.match(first.json.next, /^\/v1\/tables\/results\?limit=2&cursor=/);
    const { rows, pages } = await allPages('/v1/tables/results?limit=2', keyA);
    assert.equal(pages, 3);
    assert.deepEqual(rows, expected);
    assert.deepEqual(ndjsonRows((await get('/v1/tables/results', { key: keyA, headers: { accept: 'application/x-ndjson' } })).text), expected);
    const csv = await get('/v1/tables/results', { key: keyA, headers: { accept: 'text/csv' } });
    assert.ok(csv.text.includes('2,"comma, ""quoted""",2024-01-02,,7,\r\n'), csv.text);
    assert.ok(csv.text.includes('4,"",,0,0,\r\n'), 'empty string quoted, NULL bare');
    assertCsvEqualsRows(csv.text, expected);
  });

  it('pages a table without a primary key (2,500 rows) to exactly what it streams', async () => {
    const { rows, pages } = await allPages('/v1/tables/nokey?limit=1000', keyA);
    assert.equal(pages, 3);
    assert.equal(rows.length, 2500);
    assert.deepEqual(rows.map((r) => r['n']).sort((x, y) => (x as number) - (y as number)), Array.from({ length: 2500 }, (_, i) => i + 1));
    assert.deepEqual(ndjsonRows((await get('/v1/tables/nokey', { key: keyA, headers: { accept: 'application/x-ndjson' } })).text), rows);
  });

  it("never serves another customer's table, whatever the name", async () => {
    const names = [
      'secret_of_a',
      `${customerA.schema}.secret_of_a`,
      encodeURIComponent(`"${customerA.schema}"."secret_of_a"`),
      encodeURIComponent(`${customerA.schema}"."secret_of_a`),
      encodeURIComponent(`../${customerA.schema}/secret_of_a`),
      '..%2Fsecret_of_a',
      'pg_catalog.pg_tables',
      'pg_tables',
      'pg_roles',
      encodeURIComponent('secret_of_a; SELECT 1'),
      'SECRET_OF_A',
      'x'.repeat(64),
    ];
    for (const name of names) {
      for (const accept of ['application/json', 'text/csv']) {
        const res = await get(`/v1/tables/${name}`, { key: keyB, headers: { accept } });
        assertProblem(res, 404);
        assert.doesNotMatch(res.text, /only A may read/);
      }
    }
    // Path tricks that leave the route altogether are unknown routes: 404 as well.
    assertProblem(await get(`/v1/tables/${customerA.schema}/secret_of_a`, { key: keyB }), 404);
    // A reads it, of course.
    assert.deepEqual((await get('/v1/tables/secret_of_a', { key: keyA })).json.rows, [{ v: 'only A may read this' }]);
  });

  it("is refused by the database too: B's role cannot read A's schema", async () => {
    await assert.rejects(
      asRole(customerB, (c) => c.query(`SELECT * FROM ${pg.escapeIdentifier(customerA.schema)}.secret_of_a`)),
      (err: { code?: string; message: string }) => err.code === '42501' && /permission denied/.test(err.message),
    );
    // …while the shared serving data is readable by both.
    const served = await asRole(customerB, (c) => c.query('SELECT count(*)::int AS n FROM serving.weather_daily WHERE region_id = $1', [REGION_15Y]));
    assert.equal(served.rows[0].n, DAYS_15Y);
    // And neither role can read the platform's bookkeeping.
    await assert.rejects(asRole(customerA, (c) => c.query('SELECT * FROM tempolake_meta.customers')), (err: { code?: string }) => err.code === '42501');
  });

  it('streams with backpressure, and stops the query when the client disconnects', async () => {
    const url = new URL(server.url);
    const streaming = async (): Promise<number> =>
      (await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle' AND query LIKE '%"big"%'`, [API_APPLICATION_NAME])).rows[0].n as number;
    let received = 0;
    const req = http.request({ host: url.hostname, port: url.port, path: '/v1/tables/big', headers: { authorization: `Bearer ${keyA}`, accept: 'text/csv' } });
    req.on('error', () => undefined); // destroyed on purpose below
    const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve).end());
    assert.equal(res.statusCode, 200);
    res.on('data', (chunk: Buffer) => {
      received += chunk.length;
      res.pause();
    });
    // The client reads nothing more: the server must stop fetching rows, not buffer the table.
    await sleep(500);
    const before = received;
    await sleep(300);
    assert.equal(received, before);
    assert.equal(await streaming(), 1, 'the query is still open, waiting for the client');
    req.destroy();
    assert.ok(received < BIG_ROWS * 20, `only the start of the table was sent (${received} bytes)`);
    const pool = server.deps.pool;
    await until('the streaming query to end and its connection to return to the pool', async () => (await streaming()) === 0 && pool.idleCount === pool.totalCount);
    // The connection is healthy afterwards.
    assert.equal((await get('/v1/tables/secret_of_a', { key: keyA })).status, 200);
  });
});

describe('limits, errors and headers', () => {
  it('answers 429 with Retry-After past the per-key limit, per key', async () => {
    const limited = await startApi(loadConfig({ ...process.env, API_RATE_LIMIT_PER_MINUTE: '5' }), { host: '127.0.0.1', port: 0, ensureSchema: false, log: () => undefined });
    try {
      for (let i = 0; i < 5; i++) assert.equal((await call(limited.url, '/v1/me', { key: keyA })).status, 200);
      const over = await call(limited.url, '/v1/me', { key: keyA });
      assertProblem(over, 429);
      assert.ok(Number(over.headers['retry-after']) > 0 && Number(over.headers['retry-after']) <= 60);
      assert.match(String(over.headers['ratelimit-policy']), /q=5; w=60/);
      assert.equal((await call(limited.url, '/v1/me', { key: keyB })).status, 200, "another key's budget is its own");
      assert.equal((await call(limited.url, '/health')).status, 200, 'public endpoints are not counted');
    } finally {
      await limited.close();
    }
  });

  it('answers 413 for a body over the limit', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(200 * 1024) });
    const res = await get('/v1/me', { method: 'POST', key: keyA, headers: { 'content-type': 'application/json' }, body: big });
    assertProblem(res, 413);
    const bad = await get('/v1/me', { method: 'POST', key: keyA, headers: { 'content-type': 'application/json' }, body: '{not json' });
    assertProblem(bad, 400);
  });

  it('is 404 for unknown routes and 405 for another method on a known one', async () => {
    for (const path of ['/', '/v1', '/v1/nope', '/v2/regions', '/V1/REGIONS', '/v1/regions/', `/v1/regions/${REGION_15Y}`, '/v1/tables/a/b']) {
      assertProblem(await get(path, { key: keyA }), 404);
    }
    assertProblem(await get('/nope'), 404);
    const res = await get('/v1/regions', { method: 'DELETE', key: keyA });
    assertProblem(res, 405);
    assert.equal(res.headers.allow, 'GET, HEAD');
  });

  it('sends security headers on every response', async () => {
    for (const res of [await get('/health'), await get('/v1/me', { key: keyA }), await get('/v1/me'), await get('/nope')]) {
      assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
      assert.match(String(res.headers['strict-transport-security']), /max-age=/);
      assert.equal(res.headers['x-powered-by'], undefined);
    }
    assert.equal((await get('/v1/me', { key: keyA })).headers['cache-control'], 'no-store');
  });

  it('logged no server error along the way', () => {
    assert.deepEqual(logged.filter((l) => /→ 5\d\d|failed mid-response/.test(l)), []);
  });
});
