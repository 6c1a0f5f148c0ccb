/** `lake worker [--queue ingest,process,analysis]`: polls the task queues until Ctrl-C. */
import type { Config } from '../lib/config.ts';
import { TASK_QUEUES, type QueueRole } from '../lib/temporal/task-queues.ts';
import { createWorkerDeps } from '../workers/deps.ts';
import { createWorkers } from '../workers/worker.ts';

export function parseQueues(args: string[]): QueueRole[] {
  const i = args.indexOf('--queue');
  const all = Object.keys(TASK_QUEUES) as QueueRole[];
  if (i < 0) return all;
  const wanted = (args[i + 1] ?? '').split(',').filter(Boolean);
  const bad = wanted.filter((q) => !all.includes(q as QueueRole));
  if (wanted.length === 0 || bad.length > 0) throw new Error(`--queue takes a comma-separated list of ${all.join(', ')}`);
  return wanted as QueueRole[];
}

export async function workerCommand(config: Config, args: string[]): Promise<number> {
  const roles = parseQueues(args);
  const deps = createWorkerDeps(config);
  const { workers, connection } = await createWorkers(config, deps, roles);
  console.log(`worker polling ${roles.map((r) => TASK_QUEUES[r]).join(', ')} on ${config.temporalAddress.host}:${config.temporalAddress.port} (Ctrl-C to stop)`);
  try {
    // Worker.run installs SIGINT/SIGTERM handlers that drain in-flight tasks before returning.
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await connection.close();
    await deps.close();
  }
  return 0;
}
