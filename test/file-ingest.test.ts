/**
 * Sources A and B end to end on real servers: FTP and HTTP simulators → Temporal
 * workflows → raw zone → curated Iceberg tables through the REST catalog.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { publishPartition } from '../lib/lake/publish.ts';
import { listRawFiles } from '../lib/lake/raw.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { ALL_TABLES, CURATED_SOURCE_A, ensureTables } from '../lib/lake/tables.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { generateSourceFile, sourceFileName } from '../simulators/files/generate.ts';
import { ingest, startFileEnv as startEnv, stopFileEnv as stopEnv, withSession, type FileEnv as Env } from './helpers/file-env.ts';

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Row count and an order-independent checksum of every column of a query's rows. */
async function fingerprint(s: LakeSession, from: string, where: string): Promise<{ n: string; h: string }> {
  const [r] = await s.rows<{ n: string; h: string }>(`SELECT count(*) AS n, CAST(coalesce(sum(hash(t)), 0) AS VARCHAR) AS h FROM (SELECT * FROM ${from} WHERE ${where}) t`);
  return r as { n: string; h: string };
}

async function metadataLogLength(config: Config, ns: string, table: string): Promise<number> {
  const res = await fetch(new URL(`v1/namespaces/${ns}/tables/${table}`, `${config.icebergCatalogUrl.toString().replace(/\/$/, '')}/`));
  assert.equal(res.status, 200);
  const body = (await res.json()) as { metadata: { 'metadata-log': unknown[] } };
  return body.metadata['metadata-log'].length;
}

describe('sources A and B on the local lake', () => {
  let env: Env;
  const dayA = '2021-10-04';
  let fileA: Awaited<ReturnType<typeof generateSourceFile>>;

  before(async () => {
    env = await startEnv();
    fileA = await generateSourceFile({
      source: 'a', day: dayA, records: 5000, malformedRate: 0.01, seed: 1,
      out: path.join(env.filesDir, 'source_a', sourceFileName('a', dayA)),
    });
  });
  after(() => stopEnv(env));

  it('ingests a day of A over FTP: raw byte-identical, curated in day D-3, malformed lines rejected with reasons', async () => {
    const result = await ingest(env, 'source_a', dayA);
    assert.equal(result.raw.length, 1);
    assert.equal(result.raw[0]?.sha256, sha256(fileA.path));
    assert.equal(result.raw[0]?.key, `raw/source_a/day=${dayA}/${sourceFileName('a', dayA)}`);
    const malformed = Object.values(fileA.malformed).reduce((a, b) => a + b, 0);
    assert.ok(malformed > 0);
    assert.equal(result.curated.scope, 'day=2021-10-01');
    assert.equal(result.curated.rows, fileA.records - malformed);
    assert.equal(result.curated.rejected, malformed);

    const store = createLakeStore(env.config, createS3Client(env.config));
    const [raw] = await listRawFiles(store, 'source_a', dayA);
    assert.equal(raw?.sha256, sha256(fileA.path));
    assert.equal(raw?.size, fileA.bytes);
    assert.match(raw?.origin ?? '', /^ftp:\/\//);
    assert.doesNotMatch(raw?.origin ?? '', /:\/\/[^/@]*:[^/@*]+@/, 'origin must not carry the FTP password');

    await withSession(env.config, async (s) => {
      const days = await s.rows<{ day: string; n: string }>('SELECT "day", count(*) AS n FROM lake.curated.source_a GROUP BY 1');
      assert.deepEqual(days, [{ day: '2021-10-01', n: String(fileA.records - malformed) }]);
      const types = await s.rows<{ column_name: string; column_type: string }>('DESCRIBE lake.curated.source_a');
      const typeOf = (c: string): string | undefined => types.find((t) => t.column_name === c)?.column_type;
      assert.equal(typeOf('event_time'), 'TIMESTAMP WITH TIME ZONE');
      assert.equal(typeOf('amount'), 'DOUBLE');
      assert.equal(typeOf('tags'), 'VARCHAR[]');
      const rejected = await s.rows<{ reason: string; line: string; record: string }>(
        "SELECT reason, line, record FROM lake.rejected.records WHERE source = 'source_a' ORDER BY line",
      );
      assert.equal(rejected.length, malformed);
      const lines = readFileSync(fileA.path, 'utf8').split('\n');
      for (const r of rejected) {
        assert.equal(r.record, lines[Number(r.line) - 1], `line ${r.line} kept whole`);
        assert.match(r.reason, /not a JSON object|missing \w+|not a (number|timestamp)/);
      }
      const [lineage] = await s.rows<{ workflow_id: string; inputs: string; rows: string }>(
        "SELECT workflow_id, inputs, rows FROM lake.lineage.commits WHERE table_name = 'curated.source_a'",
      );
      assert.match(lineage?.workflow_id ?? '', /^curate:source_a:2021-10-04/);
      assert.deepEqual(JSON.parse(lineage?.inputs ?? '[]'), [{ key: raw?.key, sha256: raw?.sha256 }]);
    });
  });

  it('a re-run of the same day makes no new raw copy, one commit, identical rows; time travel shows the earlier rows', async () => {
    const before = await withSession(env.config, (s) => fingerprint(s, 'lake.curated.source_a', `"day" = DATE '2021-10-01'`));
    const [snap] = await withSession(env.config, (s) => s.rows<{ snapshot_id: string }>('SELECT max_by(snapshot_id, sequence_number) AS snapshot_id FROM iceberg_snapshots(lake.curated.source_a)'));
    const log0 = await metadataLogLength(env.config, 'curated', 'source_a');

    const again = await ingest(env, 'source_a', dayA);
    assert.equal(again.raw[0]?.created, false, 'the same bytes are not stored twice');
    assert.equal((await metadataLogLength(env.config, 'curated', 'source_a')) - log0, 1, 'exactly one commit');
    const afterRerun = await withSession(env.config, (s) => fingerprint(s, 'lake.curated.source_a', `"day" = DATE '2021-10-01'`));
    assert.deepEqual(afterRerun, before);

    // The source re-delivers a changed file: a second raw object, curated rebuilt from it.
    const changed = await generateSourceFile({
      source: 'a', day: dayA, records: 3000, malformedRate: 0, seed: 2,
      out: path.join(env.filesDir, 'source_a', sourceFileName('a', dayA)),
    });
    const third = await ingest(env, 'source_a', dayA);
    assert.equal(third.raw[0]?.created, true);
    assert.notEqual(third.raw[0]?.key, again.raw[0]?.key);
    assert.equal(third.curated.rows, changed.records);
    await withSession(env.config, async (s) => {
      const now = await fingerprint(s, 'lake.curated.source_a', `"day" = DATE '2021-10-01'`);
      assert.equal(now.n, String(changed.records));
      const past = await fingerprint(s, `lake.curated.source_a AT (VERSION => ${snap?.snapshot_id})`, `"day" = DATE '2021-10-01'`);
      assert.deepEqual(past, before, 'time travel to the snapshot before shows the earlier rows');
    });
  });

  it('ingests B over HTTP: partition from updated_at when the file has it, else the ingestion day', async () => {
    const withTs = '2021-10-04';
    const withoutTs = '2021-10-18';
    const b1 = await generateSourceFile({ source: 'b', day: withTs, records: 800, malformedRate: 0.02, seed: 3, out: path.join(env.filesDir, 'source_b', sourceFileName('b', withTs)) });
    const b2 = await generateSourceFile({ source: 'b', day: withoutTs, records: 300, withTimestamp: false, seed: 4, out: path.join(env.filesDir, 'source_b', sourceFileName('b', withoutTs)) });
    const r1 = await ingest(env, 'source_b', withTs);
    const r2 = await ingest(env, 'source_b', withoutTs);
    const bad1 = Object.values(b1.malformed).reduce((a, b) => a + b, 0);
    assert.equal(r1.curated.rows + r1.curated.rejected, b1.records);
    assert.equal(r1.curated.rejected, bad1);
    assert.equal(r2.curated.rows, b2.records);
    await withSession(env.config, async (s) => {
      const mismatched = await s.rows(`SELECT * FROM lake.curated.source_b WHERE _ingest_day = DATE '${withTs}' AND "day" <> CAST(updated_at AS DATE)`);
      assert.equal(mismatched.length, 0, 'rows of a file with updated_at sit in the day of their timestamp');
      const [spread] = await s.rows<{ days: string }>(`SELECT count(DISTINCT "day") AS days FROM lake.curated.source_b WHERE _ingest_day = DATE '${withTs}'`);
      assert.ok(Number(spread?.days) > 1);
      const noTs = await s.rows<{ day: string; n: string }>(`SELECT "day", count(*) AS n FROM lake.curated.source_b WHERE _ingest_day = DATE '${withoutTs}' GROUP BY 1`);
      assert.deepEqual(noTs, [{ day: withoutTs, n: String(b2.records) }]);
    });
  });

  it('an unreadable file fails the run non-retryably and commits nothing', async () => {
    const day = '2021-11-01';
    writeFileSync(path.join(env.filesDir, 'source_b', sourceFileName('b', day)), 'this is not,the extract\n\x00\x01binary');
    const log0 = await metadataLogLength(env.config, 'curated', 'source_b');
    const err = await ingest(env, 'source_b', day).then(
      () => assert.fail('should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError);
    // ingest → child curate workflow → activity → ApplicationFailure(MalformedFile)
    let cause: unknown = err;
    const types: string[] = [];
    while (cause && typeof cause === 'object' && 'cause' in cause) {
      cause = (cause as { cause?: unknown }).cause;
      if (cause && typeof cause === 'object' && 'type' in cause) types.push(String((cause as { type?: string }).type));
    }
    assert.ok(types.includes('MalformedFile'), `failure chain types: ${types.join(' → ')}`);
    assert.equal(await metadataLogLength(env.config, 'curated', 'source_b'), log0);
  });

  /** A publish of `rows` rows of curated.source_a day `day`, as the racing writers below make them. */
  const raceSpec = (day: string, rows: number) => ({
    table: CURATED_SOURCE_A,
    source: 'race',
    ingestDay: day,
    replaceWhere: `"day" = DATE '${day}'`,
    scope: `day=${day}`,
    rowsSql: `SELECT 'e-' || i, 'c', 'r01', TIMESTAMPTZ '${day} 10:00:00+00', i * 1.0, 'EUR', 'web', 'ios', NULL, NULL, ['x'], DATE '${day}', DATE '${day}', 'k' FROM range(${rows}) t(i)`,
    lineage: { workflowId: `race:${day}`, runId: 'r', inputs: [] },
  });

  it('two writers racing on one table both end committed, the loser after a retry', async () => {
    await withSession(env.config, (s) => ensureTables(s, ALL_TABLES));
    const a = await openLakeSession(env.config);
    const b = await openLakeSession(env.config);
    try {
      const spec = (day: string) => raceSpec(day, 10);
      let releaseB!: () => void;
      const aCommitted = new Promise<void>((r) => (releaseB = r));
      // allSettled: neither session may be closed while the other publish still runs.
      const [sa, sb] = await Promise.allSettled([
        publishPartition(a, spec('2030-01-01')).finally(() => releaseB()),
        // B prepares its transaction, then commits only after A has: its first commit must lose.
        publishPartition(b, spec('2030-01-02'), { beforeCommit: async (attempt) => (attempt === 1 ? aCommitted : undefined) }),
      ]);
      if (sa.status === 'rejected') throw sa.reason;
      if (sb.status === 'rejected') throw sb.reason;
      const [ra, rb] = [sa.value, sb.value];
      assert.equal(ra.retries, 0);
      assert.ok(rb.retries >= 1, 'the second writer retried');
      const days = await a.rows<{ day: string; n: string }>(`SELECT "day", count(*) AS n FROM lake.curated.source_a WHERE "day" >= DATE '2030-01-01' GROUP BY 1 ORDER BY 1`);
      assert.deepEqual(days, [{ day: '2030-01-01', n: '10' }, { day: '2030-01-02', n: '10' }]);
    } finally {
      a.close();
      b.close();
    }
  });

  // Each publish commits three tables (data, rejected, lineage) in one catalog transaction. The
  // JDBC catalog commits them one by one: a rival commit slipping in between used to fail a
  // later table after the earlier ones had landed, and DuckDB, told the commit failed, deleted
  // the files those earlier tables now referenced.
  it('writers racing on the shared lineage table leave no table referencing a missing file', async () => {
    await withSession(env.config, (s) => ensureTables(s, ALL_TABLES));
    const writers = await Promise.all([1, 2, 3, 4].map(() => openLakeSession(env.config)));
    const days = (w: number) => [0, 1, 2, 3, 4, 5].map((k) => `2031-0${w + 1}-${String(10 + k)}`);
    try {
      const settled = await Promise.allSettled(
        writers.map(async (s, w) => {
          let retries = 0;
          for (const day of days(w)) {
            const r = await publishPartition(
              s,
              { ...raceSpec(day, 5), rejectedSql: `SELECT 'raw/race/${day}' AS raw_key, 1 AS line, 'bad' AS reason, 'x' AS record` },
              { maxAttempts: 30 },
            );
            retries += r.retries;
          }
          return retries;
        }),
      );
      for (const r of settled) if (r.status === 'rejected') throw r.reason;
      console.log(`24 racing publishes, ${settled.reduce((n, r) => n + (r.status === 'fulfilled' ? r.value : 0), 0)} redone after a lost race`);
      await withSession(env.config, async (s) => {
        for (const table of ['curated.source_a', 'rejected.records', 'lineage.commits']) {
          const files = await s.rows<{ file_path: string }>(`SELECT DISTINCT file_path FROM iceberg_metadata(lake.${table})`);
          assert.ok(files.length > 0, table);
          for (const f of files) assert.ok(existsSync(f.file_path.replace(/^file:\/\//, '')), `${table} references a missing file: ${f.file_path}`);
        }
        const [published] = await s.rows<{ n: string }>(`SELECT count(*) AS n FROM lake.lineage.commits WHERE workflow_id LIKE 'race:2031-%'`);
        assert.equal(published?.n, '24');
      });
    } finally {
      for (const s of writers) s.close();
    }
  });
});

describe('an FTP disconnect mid-download, on the MinIO lake', () => {
  let env: Env;
  after(() => stopEnv(env));

  it('is healed by the retry: the raw file is whole and curated', async () => {
    env = await startEnv({ storage: 's3', dropAfterBytes: 64 * 1024 });
    const day = '2021-10-05';
    const file = await generateSourceFile({ source: 'a', day, records: 4000, seed: 5, out: path.join(env.filesDir, 'source_a', sourceFileName('a', day)) });
    assert.ok(file.bytes > 64 * 1024);
    const result = await ingest(env, 'source_a', day);
    assert.equal(result.raw[0]?.sha256, sha256(file.path));
    assert.equal(result.curated.rows, file.records);
    const store = createLakeStore(env.config, createS3Client(env.config));
    assert.equal(store.kind, 's3');
    assert.ok((await store.head(result.raw[0]?.key ?? ''))?.size === file.bytes);
  });
});
