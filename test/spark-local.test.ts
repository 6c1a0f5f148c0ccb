/**
 * The local Spark engine on the lake: pyspark from the cache runs a job of deploy/spark/jobs
 * against the same Iceberg REST catalog as DuckDB. Spark reads what DuckDB committed (its
 * position deletes applied) and appends to a table of its own that DuckDB reads back; a job
 * that raises fails with an Error naming the Python exception; an aborted job is killed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openLakeSession } from '../lib/lake/session.ts';
import { ensureSpark, PYSPARK_VERSION } from '../lib/spark/provision.ts';
import { runSparkJob, SparkJobError, type SparkJobResult } from '../lib/spark/submit.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';

const SOURCE = 'probe.events';
const TARGET = 'probe.events_from_spark';

/** What deploy/spark/jobs/probe.py returns. */
interface ProbeResult {
  rows: number;
  ids: number[];
  sum_amount: number;
  ts_us: number[];
  days: string[];
  types: Record<string, string>;
  delete_files: number;
  target_snapshot: string;
  target_operation: string;
}

// Six rows over two days; ids 2 and 5 are deleted afterwards (a position-delete file).
const ROWS = [
  [1, 1.5, '2021-10-01 00:00:00.123456+00', '2021-10-01'],
  [2, 2.5, '2021-10-01 06:30:00+00', '2021-10-01'],
  [3, 3.25, '2021-10-01 23:59:59.999999+00', '2021-10-01'],
  [4, 4.0, '2021-10-02 00:00:00+00', '2021-10-02'],
  [5, 5.5, '2021-10-02 12:00:00+00', '2021-10-02'],
  [6, -6.75, '2021-10-02 18:45:10.5+00', '2021-10-02'],
] as const;
const KEPT = ROWS.filter(([id]) => id !== 2 && id !== 5);

function describeTiming(job: SparkJobResult<unknown>): string {
  const t = job.timing;
  return `spark ${job.sparkVersion}: JVM start ${t.jvmStartMs} ms, session ${t.sessionStartMs} ms, job ${t.jobMs} ms, total ${t.totalMs} ms`;
}

for (const storage of ['local', 's3'] as const) {
  describe(`local Spark reads and writes the lake's Iceberg tables (${storage} lake)`, () => {
    let lake: TestLake;
    let expected: { ts_us: number[] };

    before(async () => {
      lake = await startTestLake({ storage });
      await ensureSpark(lake.config);
      const session = await openLakeSession(lake.config);
      try {
        await session.run('CREATE SCHEMA lake.probe');
        await session.run('CREATE TABLE lake.probe.events (id BIGINT, amount DOUBLE, ts TIMESTAMPTZ, "day" DATE) PARTITIONED BY ("day")');
        const values = ROWS.map(([id, amount, ts, day]) => `(${id}, ${amount}, TIMESTAMPTZ '${ts}', DATE '${day}')`).join(', ');
        await session.run(`INSERT INTO lake.probe.events VALUES ${values}`);
        await session.run('DELETE FROM lake.probe.events WHERE id IN (2, 5)');
        const ts = await session.rows<{ us: string }>('SELECT CAST(epoch_us(ts) AS VARCHAR) AS us FROM lake.probe.events ORDER BY id');
        expected = { ts_us: ts.map((r) => Number(r.us)) };
      } finally {
        session.close();
      }
    });
    after(() => lake?.stop());

    it("reads DuckDB's rows with its deletes applied and appends rows DuckDB reads back", async (t) => {
      const logged: string[] = [];
      const job = await runSparkJob<ProbeResult>(lake.config, {
        script: 'probe.py',
        args: ['--source', SOURCE, '--target', TARGET],
        onProgress: (line) => logged.push(line),
      });
      t.diagnostic(describeTiming(job));
      for (const l of logged) t.diagnostic(`log: ${l}`);
      assert.equal(job.sparkVersion, PYSPARK_VERSION);
      assert.ok(job.timing.jvmStartMs > 0 && job.timing.sessionStartMs > 0 && job.timing.totalMs >= job.timing.jobMs);
      // WARN and above only: Spark's INFO lines (one per stage and task) stay out of the progress.
      assert.ok(!logged.some((l) => / INFO /.test(l)), `INFO lines reached onProgress:\n${logged.slice(0, 5).join('\n')}`);

      const r = job.result;
      assert.equal(r.delete_files, 2, 'the source has the position-delete files DuckDB wrote (one per day partition)');
      assert.equal(r.rows, KEPT.length, 'deleted rows are not read');
      assert.deepEqual(r.ids, KEPT.map(([id]) => id));
      assert.equal(r.sum_amount, KEPT.reduce((s, [, amount]) => s + amount, 0));
      assert.deepEqual(r.ts_us, expected.ts_us, 'the same instants, to the microsecond');
      assert.deepEqual(r.days, ['2021-10-01', '2021-10-02']);
      assert.deepEqual(r.types, { id: 'bigint', amount: 'double', ts: 'timestamp', day: 'date' });
      assert.equal(r.target_operation, 'append');

      const session = await openLakeSession(lake.config);
      try {
        const back = await session.rows<{ id: string; amount: number; us: string; day: string; engine: string }>(
          `SELECT id, amount, CAST(epoch_us(ts) AS VARCHAR) AS us, CAST("day" AS VARCHAR) AS "day", engine FROM lake.${TARGET} ORDER BY id`,
        );
        assert.deepEqual(
          back.map((b) => [Number(b.id), b.amount, Number(b.us), b.day, b.engine]),
          KEPT.map(([id, amount, , day], i) => [id, amount * 2, expected.ts_us[i], day, 'spark']),
        );
        const [snap] = await session.rows<{ id: string }>(
          `SELECT CAST(max_by(snapshot_id, sequence_number) AS VARCHAR) AS id FROM iceberg_snapshots(lake.${TARGET})`,
        );
        assert.equal(snap?.id, r.target_snapshot, "DuckDB reads the snapshot Spark committed");
        const [types] = await session.rows<Record<string, string>>(`SELECT typeof(ts) AS ts, typeof("day") AS "day" FROM lake.${TARGET} LIMIT 1`);
        assert.deepEqual(types, { ts: 'TIMESTAMP WITH TIME ZONE', day: 'DATE' });
      } finally {
        session.close();
      }
    });
  });
}

describe('a local Spark job that fails or is aborted', () => {
  let lake: TestLake;
  before(async () => {
    lake = await startTestLake();
    await ensureSpark(lake.config);
  });
  after(() => lake?.stop());

  it('raises: the Error names the Python exception and carries the traceback', async () => {
    await assert.rejects(
      runSparkJob(lake.config, { script: 'probe.py', args: ['--raise', 'probe failure 42'] }),
      (err: unknown) => {
        assert.ok(err instanceof SparkJobError, String(err));
        assert.equal(err.exceptionType, 'ValueError');
        assert.equal(err.exitCode, 1);
        assert.match(err.message, /^Spark job probe\.py failed \(exit 1\): ValueError: probe failure 42\n/);
        assert.match(err.message, /Traceback \(most recent call last\)[\s\S]*probe\.py[\s\S]*\nValueError: probe failure 42(\n|$)/);
        return true;
      },
    );
  });

  it('a Spark error (a table that does not exist) names its exception too', async () => {
    await assert.rejects(
      runSparkJob(lake.config, { script: 'probe.py', args: ['--source', 'probe.no_such_table', '--target', TARGET] }),
      (err: unknown) => {
        assert.ok(err instanceof SparkJobError, String(err));
        assert.equal(err.exceptionType, 'AnalysisException');
        assert.match(err.message, /AnalysisException: \[TABLE_OR_VIEW_NOT_FOUND\]/);
        return true;
      },
    );
  });

  it('aborting kills the job and its processes', async () => {
    const marker = `abort-${randomUUID()}`;
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('stop now')), 3000);
    await assert.rejects(runSparkJob(lake.config, { script: 'probe.py', args: ['--raise', marker], signal: controller.signal }), /stop now/);
    assert.ok(Date.now() - started < 15_000, 'rejected soon after the abort');
    const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
    assert.ok(!ps.includes(marker), `a process of the aborted job still runs:\n${ps.split('\n').filter((l) => l.includes(marker)).join('\n')}`);
  });
});
