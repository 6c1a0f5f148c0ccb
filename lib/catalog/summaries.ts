/**
 * What the catalog derived from each table at a snapshot — its partitions' stats, and for the
 * lineage table the newest row per (table, scope) — kept under `<data dir>/catalog/` with the
 * snapshot id it holds for. A build whose table is still at that snapshot reads nothing more
 * than the table's metadata; one a few commits later reads only what those commits wrote
 * (lib/catalog/iceberg-partitions.ts changesSince) and applies it. Anything else — no entry,
 * an expired or rolled-back snapshot — is a full read from the metadata, as if there were no
 * file: deleting it costs time, never a wrong answer.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { applyChanges, changesSince, readPartitions, tableHead, type ManifestCache, type MetadataReader, type PartitionStats } from './iceberg-partitions.ts';
import type { LineageInput, LineageRow } from './lineage.ts';

/** A table's partitions at a snapshot. */
export interface TableSummary {
  readonly table: string;
  /** undefined: the table does not exist or has no snapshot (yet). */
  readonly snapshotId?: string;
  readonly snapshotAt?: string;
  readonly spec: string;
  readonly partitions: ReadonlyMap<string, PartitionStats>;
}

/** How a build came by a table's state: its summary as it was, the summary plus the newer commits, or every manifest. */
export type SummarySource = 'summary' | 'changes' | 'full';

// On disk: tuples, not objects — tens of thousands of them parse several times faster.
type StatsTuple = [partition: string, dataFiles: number, rows: number, deletedRows: number, deleteFiles: number, bytes: number];
type RowTuple = [table: string, scope: string, ingestDay: string, workflowId: string, runId: string, inputs: [string, string][], rows: number, rejected: number, committedAt: string];

interface SavedTable {
  snapshotId: string;
  snapshotAt: string;
  spec: string;
  partitions: StatsTuple[];
}

interface Saved {
  tables: Record<string, SavedTable>;
  lineage?: { snapshotId: string; rows: RowTuple[] };
}

const toTuple = (p: PartitionStats): StatsTuple => [p.partition, p.dataFiles, p.rows, p.deletedRows, p.deleteFiles, p.bytes];
const fromTuple = ([partition, dataFiles, rows, deletedRows, deleteFiles, bytes]: StatsTuple): PartitionStats => ({ partition, dataFiles, rows, deletedRows, deleteFiles, bytes });
const rowToTuple = (r: LineageRow): RowTuple => [r.table, r.scope, r.ingestDay, r.workflowId, r.runId, r.inputs.map((i) => [i.key, i.sha256]), r.rows, r.rejected, r.committedAt];
const rowFromTuple = ([table, scope, ingestDay, workflowId, runId, inputs, rows, rejected, committedAt]: RowTuple): LineageRow => ({
  table,
  scope,
  ingestDay,
  workflowId,
  runId,
  inputs: inputs.map(([key, sha256]): LineageInput => ({ key, sha256 })),
  rows,
  rejected,
  committedAt,
});

export class SummaryCache {
  private saved: Saved = { tables: {} };
  private dirty = false;

  constructor(private readonly file?: string) {
    if (file && existsSync(file)) {
      try {
        const parsed = JSON.parse(readFileSync(file, 'utf8')) as Saved;
        if (parsed && typeof parsed.tables === 'object') this.saved = parsed;
      } catch {
        // A torn or foreign file: every table is read in full once.
      }
    }
  }

  table(name: string): (TableSummary & { snapshotId: string }) | undefined {
    const t = this.saved.tables[name];
    return t ? { table: name, snapshotId: t.snapshotId, snapshotAt: t.snapshotAt, spec: t.spec, partitions: new Map(t.partitions.map((p) => [p[0], fromTuple(p)])) } : undefined;
  }

  setTable(summary: TableSummary): void {
    if (!summary.snapshotId) {
      if (this.saved.tables[summary.table]) {
        delete this.saved.tables[summary.table];
        this.dirty = true;
      }
      return;
    }
    this.saved.tables[summary.table] = { snapshotId: summary.snapshotId, snapshotAt: summary.snapshotAt ?? '', spec: summary.spec, partitions: [...summary.partitions.values()].map(toTuple) };
    this.dirty = true;
  }

  lineage(): { snapshotId: string; rows: LineageRow[] } | undefined {
    const l = this.saved.lineage;
    return l ? { snapshotId: l.snapshotId, rows: l.rows.map(rowFromTuple) } : undefined;
  }

  setLineage(snapshotId: string, rows: readonly LineageRow[]): void {
    this.saved.lineage = { snapshotId, rows: rows.map(rowToTuple) };
    this.dirty = true;
  }

  save(): void {
    if (!this.file || !this.dirty) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.saved));
    renameSync(tmp, this.file);
    this.dirty = false;
  }
}

export interface SummaryOptions {
  readonly catalogUrl: URL;
  readonly read: MetadataReader;
  readonly summaries: SummaryCache;
  /** For full reads. */
  readonly manifests: ManifestCache;
  /** Full reads add the manifests in use and the table's location (the manifest cache's pruning). */
  readonly live: Set<string>;
  readonly fullyRead: string[];
}

/** `table`'s partitions at its current snapshot, from its summary where it can. */
export async function currentPartitions(opts: SummaryOptions, table: string): Promise<TableSummary & { source: SummarySource; manifestsRead: number }> {
  const head = await tableHead(opts.catalogUrl, table);
  const cached = opts.summaries.table(table);
  if (!head.snapshot) {
    opts.summaries.setTable({ table, spec: head.spec, partitions: new Map() });
    return { table, spec: head.spec, partitions: new Map(), source: 'full', manifestsRead: 0 };
  }
  const snapshotId = String(head.snapshot['snapshot-id']);
  const snapshotAt = new Date(head.snapshot['timestamp-ms']).toISOString();
  if (cached?.snapshotId === snapshotId && cached.spec === head.spec) return { ...cached, source: 'summary', manifestsRead: 0 };
  const changes = cached && cached.spec === head.spec ? await changesSince(opts.read, head, cached.snapshotId) : undefined;
  if (cached && changes) {
    const next = { table, snapshotId, snapshotAt, spec: head.spec, partitions: applyChanges(cached.partitions, changes) };
    opts.summaries.setTable(next);
    return { ...next, source: 'changes', manifestsRead: changes.manifestsRead };
  }
  const full = await readPartitions({ read: opts.read, cache: opts.manifests, head, live: opts.live });
  if (head.meta) opts.fullyRead.push(head.meta.location);
  opts.summaries.setTable(full);
  return { table, snapshotId, snapshotAt, spec: head.spec, partitions: full.partitions, source: 'full', manifestsRead: full.manifestsRead };
}
