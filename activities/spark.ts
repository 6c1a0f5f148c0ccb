/**
 * Running a transform on Spark from an activity: heartbeats while the job runs (a local
 * job or a SparkApplication says little on its own), the activity's cancellation kills the
 * job or deletes the SparkApplication, and a job that failed on its input fails the
 * activity non-retryably (`SparkBadInput`) with the driver's own message.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { runSparkTransform, SparkTransformError, type SparkTransformDeps, type SparkTransformRequest, type SparkTransformResult } from '../lib/spark/run-transform.ts';
import { withHeartbeats } from './heartbeats.ts';

export type SparkActivityDeps = SparkTransformDeps;

/** Failure type of a Spark job that failed on its input; workflows list it as non-retryable. */
export const SPARK_BAD_INPUT = 'SparkBadInput';

export async function runOnSpark(deps: SparkActivityDeps, req: Omit<SparkTransformRequest, 'onProgress' | 'signal'>): Promise<SparkTransformResult> {
  const signal = Context.current().cancellationSignal;
  try {
    return await withHeartbeats((progress) => runSparkTransform(deps, { ...req, onProgress: progress, signal }));
  } catch (err) {
    if (err instanceof SparkTransformError && err.badInput) throw ApplicationFailure.nonRetryable(err.message, SPARK_BAD_INPUT);
    throw err;
  }
}
