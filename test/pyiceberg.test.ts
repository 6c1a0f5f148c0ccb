/**
 * An engine nobody here wrote reads the curated tables: PyIceberg, through the same REST
 * catalog, sees the rows, Iceberg types and values DuckDB committed by the real curate
 * path (lib/curate/curate-day.ts, as the activity runs it, without Temporal),
 * and applies DuckDB's position-delete files after a partition is replaced.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { curateDay } from '../lib/curate/curate-day.ts';
import { rawFileOnDisk } from '../lib/curate/source-a.ts';
import type { PublishResult } from '../lib/lake/publish.ts';
import { CURATED_SOURCE_A } from '../lib/lake/tables.ts';
import { ensurePyIceberg, readWithPyIceberg, type PyIcebergReadResult } from '../lib/lake/pyiceberg.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import type { Config } from '../lib/config.ts';
import { generateSourceFile, sourceFileName, type GenerateResult } from '../simulators/files/generate.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';

const INGEST_DAY = '2021-10-04';
const CURATED_DAY = '2021-10-01';
const DAY_FILTER = `day = '${CURATED_DAY}'`;

const malformedCount = (f: GenerateResult): number => Object.values(f.malformed).reduce((a, b) => a + b, 0);

/** Curates one A file for its day exactly as the activity does, in a session of its own. */
async function curateA(config: Config, file: GenerateResult, run: string): Promise<PublishResult> {
  const session = await openLakeSession(config);
  try {
    const rawKey = `raw/source_a/day=${INGEST_DAY}/${path.basename(file.path)}`;
    return await curateDay(session, {
      def: { id: 'source_a', lagDays: 3 },
      ingestDay: INGEST_DAY,
      files: [rawFileOnDisk(file.path, rawKey)],
      lineage: { workflowId: `curate:source_a:${INGEST_DAY}:${run}`, runId: run, inputs: [{ key: rawKey, sha256: 'not-checked-here' }] },
    });
  } finally {
    session.close();
  }
}

interface DuckSummary {
  n: number;
  sumAmount: number;
  minUs: number;
  maxUs: number;
  snapshotId: string;
}

async function duckSummary(config: Config): Promise<DuckSummary> {
  const session: LakeSession = await openLakeSession(config);
  try {
    const [r] = await session.rows<{ n: string; s: number; mn: string; mx: string }>(
      `SELECT count(*) AS n, sum(amount) AS s, epoch_us(min(event_time)) AS mn, epoch_us(max(event_time)) AS mx
       FROM lake.curated.source_a WHERE "day" = DATE '${CURATED_DAY}'`,
    );
    const [snap] = await session.rows<{ id: string }>(
      'SELECT CAST(max_by(snapshot_id, sequence_number) AS VARCHAR) AS id FROM iceberg_snapshots(lake.curated.source_a)',
    );
    assert.ok(r && snap);
    return { n: Number(r.n), sumAmount: Number(r.s), minUs: Number(r.mn), maxUs: Number(r.mx), snapshotId: snap.id };
  } finally {
    session.close();
  }
}

/** The same rows and values as DuckDB: count, sum(amount) to float rounding, event_time range as UTC instants. */
function assertSameValues(py: PyIcebergReadResult, duck: DuckSummary): void {
  assert.equal(py.rows, duck.n, 'row count');
  const sum = py.sums['amount'];
  assert.ok(typeof sum === 'number');
  // Float addition in another order: equal to about 1e-12 relative, not bit for bit.
  assert.ok(Math.abs(sum - duck.sumAmount) <= 1e-9 * Math.abs(duck.sumAmount), `sum(amount): PyIceberg ${sum}, DuckDB ${duck.sumAmount}`);
  const range = py.ranges['event_time'];
  assert.ok(range?.min && range.max);
  assert.equal(range.minEpochUs, duck.minUs, 'min(event_time) in µs since the epoch');
  assert.equal(range.maxEpochUs, duck.maxUs, 'max(event_time) in µs since the epoch');
  // The ISO text is UTC and names the same instant (the data has millisecond precision).
  assert.match(range.min, /\+00:00$/);
  assert.equal(Date.parse(range.min) * 1000, duck.minUs);
  assert.equal(Date.parse(range.max) * 1000, duck.maxUs);
  assert.deepEqual(py.ranges['day'], { min: CURATED_DAY, max: CURATED_DAY, minEpochUs: null, maxEpochUs: null });
}

for (const storage of ['local', 's3'] as const) {
  describe(`PyIceberg reads the curated tables DuckDB commits (${storage} lake)`, () => {
    let lake: TestLake;
    let first: GenerateResult;
    let firstPublish: PublishResult;

    before(async () => {
      lake = await startTestLake({ storage });
      await ensurePyIceberg(lake.config);
      first = await generateSourceFile({
        source: 'a', day: INGEST_DAY, records: 2000, malformedRate: 0.01, seed: 11,
        out: path.join(lake.dir, 'files', '1', sourceFileName('a', INGEST_DAY)),
      });
      firstPublish = await curateA(lake.config, first, 'run-1');
    });
    after(() => lake?.stop());

    it('sees the same rows, Iceberg types and values as DuckDB', async () => {
      assert.ok(malformedCount(first) > 0);
      assert.equal(firstPublish.rows, first.records - malformedCount(first));
      assert.equal(firstPublish.rejected, malformedCount(first));

      const duck = await duckSummary(lake.config);
      const py = await readWithPyIceberg(lake.config, 'curated.source_a', { sample: 2 });
      assert.match(py.engine, /^pyiceberg 0\.12\.0 /);
      assert.equal(py.snapshotId, duck.snapshotId, 'both engines read the same snapshot');
      assert.equal(py.rows, firstPublish.rows);
      assertSameValues(py, duck);

      const typeOf = (name: string): string | undefined => py.schema.find((f) => f.name === name)?.type;
      assert.equal(typeOf('event_time'), 'timestamptz');
      assert.equal(typeOf('amount'), 'double');
      assert.equal(typeOf('tags'), 'list<string>');
      assert.equal(typeOf('day'), 'date');
      assert.equal(typeOf('_ingest_day'), 'date');
      assert.deepEqual(
        py.schema.map((f) => f.name),
        CURATED_SOURCE_A.columns.map(([n]) => n),
      );
      assert.match(py.partitionSpec, /identity\(\d+\)/, 'partitioned by day through the partition spec');
      assert.equal(py.sample?.length, 2);
      assert.ok(Array.isArray(py.sample?.[0]?.['tags']), 'tags read back as a list');

      // The same row filter a reader pushes down selects the same rows.
      const filtered = await readWithPyIceberg(lake.config, 'curated.source_a', { rowFilter: DAY_FILTER });
      assertSameValues(filtered, duck);
      const none = await readWithPyIceberg(lake.config, 'curated.source_a', { rowFilter: "day = '2021-09-30'" });
      assert.equal(none.rows, 0);

      // The rejected records of the same commit, each the whole raw line at its line number.
      const rejected = await readWithPyIceberg(lake.config, 'rejected.records', { sample: 10_000 });
      assert.equal(rejected.rows, malformedCount(first));
      assert.equal(rejected.schema.find((f) => f.name === 'record')?.type, 'string');
      const rawLines = readFileSync(first.path, 'utf8').split('\n');
      assert.equal(rejected.sample?.length, rejected.rows);
      for (const r of rejected.sample ?? []) {
        assert.equal(r['record'], rawLines[Number(r['line']) - 1], `rejected line ${String(r['line'])} kept whole`);
        assert.match(String(r['reason']), /not a JSON object|missing \w+|not a (number|timestamp)/);
      }
    });

    it('after the day is replaced, sees only the new rows (position deletes applied)', async () => {
      const second = await generateSourceFile({
        source: 'a', day: INGEST_DAY, records: 1200, malformedRate: 0, seed: 12,
        out: path.join(lake.dir, 'files', '2', sourceFileName('a', INGEST_DAY)),
      });
      const replaced = await curateA(lake.config, second, 'run-2');
      assert.equal(replaced.rows, second.records);

      const duck = await duckSummary(lake.config);
      assert.equal(duck.n, second.records);
      const py = await readWithPyIceberg(lake.config, 'curated.source_a', { rowFilter: DAY_FILTER });
      assert.equal(py.snapshotId, duck.snapshotId);
      assert.ok(py.deleteFiles >= 1, 'the replace left delete files for the old rows, and the count shows they were applied');
      assert.ok(py.dataFiles >= 2, 'old and new data files are both still in the snapshot');
      assertSameValues(py, duck);
      const whole = await readWithPyIceberg(lake.config, 'curated.source_a');
      assert.equal(whole.rows, second.records, 'no old row anywhere in the table');

      // Rejected records of the ingest day are replaced too: the new file had none.
      assert.equal((await readWithPyIceberg(lake.config, 'rejected.records')).rows, 0);
      assert.equal((await readWithPyIceberg(lake.config, 'lineage.commits')).rows, 2);
    });
  });
}
