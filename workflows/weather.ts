/**
 * Source C (weather):
 * - `weather:<hour>` fetches current conditions and the 7-day hourly forecast for every
 *   region (batches of regions per request, a few requests at a time) into the raw zone,
 *   curates them, and refreshes the daily and rolling datasets around that day.
 * - `backfill:weather:<from>:<to>[:<regions>]` fans out `weather-history:<from>:<to>:<regions>`
 *   children — one per calendar year and group of regions: each asks the archive endpoint
 *   once per region for its year (never per hour) and publishes its year in one Iceberg
 *   commit — then recomputes the rolling averages over the whole range once, when every
 *   year's days are there to fill the 30-day windows.
 */
import { continueAsNew, defineQuery, executeChild, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { WeatherActivities, WeatherRun } from '../activities/weather.ts';
import { chunk, mapBounded } from '../lib/temporal/bounded.ts';
import { DATASET, ENGINE, PARTITION_DAY, SOURCE, ZONE } from '../lib/temporal/search-attributes.ts';
import { engineAttribute } from '../lib/engine/engines.ts';
import { WEATHER_LOAD_TABLES } from '../lib/warehouse/table-names.ts';
import { startWarehouseLoad } from './warehouse.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { addDays } from '../lib/time/days.ts';
import { dayOfHour, hoursInDays, yearRanges, type DayRange } from '../lib/time/hours.ts';
import { NON_RETRYABLE_WEATHER_ERRORS } from '../lib/weather/weather-error-types.ts';
import type { WeatherRawRef } from '../lib/weather/raw-layout.ts';
import type { Region } from '../lib/weather/regions.ts';

const NON_RETRYABLE = [...NON_RETRYABLE_WEATHER_ERRORS, 'MalformedFile', 'RegionsFileError'];

// API calls: the client retries a request a few times itself (honouring Retry-After);
// Temporal then retries the activity with a longer backoff, so a 429 storm or an outage
// slows the run down instead of failing it.
const api = proxyActivities<WeatherActivities>({
  taskQueue: TASK_QUEUES.ingest,
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE },
});

const lake = proxyActivities<WeatherActivities>({
  taskQueue: TASK_QUEUES.process,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE },
});

const run = (): WeatherRun => ({ workflowId: workflowInfo().workflowId, runId: workflowInfo().runId });

// ------------------------------------------------------------------ hourly

export interface WeatherHourInput {
  /** UTC hour, YYYY-MM-DDTHH. */
  readonly hour: string;
  readonly regions?: readonly string[];
  /** Requests in flight at once (default 4). */
  readonly concurrency?: number;
  /** Regions per request (default 50; Open-Meteo takes comma-separated coordinates). */
  readonly regionsPerRequest?: number;
}

export interface WeatherHourResult {
  readonly hour: string;
  readonly regions: number;
  readonly rawFiles: readonly string[];
  readonly observedRows: number;
  readonly forecastRows: number;
  readonly dailyRows: number;
  readonly rollingRows: number;
}

export const weatherHourWorkflowId = (hour: string): string => `weather:${hour}`;

export async function ingestWeatherHour(input: WeatherHourInput): Promise<WeatherHourResult> {
  const day = dayOfHour(input.hour);
  upsertSearchAttributes([
    { key: SOURCE, value: 'source_c' },
    { key: PARTITION_DAY, value: day },
    { key: ZONE, value: 'raw' },
    { key: DATASET, value: 'weather' },
  ]);
  const regions = await lake.weatherRegions(input.regions ? { regions: input.regions } : {});
  const batches = chunk(regions, input.regionsPerRequest ?? 50);
  const requests = batches.flatMap((batch, i) => (['current', 'forecast'] as const).map((dataset) => ({ dataset, batch: i, regions: batch })));
  const fetched = await mapBounded(requests, input.concurrency ?? 4, (r) => api.fetchWeatherBatch({ ...r, hour: input.hour }));
  const current = fetched.filter((_, i) => requests[i]?.dataset === 'current');
  const forecast = fetched.filter((_, i) => requests[i]?.dataset === 'forecast');
  upsertSearchAttributes([{ key: ZONE, value: 'curated' }]);
  const curated = await lake.curateWeatherHour({ hour: input.hour, current, forecast, run: run() });
  upsertSearchAttributes([{ key: ZONE, value: 'operational' }]);
  // Yesterday too (its last hours may have come late); rolling through the forecast's days.
  const aggregates = await lake.refreshWeatherAggregates({
    daily: { from: addDays(day, -1), to: day },
    rolling: { from: addDays(day, -1), to: addDays(day, 8) },
    ...(input.regions ? { regions: input.regions } : {}),
    run: run(),
  });
  upsertSearchAttributes([{ key: ENGINE, value: engineAttribute(aggregates.engines) }]);
  await startWarehouseLoad({ tables: WEATHER_LOAD_TABLES, range: { from: addDays(day, -1), to: addDays(day, 8) } });
  return {
    hour: input.hour,
    regions: regions.length,
    rawFiles: fetched.map((f) => f.key),
    observedRows: curated.observed.rows,
    forecastRows: curated.forecast.rows,
    dailyRows: aggregates.daily,
    rollingRows: aggregates.rolling,
  };
}

// ------------------------------------------------------------------ history (one child of a backfill)

export interface WeatherHistoryInput extends DayRange {
  readonly regions: readonly Region[];
  /** Archive requests in flight at once (default 4). */
  readonly concurrency?: number;
}

export interface WeatherHistoryResult extends DayRange {
  readonly regions: number;
  /** Observed hours published (regions × hours of the range). */
  readonly hours: number;
  /** Archive requests made; the rest reused files an earlier run had landed. */
  readonly fetched: number;
  readonly reused: number;
}

export const weatherHistoryWorkflowId = (range: DayRange, regions: readonly string[]): string => `weather-history:${range.from}:${range.to}:${regionsKey(regions)}`;

export async function weatherHistory(input: WeatherHistoryInput): Promise<WeatherHistoryResult> {
  upsertSearchAttributes([
    { key: SOURCE, value: 'source_c' },
    { key: PARTITION_DAY, value: input.from },
    { key: ZONE, value: 'raw' },
    { key: DATASET, value: 'weather' },
  ]);
  const files: WeatherRawRef[] = await mapBounded(input.regions, input.concurrency ?? 4, (region) => api.fetchWeatherArchive({ region, from: input.from, to: input.to }));
  upsertSearchAttributes([{ key: ZONE, value: 'curated' }]);
  const curated = await lake.curateWeatherArchive({ from: input.from, to: input.to, files, run: run() });
  upsertSearchAttributes([{ key: ZONE, value: 'operational' }]);
  const aggregates = await lake.refreshWeatherAggregates({ daily: { from: input.from, to: input.to }, regions: input.regions.map((r) => r.id), run: run() });
  upsertSearchAttributes([{ key: ENGINE, value: engineAttribute(aggregates.engines) }]);
  const fetched = files.filter((f) => f.fetched).length;
  return { from: input.from, to: input.to, regions: input.regions.length, hours: curated.rows, fetched, reused: files.length - fetched };
}

// ------------------------------------------------------------------ backfill

export interface WeatherBackfillInput extends DayRange {
  readonly regions?: readonly string[];
  /** Children in flight at once (default 4). */
  readonly concurrency?: number;
  /** Regions per child (default 25): one archive request each, one commit per child. */
  readonly regionsPerChild?: number;
  /** Archive requests in flight per child (default 4). */
  readonly requestsPerChild?: number;
  /** Children started per run before continuing as new. */
  readonly childrenPerRun?: number;
  /**
   * Refresh weather_rolling through this day rather than `to` (a repair: the 7- and 30-day
   * windows of the days after a repaired range count it too).
   */
  readonly rollingTo?: string;
  /** Carried across continue-as-new. */
  readonly state?: WeatherBackfillState;
}

export interface WeatherBackfillState {
  readonly regions: readonly Region[];
  readonly next: number;
  readonly succeeded: number;
  readonly hours: number;
  readonly failed: readonly { child: string; reason: string }[];
  readonly rollingRows?: number;
}

export interface WeatherBackfillProgress {
  /** Children (years × region groups). */
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly running: readonly string[];
  readonly hours: number;
  readonly hoursTotal: number;
}

export const weatherBackfillProgressQuery = defineQuery<WeatherBackfillProgress>('weatherBackfillProgress');

export const weatherBackfillWorkflowId = (input: DayRange & { regions?: readonly string[] }): string =>
  `backfill:weather:${input.from}:${input.to}${input.regions ? `:${regionsKey(input.regions)}` : ''}`;

const CHILDREN_PER_RUN = 200;

export async function backfillWeather(input: WeatherBackfillInput): Promise<WeatherBackfillState> {
  upsertSearchAttributes([
    { key: SOURCE, value: 'source_c' },
    { key: PARTITION_DAY, value: input.from },
    { key: DATASET, value: 'weather' },
  ]);
  const regions = input.state?.regions ?? (await lake.weatherRegions(input.regions ? { regions: input.regions } : {}));
  const ranges = yearRanges(input.from, input.to);
  const groups = chunk(regions, Math.max(1, input.regionsPerChild ?? 25));
  const units = ranges.flatMap((range) => groups.map((group) => ({ range, group })));
  const hoursTotal = hoursInDays(input.from, input.to) * regions.length;
  const concurrency = Math.max(1, Math.min(input.concurrency ?? 4, 100));

  let next = input.state?.next ?? 0;
  let succeeded = input.state?.succeeded ?? 0;
  let hours = input.state?.hours ?? 0;
  const failed = [...(input.state?.failed ?? [])];
  const running = new Map<string, Promise<void>>();
  setHandler(weatherBackfillProgressQuery, () => ({ total: units.length, succeeded, failed: failed.length, running: [...running.keys()], hours, hoursTotal }));

  const startedHere = next;
  const launch = (unit: (typeof units)[number]): void => {
    const workflowId = weatherHistoryWorkflowId(unit.range, unit.group.map((r) => r.id));
    const child = executeChild(weatherHistory, {
      workflowId,
      taskQueue: TASK_QUEUES.ingest,
      args: [{ ...unit.range, regions: unit.group, ...(input.requestsPerChild ? { concurrency: input.requestsPerChild } : {}) }],
    }).then(
      (r) => {
        succeeded++;
        hours += r.hours;
      },
      (err: unknown) => void failed.push({ child: workflowId, reason: rootMessage(err) }),
    );
    running.set(workflowId, child.finally(() => running.delete(workflowId)));
  };

  for (;;) {
    const mustRoll = next - startedHere >= (input.childrenPerRun ?? CHILDREN_PER_RUN) || workflowInfo().continueAsNewSuggested;
    while (!mustRoll && running.size < concurrency && next < units.length) launch(units[next++] as (typeof units)[number]);
    if (running.size > 0) {
      await Promise.race(running.values());
      continue;
    }
    if (next >= units.length) break;
    // Drained and due to roll over: a fresh run carries on with an empty history.
    await continueAsNew<typeof backfillWeather>({ ...input, state: { regions, next, succeeded, hours, failed } });
  }
  // Every year's days are in: the 30-day windows at the start of each year can be filled.
  const rollingTo = input.rollingTo && input.rollingTo > input.to ? input.rollingTo : input.to;
  const aggregates = await lake.refreshWeatherAggregates({ rolling: { from: input.from, to: rollingTo }, regions: regions.map((r) => r.id), run: run() });
  upsertSearchAttributes([{ key: ENGINE, value: engineAttribute(aggregates.engines) }]);
  await startWarehouseLoad({ tables: WEATHER_LOAD_TABLES, range: { from: input.from, to: input.to } });
  return { regions, next, succeeded, hours, failed, rollingRows: aggregates.rolling };
}

/** A child ID part naming its regions: the ids themselves when few, else first..last and a hash. */
function regionsKey(ids: readonly string[]): string {
  const sorted = [...ids].sort();
  if (sorted.length <= 3) return sorted.join('+');
  let h = 2166136261;
  for (const c of sorted.join(',')) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return `${sorted[0]}..${sorted[sorted.length - 1]}~${h.toString(16).padStart(8, '0')}`;
}

function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
