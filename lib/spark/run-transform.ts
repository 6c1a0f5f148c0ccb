/**
 * A transform on Spark, local or on Kubernetes, as activities call it: the job is run (or,
 * on Kubernetes, its SparkApplication created or re-adopted and followed), then what it
 * published is read back from the lake — the lineage row its publish wrote last, or the
 * result table's row count — so both Sparks answer the same way, and on Kubernetes nothing
 * depends on the driver's output reaching the worker.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../config.ts';
import type { Transform } from '../engine/engines.ts';
import { LAKE, type LakeSession } from '../lake/session.ts';
import { renderSparkApplication } from './application.ts';
import { runSparkApplication, SparkApplicationFailedError } from './kubernetes-runner.ts';
import { runSparkJob, SparkJobError } from './submit.ts';

export interface SparkTransformDeps {
  readonly config: Config;
  /** The cluster's client, made on first use (only spark-k8s needs one). */
  readonly kube: () => KubeConfig;
  readonly openLake: () => Promise<LakeSession>;
}

/** Where the transform's outcome is read from once the job has finished. */
export type SparkTransformOutcome =
  | { readonly kind: 'lineage'; readonly table: string; readonly scope: string }
  | { readonly kind: 'count'; readonly table: string }
  /** Nothing to read back (maintenance): the job's end is the outcome. */
  | { readonly kind: 'none' };

export interface SparkTransformRequest {
  readonly engine: 'spark' | 'spark-k8s';
  readonly transform: Transform;
  /** The job's `--input`. */
  readonly input: unknown;
  readonly workflowId: string;
  readonly runId: string;
  /** Distinguishes the jobs of one workflow run (the SparkApplication name derives from it). */
  readonly step: string;
  readonly outcome: SparkTransformOutcome;
  readonly onProgress?: (detail: string) => void;
  readonly signal?: AbortSignal;
}

export interface SparkTransformResult {
  readonly rows: number;
  readonly rejected: number;
  readonly retries: number;
  readonly engine: 'spark' | 'spark-k8s';
  /** The SparkApplication's name (spark-k8s), or the local job's timings. */
  readonly detail: string;
  /** What the job's main returned — local spark-submit only: on Kubernetes the driver's output reaches nobody. */
  readonly jobResult?: Record<string, unknown>;
}

/** A Spark transform that failed; `badInput` when the job said its input is at fault (no retry helps). */
export class SparkTransformError extends Error {
  override name = 'SparkTransformError';
  constructor(
    message: string,
    readonly badInput: boolean,
  ) {
    super(message);
  }
}

async function readOutcome(deps: SparkTransformDeps, req: SparkTransformRequest): Promise<{ rows: number; rejected: number }> {
  if (req.outcome.kind === 'none') return { rows: 0, rejected: 0 };
  const session = await deps.openLake();
  try {
    if (req.outcome.kind === 'count') {
      const [r] = await session.rows<{ n: string }>(`SELECT count(*) AS n FROM ${LAKE}.${req.outcome.table}`);
      return { rows: Number(r?.n ?? 0), rejected: 0 };
    }
    const [row] = await session.rows<{ rows: string; rejected: string }>(
      `SELECT "rows", rejected FROM ${LAKE}.lineage.commits
        WHERE table_name = ? AND scope = ? AND workflow_id = ? AND run_id = ? ORDER BY committed_at DESC LIMIT 1`,
      [req.outcome.table, req.outcome.scope, req.workflowId, req.runId],
    );
    if (!row) throw new SparkTransformError(`Spark job ${req.transform} ended without the lineage row of ${req.outcome.table} ${req.outcome.scope}: nothing was published`, false);
    return { rows: Number(row.rows), rejected: Number(row.rejected) };
  } finally {
    session.close();
  }
}

export async function runSparkTransform(deps: SparkTransformDeps, req: SparkTransformRequest): Promise<SparkTransformResult> {
  let detail: string;
  let jobResult: Record<string, unknown> | undefined;
  try {
    if (req.engine === 'spark') {
      const r = await runSparkJob<Record<string, unknown>>(deps.config, {
        script: `${req.transform}.py`,
        args: ['--input', JSON.stringify(req.input)],
        ...(req.onProgress ? { onProgress: req.onProgress } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      detail = `local spark-submit: JVM ${r.timing.jvmStartMs} ms, session ${r.timing.sessionStartMs} ms, job ${r.timing.jobMs} ms`;
      jobResult = r.result;
    } else {
      const app = renderSparkApplication(deps.config, { job: req.transform, input: req.input, workflowId: req.workflowId, step: req.step });
      const run = await runSparkApplication(deps.kube(), app, {
        onState: (state) => req.onProgress?.(`SparkApplication ${app.metadata.name}: ${state}`),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      detail = `SparkApplication ${app.metadata.namespace}/${app.metadata.name}${run.created ? '' : ' (adopted from an earlier attempt)'}`;
    }
  } catch (err) {
    if (err instanceof SparkJobError) throw new SparkTransformError(err.message, err.exitCode === 2 || /BadInputError/.test(err.exceptionType ?? ''));
    if (err instanceof SparkApplicationFailedError) throw new SparkTransformError(err.message, err.badInput);
    throw err;
  }
  const counts = await readOutcome(deps, req);
  return { ...counts, retries: 0, engine: req.engine, detail, ...(jobResult ? { jobResult } : {}) };
}
