/**
 * Source D end to end on real servers: the market simulator → the `stream:market` workflow
 * (Temporal) → Kafka → the consumer process (`lake consume market`) → raw hours on MinIO →
 * `compact:market:<hour>` → curated.market_events, market_daily and the regions table.
 * Events in = events in the lake, exactly once: endpoint repeats collapse, malformed
 * events are counted in `_rejected/`, and a consumer killed mid-stream loses nothing.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Kafka } from 'kafkajs';
import { createKafka } from '../lib/clients/kafka.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { loadConfig, type Config } from '../lib/config.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { expectedMarketCounts } from '../simulators/market/model.ts';
import { startMarketSimulator, type MarketSimulator } from '../simulators/market/server.ts';
import { compactMarket, marketStream, streamStatusQuery } from '../workflows/market.ts';
import { withSession } from './helpers/file-env.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';
import { startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOTAL = 6000;
// 2 events a second from 13:20: seq 6000 is at 14:09:59.5, so the stream spans hours 13 and 14.
const START = new Date('2026-11-25T13:20:00Z');
const RATE = 2;
const MODEL = { seed: 'e2e', malformedRate: 0.01 };

describe('market (source D) end to end', () => {
  let lake: TestLake;
  let sim: MarketSimulator;
  let config: Config;
  let env: Record<string, string>;
  let temporal: TemporalTestServer;
  let kafka: Kafka;
  let store: ObjectStore;
  let s3: S3Client;
  const children: ChildProcess[] = [];

  before(async () => {
    lake = await startTestLake({ storage: 's3' });
    sim = await startMarketSimulator({ rate: RATE, total: TOTAL, start: START, now: () => new Date('2026-11-25T15:00:00Z'), seed: MODEL.seed, malformedRate: MODEL.malformedRate, duplicateRate: 0.05 });
    env = {
      TEMPOLAKE_DATA_DIR: lake.dir,
      LAKE_STORAGE: 's3',
      LAKE_S3_PREFIX: lake.config.lakeS3Prefix,
      ICEBERG_CATALOG_URL: lake.config.icebergCatalogUrl.toString(),
      ICEBERG_CATALOG_JDBC_URI: lake.config.icebergCatalogJdbcUri,
      MARKET_API_URL: `${sim.url}/v1/events`,
      MARKET_TOPIC: `market.e2e.${randomUUID().slice(0, 8)}`,
      MARKET_CONSUMER_GROUP: `e2e-${randomUUID().slice(0, 8)}`,
      MARKET_FILE_MAX_EVENTS: '700',
      MARKET_FILE_MAX_MS: '1000',
    };
    config = loadConfig({ ...process.env, ...env });
    kafka = createKafka(config, 'market-e2e-test');
    s3 = createS3Client(config);
    store = createLakeStore(config, s3);
    temporal = await startTemporalTestServer(config);
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await temporal?.teardown();
    await sim?.close();
    s3?.destroy();
    await lake?.stop();
  });

  const consumer = (): ChildProcess => {
    const child = spawn(process.execPath, [path.join(REPO, 'bin', 'lake.js'), 'consume', 'market'], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(child);
    return child;
  };

  /** Offsets the consumer group has committed, summed over partitions, and the topic's end. */
  async function committedAndEnd(): Promise<{ committed: number; end: number }> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(config.marketTopic);
      const [group] = await admin.fetchOffsets({ groupId: config.marketConsumerGroup, topics: [config.marketTopic] });
      const committed = (group?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
      return { committed, end: ends.reduce((n, p) => n + Number(p.high), 0) };
    } finally {
      await admin.disconnect();
    }
  }

  async function rawLines(prefix: string): Promise<Record<string, unknown>[]> {
    const lines: Record<string, unknown>[] = [];
    for await (const { key } of store.list(prefix)) {
      if (!key.endsWith('.jsonl')) continue;
      const chunks: Buffer[] = [];
      for await (const c of await store.get(key)) chunks.push(c as Buffer);
      for (const l of Buffer.concat(chunks).toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
    }
    return lines;
  }

  it('lands every event exactly once through endpoint repeats and a consumer killed mid-stream', async () => {
    const expected = expectedMarketCounts(MODEL, TOTAL);
    // The consumer runs, and is killed without warning once it has written some files.
    const first = consumer();
    const stream = temporal.withWorker(async (taskQueue) => {
      const handle = await temporal.client.workflow.start(marketStream, { taskQueue, workflowId: `stream:market:${randomUUID()}`, args: [{ sliceMs: 1000, stopAfterEvents: TOTAL }] });
      for (let i = 0; ; i++) {
        const { committed } = await committedAndEnd();
        if (committed > 1000 || i > 240) break;
        await sleep(500);
      }
      first.kill('SIGKILL');
      const status = await handle.result();
      void (await handle.query(streamStatusQuery).catch(() => undefined));
      return status;
    });
    const status = await stream;
    assert.equal(status.produced, TOTAL, 'each seq produced once: the repeats were dropped');
    assert.ok(status.duplicates > 0, 'the endpoint did repeat events');

    // A new consumer picks up from the committed offsets and catches up.
    const second = consumer();
    for (let i = 0; ; i++) {
      const { committed, end } = await committedAndEnd();
      if (committed === end && end >= TOTAL) break;
      if (i > 240) throw new Error(`consumer stuck at ${committed}/${end}`);
      await sleep(500);
    }
    second.kill('SIGTERM');

    // Raw zone: each Kafka record once; malformed ones under _rejected/ with a reason.
    const valid = await rawLines('raw/source_d/day=2026-11-25/');
    const coordinates = new Set(valid.map((l) => `${l['partition']}:${l['offset']}`));
    assert.equal(coordinates.size, valid.length, 'no Kafka record twice in the raw zone');
    assert.equal(valid.length, expected.valid);
    const rejected = await rawLines('raw/source_d/_rejected/');
    assert.equal(rejected.length, expected.malformed);
    assert.ok(rejected.every((r) => typeof r['reason'] === 'string' && r['reason'] !== ''));

    // Curated: compaction of both hours, each event once.
    const compacted = await temporal.withWorker((taskQueue) =>
      temporal.client.workflow.execute(compactMarket, { taskQueue, workflowId: `compact:market:${randomUUID()}`, args: [{ hours: ['2026-11-25T13', '2026-11-25T14'] }] }),
    );
    assert.equal(compacted.hours.reduce((n, h) => n + h.rows, 0), expected.valid);
    await withSession(config, async (s) => {
      const [c] = await s.rows<{ n: string; ids: string; seqs: string }>('SELECT count(*) AS n, count(DISTINCT event_id) AS ids, count(DISTINCT seq) AS seqs FROM lake.curated.market_events');
      assert.deepEqual(c, { n: String(expected.valid), ids: String(expected.valid), seqs: String(expected.valid) });
      const regions = await s.rows<{ region_id: string; origin: string }>(`SELECT region_id, origin FROM lake.operational.regions ORDER BY region_id`);
      assert.equal(regions.length, 20, 'every region seen in the stream');
      assert.ok(regions.every((r) => r.origin === 'source_d'));
      const daily = await s.rows<{ region: string; events: string; volume: number; interest: number | null }>(
        `SELECT region, events, volume, market_interest AS interest FROM lake.operational.market_daily WHERE "day" = DATE '2026-11-25' ORDER BY region`,
      );
      assert.equal(daily.length, 20);
      assert.equal(daily.reduce((n, d) => n + Number(d.events), 0), expected.valid);
      assert.ok(daily.every((d) => d.interest === null), 'no history yet: market_interest is NULL');
      // market_daily's lineage names the curated snapshot it read.
      const [lineage] = await s.rows<{ inputs: string }>(`SELECT inputs FROM lake.lineage.commits WHERE table_name = 'operational.market_daily' ORDER BY committed_at DESC LIMIT 1`);
      const inputs = JSON.parse(lineage?.inputs ?? '[]') as { key: string; snapshotId?: string }[];
      const [events] = await s.rows<{ id: string }>(`SELECT CAST(snapshot_id AS VARCHAR) AS id FROM iceberg_snapshots(lake.curated.market_events) ORDER BY sequence_number DESC LIMIT 1`);
      assert.equal(inputs.find((i) => i.key === 'iceberg:curated.market_events')?.snapshotId, events?.id);
    });

    // Compacting again replaces: the same rows, not twice as many.
    await temporal.withWorker((taskQueue) =>
      temporal.client.workflow.execute(compactMarket, { taskQueue, workflowId: `compact:market:${randomUUID()}`, args: [{ hours: ['2026-11-25T13', '2026-11-25T14'] }] }),
    );
    await withSession(config, async (s) => {
      const [c] = await s.rows<{ n: string }>('SELECT count(*) AS n FROM lake.curated.market_events');
      assert.equal(c?.n, String(expected.valid));
    });
  });
});
