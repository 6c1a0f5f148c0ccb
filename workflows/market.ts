/**
 * Source D (market):
 * - `stream:market` is the long-running producer: slice after slice, an activity polls the
 *   REST endpoint from the durable cursor and produces to Kafka; the cursor lives in the
 *   workflow (and in the activity's heartbeats within a slice), so a crash anywhere resumes
 *   where the last acknowledged events left off. It continues as new every 200 slices.
 *   `lake stream stop` signals it; it ends after the slice in flight.
 * - `compact:market:<hour>` turns raw hours (written by the Kafka consumer process,
 *   `lake consume market`) into curated.market_events and refreshes market_daily; the
 *   hourly schedule compacts the two hours before its own (late events of the earlier).
 */
import { ActivityCancellationType, continueAsNew, defineQuery, defineSignal, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { MarketActivities, MarketRun } from '../activities/market.ts';
import type { CompactedHour } from '../lib/market/compact.ts';
import type { PollProgress } from '../lib/market/poller.ts';
import { DATASET, ENGINE, PARTITION_DAY, SOURCE, ZONE } from '../lib/temporal/search-attributes.ts';
import { engineAttribute, type Engine } from '../lib/engine/engines.ts';
import { MARKET_LOAD_TABLES } from '../lib/warehouse/table-names.ts';
import { startWarehouseLoad } from './warehouse.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { addHours, assertHour, dayOfHour } from '../lib/time/hours.ts';

const stream = proxyActivities<MarketActivities>({
  taskQueue: TASK_QUEUES.ingest,
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  // Endpoint or broker trouble: keep trying, backing off to a minute; the cursor is safe.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// On cancel, wait until the activity has stopped (on Spark: its job killed or its
// SparkApplication deleted), so nothing commits after the run reports cancelled.
const lake = proxyActivities<MarketActivities>({
  taskQueue: TASK_QUEUES.process,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '5 minutes',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10, nonRetryableErrorTypes: ['MalformedFile'] },
});

export const MARKET_STREAM_WORKFLOW_ID = 'stream:market';
export const stopStreamSignal = defineSignal('stopStream');

export interface StreamStatus {
  readonly cursor: number;
  readonly produced: number;
  readonly duplicates: number;
  readonly endpointErrors: number;
  readonly slices: number;
  readonly stopping: boolean;
}

export const streamStatusQuery = defineQuery<StreamStatus>('streamStatus');

export interface MarketStreamInput {
  /** Highest seq produced so far (0: from the endpoint's start). */
  readonly cursor?: number;
  /** One activity's polling time (ms). */
  readonly sliceMs?: number;
  /** Events asked per request (default 1000; the simulator allows 5000). */
  readonly pageSize?: number;
  /** Stop on its own once the stream has produced this many events (tests, benchmarks). */
  readonly stopAfterEvents?: number;
  /** Carried across continue-as-new. */
  readonly totals?: Omit<StreamStatus, 'cursor' | 'stopping'>;
}

const SLICES_PER_RUN = 200;

export async function marketStream(input: MarketStreamInput): Promise<StreamStatus> {
  upsertSearchAttributes([
    { key: SOURCE, value: 'source_d' },
    { key: DATASET, value: 'market' },
    { key: ZONE, value: 'raw' },
  ]);
  let stopping = false;
  let cursor = input.cursor ?? 0;
  let { produced, duplicates, endpointErrors, slices } = input.totals ?? { produced: 0, duplicates: 0, endpointErrors: 0, slices: 0 };
  const status = (): StreamStatus => ({ cursor, produced, duplicates, endpointErrors, slices, stopping });
  setHandler(stopStreamSignal, () => void (stopping = true));
  setHandler(streamStatusQuery, status);

  const slicesBefore = slices;
  while (!stopping && produced < (input.stopAfterEvents ?? Number.POSITIVE_INFINITY)) {
    const p: PollProgress = await stream.pollMarketToKafka({
      cursor,
      maxMs: input.sliceMs ?? 20_000,
      ...(input.pageSize !== undefined ? { pageSize: input.pageSize } : {}),
      ...(input.stopAfterEvents !== undefined ? { maxEvents: input.stopAfterEvents - produced } : {}),
    });
    cursor = Math.max(cursor, p.cursor);
    produced += p.produced;
    duplicates += p.duplicates;
    endpointErrors += p.errors;
    slices++;
    if (!stopping && (slices - slicesBefore >= SLICES_PER_RUN || workflowInfo().continueAsNewSuggested)) {
      await continueAsNew<typeof marketStream>({ ...input, cursor, totals: { produced, duplicates, endpointErrors, slices } });
    }
  }
  return status();
}

export interface CompactMarketResult {
  readonly hours: readonly CompactedHour[];
  readonly dailyRows: number;
}

export const compactMarketWorkflowId = (hour: string): string => `compact:market:${hour}`;

/**
 * Compacts each hour (UTC, YYYY-MM-DDTHH) and refreshes market_daily for their days — through
 * `dailyTo` when given (a repair: market_interest of the 30 days after a repaired day counts it).
 */
export async function compactMarket(input: { hours: readonly string[]; dailyTo?: string }): Promise<CompactMarketResult> {
  const hours = [...input.hours].map((h) => assertHour(h)).sort();
  if (hours.length === 0) return { hours: [], dailyRows: 0 };
  upsertSearchAttributes([
    { key: SOURCE, value: 'source_d' },
    { key: DATASET, value: 'market' },
    { key: PARTITION_DAY, value: dayOfHour(hours[0] as string) },
    { key: ZONE, value: 'curated' },
  ]);
  const run: MarketRun = { workflowId: workflowInfo().workflowId, runId: workflowInfo().runId };
  const done: CompactedHour[] = [];
  const engines: Engine[] = [];
  for (const hour of hours) {
    const { engine, ...compacted } = await lake.compactMarketHour({ day: dayOfHour(hour), hour: Number(hour.slice(11, 13)), run });
    done.push(compacted);
    engines.push(engine);
  }
  upsertSearchAttributes([{ key: ZONE, value: 'operational' }]);
  const lastHourDay = dayOfHour(hours[hours.length - 1] as string);
  const days = { from: dayOfHour(hours[0] as string), to: input.dailyTo && input.dailyTo > lastHourDay ? input.dailyTo : lastHourDay };
  const daily = await lake.refreshMarketDaily({ ...days, run });
  upsertSearchAttributes([{ key: ENGINE, value: engineAttribute([...engines, daily.engine]) }]);
  await startWarehouseLoad({ tables: MARKET_LOAD_TABLES, range: days });
  return { hours: done, dailyRows: daily.rows };
}

/** The two hours before `due`: the last one, and the one before for events that came late. */
export const hoursToCompact = (due: string): string[] => [addHours(due, -2), addHours(due, -1)];
