/**
 * `evaluateFreshness` (the `evaluate-freshness` schedule): finds the datasets whose newest due
 * day is not published (lib/catalog/datasets.ts declares each expectation), shows them as the
 * run's FreshnessViolations search attribute, and alerts each violation once: one
 * `freshness-alert:<dataset>:<day>` workflow per violation, its ID never reused, posts it to the
 * webhook with retries. Evaluating again finds the same violation and starts nothing new.
 */
import { ParentClosePolicy, proxyActivities, startChild, upsertSearchAttributes, WorkflowIdReusePolicy } from '@temporalio/workflow';
import type { CatalogActivities, FreshnessInput, FreshnessViolation } from '../activities/catalog.ts';
import { FRESHNESS_VIOLATIONS } from '../lib/temporal/search-attributes.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';

const catalog = proxyActivities<CatalogActivities>({ taskQueue: TASK_QUEUES.process, startToCloseTimeout: '5 minutes', retry: { maximumAttempts: 3 } });

const webhook = proxyActivities<CatalogActivities>({
  taskQueue: TASK_QUEUES.process,
  startToCloseTimeout: '30 seconds',
  // A receiver that is down for a while still gets the alert, once it is back (within a day).
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 minutes', nonRetryableErrorTypes: ['WebhookRefused'] },
});

export const freshnessAlertWorkflowId = (v: Pick<FreshnessViolation, 'dataset' | 'day'>): string => `freshness-alert:${v.dataset}:${v.day}`;

export interface FreshnessOutcome {
  readonly violations: readonly FreshnessViolation[];
  /** Alert workflows started by this evaluation (the others were alerted before). */
  readonly alerted: readonly string[];
}

export async function evaluateFreshness(input: FreshnessInput = {}): Promise<FreshnessOutcome> {
  const violations = await catalog.findFreshnessViolations(input);
  upsertSearchAttributes([{ key: FRESHNESS_VIOLATIONS, value: violations.map((v) => `${v.dataset}:${v.day}`) }]);
  const alerted: string[] = [];
  for (const violation of violations) {
    const workflowId = freshnessAlertWorkflowId(violation);
    try {
      await startChild(freshnessAlert, {
        workflowId,
        args: [violation],
        taskQueue: TASK_QUEUES.process,
        // Once per violation, ever: a finished alert's ID is not started again.
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        // The alert keeps retrying the webhook after this evaluation has ended.
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
      alerted.push(workflowId);
    } catch (err) {
      if ((err as Error).name !== 'WorkflowExecutionAlreadyStartedError') throw err;
    }
  }
  return { violations, alerted };
}

export async function freshnessAlert(violation: FreshnessViolation): Promise<unknown> {
  return webhook.postFreshnessViolation({ violation, idempotencyKey: freshnessAlertWorkflowId(violation) });
}
