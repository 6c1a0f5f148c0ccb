/**
 * Lake maintenance: expire old Iceberg snapshots and remove orphan files, on the process
 * queue (the workers that write the tables) through the same REST catalog.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { MaintenanceActivities, TableMaintenanceResult } from '../activities/maintenance.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';

const maintenance = proxyActivities<MaintenanceActivities>({
  taskQueue: TASK_QUEUES.process,
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  // Expiring and removing orphans is idempotent: a retry redoes what is left.
  retry: { maximumAttempts: 3 },
});

export interface MaintainLakeInput {
  /** `namespace.table` names; every table of the catalog when absent. */
  readonly tables?: string[];
  /** Report what would be deleted, delete nothing. */
  readonly dryRun?: boolean;
  /** Compact small files first (Spark only: ENGINE_OVERRIDES maintain_tables=spark|spark-k8s); default true there. */
  readonly compact?: boolean;
}

export async function maintainLake(input: MaintainLakeInput = {}): Promise<TableMaintenanceResult[]> {
  return maintenance.maintainLakeTables({
    ...(input.tables !== undefined ? { tables: input.tables } : {}),
    ...(input.dryRun !== undefined ? { dryRun: input.dryRun } : {}),
    ...(input.compact !== undefined ? { compact: input.compact } : {}),
  });
}
