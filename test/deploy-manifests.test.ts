/**
 * deploy/k8s on a real API server: both overlays rendered with the pinned kustomize from the
 * cache, from settings written by `lake deploy env`; every object sent with a server-side
 * dry run (validated and admitted, nothing stored) and accepted; a broken manifest refused;
 * the RBAC applied for real in a namespace of its own and checked for what it allows —
 * through the very kubeconfig the worker pods mount, with a service-account token.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import {
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Deployment,
  type V1Role,
  type V1RoleBinding,
  type V1Secret,
  type V1Service,
} from '@kubernetes/client-node';
import { deployEnvFiles } from '../cli/deploy.ts';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { apiErrorCode, apiErrorStatus, applyCrdFromYaml, createKubeConfig, ensureNamespace, SPARK_APPLICATION_CRD } from '../lib/clients/kubernetes.ts';
import { ensureKustomize, K8S_DIR, KUSTOMIZE_VERSION, kustomizeBuild } from '../lib/infra/kustomize.ts';
import { temporalConnectionOptions } from '../lib/temporal/client.ts';
import { TASK_QUEUES, type QueueRole } from '../lib/temporal/task-queues.ts';

const FIELD_MANAGER = 'tempolake-deploy-test';
/** Where the RBAC is applied for real; created once and never deleted (no controller-manager here finalizes namespaces). */
const RBAC_NAMESPACE = 'tempolake-deploy-rbac-test';
const OVERLAYS = ['local-cluster', 'production'] as const;

/** What an operator would export before `npx lake deploy env --out …`. */
const DEPLOY_ENV = {
  TEMPORAL_ADDRESS: 'tempolake.a1b2c.tmprl.cloud:7233',
  TEMPORAL_NAMESPACE: 'tempolake.a1b2c',
  LAKE_STORAGE: 's3',
  S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
  S3_REGION: 'eu-west-1',
  S3_BUCKET: 'acme-lake',
  S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  S3_SECRET_ACCESS_KEY: 'example-secret-key',
  KAFKA_BROKERS: 'kafka-0.kafka.svc:9092,kafka-1.kafka.svc:9092',
  POSTGRES_HOST: 'warehouse.db.svc',
  POSTGRES_PASSWORD: 'pw from the test',
  ICEBERG_CATALOG_URL: 'http://iceberg-rest.lake.svc:8181',
  SOURCE_A_URL: 'ftp://partner:ftp-secret@ftp.partner.example:21/exports/',
  WAREHOUSE: 'redshift',
  REDSHIFT_WORKGROUP: 'tempolake',
  // Left out: about the developer's machine, or set per pod by the manifests.
  TEMPOLAKE_DATA_DIR: '/home/dev/tempolake/.lake',
  API_PORT: '9999',
  WORKER_MAX_CONCURRENT_ACTIVITIES: '999',
};

type Obj = KubernetesObject & Record<string, unknown>;

function find<T>(objects: Obj[], kind: string, name: string | RegExp): T {
  const found = objects.filter((o) => o.kind === kind && (typeof name === 'string' ? o.metadata?.name === name : name.test(o.metadata?.name ?? '')));
  assert.equal(found.length, 1, `one ${kind} ${String(name)}, found ${found.map((o) => o.metadata?.name).join(', ') || 'none'}`);
  return found[0] as T;
}

/** The environment a pod of this Deployment starts with: envFrom's ConfigMap and Secret, then env (which wins). */
function podEnv(objects: Obj[], deployment: V1Deployment, namespace: string): Record<string, string> {
  const container = deployment.spec?.template.spec?.containers[0];
  assert.ok(container);
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, find<V1ConfigMap>(objects, 'ConfigMap', from.configMapRef.name ?? '').data);
    if (from.secretRef) {
      const secret = find<V1Secret>(objects, 'Secret', from.secretRef.name ?? '');
      for (const [k, v] of Object.entries(secret.data ?? {})) env[k] = Buffer.from(v, 'base64').toString('utf8');
    }
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = namespace;
  }
  return env;
}

describe('deploy/k8s: Kustomize overlays against the real API server', () => {
  const config = loadConfig();
  const namespace = config.sparkNamespace;
  let kc: KubeConfig;
  let objectApi: KubernetesObjectApi;
  const rendered = new Map<(typeof OVERLAYS)[number], Obj[]>();

  before(async () => {
    kc = createKubeConfig(config);
    objectApi = KubernetesObjectApi.makeApiClient(kc);
    await ensureNamespace(kc, namespace);
    const t0 = Date.now();
    const bin = await ensureKustomize(config);
    const took = Date.now() - t0;
    if (took > 1000) console.log(`# kustomize ${KUSTOMIZE_VERSION} built in ${(took / 1000).toFixed(1)} s`);

    // The overlays read generated files (gitignored): render a copy with what `lake deploy env --out` writes.
    const dir = mkdtempSync(path.join(tmpdir(), 'tempolake-k8s-'));
    cpSync(K8S_DIR, dir, { recursive: true });
    const files = deployEnvFiles(DEPLOY_ENV);
    for (const overlay of OVERLAYS) {
      const out = path.join(dir, 'overlays', overlay);
      writeFileSync(path.join(out, 'config.env'), files.config);
      writeFileSync(path.join(out, 'secrets.env'), files.secrets);
      writeFileSync(path.join(out, 'spark-s3.env'), files.sparkS3);
    }
    const tls = path.join(dir, 'overlays', 'production', 'temporal-tls');
    mkdirSync(tls);
    writeFileSync(path.join(tls, 'tls.crt'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    writeFileSync(path.join(tls, 'tls.key'), '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');
    for (const overlay of OVERLAYS) {
      const yaml = await kustomizeBuild(bin, path.join(dir, 'overlays', overlay));
      const objects = loadAllYaml(yaml) as Obj[];
      // Into the namespace the project's Kubernetes code uses (SPARK_NAMESPACE; the overlays say tempolake).
      for (const o of objects) {
        if (o.metadata) o.metadata.namespace = namespace;
        if (o.kind === 'RoleBinding') for (const s of (o as unknown as V1RoleBinding).subjects ?? []) s.namespace = namespace;
      }
      rendered.set(overlay, objects);
    }
  });

  it('renders one worker per task queue with its concurrency, the consumer, the API with probes, RBAC and the settings', () => {
    for (const overlay of OVERLAYS) {
      const objects = rendered.get(overlay) ?? [];
      const deployments = objects.filter((o) => o.kind === 'Deployment') as V1Deployment[];
      assert.deepEqual(
        deployments.map((d) => d.metadata?.name).sort(),
        ['tempolake-api', 'tempolake-market-consumer', ...Object.keys(TASK_QUEUES).map((q) => `tempolake-worker-${q}`)].sort(),
      );
      for (const role of Object.keys(TASK_QUEUES) as QueueRole[]) {
        const d = find<V1Deployment>(objects, 'Deployment', `tempolake-worker-${role}`);
        const c = d.spec?.template.spec?.containers[0];
        assert.deepEqual(c?.args, ['worker', '--queue', role]);
        assert.equal(d.spec?.template.spec?.serviceAccountName, 'tempolake');
        // The pod's settings parse, with its own concurrency and its own namespace.
        const env = podEnv(objects, d, namespace);
        const pod = loadConfig(env);
        assert.equal(pod.temporalAddress.host, 'tempolake.a1b2c.tmprl.cloud');
        assert.equal(pod.warehouse, 'redshift');
        assert.equal(pod.sparkNamespace, namespace);
        assert.equal(String(pod.workerMaxConcurrentActivities), c?.env?.find((e) => e.name === 'WORKER_MAX_CONCURRENT_ACTIVITIES')?.value);
        assert.ok(pod.workerMaxConcurrentActivities < 999, 'the Deployment, not the ConfigMap, sets the concurrency');
        assert.equal(pod.kubeconfigPath, '/etc/tempolake/kube/config');
        assert.equal(pod.temporalTls, overlay === 'production', `${overlay}: TLS to Temporal`);
        if (overlay === 'production') {
          assert.equal(env['TEMPORAL_TLS_CERT'], '/etc/tempolake/temporal-tls/tls.crt');
          const volume = d.spec?.template.spec?.volumes?.find((v) => v.name === 'temporal-tls');
          const secret = find<V1Secret>(objects, 'Secret', volume?.secret?.secretName ?? '');
          assert.equal(secret.type, 'kubernetes.io/tls');
        }
      }
      for (const d of deployments) {
        for (const c of d.spec?.template.spec?.containers ?? []) {
          for (const k of ['cpu', 'memory']) {
            assert.ok(c.resources?.requests?.[k] && c.resources.limits?.[k], `${d.metadata?.name}: ${k} request and limit`);
          }
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
        }
      }
      const consumer = find<V1Deployment>(objects, 'Deployment', 'tempolake-market-consumer');
      assert.deepEqual(consumer.spec?.template.spec?.containers[0]?.args, ['consume', 'market']);
      assert.equal(consumer.spec?.template.spec?.automountServiceAccountToken, false);

      const api = find<V1Deployment>(objects, 'Deployment', 'tempolake-api');
      const c = api.spec?.template.spec?.containers[0];
      assert.equal(c?.readinessProbe?.httpGet?.path, '/ready');
      assert.equal(c?.livenessProbe?.httpGet?.path, '/health');
      const apiEnv = loadConfig(podEnv(objects, api, namespace));
      assert.equal(apiEnv.apiHost, '0.0.0.0');
      assert.equal(apiEnv.apiPort, 8080);
      const service = find<V1Service>(objects, 'Service', 'tempolake-api');
      assert.deepEqual(service.spec?.selector, api.spec?.selector.matchLabels);
      assert.equal(service.spec?.ports?.[0]?.targetPort, 'http');

      // Settings: values in the ConfigMap, credentials only in the Secret, this machine's paths nowhere.
      const cm = find<V1ConfigMap>(objects, 'ConfigMap', /^tempolake-config-/);
      const secret = find<V1Secret>(objects, 'Secret', /^tempolake-secrets-/);
      assert.equal(cm.data?.['KAFKA_BROKERS'], DEPLOY_ENV.KAFKA_BROKERS);
      for (const key of ['POSTGRES_PASSWORD', 'S3_SECRET_ACCESS_KEY', 'S3_ACCESS_KEY_ID', 'SOURCE_A_URL', 'TEMPOLAKE_DATA_DIR', 'API_PORT', 'WORKER_MAX_CONCURRENT_ACTIVITIES']) {
        assert.equal(cm.data?.[key], undefined, `${key} not in the ConfigMap`);
      }
      assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['POSTGRES_PASSWORD', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'SOURCE_A_URL']);
      assert.equal(Buffer.from(secret.data?.['POSTGRES_PASSWORD'] ?? '', 'base64').toString(), 'pw from the test');
      const sparkS3 = find<V1Secret>(objects, 'Secret', 'tempolake-lake-s3');
      assert.deepEqual(Object.keys(sparkS3.data ?? {}).sort(), ['access-key-id', 'secret-access-key']);
    }
  });

  it('the worker Role grants SparkApplication verbs only; the Spark driver role pods, services and configmaps', () => {
    for (const overlay of OVERLAYS) {
      const objects = rendered.get(overlay) ?? [];
      const roles = objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole') as V1Role[];
      assert.deepEqual(roles.map((r) => `${r.kind}/${r.metadata?.name}`).sort(), ['Role/tempolake-spark-driver', 'Role/tempolake-sparkapplications']);
      assert.equal(objects.filter((o) => o.kind === 'ClusterRoleBinding').length, 0);
      const workers = find<V1Role>(objects, 'Role', 'tempolake-sparkapplications');
      assert.deepEqual(
        workers.rules?.map((r) => ({ apiGroups: r.apiGroups, resources: r.resources, verbs: [...(r.verbs ?? [])].sort(), names: r.resourceNames, urls: r.nonResourceURLs })),
        [
          { apiGroups: ['sparkoperator.k8s.io'], resources: ['sparkapplications'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'watch'], names: undefined, urls: undefined },
          // A failed driver's termination message says why: one pod read by name, nothing else of pods.
          { apiGroups: [''], resources: ['pods'], verbs: ['get'], names: undefined, urls: undefined },
        ],
      );
      const driver = find<V1Role>(objects, 'Role', 'tempolake-spark-driver');
      assert.deepEqual(driver.rules?.map((r) => [r.apiGroups, [...(r.resources ?? [])].sort()]), [[[''], ['configmaps', 'pods', 'services']]]);
      const bindings = objects.filter((o) => o.kind === 'RoleBinding') as unknown as V1RoleBinding[];
      assert.deepEqual(
        bindings.map((b) => [b.roleRef.name, b.subjects?.map((s) => `${s.kind}/${s.name}`)]).sort(),
        [
          ['tempolake-spark-driver', ['ServiceAccount/tempolake-spark']],
          ['tempolake-sparkapplications', ['ServiceAccount/tempolake']],
        ],
      );
    }
  });

  it('the API server accepts every object of both overlays in a server-side dry run, and stores none', async (t) => {
    for (const overlay of OVERLAYS) {
      const objects = rendered.get(overlay) ?? [];
      const refused: string[] = [];
      for (const o of objects) {
        try {
          const answer = await objectApi.patch(o, undefined, 'All', FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
          assert.equal(answer.metadata?.name, o.metadata?.name);
        } catch (err) {
          refused.push(`${o.kind}/${o.metadata?.name}: ${apiErrorCode(err)} ${apiErrorStatus(err)?.message ?? String(err)}`);
        }
      }
      assert.deepEqual(refused, [], `${overlay}: refused objects`);
      t.diagnostic(`${overlay}: ${objects.length} objects accepted (${[...new Set(objects.map((o) => o.kind))].join(', ')})`);
      // A dry run stores nothing: the hashed ConfigMap of this render is not there.
      const cm = find<V1ConfigMap>(objects, 'ConfigMap', /^tempolake-config-/);
      const read = await kc
        .makeApiClient(CoreV1Api)
        .readNamespacedConfigMap({ name: cm.metadata?.name ?? '', namespace })
        .catch((err: unknown) => err);
      assert.equal(apiErrorCode(read), 404);
    }
  });

  it('refuses a broken manifest with 422 Invalid (a Deployment without a selector)', async () => {
    const api = find<V1Deployment>(rendered.get('production') ?? [], 'Deployment', 'tempolake-api');
    const broken = structuredClone({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'tempolake-broken', namespace },
      spec: { replicas: 1, template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'api', image: api.spec?.template.spec?.containers[0]?.image }] } } },
    });
    const err = await objectApi.patch(broken, undefined, 'All', FIELD_MANAGER, true, PatchStrategy.ServerSideApply).then(
      () => assert.fail('a Deployment without a selector was accepted'),
      (e: unknown) => e,
    );
    assert.equal(apiErrorCode(err), 422);
    const status = apiErrorStatus(err);
    assert.equal(status?.reason, 'Invalid');
    assert.ok(status?.details?.causes?.some((c) => c.field === 'spec.selector'), JSON.stringify(status));
  });

  it('in effect: the worker account manages SparkApplications in its namespace and nothing else, through the kubeconfig its pods mount', async () => {
    await ensureNamespace(kc, RBAC_NAMESPACE);
    await applyCrdFromYaml(kc, SPARK_APPLICATION_CRD);
    const objects = rendered.get('production') ?? [];
    const rbac = objects.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind ?? '') || o.metadata?.name === 'tempolake-kubeconfig');
    for (const o of rbac) {
      const copy = structuredClone(o);
      if (copy.metadata) copy.metadata.namespace = RBAC_NAMESPACE;
      if (copy.kind === 'RoleBinding') for (const s of (copy as unknown as V1RoleBinding).subjects ?? []) s.namespace = RBAC_NAMESPACE;
      await objectApi.patch(copy, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    }

    const authz = kc.makeApiClient(AuthorizationV1Api);
    const can = async (account: string, verb: string, group: string, resource: string, ns: string): Promise<boolean> => {
      const review = await authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: `system:serviceaccount:${RBAC_NAMESPACE}:${account}`,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${RBAC_NAMESPACE}`, 'system:authenticated'],
            resourceAttributes: { namespace: ns, verb, group, resource },
          },
        },
      });
      return review.status?.allowed === true;
    };
    const spark = 'sparkoperator.k8s.io';
    for (const verb of ['get', 'list', 'watch', 'create', 'delete', 'patch']) {
      assert.equal(await can('tempolake', verb, spark, 'sparkapplications', RBAC_NAMESPACE), true, `worker may ${verb} sparkapplications`);
    }
    assert.equal(await can('tempolake', 'update', spark, 'sparkapplications', RBAC_NAMESPACE), false);
    assert.equal(await can('tempolake', 'create', spark, 'sparkapplications', 'default'), false, 'not in another namespace');
    for (const [group, resource] of [['', 'pods'], ['', 'secrets'], ['', 'configmaps'], ['apps', 'deployments']] as const) {
      assert.equal(await can('tempolake', 'list', group, resource, RBAC_NAMESPACE), false, `worker may not list ${resource}`);
    }
    assert.equal(await can('tempolake', 'get', '', 'pods', RBAC_NAMESPACE), true, 'worker may read a driver pod by name');
    for (const verb of ['create', 'delete', 'update', 'patch']) assert.equal(await can('tempolake', verb, '', 'pods', RBAC_NAMESPACE), false, `worker may not ${verb} pods`);
    for (const resource of ['pods', 'services', 'configmaps']) {
      assert.equal(await can('tempolake-spark', 'create', '', resource, RBAC_NAMESPACE), true, `driver may create ${resource}`);
    }
    assert.equal(await can('tempolake-spark', 'get', '', 'secrets', RBAC_NAMESPACE), false);
    assert.equal(await can('tempolake-spark', 'create', spark, 'sparkapplications', RBAC_NAMESPACE), false);
    assert.equal(await can('tempolake-spark', 'create', '', 'pods', 'default'), false);

    // The worker pods' kubeconfig (ConfigMap tempolake-kubeconfig) with a real token of the
    // account, as the kubelet would project it; only the in-cluster address and files differ.
    const core = kc.makeApiClient(CoreV1Api);
    const token = await core.createNamespacedServiceAccountToken({
      name: 'tempolake',
      namespace: RBAC_NAMESPACE,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 600 } },
    });
    const files = mkdtempSync(path.join(tmpdir(), 'tempolake-sa-'));
    const tokenFile = path.join(files, 'token');
    const caFile = path.join(files, 'ca.crt');
    writeFileSync(tokenFile, token.status?.token ?? '');
    writeFileSync(caFile, Buffer.from(kc.getCurrentCluster()?.caData ?? '', 'base64'));
    const podKubeconfig = find<V1ConfigMap>(objects, 'ConfigMap', 'tempolake-kubeconfig').data?.['config'] ?? '';
    const asPod = new KubeConfig();
    asPod.loadFromString(
      podKubeconfig
        .replace('https://kubernetes.default.svc', kc.getCurrentCluster()?.server ?? '')
        .replace('/var/run/secrets/kubernetes.io/serviceaccount/ca.crt', caFile)
        .replace('/var/run/secrets/kubernetes.io/serviceaccount/token', tokenFile),
    );
    const podCustom = asPod.makeApiClient(CustomObjectsApi);
    const listed = (await podCustom.listNamespacedCustomObject({ group: spark, version: 'v1beta2', namespace: RBAC_NAMESPACE, plural: 'sparkapplications' })) as { items: unknown[] };
    assert.ok(Array.isArray(listed.items));
    const elsewhere = await podCustom
      .listNamespacedCustomObject({ group: spark, version: 'v1beta2', namespace: 'default', plural: 'sparkapplications' })
      .catch((e: unknown) => e);
    assert.equal(apiErrorCode(elsewhere), 403);
    const pods = await asPod
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: RBAC_NAMESPACE })
      .catch((e: unknown) => e);
    assert.equal(apiErrorCode(pods), 403);
  });

  it('TEMPORAL_TLS_* become the connection options of workers and clients (mTLS), and a half pair fails naming it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tempolake-tls-'));
    const cert = path.join(dir, 'tls.crt');
    const key = path.join(dir, 'tls.key');
    writeFileSync(cert, 'CERT');
    writeFileSync(key, 'KEY');
    const plain = temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'temporal.svc:7233' }));
    assert.deepEqual(plain, { address: 'temporal.svc:7233' });
    const mtls = temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key }));
    assert.equal(mtls.address, 'ns.acct.tmprl.cloud:7233');
    assert.equal(Buffer.from(mtls.tls?.clientCertPair?.crt ?? []).toString(), 'CERT');
    assert.equal(Buffer.from(mtls.tls?.clientCertPair?.key ?? []).toString(), 'KEY');
    assert.equal(mtls.tls?.serverRootCACertificate, undefined, 'system roots');
    assert.deepEqual(temporalConnectionOptions(loadConfig({ TEMPORAL_TLS: 'true' })).tls, {});
    assert.throws(() => temporalConnectionOptions(loadConfig({ TEMPORAL_TLS_CERT: cert })), (e: unknown) => e instanceof ConfigError && /TEMPORAL_TLS_KEY/.test(e.message));
    assert.throws(
      () => temporalConnectionOptions(loadConfig({ TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: path.join(dir, 'missing.key') })),
      (e: unknown) => e instanceof ConfigError && /TEMPORAL_TLS_KEY names .*missing\.key/.test(e.message),
    );
  });
});
