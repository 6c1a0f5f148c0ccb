/**
 * Which dataset days a workflow holds now (running) or last failed on, from Temporal's
 * visibility: runs carry Source, Zone and PartitionDay search attributes (set by the ingest,
 * compaction and weather workflows), so two list queries cover every dataset.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { PARTITION_DAY, SOURCE, ZONE } from '../temporal/search-attributes.ts';

export interface RunFact {
  readonly workflowId: string;
  readonly runId: string;
  readonly source: string;
  readonly zone: string;
  readonly partitionDay: string;
  readonly status: 'running' | 'failed';
  readonly startedAt: string;
  readonly closedAt?: string;
  /** Why it failed (the failure's message), for failed runs. */
  readonly reason?: string;
}

const FAILED = ['Failed', 'TimedOut', 'Terminated'];

function fact(info: WorkflowExecutionInfo, status: RunFact['status']): RunFact | undefined {
  const attrs = info.typedSearchAttributes;
  const source = attrs.get(SOURCE);
  const zone = attrs.get(ZONE);
  const partitionDay = attrs.get(PARTITION_DAY);
  if (!source || !zone || !partitionDay) return undefined;
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    source,
    zone,
    partitionDay,
    status,
    startedAt: info.startTime.toISOString(),
    ...(info.closeTime ? { closedAt: info.closeTime.toISOString() } : {}),
  };
}

async function failureReason(client: Client, run: RunFact): Promise<string> {
  try {
    await client.workflow.getHandle(run.workflowId, run.runId).result();
    return 'failed';
  } catch (err) {
    // WorkflowFailedError → its cause is the workflow's own failure (an activity's, through ActivityFailure).
    let e = err as Error;
    while (e.cause instanceof Error) e = e.cause;
    return e.message.split('\n')[0] ?? 'failed';
  }
}

/** Running runs, and runs that failed since `since` (ISO), with their reasons. */
export async function datasetRuns(client: Client, since: string): Promise<RunFact[]> {
  const out: RunFact[] = [];
  for await (const info of client.workflow.list({ query: `ExecutionStatus = 'Running' AND PartitionDay IS NOT NULL` })) {
    const f = fact(info, 'running');
    if (f) out.push(f);
  }
  const failed: RunFact[] = [];
  const statuses = FAILED.map((s) => `ExecutionStatus = '${s}'`).join(' OR ');
  for await (const info of client.workflow.list({ query: `(${statuses}) AND CloseTime > '${since}' AND PartitionDay IS NOT NULL` })) {
    const f = fact(info, 'failed');
    if (f) failed.push(f);
  }
  // One reason per failed run: a history fetch each, a few at a time.
  for (let i = 0; i < failed.length; i += 8) {
    const batch = failed.slice(i, i + 8);
    const reasons = await Promise.all(batch.map((f) => failureReason(client, f)));
    batch.forEach((f, j) => out.push({ ...f, reason: reasons[j] ?? 'failed' }));
  }
  return out;
}
