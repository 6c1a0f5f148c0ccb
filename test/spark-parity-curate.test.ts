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
 *
 * Source B likewise, for another ingestion day: a generated extract with both malformed kinds, one
 * without the timestamp column, and two files of edge lines (one with its own column order and an
 * extra column, one with CR LF line ends) curated by curateDay and by
 * deploy/spark/jobs/curate_source_b.py; and a header lacking required columns fails both alike.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createCurateActivities, type CurateResult } from '../activities/curate.ts';
import { createKubeConfig } from '../lib/clients/kubernetes.ts';
import { curateDay } from '../lib/curate/curate-day.ts';
import { MalformedFileError } from '../lib/curate/errors.ts';
import { rawFileOnDisk, type RawFileLocation } from '../lib/curate/source-a.ts';
import { writeRawFile } from '../lib/lake/raw.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import { ensureSpark } from '../lib/spark/provision.ts';
import { SparkJobError } from '../lib/spark/submit.ts';
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

const B_INGEST_DAY = '2021-10-18';
const B_HEADER = 'customer_id,name,email,region,segment,signup_date,updated_at';

/**
 * Source B lines the generator does not write, in a file whose header has its own column order and
 * an extra column (email,customer_id,name,region,segment,updated_at,signup_date,notes): quoting
 * (a comma, doubled quotes, a quote inside an unquoted value, a space before the opening and after
 * the closing quote, text after the closing quote), too few and too many values (trailing empty
 * ones dropped), empty and blank lines, values DuckDB's casts read in their own way, and a last
 * line without its newline.
 */
const bEdge = (id: string, o: { name?: string; ts?: string; signup?: string; notes?: string; email?: string } = {}): string =>
  [o.email ?? `${id}@example.org`, id, o.name ?? 'Ann Bauer', 'r03', 'smb', o.ts ?? '2021-10-12T10:00:00Z', o.signup ?? '2015-03-04', o.notes ?? 'n'].join(',');
const B_EDGE_LINES = [
  'email,customer_id,name,region,segment,updated_at,signup_date,notes',
  bEdge('b-ok', { name: '"Smith, Jr."', notes: '' }),
  bEdge('b-quotes', { name: '"Mia ""Mi"" Rossi"', ts: '2021-10-11T23:59:59+02:00' }),
  bEdge('b-literal-quote', { name: 'Ann "A" Bauer', ts: '2021-10-12 10:00:00' }),
  bEdge(' "b-space-quoted"  ', { email: 'space@example.org', ts: '2021-10-12T24:00:00Z', signup: '2015-3-4' }),
  bEdge('b-junk', { name: '"Ann"x' }),
  'b-short@example.org,b-short,Ann,r03',
  `${bEdge('b-long')},extra`,
  `${bEdge('b-trailing-empties')},,""`,
  `${bEdge('b-extra-junk')},,"x"y`,
  '',
  'b-after-blank@example.org,b-after-blank',
  '   ',
  '""',
  bEdge(''),
  bEdge('\u00a0'),
  bEdge('b-feb-30', { signup: '2021-02-30' }),
  bEdge('b-no-signup', { signup: '' }),
  bEdge('b-signup-slashes', { signup: '2020/01/02' }),
  bEdge('b-signup-suffix', { signup: '2020-01-02x' }),
  bEdge('b-signup-epoch', { signup: 'epoch' }),
  bEdge('b-signup-bc', { signup: '2020-01-02 (BC)' }),
  bEdge('b-signup-negative', { signup: '-2020-01-02' }),
  bEdge('b-signup-5-digits', { signup: '12020-01-02' }),
  bEdge('b-signup-day-first', { signup: '31/12/2019' }),
  bEdge('b-ts-unknown', { ts: 'unknown' }),
  bEdge('b-ts-date-space', { ts: '2021-10-12 ' }),
  bEdge('b-ts-lower-z', { ts: '2021-10-12T10:00:00z' }),
  bEdge('b-ts-minutes-z', { ts: '2021-10-12T10:00Z' }),
  bEdge('b-ts-date', { ts: '2021-10-12' }),
  bEdge('b-ts-nanos', { ts: '2021-10-12T10:00:00.123456789Z' }),
  bEdge('b-ts-spaces', { ts: ' 2021-10-12T10:00:00Z ' }),
  bEdge('b-ts-0530', { ts: '2021-10-12T01:00:00+0530' }),
  bEdge('b-ts-seconds-offset', { ts: '2021-10-12T22:00:00-02:30:15' }),
  bEdge('b-ts-no-seconds', { ts: '2021-10-12 10:00' }),
  bEdge('b-ts-hour-colon', { ts: '2021-10-12T10:' }),
  bEdge('b-ts-epoch', { ts: 'epoch' }),
  bEdge('b-ts-empty', { ts: '' }),
  bEdge('b-ts-blank', { ts: '  ' }),
  '',
  '',
  'b-after-two-blanks@example.org,b-after-two-blanks',
  bEdge('b-junk-2', { email: '"x"y' }),
  '',
  'b-after-junk@example.org,b-after-junk',
  bEdge('b-last-no-newline'),
].join('\n');

/** A CR LF extract: the text DuckDB's reject table gives a line there starts at the previous line's LF. */
const bRow = (id: string, extra = ''): string => `${id},"Zoë Müller",${id}@example.net,r07,consumer,2016-07-08,2021-10-15T07:30:00Z${extra}`;
const B_CRLF_LINES = [
  B_HEADER,
  '',
  'b-crlf-after-header,Ann',
  bRow('b-crlf-ok'),
  'b-crlf-short,Ann',
  '',
  'b-crlf-after-blank,Ann',
  bRow('b-crlf-junk').replace('"Zoë Müller"', '"Zoë"x'),
  'b-crlf-after-junk,Ann',
  bRow('b-crlf-no-ts').replace('2021-10-15T07:30:00Z', ''),
  bRow('b-crlf-long', ',extra'),
].join('\r\n');

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
    // The activity tests below take the Spark engine; the job runs and curateDay ignore it.
    lake = await startTestLake({ env: { ENGINE_OVERRIDES: 'curate_source_a=spark,curate_source_b=spark' } });
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

  it('source B: the same curated rows, rejected records and lineage', async (t) => {
    const def = { id: 'source_b', lagDays: 0, timestampField: 'updated_at' } as const;
    const generated = path.join(lake.dir, sourceFileName('b', B_INGEST_DAY));
    const result = await generateSourceFile({ source: 'b', day: B_INGEST_DAY, records: 3_000, malformedRate: 0.05, seed: 'parity-b', out: generated });
    assert.ok(Object.values(result.malformed).every((n) => n > 0), `every kind of malformed line is generated: ${JSON.stringify(result.malformed)}`);
    const noTimestamp = path.join(lake.dir, 'customers-no-timestamp.csv');
    await generateSourceFile({ source: 'b', day: B_INGEST_DAY, records: 400, malformedRate: 0.05, seed: 'parity-b-no-ts', withTimestamp: false, out: noTimestamp });
    const edges = path.join(lake.dir, 'customers-edges.csv');
    writeFileSync(edges, B_EDGE_LINES);
    const crlf = path.join(lake.dir, 'customers-crlf.csv');
    writeFileSync(crlf, B_CRLF_LINES);
    const bFiles: RawFileLocation[] = [];
    for (const file of [generated, noTimestamp, edges, crlf]) {
      const raw = await writeRawFile(store, {
        source: 'source_b',
        day: B_INGEST_DAY,
        fileName: path.basename(file),
        content: { localPath: file },
        origin: `file://${file}`,
        fetchedAt: `${B_INGEST_DAY}T06:00:00.000Z`,
      });
      bFiles.push(rawFileOnDisk(store.locationOf(raw.key), raw.key));
    }
    const bLineage = (runId: string) => ({ workflowId: 'parity-curate-b', runId, inputs: bFiles.map((f) => ({ key: f.rawKey, sha256: 'x' })) });
    const publishedB = async (runId: string) => ({
      curated: await rows(`SELECT * FROM lake.curated.source_b WHERE _ingest_day = DATE '${B_INGEST_DAY}' ORDER BY _raw_key, _raw_line`),
      rejected: await rows(
        `SELECT raw_key, line, reason, record FROM lake.rejected.records WHERE source = 'source_b' AND ingest_day = DATE '${B_INGEST_DAY}' ORDER BY raw_key, line, reason, record`,
      ),
      lineage: await rows(
        `SELECT table_name, scope, CAST(ingest_day AS VARCHAR) AS ingest_day, inputs, "rows", rejected FROM lake.lineage.commits WHERE run_id = '${runId}'`,
      ),
    });

    const duck = await curateDay(session, { def, ingestDay: B_INGEST_DAY, files: bFiles, lineage: bLineage('duckdb-b') });
    const byDuckdb = await publishedB('duckdb-b');
    assert.ok(duck.rejected > 150 && duck.rows > 3_000, `DuckDB: ${duck.rows} rows, ${duck.rejected} rejected`);

    // Spark replaces what DuckDB published: twice the rows would show here.
    const input = { ingestDay: B_INGEST_DAY, timestampField: 'updated_at', files: bFiles.map((f) => ({ rawKey: f.rawKey, location: f.location })) };
    const first = await spark<Row>(t, 'curate_source_b.py', { ...input, lineage: bLineage('spark-b') });
    const bySpark = await publishedB('spark-b');
    assert.deepEqual(bySpark.rejected, byDuckdb.rejected, 'rejected records: line numbers, reasons and text');
    assert.deepEqual(bySpark.curated, byDuckdb.curated, 'curated rows');
    assert.deepEqual([first['rows'], first['rejected']], [duck.rows, duck.rejected]);
    assert.deepEqual(bySpark.lineage, byDuckdb.lineage, 'lineage row');
    const reasons = new Map<string, number>();
    for (const r of bySpark.rejected) {
      const kind = String(r['reason']).replace(/:.*/, ':…');
      reasons.set(kind, (reasons.get(kind) ?? 0) + 1);
    }
    t.diagnostic(`${duck.rows} curated, ${duck.rejected} rejected: ${[...reasons].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    for (const reason of ['Expected Number of Columns:…', 'Value with unterminated quote found.', 'missing customer_id', 'signup_date is not a date:…', 'updated_at is not a timestamp:…']) {
      assert.ok(reasons.has(reason), `a line rejected for "${reason}"`);
    }
    // A few of the edge files' quirks, as published.
    const [, , edgeFile, crlfFile] = bFiles;
    const rejectedRecord = (file: RawFileLocation | undefined, like: string) =>
      bySpark.rejected.find((r) => r['raw_key'] === file?.rawKey && String(r['record']).includes(like))?.['record'];
    assert.equal(rejectedRecord(edgeFile, 'b-after-two-blanks'), '\n\nb-after-two-blanks@example.org,b-after-two-blanks');
    assert.equal(rejectedRecord(crlfFile, 'b-crlf-after-blank'), '\n\r\nb-crlf-after-blank,Ann');
    assert.equal(bySpark.curated.find((r) => r['customer_id'] === 'b-space-quoted')?.['day'], '2021-10-13');
  });

  it('source B through the curate activity with ENGINE_OVERRIDES=curate_source_b=spark', async () => {
    const { config } = lake;
    const activities = createCurateActivities({ config, store, spark: { config, kube: () => createKubeConfig(config), openLake: () => openLakeSession(config) } });
    const run = { workflowId: 'curate:source_b:parity', runId: 'activity-b' };
    const result: CurateResult = await new MockActivityEnvironment().run(activities.curateRawDay, { source: 'source_b', ingestDay: B_INGEST_DAY, run });
    const [duck] = await rows(`SELECT "rows", rejected FROM lake.lineage.commits WHERE run_id = 'duckdb-b'`);
    assert.equal(result.engine, 'spark');
    assert.equal(result.scope, `_ingest_day=${B_INGEST_DAY}`);
    assert.equal(result.rawFiles, 4);
    assert.deepEqual([result.rows, result.rejected], [Number(duck?.['rows']), Number(duck?.['rejected'])]);
    const [lineage] = await rows(`SELECT table_name, scope, CAST(json_array_length(inputs) AS INTEGER) AS inputs FROM lake.lineage.commits WHERE run_id = 'activity-b'`);
    assert.deepEqual(lineage, { table_name: 'curated.source_b', scope: `_ingest_day=${B_INGEST_DAY}`, inputs: 4 });
  });

  it('source B: a header lacking required columns fails both engines alike, as bad input', async (t) => {
    const file = path.join(lake.dir, 'customers-bad-header.csv');
    writeFileSync(file, 'customer_id,name,region,segment,updated_at\nc1,Ann,r01,smb,2021-10-15T07:30:00Z\n');
    const rawKey = `raw/source_b/day=${B_INGEST_DAY}/customers-bad-header.csv`;
    const lineage = { workflowId: 'parity-curate-b', runId: 'bad-header', inputs: [{ key: rawKey, sha256: 'x' }] };
    const def = { id: 'source_b', lagDays: 0, timestampField: 'updated_at' } as const;
    const duck: unknown = await curateDay(session, { def, ingestDay: B_INGEST_DAY, files: [rawFileOnDisk(file, rawKey)], lineage }).then(
      () => assert.fail('DuckDB curated a file without email and signup_date'),
      (err: unknown) => err,
    );
    assert.ok(duck instanceof MalformedFileError, String(duck));
    await assert.rejects(
      spark(t, 'curate_source_b.py', { ingestDay: B_INGEST_DAY, timestampField: 'updated_at', files: [{ rawKey, location: file }], lineage }),
      (err: unknown) => {
        assert.ok(err instanceof SparkJobError, String(err));
        assert.equal(err.exceptionType, 'BadInputError');
        assert.equal(err.exitCode, 2);
        assert.ok(err.message.includes(duck.message), `Spark's message carries DuckDB's "${duck.message}": ${err.message}`);
        return true;
      },
    );
  });
});

