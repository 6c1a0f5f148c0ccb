/**
 * Runs a SparkApplication to its end through the Kubernetes API: create it (or find the one
 * an earlier attempt of the same step created, and follow that), watch its state until
 * COMPLETED or FAILED, and delete it when the caller gives up (a cancelled workflow).
 *
 * What failed is read from the driver pod's termination message, which the job writes
 * (deploy/spark/jobs/tempolake_spark.py): on Kubernetes nobody else reads the driver's
 * output. A job that exits 2 failed on its input (no retry will help); anything else — a
 * lost node, an evicted pod, a submission the operator could not make — is retryable.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { apiErrorCode, openWatch } from '../clients/kubernetes.ts';
import { LABELS, SPARK_GROUP, SPARK_PLURAL, SPARK_VERSION, type SparkApplication } from './application.ts';

const TERMINAL_FAILED = new Set(['FAILED', 'SUBMISSION_FAILED']);
/** Exit status of a job that failed on its input (tempolake_spark.BAD_INPUT_EXIT). */
const BAD_INPUT_EXIT = 2;
const ERROR_PREFIX = 'TEMPOLAKE_ERROR ';

export class SparkApplicationFailedError extends Error {
  override name = 'SparkApplicationFailedError';
  constructor(
    message: string,
    /** The job failed on its input: retrying will fail the same way. */
    readonly badInput: boolean,
    readonly state: string,
    readonly exitCode?: number,
    /** The exception's type as the job reported it (`BadInputError`, `AnalysisException(…)`). */
    readonly reportedType?: string,
  ) {
    super(message);
  }
}

export interface SparkApplicationRunOptions {
  /** Each state seen (activities heartbeat with it), and at least every `watchSeconds`. */
  readonly onState?: (state: string, app: SparkApplication) => void;
  /** Aborting deletes the application (its driver and executors go with it) and rejects. */
  readonly signal?: AbortSignal;
  /** Longest single watch before the object is read again (default 20 s). */
  readonly watchSeconds?: number;
}

export interface SparkApplicationRun {
  readonly app: SparkApplication;
  /** False when an earlier attempt's application was found and followed. */
  readonly created: boolean;
}

type Api = CustomObjectsApi;

function ref(app: SparkApplication): { group: string; version: string; namespace: string; plural: string; name: string } {
  const namespace = app.metadata.namespace;
  if (!namespace) throw new Error(`SparkApplication ${app.metadata.name} has no namespace`);
  return { group: SPARK_GROUP, version: SPARK_VERSION, namespace, plural: SPARK_PLURAL, name: app.metadata.name };
}

const stateOf = (app: SparkApplication): string => app.status?.applicationState?.state || 'NEW';

async function read(api: Api, app: SparkApplication): Promise<SparkApplication | undefined> {
  try {
    return (await api.getNamespacedCustomObject(ref(app))) as SparkApplication;
  } catch (err) {
    if (apiErrorCode(err) === 404) return undefined;
    throw err;
  }
}

/** Deletes the application and waits until the API server no longer has it. */
export async function deleteSparkApplication(kc: KubeConfig, app: SparkApplication, timeoutMs = 30_000): Promise<void> {
  const api = kc.makeApiClient(CustomObjectsApi);
  try {
    await api.deleteNamespacedCustomObject({ ...ref(app), propagationPolicy: 'Background' });
  } catch (err) {
    if (apiErrorCode(err) !== 404) throw err;
  }
  const deadline = Date.now() + timeoutMs;
  while ((await read(api, app)) !== undefined) {
    if (Date.now() > deadline) throw new Error(`SparkApplication ${app.metadata.name} still there ${timeoutMs} ms after its deletion`);
    await sleep(100);
  }
}

/**
 * Creates the application, or adopts the one already there under its name: a running or
 * completed one is followed (an activity retry never starts a second job), a failed one, or
 * one made for other input, is deleted and created anew.
 */
async function createOrAdopt(kc: KubeConfig, api: Api, app: SparkApplication): Promise<{ app: SparkApplication; created: boolean }> {
  for (let attempt = 0; ; attempt++) {
    try {
      return { app: (await api.createNamespacedCustomObject({ ...ref(app), body: app })) as SparkApplication, created: true };
    } catch (err) {
      if (apiErrorCode(err) !== 409 || attempt >= 3) throw err;
    }
    const existing = await read(api, app);
    if (!existing) continue; // deleted meanwhile: create again
    const sameInput = existing.metadata.labels?.[LABELS.inputHash] === app.metadata.labels?.[LABELS.inputHash];
    if (sameInput && !TERMINAL_FAILED.has(stateOf(existing))) return { app: existing, created: false };
    await deleteSparkApplication(kc, existing);
  }
}

/** The driver's termination message and exit code, when its pod says (a pod read is best effort). */
async function driverTermination(kc: KubeConfig, app: SparkApplication): Promise<{ exitCode?: number; type?: string; message?: string }> {
  const podName = app.status?.driverInfo?.podName;
  if (!podName || !app.metadata.namespace) return {};
  try {
    const pod = await kc.makeApiClient(CoreV1Api).readNamespacedPod({ name: podName, namespace: app.metadata.namespace });
    const statuses = pod.status?.containerStatuses ?? [];
    const terminated = (statuses.find((s) => s.name === 'spark-kubernetes-driver') ?? statuses[0])?.state?.terminated;
    if (!terminated) return {};
    const text = terminated.message ?? '';
    if (text.startsWith(ERROR_PREFIX)) {
      try {
        const reported = JSON.parse(text.slice(ERROR_PREFIX.length)) as { type?: string; message?: string };
        return { exitCode: terminated.exitCode, ...(reported.type ? { type: reported.type } : {}), ...(reported.message ? { message: reported.message } : {}) };
      } catch {
        /* cut off at 4 KB: keep the raw text */
      }
    }
    return { exitCode: terminated.exitCode, ...(text ? { message: text } : {}) };
  } catch {
    return {};
  }
}

async function failure(kc: KubeConfig, app: SparkApplication): Promise<SparkApplicationFailedError> {
  const state = stateOf(app);
  const driver = await driverTermination(kc, app);
  const operator = app.status?.applicationState?.errorMessage;
  // The operator writes the driver's exit code into its message ("driver container failed
  // with ExitCode: 2, Reason: Error"): enough to classify when the pod is already gone.
  const exitCode = driver.exitCode ?? (operator ? Number(/ExitCode: (\d+)/.exec(operator)?.[1] ?? NaN) : NaN);
  const badInput = exitCode === BAD_INPUT_EXIT || /BadInputError/.test(driver.type ?? '');
  const cause = driver.message ? `${driver.type ? `${driver.type}: ` : ''}${driver.message}` : (operator ?? 'no error message');
  const where = `SparkApplication ${app.metadata.namespace}/${app.metadata.name} ${state}`;
  return new SparkApplicationFailedError(
    `${where}: ${cause}${operator && driver.message ? ` (operator: ${operator})` : ''}`,
    badInput,
    state,
    Number.isNaN(exitCode) ? undefined : exitCode,
    driver.type,
  );
}

/** Waits for the next change of the application (or `seconds`), through a watch on its name. */
async function nextChange(kc: KubeConfig, app: SparkApplication, seconds: number, signal?: AbortSignal): Promise<void> {
  const { namespace, name } = ref(app);
  await new Promise<void>((resolve) => {
    let settled = false;
    let controller: AbortController | undefined;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      controller?.abort();
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    signal?.addEventListener('abort', finish, { once: true });
    // The watch ends by itself after `seconds`; the timer also covers a watch that never opens.
    const timer = setTimeout(finish, (seconds + 5) * 1000);
    timer.unref();
    openWatch(
      kc,
      `/apis/${SPARK_GROUP}/${SPARK_VERSION}/namespaces/${namespace}/${SPARK_PLURAL}`,
      { fieldSelector: `metadata.name=${name}`, resourceVersion: app.metadata.resourceVersion, timeoutSeconds: seconds, allowWatchBookmarks: false },
      () => finish(),
      () => finish(),
    ).then(
      (c) => {
        controller = c;
        if (settled) c.abort();
      },
      () => finish(), // 410 Gone and the like: the caller reads the object again
    );
  });
}

/**
 * Creates (or adopts) the application and follows it to COMPLETED; a FAILED one throws a
 * SparkApplicationFailedError saying whether it was the input's fault.
 */
export async function runSparkApplication(kc: KubeConfig, app: SparkApplication, opts: SparkApplicationRunOptions = {}): Promise<SparkApplicationRun> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const { signal } = opts;
  const abortIfAsked = async (): Promise<void> => {
    if (!signal?.aborted) return;
    await deleteSparkApplication(kc, app);
    throw signal.reason instanceof Error ? signal.reason : new Error('Spark job cancelled: its SparkApplication was deleted');
  };
  await abortIfAsked();
  const { app: first, created } = await createOrAdopt(kc, api, app);
  let current = first;
  for (;;) {
    await abortIfAsked();
    const state = stateOf(current);
    opts.onState?.(state, current);
    if (state === 'COMPLETED') return { app: current, created };
    if (TERMINAL_FAILED.has(state)) throw await failure(kc, current);
    await nextChange(kc, current, opts.watchSeconds ?? 20, signal);
    await abortIfAsked();
    const next = await read(api, current);
    if (!next) throw new Error(`SparkApplication ${current.metadata.namespace}/${current.metadata.name} was deleted while it ran`);
    current = next;
  }
}
