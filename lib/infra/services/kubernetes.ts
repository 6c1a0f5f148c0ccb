/**
 * A real Kubernetes control plane: etcd + kube-apiserver, no kubelet, scheduler or
 * containers. It stores and validates objects (SparkApplications and their status) the
 * way a cluster does, so the Spark code talks to a real API server in tests.
 *
 * Both binaries are built once from the Go module proxy by the wrapper module in
 * deploy/infra/kubernetes (k8s.io/kubernetes cannot be `go install`ed: see its go.mod),
 * with the etcd of that module graph (3.7.0; Debian's 3.4 breaks watches).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config.ts';
import { cachePath, serverDir } from '../paths.ts';
import { InfraError, requireTool, run, runningPid, startDaemon, stopDaemon, waitUntilReady } from '../process.ts';
import type { InfraContext, LocalService, ServiceStatus } from '../service.ts';

export const KUBERNETES_VERSION = 'v1.37.2';
/** The etcd that k8s.io/kubernetes v1.37.2 requires; provisioning checks the module graph agrees. */
export const ETCD_VERSION = 'v3.7.0';

const MODULE_DIR = fileURLToPath(new URL('../../../deploy/infra/kubernetes/', import.meta.url));
const HOST = '127.0.0.1';

function binaries(config: Config): { apiserver: string; etcd: string } {
  return {
    apiserver: cachePath(config, 'bin', `kube-apiserver-${KUBERNETES_VERSION}`),
    etcd: cachePath(config, 'bin', `etcd-${ETCD_VERSION}`),
  };
}

/** Files of the local control plane, all under serverDir(config, 'kubernetes'). */
function files(config: Config) {
  const dir = serverDir(config, 'kubernetes');
  return {
    dir,
    etcdDir: path.join(dir, 'etcd'),
    etcdData: path.join(dir, 'etcd', 'data'),
    apiserverDir: path.join(dir, 'apiserver'),
    certDir: path.join(dir, 'certs'),
    /** Written by kube-apiserver on first start: its self-signed serving certificate followed by its CA. */
    servingCert: path.join(dir, 'certs', 'apiserver.crt'),
    tokenFile: path.join(dir, 'tokens.csv'),
    saKey: path.join(dir, 'service-account.key'),
    saPub: path.join(dir, 'service-account.pub'),
    kubeconfig: path.join(dir, 'kubeconfig'),
  };
}

/** The kubeconfig other code uses: KUBECONFIG_PATH when set, else the local server's. */
export function kubeconfigPath(config: Config): string {
  return config.kubeconfigPath || files(config).kubeconfig;
}

export function apiServerUrl(config: Config): string {
  return `https://${HOST}:${config.kubeApiPort}`;
}

function etcdUrl(config: Config): string {
  return `http://${HOST}:${config.etcdPort}`;
}

/** The admin token of the local server (user `tempolake-admin` in group system:masters). */
function adminToken(config: Config): string | undefined {
  const { tokenFile } = files(config);
  if (!existsSync(tokenFile)) return undefined;
  return readFileSync(tokenFile, 'utf8').split(',')[0]?.trim() || undefined;
}

async function etcdReady(config: Config): Promise<boolean> {
  try {
    const res = await fetch(`${etcdUrl(config)}/health`, { signal: AbortSignal.timeout(1000) });
    return res.ok && ((await res.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

/** GET /readyz with the admin token; the serving certificate is self-signed and the address is loopback. */
function apiServerReady(config: Config): Promise<boolean> {
  const token = adminToken(config);
  if (token === undefined) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = https.get(
      `${apiServerUrl(config)}/readyz`,
      { headers: { Authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(res.statusCode === 200 && body.trim() === 'ok'));
        res.on('error', () => resolve(false));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Runs `what` while printing how long it has been going every 30 s, since a cold build is long and silent. */
async function withTicker<T>(progress: (line: string) => void, label: string, what: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const elapsed = (): string => `${Math.floor((Date.now() - t0) / 60_000)}m${String(Math.floor(((Date.now() - t0) % 60_000) / 1000)).padStart(2, '0')}s`;
  progress(`${label}…`);
  const timer = setInterval(() => progress(`${label}… ${elapsed()}`), 30_000);
  try {
    const out = await what();
    progress(`${label}: done in ${elapsed()}`);
    return out;
  } finally {
    clearInterval(timer);
  }
}

async function build(config: Config, progress: (line: string) => void): Promise<void> {
  const go = await requireTool('go', 'to build kube-apiserver and etcd', 'Install Go 1.26 or newer (https://go.dev/doc/install).');
  const bins = binaries(config);
  const buildDir = cachePath(config, 'kubernetes', 'build');
  mkdirSync(buildDir, { recursive: true });
  mkdirSync(path.dirname(bins.apiserver), { recursive: true });
  for (const name of ['go.mod', 'tools.go']) copyFileSync(path.join(MODULE_DIR, name), path.join(buildDir, name));
  // Static binaries; -mod=mod lets tidy and build write go.mod/go.sum in the build folder.
  const env = { ...process.env, GOFLAGS: '-mod=mod -buildvcs=false', CGO_ENABLED: '0' };
  const t0 = Date.now();
  progress(`building kube-apiserver ${KUBERNETES_VERSION} and etcd ${ETCD_VERSION} from the Go module proxy (first time only, about 7 minutes on 2 cores) into ${path.dirname(bins.apiserver)}`);
  await withTicker(progress, 'go mod tidy', () => run(go, ['mod', 'tidy'], { cwd: buildDir, env, what: 'go mod tidy (deploy/infra/kubernetes)' }));
  const etcdVersion = (await run(go, ['list', '-m', '-f', '{{.Version}}', 'go.etcd.io/etcd/server/v3'], { cwd: buildDir, env, what: 'go list etcd' })).trim();
  if (etcdVersion !== ETCD_VERSION) {
    throw new InfraError(`k8s.io/kubernetes ${KUBERNETES_VERSION} resolved etcd ${etcdVersion}, expected ${ETCD_VERSION}: update ETCD_VERSION in lib/infra/services/kubernetes.ts`);
  }
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  const versionFlags = [
    `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
    `-X k8s.io/component-base/version.gitMajor=${major}`,
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
    '-X k8s.io/component-base/version.gitTreeState=clean',
  ];
  const targets: [string, string, string[]][] = [
    ['kube-apiserver', 'k8s.io/kubernetes/cmd/kube-apiserver', versionFlags],
    ['etcd', 'go.etcd.io/etcd/server/v3', []],
  ];
  for (const [name, pkg, ldflags] of targets) {
    const out = name === 'etcd' ? bins.etcd : bins.apiserver;
    if (existsSync(out)) continue;
    // Built beside the target and renamed, so an interrupted build never passes for a finished one.
    const tmp = `${out}.tmp-${process.pid}`;
    try {
      await withTicker(progress, `go build ${name}`, () =>
        run(go, ['build', '-o', tmp, '-ldflags', ['-s', '-w', ...ldflags].join(' '), pkg], { cwd: buildDir, env, what: `go build ${pkg}` }),
      );
      renameSync(tmp, out);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  progress(`built in ${((Date.now() - t0) / 60_000).toFixed(1)} min`);
}

/** The admin token, the service-account key pair and the folders: made once, kept across restarts. */
function ensureFiles(config: Config): void {
  const f = files(config);
  for (const dir of [f.etcdDir, f.apiserverDir, f.certDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(f.tokenFile)) {
    const token = randomBytes(32).toString('base64url');
    // token,user,uid,"groups": system:masters is bound to cluster-admin by RBAC's bootstrap policy.
    writeFileSync(f.tokenFile, `${token},tempolake-admin,tempolake-admin,"system:masters"\n`, { mode: 0o600 });
  }
  if (!existsSync(f.saKey) || !existsSync(f.saPub)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    writeFileSync(f.saKey, privateKey, { mode: 0o600 });
    writeFileSync(f.saPub, publicKey, { mode: 0o644 });
  }
}

/** A kubeconfig for the admin token; it trusts the CA kube-apiserver generated for itself. */
function writeKubeconfig(config: Config): void {
  const f = files(config);
  const token = adminToken(config);
  if (token === undefined) throw new InfraError(`no admin token in ${f.tokenFile}`);
  // apiserver.crt holds the serving certificate then its self-signed CA: trusting both verifies the chain.
  const tls = existsSync(f.servingCert)
    ? `    certificate-authority-data: ${readFileSync(f.servingCert).toString('base64')}`
    : '    insecure-skip-tls-verify: true';
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: tempolake',
    '  cluster:',
    `    server: ${apiServerUrl(config)}`,
    tls,
    'users:',
    '- name: tempolake-admin',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: tempolake',
    '  context:',
    '    cluster: tempolake',
    '    user: tempolake-admin',
    `    namespace: ${config.sparkNamespace}`,
    'current-context: tempolake',
    '',
  ].join('\n');
  writeFileSync(f.kubeconfig, yaml, { mode: 0o600 });
  chmodSync(f.kubeconfig, 0o600);
}

async function startEtcd(config: Config): Promise<void> {
  const f = files(config);
  const running = runningPid(f.etcdDir);
  const peer = `http://${HOST}:${config.etcdPort + 1}`;
  const pid =
    running ??
    startDaemon({
      dir: f.etcdDir,
      command: binaries(config).etcd,
      args: [
        '--name=tempolake',
        `--data-dir=${f.etcdData}`,
        `--listen-client-urls=${etcdUrl(config)}`,
        `--advertise-client-urls=${etcdUrl(config)}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=tempolake=${peer}`,
        '--log-level=warn',
      ],
    });
  await waitUntilReady({ name: 'etcd', pid, logDir: f.etcdDir, timeoutMs: 60_000, ready: () => etcdReady(config) });
}

async function startApiServer(config: Config): Promise<void> {
  const f = files(config);
  const running = runningPid(f.apiserverDir);
  const pid =
    running ??
    startDaemon({
      dir: f.apiserverDir,
      command: binaries(config).apiserver,
      args: [
        `--etcd-servers=${etcdUrl(config)}`,
        `--bind-address=${HOST}`,
        // Else it advertises the machine's first interface address; nothing here leaves loopback.
        `--advertise-address=${HOST}`,
        `--secure-port=${config.kubeApiPort}`,
        `--cert-dir=${f.certDir}`,
        `--token-auth-file=${f.tokenFile}`,
        '--authorization-mode=RBAC',
        `--service-account-key-file=${f.saPub}`,
        `--service-account-signing-key-file=${f.saKey}`,
        '--service-account-issuer=https://kubernetes.default.svc',
        '--service-cluster-ip-range=10.96.0.0/24',
        // The default reconciler refuses a loopback advertise address; nothing here routes to it anyway.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
      ],
    });
  await waitUntilReady({ name: 'kube-apiserver', pid, logDir: f.apiserverDir, timeoutMs: 120_000, ready: () => apiServerReady(config) });
}

export const kubernetesService: LocalService = {
  name: 'kubernetes',
  onDemand: true,
  managed: (config) => config.kubeconfigPath === '',

  async provision({ config, progress }: InfraContext) {
    const bins = binaries(config);
    if (existsSync(bins.apiserver) && existsSync(bins.etcd)) return;
    await build(config, progress);
  },

  async start({ config, progress }: InfraContext) {
    const f = files(config);
    if (!(runningPid(f.apiserverDir) !== undefined && (await apiServerReady(config)))) {
      ensureFiles(config);
      await startEtcd(config);
      await startApiServer(config);
    }
    writeKubeconfig(config);
    progress(`kubeconfig ${f.kubeconfig}`);
  },

  async stop({ config }: InfraContext) {
    const f = files(config);
    const apiserver = await stopDaemon(f.apiserverDir);
    const etcd = await stopDaemon(f.etcdDir);
    return apiserver || etcd;
  },

  async status(config): Promise<ServiceStatus> {
    if (!this.managed(config)) {
      const { apiServerReachable, createKubeConfig } = await import('../../clients/kubernetes.ts');
      const kc = createKubeConfig(config);
      return {
        name: 'kubernetes',
        address: kc.getCurrentCluster()?.server ?? '(no cluster in kubeconfig)',
        managed: false,
        running: await apiServerReachable(kc),
        notes: [`kubeconfig ${config.kubeconfigPath}`],
      };
    }
    const pid = runningPid(files(config).apiserverDir);
    return {
      name: 'kubernetes',
      address: apiServerUrl(config),
      managed: true,
      running: await apiServerReady(config),
      ...(pid !== undefined ? { pid } : {}),
      notes: [`kubeconfig ${kubeconfigPath(config)}`, `etcd ${etcdUrl(config)}`],
    };
  },
};
