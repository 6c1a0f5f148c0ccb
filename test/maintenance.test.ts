/**
 * Table maintenance on the real REST catalog: a scratch table with a dozen snapshots and
 * planted orphans, maintained through the activity (which runs the Java tool), checked
 * from outside with DuckDB and the file system.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createKubeConfig } from '../lib/clients/kubernetes.ts';
import { createMaintenanceActivities, type MaintainLakeTablesInput, type TableMaintenanceResult } from '../activities/maintenance.ts';
import type { Config } from '../lib/config.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';

// A catalog of the test's own, so expiring and orphan removal touch nothing else.
let lake: TestLake | undefined;
let config: Config;
const HOUR = 3_600_000;

/** Every file under a folder (dot files included), relative paths sorted. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(path.join(dir, f)).isFile()).sort();
}

function setAge(file: string, ageMs: number): void {
  const t = new Date(Date.now() - ageMs);
  utimesSync(file, t, t);
}

/** Local path of a location in table metadata: file:///x, file:/x or /x. */
function localPath(location: string): string {
  return location.startsWith('file:') ? fileURLToPath(location.replace(/^file:\/*/, 'file:///')) : location;
}

describe('lake maintenance: snapshot expiration and orphan removal', () => {
  const ns = `maint_test_${randomBytes(4).toString('hex')}`;
  const table = `${ns}.t`;
  const sqlTable = `lake.${table}`;
  let activities: ReturnType<typeof createMaintenanceActivities>;
  let session: LakeSession;
  let tableDir = '';

  // Expiration and orphans are checked on their own here; compaction has a test of its own below.
  const maintain = (input: MaintainLakeTablesInput): Promise<TableMaintenanceResult[]> =>
    new MockActivityEnvironment().run(activities.maintainLakeTables, { compact: false, ...input });

  const catalogRequest = (method: string, route: string, body?: unknown): Promise<Response> =>
    fetch(new URL(route, `${config.icebergCatalogUrl.toString().replace(/\/$/, '')}/`), {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  const totals = async (s: LakeSession): Promise<{ n: string; total: string }> => {
    const [row] = await s.rows<{ n: string; total: string }>(`SELECT count(*) AS n, CAST(sum(v) AS VARCHAR) AS total FROM ${sqlTable}`);
    assert.ok(row);
    return row;
  };
  const snapshotCount = async (s: LakeSession): Promise<number> => {
    const [row] = await s.rows<{ n: string }>(`SELECT count(*) AS n FROM iceberg_snapshots(${sqlTable})`);
    return Number(row?.n);
  };

  before(async () => {
    lake = await startTestLake();
    config = lake.config;
    activities = createMaintenanceActivities({ config, spark: { config, kube: () => createKubeConfig(config), openLake: () => openLakeSession(config) } });
    session = await openLakeSession(config);
    await session.run(`CREATE SCHEMA lake.${ns}`);
    await session.run(`CREATE TABLE ${sqlTable} (id BIGINT, v DOUBLE, "day" DATE) PARTITIONED BY ("day")`);
    const insert = (day: string, from: number, n: number): string =>
      `INSERT INTO ${sqlTable} SELECT i, i * 1.5, DATE '${day}' FROM range(${from}, ${from + n}) r(i)`;
    const replace = async (day: string, from: number, n: number): Promise<void> => {
      await session.run('BEGIN');
      await session.run(`DELETE FROM ${sqlTable} WHERE "day" = DATE '${day}'`);
      await session.run(insert(day, from, n));
      await session.run('COMMIT');
    };
    // Six commits the way publishing makes them: appends and delete+insert replaces.
    await session.run(insert('2021-10-01', 0, 100));
    await session.run(insert('2021-10-02', 100, 100));
    await replace('2021-10-01', 1000, 80);
    await session.run(insert('2021-10-03', 200, 50));
    await replace('2021-10-02', 2000, 120);
    await replace('2021-10-01', 3000, 90);

    const res = await catalogRequest('GET', `v1/namespaces/${ns}/tables/t`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { metadata: { location: string } };
    tableDir = localPath(body.metadata.location);
    assert.ok(existsSync(path.join(tableDir, 'data')), tableDir);
  });

  after(async () => {
    try {
      await catalogRequest('DELETE', `v1/namespaces/${ns}%1Ft/tables/x`);
      await catalogRequest('DELETE', `v1/namespaces/${ns}%1Ft`);
      await session?.run(`DROP TABLE IF EXISTS ${sqlTable}`);
      await session?.run(`DROP SCHEMA IF EXISTS lake.${ns}`);
    } finally {
      session?.close();
      // The catalog drops the entry; files left behind by a non-purging drop go too.
      if (tableDir && path.basename(path.dirname(tableDir)) === ns) rmSync(path.dirname(tableDir), { recursive: true, force: true });
      await lake?.stop();
    }
  });

  it('expires down to retainLast, deletes old orphans only, and the table reads the same', async () => {
    const rowsBefore = await totals(session);
    const snapshotsBefore = await snapshotCount(session);
    assert.ok(snapshotsBefore >= 6, `${snapshotsBefore} snapshots`);

    // Every real file looks two days old: only reachability can save it.
    for (const f of filesUnder(tableDir)) setAge(path.join(tableDir, f), 48 * HOUR);
    const oldOrphans = [path.join(tableDir, 'data', 'day=2021-10-01', 'crashed-writer.parquet'), path.join(tableDir, 'metadata', 'crashed-commit.avro')];
    const recentOrphan = path.join(tableDir, 'data', 'day=2021-10-02', 'in-flight.parquet');
    for (const f of oldOrphans) {
      mkdirSync(path.dirname(f), { recursive: true });
      writeFileSync(f, 'not referenced by any snapshot\n');
      setAge(f, 48 * HOUR);
    }
    writeFileSync(recentOrphan, 'being written by a commit in progress\n');
    const orphanBytes = oldOrphans.reduce((sum, f) => sum + statSync(f).size, 0);
    const cutoffs = { tables: [table], retainLast: 2, expireOlderThanHours: 0, orphansOlderThanHours: 24 };

    // Dry run: reports, touches nothing.
    const filesBefore = filesUnder(tableDir);
    const [dry, ...dryRest] = await maintain({ ...cutoffs, dryRun: true });
    assert.deepEqual(dryRest, []);
    assert.ok(dry);
    assert.equal(dry.table, table);
    assert.equal(dry.dryRun, true);
    assert.equal(dry.snapshotsBefore, snapshotsBefore);
    assert.equal(dry.snapshotsAfter, 2);
    assert.ok(dry.expiredFilesDeleted > 0);
    assert.equal(dry.orphanFilesDeleted, 2);
    assert.equal(dry.orphanBytesDeleted, orphanBytes);
    assert.deepEqual(filesUnder(tableDir), filesBefore);
    assert.equal(await snapshotCount(session), snapshotsBefore);

    const t0 = Date.now();
    const [result, ...rest] = await maintain(cutoffs);
    console.log(`maintenance of one table took ${Date.now() - t0} ms: ${JSON.stringify(result)}`);
    assert.deepEqual(rest, []);
    assert.deepEqual(result, {
      table,
      snapshotsBefore,
      snapshotsAfter: 2,
      expiredFilesDeleted: dry.expiredFilesDeleted,
      orphanFilesDeleted: 2,
      orphanBytesDeleted: orphanBytes,
      dryRun: false,
      rewrittenDataFiles: 0,
      addedDataFiles: 0,
      rewrittenBytes: 0,
    });
    for (const f of oldOrphans) assert.equal(existsSync(f), false, `${f} should be deleted`);
    assert.equal(existsSync(recentOrphan), true, 'an orphan younger than the cutoff stays');

    // A fresh DuckDB sees the same rows, two snapshots, and every file it references exists.
    const reader = await openLakeSession(config);
    try {
      assert.deepEqual(await totals(reader), rowsBefore);
      assert.equal(await snapshotCount(reader), 2);
      const referenced = await reader.rows<{ manifest_path: string; file_path: string }>(`SELECT manifest_path, file_path FROM iceberg_metadata(${sqlTable})`);
      assert.ok(referenced.length > 0);
      for (const r of referenced) {
        assert.ok(existsSync(localPath(r.file_path)), `referenced data/delete file missing: ${r.file_path}`);
        assert.ok(existsSync(localPath(r.manifest_path)), `referenced manifest missing: ${r.manifest_path}`);
      }
    } finally {
      reader.close();
    }

    // A second run has nothing left to do (and the in-flight file is still too young).
    const [again] = await maintain(cutoffs);
    assert.deepEqual(
      again && [again.snapshotsAfter, again.expiredFilesDeleted, again.orphanFilesDeleted],
      [2, 0, 0],
    );
  });

  // Upstream's REST adapter (our CatalogServer) turns a /v1/transactions/commit that loses the
  // metadata race into a no-op answered 200, so DuckDB commits racing any other commit vanish.
  it('keeps every committed row when writers commit while it runs', async () => {
    const rowsBefore = Number((await totals(session)).n);
    const writer = await openLakeSession(config);
    let inserted = 0;
    try {
      let done = false;
      const run = maintain({ tables: [table], retainLast: 1, expireOlderThanHours: 0, orphansOlderThanHours: 24 }).finally(() => {
        done = true;
      });
      for (let i = 0; !done || i < 3; i++) {
        try {
          await writer.run(`INSERT INTO ${sqlTable} SELECT i, 1, DATE '2021-10-04' FROM range(${10_000 + i * 10}, ${10_000 + i * 10 + 10}) r(i)`);
          inserted += 10;
        } catch (err) {
          // A conflict must fail loudly (the activity retries it); only a silent loss is a bug.
          assert.match(String(err), /Failed to commit/);
        }
      }
      const [result] = await run;
      console.log(`${inserted / 10} commits landed while maintenance ran: ${JSON.stringify(result)}`);
      assert.ok(result && result.snapshotsAfter >= 1);
    } finally {
      writer.close();
    }
    const reader = await openLakeSession(config);
    try {
      assert.equal(Number((await totals(reader)).n), rowsBefore + inserted);
      for (const r of await reader.rows<{ file_path: string }>(`SELECT file_path FROM iceberg_metadata(${sqlTable})`)) {
        assert.ok(existsSync(localPath(r.file_path)), `referenced file missing: ${r.file_path}`);
      }
    } finally {
      reader.close();
    }
  });

  it('leaves alone the tables of a namespace nested inside the table\'s folder', async () => {
    // JdbcCatalog puts table x of namespace <ns>.t at warehouse/<ns>/t/x: inside table t's location.
    const nested = await catalogRequest('POST', 'v1/namespaces', { namespace: [ns, 't'] });
    assert.equal(nested.status, 200, await nested.text());
    const created = await catalogRequest('POST', `v1/namespaces/${ns}%1Ft/tables`, {
      name: 'x',
      schema: { type: 'struct', 'schema-id': 0, fields: [{ id: 1, name: 'id', required: false, type: 'long' }] },
    });
    const createdBody = await created.text();
    assert.equal(created.status, 200, createdBody);
    const nestedMetadata = localPath((JSON.parse(createdBody) as { 'metadata-location': string })['metadata-location']);
    assert.ok(nestedMetadata.startsWith(`${tableDir}/`), nestedMetadata);
    for (const f of filesUnder(tableDir)) setAge(path.join(tableDir, f), 48 * HOUR);

    const rowsBefore = await totals(session);
    // (Orphans of inserts that lost a commit race above may go; the nested table must not.)
    const [result] = await maintain({ tables: [table], retainLast: 1, expireOlderThanHours: 0, orphansOlderThanHours: 24 });
    assert.equal(result?.snapshotsAfter, 1);
    assert.ok(existsSync(nestedMetadata), 'the nested table\'s metadata must survive');
    const reader = await openLakeSession(config);
    try {
      assert.deepEqual(await totals(reader), rowsBefore);
    } finally {
      reader.close();
    }
  });

  it('compacts each partition\'s small files into one, rows unchanged, and leaves files with deletes alone', async () => {
    const small = `lake.${ns}.small`;
    await session.run(`CREATE TABLE ${small} (id BIGINT, v DOUBLE, "day" DATE) PARTITIONED BY ("day")`);
    // One file per commit, as one lineage row per publish makes them: three commits on each of two days.
    for (let i = 0; i < 6; i++) {
      await session.run(`INSERT INTO ${small} SELECT r, r * 0.5, DATE '2021-11-0${1 + (i % 2)}' FROM range(${i * 10}, ${i * 10 + 10}) t(r)`);
    }
    // A third day replaced: its new file sits beside a delete file, left for Spark's rewrite.
    await session.run(`INSERT INTO ${small} SELECT r, 1, DATE '2021-11-03' FROM range(100, 105) t(r)`);
    await session.run(`DELETE FROM ${small} WHERE id = 100`);
    const content = async () => {
      const [r] = await session.rows<{ n: string; h: string }>(`SELECT CAST(count(*) AS VARCHAR) AS n, CAST(sum(hash(id, v, "day")) AS VARCHAR) AS h FROM ${small}`);
      return r;
    };
    const dataFiles = async () =>
      (await session.rows<{ f: string }>(`SELECT file_path AS f FROM iceberg_metadata(${small}) WHERE manifest_content = 'DATA' AND status <> 'DELETED'`)).length;
    const before = await content();
    assert.equal(before?.n, '64');
    const filesBefore = await dataFiles();

    const opts = { tables: [`${ns}.small`], compact: true, retainLast: 10, expireOlderThanHours: 168, orphansOlderThanHours: 24 };
    const [dry] = await maintain({ ...opts, dryRun: true });
    assert.deepEqual([dry?.rewrittenDataFiles, dry?.addedDataFiles], [6, 2], 'dry run: 6 files would become 2');
    assert.equal(await dataFiles(), filesBefore, 'the dry run changed nothing');

    const [result] = await maintain(opts);
    console.log(`compaction: ${JSON.stringify(result)}`);
    assert.deepEqual([result?.rewrittenDataFiles, result?.addedDataFiles, result?.rewriteSkipped], [6, 2, undefined]);
    assert.ok((result?.rewrittenBytes ?? 0) > 0);
    const reader = await openLakeSession(config);
    try {
      // A fresh reader sees the same rows, through fewer files; every referenced file exists.
      const [after] = await reader.rows<{ n: string; h: string }>(`SELECT CAST(count(*) AS VARCHAR) AS n, CAST(sum(hash(id, v, "day")) AS VARCHAR) AS h FROM ${small}`);
      assert.deepEqual(after, before);
      const live = await reader.rows<{ f: string }>(`SELECT file_path AS f FROM iceberg_metadata(${small}) WHERE manifest_content = 'DATA' AND status <> 'DELETED'`);
      assert.equal(live.length, filesBefore - 4);
      for (const r of live) assert.ok(existsSync(localPath(r.f)), r.f);
    } finally {
      reader.close();
    }
    // Nothing left to compact.
    const [again] = await maintain(opts);
    assert.deepEqual([again?.rewrittenDataFiles, again?.addedDataFiles], [0, 0]);
    await session.run(`DROP TABLE ${small}`);
  });

  it('fails with the tool\'s stderr when a table does not exist', async () => {
    await assert.rejects(maintain({ tables: [`${ns}.no_such_table`] }), /MaintainTables exited with 1[\s\S]*NoSuchTable/);
  });

  it('rejects an orphan cutoff so recent that files of running commits would go', async () => {
    await assert.rejects(maintain({ tables: [table], orphansOlderThanHours: 0.1 }), (err: unknown) => {
      assert.equal((err as { type?: string }).type, 'InvalidMaintenanceInput');
      return true;
    });
  });
});
