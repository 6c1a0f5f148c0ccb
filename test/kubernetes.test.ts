/**
 * The local Kubernetes control plane (etcd + kube-apiserver) and the SparkApplication CRD:
 * what the API server stores, validates and tells watchers, with no operator running.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { ApiextensionsV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../lib/config.ts';
import {
  apiErrorCode,
  apiErrorStatus,
  applyCrdFromYaml,
  createKubeConfig,
  ensureNamespace,
  openWatch,
  SPARK_APPLICATION_CRD,
} from '../lib/clients/kubernetes.ts';
import { kubeconfigPath, kubernetesService } from '../lib/infra/services/kubernetes.ts';

const group = 'sparkoperator.k8s.io';
const version = 'v1beta2';
const plural = 'sparkapplications';

interface SparkApp {
  metadata: { name: string; namespace: string; resourceVersion: string; uid: string };
  spec: Record<string, unknown> & { driver: Record<string, unknown>; executor: Record<string, unknown> };
  status?: Record<string, unknown>;
}

function sparkApp(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: `${group}/${version}`,
    kind: 'SparkApplication',
    metadata: { name },
    spec: {
      type: 'Python',
      mode: 'cluster',
      image: 'apache/spark:4.0.1-python3',
      mainApplicationFile: 's3a://tempolake/jobs/region_summary.py',
      arguments: ['--day', '2026-11-25'],
      sparkVersion: '4.0.1',
      sparkConf: { 'spark.sql.catalog.lake': 'org.apache.iceberg.spark.SparkCatalog', 'spark.sql.shuffle.partitions': '8' },
      hadoopConf: { 'fs.s3a.path.style.access': 'true' },
      deps: { jars: ['https://repo.example/iceberg-spark-runtime.jar'] },
      driver: {
        cores: 1,
        memory: '512m',
        serviceAccount: 'spark',
        env: [{ name: 'LAKE_DAY', value: '2026-11-25' }, { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } }],
        envFrom: [{ secretRef: { name: 'lake-s3' } }],
        template: { metadata: { labels: { team: 'lake' } }, spec: { priorityClassName: 'batch' } },
      },
      executor: { cores: 1, instances: 2, memory: '1g', envFrom: [{ secretRef: { name: 'lake-s3' } }] },
      restartPolicy: { type: 'OnFailure', onFailureRetries: 2, onFailureRetryInterval: 10 },
      timeToLiveSeconds: 3600,
      ...extra,
    },
  };
}

/** Resolves with the first watch event that `match` accepts, or rejects after `ms`. */
function waitForEvent<T>(events: { type: string; object: T }[], subscribe: (fn: () => void) => void, match: (e: { type: string; object: T }) => boolean, ms = 10_000): Promise<{ type: string; object: T }> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const found = events.find(match);
      if (found) resolve(found);
      return found !== undefined;
    };
    if (check()) return;
    const timer = setTimeout(() => reject(new Error(`no matching watch event in ${ms} ms; got ${events.map((e) => e.type).join(', ') || 'none'}`)), ms);
    subscribe(() => {
      if (check()) clearTimeout(timer);
    });
  });
}

describe('kubernetes control plane and the SparkApplication CRD', () => {
  const config = loadConfig();
  const namespace = config.sparkNamespace;
  let kc: KubeConfig;
  let api: CustomObjectsApi;

  before(async () => {
    kc = createKubeConfig(config);
    api = kc.makeApiClient(CustomObjectsApi);
  });

  it('is up with a kubeconfig for an admin token; RBAC refuses anonymous requests', async () => {
    const status = await kubernetesService.status(config);
    assert.equal(status.running, true, `kubernetes not running: ${JSON.stringify(status)}`);
    assert.ok(status.notes.includes(`kubeconfig ${kubeconfigPath(config)}`));
    assert.equal(kc.getCurrentCluster()?.server, `https://127.0.0.1:${config.kubeApiPort}`);
    // Without the kubeconfig's CA the self-signed server is not trusted…
    const untrusted = await fetch(`https://127.0.0.1:${config.kubeApiPort}/version`).catch((err: Error) => err);
    assert.ok(untrusted instanceof Error);
    // …and without its token the API answers 403 to system:anonymous.
    const anonymous = await new Promise<{ code: number; body: string }>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${config.kubeApiPort}/api/v1/namespaces`, { rejectUnauthorized: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
    assert.equal(anonymous.code, 403, anonymous.body);
    assert.match(anonymous.body, /system:anonymous/);
  });

  it('installs the CRD from YAML, idempotently, keeping its x-kubernetes-* markers', async () => {
    const crd = await applyCrdFromYaml(kc, SPARK_APPLICATION_CRD);
    const again = await applyCrdFromYaml(kc, SPARK_APPLICATION_CRD);
    assert.equal(again.metadata?.uid, crd.metadata?.uid, 'a second apply replaces, not recreates');
    assert.equal(crd.spec.scope, 'Namespaced');
    const v = crd.spec.versions.find((x) => x.name === version);
    assert.ok(v?.served && v.storage);
    assert.ok(v.subresources?.status !== undefined, 'status subresource');
    // What the server stored, as raw JSON: the x-kubernetes-* markers at typed levels of the
    // client's model (template) and below its untyped `items` (divisor) both made it.
    const raw = (await kc.makeApiClient(CustomObjectsApi).getClusterCustomObject({
      group: 'apiextensions.k8s.io',
      version: 'v1',
      plural: 'customresourcedefinitions',
      name: 'sparkapplications.sparkoperator.k8s.io',
    })) as { spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } };
    type Schema = { properties?: Record<string, Schema>; items?: Schema; required?: string[]; [marker: string]: unknown };
    const root = raw.spec.versions[0]?.schema.openAPIV3Schema;
    const driver = root?.properties?.['spec']?.properties?.['driver'];
    const executor = root?.properties?.['spec']?.properties?.['executor'];
    const divisor = driver?.properties?.['env']?.items?.properties?.['valueFrom']?.properties?.['resourceFieldRef']?.properties?.['divisor'];
    assert.equal(divisor?.['x-kubernetes-int-or-string'], true);
    assert.equal(driver?.properties?.['template']?.['x-kubernetes-preserve-unknown-fields'], true);
    // The executor's pod fields come from the driver's through a YAML merge key.
    assert.deepEqual(Object.keys(executor?.properties ?? {}).filter((k) => ['cores', 'memory', 'envFrom', 'instances'].includes(k)).sort(), ['cores', 'envFrom', 'instances', 'memory']);
    assert.deepEqual(root?.properties?.['status']?.required, ['driverInfo']);
  });

  it('creates a SparkApplication in the namespace and prunes fields the schema does not know', async () => {
    await ensureNamespace(kc, namespace);
    await ensureNamespace(kc, namespace); // twice is fine
    const name = `roundtrip-${randomBytes(4).toString('hex')}`;
    const created = (await api.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: sparkApp(name, { notInSchema: 'dropped' }),
    })) as SparkApp;
    try {
      const got = (await api.getNamespacedCustomObject({ group, version, namespace, plural, name })) as SparkApp;
      assert.equal(got.metadata.uid, created.metadata.uid);
      assert.equal(got.spec['type'], 'Python');
      assert.deepEqual(got.spec['sparkConf'], { 'spark.sql.catalog.lake': 'org.apache.iceberg.spark.SparkCatalog', 'spark.sql.shuffle.partitions': '8' });
      assert.deepEqual(got.spec.driver['envFrom'], [{ secretRef: { name: 'lake-s3' } }]);
      assert.equal(got.spec.executor['instances'], 2);
      assert.deepEqual(got.spec['deps'], { jars: ['https://repo.example/iceberg-spark-runtime.jar'] });
      assert.equal('notInSchema' in got.spec, false, 'unknown fields are pruned');
      // …except inside the schemaless pod template, and an int-or-string quantity keeps its type.
      assert.deepEqual(got.spec.driver['template'], { metadata: { labels: { team: 'lake' } }, spec: { priorityClassName: 'batch' } });
      assert.deepEqual((got.spec.driver['env'] as unknown[])[1], { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } });
      assert.equal(got.status, undefined);
    } finally {
      await api.deleteNamespacedCustomObject({ group, version, namespace, plural, name });
    }
  });

  it('refuses an application that violates the schema with 422 Invalid naming each field', async () => {
    const name = `invalid-${randomBytes(4).toString('hex')}`;
    const body = sparkApp(name, { type: 'Go', executor: { instances: 'two' }, timeToLiveSeconds: 'soon' });
    delete (body['spec'] as Record<string, unknown>)['mainApplicationFile'];
    const err = await api.createNamespacedCustomObject({ group, version, namespace, plural, body }).then(
      () => assert.fail('created an invalid SparkApplication'),
      (e: unknown) => e,
    );
    assert.equal(apiErrorCode(err), 422);
    const status = apiErrorStatus(err);
    assert.equal(status?.reason, 'Invalid');
    const fields = (status?.details?.causes ?? []).map((c) => c.field).sort();
    assert.deepEqual(fields, ['spec.executor.instances', 'spec.mainApplicationFile', 'spec.timeToLiveSeconds', 'spec.type']);
    const get = await api.getNamespacedCustomObject({ group, version, namespace, plural, name }).catch((e: unknown) => e);
    assert.equal(apiErrorCode(get), 404, 'nothing was stored');
  });

  it('status goes through the status subresource, needs driverInfo, and reaches a watcher', async () => {
    await ensureNamespace(kc, namespace);
    await applyCrdFromYaml(kc, SPARK_APPLICATION_CRD);
    const name = `status-${randomBytes(4).toString('hex')}`;
    const created = (await api.createNamespacedCustomObject({ group, version, namespace, plural, body: sparkApp(name) })) as SparkApp;

    const events: { type: string; object: SparkApp }[] = [];
    const listeners: (() => void)[] = [];
    const controller = await openWatch(
      kc,
      `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
      { fieldSelector: `metadata.name=${name}`, resourceVersion: created.metadata.resourceVersion, allowWatchBookmarks: false },
      (type, object) => {
        events.push({ type, object: object as SparkApp });
        listeners.forEach((fn) => fn());
      },
      () => undefined,
      { timeoutMs: 30_000 },
    );
    const subscribe = (fn: () => void): void => void listeners.push(fn);
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    try {
      // The operator's schema requires driverInfo in status: a first status without it is refused.
      const refused = await api
        .patchNamespacedCustomObjectStatus({ group, version, namespace, plural, name, body: { status: { applicationState: { state: 'RUNNING' } } } }, mergePatch)
        .then(
          () => assert.fail('status without driverInfo was accepted'),
          (e: unknown) => e,
        );
      assert.equal(apiErrorCode(refused), 422);
      assert.ok(apiErrorStatus(refused)?.details?.causes?.some((c) => c.field === 'status.driverInfo'), JSON.stringify(apiErrorStatus(refused)));

      const finished = '2026-11-25T10:05:00Z';
      const patched = (await api.patchNamespacedCustomObjectStatus(
        {
          group,
          version,
          namespace,
          plural,
          name,
          body: {
            // The status endpoint ignores spec changes.
            spec: { image: 'evil/image:latest' },
            status: {
              applicationState: { state: 'COMPLETED' },
              driverInfo: { podName: `${name}-driver`, webUIPort: 4040, webUIServiceName: `${name}-ui-svc` },
              sparkApplicationId: 'spark-0123456789abcdef',
              submissionAttempts: 1,
              executionAttempts: 1,
              lastSubmissionAttemptTime: '2026-11-25T10:00:00Z',
              terminationTime: finished,
            },
          },
        },
        mergePatch,
      )) as SparkApp;
      assert.equal((patched.status?.['applicationState'] as { state: string }).state, 'COMPLETED');
      assert.equal(patched.spec['image'], 'apache/spark:4.0.1-python3', 'spec untouched by a status patch');
      assert.ok(Number(patched.metadata.resourceVersion) > Number(created.metadata.resourceVersion));

      // And the main endpoint ignores status.
      const specPatch = (await api.patchNamespacedCustomObject(
        { group, version, namespace, plural, name, body: { spec: { arguments: ['--day', '2026-11-26'] }, status: { applicationState: { state: 'FAILED' } } } },
        mergePatch,
      )) as SparkApp;
      assert.deepEqual(specPatch.spec['arguments'], ['--day', '2026-11-26']);
      assert.equal((specPatch.status?.['applicationState'] as { state: string }).state, 'COMPLETED');

      const seen = await waitForEvent(events, subscribe, (e) => e.type === 'MODIFIED' && (e.object.status?.['applicationState'] as { state?: string } | undefined)?.state === 'COMPLETED');
      assert.equal(seen.object.metadata.name, name);
      assert.deepEqual(seen.object.status?.['driverInfo'], { podName: `${name}-driver`, webUIPort: 4040, webUIServiceName: `${name}-ui-svc` });
      assert.equal(seen.object.status?.['terminationTime'], finished);

      await api.deleteNamespacedCustomObject({ group, version, namespace, plural, name });
      const deleted = await waitForEvent(events, subscribe, (e) => e.type === 'DELETED');
      assert.equal(deleted.object.metadata.uid, created.metadata.uid);
      assert.deepEqual(
        events.map((e) => e.type),
        ['MODIFIED', 'MODIFIED', 'DELETED'],
        'the watch saw exactly the status patch, the spec patch and the delete',
      );
      const gone = await api.getNamespacedCustomObject({ group, version, namespace, plural, name }).catch((e: unknown) => e);
      assert.equal(apiErrorCode(gone), 404);
    } finally {
      controller.abort();
      await api.deleteNamespacedCustomObject({ group, version, namespace, plural, name }).catch(() => undefined);
    }
  });
  it('a watch opened right after a new CRD is Established waits out the 429 "storage is (re)initializing"', async (t) => {
    // A CRD of the test's own, so the shared SparkApplication CRD (and its objects) stay.
    const id = randomBytes(4).toString('hex');
    const crdGroup = 'tempolake.test';
    const crdPlural = `widgets${id}`;
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'tempolake-crd-')), 'widget.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: apiextensions.k8s.io/v1',
        'kind: CustomResourceDefinition',
        'metadata:',
        `  name: ${crdPlural}.${crdGroup}`,
        'spec:',
        `  group: ${crdGroup}`,
        `  names: {kind: Widget${id}, plural: ${crdPlural}, singular: widget${id}, listKind: Widget${id}List}`,
        '  scope: Namespaced',
        '  versions:',
        '  - name: v1',
        '    served: true',
        '    storage: true',
        '    schema:',
        '      openAPIV3Schema:',
        '        type: object',
        '        properties:',
        '          spec: {type: object, properties: {size: {type: integer}}}',
        '',
      ].join('\n'),
    );
    await ensureNamespace(kc, namespace);
    await applyCrdFromYaml(kc, file);
    const events: { type: string; object: { metadata: { name: string }; spec: { size: number } } }[] = [];
    const listeners: (() => void)[] = [];
    let retries = 0;
    const controller = await openWatch(
      kc,
      `/apis/${crdGroup}/v1/namespaces/${namespace}/${crdPlural}`,
      {},
      (type, object) => {
        events.push({ type, object: object as (typeof events)[number]['object'] });
        listeners.forEach((fn) => fn());
      },
      () => undefined,
      { timeoutMs: 30_000, onRetry: () => retries++ },
    );
    try {
      t.diagnostic(`watch opened after ${retries} 429 answer(s)`);
      await api.createNamespacedCustomObject({
        group: crdGroup,
        version: 'v1',
        namespace,
        plural: crdPlural,
        body: { apiVersion: `${crdGroup}/v1`, kind: `Widget${id}`, metadata: { name: 'w1' }, spec: { size: 3 } },
      });
      const added = await waitForEvent(events, (fn) => void listeners.push(fn), (e) => e.type === 'ADDED');
      assert.deepEqual([added.object.metadata.name, added.object.spec.size], ['w1', 3]);
    } finally {
      controller.abort();
      await kc.makeApiClient(ApiextensionsV1Api).deleteCustomResourceDefinition({ name: `${crdPlural}.${crdGroup}` });
    }
  });
});
