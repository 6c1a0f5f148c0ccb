/**
 * Warehouse activities: build operational.region_summary in the lake, create the warehouse
 * schema, and load one table. A load's retry is safe by construction (one transaction;
 * on Redshift the batch's ClientToken), so these retry freely except on bad data.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { withHeartbeats } from './heartbeats.ts';
import type { Lineage } from '../lib/lake/publish.ts';
import type { LakeSession } from '../lib/lake/session.ts';
import { refreshRegionSummary } from '../lib/warehouse/region-summary.ts';
import { warehouseTable } from '../lib/warehouse/tables.ts';
import { DuplicateKeyError, WarehouseError, type DayRange, type LoadResult, type Warehouse } from '../lib/warehouse/warehouse.ts';

export interface WarehouseActivityDeps {
  /** The configured warehouse (PostgreSQL or Redshift), shared by the worker's activities. */
  readonly warehouse: () => Warehouse;
  readonly openLake: () => Promise<LakeSession>;
}

export interface WarehouseRun {
  readonly workflowId: string;
  readonly runId: string;
}

export function createWarehouseActivities(deps: WarehouseActivityDeps) {
  return {
    async ensureWarehouseSchema(): Promise<void> {
      await deps.warehouse().ensureSchema();
    },

    async refreshRegionSummary(input: { run: WarehouseRun }): Promise<{ rows: number }> {
      const lineage: Lineage = { workflowId: input.run.workflowId, runId: input.run.runId, inputs: [] };
      const session = await deps.openLake();
      try {
        return { rows: (await refreshRegionSummary(session, { lineage })).rows };
      } finally {
        session.close();
      }
    },

    async loadWarehouseTable(input: { table: string; range?: DayRange; loadId: string }): Promise<LoadResult> {
      const table = warehouseTable(input.table);
      try {
        return await withHeartbeats((onProgress) =>
          deps.warehouse().load({ table, loadId: input.loadId, onProgress, ...(input.range ? { range: input.range } : {}) }),
        );
      } catch (err) {
        // Bad data or a bad request will fail the same way every time: tell the workflow now.
        if (err instanceof DuplicateKeyError || err instanceof RangeError || (err instanceof WarehouseError && /is after to/.test(err.message))) {
          throw ApplicationFailure.nonRetryable(err.message, err.name);
        }
        throw err;
      }
    },
  };
}

export type WarehouseActivities = ReturnType<typeof createWarehouseActivities>;
