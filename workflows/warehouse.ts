/**
 * Loading the warehouse from the lake. `loadWarehouse` creates the schema, rebuilds
 * operational.region_summary in the lake, then loads each table (a day range of the daily
 * tables, all of the small ones), each load one warehouse transaction. Workflows that
 * refresh operational data start it as an abandoned child when they finish, so a
 * warehouse outage delays the load (retried until it is back) but never the ingestion.
 */
import {
  ParentClosePolicy,
  proxyActivities,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { WarehouseActivities } from '../activities/warehouse.ts';
import { DATASET, ZONE } from '../lib/temporal/search-attributes.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { WAREHOUSE_TABLE_NAMES, type WarehouseTableName } from '../lib/warehouse/table-names.ts';
import type { DayRange, LoadResult } from '../lib/warehouse/warehouse.ts';

const wh = proxyActivities<WarehouseActivities>({
  taskQueue: TASK_QUEUES.process,
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  // No attempt limit: a warehouse that is down is waited for, backing off to 2 minutes.
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', nonRetryableErrorTypes: ['DuplicateKeyError', 'RangeError'] },
});

export interface LoadWarehouseInput {
  /** Tables to load (default: all), always in WAREHOUSE_TABLE_NAMES order. */
  readonly tables?: readonly WarehouseTableName[];
  /** Days of the daily tables to replace (default: all of them). */
  readonly range?: DayRange;
}

export interface LoadWarehouseResult {
  readonly loads: readonly LoadResult[];
  readonly summaryRows: number | null;
}

export async function loadWarehouse(input: LoadWarehouseInput = {}): Promise<LoadWarehouseResult> {
  const wanted = new Set(input.tables ?? WAREHOUSE_TABLE_NAMES);
  const tables = WAREHOUSE_TABLE_NAMES.filter((t) => wanted.has(t));
  upsertSearchAttributes([
    { key: DATASET, value: 'warehouse' },
    { key: ZONE, value: 'warehouse' },
  ]);
  const { workflowId, runId } = workflowInfo();
  await wh.ensureWarehouseSchema();
  const loads: LoadResult[] = [];
  let summaryRows: number | null = null;
  for (const table of tables) {
    // Rebuilt right before its load, after the tables it summarises are loaded.
    if (table === 'region_summary') summaryRows = (await wh.refreshRegionSummary({ run: { workflowId, runId } })).rows;
    loads.push(await wh.loadWarehouseTable({ table, loadId: `${workflowId}:${table}`, ...(input.range ? { range: input.range } : {}) }));
  }
  return { loads, summaryRows };
}

/**
 * Starts the load of what a finished workflow refreshed, as an abandoned child named after
 * that workflow (`<id>:warehouse`), and returns once it has started. A load of the same name
 * still running (a re-run of the same hour) is left to finish.
 */
export async function startWarehouseLoad(input: LoadWarehouseInput): Promise<void> {
  try {
    await startChild(loadWarehouse, {
      workflowId: `${workflowInfo().workflowId}:warehouse`,
      taskQueue: TASK_QUEUES.process,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [input],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
