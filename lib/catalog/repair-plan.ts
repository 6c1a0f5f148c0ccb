/**
 * What `lake backfill <dataset> --missing --stale --failed` redoes: the catalog's problem days
 * of the dataset turned into runs of the workflows that build them on schedule, upstream first.
 * A raw day is fetched again (its ingest run also curates it); a curated day whose raw day is
 * there is curated again from the raw zone; a curated day whose raw day is not is ingested.
 * Each run keeps its scheduled workflow ID, so a repair never runs a day twice at once.
 */
import type { Config } from '../config.ts';
import { addDays } from '../time/days.ts';
import type { Catalog, PartitionState } from './build.ts';

export type RepairKind = Extract<PartitionState, 'missing' | 'stale' | 'failed'>;
export const REPAIR_KINDS: readonly RepairKind[] = ['missing', 'stale', 'failed'];

export interface RepairItem {
  /** `ingest`: fetch the raw day and curate it (ingestFileSource); `curate`: curate the raw day there (processToCurated). */
  readonly action: 'ingest' | 'curate';
  readonly source: string;
  /** The raw (ingestion) day the run is for. */
  readonly day: string;
  /** Which dataset days this run repairs, and why. */
  readonly repairs: readonly { readonly dataset: string; readonly day: string; readonly state: PartitionState; readonly reason?: string }[];
}

/** The datasets a repair can redo, and the raw dataset each one is built from. */
const REPAIRABLE: Readonly<Record<string, { source: string; raw: string; curated: string }>> = {
  'raw.source_a': { source: 'source_a', raw: 'raw.source_a', curated: 'curated.source_a' },
  'curated.source_a': { source: 'source_a', raw: 'raw.source_a', curated: 'curated.source_a' },
  'raw.source_b': { source: 'source_b', raw: 'raw.source_b', curated: 'curated.source_b' },
  'curated.source_b': { source: 'source_b', raw: 'raw.source_b', curated: 'curated.source_b' },
};

const repairable = (name: string): { source: string; raw: string; curated: string } => {
  const r = REPAIRABLE[name];
  if (!r) throw new RangeError(`lake backfill cannot repair ${name} yet; it repairs ${Object.keys(REPAIRABLE).join(', ')}`);
  return r;
};

/**
 * What `buildCatalog` must cover to plan a repair of `name`'s days from..to: the dataset and
 * its raw days, which for source A's curated days lie `lag` days later.
 */
export function repairCatalogRequest(config: Config, name: string, window: { from: string; to: string }): { datasets: string[]; from: string; to: string } {
  const r = repairable(name);
  const lag = name === r.curated && r.source === 'source_a' ? config.sourceALagDays : 0;
  return { datasets: [r.raw, r.curated], from: window.from, to: addDays(window.to, lag) };
}

/** The runs that repair `name`'s days from..to in `kinds`, from a catalog built by repairCatalogRequest. */
export function planRepair(config: Config, catalog: Catalog, name: string, window: { from: string; to: string }, kinds: readonly RepairKind[]): RepairItem[] {
  const r = repairable(name);
  const raw = catalog.datasets.find((d) => d.name === r.raw);
  const curated = catalog.datasets.find((d) => d.name === r.curated);
  if (!raw || !curated) throw new Error(`the catalog lacks ${r.raw} or ${r.curated}`);
  const inWindow = (day: string): boolean => day >= window.from && day <= window.to;
  const wanted = (state: PartitionState): state is RepairKind => (kinds as readonly string[]).includes(state);
  const byDay = new Map<string, { action: RepairItem['action']; repairs: RepairItem['repairs'][number][] }>();
  const add = (day: string, action: RepairItem['action'], repair: RepairItem['repairs'][number]): void => {
    const item = byDay.get(day) ?? { action, repairs: [] };
    // Ingesting also curates: it covers a curate of the same day.
    if (action === 'ingest') item.action = 'ingest';
    item.repairs.push(repair);
    byDay.set(day, item);
  };
  if (name === r.raw) {
    for (const p of raw.partitions) {
      if (inWindow(p.day) && wanted(p.state)) add(p.day, 'ingest', { dataset: raw.name, day: p.day, state: p.state, ...(p.reason ? { reason: p.reason } : {}) });
    }
  } else {
    const lag = r.source === 'source_a' ? config.sourceALagDays : 0;
    const rawState = new Map(raw.partitions.map((p) => [p.day, p.state]));
    for (const p of curated.partitions) {
      if (!inWindow(p.day) || !wanted(p.state)) continue;
      const ingestDay = addDays(p.day, lag);
      // Curated from the raw zone when its raw day is there (a stale day's raw is, newer); else fetched first.
      const rawThere = rawState.get(ingestDay) === 'published';
      add(ingestDay, rawThere ? 'curate' : 'ingest', { dataset: curated.name, day: p.day, state: p.state, ...(p.reason ? { reason: p.reason } : {}) });
    }
  }
  // Upstream first: fetches before curates, each in day order.
  return [...byDay.entries()]
    .map(([day, v]) => ({ action: v.action, source: r.source, day, repairs: v.repairs }))
    .sort((a, b) => (a.action === b.action ? a.day.localeCompare(b.day) : a.action === 'ingest' ? -1 : 1));
}

export const repairWorkflowId = (name: string, from: string, to: string, kinds: readonly RepairKind[]): string =>
  `backfill:${name}:${from}..${to}:${[...kinds].sort().join('+')}`;
