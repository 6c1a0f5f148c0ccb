/**
 * PyIceberg as an independent reader of the lake: an engine nobody here wrote reads
 * what DuckDB committed through the same REST catalog, so a table that only our own
 * code can read fails a test instead of a customer's Spark or Athena job.
 *
 * PyIceberg and PyArrow come from PyPI into the cache virtualenv (exact pins); the
 * reader is deploy/tools/read_iceberg.py, run with the virtualenv's python.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { warehouseLocation, type Config } from '../config.ts';
import { run } from '../infra/process.ts';
import { pipInstall, venvBin } from '../infra/python.ts';

export const PYICEBERG_VERSION = '0.12.0';
export const PYARROW_VERSION = '26.0.1';
/** Exact pins, tried on Python 3.11: pip resolves the rest within PyIceberg's own ranges. */
export const PYICEBERG_REQUIREMENTS = [`pyiceberg[pyarrow]==${PYICEBERG_VERSION}`, `pyarrow==${PYARROW_VERSION}`] as const;

const READER = fileURLToPath(new URL('../../deploy/tools/read_iceberg.py', import.meta.url));

export class PyIcebergError extends Error {
  override name = 'PyIcebergError';
}

/** `namespace.table`, as PyIceberg names a table. */
export type IcebergTableName = `${string}.${string}`;

export interface IcebergField {
  readonly name: string;
  /** PyIceberg's `str(field.field_type)`: `timestamptz`, `double`, `list<string>`, `date`, … */
  readonly type: string;
  readonly required: boolean;
}

export interface TemporalRange {
  /** ISO 8601; timestamptz in UTC (`…+00:00`), dates as YYYY-MM-DD; null when every value is null. */
  readonly min: string | null;
  readonly max: string | null;
  /** Microseconds since the epoch, for timestamp columns (null for dates). */
  readonly minEpochUs: number | null;
  readonly maxEpochUs: number | null;
}

export interface PyIcebergReadResult {
  /** PyIceberg and PyArrow versions that read the table. */
  readonly engine: string;
  readonly formatVersion: number;
  /** Current snapshot id (as text: it does not fit a JS number), null for an empty table. */
  readonly snapshotId: string | null;
  /** Rows the scan yields, delete files applied. */
  readonly rows: number;
  readonly schema: readonly IcebergField[];
  readonly partitionSpec: string;
  /** Data files and distinct delete files the scan planned. */
  readonly dataFiles: number;
  readonly deleteFiles: number;
  /** Sum of every numeric column over the scanned rows (null when all are null). */
  readonly sums: Readonly<Record<string, number | null>>;
  /** Min and max of every date and timestamp column over the scanned rows. */
  readonly ranges: Readonly<Record<string, TemporalRange>>;
  /** The first rows of the scan, when asked for. */
  readonly sample?: readonly Record<string, unknown>[];
}

export interface PyIcebergReadOptions {
  /** PyIceberg row filter expression, e.g. `day = '2021-10-01'`. */
  readonly rowFilter?: string;
  /** Number of rows to return as a sample (default none). */
  readonly sample?: number;
}

/** Installs the pinned PyIceberg into the cache virtualenv unless those versions already import. */
export async function ensurePyIceberg(config: Config): Promise<void> {
  if ((await installedVersions(config)) === `${PYICEBERG_VERSION} ${PYARROW_VERSION}`) return;
  await pipInstall(config, PYICEBERG_REQUIREMENTS);
  const now = await installedVersions(config);
  if (now !== `${PYICEBERG_VERSION} ${PYARROW_VERSION}`) {
    throw new PyIcebergError(`after pip install, pyiceberg/pyarrow import as "${now ?? 'nothing'}", not ${PYICEBERG_VERSION} ${PYARROW_VERSION}`);
  }
}

async function installedVersions(config: Config): Promise<string | undefined> {
  try {
    const out = await run(venvBin(config, 'python'), ['-c', 'import pyiceberg, pyarrow; print(pyiceberg.__version__, pyarrow.__version__)'], {
      what: 'import pyiceberg',
    });
    return out.trim();
  } catch {
    return undefined;
  }
}

/**
 * Catalog properties for PyIceberg: the REST endpoint, plus the S3 endpoint and keys when
 * the warehouse is in a bucket (the local catalog hands out no credentials of its own).
 */
export function pyIcebergCatalogProperties(config: Config): Record<string, string> {
  if (!warehouseLocation(config).startsWith('s3://')) return {};
  return {
    's3.endpoint': config.s3Endpoint.toString().replace(/\/$/, ''),
    's3.access-key-id': config.s3AccessKeyId,
    's3.secret-access-key': config.s3SecretAccessKey,
    's3.path-style-access': 'true',
    's3.region': config.s3Region,
  };
}

/** Scans one table with PyIceberg (installing it first if needed) and returns its summary. */
export async function readWithPyIceberg(config: Config, table: IcebergTableName, opts: PyIcebergReadOptions = {}): Promise<PyIcebergReadResult> {
  await ensurePyIceberg(config);
  const request = {
    uri: config.icebergCatalogUrl.toString().replace(/\/$/, ''),
    table,
    properties: pyIcebergCatalogProperties(config),
    ...(opts.rowFilter ? { row_filter: opts.rowFilter } : {}),
    ...(opts.sample ? { sample: opts.sample } : {}),
  };
  const stdout = await runPython(venvBin(config, 'python'), [READER], JSON.stringify(request), `PyIceberg read of ${table}`);
  let raw: RawResult;
  try {
    raw = JSON.parse(stdout) as RawResult;
  } catch {
    throw new PyIcebergError(`PyIceberg read of ${table} printed no JSON: ${stdout.slice(0, 500)}`);
  }
  return {
    engine: raw.engine,
    formatVersion: raw.format_version,
    snapshotId: raw.snapshot_id,
    rows: raw.rows,
    schema: raw.schema,
    partitionSpec: raw.partition_spec,
    dataFiles: raw.data_files,
    deleteFiles: raw.delete_files,
    sums: raw.sums,
    ranges: Object.fromEntries(
      Object.entries(raw.ranges).map(([k, r]) => [k, { min: r.min, max: r.max, minEpochUs: r.min_epoch_us, maxEpochUs: r.max_epoch_us }]),
    ),
    ...(raw.sample ? { sample: raw.sample } : {}),
  };
}

interface RawResult {
  engine: string;
  format_version: number;
  snapshot_id: string | null;
  rows: number;
  schema: IcebergField[];
  partition_spec: string;
  data_files: number;
  delete_files: number;
  sums: Record<string, number | null>;
  ranges: Record<string, { min: string | null; max: string | null; min_epoch_us: number | null; max_epoch_us: number | null }>;
  sample?: Record<string, unknown>[];
}

/** Runs python with the request on stdin (S3 keys stay out of argv); a failure carries stderr's tail. */
function runPython(python: string, args: readonly string[], input: string, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', (e) => reject(new PyIcebergError(`${what}: cannot start ${python}: ${e.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
      const tail = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-20).join('\n');
      reject(new PyIcebergError(`${what} failed (${signal ?? `exit ${code}`}):\n${tail}`));
    });
    child.stdin.end(input);
  });
}
