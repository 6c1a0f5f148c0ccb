/**
 * Sources A and B: `ingest:<source>:<day>` fetches the day's files into the raw zone,
 * then `curate:<source>:<day>` (a child on the process queue) publishes them to the
 * source's curated Iceberg table. Both IDs make re-runs idempotent and runs findable.
 */
import { ActivityCancellationType, executeChild, proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { CurateActivities, CurateResult } from '../activities/curate.ts';
import type { FileIngestActivities, RawFileRef } from '../activities/file-ingest.ts';
import { NON_RETRYABLE_SOURCE_ERRORS } from '../lib/sources/source-error-types.ts';
import { ENGINE, PARTITION_DAY, SOURCE, ZONE } from '../lib/temporal/search-attributes.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';

const ingest = proxyActivities<FileIngestActivities>({
  taskQueue: TASK_QUEUES.ingest,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  // A file that is not there yet is retried for a day, backing off to hourly polls.
  scheduleToCloseTimeout: '26 hours',
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 hour',
    // Wrong credentials or a bad URL will not heal by waiting.
    nonRetryableErrorTypes: NON_RETRYABLE_SOURCE_ERRORS,
  },
});

// A backfill of past days does not wait for files: a day missing at the source fails after a few tries.
const ingestNoWait = proxyActivities<FileIngestActivities>({
  taskQueue: TASK_QUEUES.ingest,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE_SOURCE_ERRORS },
});

// On cancel, wait until the activity has stopped (on Spark: its job killed or its
// SparkApplication deleted), so nothing commits after the run reports cancelled.
const curate = proxyActivities<CurateActivities>({
  taskQueue: TASK_QUEUES.process,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10, nonRetryableErrorTypes: ['MalformedFile', 'RawPartitionEmpty'] },
});

export interface FileDayInput {
  readonly source: string;
  /** Ingestion day: the raw partition. */
  readonly day: string;
  /** `wait` (scheduled runs): poll for a late file for up to a day. `fail`: give up after a few tries. */
  readonly missingFile?: 'wait' | 'fail';
}

export interface IngestFileSourceResult {
  readonly source: string;
  readonly day: string;
  readonly raw: RawFileRef[];
  readonly curated: CurateResult;
}

export const ingestWorkflowId = (source: string, day: string): string => `ingest:${source}:${day}`;
export const curateWorkflowId = (source: string, day: string): string => `curate:${source}:${day}`;

export async function ingestFileSource(input: FileDayInput): Promise<IngestFileSourceResult> {
  upsertSearchAttributes([
    { key: SOURCE, value: input.source },
    { key: PARTITION_DAY, value: input.day },
    { key: ZONE, value: 'raw' },
  ]);
  const fetcher = input.missingFile === 'fail' ? ingestNoWait : ingest;
  const raw = await fetcher.fetchSourceFilesToRaw({ source: input.source, day: input.day });
  const curated = await executeChild(processToCurated, {
    workflowId: curateWorkflowId(input.source, input.day),
    taskQueue: TASK_QUEUES.process,
    args: [{ source: input.source, day: input.day }],
  });
  return { source: input.source, day: input.day, raw, curated };
}

export async function processToCurated(input: FileDayInput): Promise<CurateResult> {
  upsertSearchAttributes([
    { key: SOURCE, value: input.source },
    { key: PARTITION_DAY, value: input.day },
    { key: ZONE, value: 'curated' },
  ]);
  const { workflowId, runId } = workflowInfo();
  const curated = await curate.curateRawDay({ source: input.source, ingestDay: input.day, run: { workflowId, runId } });
  upsertSearchAttributes([{ key: ENGINE, value: curated.engine }]);
  return curated;
}
