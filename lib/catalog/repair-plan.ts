/**
 * What `lake backfill <dataset> --missing --stale --failed` redoes: the catalog's problem days
 * of the dataset turned into runs of the workflows that build them on schedule, upstream first.
 *
 * - Sources A and B: a raw day is fetched again (its ingest run also curates it); a curated day
 *   whose raw day is there is curated again from the raw zone; one whose raw day is not is
 *   ingested.
 * - Source C (weather): each run of consecutive problem days is fetched again from the archive,
 *   curated and aggregated by one weather backfill (`backfill:weather:<from>:<to>`).
 * - Source D (market): a day's 24 hours are compacted again from the raw zone, which also
 *   refreshes market_daily for the day (`compact:market:day=<day>`).
 *
 * These two run one at a time in day order, each refreshing the derived days after it (rolling
 * windows, market_interest) through the newest published day, so each reads its predecessors'
 * repaired days. Each run keeps a deterministic workflow ID, so a repair never runs a day twice at once.
 */
import type { Config } from '../config.ts';
import { addDays } from '../time/days.ts';
import type { Catalog, PartitionState } from './build.ts';

export type RepairKind = Extract<PartitionState, 'missing' | 'stale' | 'failed'>;
export const REPAIR_KINDS: readonly RepairKind[] = ['missing', 'stale', 'failed'];

export interface RepairItem {
  /**
   * `ingest`: fetch the raw day and curate it (ingestFileSource); `curate`: curate the raw day
   * there (processToCurated); `weather`: backfillWeather over day..to; `market`: compactMarket
   * of the day's hours.
   */
  readonly action: 'ingest' | 'curate' | 'weather' | 'market';
  readonly source: string;
  /** The raw (ingestion) day the run is for; the first day of a weather range. */
  readonly day: string;
  /** The last day of a weather range. */
  readonly to?: string;
  /**
   * Weather and market: the derived days after the repaired ones to refresh too (weather_rolling's
   * windows, market_daily's market_interest read the days before their own), up to the newest published.
   */
  readonly downstreamTo?: string;
  /** Which dataset days this run repairs, and why. */
  readonly repairs: readonly { readonly dataset: string; readonly day: string; readonly state: PartitionState; readonly reason?: string }[];
}

type Repair = RepairItem['repairs'][number];

/** How each dataset is repaired: the file sources' raw → curated pairs; weather and market days by their own runs. */
type Repairable =
  | { readonly kind: 'file'; readonly source: string; readonly raw: string; readonly curated: string }
  | { readonly kind: 'weather' | 'market'; readonly source: string };

const REPAIRABLE: Readonly<Record<string, Repairable>> = {
  'raw.source_a': { kind: 'file', source: 'source_a', raw: 'raw.source_a', curated: 'curated.source_a' },
  'curated.source_a': { kind: 'file', source: 'source_a', raw: 'raw.source_a', curated: 'curated.source_a' },
  'raw.source_b': { kind: 'file', source: 'source_b', raw: 'raw.source_b', curated: 'curated.source_b' },
  'curated.source_b': { kind: 'file', source: 'source_b', raw: 'raw.source_b', curated: 'curated.source_b' },
  'curated.weather_observed': { kind: 'weather', source: 'source_c' },
  'operational.weather_daily': { kind: 'weather', source: 'source_c' },
  'curated.market_events': { kind: 'market', source: 'source_d' },
  'operational.market_daily': { kind: 'market', source: 'source_d' },
};

const REPAIRABLE_DATASETS: readonly string[] = Object.keys(REPAIRABLE);

const repairable = (name: string): Repairable => {
  const r = REPAIRABLE[name];
  if (!r) throw new RangeError(`lake backfill cannot repair ${name}; it repairs ${REPAIRABLE_DATASETS.join(', ')} (raw.source_d is the Kafka consumer's: replay the topic)`);
  return r;
};

/**
 * What `buildCatalog` must cover to plan a repair of `name`'s days from..to: the dataset and,
 * for a file source, its raw days, which for source A's curated days lie `lag` days later.
 */
export function repairCatalogRequest(config: Config, name: string, window: { from: string; to: string }): { datasets: string[]; from: string; to: string } {
  const r = repairable(name);
  if (r.kind !== 'file') return { datasets: [name], from: window.from, to: window.to };
  const lag = name === r.curated && r.source === 'source_a' ? config.sourceALagDays : 0;
  return { datasets: [r.raw, r.curated], from: window.from, to: addDays(window.to, lag) };
}

const repairOf = (dataset: string, p: { day: string; state: PartitionState; reason?: string }): Repair => ({ dataset, day: p.day, state: p.state, ...(p.reason ? { reason: p.reason } : {}) });

/** The runs that repair `name`'s days from..to in `kinds`, from a catalog built by repairCatalogRequest. */
export function planRepair(config: Config, catalog: Catalog, name: string, window: { from: string; to: string }, kinds: readonly RepairKind[]): RepairItem[] {
  const r = repairable(name);
  const inWindow = (day: string): boolean => day >= window.from && day <= window.to;
  const wanted = (state: PartitionState): state is RepairKind => (kinds as readonly string[]).includes(state);
  const dataset = (n: string) => {
    const d = catalog.datasets.find((x) => x.name === n);
    if (!d) throw new Error(`the catalog lacks ${n}`);
    return d;
  };
  if (r.kind !== 'file') {
    const own = dataset(name);
    const broken = own.partitions.filter((p) => inWindow(p.day) && wanted(p.state)).sort((a, b) => a.day.localeCompare(b.day));
    // Days after a repaired one whose windows read it: 30 (market_interest) and 29 (weather's 30-day average).
    const downstream = (day: string, days: number): { downstreamTo?: string } => {
      const through = addDays(day, days);
      const newest = own.lastPublished ?? day;
      const to = through < newest ? through : newest;
      return to > day ? { downstreamTo: to } : {};
    };
    if (r.kind === 'market') return broken.map((p) => ({ action: 'market', source: r.source, day: p.day, repairs: [repairOf(name, p)], ...downstream(p.day, 30) }));
    // Weather: consecutive days in one backfill (one archive request per region for the range).
    const items: RepairItem[] = [];
    for (const p of broken) {
      const last = items.at(-1);
      if (last?.to !== undefined && addDays(last.to, 1) === p.day) items[items.length - 1] = { ...last, to: p.day, repairs: [...last.repairs, repairOf(name, p)] };
      else items.push({ action: 'weather', source: r.source, day: p.day, to: p.day, repairs: [repairOf(name, p)] });
    }
    return items.map((i) => ({ ...i, ...downstream(i.to ?? i.day, 29) }));
  }
  const raw = dataset(r.raw);
  const curated = dataset(r.curated);
  const byDay = new Map<string, { action: RepairItem['action']; repairs: Repair[] }>();
  const add = (day: string, action: RepairItem['action'], repair: Repair): void => {
    const item = byDay.get(day) ?? { action, repairs: [] };
    // Ingesting also curates: it covers a curate of the same day.
    if (action === 'ingest') item.action = 'ingest';
    item.repairs.push(repair);
    byDay.set(day, item);
  };
  if (name === r.raw) {
    for (const p of raw.partitions) if (inWindow(p.day) && wanted(p.state)) add(p.day, 'ingest', repairOf(raw.name, p));
  } else {
    const lag = r.source === 'source_a' ? config.sourceALagDays : 0;
    const rawState = new Map(raw.partitions.map((p) => [p.day, p.state]));
    for (const p of curated.partitions) {
      if (!inWindow(p.day) || !wanted(p.state)) continue;
      const ingestDay = addDays(p.day, lag);
      // Curated from the raw zone when its raw day is there (a stale day's raw is, newer); else fetched first.
      const rawThere = rawState.get(ingestDay) === 'published';
      add(ingestDay, rawThere ? 'curate' : 'ingest', repairOf(curated.name, p));
    }
  }
  // Upstream first: fetches before curates, each in day order.
  return [...byDay.entries()]
    .map(([day, v]) => ({ action: v.action, source: r.source, day, repairs: v.repairs }))
    .sort((a, b) => (a.action === b.action ? a.day.localeCompare(b.day) : a.action === 'ingest' ? -1 : 1));
}

export const repairWorkflowId = (name: string, from: string, to: string, kinds: readonly RepairKind[]): string =>
  `backfill:${name}:${from}..${to}:${[...kinds].sort().join('+')}`;

/** The 24 hours of a day, as compactMarket takes them (YYYY-MM-DDTHH). */
export const hoursOfDay = (day: string): string[] => Array.from({ length: 24 }, (_, h) => `${day}T${String(h).padStart(2, '0')}`);
