/**
 * Every dataset of the lake the catalog tracks, by day: where its partitions are read from
 * (raw listing or Iceberg table + lineage scopes), which runs build them (their search
 * attributes), what each day is built from, and when a day is due (its freshness expectation,
 * declared here next to the schedule that produces it in lib/temporal/schedules.ts).
 */
import type { Config } from '../config.ts';
import { addDays, daysBetween } from '../time/days.ts';

export type Zone = 'raw' | 'curated' | 'operational';

export interface Freshness {
  /** Day D's partition is due this many days after D… */
  readonly afterDays: number;
  /** …at this UTC time (HH:MM). */
  readonly atUtc: string;
  /** Days a partition is expected on (the schedule's cadence); default every day. */
  readonly expectedOn?: (day: string) => boolean;
  /** How the expectation reads in `lake status`. */
  readonly text: string;
}

interface DatasetBase {
  /** `raw.source_a`, `curated.source_a`, `operational.market_daily`. */
  readonly name: string;
  readonly zone: Zone;
  readonly source: string;
  readonly description: string;
  readonly freshness: Freshness;
  /** The runs that build a day: matched on their Source and Zone search attributes. */
  readonly runs: {
    readonly source: string;
    readonly zone: Zone;
    /**
     * Earlier zones of the runs that build it, when no dataset of its own stands for them: a weather
     * run that fails (or is busy) fetching, in Zone raw, is this dataset's failed (running) run.
     */
    readonly alsoZones?: readonly Zone[];
  };
  /** The dataset day a run's PartitionDay stands for (a lag: A's curated day D comes from raw day D+3). */
  readonly dayOfRun: (partitionDay: string) => string;
}

export interface RawDataset extends DatasetBase {
  readonly kind: 'raw';
  /** The raw zone's folder under raw/: `source_a`, `source_d`. */
  readonly rawSource: string;
  /**
   * Its writer rewrites keys (source D's consumer on a replay), so a file's sidecar can change:
   * the listing's sizes are checked against the cached sidecars (free on S3, a stat per file on disk).
   */
  readonly rewritten?: boolean;
}

export interface TableDataset extends DatasetBase {
  readonly kind: 'table';
  /** `namespace.name` of the Iceberg table. */
  readonly table: string;
  /** The days a lineage scope of the table covers (undefined: a scope this catalog does not count). */
  readonly daysOfScope: (scope: string) => readonly string[] | undefined;
  /**
   * What day D is built from. `checksums`: the raw files its lineage names must be the newest
   * deliveries of the upstream day (a changed re-delivery makes it stale); `time`: it is stale
   * when the upstream day was published after it.
   */
  readonly upstream?: { readonly dataset: string; readonly day: (day: string) => string; readonly compare: 'checksums' | 'time' };
  /** The Iceberg table's partition that holds day D, when the table is partitioned by day (its stats are the day's). */
  readonly partitionOfDay?: (day: string) => string;
}

export type DatasetDef = RawDataset | TableDataset;

const DAY = /\d{4}-\d{2}-\d{2}/g;

/** `day=D`, `day=D hour=HH`, `_ingest_day=D`, `day=F..T regions=…`, `hours=D1T05,D2T06 regions=N` → their days. */
export function daysOfScope(scope: string): readonly string[] | undefined {
  const range = /^day=(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})/.exec(scope);
  if (range) return range[1] && range[2] && range[1] <= range[2] ? daysBetween(range[1], range[2]) : [];
  const single = /^(?:_ingest_)?day=(\d{4}-\d{2}-\d{2})(?:\s|$)/.exec(scope);
  if (single?.[1]) return [single[1]];
  if (scope.startsWith('hours=')) return [...new Set(scope.match(DAY) ?? [])];
  return undefined;
}

/** Source B's schedule: every 14 days counted from the Unix epoch (lib/temporal/schedules.ts). */
const everyFourteenDays = (day: string): boolean => Math.round(Date.parse(`${day}T00:00:00Z`) / 86_400_000) % 14 === 0;

export function datasets(config: Config): readonly DatasetDef[] {
  const lagA = config.sourceALagDays;
  const same = (day: string): string => day;
  return [
    {
      kind: 'raw',
      name: 'raw.source_a',
      zone: 'raw',
      source: 'source_a',
      rawSource: 'source_a',
      description: 'Source A: the daily customer-activity file as delivered',
      freshness: { afterDays: 0, atUtc: '09:00', text: 'day D landed by D 09:00 UTC (fetched at 06:00)' },
      runs: { source: 'source_a', zone: 'raw' },
      dayOfRun: same,
    },
    {
      kind: 'table',
      name: 'curated.source_a',
      zone: 'curated',
      source: 'source_a',
      table: 'curated.source_a',
      description: `Source A typed and unnested; curated day D comes from raw day D+${lagA}`,
      freshness: { afterDays: lagA, atUtc: '09:00', text: `day D published by D+${lagA} 09:00 UTC` },
      runs: { source: 'source_a', zone: 'curated' },
      dayOfRun: (ingestDay) => addDays(ingestDay, -lagA),
      daysOfScope,
      upstream: { dataset: 'raw.source_a', day: (day) => addDays(day, lagA), compare: 'checksums' },
      partitionOfDay: same,
    },
    {
      kind: 'raw',
      name: 'raw.source_b',
      zone: 'raw',
      source: 'source_b',
      rawSource: 'source_b',
      description: 'Source B: the customer reference extract as delivered (every 14 days)',
      freshness: { afterDays: 0, atUtc: '09:00', expectedOn: everyFourteenDays, text: 'each 14-day extract landed by 09:00 UTC on its day' },
      runs: { source: 'source_b', zone: 'raw' },
      dayOfRun: same,
    },
    {
      kind: 'table',
      name: 'curated.source_b',
      zone: 'curated',
      source: 'source_b',
      table: 'curated.source_b',
      description: 'Source B typed, one partition per extract (by ingestion day)',
      freshness: { afterDays: 0, atUtc: '10:00', expectedOn: everyFourteenDays, text: 'each extract curated by 10:00 UTC on its day' },
      runs: { source: 'source_b', zone: 'curated' },
      dayOfRun: same,
      daysOfScope,
      upstream: { dataset: 'raw.source_b', day: same, compare: 'checksums' },
    },
    {
      kind: 'raw',
      name: 'raw.source_d',
      zone: 'raw',
      source: 'source_d',
      rawSource: 'source_d',
      rewritten: true,
      description: 'Source D: market events from Kafka, one folder per hour',
      freshness: { afterDays: 1, atUtc: '00:30', text: 'every hour of day D landed by D+1 00:30 UTC' },
      runs: { source: 'source_d', zone: 'raw' },
      dayOfRun: same,
    },
    {
      kind: 'table',
      name: 'curated.market_events',
      zone: 'curated',
      source: 'source_d',
      table: 'curated.market_events',
      description: 'Source D compacted hour by hour, each event once',
      freshness: { afterDays: 1, atUtc: '01:00', text: 'day D compacted by D+1 01:00 UTC' },
      runs: { source: 'source_d', zone: 'curated' },
      dayOfRun: same,
      daysOfScope,
      upstream: { dataset: 'raw.source_d', day: same, compare: 'time' },
      partitionOfDay: same,
    },
    {
      kind: 'table',
      name: 'operational.market_daily',
      zone: 'operational',
      source: 'source_d',
      table: 'operational.market_daily',
      description: 'Daily market aggregates per region',
      freshness: { afterDays: 1, atUtc: '01:00', text: 'day D by D+1 01:00 UTC' },
      runs: { source: 'source_d', zone: 'operational' },
      dayOfRun: same,
      daysOfScope,
      upstream: { dataset: 'curated.market_events', day: same, compare: 'time' },
    },
    {
      kind: 'table',
      name: 'curated.weather_observed',
      zone: 'curated',
      source: 'source_c',
      table: 'curated.weather_observed',
      description: 'Source C: hourly observed weather per region',
      freshness: { afterDays: 1, atUtc: '02:00', text: 'day D observed by D+1 02:00 UTC (hourly runs)' },
      runs: { source: 'source_c', zone: 'curated', alsoZones: ['raw'] },
      dayOfRun: same,
      daysOfScope,
    },
    {
      kind: 'table',
      name: 'operational.weather_daily',
      zone: 'operational',
      source: 'source_c',
      table: 'operational.weather_daily',
      description: 'Daily weather aggregates per region',
      freshness: { afterDays: 1, atUtc: '02:00', text: 'day D by D+1 02:00 UTC' },
      runs: { source: 'source_c', zone: 'operational', alsoZones: ['raw', 'curated'] },
      dayOfRun: same,
      daysOfScope,
      upstream: { dataset: 'curated.weather_observed', day: same, compare: 'time' },
    },
  ];
}

export function dataset(config: Config, name: string): DatasetDef {
  const all = datasets(config);
  const found = all.find((d) => d.name === name);
  if (!found) throw new RangeError(`unknown dataset "${name}"; known: ${all.map((d) => d.name).join(', ')}`);
  return found;
}

/** When day D's partition is due (ISO time). */
export function dueAt(def: DatasetDef, day: string): string {
  return `${addDays(day, def.freshness.afterDays)}T${def.freshness.atUtc}:00.000Z`;
}
