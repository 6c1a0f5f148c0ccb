/**
 * Raw → curated on Spark gives what DuckDB gives: a day of source A (a generated file with
 * every kind of malformed line the generator makes, and a file of edge lines: blank and
 * whitespace lines, CRLF endings, values of the wrong JSON type, a last line without its
 * newline) curated by lib/curate/curate-day.ts and by deploy/spark/jobs/curate_source_a.py
 * into the same table, compared as sets read back by DuckDB: the curated rows, the rejected
 * records (line numbers, reasons, text) and the lineage row.
 *
 * Spark reads the files in 64 KiB blocks here, so line numbers are proven across blocks and
 * across a task that reads blocks of two files.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createCurateActivities, type CurateResult } from '../activities/curate.ts';
import { createKubeConfig } from '../lib/clients/kubernetes.ts';
import { curateDay } from '../lib/curate/curate-day.ts';
import { rawFileOnDisk, type RawFileLocation } from '../lib/curate/source-a.ts';
import { writeRawFile } from '../lib/lake/raw.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import { ensureSpark } from '../lib/spark/provision.ts';
import { createLocalStore, type ObjectStore } from '../lib/storage/index.ts';
import { generateSourceFile, sourceFileName } from '../simulators/files/generate.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';
import { sparkJobRunner, type Row } from './helpers/spark-parity.ts';

const INGEST_DAY = '2021-10-04';
const CURATED_DAY = '2021-10-01';

const event = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  event_id: id,
  customer_id: 'c-000042',
  region: 'eu-west',
  event_time: '2021-10-01T09:30:00.250+02:00',
  amount: 12.5,
  currency: 'EUR',
  channel: 'web',
  attributes: { device: 'ios', campaign: { id: 'cmp-0003', name: 'Rentrée 2021' }, tags: ['promo', 'vip'] },
  ...extra,
});

/** Lines the generator does not write, each curated or rejected the same way by both engines. */
const EDGE_LINES = [
  JSON.stringify(event('edge-ok')),
  '',
  '   \t ',
  `${JSON.stringify(event('edge-crlf'))}\r`,
  JSON.stringify(event('edge-number-id', { event_id: 1234 })),
  JSON.stringify(event('edge-amount-text', { amount: '7.25' })),
  JSON.stringify(event('edge-amount-int', { amount: 3 })),
  JSON.stringify(event('edge-date-only', { event_time: '2021-10-01' })),
  JSON.stringify(event('edge-space-ts', { event_time: '2021-10-01 23:59:59' })),
  JSON.stringify(event('edge-currency-object', { currency: { code: 'EUR' } })),
  JSON.stringify(event('edge-no-attributes', { attributes: undefined })),
  JSON.stringify(event('edge-campaign-null', { attributes: { device: 'web', campaign: null, tags: [] } })),
  JSON.stringify(event('edge-numeric-tags', { attributes: { device: 'web', campaign: null, tags: [1, 'two'] } })),
  JSON.stringify(event('edge-null-region', { region: null })),
  JSON.stringify(event('edge-bad-ts', { event_time: 'yesterday' })),
  JSON.stringify(event('edge-ts-number', { event_time: 1633080600 })),
  JSON.stringify(event('edge-amount-empty', { amount: '' })),
  '{}',
  '[1, 2]',
  'null',
  '"just a string"',
  '{"event_id": "edge-cut", "customer_id": "c-0',
  '  {"event_id":"edge-indented","customer_id":"c-1","region":"us-east","event_time":"2021-10-01T00:00:00Z","amount":0}',
  JSON.stringify(event('edge-last-no-newline')),
].join('\n');

describe('Spark curates raw files as DuckDB does (parity)', () => {
  let lake: TestLake;
  let session: LakeSession;
  let store: ObjectStore;
  let files: RawFileLocation[];
  let spark: ReturnType<typeof sparkJobRunner>;
  const jobTimes: string[] = [];
  const lineage = (runId: string) => ({ workflowId: 'parity-curate', runId, inputs: files.map((f) => ({ key: f.rawKey, sha256: 'x' })) });

  const rows = (sql: string): Promise<Row[]> => session.rows<Row>(sql);
  /** Everything the publish of the day wrote, in a fixed order. */
  const published = async (runId: string) => ({
    curated: await rows(`SELECT * FROM lake.curated.source_a WHERE day = DATE '${CURATED_DAY}' ORDER BY _raw_key, event_id, event_time, amount`),
    rejected: await rows(`SELECT raw_key, line, reason, record FROM lake.rejected.records WHERE source = 'source_a' AND ingest_day = DATE '${INGEST_DAY}' ORDER BY raw_key, line`),
    lineage: await rows(
      `SELECT table_name, scope, CAST(ingest_day AS VARCHAR) AS ingest_day, inputs, "rows", rejected FROM lake.lineage.commits WHERE run_id = '${runId}'`,
    ),
  });

  before(async () => {
    // The activity test below takes the Spark engine for A; the job runs and curateDay ignore it.
    lake = await startTestLake({ env: { ENGINE_OVERRIDES: 'curate_source_a=spark' } });
    await ensureSpark(lake.config);
    session = await openLakeSession(lake.config);
    store = createLocalStore(lake.config.lakeLocalRoot);
    const confDir = path.join(lake.dir, 'spark-conf');
    mkdirSync(confDir, { recursive: true });
    // Small blocks: the generated file is read by several tasks, and one task reads blocks of both files.
    writeFileSync(path.join(confDir, 'spark-defaults.conf'), 'spark.sql.shuffle.partitions 4\nspark.sql.files.maxPartitionBytes 65536\nspark.sql.files.openCostInBytes 0\n');
    spark = sparkJobRunner(lake.config, confDir, jobTimes);

    const generated = path.join(lake.dir, sourceFileName('a', INGEST_DAY));
    const result = await generateSourceFile({ source: 'a', day: INGEST_DAY, records: 3_000, malformedRate: 0.04, seed: 'parity', out: generated });
    assert.ok(Object.values(result.malformed).every((n) => n > 0), `every kind of malformed line is generated: ${JSON.stringify(result.malformed)}`);
    const edges = path.join(lake.dir, 'edges.jsonl');
    writeFileSync(edges, EDGE_LINES);
    files = [];
    for (const file of [generated, edges]) {
      const raw = await writeRawFile(store, {
        source: 'source_a',
        day: INGEST_DAY,
        fileName: path.basename(file),
        content: { localPath: file },
        origin: `file://${file}`,
        fetchedAt: `${INGEST_DAY}T06:00:00.000Z`,
      });
      files.push(rawFileOnDisk(store.locationOf(raw.key), raw.key));
    }
  });

  after(async () => {
    session?.close();
    await lake?.stop();
    console.log(`Spark jobs: ${jobTimes.join('; ')}`);
  });

  it('source A: the same curated rows, rejected records and lineage; a re-run replaces them', async (t) => {
    const duck = await curateDay(session, { def: { id: 'source_a', lagDays: 3 }, ingestDay: INGEST_DAY, files, lineage: lineage('duckdb') });
    const byDuckdb = await published('duckdb');
    assert.ok(duck.rejected > 100 && duck.rows > 2_800, `DuckDB: ${duck.rows} rows, ${duck.rejected} rejected`);

    const input = { ingestDay: INGEST_DAY, curatedDay: CURATED_DAY, files: files.map((f) => ({ rawKey: f.rawKey, location: f.location })) };
    const first = await spark<Row>(t, 'curate_source_a.py', { ...input, lineage: lineage('spark') });
    const bySpark = await published('spark');
    assert.deepEqual(bySpark.rejected, byDuckdb.rejected, 'rejected records: line numbers, reasons and text');
    assert.deepEqual(bySpark.curated, byDuckdb.curated, 'curated rows');
    assert.deepEqual([first['rows'], first['rejected']], [duck.rows, duck.rejected]);
    assert.deepEqual(bySpark.lineage, byDuckdb.lineage, 'lineage row');
    const reasons = new Map<string, number>();
    for (const r of bySpark.rejected) reasons.set(String(r['reason']).replace(/:.*/, ':…'), (reasons.get(String(r['reason']).replace(/:.*/, ':…')) ?? 0) + 1);
    t.diagnostic(`${duck.rows} curated, ${duck.rejected} rejected: ${[...reasons].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    for (const reason of ['not a JSON object', 'missing event_id', 'missing region', 'event_time is not a timestamp:…', 'amount is not a number:…']) {
      assert.ok(reasons.has(reason), `a line rejected for "${reason}"`);
    }

    // Again: the day is replaced, not added to, and the ingestion's rejected records too.
    await spark<Row>(t, 'curate_source_a.py', { ...input, lineage: lineage('spark-again') });
    const again = await published('spark-again');
    assert.deepEqual(again.curated, byDuckdb.curated);
    assert.deepEqual(again.rejected, byDuckdb.rejected);
  });

  it('source A through the curate activity with ENGINE_OVERRIDES=curate_source_a=spark', async () => {
    const { config } = lake;
    const activities = createCurateActivities({ config, store, spark: { config, kube: () => createKubeConfig(config), openLake: () => openLakeSession(config) } });
    const run = { workflowId: 'curate:source_a:parity', runId: 'activity' };
    const result: CurateResult = await new MockActivityEnvironment().run(activities.curateRawDay, { source: 'source_a', ingestDay: INGEST_DAY, run });
    const [duck] = (await published('duckdb')).lineage;
    assert.equal(result.engine, 'spark');
    assert.equal(result.scope, `day=${CURATED_DAY}`);
    assert.equal(result.rawFiles, 2);
    assert.deepEqual([result.rows, result.rejected], [Number(duck?.['rows']), Number(duck?.['rejected'])]);
  });
});

