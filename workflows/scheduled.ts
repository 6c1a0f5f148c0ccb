/**
 * What schedules start. The partition comes from the schedule's due time
 * (TemporalScheduledStartTime), never from "now", so catch-up and backfilled
 * actions land in the day they stand for.
 */
import { executeChild, workflowInfo } from '@temporalio/workflow';
import { SCHEDULED_START_TIME } from '../lib/temporal/search-attributes.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { dayOf } from '../lib/time/days.ts';
import { ingestFileSource, ingestWorkflowId, type IngestFileSourceResult } from './file-ingest.ts';
import { hourOf } from '../lib/time/hours.ts';
import { ingestWeatherHour, weatherHourWorkflowId, type WeatherHourResult } from './weather.ts';
import { compactMarket, compactMarketWorkflowId, hoursToCompact, type CompactMarketResult } from './market.ts';

export async function scheduledFileIngest(input: { source: string }): Promise<IngestFileSourceResult> {
  const info = workflowInfo();
  // A manual start has no scheduled time: it stands for the day it was started.
  const due = info.typedSearchAttributes.get(SCHEDULED_START_TIME) ?? info.startTime;
  const day = dayOf(due);
  return executeChild(ingestFileSource, {
    workflowId: ingestWorkflowId(input.source, day),
    taskQueue: TASK_QUEUES.ingest,
    args: [{ source: input.source, day }],
  });
}

/** Source C, hourly: the run stands for the hour it was due. */
export async function scheduledWeatherIngest(): Promise<WeatherHourResult> {
  const info = workflowInfo();
  const hour = hourOf(info.typedSearchAttributes.get(SCHEDULED_START_TIME) ?? info.startTime);
  return executeChild(ingestWeatherHour, {
    workflowId: weatherHourWorkflowId(hour),
    taskQueue: TASK_QUEUES.ingest,
    args: [{ hour }],
  });
}

/** Source D, hourly: compacts the two hours before the one it was due in. */
export async function scheduledMarketCompaction(): Promise<CompactMarketResult> {
  const info = workflowInfo();
  const due = hourOf(info.typedSearchAttributes.get(SCHEDULED_START_TIME) ?? info.startTime);
  const hours = hoursToCompact(due);
  return executeChild(compactMarket, {
    workflowId: compactMarketWorkflowId(hours[hours.length - 1] as string),
    taskQueue: TASK_QUEUES.process,
    args: [{ hours }],
  });
}
