/**
 * The spark-operator's part, played in the test harness against the real API server: it
 * watches SparkApplications, creates the driver pod object (no kubelet runs it), runs the
 * job with the local spark-submit, and writes what the operator and the kubelet would —
 * the application's state through its status subresource, the driver container's exit code
 * and termination message on the pod. Every call the project makes to Kubernetes is real
 * API traffic, and the job is real Spark.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Config } from '../../lib/config.ts';
import { apiErrorCode, applyCrdFromYaml, ensureNamespace, openWatch, SPARK_APPLICATION_CRD } from '../../lib/clients/kubernetes.ts';
import { SPARK_GROUP, SPARK_PLURAL, SPARK_VERSION, type SparkApplication, type SparkApplicationStatus } from '../../lib/spark/application.ts';
import { runSparkJob } from '../../lib/spark/submit.ts';

export interface FakeSparkOperator {
  /** Names of the applications it ran (a second run of one name shows twice). */
  readonly ran: string[];
  /** Called when a job starts running (tests kill or cancel at that moment). */
  onRunning: (name: string) => void;
  stop(): Promise<void>;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export async function startFakeSparkOperator(kc: KubeConfig, config: Config, namespace = config.sparkNamespace): Promise<FakeSparkOperator> {
  await applyCrdFromYaml(kc, SPARK_APPLICATION_CRD);
  await ensureNamespace(kc, namespace);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  // No controller-manager makes the namespace's service accounts: pods are refused without them.
  for (const name of ['default', 'tempolake-spark']) {
    try {
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    } catch (err) {
      if (apiErrorCode(err) !== 409) throw err;
    }
  }

  const running = new Map<string, AbortController>();
  const ref = (name: string) => ({ group: SPARK_GROUP, version: SPARK_VERSION, namespace, plural: SPARK_PLURAL, name });
  const patchStatus = (name: string, status: SparkApplicationStatus): Promise<unknown> =>
    custom.patchNamespacedCustomObjectStatus({ ...ref(name), body: { status } }, mergePatch);
  const patchPod = (name: string, status: V1Pod['status']): Promise<unknown> =>
    core.patchNamespacedPodStatus({ name, namespace, body: { status } }, mergePatch);

  async function envOf(app: SparkApplication): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    for (const v of app.spec.driver.env ?? []) {
      if (v.value !== undefined) env[v.name] = v.value;
      else if (v.valueFrom?.secretKeyRef) {
        const { name, key } = v.valueFrom.secretKeyRef;
        const secret = await core.readNamespacedSecret({ name, namespace });
        const data = secret.data?.[key];
        if (data === undefined) throw new Error(`secret ${name} has no key ${key}`);
        env[v.name] = Buffer.from(data, 'base64').toString('utf8');
      }
    }
    return env;
  }

  const fake: FakeSparkOperator = {
    ran: [],
    onRunning: () => undefined,
    stop: async () => undefined,
  };

  async function run(app: SparkApplication): Promise<void> {
    const name = app.metadata.name;
    const podName = `${name}-driver`;
    const now = (): string => new Date().toISOString();
    let env: Record<string, string>;
    try {
      env = await envOf(app);
    } catch (err) {
      // As the operator reports a driver that cannot start (a missing Secret: CreateContainerConfigError).
      await patchStatus(name, { driverInfo: {}, applicationState: { state: 'SUBMISSION_FAILED', errorMessage: `failed to run spark-submit: ${(err as Error).message}` }, submissionAttempts: 1 });
      return;
    }
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: podName, labels: { 'spark-role': 'driver', 'sparkoperator.k8s.io/app-name': name } },
        spec: {
          serviceAccountName: app.spec.driver.serviceAccount ?? 'default',
          automountServiceAccountToken: false,
          restartPolicy: 'Never',
          containers: [{ name: 'spark-kubernetes-driver', image: app.spec.image }],
        },
      },
    });
    await patchStatus(name, { driverInfo: { podName }, applicationState: { state: 'SUBMITTED' }, submissionAttempts: 1 });
    await patchPod(podName, { phase: 'Running', containerStatuses: [{ name: 'spark-kubernetes-driver', image: app.spec.image, imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: new Date() } } }] });
    await patchStatus(name, { driverInfo: { podName }, applicationState: { state: 'RUNNING' }, executionAttempts: 1 });
    fake.ran.push(name);
    fake.onRunning(name);

    const abort = new AbortController();
    running.set(name, abort);
    const dir = mkdtempSync(path.join(tmpdir(), 'tempolake-driver-'));
    const terminationLog = path.join(dir, 'termination-log');
    let exitCode = 0;
    try {
      await runSparkJob(config, {
        script: path.basename(app.spec.mainApplicationFile),
        args: app.spec.arguments ?? [],
        env: { ...env, TEMPOLAKE_TERMINATION_LOG: terminationLog },
        signal: abort.signal,
      });
    } catch (err) {
      exitCode = (err as { exitCode?: number | null }).exitCode ?? 137;
    } finally {
      running.delete(name);
    }
    if (abort.signal.aborted) {
      rmSync(dir, { recursive: true, force: true });
      return; // deleted: nothing left to report to
    }
    const message = existsSync(terminationLog) ? readFileSync(terminationLog, 'utf8') : '';
    rmSync(dir, { recursive: true, force: true });
    const terminated = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', message, finishedAt: new Date() };
    await patchPod(podName, {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: [{ name: 'spark-kubernetes-driver', image: app.spec.image, imageID: '', ready: false, restartCount: 0, state: { terminated } }],
    }).catch(() => undefined);
    await patchStatus(name, {
      driverInfo: { podName },
      applicationState: exitCode === 0 ? { state: 'COMPLETED' } : { state: 'FAILED', errorMessage: `driver container failed with ExitCode: ${exitCode}, Reason: Error` },
      terminationTime: now(),
    }).catch((err: unknown) => {
      if (apiErrorCode(err) !== 404) throw err;
    });
  }

  const handled = new Set<string>();
  const consider = (app: SparkApplication): void => {
    const key = `${app.metadata.name}/${app.metadata.uid}`;
    if (app.status?.applicationState?.state || handled.has(key)) return;
    handled.add(key);
    void run(app).catch((err: unknown) => console.error(`fake spark-operator: ${app.metadata.name}: ${(err as Error).stack}`));
  };
  const forget = async (app: SparkApplication): Promise<void> => {
    running.get(app.metadata.name)?.abort(new Error('SparkApplication deleted'));
    try {
      await core.deleteNamespacedPod({ name: `${app.metadata.name}-driver`, namespace, gracePeriodSeconds: 0 });
    } catch (err) {
      if (apiErrorCode(err) !== 404) throw err;
    }
  };

  let stopped = false;
  let watch: AbortController | undefined;
  const listPath = `/apis/${SPARK_GROUP}/${SPARK_VERSION}/namespaces/${namespace}/${SPARK_PLURAL}`;
  const loop = (async () => {
    while (!stopped) {
      const list = (await custom.listNamespacedCustomObject({ group: SPARK_GROUP, version: SPARK_VERSION, namespace, plural: SPARK_PLURAL })) as {
        items: SparkApplication[];
        metadata: { resourceVersion: string };
      };
      list.items.forEach(consider);
      await new Promise<void>((resolve) => {
        openWatch(
          kc,
          listPath,
          { resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 30, allowWatchBookmarks: false },
          (type, obj) => {
            const app = obj as SparkApplication;
            if (type === 'ADDED' || type === 'MODIFIED') consider(app);
            if (type === 'DELETED') void forget(app).catch(() => undefined);
          },
          () => resolve(),
        ).then(
          (c) => {
            watch = c;
            if (stopped) c.abort();
          },
          () => resolve(),
        );
      });
    }
  })();

  fake.stop = async () => {
    stopped = true;
    watch?.abort();
    for (const a of running.values()) a.abort(new Error('fake operator stopped'));
    await loop.catch(() => undefined);
  };
  return fake;
}
