/**
 * `lake demo`: the README's first command. Starts the local servers, checks each with
 * the smoke workflow, then runs the main job on the embedded default: sources A (FTP)
 * and B (HTTP) and weather C (an Open-Meteo-shaped API) from the simulators into the local
 * lake's raw zone, curated and operational Iceberg tables, through the same workflows the
 * schedules run.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { infraUp } from '../lib/infra/index.ts';
import { temporalUiUrl } from '../lib/infra/services/temporal.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { connectClient } from '../lib/temporal/client.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { addDays, daysBetween } from '../lib/time/days.ts';
import { backfillFileSource, backfillWorkflowId } from '../workflows/backfill.ts';
import { ingestFileSource, ingestWorkflowId } from '../workflows/file-ingest.ts';
import { smokeWorkflow } from '../workflows/smoke.ts';
import { backfillWeather, ingestWeatherHour, weatherBackfillWorkflowId, weatherHourWorkflowId } from '../workflows/weather.ts';
import { hourOf } from '../lib/time/hours.ts';
import { createWorkerDeps, type WorkerDeps } from '../workers/deps.ts';
import type { Client } from '@temporalio/client';
import { createMarketRawWriter } from '../lib/market/raw-writer.ts';
import { ensureMarketTopic } from '../lib/market/topic.ts';
import { compactMarket, compactMarketWorkflowId, marketStream } from '../workflows/market.ts';
import { createWorkers, runWorkersUntil } from '../workers/worker.ts';
import { simulateFiles } from './simulate.ts';
import { startApi } from '../api/server.ts';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { createCustomer, listCustomers, rotateCustomerKey } from '../lib/warehouse/customers.ts';
import { ensurePostgresSchema } from '../lib/warehouse/postgres-schema.ts';
import type { loadWarehouse } from '../workflows/warehouse.ts';

const FROM = '2021-10-04';
const WEATHER_FROM = '2025-01-01';
const WEATHER_TO = '2025-12-31';
const TO = '2021-10-06';

export async function demoCommand(config: Config, argv: readonly string[] = []): Promise<number> {
  const serve = !argv.includes('--no-serve');
  console.log('Starting local servers (the first run builds them into the cache folder)…');
  await infraUp(config, (line) => console.log(line));

  console.log(`\nGenerating simulator files: source A ${FROM}..${TO} (JSON lines), source B ${TO} (CSV)…`);
  await simulateFiles(config, { source: 'a', days: daysBetween(FROM, TO), records: 20_000, malformedRate: 0.002 });
  await simulateFiles(config, { source: 'b', days: [TO], records: 5_000, malformedRate: 0.002 });

  const deps = createWorkerDeps(config);
  const { workers, connection: workerConnection } = await createWorkers(config, deps, ['ingest', 'process', 'analysis']);
  const { client, close } = await connectClient(config);
  const ui = (id: string): string => `${temporalUiUrl(config)}/${encodeURIComponent(id)}`;
  try {
    const job = async (): Promise<void> => {
      const checkId = `${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}-${randomUUID().slice(0, 8)}`;
      const smoke = await client.workflow.execute(smokeWorkflow, { taskQueue: TASK_QUEUES.ingest, workflowId: `smoke:${checkId}`, args: [{ checkId }] });
      console.log(`\n✓ servers checked by ${smoke.workflowId}: S3 object, Kafka message, PostgreSQL row round-tripped`);

      const backfillId = backfillWorkflowId('source_a', FROM, TO);
      console.log(`\nSource A over FTP, ${FROM}..${TO}: ${backfillId}`);
      const state = await client.workflow.execute(backfillFileSource, {
        taskQueue: TASK_QUEUES.ingest,
        workflowId: backfillId,
        args: [{ source: 'source_a', from: FROM, to: TO, concurrency: 2 }],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
      console.log(`✓ ${state.succeeded} days ingested and curated${state.failed.length ? `, ${state.failed.length} failed` : ''}`);

      console.log(`\nSource B over HTTP, ${TO}: ${ingestWorkflowId('source_b', TO)}`);
      const b = await client.workflow.execute(ingestFileSource, {
        taskQueue: TASK_QUEUES.ingest,
        workflowId: ingestWorkflowId('source_b', TO),
        args: [{ source: 'source_b', day: TO }],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
      console.log(`✓ ${b.curated.rows} rows into curated.source_b, ${b.curated.rejected} rejected`);

      const hour = hourOf(new Date());
      console.log(`\nWeather (source C) from the simulator, this hour: ${weatherHourWorkflowId(hour)}`);
      const w = await client.workflow.execute(ingestWeatherHour, {
        taskQueue: TASK_QUEUES.ingest,
        workflowId: weatherHourWorkflowId(hour),
        args: [{ hour }],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
      console.log(`✓ ${w.regions} regions: ${w.observedRows} current readings, ${w.forecastRows} forecast hours`);
      const history = { from: WEATHER_FROM, to: WEATHER_TO };
      console.log(`\nWeather history ${WEATHER_FROM}..${WEATHER_TO} from the archive endpoint: ${weatherBackfillWorkflowId(history)}`);
      const hist = await client.workflow.execute(backfillWeather, {
        taskQueue: TASK_QUEUES.ingest,
        workflowId: weatherBackfillWorkflowId(history),
        args: [{ ...history, concurrency: 2 }],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
      console.log(`✓ ${hist.hours} region-hours in ${hist.succeeded} yearly commits; ${hist.rollingRows ?? 0} rolling-average rows`);

      const compactionId = await marketDemo(config, deps, client);

      // Each of those runs started a warehouse load of what it refreshed when it finished.
      console.log(`\nWarehouse (${config.warehouse}): the loads the runs started, lake → staging → swap`);
      for (const parent of [weatherHourWorkflowId(hour), weatherBackfillWorkflowId(history), compactionId]) {
        const load = await client.workflow.getHandle<typeof loadWarehouse>(`${parent}:warehouse`).result();
        const tables = load.loads.map((l) => `${l.table} ${l.rows}${l.unchanged ? ' (unchanged)' : ''}`).join(', ');
        console.log(`✓ ${parent}:warehouse  ${tables}`);
      }
    };
    await runWorkersUntil(workers, job());
  } finally {
    await close();
    await workerConnection.close();
    await deps.close();
  }

  const session = await openLakeSession(config);
  try {
    console.log('\nCurated tables (Iceberg, read back with DuckDB):');
    for (const r of await session.rows<{ day: string; n: string; rejected: string }>(`
      SELECT "day", count(*) AS n FROM lake.curated.source_a WHERE "day" BETWEEN DATE '${addDays(FROM, -3)}' AND DATE '${addDays(TO, -3)}' GROUP BY 1 ORDER BY 1`)) {
      console.log(`  curated.source_a  day=${r.day}  ${r.n} rows`);
    }
    const [bRows] = await session.rows<{ n: string; days: string }>(`SELECT count(*) AS n, count(DISTINCT "day") AS days FROM lake.curated.source_b WHERE _ingest_day = DATE '${TO}'`);
    console.log(`  curated.source_b  ${bRows?.n} rows over ${bRows?.days} days (partitioned by updated_at)`);
    const [rej] = await session.rows<{ n: string }>('SELECT count(*) AS n FROM lake.rejected.records');
    console.log(`  rejected.records  ${rej?.n} malformed records with their reasons`);
    const [weather] = await session.rows<{ obs: string; fc: string; daily: string; rolling: string }>(`SELECT
      (SELECT count(*) FROM lake.curated.weather_observed) AS obs, (SELECT count(*) FROM lake.curated.weather_forecast) AS fc,
      (SELECT count(*) FROM lake.operational.weather_daily) AS daily, (SELECT count(*) FROM lake.operational.weather_rolling) AS rolling`);
    console.log(`  curated.weather_observed ${weather?.obs} region-hours, curated.weather_forecast ${weather?.fc} rows`);
    console.log(`  operational.weather_daily ${weather?.daily} rows, operational.weather_rolling ${weather?.rolling} rows (7/30-day averages)`);
    const [market] = await session.rows<{ events: string; daily: string; regions: string }>(`SELECT
      (SELECT count(*) FROM lake.curated.market_events) AS events, (SELECT count(*) FROM lake.operational.market_daily) AS daily,
      (SELECT count(*) FROM lake.operational.regions) AS regions`);
    console.log(`  curated.market_events ${market?.events} events, operational.market_daily ${market?.daily} rows, operational.regions ${market?.regions} regions`);
  } finally {
    session.close();
  }
  console.log(`\nLake: ${config.lakeLocalRoot}   Temporal UI: ${temporalUiUrl(config)}`);
  console.log(`Backfill run: ${ui(backfillWorkflowId('source_a', FROM, TO))}`);
  await apiDemo(config, serve);
  console.log('Servers keep running for the UI; stop them with: npx lake infra down');
  return 0;
}

/** Cases 1 and 2 over REST: a customer `demo` (its key re-issued on each run), the API, a few calls. */
async function apiDemo(config: Config, serve: boolean): Promise<void> {
  const pool = createPostgresPool(config);
  let apiKey: string;
  try {
    await ensurePostgresSchema(pool);
    const existing = (await listCustomers(pool)).find((c) => c.id === 'demo');
    apiKey = existing ? await rotateCustomerKey(pool, 'demo') : (await createCustomer(pool, 'demo')).apiKey;
  } finally {
    await pool.end();
  }
  const api = await startApi(config, { log: () => undefined });
  try {
    const get = async (path: string, accept = 'application/json'): Promise<string> => {
      const res = await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${apiKey}`, accept } });
      return `${res.status} ${await res.text()}`;
    };
    console.log(`\nREST API ${api.url} (OpenAPI ${api.url}/openapi.json, docs ${api.docsUrl}); customer "demo", key shown once:\n  ${apiKey}`);
    console.log(`\nGET /v1/regions/r01/summary\n  ${await get('/v1/regions/r01/summary')}`);
    const csv = await get(`/v1/regions/r01/weather/daily?from=${WEATHER_FROM}&to=${addDays(WEATHER_FROM, 2)}`, 'text/csv');
    console.log(`GET /v1/regions/r01/weather/daily?from=${WEATHER_FROM}&to=${addDays(WEATHER_FROM, 2)}  (Accept: text/csv)\n  ${csv.trim().replaceAll('\n', '\n  ')}`);
    console.log(`\nTry:\n  curl -H 'Authorization: Bearer ${apiKey}' ${api.url}/v1/regions\n  curl -H 'Authorization: Bearer ${apiKey}' -H 'Accept: application/x-ndjson' '${api.url}/v1/regions/r01/weather/daily?from=${WEATHER_FROM}&to=${WEATHER_TO}'`);
    if (serve) {
      console.log('\nThe API keeps serving until Ctrl-C (npx lake demo --no-serve skips this).');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
  } finally {
    await api.close();
  }
}

/**
 * Source D: the market simulator has been emitting events since `infra up`; the stream
 * workflow produces what is there to Kafka, the consumer (in this process here; `lake
 * consume market` in production) lands it in raw hours, and compaction curates them.
 */
async function marketDemo(config: Config, deps: WorkerDeps, client: Client): Promise<string> {
  const api = new URL(config.marketApiUrl);
  const info = (await (await fetch(`${api.origin}/__sim/config`)).json()) as { available: number; start: string; rate: number };
  const events = Math.max(1, Math.min(info.available, 5_000));
  console.log(`\nMarket (source D): ${events} events from the simulator → Kafka ${config.marketTopic} → raw hours → curated`);
  await ensureMarketTopic(deps.kafka, config);
  const writer = createMarketRawWriter({ kafka: deps.kafka, store: deps.store, topic: config.marketTopic, groupId: config.marketConsumerGroup, maxEvents: config.marketFileMaxEvents, maxMs: 1000 });
  await writer.start();
  const hours = new Set<string>();
  try {
    const stream = await client.workflow.execute(marketStream, {
      taskQueue: TASK_QUEUES.ingest,
      workflowId: 'stream:market:demo',
      args: [{ stopAfterEvents: events, sliceMs: 2000 }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
    console.log(`✓ stream: ${stream.produced} events produced (cursor ${stream.cursor}), ${stream.duplicates} endpoint repeats dropped`);
    // The consumer has caught up when every partition's committed offset is its end.
    const admin = deps.kafka.admin();
    await admin.connect();
    try {
      for (let i = 0; i < 300; i++) {
        const ends = await admin.fetchTopicOffsets(config.marketTopic);
        const [group] = await admin.fetchOffsets({ groupId: config.marketConsumerGroup, topics: [config.marketTopic] });
        const behind = ends.some((e) => Number(group?.partitions.find((p) => p.partition === e.partition)?.offset ?? -1) < Number(e.high));
        if (!behind) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await admin.disconnect();
    }
  } finally {
    await writer.stop();
  }
  // The hours the produced events fall in: seq 1 at the stream's start, `rate` a second.
  const first = Date.parse(info.start);
  const last = first + ((events - 1) * 1000) / Math.max(info.rate, 1e-9);
  for (let t = first; t <= last + 3_600_000; t += 3_600_000) hours.add(hourOf(new Date(Math.min(t, last))));
  const recent = [...hours].sort();
  const compactionId = compactMarketWorkflowId(recent[recent.length - 1] ?? 'none');
  const compacted = await client.workflow.execute(compactMarket, {
    taskQueue: TASK_QUEUES.process,
    workflowId: compactionId,
    args: [{ hours: recent }],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
  });
  const rows = compacted.hours.reduce((n, h) => n + h.rows, 0);
  console.log(`✓ ${writer.stats().files} raw files (${writer.stats().rejected} malformed events to _rejected/); ${rows} events curated over ${recent.length} hours; market_daily ${compacted.dailyRows} rows`);
  return compactionId;
}
