/** `lake stream start | stop | status`: the market (source D) producer, a long-running workflow. */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { UsageError } from '../lib/cli/args.ts';
import { temporalUiUrl } from '../lib/infra/services/temporal.ts';
import { connectClient } from '../lib/temporal/client.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { MARKET_STREAM_WORKFLOW_ID, marketStream, stopStreamSignal, streamStatusQuery, type StreamStatus } from '../workflows/market.ts';

const describe = (s: StreamStatus): string =>
  `cursor ${s.cursor}, ${s.produced} events produced, ${s.duplicates} endpoint repeats dropped, ${s.endpointErrors} endpoint errors retried, ${s.slices} slices`;

export async function streamCommand(config: Config, argv: string[]): Promise<number> {
  const [action] = argv;
  if (action !== 'start' && action !== 'stop' && action !== 'status') throw new UsageError('usage: lake stream start | stop | status');
  const { client, close } = await connectClient(config);
  const handle = client.workflow.getHandle(MARKET_STREAM_WORKFLOW_ID);
  try {
    if (action === 'start') {
      try {
        await client.workflow.start(marketStream, { workflowId: MARKET_STREAM_WORKFLOW_ID, taskQueue: TASK_QUEUES.ingest, args: [{}] });
        console.log(`started ${MARKET_STREAM_WORKFLOW_ID}: polling ${config.marketApiUrl} into Kafka topic ${config.marketTopic}`);
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        console.log(`${MARKET_STREAM_WORKFLOW_ID} is already running`);
      }
      console.log(`  ${temporalUiUrl(config)}/${encodeURIComponent(MARKET_STREAM_WORKFLOW_ID)}`);
      console.log('It needs a worker (npx lake worker) and, to land events in the lake, the consumer (npx lake consume market).');
      return 0;
    }
    try {
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING') {
        console.log(`${MARKET_STREAM_WORKFLOW_ID} is not running (${status.name.toLowerCase()})`);
        return action === 'status' ? 1 : 0;
      }
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      console.log(`${MARKET_STREAM_WORKFLOW_ID} was never started`);
      return action === 'status' ? 1 : 0;
    }
    if (action === 'status') {
      console.log(`${MARKET_STREAM_WORKFLOW_ID} running: ${describe(await handle.query(streamStatusQuery))}`);
      return 0;
    }
    await handle.signal(stopStreamSignal);
    console.log(`stopping ${MARKET_STREAM_WORKFLOW_ID} after the slice in flight…`);
    console.log(`stopped: ${describe((await handle.result()) as StreamStatus)}`);
    return 0;
  } finally {
    await close();
  }
}
