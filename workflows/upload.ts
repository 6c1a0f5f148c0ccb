/**
 * Case 4: a customer's dataset upload. The API streams the body into the lake store under
 * `personal_area/<customer>/uploads/<name>/<uploadId>.<ext>`, then runs `customerUpload`
 * and waits for it: validate (DuckDB infers and types the columns; bad rows fail the run
 * non-retryably as `InvalidUpload`, with line numbers), publish as the Iceberg table
 * `personal_<customer>.<name>` in one commit (a re-upload replaces it), and load it into the
 * customer's warehouse schema. `deleteCustomerDataset` removes it from lake and warehouse.
 */
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { UploadActivities } from '../activities/upload.ts';
import { DATASET, ZONE } from '../lib/temporal/search-attributes.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';

const lake = proxyActivities<UploadActivities>({
  taskQueue: TASK_QUEUES.analysis,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidUpload'] },
});

import type { UploadFormat } from '../lib/uploads/publish-upload.ts';

export type { UploadFormat, UploadProblem } from '../lib/uploads/publish-upload.ts';

export interface UploadInput {
  readonly customerId: string;
  /** Dataset (and table) name: `^[a-z_][a-z0-9_]{0,62}$`, not starting with `analysis_`. */
  readonly name: string;
  readonly uploadId: string;
  /** Key of the uploaded bytes in the lake store. */
  readonly key: string;
  readonly format: UploadFormat;
}

export interface UploadColumn {
  readonly name: string;
  readonly type: string;
}

export interface UploadResult {
  readonly name: string;
  readonly lakeTable: string;
  readonly rows: number;
  readonly columns: readonly UploadColumn[];
}

export const uploadWorkflowId = (customerId: string, name: string, uploadId: string): string => `upload:${customerId}:${name}:${uploadId}`;

export async function customerUpload(input: UploadInput): Promise<UploadResult> {
  upsertSearchAttributes([
    { key: DATASET, value: `upload.${input.name}` },
    { key: ZONE, value: 'personal' },
  ]);
  const published = await lake.publishUpload(input);
  await lake.loadUpload({ customerId: input.customerId, name: input.name, loadId: `upload:${input.customerId}:${input.name}:${input.uploadId}` });
  return published;
}

export async function deleteCustomerDataset(input: { customerId: string; name: string }): Promise<void> {
  await lake.dropUpload(input);
}
