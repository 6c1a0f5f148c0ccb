/**
 * What each publish recorded: the newest lineage.commits row of every (table, scope).
 *
 * One row per publish makes the lineage table many small data files, and reading them all
 * through an Iceberg scan takes seconds. Data files never change, so the rows are cached per
 * data file: after a publish only the files its commit added are read (the table's manifests
 * say which; read straight as Parquet). Should the table ever hold delete files, the whole
 * table is read through Iceberg instead, so a deleted row never lingers.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sqlString, type LakeSession } from '../lake/session.ts';
import { tablePartitions, type ManifestCache, type MetadataReader } from './iceberg-partitions.ts';

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

export interface LineageOptions {
  readonly catalogUrl: URL;
  readonly read: MetadataReader;
  readonly manifests: ManifestCache;
  /** Collects the manifests in use (for the manifest cache's pruning). */
  readonly live?: Set<string>;
  readonly cacheFile?: string;
  /** Opened only when there are data files the cache has not seen. */
  readonly openSession: () => Promise<LakeSession>;
}

/** The newest lineage row per table and scope; `filesRead`: data files read this time. */
export async function latestLineage(opts: LineageOptions): Promise<{ rows: LineageRow[]; fromCache: boolean; filesRead: number }> {
  const table = await tablePartitions({ catalogUrl: opts.catalogUrl, read: opts.read, cache: opts.manifests, table: LINEAGE_TABLE, ...(opts.live ? { live: opts.live } : {}) });
  if (!table.snapshotId) return { rows: [], fromCache: false, filesRead: 0 };
  let cached: Record<string, LineageRow[]> = {};
  if (opts.cacheFile && existsSync(opts.cacheFile)) {
    try {
      cached = JSON.parse(readFileSync(opts.cacheFile, 'utf8')) as Record<string, LineageRow[]>;
    } catch {
      cached = {};
    }
  }
  const dataFiles = table.files.filter((f) => f.content === 0).map((f) => f.path);
  if (table.files.some((f) => f.content !== 0)) {
    const session = await opts.openSession();
    try {
      const rows = (await session.rows<Record<string, unknown>>(`SELECT ${COLUMNS} FROM lake.${LINEAGE_TABLE}`)).map(toRow);
      return { rows: newest(rows), fromCache: false, filesRead: dataFiles.length };
    } finally {
      session.close();
    }
  }
  const missing = dataFiles.filter((f) => cached[f] === undefined);
  const next: Record<string, LineageRow[]> = {};
  for (const f of dataFiles) if (cached[f]) next[f] = cached[f];
  if (missing.length > 0) {
    for (const f of missing) next[f] = [];
    const session = await opts.openSession();
    try {
      for (let i = 0; i < missing.length; i += 2_000) {
        const batch = missing.slice(i, i + 2_000);
        const byPath = new Map(batch.map((f) => [readable(f), f]));
        const found = await session.rows<Record<string, unknown>>(
          `SELECT ${COLUMNS}, filename FROM read_parquet([${[...byPath.keys()].map(sqlString).join(', ')}], filename = true)`,
        );
        for (const r of found) {
          const file = byPath.get(String(r['filename']));
          if (file !== undefined) (next[file] as LineageRow[]).push(toRow(r));
        }
      }
    } finally {
      session.close();
    }
  }
  if (opts.cacheFile && (missing.length > 0 || Object.keys(cached).length !== dataFiles.length)) {
    mkdirSync(path.dirname(opts.cacheFile), { recursive: true });
    const tmp = `${opts.cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(next));
    renameSync(tmp, opts.cacheFile);
  }
  return { rows: newest(Object.values(next).flat()), fromCache: missing.length === 0, filesRead: missing.length };
}
