/**
 * The partition catalog: for every dataset and day of a window, its state — missing, running,
 * published, failed or stale — derived from the lake itself (raw listings and sidecars, Iceberg
 * manifests, the lineage rows the publishes recorded) and from Temporal's visibility (runs
 * holding a day, runs that failed on one). Nothing is kept in a second bookkeeping store: the
 * caches under `<data dir>/catalog/` only spare re-reading immutable metadata.
 */
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Config } from '../config.ts';
import { openLakeSession, type LakeSession } from '../lake/session.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { addDays, daysBetween } from '../time/days.ts';
import { datasets as allDatasets, dueAt, type DatasetDef, type Zone } from './datasets.ts';
import { ManifestCache, metadataReader, type PartitionStats } from './iceberg-partitions.ts';
import { latestLineage, type LineageInput, type LineageRow } from './lineage.ts';
import { rawPartitions, SidecarCache, type RawPartition } from './raw-partitions.ts';
import { datasetRuns, type RunFact } from './runs.ts';
import { currentPartitions, SummaryCache, type SummarySource } from './summaries.ts';

export const PARTITION_STATES = ['published', 'stale', 'failed', 'running', 'missing'] as const;
export type PartitionState = (typeof PARTITION_STATES)[number];

export interface PartitionStatus {
  readonly day: string;
  readonly state: PartitionState;
  /** Why it is stale, failed or missing. */
  readonly reason?: string;
  readonly due: string;
  readonly rows?: number;
  readonly bytes?: number;
  readonly files?: number;
  /** Hourly raw datasets (source D): how many hours of the day landed (an hour without events writes nothing). */
  readonly hours?: number;
  readonly publishedAt?: string;
  readonly workflowId?: string;
  readonly runId?: string;
  /** Raw inputs and their checksums (raw datasets: the day's newest deliveries). */
  readonly inputs?: readonly LineageInput[];
}

export interface DatasetStatus {
  readonly name: string;
  readonly zone: string;
  readonly description: string;
  readonly window: { readonly from: string; readonly to: string };
  /** The newest day published. */
  readonly lastPublished?: string;
  readonly counts: Readonly<Record<PartitionState, number>>;
  readonly freshness: { readonly expectation: string; readonly verdict: 'fresh' | 'late' | 'unknown'; readonly detail: string };
  /** Table datasets: the current snapshot. */
  readonly snapshotId?: string;
  /** The window's days that are due or hold data, oldest first. */
  readonly partitions: readonly PartitionStatus[];
}

export interface Catalog {
  readonly builtAt: string;
  readonly datasets: readonly DatasetStatus[];
  /** Where the time went, and how much metadata was read rather than taken from the caches. */
  readonly stats: {
    readonly ms: number;
    /** Each source's time (they overlap: read concurrently). */
    readonly phasesMs: { readonly raw: number; readonly tables: number; readonly lineage: number; readonly runs: number; readonly states: number };
    readonly manifestsRead: number;
    /** How each table's state was come by: its summary unchanged, the summary plus newer commits, or a full read. */
    readonly sources: Readonly<Record<SummarySource, number>>;
    readonly runsKnown: boolean;
  };
}

export interface CatalogDeps {
  readonly config: Config;
  readonly store: ObjectStore;
  readonly openSession: () => Promise<LakeSession>;
  /** Without it running and failed are unknown (the lake alone says published, stale, missing). */
  readonly temporal?: Client;
}

export interface CatalogRequest {
  readonly from: string;
  readonly to: string;
  /** Dataset names; default every dataset. */
  readonly datasets?: readonly string[];
  /** "Now", for due times (tests). */
  readonly now?: Date;
}

interface DayFacts {
  publishedAt?: string;
  workflowId?: string;
  runId?: string;
  rows?: number;
  bytes?: number;
  files?: number;
  hours?: number;
  inputs?: readonly LineageInput[];
  /** The rows the publish recorded, where `rows` is what the table holds now. */
  publishedRows?: number;
}

const cacheFile = (config: Config, name: string): string => path.join(config.dataDir, 'catalog', name);

/** Published facts of a raw dataset's days. */
function rawFacts(raw: ReadonlyMap<string, RawPartition>): Map<string, DayFacts> {
  const out = new Map<string, DayFacts>();
  for (const [day, p] of raw) {
    out.set(day, {
      publishedAt: p.fetchedAt,
      files: p.files,
      bytes: p.bytes,
      ...(p.hours.length > 0 ? { hours: p.hours.length } : {}),
      inputs: p.latest.map((f) => ({ key: f.key, sha256: f.sha256 })),
    });
  }
  return out;
}

/** Published facts of a table dataset's days: the newest lineage row covering each day, and the day's Iceberg partition. */
function tableFacts(def: Extract<DatasetDef, { kind: 'table' }>, lineage: readonly LineageRow[], partitions: ReadonlyMap<string, PartitionStats>): Map<string, DayFacts> {
  const out = new Map<string, DayFacts>();
  for (const row of lineage) {
    if (row.table !== def.table) continue;
    const days = def.daysOfScope(row.scope);
    if (!days) continue;
    for (const day of days) {
      const seen = out.get(day);
      if (seen?.publishedAt && seen.publishedAt >= row.committedAt) continue;
      out.set(day, {
        publishedAt: row.committedAt,
        workflowId: row.workflowId,
        runId: row.runId,
        inputs: row.inputs,
        // A scope of one day says its own rows; a range's rows are the range's.
        ...(days.length === 1 ? { rows: row.rows } : {}),
      });
    }
  }
  if (def.partitionOfDay) {
    for (const [day, facts] of out) {
      const p = partitions.get(def.partitionOfDay(day));
      // What the table holds now: a partition deleted since its publish holds nothing.
      out.set(day, { ...facts, publishedRows: facts.rows ?? 0, rows: p ? p.rows - p.deletedRows : 0, bytes: p?.bytes ?? 0, files: p?.dataFiles ?? 0 });
    }
  }
  return out;
}

function sameInputs(a: readonly LineageInput[], b: readonly LineageInput[]): boolean {
  const key = (xs: readonly LineageInput[]): string => xs.map((x) => `${x.key}\u0000${x.sha256}`).sort().join('\n');
  return key(a) === key(b);
}

/** Why day's partition is stale, or undefined. */
function staleness(def: DatasetDef, day: string, facts: DayFacts, upstreamFacts: ReadonlyMap<string, DayFacts> | undefined): string | undefined {
  if (def.kind !== 'table' || !def.upstream || !upstreamFacts) return undefined;
  const upDay = def.upstream.day(day);
  const up = upstreamFacts.get(upDay);
  if (def.upstream.compare === 'checksums') {
    if (!up?.inputs) return `its input ${def.upstream.dataset} day ${upDay} is gone`;
    // Inputs recorded without checksums (an older publish) cannot be compared.
    if (!facts.inputs || facts.inputs.length === 0 || facts.inputs.some((i) => i.sha256 === '')) return undefined;
    if (!sameInputs(facts.inputs, up.inputs)) {
      const built = new Set(facts.inputs.map((i) => `${i.key}\u0000${i.sha256}`));
      const changed = up.inputs.find((i) => !built.has(`${i.key}\u0000${i.sha256}`));
      return `${def.upstream.dataset} day ${upDay} changed after it was built${changed ? ` (${changed.key} is new)` : ''}`;
    }
    return undefined;
  }
  if (up?.publishedAt && facts.publishedAt && up.publishedAt > facts.publishedAt) {
    return `${def.upstream.dataset} day ${upDay} was published again at ${up.publishedAt}, after this day (${facts.publishedAt})`;
  }
  return undefined;
}

/** The newest run of each (source, zone, dataset day). */
function runsByDay(def: DatasetDef, runs: readonly RunFact[]): Map<string, RunFact> {
  const out = new Map<string, RunFact>();
  for (const r of runs) {
    if (r.source !== def.runs.source || (r.zone !== def.runs.zone && !def.runs.alsoZones?.includes(r.zone as Zone))) continue;
    const day = def.dayOfRun(r.partitionDay);
    const seen = out.get(day);
    if (!seen || r.startedAt > seen.startedAt || (r.status === 'running' && seen.status !== 'running')) out.set(day, r);
  }
  return out;
}

function statusOf(def: DatasetDef, day: string, now: string, facts: DayFacts | undefined, run: RunFact | undefined, upstream: ReadonlyMap<string, DayFacts> | undefined): PartitionStatus | undefined {
  const due = dueAt(def, day);
  const expected = def.freshness.expectedOn?.(day) ?? true;
  const published = facts?.publishedAt !== undefined;
  const { publishedRows: _recorded, ...shown } = facts ?? {};
  const base = { day, due, ...shown };
  if (run?.status === 'running') return { ...base, state: 'running', workflowId: run.workflowId, runId: run.runId, reason: `${run.workflowId} is running since ${run.startedAt}` };
  if (run?.status === 'failed' && (!published || (facts.publishedAt as string) < run.startedAt)) {
    return { ...base, state: 'failed', workflowId: run.workflowId, runId: run.runId, reason: run.reason ?? 'failed' };
  }
  if (published && facts.publishedRows !== undefined && facts.publishedRows > 0 && facts.rows === 0) {
    return { ...base, state: 'missing', reason: `published ${facts.publishedAt} (${facts.publishedRows} rows), but the table holds none of its rows now` };
  }
  if (published) {
    const stale = staleness(def, day, facts, upstream);
    return stale ? { ...base, state: 'stale', reason: stale } : { ...base, state: 'published' };
  }
  if (!expected || due > now) return undefined;
  return { ...base, state: 'missing', reason: `nothing published; due ${due}` };
}

function freshnessOf(def: DatasetDef, partitions: ReadonlyMap<string, PartitionStatus>, now: string, to: string): DatasetStatus['freshness'] {
  // The newest expected day already due, within the window.
  for (let day = to, i = 0; i < 400; day = addDays(day, -1), i++) {
    if (!(def.freshness.expectedOn?.(day) ?? true) || dueAt(def, day) > now) continue;
    const p = partitions.get(day);
    if (!p) return { expectation: def.freshness.text, verdict: 'unknown', detail: `day ${day} is outside the window` };
    if (p.state === 'published') return { expectation: def.freshness.text, verdict: 'fresh', detail: `day ${day} published ${p.publishedAt ?? ''}`.trim() };
    return { expectation: def.freshness.text, verdict: 'late', detail: `day ${day} was due ${p.due} and is ${p.state}` };
  }
  return { expectation: def.freshness.text, verdict: 'unknown', detail: 'no day due yet' };
}

export async function buildCatalog(deps: CatalogDeps, req: CatalogRequest): Promise<Catalog> {
  const t0 = performance.now();
  const { config } = deps;
  const now = (req.now ?? new Date()).toISOString();
  const all = allDatasets(config);
  const wanted = req.datasets ? all.filter((d) => req.datasets?.includes(d.name)) : all;
  for (const name of req.datasets ?? []) if (!all.some((d) => d.name === name)) throw new RangeError(`unknown dataset "${name}"; known: ${all.map((d) => d.name).join(', ')}`);
  // The upstreams of the wanted datasets are read too: staleness compares with them.
  const needed = new Set(wanted.map((d) => d.name));
  for (const d of wanted) if (d.kind === 'table' && d.upstream) needed.add(d.upstream.dataset);
  const defs = all.filter((d) => needed.has(d.name));

  const sidecars = new SidecarCache(cacheFile(config, 'sidecars.json'));
  // The raw days a window needs: its own, the later ones its tables are built from (a lag), and the newest.
  const rawYears = { from: Number(req.from.slice(0, 4)), to: Number((req.to > now ? req.to : now).slice(0, 4)) + 1 };
  const summaryOptions = {
    catalogUrl: config.icebergCatalogUrl,
    read: metadataReader(deps.store),
    summaries: new SummaryCache(cacheFile(config, 'summaries-v1.json')),
    manifests: new ManifestCache(cacheFile(config, 'manifests-v2.json')),
    live: new Set<string>(),
    fullyRead: [] as string[],
  };
  const phases = { raw: 0, tables: 0, lineage: 0, runs: 0, states: 0 };
  const timed = async <T>(phase: keyof typeof phases, work: Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work;
    } finally {
      phases[phase] = performance.now() - started;
    }
  };
  const [lineage, runs, raws, tables] = await Promise.all([
    timed(
      'lineage',
      defs.some((d) => d.kind === 'table')
        ? latestLineage({ ...summaryOptions, openSession: deps.openSession, openFileSession: () => openLakeSession(config, { attach: false }) })
        : Promise.resolve(undefined),
    ),
    timed('runs', deps.temporal ? datasetRuns(deps.temporal, `${addDays(req.from, -1)}T00:00:00Z`) : Promise.resolve(undefined)),
    timed('raw', Promise.all(defs.map(async (d) => [d.name, d.kind === 'raw' ? await rawPartitions(deps.store, d.rawSource, sidecars, { years: rawYears, rewritten: d.rewritten ?? false }) : undefined] as const))),
    timed('tables', Promise.all(defs.map(async (d) => [d.name, d.kind === 'table' ? await currentPartitions(summaryOptions, d.table) : undefined] as const))),
  ]);
  const statesStarted = performance.now();
  sidecars.save();
  summaryOptions.summaries.save();
  summaryOptions.manifests.save(summaryOptions.live, summaryOptions.fullyRead);

  const facts = new Map<string, Map<string, DayFacts>>();
  const tableByName = new Map(tables);
  for (const [name, raw] of raws) if (raw) facts.set(name, rawFacts(raw));
  for (const d of defs) {
    if (d.kind !== 'table') continue;
    facts.set(d.name, tableFacts(d, lineage?.rows ?? [], tableByName.get(d.name)?.partitions ?? new Map()));
  }

  const days = daysBetween(req.from, req.to);
  const statuses: DatasetStatus[] = wanted.map((def) => {
    const own = facts.get(def.name) ?? new Map<string, DayFacts>();
    const upstream = def.kind === 'table' && def.upstream ? facts.get(def.upstream.dataset) : undefined;
    const byRun = runsByDay(def, runs ?? []);
    const partitions = new Map<string, PartitionStatus>();
    for (const day of days) {
      const p = statusOf(def, day, now, own.get(day), byRun.get(day), upstream);
      if (p) partitions.set(day, p);
    }
    const counts = Object.fromEntries(PARTITION_STATES.map((s) => [s, 0])) as Record<PartitionState, number>;
    for (const p of partitions.values()) counts[p.state]++;
    const lastPublished = [...own.keys()].sort().at(-1);
    const snapshotId = tableByName.get(def.name)?.snapshotId;
    return {
      name: def.name,
      zone: def.zone,
      description: def.description,
      window: { from: req.from, to: req.to },
      ...(lastPublished ? { lastPublished } : {}),
      counts,
      freshness: freshnessOf(def, partitions, now, req.to),
      ...(snapshotId ? { snapshotId } : {}),
      partitions: [...partitions.values()],
    };
  });
  const manifestsRead = tables.reduce((n, [, t]) => n + (t?.manifestsRead ?? 0), 0);
  const sources: Record<SummarySource, number> = { summary: 0, changes: 0, full: 0 };
  for (const [, t] of tables) if (t) sources[t.source]++;
  if (lineage) sources[lineage.source]++;
  phases.states = performance.now() - statesStarted;
  const phasesMs = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v)])) as typeof phases;
  return { builtAt: now, datasets: statuses, stats: { ms: performance.now() - t0, phasesMs, manifestsRead, sources, runsKnown: runs !== undefined } };
}
