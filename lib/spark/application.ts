/**
 * A Spark transform as a SparkApplication (sparkoperator.k8s.io/v1beta2): the template in
 * deploy/spark/sparkapplication.yaml filled in from the project's config and the job.
 *
 * The name is derived from the workflow ID and the step, so an activity retry (a worker
 * killed mid-job, a lost connection) finds the application it already created and follows
 * it instead of starting a second one. The lake's S3 keys come from a Kubernetes Secret
 * (SPARK_S3_SECRET) through secretKeyRef: they never appear in the spec.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadYaml } from '@kubernetes/client-node';
import { warehouseLocation, type Config } from '../config.ts';

export const SPARK_APPLICATION_TEMPLATE = fileURLToPath(new URL('../../deploy/spark/sparkapplication.yaml', import.meta.url));
export const SPARK_GROUP = 'sparkoperator.k8s.io';
export const SPARK_VERSION = 'v1beta2';
export const SPARK_PLURAL = 'sparkapplications';
/** Where deploy/spark/Dockerfile puts the job scripts in the image. */
export const IMAGE_JOBS_DIR = '/opt/tempolake/jobs';

/** Labels the project sets, so `kubectl get sparkapp -l tempolake.io/workflow-id-hash=…` finds a run's jobs. */
export const LABELS = {
  job: 'tempolake.io/job',
  workflowHash: 'tempolake.io/workflow-id-hash',
  inputHash: 'tempolake.io/input-hash',
} as const;
export const ANNOTATIONS = { workflowId: 'tempolake.io/workflow-id', step: 'tempolake.io/step' } as const;

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly secretKeyRef: { readonly name: string; readonly key: string } };
}

export interface SparkApplication {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string; uid?: string };
  spec: {
    type: string;
    mode: string;
    sparkVersion: string;
    image: string;
    mainApplicationFile: string;
    arguments?: string[];
    sparkConf?: Record<string, string>;
    deps?: { pyFiles?: string[]; jars?: string[] };
    driver: { cores?: number; memory?: string; serviceAccount?: string; env?: EnvVar[]; labels?: Record<string, string> };
    executor: { cores?: number; instances?: number; memory?: string; env?: EnvVar[]; labels?: Record<string, string> };
    [key: string]: unknown;
  };
  status?: SparkApplicationStatus;
}

export interface SparkApplicationStatus {
  applicationState?: { state?: string; errorMessage?: string };
  driverInfo?: { podName?: string; webUIAddress?: string };
  sparkApplicationId?: string;
  submissionAttempts?: number;
  executionAttempts?: number;
  terminationTime?: string;
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * `tl-<readable part of the workflow ID and step>-<hash>`: a DNS-1123 label of at most 52
 * characters (the operator appends `-driver` and executor suffixes to make pod names, which
 * stop at 63). The hash keeps distinct workflow IDs apart whatever the readable part loses.
 */
export function sparkApplicationName(workflowId: string, step: string): string {
  const hash = sha(`${workflowId}\n${step}`).slice(0, 10);
  const readable = `${workflowId}-${step}`
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 52 - 'tl-'.length - 1 - hash.length)
    .replace(/-+$/, '');
  return `tl-${readable ? `${readable}-` : ''}${hash}`;
}

export interface SparkApplicationJob {
  /** The job script's name under deploy/spark/jobs, without `.py`. */
  readonly job: string;
  /** The job's `--input` (JSON). */
  readonly input: unknown;
  readonly workflowId: string;
  readonly step: string;
}

/** The S3 endpoint/region are settings; the keys are the Secret's. */
function lakeEnv(config: Config): EnvVar[] {
  const secret = config.sparkS3Secret;
  return [
    { name: 'TEMPOLAKE_CATALOG_URI', value: config.icebergCatalogUrl.toString().replace(/\/$/, '') },
    { name: 'TEMPOLAKE_CATALOG_WAREHOUSE', value: warehouseLocation(config) },
    { name: 'TEMPOLAKE_S3_ENDPOINT', value: config.s3Endpoint.toString().replace(/\/$/, '') },
    { name: 'TEMPOLAKE_S3_REGION', value: config.s3Region },
    { name: 'TEMPOLAKE_S3_PATH_STYLE', value: 'true' },
    { name: 'TEMPOLAKE_S3_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: secret, key: 'access-key-id' } } },
    { name: 'TEMPOLAKE_S3_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: secret, key: 'secret-access-key' } } },
  ];
}

/** The template, filled in for one job of one workflow step. */
export function renderSparkApplication(config: Config, job: SparkApplicationJob): SparkApplication {
  if (!/^[a-z][a-z0-9_]*$/.test(job.job)) throw new Error(`"${job.job}" is not a job name (deploy/spark/jobs/<name>.py)`);
  const app = loadYaml<SparkApplication>(readFileSync(SPARK_APPLICATION_TEMPLATE, 'utf8'));
  const input = JSON.stringify(job.input);
  const env = lakeEnv(config);
  app.metadata = {
    name: sparkApplicationName(job.workflowId, job.step),
    namespace: config.sparkNamespace,
    labels: { ...app.metadata.labels, [LABELS.job]: job.job.replace(/_/g, '-'), [LABELS.workflowHash]: sha(job.workflowId).slice(0, 16), [LABELS.inputHash]: sha(input).slice(0, 16) },
    // Annotations carry the workflow ID as it is (labels refuse most of its characters).
    annotations: { [ANNOTATIONS.workflowId]: job.workflowId, [ANNOTATIONS.step]: job.step },
  };
  app.spec.image = config.sparkImage;
  app.spec.mainApplicationFile = `local://${IMAGE_JOBS_DIR}/${job.job}.py`;
  app.spec.arguments = ['--input', input];
  app.spec.driver = { ...app.spec.driver, memory: config.sparkDriverMemory, env };
  app.spec.executor = { ...app.spec.executor, instances: config.sparkExecutors, memory: config.sparkExecutorMemory, env };
  return app;
}
