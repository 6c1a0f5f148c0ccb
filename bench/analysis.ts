/**
 * Case 3 end to end: the time from `POST /v1/analyses` to the result readable over
 * `GET /v1/tables/{name}`, for `region_trend` over 15 years of daily series — one region,
 * then every region — split into workflow overhead, compute (the lake → Iceberg result
 * activity) and the warehouse load, beside a baseline in the same process: the same SQL
 * run straight in a DuckDB session over the same Iceberg tables (no Temporal, no commit,
 * no warehouse).
 *
 *   npx tsx bench/analysis.ts [--years 15] [--regions 20] [--repeat 3] [--bucket day]
 *   npm run bench:analysis
 *
 * Temporal: a dev server of its own (as the tests use); the lake: a test lake (own REST
 * catalog, warehouse in a temp folder); PostgreSQL: a database of its own, dropped at the end.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { temporal as proto } from '@temporalio/proto';
import { startApi } from '../api/server.ts';
import { regionTrendSql } from '../lib/analysis/region-trend.ts';
import { RegionTrendRequest } from '../lib/analysis/requests.ts';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { ensureTables } from '../lib/lake/tables.ts';
import { MARKET_TABLES } from '../lib/market/tables.ts';
import { createCustomer } from '../lib/warehouse/customers.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';
import { WEATHER_TABLES } from '../lib/weather/tables.ts';
import { startTestLake } from '../test/helpers/lake.ts';
import { configForTestServer, startTemporalTestServer } from '../test/helpers/temporal.ts';
import { createTestDatabase, dropTestCustomer } from '../test/helpers/warehouse-db.ts';
import { analysisWorkflowId } from '../workflows/analysis.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    years: { type: 'string', default: '15' },
    regions: { type: 'string', default: '20' },
    repeat: { type: 'string', default: '3' },
    bucket: { type: 'string', default: 'day' },
  },
});
const years = Number(values.years);
const regionCount = Number(values.regions);
const repeat = Number(values.repeat);
const bucket = values.bucket as 'day' | 'week' | 'month';
const to = '2025-12-31';
const from = `${2025 - years + 1}-01-01`;
const ms = (n: number): string => `${Math.round(n).toLocaleString('en-US')} ms`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const loadAtStart = loadavg()[0] ?? 0;

const lake = await startTestLake();
const db = await createTestDatabase(lake.config);
const pool = createPostgresPool(db.config);
const temporal = await startTemporalTestServer(db.config);
let customer: Awaited<ReturnType<typeof createCustomer>>['customer'] | undefined;
const figures: [string, string][] = [];

try {
  // The operational series the analysis reads: regions × days of daily weather and market rows.
  const regionIds = Array.from({ length: regionCount }, (_, i) => `r${String(i + 1).padStart(2, '0')}`);
  const s = await openLakeSession(lake.config);
  try {
    await ensureTables(s, [...WEATHER_TABLES, ...MARKET_TABLES]);
    const regions = regionIds.map((r, i) => `('${r}', 'Region ${i + 1}', ${40 + i}, ${i}, 'XX', 'UTC', '{}', 'config', now())`);
    await s.run(`INSERT INTO lake.operational.regions VALUES ${regions.join(', ')}`);
    const days = `SELECT r.region_id, CAST(d AS DATE) AS day, hash(r.region_id, d) AS h
      FROM (SELECT unnest([${regionIds.map((r) => `'${r}'`).join(', ')}]) AS region_id) r, generate_series(DATE '${from}', DATE '${to}', INTERVAL 1 DAY) g(d)`;
    await s.run(`INSERT INTO lake.operational.weather_daily
      SELECT region_id, day, 10 + (h % 200) / 10.0, 5 + (h % 100) / 10.0, 15 + (h % 150) / 10.0, (h % 30) / 10.0, (h % 80) / 10.0, (h % 120) / 10.0, 40 + h % 50, 24 FROM (${days})`);
    await s.run(`INSERT INTO lake.operational.market_daily
      SELECT region_id, day, 100 + h % 900, 10, 1000 + h % 9000, 100.0, 101.0, (h % 100) / 100.0 FROM (${days})`);
  } finally {
    s.close();
  }
  await ensurePostgresSchema(pool);
  const created = await createCustomer(pool, `bench ${db.name.slice(-8)}`);
  customer = created.customer;
  const apiKey = created.apiKey;
  const rowsPerRegion = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;
  console.log(`${regionCount} regions × ${years} years (${from}..${to}, ${rowsPerRegion} days each) of daily weather and market; ${cpus().length} cores`);

  const api = await startApi(configForTestServer(db.config, temporal), { host: '127.0.0.1', port: 0, ensureSchema: false, log: () => undefined });
  try {
    const call = async (method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await fetch(`${api.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
          ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };

    // Activity times from the workflow's own history: scheduled → completed, per activity type.
    const activityMs = async (workflowId: string): Promise<Record<string, number>> => {
      const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
      const events = history.events ?? [];
      const at = (e: proto.api.history.v1.IHistoryEvent): number => Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
      const scheduled = new Map<number, { type: string; t: number }>();
      const out: Record<string, number> = {};
      for (const e of events) {
        const sch = e.activityTaskScheduledEventAttributes;
        if (sch) scheduled.set(Number(e.eventId), { type: sch.activityType?.name ?? '?', t: at(e) });
        const done = e.activityTaskCompletedEventAttributes;
        if (done) {
          const s0 = scheduled.get(Number(done.scheduledEventId));
          if (s0) out[s0.type] = (out[s0.type] ?? 0) + (at(e) - s0.t);
        }
      }
      return out;
    };

    interface RunFigures {
      totalMs: number;
      computeMs: number;
      loadMs: number;
      overheadMs: number;
      rows: number;
    }
    const runOnce = async (label: string, request: Record<string, unknown>, n: number): Promise<RunFigures> => {
      const t0 = performance.now();
      const started = await call('POST', '/v1/analyses', request, `bench-${label}-${n}`);
      if (started.status !== 202) throw new Error(`POST answered ${started.status}: ${JSON.stringify(started.json)}`);
      const id = String(started.json['id']);
      let done: Record<string, unknown>;
      for (;;) {
        done = (await call('GET', `/v1/analyses/${id}`)).json;
        if (done['status'] === 'succeeded' || done['status'] === 'failed' || done['status'] === 'cancelled') break;
        await sleep(10);
      }
      if (done['status'] !== 'succeeded') throw new Error(`analysis ${id} ${String(done['status'])}: ${JSON.stringify(done)}`);
      const table = (done['result'] as { table: string; rows: number }).table;
      const page = await call('GET', `/v1/tables/${table}?limit=100`);
      if (page.status !== 200 || !Array.isArray(page.json['rows']) || page.json['rows'].length === 0) throw new Error(`GET /v1/tables/${table} answered ${page.status}`);
      const totalMs = performance.now() - t0;
      const acts = await activityMs(analysisWorkflowId(customer!.id, id));
      const computeMs = acts['computeAnalysis'] ?? NaN;
      const loadMs = acts['loadAnalysisResult'] ?? NaN;
      return { totalMs, computeMs, loadMs, overheadMs: totalMs - computeMs - loadMs, rows: (done['result'] as { rows: number }).rows };
    };

    const baseline = async (request: Record<string, unknown>): Promise<number> => {
      const session = await openLakeSession(lake.config);
      try {
        const sql = regionTrendSql(RegionTrendRequest.parse(request));
        const t0 = performance.now();
        await session.run(`CREATE OR REPLACE TEMP TABLE baseline AS ${sql}`);
        return performance.now() - t0;
      } finally {
        session.close();
      }
    };

    await temporal.withWorker(async () => {
      const cases: [string, Record<string, unknown>][] = [
        ['1 region', { type: 'region_trend', region_id: 'r01', from, to, bucket }],
        [`all ${regionCount} regions`, { type: 'region_trend', from, to, bucket }],
      ];
      // One warm-up run: the worker's first activity bundles nothing, but DuckDB loads its extensions once per process.
      await runOnce('warmup', cases[0]![1], 0);
      for (const [label, request] of cases) {
        const runs: RunFigures[] = [];
        const bases: number[] = [];
        for (let i = 1; i <= repeat; i++) {
          bases.push(await baseline(request));
          const r = await runOnce(label.replace(/\s+/g, '-'), request, i);
          runs.push(r);
          process.stderr.write(`  ${label} #${i}: ${ms(r.totalMs)} (compute ${ms(r.computeMs)}, load ${ms(r.loadMs)}), baseline ${ms(bases.at(-1)!)}\n`);
        }
        const m = (k: keyof RunFigures): number => median(runs.map((r) => r[k]));
        const base = median(bases);
        figures.push(
          [`${label}: result rows`, `${runs[0]!.rows.toLocaleString('en-US')}`],
          [`${label}: baseline, the SQL straight in DuckDB`, ms(base)],
          [`${label}: POST → result readable`, `${ms(m('totalMs'))} (${(m('totalMs') / base).toFixed(1)}× the baseline)`],
          [`${label}:   compute (lake → Iceberg result, one commit)`, ms(m('computeMs'))],
          [`${label}:   warehouse load (→ customer schema)`, ms(m('loadMs'))],
          [`${label}:   workflow + API overhead`, ms(m('overheadMs'))],
        );
      }
    });
  } finally {
    await api.close();
  }
} finally {
  await dropTestCustomer(pool, customer).catch(() => undefined);
  await pool.end();
  await temporal.teardown();
  await db.drop();
  await lake.stop();
}

figures.push(['machine', `1-min load average ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end`]);
const width = Math.max(...figures.map(([k]) => k.length));
console.log(`\nregion_trend analysis, medians of ${repeat} (npx tsx bench/analysis.ts ${process.argv.slice(2).join(' ')})`.trimEnd());
for (const [k, v] of figures) console.log(`  ${k.padEnd(width)}  ${v}`);
