/**
 * Lake maintenance: compact small data files, expire old Iceberg snapshots and remove orphan
 * files, on the process queue (the workers that write the tables) through the same REST catalog.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { MaintenanceActivities, TableMaintenanceResult } from '../activities/maintenance.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';

const maintenance = proxyActivities<MaintenanceActivities>({
  taskQueue: TASK_QUEUES.process,
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  // Idempotent: a retry redoes what is left (a compaction either committed or left the table as it was).
  retry: { maximumAttempts: 3 },
});

export interface MaintainLakeInput {
  /** `namespace.table` names; every table of the catalog when absent. */
  readonly tables?: string[];
  /** Report what would be deleted, delete nothing. */
  readonly dryRun?: boolean;
  /** Compact each partition's small files first (default true; on Spark delete files are folded in too). */
  readonly compact?: boolean;
}

export async function maintainLake(input: MaintainLakeInput = {}): Promise<TableMaintenanceResult[]> {
  return maintenance.maintainLakeTables({
    ...(input.tables !== undefined ? { tables: input.tables } : {}),
    ...(input.dryRun !== undefined ? { dryRun: input.dryRun } : {}),
    ...(input.compact !== undefined ? { compact: input.compact } : {}),
  });
}
