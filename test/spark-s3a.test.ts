/**
 * Spark reads raw files on S3 through Hadoop's s3a: on a lake in MinIO, the jobs that read raw
 * files get `s3://bucket/key` locations (store.locationOf) and read them as `s3a://…`
 * (hadoop-aws 3.4.2 on the AWS SDK v2 inside iceberg-aws-bundle, plus s3-transfer-manager and
 * apache-client: deploy/infra/spark/pom.xml), configured from the same environment as the
 * catalog's S3FileIO (deploy/spark/jobs/tempolake_spark.py). What they publish equals what
 * DuckDB publishes from the same objects:
 *
 * - source A raw → curated (curate_source_a.py vs curateDay): curated rows, rejected records
 *   and lineage, the generated file read in 64 KiB blocks (ranged reads through s3a);
 * - an hour of source D (compact_market_hour.py vs compactMarketHour), whose `_raw_key` is the
 *   s3:// location: Spark's s3a paths are matched back to the locations it was given.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createS3Client } from '../lib/clients/s3.ts';
import { curateDay } from '../lib/curate/curate-day.ts';
import type { RawFileLocation } from '../lib/curate/source-a.ts';
import { writeRawFile } from '../lib/lake/raw.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { compactMarketHour, type CompactedHour } from '../lib/market/compact.ts';
import { ensureSpark } from '../lib/spark/provision.ts';
import type { ObjectStore } from '../lib/storage/index.ts';
import { generateSourceFile, sourceFileName } from '../simulators/files/generate.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';
import { assertSameRows, random, sparkJobRunner, type Row } from './helpers/spark-parity.ts';

const INGEST_DAY = '2021-10-04';
const CURATED_DAY = '2021-10-01';
const MARKET_DAY = '2024-03-31';
const MARKET_HOUR = 5;

/** An hour of source D in three Kafka-connector files: retried copies across files and partitions, and a misfiled event. */
function marketHourFiles(): { key: string; text: string }[] {
  const rnd = random(7);
  const hh = String(MARKET_HOUR).padStart(2, '0');
  const start = Date.parse(`${MARKET_DAY}T${hh}:00:00Z`);
  const events = Array.from({ length: 30 }, (_, i) => ({
    event_id: `e-${i}`,
    seq: 500 + i,
    region: ['r01', 'r02', 'r03'][i % 3],
    instrument: ['GOLD', 'OIL'][i % 2],
    price: Math.round(rnd() * 1e6) / 1e3,
    volume: rnd() * 50,
    ts: new Date(i === 0 ? start : i === 1 ? start + 3_599_999 : start + Math.floor(rnd() * 3_600_000)).toISOString(),
    ...(i % 4 ? { attributes: { venue: 'LME', side: i % 2 ? 'buy' : 'sell', tags: ['a'] } } : {}),
  }));
  const line = (partition: number, offset: number, event: Record<string, unknown>): string =>
    JSON.stringify({ partition, offset: String(offset), timestamp: String(Date.parse(String(event['ts']))), key: event['region'], event });
  const stray = { ...events[4], event_id: 'e-stray', ts: new Date(start - 1).toISOString() };
  const prefix = `raw/source_d/day=${MARKET_DAY}/hour=${hh}/`;
  const p0 = events.slice(0, 15).map((e, i) => line(0, 10 + i, e));
  const p1 = events.slice(15).map((e, i) => line(1, 70 + i, e));
  return [
    { key: `${prefix}market.events+0+000000000010.jsonl`, text: p0.slice(0, 8).join('\n') + '\n' },
    { key: `${prefix}market.events+0+000000000018.jsonl`, text: [...p0.slice(8), line(0, 25, events[20] as Record<string, unknown>)].join('\n') + '\n' },
    { key: `${prefix}market.events+1+000000000070.jsonl`, text: [...p1, line(1, 85, events[2] as Record<string, unknown>), line(1, 86, stray)].join('\n') + '\n' },
  ];
}

describe('Spark reads raw files on S3 through s3a', () => {
  let lake: TestLake;
  let session: LakeSession;
  let store: ObjectStore;
  let spark: ReturnType<typeof sparkJobRunner>;
  const jobTimes: string[] = [];
  const rows = (sql: string): Promise<Row[]> => session.rows<Row>(sql);
  const lineageRow = (runId: string): Promise<Row[]> =>
    rows(`SELECT table_name, scope, CAST(ingest_day AS VARCHAR) AS ingest_day, inputs, "rows", rejected FROM lake.lineage.commits WHERE run_id = '${runId}'`);

  before(async () => {
    lake = await startTestLake({ storage: 's3' });
    await ensureSpark(lake.config);
    session = await openLakeSession(lake.config);
    store = createLakeStore(lake.config, createS3Client(lake.config));
    const confDir = path.join(lake.dir, 'spark-conf');
    mkdirSync(confDir, { recursive: true });
    // Small blocks: the generated file is read by several tasks, each a ranged read of the object.
    writeFileSync(path.join(confDir, 'spark-defaults.conf'), 'spark.sql.shuffle.partitions 4\nspark.sql.files.maxPartitionBytes 65536\nspark.sql.files.openCostInBytes 0\n');
    spark = sparkJobRunner(lake.config, confDir, jobTimes);
  });

  after(async () => {
    session?.close();
    await lake?.stop();
    console.log(`Spark jobs: ${jobTimes.join('; ')}`);
  });

  it('source A on S3: curate_source_a.py publishes what curateDay publishes', async (t) => {
    const generated = path.join(lake.dir, sourceFileName('a', INGEST_DAY));
    await generateSourceFile({ source: 'a', day: INGEST_DAY, records: 2_000, malformedRate: 0.04, seed: 's3a', out: generated });
    const raw = await writeRawFile(store, {
      source: 'source_a',
      day: INGEST_DAY,
      fileName: path.basename(generated),
      content: { localPath: generated },
      origin: `file://${generated}`,
      fetchedAt: `${INGEST_DAY}T06:00:00.000Z`,
    });
    const location = store.locationOf(raw.key);
    assert.match(location, /^s3:\/\/[^/]+\/test-[^/]+\/raw\/source_a\//, 'the raw file is an object in the bucket');
    const file: RawFileLocation = { location, rawKey: raw.key, open: () => store.get(raw.key) };
    const lineage = (runId: string) => ({ workflowId: 's3a-curate', runId, inputs: [{ key: raw.key, sha256: raw.sha256 }] });
    const published = async (runId: string) => ({
      curated: await rows(`SELECT * FROM lake.curated.source_a WHERE day = DATE '${CURATED_DAY}' ORDER BY _raw_key, event_id, event_time, amount`),
      rejected: await rows(`SELECT raw_key, line, reason, record FROM lake.rejected.records WHERE source = 'source_a' AND ingest_day = DATE '${INGEST_DAY}' ORDER BY raw_key, line`),
      lineage: await lineageRow(runId),
    });

    const duck = await curateDay(session, { def: { id: 'source_a', lagDays: 3 }, ingestDay: INGEST_DAY, files: [file], lineage: lineage('duckdb') });
    const byDuckdb = await published('duckdb');
    assert.ok(duck.rows > 1_800 && duck.rejected > 40, `DuckDB: ${duck.rows} rows, ${duck.rejected} rejected`);

    // Spark replaces what DuckDB published: twice the rows would show here.
    const input = { ingestDay: INGEST_DAY, curatedDay: CURATED_DAY, files: [{ rawKey: raw.key, location }], lineage: lineage('spark') };
    const result = await spark<Row>(t, 'curate_source_a.py', input);
    const bySpark = await published('spark');
    assert.deepEqual([result['rows'], result['rejected']], [duck.rows, duck.rejected]);
    assert.deepEqual(bySpark.curated, byDuckdb.curated, 'curated rows');
    assert.deepEqual(bySpark.rejected, byDuckdb.rejected, 'rejected records: line numbers, reasons and text');
    assert.deepEqual(bySpark.lineage, byDuckdb.lineage, 'lineage row');
    t.diagnostic(`${duck.rows} curated, ${duck.rejected} rejected, read from ${location}`);
  });

  it('an hour of source D on S3: compact_market_hour.py publishes what compactMarketHour publishes', async (t) => {
    for (const f of marketHourFiles()) await store.put(f.key, f.text);
    const prefix = `raw/source_d/day=${MARKET_DAY}/hour=${String(MARKET_HOUR).padStart(2, '0')}/`;
    const keys: string[] = [];
    for await (const key of store.listKeys(prefix)) if (key.endsWith('.jsonl')) keys.push(key);
    const files = keys.map((key) => ({ key, location: store.locationOf(key) }));
    assert.equal(files.length, 3);
    assert.ok(files.every((f) => f.location.startsWith('s3://')), JSON.stringify(files));
    const lineage = (runId: string) => ({ workflowId: 's3a-compact', runId, inputs: [] });
    const hourRows = () => rows(`SELECT * FROM lake.curated.market_events WHERE "day" = DATE '${MARKET_DAY}' AND "hour" = ${MARKET_HOUR}`);

    // Spark first (it creates the tables), then DuckDB replaces the hour.
    const sparkResult = await spark<Row>(t, 'compact_market_hour.py', { day: MARKET_DAY, hour: MARKET_HOUR, files, lineage: lineage('spark-hour') });
    const bySpark = await hourRows();
    const duck: CompactedHour = await compactMarketHour(session, store, { day: MARKET_DAY, hour: MARKET_HOUR, lineage: lineage('duckdb-hour') });
    const byDuckdb = await hourRows();
    // 30 events, 2 retried copies and 1 misfiled line in the files.
    assert.deepEqual([duck.rawEvents, duck.rows], [33, 30]);
    assert.deepEqual(
      { ...sparkResult, regionsAdded: [...(sparkResult['regionsAdded'] as string[])].sort() },
      { day: MARKET_DAY, hour: MARKET_HOUR, files: 3, rawEvents: duck.rawEvents, regionsAdded: ['r01', 'r02', 'r03'], rows: duck.rows, rejected: 0, retries: 0 },
    );
    assertSameRows('market_events', bySpark, byDuckdb, { key: ['event_id'] });
    // Each row names the s3:// object it came from (DuckDB's filename), not Spark's s3a:// path.
    const keptRetry = byDuckdb.find((r) => r['event_id'] === 'e-2');
    assert.deepEqual([keptRetry?.['_kafka_partition'], keptRetry?.['_offset'], keptRetry?.['_raw_key']], [0, '12', files[0]?.location]);
    assert.deepEqual(await lineageRow('spark-hour'), await lineageRow('duckdb-hour'));
  });
});
