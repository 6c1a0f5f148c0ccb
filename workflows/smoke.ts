/** Smoke workflow: proves Temporal drives every server of the platform end to end. */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { MessageRoundTrip, ObjectWritten, RowRoundTrip, SmokeActivities } from '../activities/smoke.ts';

const act = proxyActivities<SmokeActivities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5 },
});

export interface SmokeInput {
  /** Names the object, message and row this run writes. */
  readonly checkId: string;
}

export interface SmokeResult {
  readonly workflowId: string;
  readonly object: ObjectWritten;
  readonly message: MessageRoundTrip;
  readonly row: RowRoundTrip;
}

export const SMOKE_TOPIC = 'tempolake.smoke';

export async function smokeWorkflow(input: SmokeInput): Promise<SmokeResult> {
  const { workflowId } = workflowInfo();
  const payload = JSON.stringify({ checkId: input.checkId, workflowId });
  const object = await act.writeSmokeObject({ key: `smoke/${input.checkId}.json`, body: payload });
  const message = await act.roundTripKafkaMessage({ topic: SMOKE_TOPIC, key: input.checkId, value: payload });
  const row = await act.roundTripPostgresRow({ id: input.checkId, note: payload });
  return { workflowId, object, message, row };
}
