/**
 * Source D end to end: events/s from the market simulator through the `stream:market`
 * workflow, Kafka and the consumer process into raw files on the lake, beside the ceiling
 * of the same machine in the same run — kafkajs producing and consuming the same events
 * with nothing else around (ratio) — and the consumer's lag under a steady load.
 *
 *   npx tsx bench/market-stream.ts [--events 100000] [--steady-rate 1000] [--steady-seconds 30]
 *   npm run bench:market
 *
 * Kafka: the local broker (`lake infra up`; the script starts what is missing); lake: a
 * test lake on disk; Temporal: a dev server of its own; the consumer: `lake consume
 * market` as a child process, as in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Kafka } from 'kafkajs';
import { createKafka } from '../lib/clients/kafka.ts';
import { loadConfig, type Config } from '../lib/config.ts';
import { infraUp } from '../lib/infra/index.ts';
import { ensureMarketTopic } from '../lib/market/topic.ts';
import { marketEventJson } from '../simulators/market/model.ts';
import { startMarketSimulator } from '../simulators/market/server.ts';
import { startTestLake } from '../test/helpers/lake.ts';
import { startTemporalTestServer } from '../test/helpers/temporal.ts';
import { marketStream } from '../workflows/market.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    events: { type: 'string', default: '100000' },
    'steady-rate': { type: 'string', default: '1000' },
    'steady-seconds': { type: 'string', default: '30' },
  },
});
const EVENTS = Number(values.events);
const STEADY_RATE = Number(values['steady-rate']);
const STEADY_SECONDS = Number(values['steady-seconds']);
const secs = (ms: number): string => (ms / 1000).toFixed(1);
const rate = (n: number, ms: number): string => Math.round(n / (ms / 1000)).toLocaleString('en-US');

async function lagOf(kafka: Kafka, topic: string, groupId: string): Promise<{ committed: number; end: number }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [group] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return {
      committed: (group?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0),
      end: ends.reduce((n, p) => n + Number(p.high), 0),
    };
  } finally {
    await admin.disconnect();
  }
}

async function waitCaughtUp(kafka: Kafka, topic: string, groupId: string, atLeast: number): Promise<void> {
  for (;;) {
    const { committed, end } = await lagOf(kafka, topic, groupId);
    if (end >= atLeast && committed >= end) return;
    await sleep(200);
  }
}

async function waitForMembers(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (let i = 0; i < 600; i++) {
      const { groups } = await admin.describeGroups([groupId]);
      if (groups[0]?.state === 'Stable' && groups[0].members.length > 0) return;
      await sleep(100);
    }
    throw new Error(`consumer group ${groupId} never became stable`);
  } finally {
    await admin.disconnect();
  }
}

const base = loadConfig();
console.log(`${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; starting the local servers that are not running…`);
await infraUp(base, () => undefined);
const lake = await startTestLake();
const figures: [string, string][] = [];
const children: ChildProcess[] = [];
try {
  const kafka = createKafka(base, 'bench-market');
  const model = { seed: 'bench', malformedRate: 0.01 };
  // Events stamped just before now, as a live stream's are: the consumer files a malformed
  // record under its Kafka (produce-time) hour, so synthetic timestamps hours away from the
  // clock would cut a file at every malformed event.
  const t0ms = Date.now() - 120_000;

  // ---- 1. Ceiling: the same events, produced and consumed with kafkajs alone.
  const rawTopic = `bench.raw.${randomUUID().slice(0, 8)}`;
  await ensureMarketTopic(kafka, { marketTopic: rawTopic, marketTopicPartitions: base.marketTopicPartitions });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const values_ = Array.from({ length: EVENTS }, (_, i) => marketEventJson(model, i + 1, t0ms + i));
  let t = performance.now();
  for (let i = 0; i < EVENTS; i += 1000) {
    await producer.send({ topic: rawTopic, acks: -1, messages: values_.slice(i, i + 1000).map((value) => ({ key: `r${(i % 20) + 1}`, value })) });
  }
  const produceMs = performance.now() - t;
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `bench-raw-${randomUUID().slice(0, 8)}` });
  await consumer.connect();
  await consumer.subscribe({ topic: rawTopic, fromBeginning: true });
  let consumed = 0;
  t = performance.now();
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        consumed += batch.messages.length;
        if (consumed >= EVENTS) resolve();
      },
    });
  });
  await done;
  const consumeMs = performance.now() - t;
  await consumer.disconnect();
  const ceilingMs = Math.max(produceMs, consumeMs);
  figures.push(
    ['kafkajs produce (idempotent, acks=all)', `${secs(produceMs)} s, ${rate(EVENTS, produceMs)} events/s`],
    ['kafkajs consume', `${secs(consumeMs)} s, ${rate(EVENTS, consumeMs)} events/s`],
  );

  // ---- 2. Ours: simulator → stream workflow → Kafka → consumer process → raw files.
  const sim = await startMarketSimulator({ rate: 1_000_000, total: EVENTS, start: new Date(t0ms), seed: model.seed, malformedRate: model.malformedRate });
  const topic = `bench.market.${randomUUID().slice(0, 8)}`;
  const groupId = `bench-${randomUUID().slice(0, 8)}`;
  const env = {
    TEMPOLAKE_DATA_DIR: lake.dir,
    LAKE_STORAGE: 'local',
    LAKE_LOCAL_ROOT: lake.config.lakeLocalRoot,
    ICEBERG_CATALOG_URL: lake.config.icebergCatalogUrl.toString(),
    ICEBERG_CATALOG_JDBC_URI: lake.config.icebergCatalogJdbcUri,
    MARKET_API_URL: `${sim.url}/v1/events`,
    MARKET_TOPIC: topic,
    MARKET_CONSUMER_GROUP: groupId,
    // The last file of the run closes this long after its first event: kept short so the
    // figure measures throughput, not the wait for one idle file.
    MARKET_FILE_MAX_MS: '1000',
  };
  const config: Config = loadConfig({ ...process.env, ...env });
  await ensureMarketTopic(kafka, config);
  const temporal = await startTemporalTestServer(config);
  const consumerProcess = spawn(process.execPath, [path.join(REPO, 'bin', 'lake.js'), 'consume', 'market'], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(consumerProcess);
  try {
    // The clock starts once the consumer process has joined its group (start-up is not throughput).
    await waitForMembers(kafka, groupId);
    t = performance.now();
    const status = await temporal.withWorker(async (taskQueue) => {
      const s = await temporal.client.workflow.execute(marketStream, { taskQueue, workflowId: `stream:market:bench`, args: [{ sliceMs: 5000, pageSize: 5000, stopAfterEvents: EVENTS }] });
      await waitCaughtUp(kafka, topic, groupId, EVENTS);
      return s;
    });
    const endToEndMs = performance.now() - t;
    figures.push(
      ['ours: simulator → workflow → Kafka → raw files', `${secs(endToEndMs)} s, ${rate(EVENTS, endToEndMs)} events/s (${status.produced} produced, ${status.duplicates} repeats dropped)`],
      ['ours / ceiling (events/s)', `${(ceilingMs / endToEndMs).toFixed(2)}×  (ceiling = the slower of kafkajs produce and consume)`],
    );
    await sim.close();

    // ---- 3. Steady load: a real-time stream at --steady-rate, lag sampled every second.
    const steady = await startMarketSimulator({ rate: STEADY_RATE, seed: 'steady', malformedRate: 0.01 });
    const steadyTopic = `bench.steady.${randomUUID().slice(0, 8)}`;
    const steadyGroup = `bench-steady-${randomUUID().slice(0, 8)}`;
    const steadyEnv = { ...env, MARKET_API_URL: `${steady.url}/v1/events`, MARKET_TOPIC: steadyTopic, MARKET_CONSUMER_GROUP: steadyGroup, MARKET_FILE_MAX_MS: String(base.marketFileMaxMs) };
    const steadyConfig = loadConfig({ ...process.env, ...steadyEnv });
    await ensureMarketTopic(kafka, steadyConfig);
    const steadyConsumer = spawn(process.execPath, [path.join(REPO, 'bin', 'lake.js'), 'consume', 'market'], { cwd: REPO, env: { ...process.env, ...steadyEnv }, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(steadyConsumer);
    await waitForMembers(kafka, steadyGroup);
    const steadyTemporal = await startTemporalTestServer(steadyConfig);
    try {
      const lags: number[] = [];
      await steadyTemporal.withWorker(async (taskQueue) => {
        const handle = await steadyTemporal.client.workflow.start(marketStream, { taskQueue, workflowId: 'stream:market:steady', args: [{ sliceMs: 5000 }] });
        for (let i = 0; i < STEADY_SECONDS; i++) {
          await sleep(1000);
          const { committed, end } = await lagOf(kafka, steadyTopic, steadyGroup);
          lags.push(end - committed);
        }
        await handle.signal('stopStream');
        await handle.result();
      });
      const warm = lags.slice(5);
      const mean = warm.reduce((a, b) => a + b, 0) / Math.max(1, warm.length);
      const max = Math.max(...warm);
      figures.push([
        `steady ${STEADY_RATE} events/s for ${STEADY_SECONDS} s: consumer lag`,
        `mean ${Math.round(mean)} events (${(mean / STEADY_RATE).toFixed(1)} s), max ${max} events (${(max / STEADY_RATE).toFixed(1)} s) — files close after MARKET_FILE_MAX_MS=${steadyConfig.marketFileMaxMs} ms`,
      ]);
    } finally {
      await steadyTemporal.teardown();
      await steady.close();
    }
  } finally {
    await temporal.teardown();
  }
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await lake.stop();
}
const width = Math.max(...figures.map(([k]) => k.length));
console.log(`\nmarket stream (npx tsx bench/market-stream.ts ${process.argv.slice(2).join(' ')})`.trimEnd());
for (const [k, v] of figures) console.log(`  ${k.padEnd(width)}  ${v}`);
