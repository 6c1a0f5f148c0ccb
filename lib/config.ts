/**
 * The one typed configuration module: every address, credential and path the
 * project uses, each read from one environment variable with a local default.
 * A bad value fails at start-up naming the variable, not later inside a client.
 */
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineSettingError, parseEngineOverrides, parseEngineSetting, TRANSFORMS } from './engine/engines.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function wrapEngineError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof EngineSettingError) throw new ConfigError(err.message);
    throw err;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

interface Setting<T> {
  readonly env: string;
  readonly doc: string;
  /** Default as the user would write it; a function when it depends on other variables. */
  readonly fallback: string | ((env: Env) => string);
  readonly parse: (raw: string, name: string) => T;
  /**
   * A credential, or a value that may carry one (a URL with user:password or an API key):
   * masked by `lake config`, put in the Secret rather than the ConfigMap by `lake deploy env`.
   */
  readonly secret?: boolean;
  /** About this machine only (its local servers, ports and folders): `lake deploy env` leaves it out. */
  readonly local?: boolean;
}

const text = (raw: string): string => raw;

function port(raw: string, name: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new ConfigError(`${name} must be a TCP port (1-65535), got "${raw}"`);
  }
  return n;
}

function hostPort(raw: string, name: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(raw.trim());
  if (!m) throw new ConfigError(`${name} must be host:port, got "${raw}"`);
  return { host: m[1] as string, port: port(m[2] as string, name) };
}

function httpUrl(raw: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  }
  return url;
}

function minLength(min: number) {
  return (raw: string, name: string): string => {
    if (raw.length < min) throw new ConfigError(`${name} must be at least ${min} characters`);
    return raw;
  };
}

function positiveInt(raw: string, name: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new ConfigError(`${name} must be a whole number ≥ 1, got "${raw}"`);
  return n;
}

function list(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function bool(raw: string, name: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

/** A file path, or empty for none. */
/** One of the given words. */
function oneOf<const T extends string>(...allowed: T[]) {
  return (raw: string, name: string): T => {
    if (!(allowed as string[]).includes(raw)) throw new ConfigError(`${name} must be ${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}, got "${raw}"`);
    return raw as T;
  };
}

/** A JVM memory size as -Xmx and spark-submit take it: 2g, 1536m. */
function jvmMemory(raw: string, name: string): string {
  if (!/^\d+[kmgt]?$/i.test(raw)) throw new ConfigError(`${name} must be a JVM memory size like 2g or 1536m, got "${raw}"`);
  return raw;
}

const optionalPath = (raw: string): string => (raw === '' ? '' : path.resolve(raw));

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every setting, its variable, default and meaning. `lake config` prints this table. */
export const settings = {
  cacheDir: {
    env: 'TEMPOLAKE_CACHE_DIR',
    local: true,
    doc: 'Built binaries, jars and virtualenvs, reused across runs (outside the repo)',
    fallback: (env) => path.join(env['XDG_CACHE_HOME'] || path.join(homedir(), '.cache'), 'tempolake'),
    parse: (raw) => path.resolve(raw),
  },
  dataDir: {
    env: 'TEMPOLAKE_DATA_DIR',
    local: true,
    doc: 'Local server data (Temporal SQLite, MinIO, Kafka logs, PostgreSQL) and the embedded lake',
    fallback: path.join(repoRoot, '.lake'),
    parse: (raw) => path.resolve(raw),
  },
  temporalAddress: {
    env: 'TEMPORAL_ADDRESS',
    doc: 'Temporal frontend gRPC address',
    fallback: '127.0.0.1:7233',
    parse: hostPort,
  },
  temporalNamespace: {
    env: 'TEMPORAL_NAMESPACE',
    doc: 'Temporal namespace the workers and clients use',
    fallback: 'default',
    parse: text,
  },
  // Temporal over TLS (Temporal Cloud: mTLS with the namespace's client certificate) and how
  // much one worker takes on per task queue (`lake worker`, one Deployment per queue on Kubernetes).
  temporalTls: {
    env: 'TEMPORAL_TLS',
    doc: 'Connect to Temporal over TLS: true or false (default: true when TEMPORAL_TLS_CERT or TEMPORAL_TLS_CA is set)',
    fallback: (env) => (env['TEMPORAL_TLS_CERT'] || env['TEMPORAL_TLS_CA'] ? 'true' : 'false'),
    parse: bool,
  },
  temporalTlsCert: {
    env: 'TEMPORAL_TLS_CERT',
    doc: 'PEM file of the client certificate for mTLS to Temporal (Temporal Cloud), with TEMPORAL_TLS_KEY; empty: none',
    fallback: '',
    parse: optionalPath,
  },
  temporalTlsKey: { env: 'TEMPORAL_TLS_KEY', doc: 'PEM file of the private key of TEMPORAL_TLS_CERT', fallback: '', parse: optionalPath },
  temporalTlsCa: {
    env: 'TEMPORAL_TLS_CA',
    doc: "PEM file of the CA that signed the Temporal frontend's certificate (empty: the system's roots, right for Temporal Cloud)",
    fallback: '',
    parse: optionalPath,
  },
  temporalTlsServerName: {
    env: 'TEMPORAL_TLS_SERVER_NAME',
    doc: "Server name (SNI) the Temporal frontend's certificate is checked against, when not TEMPORAL_ADDRESS's host",
    fallback: '',
    parse: text,
  },
  workerMaxConcurrentActivities: {
    env: 'WORKER_MAX_CONCURRENT_ACTIVITIES',
    doc: 'Activities one worker runs at once on each of its task queues (each DuckDB activity may use DUCKDB_MEMORY_LIMIT)',
    fallback: '100',
    parse: positiveInt,
  },
  workerMaxConcurrentWorkflowTasks: {
    env: 'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS',
    doc: 'Workflow tasks one worker runs at once on each of its task queues (at least 2)',
    fallback: '40',
    parse: (raw, name) => {
      const n = positiveInt(raw, name);
      if (n < 2) throw new ConfigError(`${name} must be at least 2 (the workflow cache needs it), got "${raw}"`);
      return n;
    },
  },
  temporalUiPort: {
    env: 'TEMPORAL_UI_PORT',
    local: true,
    doc: 'Port of the local dev server web UI',
    fallback: '8233',
    parse: port,
  },
  s3Endpoint: {
    env: 'S3_ENDPOINT',
    doc: 'S3 API endpoint (MinIO locally, the regional endpoint on AWS)',
    fallback: 'http://127.0.0.1:9000',
    parse: httpUrl,
  },
  s3Region: { env: 'S3_REGION', doc: 'S3 region', fallback: 'us-east-1', parse: text },
  s3AccessKeyId: { env: 'S3_ACCESS_KEY_ID', doc: 'S3 access key (MinIO root user locally)', fallback: 'tempolake', parse: text, secret: true },
  s3SecretAccessKey: {
    env: 'S3_SECRET_ACCESS_KEY',
    secret: true,
    doc: 'S3 secret key (MinIO root password locally, 8+ characters)',
    fallback: 'tempolake-secret',
    parse: minLength(8),
  },
  s3Bucket: { env: 'S3_BUCKET', doc: 'Bucket holding the lake', fallback: 'tempolake', parse: text },
  minioConsolePort: {
    env: 'MINIO_CONSOLE_PORT',
    local: true,
    doc: 'Port of the local MinIO console',
    fallback: '9001',
    parse: port,
  },
  kafkaBrokers: {
    env: 'KAFKA_BROKERS',
    doc: 'Comma-separated Kafka bootstrap brokers',
    fallback: '127.0.0.1:9092',
    parse: (raw, name) => {
      const brokers = list(raw);
      if (brokers.length === 0) throw new ConfigError(`${name} must list at least one host:port`);
      brokers.forEach((b) => hostPort(b, name));
      return brokers;
    },
  },
  kafkaControllerPort: {
    env: 'KAFKA_CONTROLLER_PORT',
    local: true,
    doc: 'KRaft controller port of the local broker',
    fallback: '9093',
    parse: port,
  },
  postgresHost: { env: 'POSTGRES_HOST', doc: 'Warehouse PostgreSQL host', fallback: '127.0.0.1', parse: text },
  postgresPort: {
    env: 'POSTGRES_PORT',
    doc: 'Warehouse PostgreSQL port (not 5432, so a system cluster is left alone)',
    fallback: '5433',
    parse: port,
  },
  postgresUser: { env: 'POSTGRES_USER', doc: 'Warehouse admin role', fallback: 'tempolake', parse: text },
  postgresPassword: {
    env: 'POSTGRES_PASSWORD',
    secret: true,
    doc: 'Warehouse admin password',
    fallback: 'tempolake',
    parse: minLength(1),
  },
  postgresDatabase: { env: 'POSTGRES_DB', doc: 'Warehouse database', fallback: 'tempolake', parse: text },
  lakeStorage: {
    env: 'LAKE_STORAGE',
    doc: 'Where the lake lives: local (a folder, the embedded default) or s3 (the S3 bucket)',
    fallback: 'local',
    parse: oneOf('local', 's3'),
  },
  lakeLocalRoot: {
    env: 'LAKE_LOCAL_ROOT',
    local: true,
    doc: 'Folder of the local lake (raw files and the Iceberg warehouse)',
    fallback: (env) => path.join(env['TEMPOLAKE_DATA_DIR'] || path.join(repoRoot, '.lake'), 'lake'),
    parse: (raw) => path.resolve(raw),
  },
  lakeS3Prefix: {
    env: 'LAKE_S3_PREFIX',
    doc: 'Key prefix of the lake inside S3_BUCKET (empty: the bucket root)',
    fallback: '',
    parse: (raw) => raw.replace(/^\/+|\/+$/g, ''),
  },
  icebergCatalogUrl: {
    env: 'ICEBERG_CATALOG_URL',
    doc: 'Iceberg REST catalog endpoint (local server, AWS Glue/S3 Tables, Polaris, Nessie, Lakekeeper)',
    fallback: 'http://127.0.0.1:8181',
    parse: httpUrl,
  },
  icebergCatalogJdbcUri: {
    env: 'ICEBERG_CATALOG_JDBC_URI',
    local: true,
    doc: 'Backing store of the local REST catalog: a SQLite file by default, or jdbc:postgresql://…',
    fallback: (env) =>
      // SQLite allows one writer at a time: wait for the lock instead of failing with SQLITE_BUSY
      // (not WAL: there a pooled connection's stale read snapshot fails every write, SQLITE_BUSY_SNAPSHOT).
      `jdbc:sqlite:file:${path.join(env['TEMPOLAKE_DATA_DIR'] || path.join(repoRoot, '.lake'), 'infra', 'iceberg', 'catalog.db')}?busy_timeout=30000&journal_mode=DELETE`,
    parse: text,
  },
  icebergWarehouse: {
    env: 'ICEBERG_WAREHOUSE',
    doc: 'Warehouse location of new tables (default: <lake>/warehouse on disk or s3://<bucket>/<prefix>/warehouse)',
    fallback: '',
    parse: text,
  },
  sourceAUrl: {
    env: 'SOURCE_A_URL',
    secret: true,
    doc: 'Folder of source A files: ftp://user:pass@host:port/dir/ or http(s)://host/dir/ (default: the local simulator)',
    fallback: 'ftp://tempolake:tempolake@127.0.0.1:2121/source_a/',
    parse: text,
  },
  sourceAPattern: {
    env: 'SOURCE_A_PATTERN',
    doc: 'Source A file name for a day: {date} = YYYY-MM-DD, {yyyymmdd}; * wildcards on FTP',
    fallback: 'activity_{date}.jsonl',
    parse: text,
  },
  sourceALagDays: {
    env: 'SOURCE_A_LAG_DAYS',
    doc: 'Source A delivers with this lag: raw day D lands in curated day D minus this',
    fallback: '3',
    parse: (raw, name) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${name} must be a whole number of days, got "${raw}"`);
      return n;
    },
  },
  sourceBUrl: {
    env: 'SOURCE_B_URL',
    secret: true,
    doc: 'Folder of source B files (ftp:// or http(s)://; default: the local simulator)',
    fallback: 'http://127.0.0.1:8700/source_b/',
    parse: text,
  },
  sourceBPattern: { env: 'SOURCE_B_PATTERN', doc: 'Source B file name for a day', fallback: 'customers_{date}.csv', parse: text },
  sourceBTimestampField: {
    env: 'SOURCE_B_TIMESTAMP_FIELD',
    doc: 'Source B column whose date chooses the curated partition when present (else the ingestion day)',
    fallback: 'updated_at',
    parse: text,
  },
  fileSimFtpPort: { env: 'FILE_SIM_FTP_PORT', doc: 'Port of the local FTP simulator of sources A/B', fallback: '2121', parse: port, local: true },
  fileSimHttpPort: { env: 'FILE_SIM_HTTP_PORT', doc: 'Port of the local HTTP simulator of sources A/B', fallback: '8700', parse: port, local: true },
  weatherForecastUrl: {
    env: 'WEATHER_FORECAST_URL',
    secret: true,
    doc: 'Weather (source C) forecast endpoint, Open-Meteo shape: current + hourly forecast (default: the local simulator)',
    fallback: (env) => `http://127.0.0.1:${env['WEATHER_SIM_PORT'] || '8701'}/v1/forecast`,
    parse: httpUrl,
  },
  weatherArchiveUrl: {
    env: 'WEATHER_ARCHIVE_URL',
    secret: true,
    doc: 'Weather (source C) historical archive endpoint, Open-Meteo shape (real: https://archive-api.open-meteo.com/v1/archive)',
    fallback: (env) => `http://127.0.0.1:${env['WEATHER_SIM_PORT'] || '8701'}/v1/archive`,
    parse: httpUrl,
  },
  weatherTimeoutMs: { env: 'WEATHER_TIMEOUT_MS', doc: 'Timeout of one weather API request, in ms', fallback: '30000', parse: positiveInt },
  weatherMaxAttempts: {
    env: 'WEATHER_MAX_ATTEMPTS',
    doc: 'Attempts per weather request inside one activity (errors, timeouts, 429) before Temporal retries the activity',
    fallback: '5',
    parse: positiveInt,
  },
  weatherRequestsPerMinute: {
    env: 'WEATHER_REQUESTS_PER_MINUTE',
    doc: 'Client-side cap on weather API requests per minute per worker (Open-Meteo free tier: 600)',
    fallback: '600',
    parse: positiveInt,
  },
  weatherLocationsPerRequest: {
    env: 'WEATHER_LOCATIONS_PER_REQUEST',
    doc: 'Regions per forecast/current request (the API takes comma-separated coordinates)',
    fallback: '50',
    parse: positiveInt,
  },
  weatherSimPort: { env: 'WEATHER_SIM_PORT', doc: 'Port of the local weather API simulator (source C)', fallback: '8701', parse: port, local: true },
  regionsFile: {
    env: 'REGIONS_FILE',
    local: true,
    doc: 'JSON file seeding operational.regions (id, name, latitude, longitude, metadata)',
    fallback: path.join(repoRoot, 'deploy', 'regions.json'),
    parse: (raw) => path.resolve(raw),
  },
  marketApiUrl: {
    env: 'MARKET_API_URL',
    doc: 'Market (source D) REST endpoint of events, polled by the stream (default: the local simulator)',
    fallback: (env) => `http://127.0.0.1:${env['MARKET_SIM_PORT'] || '8702'}/v1/events`,
    parse: httpUrl,
  },
  marketSimPort: { env: 'MARKET_SIM_PORT', doc: 'Port of the local market API simulator (source D)', fallback: '8702', parse: port, local: true },
  marketTopic: { env: 'MARKET_TOPIC', doc: 'Kafka topic of market events (key = region)', fallback: 'market.events', parse: text },
  marketTopicPartitions: {
    env: 'MARKET_TOPIC_PARTITIONS',
    doc: 'Partitions of the market topic when the project creates it',
    fallback: '3',
    parse: positiveInt,
  },
  marketConsumerGroup: {
    env: 'MARKET_CONSUMER_GROUP',
    doc: 'Kafka consumer group of the raw-zone writer of market events',
    fallback: 'tempolake-market-raw',
    parse: text,
  },
  marketFileMaxEvents: {
    env: 'MARKET_FILE_MAX_EVENTS',
    doc: 'Raw file of market events is closed at this many events (per partition and hour)',
    fallback: '10000',
    parse: positiveInt,
  },
  marketFileMaxMs: {
    env: 'MARKET_FILE_MAX_MS',
    doc: 'Raw file of market events is closed this long after its first event arrived (ms)',
    fallback: '10000',
    parse: positiveInt,
  },
  warehouse: {
    env: 'WAREHOUSE',
    doc: 'Warehouse the loads and the API use: postgres (local default, POSTGRES_*) or redshift (REDSHIFT_*, through the Data API)',
    fallback: 'postgres',
    parse: oneOf('postgres', 'redshift'),
  },
  redshiftRegion: { env: 'REDSHIFT_REGION', doc: 'AWS region of the Redshift cluster or workgroup', fallback: (env) => env['S3_REGION'] || 'us-east-1', parse: text },
  redshiftDataEndpoint: {
    env: 'REDSHIFT_DATA_ENDPOINT',
    doc: 'Redshift Data API endpoint override (empty: the regional AWS endpoint; tests point it at a fake)',
    fallback: '',
    parse: (raw, name) => (raw === '' ? '' : httpUrl(raw, name).toString()),
  },
  redshiftClusterId: { env: 'REDSHIFT_CLUSTER_ID', doc: 'Provisioned Redshift cluster identifier (or set REDSHIFT_WORKGROUP)', fallback: '', parse: text },
  redshiftWorkgroup: { env: 'REDSHIFT_WORKGROUP', doc: 'Redshift Serverless workgroup name (or set REDSHIFT_CLUSTER_ID)', fallback: '', parse: text },
  redshiftDatabase: { env: 'REDSHIFT_DATABASE', doc: 'Redshift database', fallback: 'dev', parse: text },
  redshiftDbUser: { env: 'REDSHIFT_DB_USER', doc: 'Database user for temporary credentials (provisioned clusters; or REDSHIFT_SECRET_ARN)', fallback: '', parse: text },
  redshiftSecretArn: { env: 'REDSHIFT_SECRET_ARN', doc: 'Secrets Manager ARN of the database credentials', fallback: '', parse: text },
  redshiftIamRole: {
    env: 'REDSHIFT_IAM_ROLE',
    doc: 'IAM role ARN Redshift assumes to read the Glue Data Catalog and the lake bucket (external schemas)',
    fallback: '',
    parse: text,
  },
  redshiftGlueDatabasePrefix: {
    env: 'REDSHIFT_GLUE_DATABASE_PREFIX',
    doc: 'Prefix of the Glue databases holding the lake namespaces (Glue database = prefix + curated/operational)',
    fallback: '',
    parse: text,
  },
  kubeApiPort: { env: 'KUBE_API_PORT', doc: 'HTTPS port of the local kube-apiserver (not 6443, so a real cluster is left alone)', fallback: '16443', parse: port, local: true },
  etcdPort: {
    env: 'ETCD_PORT',
    local: true,
    doc: 'Client port of the local etcd behind kube-apiserver (its peer port is this + 1)',
    fallback: '12379',
    parse: (raw, name) => {
      const n = port(raw, name);
      if (n === 65535) throw new ConfigError(`${name} must leave room for the peer port (${name} + 1), got "${raw}"`);
      return n;
    },
  },
  kubeconfigPath: {
    env: 'KUBECONFIG_PATH',
    local: true,
    doc: 'Kubeconfig of the cluster Spark jobs run on (empty: the local API server that `lake infra` manages)',
    fallback: '',
    parse: (raw) => (raw === '' ? '' : path.resolve(raw)),
  },
  sparkNamespace: {
    env: 'SPARK_NAMESPACE',
    doc: 'Kubernetes namespace of the SparkApplications',
    fallback: 'tempolake',
    parse: (raw, name) => {
      if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(raw)) throw new ConfigError(`${name} must be a DNS label (a-z, 0-9, -), got "${raw}"`);
      return raw;
    },
  },
  apiHost: { env: 'API_HOST', doc: 'Interface the REST API binds', fallback: '127.0.0.1', parse: text },
  apiPort: { env: 'API_PORT', doc: 'Port of the REST API', fallback: '8080', parse: port },
  apiRateLimitPerMinute: {
    env: 'API_RATE_LIMIT_PER_MINUTE',
    doc: 'Requests per minute allowed per API key (429 above it)',
    fallback: '600',
    parse: positiveInt,
  },
  apiAdminKey: {
    env: 'API_ADMIN_KEY',
    secret: true,
    doc: 'Key of the admin API (/v1/admin/…, header X-Admin-Key), at least 16 characters; empty: the admin API answers 503',
    fallback: '',
    parse: (raw, name) => {
      if (raw !== '' && raw.length < 16) throw new ConfigError(`${name} must be at least 16 characters (or empty to turn the admin API off)`);
      return raw;
    },
  },
  apiBodyLimit: { env: 'API_BODY_LIMIT', doc: 'Largest JSON request body the API accepts (413 above it)', fallback: '100kb', parse: text },
  uploadMaxBytes: {
    env: 'UPLOAD_MAX_BYTES',
    doc: 'Largest dataset a customer may upload with PUT /v1/datasets/{name} (413 above it)',
    fallback: String(100 * 1024 * 1024),
    parse: positiveInt,
  },
  apiPageSize: { env: 'API_PAGE_SIZE', doc: 'Default rows per page of the paged JSON endpoints (limit= may ask up to 10000)', fallback: '1000', parse: positiveInt },
  duckdbMemoryLimit: {
    env: 'DUCKDB_MEMORY_LIMIT',
    doc: 'Memory limit of the in-process DuckDB per activity (it spills to disk above it)',
    fallback: '2GB',
    parse: text,
  },
  sparkMaster: {
    env: 'SPARK_MASTER',
    doc: 'Master of the local spark-submit (pyspark from the cache): local[N] threads in one JVM, or spark://host:port',
    fallback: 'local[2]',
    parse: (raw, name) => {
      if (!/^(local(\[(\d+|\*)(,\d+)?\])?|spark:\/\/\S+)$/.test(raw)) {
        throw new ConfigError(`${name} must be local, local[N], local[*] or spark://host:port, got "${raw}"`);
      }
      return raw;
    },
  },
  engine: {
    env: 'ENGINE',
    doc: 'Engine of every transform: duckdb (in the worker), spark (local spark-submit), spark-k8s (SparkApplication), auto (Spark above ENGINE_AUTO_SPARK_BYTES)',
    fallback: 'duckdb',
    parse: (raw, name) => wrapEngineError(() => parseEngineSetting(raw, name)),
  },
  engineOverrides: {
    env: 'ENGINE_OVERRIDES',
    doc: `Engine per transform over ENGINE, e.g. curate_source_a=spark-k8s,market_daily=duckdb (transforms: ${TRANSFORMS.join(', ')})`,
    fallback: '',
    parse: (raw, name) => wrapEngineError(() => parseEngineOverrides(raw, name)),
  },
  engineAutoSparkBytes: {
    env: 'ENGINE_AUTO_SPARK_BYTES',
    doc: 'With auto: inputs of at least this many bytes go to Spark (ENGINE_AUTO_SPARK)',
    fallback: String(4 * 1024 ** 3),
    parse: positiveInt,
  },
  engineAutoSpark: {
    env: 'ENGINE_AUTO_SPARK',
    doc: 'The Spark that auto picks for big inputs: spark or spark-k8s',
    fallback: 'spark',
    parse: oneOf('spark', 'spark-k8s'),
  },
  sparkImage: {
    env: 'SPARK_IMAGE',
    doc: 'Container image of the SparkApplications (deploy/spark/Dockerfile: Spark, the jobs, the Iceberg and s3a jars)',
    fallback: 'tempolake/spark:0.1.0',
    parse: text,
  },
  sparkS3Secret: {
    env: 'SPARK_S3_SECRET',
    doc: 'Kubernetes Secret holding the lake\'s S3 keys for SparkApplications (keys access-key-id, secret-access-key): never in the spec',
    fallback: 'tempolake-lake-s3',
    parse: text,
  },
  freshnessWebhookUrl: {
    env: 'FRESHNESS_WEBHOOK_URL',
    secret: true,
    doc: 'Where each freshness violation is POSTed once as JSON (retried until it answers 2xx); empty: violations are only shown',
    fallback: '',
    parse: (raw, name) => (raw === '' ? '' : httpUrl(raw, name).toString()),
  },
  catalogWindowDays: {
    env: 'CATALOG_WINDOW_DAYS',
    doc: 'Days back from today that `lake status` and the admin API count problems in by default',
    fallback: '30',
    parse: positiveInt,
  },
  sparkExecutors: { env: 'SPARK_EXECUTORS', doc: 'Executor pods of a SparkApplication', fallback: '2', parse: positiveInt },
  sparkExecutorMemory: {
    env: 'SPARK_EXECUTOR_MEMORY',
    doc: 'Heap of each SparkApplication executor, e.g. 4g',
    fallback: '2g',
    parse: jvmMemory,
  },
  sparkDriverMemory: {
    env: 'SPARK_DRIVER_MEMORY',
    doc: 'Heap of the Spark driver JVM (in local mode it also runs the tasks), e.g. 2g or 1536m',
    fallback: '2g',
    parse: jvmMemory,
  },
} satisfies Record<string, Setting<unknown>>;

type Settings = typeof settings;
export type Config = { readonly [K in keyof Settings]: ReturnType<Settings[K]['parse']> };

/** Reads and validates every setting; throws a ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(settings) as [string, Setting<unknown>][]) {
    const given = env[s.env];
    const raw = given !== undefined && given !== '' ? given : typeof s.fallback === 'function' ? s.fallback(env) : s.fallback;
    out[key] = s.parse(raw, s.env);
  }
  return Object.freeze(out) as Config;
}

/** The Iceberg warehouse location the local catalog is configured with. */
export function warehouseLocation(config: Config): string {
  if (config.icebergWarehouse) return config.icebergWarehouse;
  if (config.lakeStorage === 's3') {
    return `s3://${[config.s3Bucket, config.lakeS3Prefix, 'warehouse'].filter(Boolean).join('/')}`;
  }
  return `file://${path.join(config.lakeLocalRoot, 'warehouse')}`;
}

/** A secret setting's value as `lake config` shows it: a URL keeps its host and path, nothing else. */
function maskSecret(name: string, value: string): string {
  if (name.endsWith('_URL')) {
    try {
      const url = new URL(value);
      if (url.username) url.username = '****';
      if (url.password) url.password = '****';
      for (const key of [...url.searchParams.keys()]) url.searchParams.set(key, '****');
      return url.toString();
    } catch {
      // not a URL: masked whole below
    }
  }
  return '********';
}

/** The variable, current value and meaning of every setting, for `lake config`. */
export function describeConfig(env: Env = process.env): { env: string; value: string; doc: string }[] {
  return (Object.values(settings) as Setting<unknown>[]).map((s) => {
    const given = env[s.env];
    const value = given ?? (typeof s.fallback === 'function' ? s.fallback(env) : s.fallback);
    return { env: s.env, value: s.secret ? maskSecret(s.env, value) : value, doc: s.doc };
  });
}

/** Loopback hosts are ours to start and stop; any other host is someone else's server. */
export function isLocalHost(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1';
}
