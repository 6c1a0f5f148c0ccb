/**
 * The upstream tables' current snapshots, as lineage inputs of an operational publish: what it
 * read, for audit and for telling later whether an input moved. Read from the REST catalog
 * (one request per table), so both engines' publishes record the same.
 */
import type { Config } from '../config.ts';
import type { RawInput } from '../lake/publish.ts';
import { loadTableMetadata } from './iceberg-partitions.ts';

export async function upstreamSnapshots(config: Config, tables: readonly string[]): Promise<RawInput[]> {
  return Promise.all(
    tables.map(async (table) => {
      const meta = await loadTableMetadata(config.icebergCatalogUrl, table);
      const snapshot = meta?.['current-snapshot-id'];
      return { key: `iceberg:${table}`, sha256: '', ...(snapshot ? { snapshotId: String(snapshot) } : {}) };
    }),
  );
}
