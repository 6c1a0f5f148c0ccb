/**
 * The analyses endpoints (case 3) against a Temporal test server and a PostgreSQL database of
 * their own: the real API, the real `customerAnalysis` workflow bundled from workflows/index.ts,
 * and a worker on the analysis queue whose activities the test controls (gates, an
 * InvalidAnalysis failure, a recorded cleanup). This tests the API–workflow contract, not the
 * SQL. Every response is checked against the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import pg from 'pg';
import type { AnalysisActivities } from '../activities/analysis.ts';
import { createApp } from '../api/app.ts';
import { RegionCache } from '../api/region-cache.ts';
import { startApi, type ApiServer } from '../api/server.ts';
import { lazyTemporal } from '../api/temporal.ts';
import { createPostgresPool, postgresClientConfig } from '../lib/clients/postgres.ts';
import { loadConfig, type Config } from '../lib/config.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { createCustomer, type Customer } from '../lib/warehouse/customers.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';
import { bundleWorkflows } from '../workers/worker.ts';
import { analysisWorkflowId } from '../workflows/analysis.ts';
import { loadContract, type Contract } from './helpers/openapi-check.ts';
import { configForTestServer, startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';
import { createTestDatabase, type TestDatabase } from './helpers/warehouse-db.ts';

const base = loadConfig({ ...process.env, API_RATE_LIMIT_PER_MINUTE: '100000' });
const run = randomBytes(4).toString('hex');

// ---- activities the test controls, by the request's region_id ------------------------------
//   ok…    computes 3 rows at once;   gate…  waits for open(`<region>`), then for open(`<region>:load`);
//   hold…  runs until cancelled;       r99    fails as a bad parameter.

class Gates {
  private readonly gates = new Map<string, { promise: Promise<void>; open: () => void }>();
  private get(name: string): { promise: Promise<void>; open: () => void } {
    let g = this.gates.get(name);
    if (!g) {
      let open: () => void = () => undefined;
      const promise = new Promise<void>((resolve) => (open = resolve));
      this.gates.set(name, (g = { promise, open }));
    }
    return g;
  }
  wait(name: string): Promise<void> {
    return this.get(name).promise;
  }
  open(name: string): void {
    this.get(name).open();
  }
}

const gates = new Gates();
const dropped: { customerId: string; table: string }[] = [];
const computed: string[] = [];

/** Waits for `until` while heartbeating, so a cancellation reaches the activity. */
async function heartbeatUntil(until: Promise<void>): Promise<void> {
  const ctx = Context.current();
  ctx.heartbeat();
  const beat = setInterval(() => ctx.heartbeat(), 100);
  try {
    await Promise.race([until, ctx.cancelled]);
  } finally {
    clearInterval(beat);
  }
}

const regionOf = (table: string): string => regionByTable.get(table) ?? '';
const regionByTable = new Map<string, string>();

const fakeActivities: AnalysisActivities = {
  async computeAnalysis({ customerId, table, request }) {
    const region = ('region_id' in request ? request.region_id : undefined) ?? '';
    regionByTable.set(table, region);
    computed.push(table);
    if (region === 'r99') throw ApplicationFailure.nonRetryable('unknown region r99', 'InvalidAnalysis');
    if (region.startsWith('gate')) await heartbeatUntil(gates.wait(region));
    if (region.startsWith('hold')) await heartbeatUntil(new Promise<void>(() => undefined));
    return { lakeTable: `personal_${customerId}.${table}`, rows: 3, engine: 'duckdb' };
  },
  async loadAnalysisResult({ table }) {
    const region = regionOf(table);
    if (region.startsWith('gate')) await heartbeatUntil(gates.wait(`${region}:load`));
    return { table, rows: 3, replaced: 0, ms: 1 };
  },
  async dropAnalysisResult({ customerId, table }) {
    dropped.push({ customerId, table });
  },
};

// ---- servers --------------------------------------------------------------------------------

let db: TestDatabase;
let admin: pg.Pool;
let temporal: TemporalTestServer;
let apiConfig: Config;
let server: ApiServer;
let contract: Contract;
let worker: Worker;
let workerRunning: Promise<void> | undefined;
let customerA: Customer;
let customerB: Customer;
let keyA: string;
let keyB: string;
const logged: string[] = [];
/** Every analysis id customer A created, for the list test. */
const idsOfA = new Set<string>();

interface Res {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  readonly json: any;
}

interface CallOptions {
  readonly method?: string;
  readonly key?: string;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

/** One request with the raw path as given, checked against the contract. */
function call(baseUrl: string, path: string, options: CallOptions = {}): Promise<Res> {
  const url = new URL(baseUrl);
  const method = options.method ?? 'GET';
  const raw = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const headers: Record<string, string> = {
    ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
    ...(raw !== undefined && typeof options.body !== 'string' ? { 'content-type': 'application/json' } : {}),
    ...options.headers,
  };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        try {
          const parsed = contract.check({ method, path, status: res.statusCode ?? 0, headers: res.headers, body });
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: body.toString('utf8'), json: parsed });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.end(raw);
  });
}

const api = (path: string, options: CallOptions = {}): Promise<Res> => call(server.url, path, options);

function assertProblem(res: Res, status: number, invalid?: string[]): void {
  assert.equal(res.status, status, res.text);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  if (invalid) assert.deepEqual(res.json.invalid_params.map((p: { name: string }) => p.name).sort(), [...invalid].sort(), res.text);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** GET the analysis until `accept` holds for its body; returns that response. */
function statusUntil(id: string, key: string, what: string, accept: (body: any) => boolean): Promise<Res> {
  return until(what, async () => {
    const res = await api(`/v1/analyses/${id}`, { key });
    assert.equal(res.status, 200, res.text);
    return accept(res.json) ? res : undefined;
  });
}

const trend = (region: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'region_trend', region_id: region, from: '2024-01-01', to: '2024-03-31', ...over });

async function post(body: unknown, key = keyA, headers: Record<string, string> = {}): Promise<Res> {
  const res = await api('/v1/analyses', { method: 'POST', key, body, headers });
  if (res.status === 202 && key === keyA) idsOfA.add(res.json.id);
  return res;
}

async function runsOf(customer: Customer, id: string): Promise<number> {
  let n = 0;
  for await (const _ of temporal.client.workflow.list({ query: `WorkflowId = '${analysisWorkflowId(customer.id, id)}'` })) n++;
  return n;
}

function startWorker(): void {
  workerRunning ??= worker.run();
}

before(async () => {
  db = await createTestDatabase(base);
  admin = createPostgresPool(db.config);
  await ensurePostgresSchema(admin);
  ({ customer: customerA, apiKey: keyA } = await createCustomer(admin, `anapi ${run} a`));
  ({ customer: customerB, apiKey: keyB } = await createCustomer(admin, `anapi ${run} b`));
  temporal = await startTemporalTestServer(db.config);
  apiConfig = configForTestServer(db.config, temporal);
  server = await startApi(apiConfig, { host: '127.0.0.1', port: 0, log: (l) => logged.push(l) });
  contract = await loadContract(server.openapi);
  // Created now, run by the first test once it has seen an analysis queued with no worker.
  worker = await Worker.create({
    connection: temporal.env.nativeConnection,
    namespace: temporal.env.namespace ?? 'default',
    taskQueue: TASK_QUEUES.analysis,
    workflowBundle: await bundleWorkflows(),
    activities: fakeActivities,
    // Cancellation reaches an activity with a heartbeat's answer: do not hold heartbeats back for long.
    maxHeartbeatThrottleInterval: '100ms',
    defaultHeartbeatThrottleInterval: '100ms',
    shutdownGraceTime: '2s',
  });
});

after(async () => {
  if (workerRunning) {
    worker.shutdown();
    await workerRunning.catch(() => undefined);
  }
  await server?.close();
  await temporal?.teardown();
  await admin?.end();
  await db?.drop();
  // Roles are server-wide and outlive the database.
  const c = new pg.Client(postgresClientConfig(base, 'postgres'));
  await c.connect();
  try {
    for (const customer of [customerA, customerB]) if (customer) await c.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(customer.role)}`);
  } finally {
    await c.end();
  }
});

describe('analyses: starting and following one', () => {
  it('answers 202 with Location and the status, queued until a worker takes it, then running with progress, then succeeded', async () => {
    const res = await post(trend('gate1'));
    assert.equal(res.status, 202, res.text);
    const id: string = res.json.id;
    assert.match(id, /^[0-9a-f]{16}$/);
    assert.equal(res.headers.location, `/v1/analyses/${id}`);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.json.status, 'queued');
    assert.equal(res.headers['retry-after'], '2');
    assert.deepEqual(res.json.request, { type: 'region_trend', region_id: 'gate1', from: '2024-01-01', to: '2024-03-31', bucket: 'month' }, 'the request as accepted, defaults filled in');
    assert.equal(res.json.type, 'region_trend');
    assert.equal(res.json.href, `/v1/analyses/${id}`);
    assert.equal(res.json.finished_at, null);
    assert.ok(Math.abs(Date.parse(res.json.created_at) - Date.now()) < 60_000);

    // No worker polls the analysis queue yet: it stays queued.
    await sleep(300);
    const queued = await api(`/v1/analyses/${id}`, { key: keyA });
    assert.equal(queued.status, 200, queued.text);
    assert.equal(queued.json.status, 'queued');
    assert.equal(queued.json.progress, null);
    assert.equal(queued.headers['retry-after'], '2');

    startWorker();
    const computing = await statusUntil(id, keyA, 'running (computing)', (b) => b.status === 'running');
    assert.deepEqual(computing.json.progress, { phase: 'computing', rows: null });
    assert.equal(computing.headers['retry-after'], '5');
    assert.equal(computing.json.result, null);

    gates.open('gate1');
    const loading = await statusUntil(id, keyA, 'running (loading)', (b) => b.progress?.phase === 'loading');
    assert.equal(loading.json.status, 'running');
    assert.deepEqual(loading.json.progress, { phase: 'loading', rows: 3 });

    gates.open('gate1:load');
    const done = await statusUntil(id, keyA, 'succeeded', (b) => b.status === 'succeeded');
    assert.deepEqual(done.json.result, { table: `analysis_${id}`, lake_table: `personal_${customerA.id}.analysis_${id}`, rows: 3, href: `/v1/tables/analysis_${id}` });
    assert.equal(done.json.progress, null);
    assert.equal(done.json.error, null);
    assert.ok(done.json.finished_at);
    assert.equal(done.headers['retry-after'], undefined, 'a final status has no Retry-After');
  });

  it('reports a failed analysis with the reason of the bad parameter', async () => {
    startWorker();
    const res = await post(trend('r99'));
    assert.equal(res.status, 202, res.text);
    const failed = await statusUntil(res.json.id, keyA, 'failed', (b) => b.status === 'failed');
    assert.deepEqual(failed.json.error, { reason: 'unknown region r99' });
    assert.equal(failed.json.result, null);
    assert.ok(failed.json.finished_at);
    assert.equal(failed.headers['retry-after'], undefined);
  });

  it('cancels with DELETE: 202, then cancelled with its partial result dropped; again is 200, a finished one 409', async () => {
    startWorker();
    const res = await post(trend('hold1'));
    const id: string = res.json.id;
    await statusUntil(id, keyA, 'running', (b) => b.status === 'running');
    const del = await api(`/v1/analyses/${id}`, { method: 'DELETE', key: keyA });
    assert.equal(del.status, 202, del.text);
    assert.equal(del.json.id, id);
    assert.ok(['running', 'cancelled'].includes(del.json.status), del.text);
    const cancelled = await statusUntil(id, keyA, 'cancelled', (b) => b.status === 'cancelled');
    assert.ok(cancelled.json.finished_at);
    assert.deepEqual(dropped, [{ customerId: customerA.id, table: `analysis_${id}` }], 'the workflow removed what the run had written');

    const again = await api(`/v1/analyses/${id}`, { method: 'DELETE', key: keyA });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.status, 'cancelled');

    const ok = await post(trend('ok-del'));
    await statusUntil(ok.json.id, keyA, 'succeeded', (b) => b.status === 'succeeded');
    assertProblem(await api(`/v1/analyses/${ok.json.id}`, { method: 'DELETE', key: keyA }), 409);
    assert.equal(dropped.length, 1, 'a refused cancel drops nothing');
  });
});

describe('analyses: idempotency', () => {
  it('the same Idempotency-Key and body is the same analysis, run once, even after it finished', async () => {
    startWorker();
    const key = `trend-${run}`;
    const first = await post(trend('ok-idem'), keyA, { 'Idempotency-Key': key });
    assert.equal(first.status, 202, first.text);
    // Same request, fields in another order and the default spelled out.
    const same = { bucket: 'month', to: '2024-03-31', from: '2024-01-01', region_id: 'ok-idem', type: 'region_trend' };
    const second = await post(same, keyA, { 'Idempotency-Key': key });
    assert.equal(second.status, 202, second.text);
    assert.equal(second.json.id, first.json.id);
    assert.equal(second.headers.location, first.headers.location);
    await statusUntil(first.json.id, keyA, 'succeeded', (b) => b.status === 'succeeded');
    const afterClose = await post(trend('ok-idem'), keyA, { 'Idempotency-Key': key });
    assert.equal(afterClose.status, 202, afterClose.text);
    assert.equal(afterClose.json.id, first.json.id);
    assert.equal(afterClose.json.status, 'succeeded', 'the finished analysis, not a new run');
    assert.equal(await runsOf(customerA, first.json.id), 1, 'one workflow run');
    assert.equal(computed.filter((t) => t === `analysis_${first.json.id}`).length, 1, 'computed once');

    const other = await post(trend('ok-idem', { bucket: 'week' }), keyA, { 'Idempotency-Key': key });
    assertProblem(other, 409);
    assert.match(other.json.detail, /Idempotency-Key/);

    // Keys are per customer: B's same key is B's own analysis.
    const b = await post(trend('ok-idem'), keyB, { 'Idempotency-Key': key });
    assert.equal(b.status, 202, b.text);
    assert.notEqual(b.json.id, first.json.id);
  });

  it('without a key every POST is a new analysis', async () => {
    const a = await post(trend('ok-nokey'));
    const b = await post(trend('ok-nokey'));
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.notEqual(a.json.id, b.json.id);
  });
});

describe('analyses: bad requests', () => {
  it('answers 400 naming each bad body field or header, as problem+json', async () => {
    const { from: _omit, ...noFrom } = trend('r01');
    assertProblem(await post(noFrom), 400, ['from']);
    const badType = await post({ ...trend('r01'), type: 'crystal_ball' });
    assertProblem(badType, 400, ['type']);
    assert.equal(badType.json.invalid_params[0].in, 'body');
    assertProblem(await post({ region_id: 'r01' }), 400, ['type']);
    assertProblem(await post(trend('r01', { from: '2024-05-01', to: '2024-04-01' })), 400, ['from']);
    assertProblem(await post(trend('r01', { from: '2024-02-30' })), 400, ['from']);
    assertProblem(await post(trend('r01', { bucket: 'hour' })), 400, ['bucket']);
    assertProblem(await post(trend("r01'; DROP TABLE x")), 400, ['region_id']);
    assertProblem(await post(trend('r01', { sql: 'SELECT 1' })), 400, ['sql']);
    assertProblem(await post([trend('r01')]), 400, ['(body)']);
    // Nested fields are named by their path.
    const nested = await post({ type: 'weather_impact', region_id: 'r01', from: '2024-05-01', to: '2024-05-04', condition: { metric: 'precipitation_sum', operator: 'between', threshold: 1 } });
    assertProblem(nested, 400, ['condition.operator']);
    const extra = await post({ type: 'weather_impact', region_id: 'r01', from: '2024-05-01', to: '2024-05-04', condition: { metric: 'precipitation_sum', operator: 'gt', threshold: 1, sql: '1=1' } });
    assertProblem(extra, 400, ['condition.sql']);
    assertProblem(await api('/v1/analyses', { method: 'POST', key: keyA }), 400, ['(body)']);
    const badKey = await post(trend('r01'), keyA, { 'Idempotency-Key': 'has spaces in it' });
    assertProblem(badKey, 400, ['Idempotency-Key']);
    assert.equal(badKey.json.invalid_params[0].in, 'header');
    assertProblem(await api('/v1/analyses', { method: 'POST', key: keyA, body: '{not json', headers: { 'content-type': 'application/json' } }), 400);
    assertProblem(await api('/v1/analyses', { method: 'POST', key: keyA, body: 'type=region_trend', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415);
    assertProblem(await api('/v1/analyses', { method: 'POST', body: trend('r01') }), 401);
    assert.equal(computed.filter((t) => regionOf(t) === 'r01').length, 0, 'no bad request started anything');
  });

  it('answers 405 with the methods a path has', async () => {
    const list = await api('/v1/analyses', { method: 'PUT', key: keyA });
    assertProblem(list, 405);
    assert.equal(list.headers.allow, 'GET, HEAD, POST');
    const one = await api('/v1/analyses/abc', { method: 'POST', key: keyA });
    assertProblem(one, 405);
    assert.equal(one.headers.allow, 'GET, HEAD, DELETE');
  });
});

describe('analyses: listing and isolation', () => {
  it("lists only the caller's analyses, in pages", async () => {
    startWorker();
    for (let i = 0; i < 3; i++) await post(trend(`ok-list-${i}`));
    const bOnly = await post(trend('ok-of-b'), keyB);
    assert.equal(bOnly.status, 202);
    // Visibility is eventually consistent: wait until it has every run of A, each finished (an
    // analysis that finishes while one pages moves from the unfinished to the finished part).
    const all = await until('visibility to list all of A, finished', async () => {
      const res = await api('/v1/analyses?limit=100', { key: keyA });
      assert.equal(res.status, 200, res.text);
      const list = res.json.analyses as { status: string; finished_at: string | null }[];
      return list.length === idsOfA.size && list.every((a) => a.status !== 'running') ? list : undefined;
    });
    const finishedAt = all.map((a) => a.finished_at as string);
    assert.deepEqual(finishedAt, [...finishedAt].sort().reverse(), 'finished ones: the latest to finish first');
    const seen: string[] = [];
    let next: string | null = '/v1/analyses?limit=2';
    let pages = 0;
    while (next) {
      // A cursor is bound to its customer: B cannot page on with A's.
      if (pages === 1) assertProblem(await api(next, { key: keyB }), 400, ['cursor']);
      const res = await api(next, { key: keyA });
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.analyses.length <= 2);
      for (const a of res.json.analyses) {
        seen.push(a.id);
        assert.equal(a.href, `/v1/analyses/${a.id}`);
        assert.equal(a.type, 'region_trend');
        assert.equal(a.request.type, 'region_trend');
      }
      next = res.json.next;
      pages++;
    }
    assert.deepEqual([...seen].sort(), [...idsOfA].sort(), "every one of A's analyses, once, and nothing else");
    assert.ok(pages >= Math.ceil(idsOfA.size / 2));
    assert.ok(!seen.includes(bOnly.json.id));

    const listB = await until('visibility to list B', async () => {
      const res = await api('/v1/analyses', { key: keyB });
      return res.json.analyses.some((a: { id: string }) => a.id === bOnly.json.id) ? res : undefined;
    });
    for (const a of listB.json.analyses) assert.ok(!idsOfA.has(a.id), "B's list has none of A's");

    // Final states read the same in the list as one by one.
    const one = (await api('/v1/analyses?limit=100', { key: keyA })).json.analyses as { id: string; status: string }[];
    for (const a of one.filter((x) => x.status !== 'running')) {
      assert.equal((await api(`/v1/analyses/${a.id}`, { key: keyA })).json.status, a.status, a.id);
    }

    assertProblem(await api('/v1/analyses?cursor=bm90LWEtdG9rZW4', { key: keyA }), 400, ['cursor']);
    assertProblem(await api('/v1/analyses?limit=0', { key: keyA }), 400, ['limit']);
    assertProblem(await api('/v1/analyses?limit=101', { key: keyA }), 400, ['limit']);
    assertProblem(await api('/v1/analyses?status=running', { key: keyA }), 400, ['status']);
  });

  it("is 404 for another customer's analysis, and for ids that are not ids", async () => {
    const [idOfA] = [...idsOfA];
    assert.ok(idOfA);
    assert.equal((await api(`/v1/analyses/${idOfA}`, { key: keyA })).status, 200);
    assertProblem(await api(`/v1/analyses/${idOfA}`, { key: keyB }), 404);
    assertProblem(await api(`/v1/analyses/${idOfA}`, { method: 'DELETE', key: keyB }), 404);
    const stillThere = await api(`/v1/analyses/${idOfA}`, { key: keyA });
    assert.notEqual(stillThere.json.status, 'cancelled', "B's DELETE did nothing");
    const crafted = [
      'ffffffffffffffff', // well-formed, nobody's
      'ABCDEF0123456789',
      'a'.repeat(33),
      `${customerA.id}%3A${idOfA}`,
      `%2E%2E%2F${idOfA}`,
      `${idOfA}%00`,
      `analysis%3A${customerA.id}%3A${idOfA}`,
      `${idOfA}%20`,
    ];
    for (const id of crafted) {
      for (const key of [keyA, keyB]) {
        assertProblem(await api(`/v1/analyses/${id}`, { key }), 404);
        assertProblem(await api(`/v1/analyses/${id}`, { method: 'DELETE', key }), 404);
      }
    }
    assertProblem(await api(`/v1/analyses/${idOfA}/`, { key: keyA }), 404);
    assertProblem(await api(`/v1/analyses/${idOfA}`), 401);
  });
});

describe('analyses: Temporal down', () => {
  it('answers 503 with Retry-After when Temporal cannot be reached', async () => {
    const pool = createPostgresPool(db.config);
    const down = lazyTemporal({ ...apiConfig, temporalAddress: { host: '127.0.0.1', port: 1 } }, { connectTimeoutMs: 1_000 });
    const { app, close } = createApp({ config: apiConfig, pool, temporal: down, regions: new RegionCache(pool), log: () => undefined });
    const s = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((r) => s.once('listening', r));
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    try {
      for (const [method, path, body] of [
        ['POST', '/v1/analyses', trend('ok-down')],
        ['GET', '/v1/analyses', undefined],
        ['GET', '/v1/analyses/0123456789abcdef', undefined],
        ['DELETE', '/v1/analyses/0123456789abcdef', undefined],
      ] as const) {
        const res = await call(url, path, { method, key: keyA, body });
        assertProblem(res, 503);
        assert.equal(res.headers['retry-after'], '5');
        assert.match(res.json.detail, /Temporal/);
      }
    } finally {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
      close();
      await down.close();
      await pool.end();
    }
  });

  it('logged no server error along the way', () => {
    assert.deepEqual(logged.filter((l) => /→ 5\d\d|failed mid-response/.test(l)), []);
  });
});
