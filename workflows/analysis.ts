/**
 * Case 3: a customer's on-demand analysis. `analysis:<customer>:<id>` computes the result
 * from the lake into the Iceberg table `personal_<customer>.analysis_<id>` (one commit),
 * then loads it into the customer's warehouse schema as `analysis_<id>`. Bad parameters
 * fail at once with the reason the API shows; anything else is retried, the warehouse
 * load until the warehouse is back. Cancelling stops the activities and removes whatever
 * the run had written, so no partial result is left in the lake or the warehouse.
 */
import { ActivityCancellationType, CancellationScope, defineQuery, isCancellation, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { AnalysisActivities } from '../activities/analysis.ts';
import type { AnalysisRequest } from '../lib/analysis/requests.ts';
import { DATASET, ENGINE, ZONE } from '../lib/temporal/search-attributes.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';

// On cancel, wait until the activity has really stopped: cleanup must not race a commit still under way.
const compute = proxyActivities<AnalysisActivities>({
  taskQueue: TASK_QUEUES.analysis,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10, nonRetryableErrorTypes: ['InvalidAnalysis'] },
});

const load = proxyActivities<AnalysisActivities>({
  taskQueue: TASK_QUEUES.analysis,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  // No attempt limit: a warehouse outage is waited out (backing off to 2 minutes).
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes' },
});

const cleanup = proxyActivities<AnalysisActivities>({
  taskQueue: TASK_QUEUES.analysis,
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
});

export interface AnalysisInput {
  readonly customerId: string;
  /** 1–32 lower-case hex digits or letters: the result tables are `analysis_<id>`. */
  readonly analysisId: string;
  readonly request: AnalysisRequest;
}

export interface AnalysisResult {
  /** The result's table in the customer's warehouse schema. */
  readonly table: string;
  /** The same result in the lake: `personal_<customer>.analysis_<id>`. */
  readonly lakeTable: string;
  readonly rows: number;
}

export type AnalysisPhase = 'computing' | 'loading' | 'done';

export interface AnalysisProgress {
  readonly phase: AnalysisPhase;
  readonly rows?: number;
}

export const analysisProgressQuery = defineQuery<AnalysisProgress>('analysisProgress');

export const analysisWorkflowId = (customerId: string, analysisId: string): string => `analysis:${customerId}:${analysisId}`;
export const analysisTableName = (analysisId: string): string => `analysis_${analysisId}`;

export async function customerAnalysis(input: AnalysisInput): Promise<AnalysisResult> {
  upsertSearchAttributes([
    { key: DATASET, value: `analysis.${input.request.type}` },
    { key: ZONE, value: 'personal' },
  ]);
  let progress: AnalysisProgress = { phase: 'computing' };
  setHandler(analysisProgressQuery, () => progress);
  const table = analysisTableName(input.analysisId);
  const run = { workflowId: workflowInfo().workflowId, runId: workflowInfo().runId };
  try {
    const computed = await compute.computeAnalysis({ customerId: input.customerId, table, request: input.request, run });
    upsertSearchAttributes([{ key: ENGINE, value: computed.engine }]);
    progress = { phase: 'loading', rows: computed.rows };
    await load.loadAnalysisResult({ customerId: input.customerId, table, loadId: `${run.workflowId}:load` });
    progress = { phase: 'done', rows: computed.rows };
    return { table, lakeTable: computed.lakeTable, rows: computed.rows };
  } catch (err) {
    if (isCancellation(err)) {
      // The activities are cancelled; what they wrote is removed before the run ends.
      await CancellationScope.nonCancellable(() => cleanup.dropAnalysisResult({ customerId: input.customerId, table }));
    }
    throw err;
  }
}
