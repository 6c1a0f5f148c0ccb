/**
 * The Kubernetes client every module shares: the local control plane `lake infra` runs
 * (etcd + kube-apiserver) or any cluster named by KUBECONFIG_PATH.
 *
 * @kubernetes/client-node is pinned to 1.x: 2.x needs Node 22 (its undici crashes on 20).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  Health,
  KubeConfig,
  loadYaml,
  Watch,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import type { Config } from '../config.ts';
import { kubeconfigPath } from '../infra/services/kubernetes.ts';

/** The SparkApplication CRD (sparkoperator.k8s.io/v1beta2) the project installs where no operator has. */
export const SPARK_APPLICATION_CRD = fileURLToPath(new URL('../../deploy/k8s/crds/sparkapplication.yaml', import.meta.url));

/** KUBECONFIG_PATH when set, else the kubeconfig `lake infra up kubernetes` wrote. */
export function createKubeConfig(config: Config): KubeConfig {
  const file = kubeconfigPath(config);
  if (!existsSync(file)) {
    throw new Error(
      config.kubeconfigPath
        ? `KUBECONFIG_PATH names ${file}, which does not exist`
        : `no kubeconfig at ${file}: start the local API server with \`npx lake infra up kubernetes\` (or set KUBECONFIG_PATH)`,
    );
  }
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

/** The HTTP status of a failed API call (ApiException) or watch (statusCode), else undefined. */
export function apiErrorCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { statusCode?: unknown; code?: unknown } | null)?.statusCode ?? (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The Status object the API server sent with a failed call (reason, message, details.causes). */
export function apiErrorStatus(err: unknown): { reason?: string; message?: string; code?: number; details?: { causes?: { field?: string; message?: string; reason?: string }[] } } | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const body: unknown = err.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as ReturnType<typeof apiErrorStatus>;
    } catch {
      return { message: body };
    }
  }
  return body as ReturnType<typeof apiErrorStatus>;
}

/** Whether the cluster's API server answers /readyz (for `lake infra status` on a configured cluster). */
export async function apiServerReachable(kc: KubeConfig, timeoutMs = 2000): Promise<boolean> {
  try {
    return await new Health(kc).readyz({ signal: AbortSignal.timeout(timeoutMs) } as Parameters<Health['readyz']>[0]);
  } catch {
    return false;
  }
}

/** Creates the namespace unless it exists (a concurrent create is fine too). */
export async function ensureNamespace(kc: KubeConfig, name: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await core.readNamespace({ name });
    return;
  } catch (err) {
    if (apiErrorCode(err) !== 404) throw err;
  }
  try {
    await core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  } catch (err) {
    if (apiErrorCode(err) !== 409) throw err;
  }
}

/**
 * Creates or replaces the CustomResourceDefinition in a YAML file and waits until the API
 * server has Established it (its resources can be used then).
 *
 * The YAML goes through loadYaml, which maps `x-kubernetes-int-or-string` & co. to the
 * typed model's property names: a plain YAML object given to the typed API loses them.
 */
export async function applyCrdFromYaml(kc: KubeConfig, file: string, opts: { timeoutMs?: number } = {}): Promise<V1CustomResourceDefinition> {
  const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(file, 'utf8'));
  if (crd.kind !== 'CustomResourceDefinition' || !crd.metadata?.name) {
    throw new Error(`${file} is not a CustomResourceDefinition with a name`);
  }
  const name = crd.metadata.name;
  const api = kc.makeApiClient(ApiextensionsV1Api);
  try {
    await api.createCustomResourceDefinition({ body: crd });
  } catch (err) {
    if (apiErrorCode(err) !== 409) throw err;
    // Already there: replace it with this file's version (a conflict means someone else just did: retry once).
    for (let attempt = 0; ; attempt++) {
      const current = await api.readCustomResourceDefinition({ name });
      try {
        await api.replaceCustomResourceDefinition({
          name,
          body: { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion } },
        });
        break;
      } catch (replaceErr) {
        if (apiErrorCode(replaceErr) !== 409 || attempt >= 2) throw replaceErr;
      }
    }
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const current = await api.readCustomResourceDefinition({ name });
    const conditions = current.status?.conditions ?? [];
    if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) {
      await waitUntilServed(kc, current, deadline);
      return current;
    }
    const refused = conditions.find((c) => c.type === 'NamesAccepted' && c.status === 'False');
    if (refused) throw new Error(`CRD ${name}: names not accepted: ${refused.message ?? refused.reason}`);
    if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${opts.timeoutMs ?? 30_000} ms: ${JSON.stringify(conditions)}`);
    await sleep(200);
  }
}

/**
 * Right after a CRD is Established, reads of its resources answer 429 "storage is
 * (re)initializing" for a moment (seen on a fresh API server): wait until a list succeeds.
 */
async function waitUntilServed(kc: KubeConfig, crd: V1CustomResourceDefinition, deadline: number): Promise<void> {
  const version = crd.spec.versions.find((v) => v.storage)?.name ?? crd.spec.versions[0]?.name;
  if (!version) return;
  const api = kc.makeApiClient(CustomObjectsApi);
  for (;;) {
    try {
      await api.listClusterCustomObject({ group: crd.spec.group, version, plural: crd.spec.names.plural, limit: 1 });
      return;
    } catch (err) {
      if (apiErrorCode(err) !== 429 || Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

/**
 * Opens a watch, retrying while the API server answers 429: right after a CRD is
 * Established its watch cache is still "(re)initializing" for a moment. Resolves with the
 * watch's AbortController once the stream is open; `onDone` is called when it ends.
 */
export async function openWatch(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  onEvent: (type: string, object: unknown) => void,
  onDone: (err: unknown) => void,
  opts: { timeoutMs?: number; onRetry?: (err: unknown) => void } = {},
): Promise<AbortController> {
  const watch = new Watch(kc);
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    let opened = false;
    let failed: { err: unknown } | undefined;
    const controller = await watch.watch(
      path,
      query,
      (type, object) => onEvent(type, object),
      (err) => {
        // Before watch() resolves, done() means the request itself failed (non-200 answer).
        if (opened) onDone(err);
        else failed = { err };
      },
    );
    if (failed === undefined) {
      opened = true;
      return controller;
    }
    if (apiErrorCode(failed.err) !== 429 || Date.now() > deadline) throw failed.err;
    opts.onRetry?.(failed.err);
    await sleep(250);
  }
}
