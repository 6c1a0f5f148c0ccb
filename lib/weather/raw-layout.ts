/**
 * Where source C's answers land in the raw zone, partitioned by date only (a day holds
 * 24 runs × a few batches; a region partition would hold one tiny file each):
 *   raw/source_c/current/day=D/current_<hour>_b<batch>.json     hourly run, one request per batch of regions
 *   raw/source_c/forecast/day=D/forecast_<hour>_b<batch>.json
 *   raw/source_c/archive/day=<from>/archive_<region>_<from>_<to>.json   backfill, one request per region and range
 * A multi-location answer does not name its regions: the sidecar's context does, in order.
 */
import { dayOfHour } from '../time/hours.ts';

export const WEATHER_SOURCE = 'source_c';
export type WeatherDataset = 'current' | 'forecast' | 'archive';

export const rawDataset = (dataset: WeatherDataset): string => `${WEATHER_SOURCE}/${dataset}`;

export function hourlyRawFile(dataset: 'current' | 'forecast', hour: string, batch: number): { source: string; day: string; fileName: string } {
  return { source: rawDataset(dataset), day: dayOfHour(hour), fileName: `${dataset}_${hour}_b${String(batch).padStart(2, '0')}.json` };
}

export function archiveRawFile(region: string, from: string, to: string): { source: string; day: string; fileName: string } {
  return { source: rawDataset('archive'), day: from, fileName: `archive_${region}_${from}_${to}.json` };
}

/** What a weather fetch activity hands on: lake keys and counts, never the values. */
export interface WeatherRawRef {
  readonly key: string;
  readonly sha256: string;
  /** Region ids in the order of the answer's locations. */
  readonly regions: readonly string[];
  readonly bytes: number;
  /** This run fetched it (false: an earlier run's file was reused). */
  readonly fetched: boolean;
}
