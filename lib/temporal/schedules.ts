/**
 * Every schedule of the platform, declared in code and applied idempotently by
 * `lake schedules apply` (created when missing, updated when present).
 */
import { ScheduleOverlapPolicy, type ScheduleOptionsAction, type ScheduleSpec } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { TASK_QUEUES } from './task-queues.ts';

export interface ScheduleDecl {
  readonly id: string;
  readonly description: string;
  readonly spec: ScheduleSpec;
  readonly workflowType: string;
  readonly args: unknown[];
  readonly taskQueue: string;
  readonly workflowIdPrefix: string;
  /**
   * Each scheduled run is its own partition with its own workflow ID, so runs may
   * overlap (a day still waiting for a late file does not hold up the next day).
   */
  readonly overlap: ScheduleOverlapPolicy;
  /** After an outage, due runs within this window still run (each for its own day). */
  readonly catchupWindow: Duration;
}

export const SCHEDULES: readonly ScheduleDecl[] = [
  {
    id: 'ingest-source_a-daily',
    description: 'Source A: fetch the day’s file at 06:00 UTC, curate it (3-day lag)',
    spec: { calendars: [{ hour: 6, minute: 0, comment: 'daily 06:00 UTC' }] },
    workflowType: 'scheduledFileIngest',
    args: [{ source: 'source_a' }],
    taskQueue: TASK_QUEUES.ingest,
    workflowIdPrefix: 'scheduled:source_a',
    overlap: ScheduleOverlapPolicy.ALLOW_ALL,
    catchupWindow: '7 days',
  },
  {
    id: 'ingest-source_b-14d',
    description: 'Source B: fetch the extract every 14 days at 06:00 UTC, curate by its timestamp',
    // Interval schedules count from the Unix epoch; the offset puts the run at 06:00 UTC.
    spec: { intervals: [{ every: '14 days', offset: '6 hours' }] },
    workflowType: 'scheduledFileIngest',
    args: [{ source: 'source_b' }],
    taskQueue: TASK_QUEUES.ingest,
    workflowIdPrefix: 'scheduled:source_b',
    overlap: ScheduleOverlapPolicy.ALLOW_ALL,
    catchupWindow: '28 days',
  },
  {
    id: 'ingest-weather-hourly',
    description: 'Source C: current weather and the 7-day forecast of every region, hourly at :05; daily and rolling datasets refreshed',
    spec: { calendars: [{ minute: 5, hour: '*', comment: 'hourly at :05 UTC' }] },
    workflowType: 'scheduledWeatherIngest',
    args: [],
    taskQueue: TASK_QUEUES.ingest,
    workflowIdPrefix: 'scheduled:weather',
    // "Current" conditions cannot be fetched for a past hour: a run more than an hour late
    // is dropped rather than filed under the wrong hour. History gaps are what
    // `lake backfill weather` (the archive endpoint) is for.
    overlap: ScheduleOverlapPolicy.SKIP,
    catchupWindow: '1 hour',
  },
  {
    id: 'compact-market-hourly',
    description: 'Source D: compact the two previous hours of raw market events into curated.market_events; refresh market_daily',
    spec: { calendars: [{ minute: 10, hour: '*', comment: 'hourly at :10 UTC' }] },
    workflowType: 'scheduledMarketCompaction',
    args: [],
    taskQueue: TASK_QUEUES.process,
    workflowIdPrefix: 'scheduled:market',
    // Compactions of the same hours must not race; a late one still does its hours right.
    overlap: ScheduleOverlapPolicy.SKIP,
    catchupWindow: '1 day',
  },
  {
    id: 'maintain-lake-daily',
    description: 'Compact small data files, expire Iceberg snapshots older than the retention and remove orphan files',
    spec: { calendars: [{ hour: 3, minute: 30, comment: 'daily 03:30 UTC' }] },
    workflowType: 'maintainLake',
    args: [{}],
    taskQueue: TASK_QUEUES.process,
    workflowIdPrefix: 'maintain:lake',
    // Maintenance of the same tables must not run twice at once.
    overlap: ScheduleOverlapPolicy.SKIP,
    catchupWindow: '1 day',
  },
  {
    id: 'evaluate-freshness',
    description: "Freshness: every dataset's newest due day checked against its expectation (lib/catalog/datasets.ts); each violation alerted once to FRESHNESS_WEBHOOK_URL",
    spec: { intervals: [{ every: '15 minutes' }] },
    workflowType: 'evaluateFreshness',
    args: [{}],
    taskQueue: TASK_QUEUES.process,
    workflowIdPrefix: 'freshness:evaluate',
    overlap: ScheduleOverlapPolicy.SKIP,
    // A missed evaluation is superseded by the next one.
    catchupWindow: '15 minutes',
  },
];

export function scheduleAction(d: ScheduleDecl): ScheduleOptionsAction {
  return {
    type: 'startWorkflow',
    workflowType: d.workflowType,
    args: d.args,
    taskQueue: d.taskQueue,
    workflowId: d.workflowIdPrefix,
  };
}
