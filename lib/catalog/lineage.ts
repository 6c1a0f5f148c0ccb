/**
 * What each publish recorded: the newest lineage.commits row of every (table, scope).
 *
 * One row per publish makes the lineage table many small data files, tens of thousands over
 * years. The newest rows are kept with the snapshot they hold for (lib/catalog/summaries.ts):
 * while the table stays at it nothing is read; after a few appends (the publishes) only the
 * data files those commits added are read, straight as Parquet; a compaction (a `replace`
 * snapshot: the same rows in fewer files) is read the same way. Anything else — a commit that
 * deleted rows or added delete files, an expired snapshot, no summary — reads the whole table
 * through Iceberg, deletes applied, so a deleted row never lingers.
 */
import { fileURLToPath } from 'node:url';
import { sqlString, type LakeSession } from '../lake/session.ts';
import { changesSince, tableHead } from './iceberg-partitions.ts';
import type { SummaryOptions, SummarySource } from './summaries.ts';

export interface LineageInput {
  readonly key: string;
  readonly sha256: string;
}

export interface LineageRow {
  readonly table: string;
  readonly scope: string;
  readonly ingestDay: string;
  readonly workflowId: string;
  readonly runId: string;
  readonly inputs: readonly LineageInput[];
  readonly rows: number;
  readonly rejected: number;
  readonly committedAt: string;
}

const LINEAGE_TABLE = 'lineage.commits';
const FULL_READ_THREADS = 16;

const COLUMNS = `table_name, scope, CAST(ingest_day AS VARCHAR) AS ingest_day, workflow_id, run_id, inputs, "rows", rejected,
  strftime(committed_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS committed_at`;

function parseInputs(text: string): LineageInput[] {
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? value.filter((v): v is LineageInput => typeof v?.key === 'string').map((v) => ({ key: v.key, sha256: String(v.sha256 ?? '') })) : [];
  } catch {
    return [];
  }
}

const toRow = (r: Record<string, unknown>): LineageRow => ({
  table: String(r['table_name']),
  scope: String(r['scope']),
  ingestDay: String(r['ingest_day'] ?? ''),
  workflowId: String(r['workflow_id'] ?? ''),
  runId: String(r['run_id'] ?? ''),
  inputs: parseInputs(String(r['inputs'] ?? '[]')),
  rows: Number(r['rows'] ?? 0),
  rejected: Number(r['rejected'] ?? 0),
  committedAt: String(r['committed_at']),
});

/** A data file as DuckDB's read_parquet takes it: a local path, or the s3:// URL. */
const readable = (location: string): string => (location.startsWith('file:') ? fileURLToPath(location) : location.replace(/^s3a:/, 's3:'));

function newest(rows: Iterable<LineageRow>): LineageRow[] {
  const latest = new Map<string, LineageRow>();
  for (const r of rows) {
    const k = `${r.table}\u0000${r.scope}`;
    const seen = latest.get(k);
    if (!seen || r.committedAt > seen.committedAt) latest.set(k, r);
  }
  return [...latest.values()];
}

export interface LineageOptions extends SummaryOptions {
  /** A session with the lake attached, for the full read. */
  readonly openSession: () => Promise<LakeSession>;
  /** A session for reading Parquet files (need not attach the lake). */
  readonly openFileSession: () => Promise<LakeSession>;
}

async function readFiles(session: LakeSession, files: readonly string[]): Promise<LineageRow[]> {
  const rows: LineageRow[] = [];
  for (let i = 0; i < files.length; i += 2_000) {
    const batch = files.slice(i, i + 2_000).map(readable);
    rows.push(...(await session.rows<Record<string, unknown>>(`SELECT ${COLUMNS} FROM read_parquet([${batch.map(sqlString).join(', ')}])`)).map(toRow));
  }
  return rows;
}

/**
 * The newest lineage row per table and scope; `filesRead`: data files read straight as Parquet
 * (the appends since the summary; a full read goes through the Iceberg scan instead).
 */
export async function latestLineage(opts: LineageOptions): Promise<{ rows: LineageRow[]; source: SummarySource; filesRead: number }> {
  const head = await tableHead(opts.catalogUrl, LINEAGE_TABLE);
  if (!head.snapshot) return { rows: [], source: 'full', filesRead: 0 };
  const snapshotId = String(head.snapshot['snapshot-id']);
  const cached = opts.summaries.lineage();
  if (cached?.snapshotId === snapshotId) return { rows: cached.rows, source: 'summary', filesRead: 0 };
  const changes = cached ? await changesSince(opts.read, head, cached.snapshotId) : undefined;
  // Appends (the publishes) and compactions (the same rows in other files): the new rows are in
  // the added files, and a compacted row read again is one newest() already holds.
  const addsOrCompactions = changes && (changes.removed.length === 0 || changes.operations.every((op) => op === 'append' || op === 'replace'));
  if (cached && changes && addsOrCompactions && changes.added.every((f) => f.content === 0)) {
    const session = await opts.openFileSession();
    try {
      const rows = newest([...cached.rows, ...(await readFiles(session, changes.added.map((f) => f.path)))]);
      opts.summaries.setLineage(snapshotId, rows);
      return { rows, source: 'changes', filesRead: changes.added.length };
    } finally {
      session.close();
    }
  }
  // Through Iceberg, deletes applied. No manifest of this table is cached: the cache's old entries for it go.
  if (head.meta) opts.fullyRead.push(head.meta.location);
  const session = await opts.openSession();
  try {
    // Thousands of small files: on S3 each is a few round trips, so more reads in flight than cores.
    await session.run(`SET threads = ${FULL_READ_THREADS}`);
    const rows = newest((await session.rows<Record<string, unknown>>(`SELECT ${COLUMNS} FROM lake.${LINEAGE_TABLE}`)).map(toRow));
    // The scan may see a snapshot newer than the one recorded: its added rows are read again next time, and newest() keeps one per scope.
    opts.summaries.setLineage(snapshotId, rows);
    return { rows, source: 'full', filesRead: 0 };
  } finally {
    session.close();
  }
}
