/**
 * The catalog's per-table summaries (lib/catalog/summaries.ts) on a real Iceberg REST catalog
 * and lake: after each kind of commit — appends, a day replaced (DuckDB's delete + insert), a
 * day deleted — the summary brought forward from the commits since its snapshot equals a full
 * read of the metadata, and so does the lineage's newest rows; a summary of a snapshot the
 * table no longer has, or a torn summary file, is read in full and is right.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManifestCache, metadataReader, tablePartitions, type PartitionStats } from '../lib/catalog/iceberg-partitions.ts';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createMaintenanceActivities, type TableMaintenanceResult } from '../activities/maintenance.ts';
import { createKubeConfig } from '../lib/clients/kubernetes.ts';
import { latestLineage, type LineageRow } from '../lib/catalog/lineage.ts';
import { currentPartitions, SummaryCache } from '../lib/catalog/summaries.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import { createLocalStore } from '../lib/storage/index.ts';
import { ALL_TABLES, ensureTables } from '../lib/lake/tables.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';

const TABLE = 'curated.source_a';
const row = (id: string, day: string): string =>
  `('${id}', 'c1', 'r01', TIMESTAMPTZ '${day} 10:00:00+00', 1.5, 'EUR', 'web', 'ios', NULL, NULL, ['x'], DATE '${day}', DATE '${day}', 'k')`;
const lineageRow = (scope: string, run: string, at: string): string =>
  `('${TABLE}', '${scope}', DATE '2024-01-01', 'wf-${run}', '${run}', '[{"key":"raw/${run}","sha256":"${run.padEnd(8, '0')}"}]', 1, 0, TIMESTAMPTZ '${at}')`;

const sorted = (m: ReadonlyMap<string, PartitionStats>): PartitionStats[] => [...m.values()].sort((a, b) => a.partition.localeCompare(b.partition));
const byScope = (rows: readonly LineageRow[]): LineageRow[] => [...rows].sort((a, b) => a.scope.localeCompare(b.scope));

describe('catalog summaries: brought forward commit by commit, equal to a full read', () => {
  let lake: TestLake;
  let session: LakeSession;
  let summaries: SummaryCache;
  let summaryFile: string;

  const options = () => ({
    catalogUrl: lake.config.icebergCatalogUrl,
    read: metadataReader(createLocalStore(lake.config.lakeLocalRoot)),
    summaries,
    manifests: new ManifestCache(),
    live: new Set<string>(),
    fullyRead: [] as string[],
  });
  /** The table from its summary (saved and loaded again, as the next build would), and from a full read. */
  const both = async () => {
    const viaSummary = await currentPartitions(options(), TABLE);
    summaries.save();
    summaries = new SummaryCache(summaryFile);
    const full = await tablePartitions({ catalogUrl: lake.config.icebergCatalogUrl, read: options().read, cache: new ManifestCache(), table: TABLE });
    return { viaSummary, full };
  };
  const lineageBoth = async () => {
    const opts = { ...options(), openSession: () => openLakeSession(lake.config), openFileSession: () => openLakeSession(lake.config, { attach: false }) };
    const viaSummary = await latestLineage(opts);
    summaries.save();
    summaries = new SummaryCache(summaryFile);
    const full = await latestLineage({ ...opts, summaries: new SummaryCache() });
    assert.equal(full.source, 'full');
    return { viaSummary, full };
  };

  before(async () => {
    lake = await startTestLake();
    session = await openLakeSession(lake.config);
    await ensureTables(session, ALL_TABLES);
    summaryFile = path.join(lake.dir, 'summaries.json');
    summaries = new SummaryCache(summaryFile);
  });

  after(async () => {
    session?.close();
    await lake?.stop();
  });

  it('appends, a day replaced and a day deleted: the summary plus the commits since equals a full read', async () => {
    await session.run(`INSERT INTO lake.${TABLE} VALUES ${['2024-01-01', '2024-01-02', '2024-01-03'].map((d) => row(`a-${d}`, d)).join(', ')}`);
    const first = await both();
    assert.equal(first.viaSummary.source, 'full', 'no summary yet');
    assert.deepEqual(sorted(first.viaSummary.partitions), sorted(first.full.partitions));
    assert.equal(first.viaSummary.partitions.size, 3);

    const again = await both();
    assert.equal(again.viaSummary.source, 'summary', 'nothing committed since');
    assert.equal(again.viaSummary.snapshotId, first.viaSummary.snapshotId);

    // Two appends, then the publish's way of replacing a day, then a day deleted: four commits.
    await session.run(`INSERT INTO lake.${TABLE} VALUES ${row('b-1', '2024-01-04')}, ${row('b-2', '2024-01-04')}`);
    await session.run(`INSERT INTO lake.${TABLE} VALUES ${row('c-1', '2024-01-02')}`);
    await session.run('BEGIN');
    await session.run(`DELETE FROM lake.${TABLE} WHERE day = DATE '2024-01-02'`);
    await session.run(`INSERT INTO lake.${TABLE} VALUES ${row('d-1', '2024-01-02')}, ${row('d-2', '2024-01-02')}, ${row('d-3', '2024-01-02')}`);
    await session.run('COMMIT');
    await session.run(`DELETE FROM lake.${TABLE} WHERE day = DATE '2024-01-03'`);
    const later = await both();
    assert.equal(later.viaSummary.source, 'changes', 'brought forward from the commits since');
    assert.equal(later.viaSummary.snapshotId, later.full.snapshotId);
    assert.deepEqual(sorted(later.viaSummary.partitions), sorted(later.full.partitions));
    const live = (p: PartitionStats | undefined) => (p ? p.rows - p.deletedRows : 0);
    assert.deepEqual(
      ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04'].map((d) => live(later.viaSummary.partitions.get(d))),
      [1, 3, 0, 2],
      'rows each day holds now, deletes applied',
    );
    const [n] = await session.rows<{ n: string }>(`SELECT CAST(count(*) AS VARCHAR) AS n FROM lake.${TABLE}`);
    assert.equal(n?.n, '6');
  });

  it('a summary of a snapshot the table no longer has, or a torn file, is read in full', async () => {
    const current = await currentPartitions(options(), TABLE);
    summaries.setTable({ ...current, snapshotId: '1234567890123456789' });
    const lost = await both();
    assert.equal(lost.viaSummary.source, 'full');
    assert.deepEqual(sorted(lost.viaSummary.partitions), sorted(lost.full.partitions));

    writeFileSync(summaryFile, '{"tables": {"curated.source_a": {"snapshotId": ');
    summaries = new SummaryCache(summaryFile);
    const torn = await both();
    assert.equal(torn.viaSummary.source, 'full');
    assert.deepEqual(sorted(torn.viaSummary.partitions), sorted(torn.full.partitions));
  });

  it('lineage: appended publishes are read alone and give the newest row per scope, as a full read does', async () => {
    await session.run(`INSERT INTO lake.lineage.commits VALUES ${lineageRow('day=2024-01-01', 'r1', '2024-01-04 12:00:00+00')}, ${lineageRow('day=2024-01-02', 'r2', '2024-01-05 12:00:00+00')}`);
    const first = await lineageBoth();
    assert.equal(first.viaSummary.source, 'full');
    assert.deepEqual(byScope(first.viaSummary.rows), byScope(first.full.rows));

    // A re-publish of one day (newer) and a new day: two appends.
    await session.run(`INSERT INTO lake.lineage.commits VALUES ${lineageRow('day=2024-01-02', 'r3', '2024-01-06 12:00:00+00')}`);
    await session.run(`INSERT INTO lake.lineage.commits VALUES ${lineageRow('day=2024-01-03', 'r4', '2024-01-07 12:00:00+00')}`);
    const later = await lineageBoth();
    assert.equal(later.viaSummary.source, 'changes');
    assert.equal(later.viaSummary.filesRead, 2, 'only the two new files');
    assert.deepEqual(byScope(later.viaSummary.rows), byScope(later.full.rows));
    assert.deepEqual(
      byScope(later.viaSummary.rows).map((r) => [r.scope, r.runId, r.inputs[0]?.key]),
      [
        ['day=2024-01-01', 'r1', 'raw/r1'],
        ['day=2024-01-02', 'r3', 'raw/r3'],
        ['day=2024-01-03', 'r4', 'raw/r4'],
      ],
    );

    // Maintenance compacts the three files of ingest_day 2024-01-01 into one (a `replace` snapshot): the
    // summary is brought forward by reading that one file, and equals a full read.
    const maintenance = createMaintenanceActivities({ config: lake.config, spark: { config: lake.config, kube: () => createKubeConfig(lake.config), openLake: () => openLakeSession(lake.config) } });
    const [compacted] = (await new MockActivityEnvironment().run(maintenance.maintainLakeTables, { tables: ['lineage.commits'], compact: true })) as TableMaintenanceResult[];
    assert.deepEqual([compacted?.rewrittenDataFiles, compacted?.addedDataFiles], [3, 1]);
    const afterCompaction = await lineageBoth();
    assert.equal(afterCompaction.viaSummary.source, 'changes');
    assert.equal(afterCompaction.viaSummary.filesRead, 1, 'the compacted file');
    assert.deepEqual(byScope(afterCompaction.viaSummary.rows), byScope(later.full.rows));
    assert.deepEqual(byScope(afterCompaction.full.rows), byScope(later.full.rows));

    // A deleted lineage row (a delete file) cannot be brought forward: a full read, without it.
    await session.run(`DELETE FROM lake.lineage.commits WHERE run_id = 'r4'`);
    const deleted = await lineageBoth();
    assert.equal(deleted.viaSummary.source, 'full');
    assert.deepEqual(byScope(deleted.viaSummary.rows).map((r) => r.runId), ['r1', 'r3']);
    assert.equal((await lineageBoth()).viaSummary.source, 'summary');
  });
});
