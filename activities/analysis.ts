/**
 * Case 3's activities: compute an analysis from the lake into the customer's personal
 * Iceberg namespace, load it into the customer's warehouse schema, and remove both when the
 * analysis is cancelled. Bad parameters fail non-retryably (`InvalidAnalysis`) with the
 * reason the API shows; everything else is left to the workflow's retry policy.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { withHeartbeats } from './heartbeats.ts';
import { AnalysisRequest } from '../lib/analysis/requests.ts';
import { computeAnalysis, dropAnalysisTable, InvalidAnalysisError, personalNamespace } from '../lib/analysis/compute.ts';
import type { LakeSession } from '../lib/lake/session.ts';
import { customerRole, customerSchema } from '../lib/warehouse/customers.ts';
import type { LoadResult, Warehouse } from '../lib/warehouse/warehouse.ts';

export interface AnalysisRun {
  readonly workflowId: string;
  readonly runId: string;
}

export interface AnalysisActivityDeps {
  readonly warehouse: () => Warehouse;
  readonly openLake: () => Promise<LakeSession>;
}

const invalid = (message: string): ApplicationFailure => ApplicationFailure.nonRetryable(message, 'InvalidAnalysis');

export function createAnalysisActivities(deps: AnalysisActivityDeps) {
  return {
    async computeAnalysis(input: { customerId: string; table: string; request: AnalysisRequest; run: AnalysisRun }): Promise<{ lakeTable: string; rows: number }> {
      const parsed = AnalysisRequest.safeParse(input.request);
      if (!parsed.success) throw invalid(parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
      const session = await deps.openLake();
      try {
        return await withHeartbeats(() => computeAnalysis(session, { customerId: input.customerId, table: input.table, request: parsed.data }));
      } catch (err) {
        if (err instanceof InvalidAnalysisError) throw invalid(err.message);
        throw err;
      } finally {
        session.close();
      }
    },

    async loadAnalysisResult(input: { customerId: string; table: string; loadId: string }): Promise<LoadResult> {
      return withHeartbeats((onProgress) => deps.warehouse().replaceTable({
        source: { namespace: personalNamespace(input.customerId), name: input.table },
        schema: customerSchema(input.customerId),
        table: input.table,
        readerRole: customerRole(input.customerId),
        loadId: input.loadId,
        onProgress,
      }));
    },

    async dropAnalysisResult(input: { customerId: string; table: string }): Promise<void> {
      await deps.warehouse().dropTable(customerSchema(input.customerId), input.table);
      const session = await deps.openLake();
      try {
        await dropAnalysisTable(session, input);
      } finally {
        session.close();
      }
    },
  };
}

export type AnalysisActivities = ReturnType<typeof createAnalysisActivities>;
