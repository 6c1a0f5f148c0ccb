/**
 * A source's raw partitions from one listing of `raw/<source>/` and the files' sidecars. A
 * sidecar is written once with its file and never changed (a changed re-delivery is a new key),
 * so what one says is cached under its key: a status after new deliveries reads only their
 * sidecars. Source D's consumer rewrites its keys on a replay; there, and wherever the listing
 * gives sizes anyway (S3), a cached sidecar whose size is not the listed file's is read again.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { latestDeliveries, readSidecar, type RawSidecar, type StoredRawFile } from '../lake/raw.ts';
import type { ObjectStore } from '../storage/object-store.ts';

export interface RawPartition {
  readonly day: string;
  /** Hour partitions seen under the day (source D), ascending; empty for daily sources. */
  readonly hours: readonly number[];
  /** The newest delivery of each file name: what curated is built from. */
  readonly latest: readonly StoredRawFile[];
  /** Every landed file, re-deliveries included. */
  readonly files: number;
  readonly bytes: number;
  /** When the newest file was fetched. */
  readonly fetchedAt: string;
}

const KEY = /^raw\/[a-z0-9_]+(?:\/[a-z0-9_]+)?\/day=(\d{4}-\d{2}-\d{2})\/(?:hour=(\d{2})\/)?[^/]+$/;
const SIDECAR_SUFFIX = '.meta.json';
const CONCURRENCY = 16;

/** Sidecars already read, by key; loaded from and saved to `file`. */
export class SidecarCache {
  private readonly sidecars = new Map<string, RawSidecar>();
  private dirty = false;

  constructor(private readonly file?: string) {
    if (file && existsSync(file)) {
      try {
        for (const [k, v] of Object.entries(JSON.parse(readFileSync(file, 'utf8')) as Record<string, RawSidecar>)) this.sidecars.set(k, v);
      } catch {
        // A torn file: the sidecars are read again.
      }
    }
  }

  get(key: string): RawSidecar | undefined {
    return this.sidecars.get(key);
  }

  set(key: string, sidecar: RawSidecar): void {
    this.sidecars.set(key, sidecar);
    this.dirty = true;
  }

  save(): void {
    if (!this.file || !this.dirty) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.sidecars)));
    renameSync(tmp, this.file);
    this.dirty = false;
  }
}

const LIST_CONCURRENCY = 8;

/**
 * The keys under `raw/<source>/`. A local folder is one recursive read. On S3 a listing is
 * pages of 1,000 keys one after the other — 15 years of a daily source are a dozen round trips
 * in a row — so `years` (when given) are listed apart, `day=2019-` beside `day=2020-`, a few at
 * a time; days outside them are not listed.
 */
async function listRaw(store: ObjectStore, source: string, years: { from: number; to: number } | undefined, sized: boolean): Promise<Map<string, number | undefined>> {
  const keys = new Map<string, number | undefined>();
  const prefix = `raw/${source}/day=`;
  const listInto = async (p: string): Promise<void> => {
    if (sized) for await (const { key, size } of store.list(p)) keys.set(key, size);
    else for await (const key of store.listKeys(p)) keys.set(key, undefined);
  };
  if (!years || !store.rootUri.startsWith('s3:')) {
    await listInto(prefix);
    return keys;
  }
  const prefixes: string[] = [];
  for (let y = years.from; y <= years.to; y++) prefixes.push(`${prefix}${String(y).padStart(4, '0')}-`);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(LIST_CONCURRENCY, prefixes.length) }, async () => {
      while (next < prefixes.length) await listInto(prefixes[next++] as string);
    }),
  );
  return keys;
}

/**
 * The raw partitions of `source` (`source_a`, `source_d`, `source_c/current`…) by day; with
 * `years`, only those years' days are sure to be there (see listRaw).
 */
export async function rawPartitions(
  store: ObjectStore,
  source: string,
  cache: SidecarCache,
  opts: { years?: { from: number; to: number }; rewritten?: boolean } = {},
): Promise<Map<string, RawPartition>> {
  const keys = await listRaw(store, source, opts.years, (opts.rewritten ?? false) || store.rootUri.startsWith('s3:'));
  // A file counts once its sidecar is there: the sidecar is written last.
  const landed = [...keys.keys()].filter((k) => !k.endsWith(SIDECAR_SUFFIX) && keys.has(k + SIDECAR_SUFFIX) && KEY.test(k));
  const toRead = landed.filter((k) => {
    const cached = cache.get(k);
    const size = keys.get(k);
    return cached === undefined || (size !== undefined && size !== cached.size);
  });
  for (let i = 0; i < toRead.length; i += CONCURRENCY) {
    await Promise.all(
      toRead.slice(i, i + CONCURRENCY).map(async (k) => {
        const sidecar = await readSidecar(store, k);
        if (sidecar) cache.set(k, sidecar);
      }),
    );
  }
  const byDay = new Map<string, { hours: Set<number>; files: StoredRawFile[] }>();
  for (const key of landed) {
    const sidecar = cache.get(key);
    const m = KEY.exec(key);
    if (!sidecar || !m) continue;
    const day = m[1] as string;
    const entry = byDay.get(day) ?? { hours: new Set<number>(), files: [] };
    if (m[2] !== undefined) entry.hours.add(Number(m[2]));
    entry.files.push({ key, ...sidecar });
    byDay.set(day, entry);
  }
  const out = new Map<string, RawPartition>();
  for (const [day, { hours, files }] of byDay) {
    out.set(day, {
      day,
      hours: [...hours].sort((a, b) => a - b),
      // Hourly sources deliver distinct names per hour; a daily source's re-delivery keeps the name.
      latest: hours.size > 0 ? files : latestDeliveries(files),
      files: files.length,
      bytes: files.reduce((n, f) => n + f.size, 0),
      fetchedAt: files.reduce((t, f) => (f.fetchedAt > t ? f.fetchedAt : t), ''),
    });
  }
  return out;
}
