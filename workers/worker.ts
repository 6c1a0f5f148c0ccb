/** Builds Temporal workers: one per task queue, sharing one connection and one workflow bundle. */
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type WorkflowBundle } from '@temporalio/worker';
import type { Config } from '../lib/config.ts';
import { temporalConnectionOptions } from '../lib/temporal/client.ts';
import { TASK_QUEUES, type QueueRole } from '../lib/temporal/task-queues.ts';
import { createActivities } from './activities.ts';
import type { WorkerDeps } from './deps.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Bundles the workflow code once; workers created from the bundle start in milliseconds. */
export async function bundleWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
}

let runtimeInstalled = false;

/** Worker logs at WARN by default (state changes at INFO drown the CLI's own output); TEMPOLAKE_LOG_LEVEL overrides. */
export function installWorkerRuntime(level: LogLevel = (process.env['TEMPOLAKE_LOG_LEVEL'] as LogLevel | undefined) ?? 'WARN'): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger(level) });
  runtimeInstalled = true;
}

export interface WorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly deps: WorkerDeps;
  readonly workflowBundle: WorkflowBundle;
  /** WORKER_MAX_CONCURRENT_*: how much this worker takes on at once (default: the SDK's 100 activities, 40 workflow tasks). */
  readonly maxConcurrentActivities?: number;
  readonly maxConcurrentWorkflowTasks?: number;
}

export async function createWorker(opts: WorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: opts.workflowBundle,
    activities: createActivities(opts.deps),
    ...(opts.maxConcurrentActivities !== undefined ? { maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities } : {}),
    ...(opts.maxConcurrentWorkflowTasks !== undefined ? { maxConcurrentWorkflowTaskExecutions: opts.maxConcurrentWorkflowTasks } : {}),
    // Heartbeats (and so cancellations) reach the server within seconds, not 80 % of the heartbeat
    // timeout: a cancelled analysis waits for its activities to stop before it cleans up.
    maxHeartbeatThrottleInterval: '5 seconds',
  });
}

export async function createWorkers(config: Config, deps: WorkerDeps, roles: readonly QueueRole[]): Promise<{ workers: Worker[]; connection: NativeConnection }> {
  installWorkerRuntime();
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const workflowBundle = await bundleWorkflows();
  const workers = await Promise.all(
    roles.map((role) =>
      createWorker({
        connection,
        namespace: config.temporalNamespace,
        taskQueue: TASK_QUEUES[role],
        deps,
        workflowBundle,
        maxConcurrentActivities: config.workerMaxConcurrentActivities,
        maxConcurrentWorkflowTasks: config.workerMaxConcurrentWorkflowTasks,
      }),
    ),
  );
  return { workers, connection };
}

// The bundler logs its webpack output at INFO; keep warnings and errors only.
const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string, meta?: Record<string, unknown>) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: Record<string, unknown>) => console.error(message, meta ?? ''),
};

/** Runs every worker until `work` settles, then shuts them down; resolves to `work`'s value. */
export async function runWorkersUntil<T>(workers: readonly Worker[], work: Promise<T>): Promise<T> {
  await Promise.all(workers.map((w) => w.runUntil(work)));
  return work;
}
