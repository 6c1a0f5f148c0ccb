/**
 * `lake demo`: the README's first command. Starts the local servers, runs the
 * main job on the embedded default with an in-process worker, prints where to look.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { infraUp } from '../lib/infra/index.ts';
import { temporalUiUrl } from '../lib/infra/services/temporal.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { smokeWorkflow } from '../workflows/smoke.ts';
import { createWorkerDeps } from '../workers/deps.ts';
import { createWorkers } from '../workers/worker.ts';

export async function demoCommand(config: Config): Promise<number> {
  console.log('Starting local servers (first run builds them into the cache folder)…');
  await infraUp(config, (line) => console.log(line));

  const deps = createWorkerDeps(config);
  const { workers, connection: workerConnection } = await createWorkers(config, deps, ['ingest']);
  const connection = await Connection.connect({ address: `${config.temporalAddress.host}:${config.temporalAddress.port}` });
  const client = new Client({ connection, namespace: config.temporalNamespace });
  const checkId = `${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}-${randomUUID().slice(0, 8)}`;
  const workflowId = `smoke:${checkId}`;
  try {
    console.log(`\nRunning workflow ${workflowId}…`);
    const result = await workers[0]!.runUntil(
      client.workflow.execute(smokeWorkflow, { taskQueue: TASK_QUEUES.ingest, workflowId, args: [{ checkId }] }),
    );
    console.log(`✓ S3        wrote s3://${result.object.bucket}/${result.object.key} (${result.object.bytes} bytes) and read it back`);
    console.log(`✓ Kafka     produced and consumed ${result.message.topic}[${result.message.partition}]@${result.message.offset}`);
    console.log(`✓ Postgres  wrote and read row ${result.row.id} at ${result.row.writtenAt}`);
    console.log(`\nTemporal UI: ${temporalUiUrl(config)}/${encodeURIComponent(workflowId)}`);
    console.log('Servers keep running for the UI; stop them with: npx lake infra down');
    return 0;
  } finally {
    await connection.close();
    await workerConnection.close();
    await deps.close();
  }
}
