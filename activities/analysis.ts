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
import type { Config } from '../lib/config.ts';
import { chooseEngine, type Engine } from '../lib/engine/engines.ts';
import { runOnSpark, SPARK_BAD_INPUT, type SparkActivityDeps } from './spark.ts';
import { customerRole, customerSchema } from '../lib/warehouse/customers.ts';
import type { LoadResult, Warehouse } from '../lib/warehouse/warehouse.ts';

export interface AnalysisRun {
  readonly workflowId: string;
  readonly runId: string;
}

export interface AnalysisActivityDeps {
  readonly config: Config;
  readonly warehouse: () => Warehouse;
  readonly openLake: () => Promise<LakeSession>;
  /** For region_trend on Spark (ENGINE / ENGINE_OVERRIDES region_trend=…). */
  readonly spark: SparkActivityDeps;
}

const invalid = (message: string): ApplicationFailure => ApplicationFailure.nonRetryable(message, 'InvalidAnalysis');

export function createAnalysisActivities(deps: AnalysisActivityDeps) {
  return {
    async computeAnalysis(input: { customerId: string; table: string; request: AnalysisRequest; run: AnalysisRun }): Promise<{ lakeTable: string; rows: number; engine: Engine }> {
      const parsed = AnalysisRequest.safeParse(input.request);
      if (!parsed.success) throw invalid(parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
      // Only region_trend has a Spark job; the other analyses stay on DuckDB.
      const { engine } = parsed.data.type === 'region_trend' ? chooseEngine(deps.config, 'region_trend') : { engine: 'duckdb' as const };
      if (engine !== 'duckdb') {
        const lakeTable = `${personalNamespace(input.customerId)}.${input.table}`;
        try {
          const r = await runOnSpark(deps.spark, {
            engine,
            transform: 'region_trend',
            input: { customerId: input.customerId, table: input.table, request: parsed.data },
            ...input.run,
            step: 'region_trend',
            outcome: { kind: 'count', table: lakeTable },
          });
          return { lakeTable, rows: r.rows, engine };
        } catch (err) {
          // The reason the job gave (an unknown region) is the customer's to see, as on DuckDB.
          if (err instanceof ApplicationFailure && err.type === SPARK_BAD_INPUT) throw invalid(err.message);
          throw err;
        }
      }
      const session = await deps.openLake();
      try {
        return { ...(await withHeartbeats(() => computeAnalysis(session, { customerId: input.customerId, table: input.table, request: parsed.data }))), engine };
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
