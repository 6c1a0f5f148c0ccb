/**
 * A table's partitions from its Iceberg metadata alone — no data file is opened: the table's
 * metadata from the REST catalog, its current snapshot's manifest list, and the manifests
 * (Avro). Per partition: live data files, their rows, the rows that delete files remove, and
 * the bytes of both.
 *
 * Manifests are immutable (a commit writes new ones and never rewrites one), so what a manifest
 * says is cached under its path for good; a status after a commit reads only the manifests that
 * commit wrote. The cache is a plain JSON file: deleting it costs one full read, never a
 * wrong answer.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';
import avro from 'avsc';
import type { ObjectStore } from '../storage/object-store.ts';

/** Reads one metadata file of the warehouse (a file:// or s3:// location). */
export type MetadataReader = (location: string) => Promise<Buffer>;

export interface PartitionStats {
  /** The partition's value as text: `2021-10-01` for day/identity dates, `2021` for years, `2021-10` for months. */
  readonly partition: string;
  readonly dataFiles: number;
  /** Rows in the data files, before deletes. */
  readonly rows: number;
  /** Rows the partition's delete files remove (position deletes: exact; equality deletes: an upper bound). */
  readonly deletedRows: number;
  readonly deleteFiles: number;
  /** Bytes of data and delete files. */
  readonly bytes: number;
}

export interface TablePartitions {
  readonly table: string;
  /** undefined: the table does not exist (yet). */
  readonly snapshotId?: string;
  readonly snapshotAt?: string;
  /** The partition field's transform, e.g. `identity(day)`, `year(day)`. */
  readonly spec: string;
  readonly partitions: ReadonlyMap<string, PartitionStats>;
  /** The live files: data (content 0) and delete files. */
  readonly files: readonly { readonly path: string; readonly content: number }[];
  /** Manifests read from storage this time (the rest came from the cache). */
  readonly manifestsRead: number;
}

export interface ManifestFact {
  readonly path: string;
  readonly partition: string;
  readonly content: number;
  readonly records: number;
  readonly bytes: number;
}

/**
 * The facts of each manifest already read, by its path; loaded from `file` on first use (a
 * build whose tables all match their summaries never needs it) and saved back.
 */
export class ManifestCache {
  private facts: Map<string, ManifestFact[]> | undefined;
  private dirty = false;

  constructor(private readonly file?: string) {}

  private loaded(): Map<string, ManifestFact[]> {
    if (this.facts) return this.facts;
    this.facts = new Map();
    if (this.file && existsSync(this.file)) {
      try {
        const saved = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, ManifestFact[]>;
        for (const [k, v] of Object.entries(saved)) this.facts.set(k, v);
      } catch {
        // A torn or foreign file: start over, the manifests say it all again.
      }
    }
    return this.facts;
  }

  get(manifest: string): ManifestFact[] | undefined {
    return this.loaded().get(manifest);
  }

  set(manifest: string, facts: ManifestFact[]): void {
    this.loaded().set(manifest, facts);
    this.dirty = true;
  }

  /**
   * Forgets the manifests of the tables under `locations` that are not `live` (old snapshots
   * expire), then writes the file if anything changed.
   */
  save(live: ReadonlySet<string>, locations: readonly string[]): void {
    if (!this.facts) return;
    for (const k of this.facts.keys()) {
      if (!live.has(k) && locations.some((l) => k.startsWith(`${l}/`))) {
        this.facts.delete(k);
        this.dirty = true;
      }
    }
    if (!this.file || !this.dirty) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.facts)));
    renameSync(tmp, this.file);
    this.dirty = false;
  }
}

/** Reads warehouse metadata through the lake's store (S3) or the file system (local). */
export function metadataReader(store: ObjectStore): MetadataReader {
  return async (location) => {
    if (location.startsWith('file:')) return readFile(fileURLToPath(location));
    const root = store.rootUri.replace(/\/$/, '');
    const normalized = location.replace(/^s3a:/, 's3:');
    if (!normalized.startsWith(`${root}/`)) throw new Error(`${location} is outside the lake store (${root})`);
    const chunks: Buffer[] = [];
    for await (const chunk of await store.get(normalized.slice(root.length + 1))) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
}

const BIG_LONG = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n);
    return buf;
  },
  fromJSON: (n: number | string) => BigInt(n),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/** `{"type": "long"}` → `"long"` throughout: avsc applies a registry's type to names only. */
function primitivesByName(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(primitivesByName);
  if (schema === null || typeof schema !== 'object') return schema;
  const o = schema as Record<string, unknown>;
  if (typeof o['type'] === 'string' && Object.keys(o).length === 1) return o['type'];
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, k === 'type' || k === 'items' || k === 'values' || k === 'fields' ? primitivesByName(v) : v]));
}

/** Avro object container file → its records (null and deflate codecs: DuckDB's and Java's). */
function decodeAvro(bytes: Buffer): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const records: Record<string, unknown>[] = [];
    const decoder = new avro.streams.BlockDecoder({
      codecs: { null: (b: Buffer, cb: (e: Error | null, r?: Buffer) => void) => cb(null, b), deflate: (b: Buffer, cb: (e: Error | null, r?: Buffer) => void) => {
        try {
          cb(null, inflateRawSync(b));
        } catch (err) {
          cb(err as Error);
        }
      } },
      // Snapshot ids are longs past 2^53: every long as a BigInt (counts and sizes are converted).
      parseHook: (schema) => avro.Type.forSchema(primitivesByName(schema) as avro.Schema, { wrapUnions: false, registry: { long: BIG_LONG } }),
    });
    decoder.on('data', (r: Record<string, unknown>) => records.push(r));
    decoder.on('end', () => resolve(records));
    decoder.on('error', reject);
    decoder.end(bytes);
  });
}

interface Snapshot {
  'snapshot-id': string;
  'parent-snapshot-id'?: string;
  'timestamp-ms': number;
  'manifest-list': string;
  /** `operation`: append, replace (a compaction: same rows, other files), overwrite, delete. */
  summary?: { operation?: string };
}

export interface TableMetadata {
  location: string;
  'current-snapshot-id'?: string | null;
  snapshots?: Snapshot[];
  'default-spec-id': number;
  'partition-specs': { 'spec-id': number; fields: { name: string; transform: string; 'source-id': number }[] }[];
  schemas: { 'schema-id': number; fields: { id: number; name: string }[] }[];
}

/** The table's metadata from the REST catalog; undefined when the table does not exist. */
export async function loadTableMetadata(catalogUrl: URL, table: string): Promise<TableMetadata | undefined> {
  const [namespace, name] = table.split('.');
  const url = new URL(`v1/namespaces/${encodeURIComponent(namespace ?? '')}/tables/${encodeURIComponent(name ?? '')}`, `${catalogUrl.toString().replace(/\/$/, '')}/`);
  // The snapshot list only: the catalog need not send every snapshot's refs.
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`the catalog answered ${res.status} for ${table}: ${(await res.text()).slice(0, 300)}`);
  // Snapshot ids are longs past 2^53: read as text before JSON.parse rounds them.
  const text = (await res.text()).replace(/("(?:current-snapshot-id|snapshot-id|parent-snapshot-id)"\s*:\s*)(-?\d+)/g, '$1"$2"');
  return (JSON.parse(text) as { metadata: TableMetadata }).metadata;
}

const EPOCH_DAY = Date.UTC(1970, 0, 1);

/** A partition value as text, by its transform. */
function partitionText(transform: string, value: unknown): string {
  if (value === null || value === undefined) return 'null';
  const n = Number(value);
  const numeric = typeof value === 'number' || typeof value === 'bigint';
  switch (transform) {
    case 'day':
    case 'identity':
      // A DATE (or days()) is days since the epoch; other identity values print as they are.
      return numeric ? new Date(EPOCH_DAY + n * 86_400_000).toISOString().slice(0, 10) : String(value);
    case 'month':
      return `${1970 + Math.floor(n / 12)}-${String((n % 12) + 1).padStart(2, '0')}`;
    case 'year':
      return String(1970 + n);
    default:
      return String(value);
  }
}

interface PartitionField {
  readonly name: string;
  readonly transform: string;
}

interface ManifestEntry {
  readonly status: number;
  /** The snapshot that added or deleted the file (inherited from the manifest when null). */
  readonly snapshotId: string;
  readonly fact: ManifestFact;
}

async function manifestEntries(read: MetadataReader, manifest: string, field: PartitionField | undefined, addedBy: string): Promise<ManifestEntry[]> {
  const entries = await decodeAvro(await read(manifest));
  return entries.map((e) => {
    const file = e['data_file'] as { content?: number; file_path: string; partition?: Record<string, unknown>; record_count: bigint; file_size_in_bytes: bigint };
    const value = field ? file.partition?.[field.name] : undefined;
    const snapshot = e['snapshot_id'];
    return {
      status: Number(e['status']),
      snapshotId: snapshot === null || snapshot === undefined ? addedBy : String(snapshot),
      fact: {
        path: file.file_path,
        partition: field ? partitionText(field.transform, value) : '',
        content: file.content ?? 0,
        records: Number(file.record_count),
        bytes: Number(file.file_size_in_bytes),
      },
    };
  });
}

/** A table's current state in its catalog: metadata, current snapshot, partition field. */
export interface TableHead {
  readonly table: string;
  readonly meta?: TableMetadata;
  readonly snapshot?: Snapshot;
  readonly field?: PartitionField;
  /** The partition field's transform, e.g. `identity(day)`, `year(day)`. */
  readonly spec: string;
}

export async function tableHead(catalogUrl: URL, table: string): Promise<TableHead> {
  const meta = await loadTableMetadata(catalogUrl, table);
  const spec = meta?.['partition-specs'].find((s) => s['spec-id'] === meta['default-spec-id']);
  const fields = spec?.fields ?? [];
  // One partition field (every lake table has at most one); its name in the manifests' partition record.
  const field = fields[0] ? { name: fields[0].name, transform: fields[0].transform } : undefined;
  const schemaNames = new Map((meta?.schemas ?? []).flatMap((s) => s.fields.map((f) => [f.id, f.name] as const)));
  const specText = fields[0] ? `${fields[0].transform}(${schemaNames.get(fields[0]['source-id']) ?? '?'})` : 'unpartitioned';
  const current = meta?.['current-snapshot-id'];
  const snapshot = current === null || current === undefined ? undefined : meta?.snapshots?.find((s) => String(s['snapshot-id']) === String(current));
  return { table, ...(meta ? { meta } : {}), ...(snapshot ? { snapshot } : {}), ...(field ? { field } : {}), spec: specText };
}

function addStats(partitions: Map<string, PartitionStats>, f: ManifestFact, sign: 1 | -1): void {
  const p = partitions.get(f.partition) ?? { partition: f.partition, dataFiles: 0, rows: 0, deletedRows: 0, deleteFiles: 0, bytes: 0 };
  const next =
    f.content === 0
      ? { ...p, dataFiles: p.dataFiles + sign, rows: p.rows + sign * f.records, bytes: p.bytes + sign * f.bytes }
      : { ...p, deleteFiles: p.deleteFiles + sign, deletedRows: p.deletedRows + sign * f.records, bytes: p.bytes + sign * f.bytes };
  // A partition whose every file left is gone, as a full read would not list it.
  if (next.dataFiles === 0 && next.deleteFiles === 0) partitions.delete(f.partition);
  else partitions.set(f.partition, next);
}

/** Every live file of the table's current snapshot, its manifests read through the cache. */
export async function readPartitions(opts: { read: MetadataReader; cache: ManifestCache; head: TableHead; live?: Set<string> }): Promise<TablePartitions> {
  const { head } = opts;
  const partitions = new Map<string, PartitionStats>();
  if (!head.snapshot) return { table: head.table, spec: head.spec, partitions, files: [], manifestsRead: 0 };
  let manifestsRead = 0;
  const list = await decodeAvro(await opts.read(head.snapshot['manifest-list']));
  const facts = await Promise.all(
    list.map(async (m) => {
      const manifest = String(m['manifest_path']);
      opts.live?.add(manifest);
      const cached = opts.cache.get(manifest);
      if (cached) return cached;
      manifestsRead++;
      // 2 = DELETED: the file left the table in this manifest's snapshot.
      const entries = await manifestEntries(opts.read, manifest, head.field, String(m['added_snapshot_id']));
      const live = entries.filter((e) => e.status !== 2).map((e) => e.fact);
      opts.cache.set(manifest, live);
      return live;
    }),
  );
  const all = facts.flat();
  for (const f of all) addStats(partitions, f, 1);
  return {
    table: head.table,
    snapshotId: String(head.snapshot['snapshot-id']),
    snapshotAt: new Date(head.snapshot['timestamp-ms']).toISOString(),
    spec: head.spec,
    partitions,
    files: all.map((f) => ({ path: f.path, content: f.content })),
    manifestsRead,
  };
}

/** The partitions of `table` (`namespace.name`) at its current snapshot. */
export async function tablePartitions(opts: { catalogUrl: URL; read: MetadataReader; cache: ManifestCache; table: string; live?: Set<string> }): Promise<TablePartitions> {
  return readPartitions({ ...opts, head: await tableHead(opts.catalogUrl, opts.table) });
}

/** What the snapshots after a known one added and removed. */
export interface SnapshotChanges {
  readonly added: readonly ManifestFact[];
  readonly removed: readonly ManifestFact[];
  /** Snapshots after the known one, and the manifests they wrote (read now). */
  readonly snapshots: number;
  /** Each of those snapshots' operation (`append`, `replace`…; `unknown` when not recorded). */
  readonly operations: readonly string[];
  readonly manifestsRead: number;
}

/**
 * The files the snapshots after `since` added and removed, up to the current one — or
 * undefined when `since` is not an ancestor of it (expired, rolled back) or more than
 * `maxSnapshots` lie between: a full read is the way then. Each snapshot's own manifest list
 * names the manifests it wrote, and their ADDED/DELETED entries of that snapshot are exactly
 * its changes (a later snapshot may rewrite a manifest, carrying those files as EXISTING, so
 * the current list alone would not say which files came since).
 */
export async function changesSince(read: MetadataReader, head: TableHead, since: string, maxSnapshots = 64): Promise<SnapshotChanges | undefined> {
  if (!head.snapshot) return undefined;
  const byId = new Map((head.meta?.snapshots ?? []).map((s) => [String(s['snapshot-id']), s]));
  const chain: Snapshot[] = [];
  let s: Snapshot | undefined = head.snapshot;
  while (String(s['snapshot-id']) !== since) {
    chain.push(s);
    const parent: string | undefined = s['parent-snapshot-id'];
    if (chain.length > maxSnapshots || parent === undefined) return undefined;
    s = byId.get(String(parent));
    if (!s) return undefined;
  }
  const added: ManifestFact[] = [];
  const removed: ManifestFact[] = [];
  let manifestsRead = 0;
  await Promise.all(
    chain.map(async (snap) => {
      const id = String(snap['snapshot-id']);
      const list = await decodeAvro(await read(snap['manifest-list']));
      const own = list.filter((m) => String(m['added_snapshot_id']) === id);
      manifestsRead += own.length;
      for (const entries of await Promise.all(own.map((m) => manifestEntries(read, String(m['manifest_path']), head.field, id)))) {
        for (const e of entries) {
          if (e.snapshotId !== id) continue;
          if (e.status === 1) added.push(e.fact);
          else if (e.status === 2) removed.push(e.fact);
        }
      }
    }),
  );
  return { added, removed, snapshots: chain.length, operations: chain.map((snap) => snap.summary?.operation ?? 'unknown'), manifestsRead };
}

/** `partitions` with `changes` applied (a new map). */
export function applyChanges(partitions: ReadonlyMap<string, PartitionStats>, changes: SnapshotChanges): Map<string, PartitionStats> {
  const out = new Map(partitions);
  for (const f of changes.removed) addStats(out, f, -1);
  for (const f of changes.added) addStats(out, f, 1);
  return out;
}
