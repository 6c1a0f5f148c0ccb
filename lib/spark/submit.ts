/**
 * Runs a PySpark job of deploy/spark/jobs with the local spark-submit (pyspark from the cache
 * folder), on the same Iceberg REST catalog, warehouse and S3 endpoint as DuckDB
 * (lib/lake/session.ts). The catalog's settings reach the job as environment variables that
 * deploy/spark/jobs/tempolake_spark.py reads, so S3 keys never show on a command line.
 *
 * A job prints one `TEMPOLAKE_RESULT {json}` line on stdout; on failure one
 * `TEMPOLAKE_ERROR {json}` line after its traceback, and a non-zero exit.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { warehouseLocation, type Config } from '../config.ts';
import { stopProcess } from '../infra/process.ts';
import { ensureSpark } from './provision.ts';

/** Folder of the job scripts; a bare script name is looked up here. */
export const SPARK_JOBS_DIR = fileURLToPath(new URL('../../deploy/spark/jobs/', import.meta.url));
/** The module every job imports for its session and result line (shipped with `--py-files`). */
export const SPARK_SHARED_MODULE = path.join(SPARK_JOBS_DIR, 'tempolake_spark.py');
/** WARN and above only: Spark's default INFO logging is hundreds of lines per job. */
export const SPARK_LOG4J2 = fileURLToPath(new URL('../../deploy/spark/log4j2.properties', import.meta.url));

const RESULT_PREFIX = 'TEMPOLAKE_RESULT ';
const ERROR_PREFIX = 'TEMPOLAKE_ERROR ';
/** C1 only and the serial collector: a short job spends most of its life starting the JVM. */
const DRIVER_JAVA_OPTIONS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'];
const LOG_LINES_KEPT = 80;
/** Lines printed by every job that say nothing about it (the JVM announcing Spark's vector module). */
const NOISE = /^WARNING: Using incubator modules: jdk\.incubator\.vector$/;

export interface SparkJobOptions {
  /** A script under deploy/spark/jobs (`probe.py`) or a path to one. */
  readonly script: string;
  readonly args?: readonly string[];
  /** Extra environment of the job (overrides the catalog settings). */
  readonly env?: Readonly<Record<string, string>>;
  /** Each line the job logs (Spark's WARN and above, Python's prints and tracebacks), result lines aside. */
  readonly onProgress?: (line: string) => void;
  /** Aborting kills the job's process group; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface SparkJobTiming {
  /** spark-submit's launcher and driver JVM start, until the job's Python began. */
  readonly jvmStartMs: number;
  /** pyspark import, SparkContext and session with the catalog. */
  readonly sessionStartMs: number;
  /** The job's own work. */
  readonly jobMs: number;
  /** From spawn to exit, session shutdown included. */
  readonly totalMs: number;
}

export interface SparkJobResult<T> {
  /** What the job's main returned. */
  readonly result: T;
  readonly sparkVersion: string;
  readonly timing: SparkJobTiming;
}

/** A job that failed: its message carries the Python exception and the traceback's last lines. */
export class SparkJobError extends Error {
  override name = 'SparkJobError';
  constructor(
    message: string,
    /** The exception's class as the job reported it (`ValueError`, `AnalysisException`…), if it got that far. */
    readonly exceptionType: string | undefined,
    readonly exitCode: number | null,
    /** The job's last log lines (JVM logs and Python's stderr). */
    readonly logTail: readonly string[],
  ) {
    super(message);
  }
}

/**
 * Catalog settings of a job, from the project's config: the same REST endpoint, warehouse and
 * S3 endpoint and keys as DuckDB's ATTACH and secret (tempolake_spark.py reads them).
 */
export function sparkCatalogEnv(config: Config): Record<string, string> {
  return {
    TEMPOLAKE_CATALOG_URI: config.icebergCatalogUrl.toString().replace(/\/$/, ''),
    TEMPOLAKE_CATALOG_WAREHOUSE: warehouseLocation(config),
    TEMPOLAKE_S3_ENDPOINT: config.s3Endpoint.toString().replace(/\/$/, ''),
    TEMPOLAKE_S3_ACCESS_KEY_ID: config.s3AccessKeyId,
    TEMPOLAKE_S3_SECRET_ACCESS_KEY: config.s3SecretAccessKey,
    TEMPOLAKE_S3_REGION: config.s3Region,
    TEMPOLAKE_S3_PATH_STYLE: 'true',
  };
}

function scriptPath(script: string): string {
  return path.isAbsolute(script) || script.includes('/') ? path.resolve(script) : path.join(SPARK_JOBS_DIR, script);
}

interface JobOutput {
  result: unknown;
  spark_version: string;
  timing: { python_started_at_ms: number; session_ms: number; job_ms: number };
}

/** The job's last Python traceback (it ends with the exception line), else its last lines. */
function tracebackTail(lines: readonly string[], max = 12): string[] {
  const start = lines.map((l) => l.startsWith('Traceback (most recent call last)')).lastIndexOf(true);
  const from = start >= 0 ? lines.slice(start) : lines;
  return from.slice(-max);
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(`Spark job aborted: ${String(signal.reason ?? 'abort')}`);
}

/**
 * Runs one PySpark job to completion with the local spark-submit (installing pyspark and the
 * Iceberg jars first if needed) and returns what its main returned, with timings.
 */
export async function runSparkJob<T = Record<string, unknown>>(config: Config, opts: SparkJobOptions): Promise<SparkJobResult<T>> {
  const { signal } = opts;
  if (signal?.aborted) throw abortReason(signal);
  const spark = await ensureSpark(config, (line) => opts.onProgress?.(line));
  const script = scriptPath(opts.script);
  const name = path.basename(script);
  const tmpRoot = path.join(config.dataDir, 'tmp', 'spark');
  mkdirSync(tmpRoot, { recursive: true });
  // Spark's scratch space and anything a job leaves in its working folder (spark-warehouse/, derby.log).
  const workDir = mkdtempSync(path.join(tmpRoot, `${name.replace(/\W+/g, '_')}-`));
  // The launcher splits --driver-java-options on blanks but honours double quotes.
  const log4j = /\s/.test(SPARK_LOG4J2) ? `"-Dlog4j2.configurationFile=file:${SPARK_LOG4J2}"` : `-Dlog4j2.configurationFile=file:${SPARK_LOG4J2}`;
  const args = [
    '--master', config.sparkMaster,
    '--name', `tempolake-${name}`,
    '--driver-memory', config.sparkDriverMemory,
    '--driver-java-options', [...DRIVER_JAVA_OPTIONS, log4j].join(' '),
    '--conf', 'spark.ui.enabled=false',
    // 200 shuffle partitions (the default, sized for clusters) cost a small local job 4-5 s.
    ...(config.sparkMaster.startsWith('local') ? ['--conf', 'spark.sql.shuffle.partitions=8'] : []),
    '--conf', `spark.executor.extraJavaOptions=${log4j}`,
    '--jars', spark.jars.join(','),
    '--py-files', SPARK_SHARED_MODULE,
    script,
    ...(opts.args ?? []),
  ];
  const local = config.sparkMaster.startsWith('local');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SPARK_HOME: spark.sparkHome,
    // The venv's python for the driver and the workers: spark-submit would take python3 from PATH.
    PYSPARK_PYTHON: spark.python,
    PYSPARK_DRIVER_PYTHON: spark.python,
    PYTHONUNBUFFERED: '1',
    // Jobs import their sibling modules: no __pycache__ written into deploy/spark/jobs.
    PYTHONDONTWRITEBYTECODE: '1',
    // Spark's scratch space (not spark.local.dir, which draws a warning in every job).
    SPARK_LOCAL_DIRS: workDir,
    // Loopback only in local mode: the driver's block manager and RPC listen on no other interface.
    ...(local ? { SPARK_LOCAL_IP: '127.0.0.1' } : {}),
    ...sparkCatalogEnv(config),
    ...opts.env,
  };

  const spawnedAt = Date.now();
  // Its own process group: spark-submit → JVM → Python driver (→ Python workers) all stop together.
  const child = spawn(spark.sparkSubmit, args, { cwd: workDir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  // Spark's PythonRunner merges the Python driver's stderr into the JVM's stdout, so a traceback
  // arrives on stdout and the JVM's logs on stderr: one tail of both tells what went wrong.
  const logTail: string[] = [];
  let output: JobOutput | undefined;
  let reported: { type: string; message: string } | undefined;
  const log = (line: string): void => {
    if (line.trim() === '' || NOISE.test(line)) return;
    logTail.push(line);
    if (logTail.length > LOG_LINES_KEPT) logTail.shift();
    opts.onProgress?.(line);
  };
  const lines = (input: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<void> =>
    new Promise((resolve) => createInterface({ input }).on('line', onLine).once('close', resolve));
  const streamsDone = Promise.all([
    lines(child.stderr, log),
    lines(child.stdout, (line) => {
      try {
        if (line.startsWith(RESULT_PREFIX)) output = JSON.parse(line.slice(RESULT_PREFIX.length)) as JobOutput;
        else if (line.startsWith(ERROR_PREFIX)) reported = JSON.parse(line.slice(ERROR_PREFIX.length)) as { type: string; message: string };
        else log(line);
      } catch {
        log(line); // a cut-off result line: the exit check below reports the job as failed
      }
    }),
  ]);

  let aborted = false;
  const onAbort = (): void => {
    aborted = true;
    if (child.pid !== undefined) void stopProcess(child.pid, 5_000);
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', (err) => reject(new SparkJobError(`cannot start ${spark.sparkSubmit}: ${err.message}`, undefined, null, [])));
      child.once('close', (code, sig) => resolve({ code, signal: sig }));
    });
    await streamsDone;
    const totalMs = Date.now() - spawnedAt;
    if (aborted && signal) throw abortReason(signal);

    if (exit.code !== 0 || !output) {
      const tail = tracebackTail(logTail);
      const head = reported
        ? `${reported.type}: ${reported.message}`
        : exit.code === 0
          ? `exited without a ${RESULT_PREFIX.trim()} line`
          : `(no Python exception reported: the driver failed before or outside the job)`;
      const how = exit.signal ?? `exit ${String(exit.code)}`;
      throw new SparkJobError(`Spark job ${name} failed (${how}): ${head}\n${tail.join('\n')}`.trimEnd(), reported?.type, exit.code, logTail.slice());
    }
    return {
      result: output.result as T,
      sparkVersion: output.spark_version,
      timing: {
        jvmStartMs: output.timing.python_started_at_ms - spawnedAt,
        sessionStartMs: output.timing.session_ms,
        jobMs: output.timing.job_ms,
        totalMs,
      },
    };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    rmSync(workDir, { recursive: true, force: true });
  }
}
