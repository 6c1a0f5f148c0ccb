/**
 * Iceberg table maintenance: compaction of small files, snapshot expiration and orphan file
 * removal. DuckDB v1.5.5 can do none of them, so the activity runs our Java tool
 * (tempolake.MaintainTables, built with the catalog launcher) against the same REST catalog,
 * or the maintain_tables Spark job.
 */
import { spawn } from 'node:child_process';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { warehouseLocation, type Config } from '../lib/config.ts';
import { icebergClasspath, JAVA_FLAGS } from '../lib/infra/services/iceberg.ts';
import { chooseEngine } from '../lib/engine/engines.ts';
import { runOnSpark, type SparkActivityDeps } from './spark.ts';

export interface MaintenanceDeps {
  readonly config: Config;
  /** For maintenance on Spark (ENGINE_OVERRIDES maintain_tables=spark|spark-k8s): compaction as well. */
  readonly spark: SparkActivityDeps;
}

export interface MaintainLakeTablesInput {
  /** `namespace.table` names; every table of the catalog when absent or empty. */
  readonly tables?: string[];
  /** Snapshots kept however old they are (default 10). */
  readonly retainLast?: number;
  /** Snapshots older than this many hours are expired (default 168, a week of time travel). */
  readonly expireOlderThanHours?: number;
  /**
   * Unreferenced files older than this many hours are deleted (default 72). A writer's files
   * exist before its commit does, so this must exceed the longest write (curation runs up
   * to 2 hours); the tool refuses less than 1 hour.
   */
  readonly orphansOlderThanHours?: number;
  /** Count what would be deleted, change nothing. */
  readonly dryRun?: boolean;
  /**
   * Compact each partition's small data files first (default true). Spark's rewrite_data_files
   * also folds delete files in; the Java tool compacts the files no delete file applies to
   * (lineage.commits' one file per publish, the hourly commits of a day).
   */
  readonly compact?: boolean;
}

/** One line of the tool's output. */
export interface TableMaintenanceResult {
  readonly table: string;
  readonly snapshotsBefore: number;
  readonly snapshotsAfter: number;
  readonly expiredFilesDeleted: number;
  readonly orphanFilesDeleted: number;
  readonly orphanBytesDeleted: number;
  readonly dryRun: boolean;
  /** Why the table was left alone (e.g. `gc.enabled=false`). */
  readonly skipped?: string;
  /** Compaction: small data files replaced, files written in their place, bytes read. */
  readonly rewrittenDataFiles?: number;
  readonly addedDataFiles?: number;
  readonly rewrittenBytes?: number;
  /** Why the table was not compacted (a conflicting commit meanwhile: next time). */
  readonly rewriteSkipped?: string;
}

export const MAINTENANCE_DEFAULTS = { retainLast: 10, expireOlderThanHours: 168, orphansOlderThanHours: 72 } as const;

const HOUR_MS = 3_600_000;
const HEARTBEAT_MS = 10_000;
const STDERR_TAIL_BYTES = 4_000;

export function createMaintenanceActivities(deps: MaintenanceDeps) {
  return {
    async maintainLakeTables(input: MaintainLakeTablesInput = {}): Promise<TableMaintenanceResult[]> {
      const retainLast = input.retainLast ?? MAINTENANCE_DEFAULTS.retainLast;
      const expireHours = input.expireOlderThanHours ?? MAINTENANCE_DEFAULTS.expireOlderThanHours;
      const orphanHours = input.orphansOlderThanHours ?? MAINTENANCE_DEFAULTS.orphansOlderThanHours;
      if (!Number.isInteger(retainLast) || retainLast < 1) {
        throw ApplicationFailure.nonRetryable(`retainLast must be a whole number ≥ 1, got ${retainLast}`, 'InvalidMaintenanceInput');
      }
      if (!(expireHours >= 0)) {
        throw ApplicationFailure.nonRetryable(`expireOlderThanHours must be ≥ 0, got ${expireHours}`, 'InvalidMaintenanceInput');
      }
      if (!(orphanHours >= 1)) {
        throw ApplicationFailure.nonRetryable(`orphansOlderThanHours must be ≥ 1 (files of running commits would go), got ${orphanHours}`, 'InvalidMaintenanceInput');
      }
      const { engine } = chooseEngine(deps.config, 'maintain_tables');
      if (engine !== 'duckdb') {
        if (input.dryRun) throw ApplicationFailure.nonRetryable('dryRun is not offered by the Spark maintenance job: run it with the worker engine', 'InvalidMaintenanceInput');
        const { workflowId, runId } = Context.current().info.workflowExecution ?? { workflowId: 'maintain:lake', runId: 'none' };
        const r = await runOnSpark(deps.spark, {
          engine,
          transform: 'maintain_tables',
          input: { tables: input.tables ?? [], retainHours: expireHours, keepLast: retainLast, orphanMarginHours: orphanHours, rewrite: input.compact ?? true },
          workflowId,
          runId,
          step: 'maintain_tables',
          outcome: { kind: 'none' },
        });
        // On Kubernetes the per-table figures stay in the driver's log.
        return ((r.jobResult as { tables?: TableMaintenanceResult[] } | undefined)?.tables ?? []);
      }
      const now = Date.now();
      const args = [
        ...JAVA_FLAGS,
        '-cp',
        icebergClasspath(deps.config),
        'tempolake.MaintainTables',
        '--catalog',
        deps.config.icebergCatalogUrl.toString().replace(/\/$/, ''),
        ...(input.tables ?? []).flatMap((t) => ['--table', t]),
        '--expire-older-than-ms',
        String(Math.floor(now - expireHours * HOUR_MS)),
        '--retain-last',
        String(retainLast),
        '--orphans-older-than-ms',
        String(Math.floor(now - orphanHours * HOUR_MS)),
        ...(input.compact ?? true ? ['--compact'] : []),
        ...(input.dryRun ? ['--dry-run'] : []),
      ];
      return runTool(args, { ...process.env, ...clientEnv(deps.config) });
    },
  };
}

export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;

/** FileIO properties of the tool's catalog client (CLIENT_S3_ENDPOINT → s3.endpoint). */
function clientEnv(config: Config): NodeJS.ProcessEnv {
  if (!warehouseLocation(config).startsWith('s3://')) return {};
  return {
    CLIENT_S3_ENDPOINT: config.s3Endpoint.toString().replace(/\/$/, ''),
    CLIENT_S3_PATH__STYLE__ACCESS: 'true',
    CLIENT_S3_ACCESS__KEY__ID: config.s3AccessKeyId,
    CLIENT_S3_SECRET__ACCESS__KEY: config.s3SecretAccessKey,
    CLIENT_CLIENT_REGION: config.s3Region,
  };
}

async function runTool(args: string[], env: NodeJS.ProcessEnv): Promise<TableMaintenanceResult[]> {
  const ctx = Context.current();
  const lines: string[] = [];
  let stdoutRest = '';
  let stderrTail = '';
  const child = spawn('java', args, { env, stdio: ['ignore', 'pipe', 'pipe'], signal: ctx.cancellationSignal, killSignal: 'SIGTERM' });
  // Progress for the UI; the heartbeat is also how a cancellation reaches the activity.
  const heartbeat = (): void => ctx.heartbeat({ tablesDone: lines.length });
  heartbeat();
  const timer = setInterval(heartbeat, HEARTBEAT_MS);
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (stdoutRest + chunk).split('\n');
    stdoutRest = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l.trim() !== ''));
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
  });
  let code: number | null;
  try {
    code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
  } catch (err) {
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw ApplicationFailure.nonRetryable('java is not on PATH: table maintenance runs the Iceberg Java tool (install Java 17)', 'JavaMissing');
    }
    throw err;
  } finally {
    clearInterval(timer);
  }
  if (stdoutRest.trim() !== '') lines.push(stdoutRest);
  if (code !== 0) {
    const message = `tempolake.MaintainTables exited with ${code ?? 'a signal'} after ${lines.length} table(s); stderr tail:\n${stderrTail.trimEnd()}`;
    // 2: the tool rejected its arguments, which a retry will not change.
    throw code === 2 ? ApplicationFailure.nonRetryable(message, 'InvalidMaintenanceInput') : new Error(message);
  }
  return lines.map(parseLine);
}

function parseLine(line: string): TableMaintenanceResult {
  try {
    return JSON.parse(line) as TableMaintenanceResult;
  } catch {
    throw new Error(`tempolake.MaintainTables printed a line that is not JSON: ${line.slice(0, 300)}`);
  }
}
