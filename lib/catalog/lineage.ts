/**
 * What each publish recorded: the newest lineage.commits row of every (table, scope). The
 * lineage table is small (one row per publish) but reading it means a DuckDB session; the rows
 * are cached with the table's snapshot id and read again only when it has moved.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LakeSession } from '../lake/session.ts';
import { loadTableMetadata } from './iceberg-partitions.ts';

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

interface Saved {
  readonly snapshotId: string;
  readonly rows: LineageRow[];
}

const LINEAGE_TABLE = 'lineage.commits';

function parseInputs(text: string): LineageInput[] {
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? value.filter((v): v is LineageInput => typeof v?.key === 'string').map((v) => ({ key: v.key, sha256: String(v.sha256 ?? '') })) : [];
  } catch {
    return [];
  }
}

/**
 * The newest lineage row per table and scope. `openSession` is called only when the cache
 * (`cacheFile`) is missing or older than the lineage table's current snapshot.
 */
export async function latestLineage(opts: { catalogUrl: URL; cacheFile?: string; openSession: () => Promise<LakeSession> }): Promise<{ rows: LineageRow[]; fromCache: boolean }> {
  const meta = await loadTableMetadata(opts.catalogUrl, LINEAGE_TABLE);
  const snapshotId = meta?.['current-snapshot-id'];
  if (!meta || snapshotId === null || snapshotId === undefined) return { rows: [], fromCache: false };
  if (opts.cacheFile && existsSync(opts.cacheFile)) {
    try {
      const saved = JSON.parse(readFileSync(opts.cacheFile, 'utf8')) as Saved;
      if (saved.snapshotId === String(snapshotId)) return { rows: saved.rows, fromCache: true };
    } catch {
      // read again below
    }
  }
  const session = await opts.openSession();
  let rows: LineageRow[];
  try {
    const found = await session.rows<Record<string, unknown>>(
      `SELECT table_name, scope, CAST(ingest_day AS VARCHAR) AS ingest_day, workflow_id, run_id, inputs, "rows", rejected,
          strftime(committed_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS committed_at
        FROM lake.${LINEAGE_TABLE}
        QUALIFY row_number() OVER (PARTITION BY table_name, scope ORDER BY committed_at DESC) = 1`,
    );
    rows = found.map((r) => ({
      table: String(r['table_name']),
      scope: String(r['scope']),
      ingestDay: String(r['ingest_day'] ?? ''),
      workflowId: String(r['workflow_id'] ?? ''),
      runId: String(r['run_id'] ?? ''),
      inputs: parseInputs(String(r['inputs'] ?? '[]')),
      rows: Number(r['rows'] ?? 0),
      rejected: Number(r['rejected'] ?? 0),
      committedAt: String(r['committed_at']),
    }));
  } finally {
    session.close();
  }
  if (opts.cacheFile) {
    mkdirSync(path.dirname(opts.cacheFile), { recursive: true });
    const tmp = `${opts.cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ snapshotId: String(snapshotId), rows } satisfies Saved));
    renameSync(tmp, opts.cacheFile);
  }
  return { rows, fromCache: false };
}
