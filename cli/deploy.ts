/**
 * `lake deploy env | render | kustomize`: what deploy/k8s needs from this machine.
 *
 * `env` turns the typed settings (lib/config.ts) into the `.env` files the Kustomize overlays
 * generate their ConfigMap and Secrets from: config.env (tempolake-config), secrets.env
 * (tempolake-secrets: the settings marked `secret`) and spark-s3.env (tempolake-lake-s3, the
 * S3 keys SparkApplications read by name). A setting given in the environment is written as
 * a value; one left at its default is written commented out, so the pods keep the same
 * default and the file still lists it. Settings about this machine only (`local`) are left
 * out, and those the manifests set per pod are listed as comments.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isLocalHost, loadConfig, settings, type Config } from '../lib/config.ts';
import { parseArgs, UsageError } from '../lib/cli/args.ts';
import { ensureKustomize, K8S_DIR, kustomizeBuild } from '../lib/infra/kustomize.ts';

const USAGE = `usage: lake deploy env [--part config|secrets|spark-s3]   print one .env part on stdout (default: config)
       lake deploy env --out DIR                        write DIR/config.env, DIR/secrets.env, DIR/spark-s3.env
       lake deploy render <overlay|dir>                 kustomize build deploy/k8s/overlays/<overlay> (or a folder)
       lake deploy kustomize                            build the pinned kustomize once; print its path`;

type Env = Readonly<Record<string, string | undefined>>;

interface SettingView {
  readonly env: string;
  readonly doc: string;
  readonly fallback: string | ((env: Env) => string);
  readonly secret?: boolean;
  readonly local?: boolean;
}

/** Set by the manifests for each pod (deploy/k8s), whatever the ConfigMap says. */
export const SET_BY_MANIFESTS: Readonly<Record<string, string>> = {
  API_HOST: 'the API Deployment (0.0.0.0)',
  API_PORT: 'the API Deployment (8080)',
  SPARK_NAMESPACE: "each worker's own namespace (the one its Role covers)",
  WORKER_MAX_CONCURRENT_ACTIVITIES: 'each worker Deployment',
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: 'each worker Deployment',
  DUCKDB_MEMORY_LIMIT: 'each worker Deployment, to fit its memory limit',
  TEMPORAL_TLS_CERT: 'the production overlay (the mounted client certificate)',
  TEMPORAL_TLS_KEY: 'the production overlay (the mounted client key)',
};

/** Settings whose local default points at this machine: in a cluster they must be given. */
const ADDRESSES = ['TEMPORAL_ADDRESS', 'S3_ENDPOINT', 'KAFKA_BROKERS', 'POSTGRES_HOST', 'ICEBERG_CATALOG_URL'] as const;

export interface DeployEnvFiles {
  /** config.env: the ConfigMap's settings. */
  readonly config: string;
  /** secrets.env: the settings marked secret. */
  readonly secrets: string;
  /** spark-s3.env: access-key-id and secret-access-key for SparkApplications. */
  readonly sparkS3: string;
  /** What would not work in a cluster: addresses still on this machine, a lake on local disk. */
  readonly warnings: readonly string[];
}

function line(name: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new UsageError(`${name}'s value has a line break: a .env line cannot hold it`);
  return `${name}=${value}`;
}

/** The three .env files for `env` (default: this process's environment); validates every setting first. */
export function deployEnvFiles(env: Env = process.env): DeployEnvFiles {
  // A bad value fails here, naming its variable, rather than in every pod.
  const config: Config = loadConfig(env);
  const header = (what: string): string[] => [
    `# ${what}`,
    '# Written by `npx lake deploy env` from the typed settings (lib/config.ts); see `npx lake config`.',
    '# A commented-out setting keeps its default in the pods.',
    '',
  ];
  const parts = {
    config: header('tempolake settings: ConfigMap tempolake-config (configMapGenerator envs)'),
    secrets: header('tempolake secrets: Secret tempolake-secrets (secretGenerator envs). Keep this file out of git.'),
  };
  const perPod: string[] = [];
  for (const s of Object.values(settings) as SettingView[]) {
    if (s.local) continue;
    if (s.env in SET_BY_MANIFESTS) {
      perPod.push(`#   ${s.env}: ${SET_BY_MANIFESTS[s.env]}`);
      continue;
    }
    const part = s.secret ? parts.secrets : parts.config;
    const given = env[s.env];
    const fallback = typeof s.fallback === 'function' ? s.fallback(env) : s.fallback;
    part.push(`# ${s.doc}`);
    part.push(given !== undefined && given !== '' ? line(s.env, given) : `# ${line(s.env, fallback)}`);
  }
  parts.config.push('', '# Set by the manifests, not here:', ...perPod);

  const sparkS3 = [
    '# The lake S3 keys SparkApplications read (Secret tempolake-lake-s3, SPARK_S3_SECRET). Keep this file out of git.',
    line('access-key-id', config.s3AccessKeyId),
    line('secret-access-key', config.s3SecretAccessKey),
  ];

  const loopback = ADDRESSES.filter((name) => {
    const c = config;
    switch (name) {
      case 'TEMPORAL_ADDRESS':
        return isLocalHost(c.temporalAddress.host);
      case 'S3_ENDPOINT':
        return c.lakeStorage === 's3' && isLocalHost(c.s3Endpoint.hostname);
      case 'KAFKA_BROKERS':
        return c.kafkaBrokers.some((b) => isLocalHost(b.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')));
      case 'POSTGRES_HOST':
        return isLocalHost(c.postgresHost);
      case 'ICEBERG_CATALOG_URL':
        return isLocalHost(c.icebergCatalogUrl.hostname);
    }
  });
  const warnings = [
    ...(loopback.length > 0 ? [`${loopback.join(', ')} still point at this machine (loopback): set them to the cluster's servers`] : []),
    ...(config.lakeStorage !== 's3' ? ['LAKE_STORAGE is local: in a cluster the lake must be on S3 (LAKE_STORAGE=s3)'] : []),
  ];
  return { config: `${parts.config.join('\n')}\n`, secrets: `${parts.secrets.join('\n')}\n`, sparkS3: `${sparkS3.join('\n')}\n`, warnings };
}


async function envCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const out = args.flags.get('out');
  const part = args.flags.get('part') ?? 'config';
  if (args.positional.length > 0 || out === true || part === true || [...args.flags.keys()].some((k) => k !== 'out' && k !== 'part')) throw new UsageError(USAGE);
  const files = deployEnvFiles();
  if (out !== undefined) {
    if (args.flags.has('part')) throw new UsageError('--out writes every part: leave out --part');
    mkdirSync(out, { recursive: true });
    const write = (name: string, text: string, mode: number): void => {
      const file = path.join(out, name);
      writeFileSync(file, text, { mode });
      chmodSync(file, mode);
      console.log(`wrote ${file}`);
    };
    write('config.env', files.config, 0o644);
    write('secrets.env', files.secrets, 0o600);
    write('spark-s3.env', files.sparkS3, 0o600);
  } else if (part === 'config') process.stdout.write(files.config);
  else if (part === 'secrets') process.stdout.write(files.secrets);
  else if (part === 'spark-s3') process.stdout.write(files.sparkS3);
  else throw new UsageError(`--part is config, secrets or spark-s3, not "${part}"`);
  for (const w of files.warnings) console.error(`lake deploy env: ${w}`);
  return 0;
}

export async function deployCommand(config: Config, argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'env':
      return envCommand(rest);
    case 'render': {
      const target = rest[0];
      if (target === undefined || rest.length > 1) throw new UsageError(USAGE);
      const overlay = path.join(K8S_DIR, 'overlays', target);
      const dir = existsSync(overlay) ? overlay : path.resolve(target);
      if (!existsSync(path.join(dir, 'kustomization.yaml'))) throw new UsageError(`no kustomization.yaml in ${dir}`);
      const missing = ['config.env', 'secrets.env', 'spark-s3.env'].filter((f) => !existsSync(path.join(dir, f)));
      if (dir.startsWith(path.join(K8S_DIR, 'overlays')) && missing.length > 0) {
        throw new UsageError(`${dir} has no ${missing.join(', ')}: write them first with \`npx lake deploy env --out ${path.relative(process.cwd(), dir) || '.'}\``);
      }
      const bin = await ensureKustomize(config, (l) => console.error(l));
      process.stdout.write(await kustomizeBuild(bin, dir));
      return 0;
    }
    case 'kustomize': {
      if (rest.length > 0) throw new UsageError(USAGE);
      console.log(await ensureKustomize(config, (l) => console.error(l)));
      return 0;
    }
    default:
      throw new UsageError(USAGE);
  }
}
