/**
 * Case 1's data (serving.regions and serving.region_summary) cached in the API process as
 * ready-to-send JSON with its ETag. Loads NOTIFY when they commit (loads-listener.ts drops
 * what changed); the TTL bounds staleness if a notification is ever missed. Each summary is
 * one indexed lookup by region_id (the table is precomputed: no join at request time).
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { SERVING_SCHEMA, WH_REGION_SUMMARY, WH_REGIONS } from '../lib/warehouse/tables.ts';
import { apiQuery } from './pg-types.ts';

export interface CachedJson {
  readonly json: string;
  /** `json` encoded once, for the fast path's writes. */
  readonly bytes: Buffer;
  /** Strong validator: a hash of `json`. */
  readonly etag: string;
}

export interface RegionList extends CachedJson {
  readonly ids: ReadonlySet<string>;
}

export interface RegionCacheOptions {
  readonly ttlMs: number;
  /** Bound on cached summaries (hits and misses), so made-up ids cannot grow the process. */
  readonly maxSummaries: number;
}

export const DEFAULT_REGION_CACHE: RegionCacheOptions = { ttlMs: 60_000, maxSummaries: 10_000 };

interface Entry<T> {
  readonly expires: number;
  readonly value: Promise<T>;
  /** The value once settled, for synchronous peeks. */
  settled?: T;
}

type Row = Record<string, unknown>;

export function etagOf(json: string): string {
  return `"${createHash('sha256').update(json).digest('base64url').slice(0, 32)}"`;
}

const cached = (value: unknown): CachedJson => {
  const json = JSON.stringify(value);
  return { json, bytes: Buffer.from(json), etag: etagOf(json) };
};

/** `metadata` is JSON text in the warehouse; clients get the object. */
function metadataOf(text: unknown): Record<string, unknown> | null {
  if (typeof text !== 'string') return null;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function regionMeta(r: Row): Row {
  return {
    region_id: r['region_id'],
    name: r['name'] ?? null,
    latitude: r['latitude'] ?? null,
    longitude: r['longitude'] ?? null,
    country: r['country'] ?? null,
    timezone: r['timezone'] ?? null,
    metadata: metadataOf(r['metadata']),
  };
}

const REGIONS_SQL = `SELECT ${WH_REGIONS.columns.map((c) => c.name).join(', ')} FROM ${SERVING_SCHEMA}.${WH_REGIONS.name} ORDER BY region_id`;
const SUMMARY_SQL = `SELECT ${WH_REGION_SUMMARY.columns.map((c) => c.name).join(', ')} FROM ${SERVING_SCHEMA}.${WH_REGION_SUMMARY.name} WHERE region_id = $1`;

export class RegionCache {
  private regionsEntry: Entry<RegionList> | undefined;
  private readonly summaries = new Map<string, Entry<CachedJson | undefined>>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: RegionCacheOptions = DEFAULT_REGION_CACHE,
  ) {}

  regions(): Promise<RegionList> {
    const now = Date.now();
    if (this.regionsEntry && this.regionsEntry.expires > now) return this.regionsEntry.value;
    const value = this.loadRegions();
    const entry = { expires: now + this.options.ttlMs, value };
    this.regionsEntry = entry;
    // Only the entry this load created is dropped: an invalidation may already have replaced it.
    value.catch(() => {
      if (this.regionsEntry === entry) this.regionsEntry = undefined;
    });
    return value;
  }

  async hasRegion(id: string): Promise<boolean> {
    return (await this.regions()).ids.has(id);
  }

  /** The region's summary, or undefined when the warehouse has none. */
  summary(id: string): Promise<CachedJson | undefined> {
    const now = Date.now();
    const hit = this.summaries.get(id);
    if (hit && hit.expires > now) return hit.value;
    const value = this.loadSummary(id);
    const entry: Entry<CachedJson | undefined> = { expires: now + this.options.ttlMs, value };
    value.then((v) => (entry.settled = v)).catch(() => undefined);
    this.summaries.delete(id);
    this.summaries.set(id, entry);
    value.catch(() => {
      if (this.summaries.get(id) === entry) this.summaries.delete(id);
    });
    if (this.summaries.size > this.options.maxSummaries) {
      const oldest = this.summaries.keys().next().value;
      if (oldest !== undefined) this.summaries.delete(oldest);
    }
    return value;
  }

  /** The summary if it is cached, settled and fresh; undefined otherwise (no lookup started). */
  peekSummary(id: string): CachedJson | undefined {
    const hit = this.summaries.get(id);
    return hit && hit.expires > Date.now() ? hit.settled : undefined;
  }

  /**
   * Drops what a load of `table` changed; everything when the table is unknown (a payload
   * we cannot read, or a reconnect after which notifications may have been missed).
   * A lookup still in flight keeps answering the requests that started before; the next
   * request starts a fresh one, because the entry it would have filled is gone.
   */
  invalidate(table?: string): void {
    if (table === undefined || table === WH_REGIONS.name) this.regionsEntry = undefined;
    if (table === undefined || table === WH_REGION_SUMMARY.name) this.summaries.clear();
  }

  private async loadRegions(): Promise<RegionList> {
    const rows = await apiQuery<Row>(this.pool, REGIONS_SQL);
    const regions = rows.map((r) => ({ ...regionMeta(r), origin: r['origin'] ?? null, first_seen: r['first_seen'] ?? null }));
    return { ...cached({ regions }), ids: new Set(rows.map((r) => String(r['region_id']))) };
  }

  private async loadSummary(id: string): Promise<CachedJson | undefined> {
    const [r] = await apiQuery<Row>(this.pool, SUMMARY_SQL, [id]);
    if (!r) return undefined;
    const weather =
      r['weather_day'] == null
        ? null
        : {
            day: r['weather_day'],
            temperature_avg: r['temperature_avg'] ?? null,
            temperature_min: r['temperature_min'] ?? null,
            temperature_max: r['temperature_max'] ?? null,
            precipitation_sum: r['precipitation_sum'] ?? null,
            wind_speed_avg: r['wind_speed_avg'] ?? null,
            relative_humidity_avg: r['relative_humidity_avg'] ?? null,
            temperature_avg_7d: r['temperature_avg_7d'] ?? null,
          };
    const market =
      r['market_day'] == null
        ? null
        : {
            day: r['market_day'],
            market_interest: r['market_interest'] ?? null,
            market_interest_avg_7d: r['market_interest_avg_7d'] ?? null,
            volume: r['market_volume'] ?? null,
            events: r['market_events'] ?? null,
          };
    return cached({ region: regionMeta(r), weather, market });
  }
}
